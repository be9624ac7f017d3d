//! The plan-contract harness: runs one edit-after-apply scenario against a `moat sim` process
//! with the real `moat` binary, and checks what apply sent and what vanished against the plan.
//!
//! It only looks at what a user could: the binary's output (JSON or text plan, exit codes),
//! the emulator's ARM API and its `--record` traffic files, and the state file on disk. It links
//! no moat crate, so it keeps working while the engine's internal API is refactored.
#![allow(dead_code)]

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_moat");

/// Longest any single `moat` command may run before the scenario fails.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// The emulator's provisioning times are multiplied by this: 0 makes every operation finish
/// on its first poll, which keeps ~40 scenarios within a minute on two cores.
pub const TIME_SCALE: &str = "0";

/// The tag moat puts on everything a stack owns (`moat_model::resolve::STACK_TAG`, not linked).
pub const STACK_TAG: &str = "moat-stack";

/// The emulator's fixed subscription (what `--local` and a loopback endpoint resolve to).
pub const SUBSCRIPTION: &str = "10ca1000-0000-4000-8000-000000000001";

/// Environment variables of the user's shell that would change what the binary does.
const SCRUBBED: &[&str] = &[
    "MOAT_ARM_ENDPOINT",
    "MOAT_STATE_DIR",
    "MOAT_AUTH",
    "MOAT_LOG_HTTP",
    "MOAT_LOCAL_FAULTS",
    "MOAT_LOCAL_TIME_SCALE",
    "MOAT_LOCAL_RECORD",
    "MOAT_BLOB_KEY",
    "AZURE_SUBSCRIPTION_ID",
    "AZURE_TENANT_ID",
];

/// Resources-API version for groups and group listings.
const RESOURCES_API: &str = "2024-07-01";

/// Child collections read through their parent's list endpoint: (parent type, collection,
/// api-version). ARM's group listing shows top-level resources only.
const CHILD_COLLECTIONS: &[(&str, &str, &str)] = &[
    ("microsoft.network/virtualnetworks", "subnets", "2024-03-01"),
    (
        "microsoft.network/networksecuritygroups",
        "securityRules",
        "2024-03-01",
    ),
    ("microsoft.network/routetables", "routes", "2024-03-01"),
    (
        "microsoft.machinelearningservices/workspaces",
        "computes",
        "2024-04-01",
    ),
    // Extension resources below a cluster (its Azure ML extension).
    (
        "microsoft.containerservice/managedclusters",
        "providers/Microsoft.KubernetesConfiguration/extensions",
        "2023-05-01",
    ),
    // A workspace's managed-network outbound rules (the user's and Azure's own).
    (
        "microsoft.machinelearningservices/workspaces",
        "outboundRules",
        "2024-04-01",
    ),
    // A private endpoint's DNS zone group.
    (
        "microsoft.network/privateendpoints",
        "privateDnsZoneGroups",
        "2024-03-01",
    ),
    // A private DNS zone's links and the A records zone groups write into it.
    (
        "microsoft.network/privatednszones",
        "virtualNetworkLinks",
        "2024-06-01",
    ),
    ("microsoft.network/privatednszones", "A", "2024-06-01"),
];

/// Resources Azure makes on the side and deletes with their owner, which moat never plans
/// (the model's `KindDef::made_with`, not linked): (owner type, api-version, where the owner's
/// body names them). A private endpoint's NIC is named in its `networkInterfaces`; a DNS zone
/// group's A records in its configs' `recordSets` (the zone's ID plus `/A/<record set name>`).
/// Outbound rules of category `Required` and `Dependency` are Azure's own too, made with the
/// workspace (see [`snapshot`]).
const MADE_WITH: &[(&str, &str, Made)] = &[
    (
        "microsoft.network/privateendpoints",
        "2024-03-01",
        Made::Ids("/properties/networkInterfaces"),
    ),
    (
        "microsoft.network/privateendpoints/privatednszonegroups",
        "2024-03-01",
        Made::Records,
    ),
];

/// Where an owner's body names what Azure made for it.
#[derive(Clone, Copy)]
enum Made {
    /// An array of `{ "id": … }` at this JSON pointer.
    Ids(&'static str),
    /// A DNS zone group's A records.
    Records,
}

/// Child collections that moat writes inside their parent's body and never plans on their own
/// (NSG rules, routes): they are accounted for by the parent's plan entry.
const INLINE_CHILDREN: &[&str] = &["securityrules", "routes"];

/// Name fragments of plan fields that hold the ARM ID an entry leaves behind (`old_id`,
/// `from_id`, `previous_id`, `replaces`, `moved_from`): the plan format has none yet, and the
/// harness should not need a change when one is added.
const OLD_ID_FIELDS: &[&str] = &["old", "from", "previous", "replac", "moved"];

/// Kinds whose delete or replacement loses data or history (DESIGN.md, "Destructive changes").
const DESTRUCTIVE_KINDS: &[&str] = &[
    "storage_account",
    "key_vault",
    "ml_workspace",
    "aks_cluster",
];

// ---------------------------------------------------------------------------------------------
// Processes

/// What a finished command printed.
#[derive(Debug, Clone)]
pub struct Out {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Out {
    /// The last lines of stderr, for a violation message.
    pub fn tail(&self) -> String {
        let lines: Vec<&str> = self.stderr.lines().collect();
        let from = lines.len().saturating_sub(6);
        lines[from..].join("\n    ")
    }
}

/// Runs `cmd` to the end with piped output; kills it and panics past [`DEADLINE`].
fn run_to_end(mut cmd: Command, what: &str) -> Out {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
    let mut o = child.stdout.take().expect("piped stdout");
    let mut e = child.stderr.take().expect("piped stderr");
    // Pipes are drained on threads so that a full pipe never blocks the child.
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = o.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = e.read_to_string(&mut s);
        s
    });
    loop {
        match child.try_wait().expect("wait for moat") {
            Some(status) => {
                return Out {
                    code: status.code(),
                    stdout: out.join().unwrap_or_default(),
                    stderr: err.join().unwrap_or_default(),
                };
            }
            None if started.elapsed() > DEADLINE => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{what} ran longer than {DEADLINE:?}\n--- stdout\n{}\n--- stderr\n{}",
                    out.join().unwrap_or_default(),
                    err.join().unwrap_or_default()
                );
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// A `moat sim` process on a free loopback port, killed when dropped.
pub struct Sim {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
}

impl Sim {
    /// Starts `moat sim --listen 127.0.0.1:0 --state STATE --record RECORD [--faults F]`.
    pub fn start(state: &Path, record: &Path, faults: Option<&Path>) -> Sim {
        let mut c = Command::new(BIN);
        for k in SCRUBBED {
            c.env_remove(k);
        }
        c.args(["sim", "--listen", "127.0.0.1:0", "--time-scale", TIME_SCALE])
            .arg("--state")
            .arg(state)
            .arg("--record")
            .arg(record);
        if let Some(f) = faults {
            c.arg("--faults").arg(f);
        }
        let mut child = c
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moat sim");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find("http://") {
                    let _ = tx.send(line[at..].trim().to_string());
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(url) => Sim { child, url },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("moat sim did not say where it listens within 20 s");
            }
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `moat --arm-endpoint URL --state-dir STATE_DIR ARGS` in `cwd`.
pub fn moat(cwd: &Path, url: &str, state_dir: &Path, args: &[&str]) -> Out {
    let mut c = Command::new(BIN);
    for k in SCRUBBED {
        c.env_remove(k);
    }
    c.env("NO_COLOR", "1")
        .current_dir(cwd)
        .args(["--arm-endpoint", url])
        .arg("--state-dir")
        .arg(state_dir)
        .args(args);
    run_to_end(c, &format!("moat {}", args.join(" ")))
}

/// Starts `moat ... ARGS` like [`moat`] and kills it (SIGKILL) as soon as the emulator has
/// recorded a write with a sequence number of at least `from`; true if it was killed, false if
/// it finished first.
pub fn kill_after_first_write(
    cwd: &Path,
    url: &str,
    state_dir: &Path,
    args: &[&str],
    record: &Path,
    from: u64,
) -> bool {
    let mut c = Command::new(BIN);
    for k in SCRUBBED {
        c.env_remove(k);
    }
    let mut child = c
        .env("NO_COLOR", "1")
        .current_dir(cwd)
        .args(["--arm-endpoint", url])
        .arg("--state-dir")
        .arg(state_dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moat");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait for moat").is_some() {
            return false;
        }
        if has_write_since(record, from) {
            let _ = child.kill();
            let _ = child.wait();
            return true;
        }
        if started.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("moat {} ran longer than {DEADLINE:?}", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

// ---------------------------------------------------------------------------------------------
// ARM over plain HTTP/1.1 (the emulator is on loopback; a tiny client keeps the harness free of
// moat-arm, whose behaviour it is checking)

/// Sends one request to the emulator; returns the status and the JSON body (`null` if none).
pub fn http(base: &str, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let addr = base.trim_start_matches("http://").trim_end_matches('/');
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(20))).ok();
    s.set_write_timeout(Some(Duration::from_secs(20))).ok();
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer contract-harness\r\nConnection: close\r\nAccept: application/json\r\n"
    );
    if body.is_some() {
        req.push_str("Content-Type: application/json\r\n");
    }
    req.push_str(&format!("Content-Length: {}\r\n\r\n", payload.len()));
    s.write_all(req.as_bytes())
        .and_then(|_| s.write_all(payload.as_bytes()))
        .unwrap_or_else(|e| panic!("send {method} {path}: {e}"));
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("read {method} {path}: {e}"));
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("{method} {path}: no HTTP header end"));
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut rest = raw[split + 4..].to_vec();
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{method} {path}: bad status line {head:?}"));
    if head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    }) {
        rest = dechunk(&rest);
    }
    let value = if rest.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(&rest).unwrap_or(Value::Null)
    };
    (status, value)
}

/// Decodes a chunked HTTP/1.1 body.
fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(
            String::from_utf8_lossy(&b[..eol])
                .split(';')
                .next()
                .unwrap_or("0")
                .trim(),
            16,
        )
        .unwrap_or(0);
        if size == 0 || eol + 2 + size > b.len() {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[(eol + 4 + size).min(b.len())..];
    }
    out
}

/// GETs a list endpoint and returns its `value` array; panics (an emulator gap, not a plan
/// violation) when the emulator does not serve it.
fn list(base: &str, path: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut next = path.to_string();
    loop {
        let (status, body) = http(base, "GET", &next, None);
        assert_eq!(
            status, 200,
            "the emulator does not list {next}: {status} {body}"
        );
        out.extend(body["value"].as_array().cloned().unwrap_or_default());
        // ARM pages lists (`nextLink`, an absolute URL on the same host).
        match body["nextLink"].as_str() {
            Some(link) if !link.is_empty() => {
                next = link
                    .strip_prefix(base.trim_end_matches('/'))
                    .unwrap_or(link)
                    .to_string();
            }
            _ => return out,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Snapshots of the emulated cloud

/// One resource the emulator holds.
#[derive(Debug, Clone)]
pub struct Seen {
    /// ARM ID as ARM spells it.
    pub id: String,
    /// ARM type.
    pub kind: String,
    /// Tags (top-level resources only).
    pub tags: BTreeMap<String, String>,
    /// Lower-cased ID of the resource Azure made this one for and deletes it with (a private
    /// endpoint's NIC, a zone group's A records, a workspace's own outbound rules), and whether
    /// an update of the owner rewrites it (a zone group's records): never in a plan, it may go
    /// with its owner ([`MADE_WITH`]).
    pub made_by: Option<(String, bool)>,
}

/// Everything the emulator holds in the subscription, by lower-cased ARM ID.
pub type Snapshot = BTreeMap<String, Seen>;

/// Reads every resource back over ARM: the subscription's groups, each group's resources, and
/// the children of VNets (subnets), NSGs (rules), route tables (routes) and workspaces
/// (computes) through their parents' list endpoints.
pub fn snapshot(base: &str) -> Snapshot {
    let mut snap = Snapshot::new();
    let add = |snap: &mut Snapshot, v: &Value| {
        let Some(id) = v["id"].as_str() else { return };
        let tags = v["tags"]
            .as_object()
            .map(|t| {
                t.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        // Azure's own outbound rules are made with the workspace (the rule's parent).
        let category = v["properties"]["category"].as_str().unwrap_or_default();
        let made_by = (id.to_ascii_lowercase().contains("/outboundrules/")
            && matches!(category, "Required" | "Dependency"))
        .then(|| {
            let lower = id.to_ascii_lowercase();
            let ws = lower[..lower.find("/outboundrules/").unwrap_or(lower.len())].to_string();
            (ws, false)
        });
        snap.insert(
            id.to_ascii_lowercase(),
            Seen {
                id: id.to_string(),
                kind: v["type"].as_str().unwrap_or_default().to_string(),
                tags,
                made_by,
            },
        );
    };
    let groups = list(
        base,
        &format!("/subscriptions/{SUBSCRIPTION}/resourcegroups?api-version={RESOURCES_API}"),
    );
    for g in &groups {
        add(&mut snap, g);
        let Some(gid) = g["id"].as_str() else {
            continue;
        };
        for r in list(
            base,
            &format!("{gid}/resources?api-version={RESOURCES_API}"),
        ) {
            add(&mut snap, &r);
        }
    }
    let parents: Vec<(String, String)> = snap
        .values()
        .map(|s| (s.id.clone(), s.kind.to_ascii_lowercase()))
        .collect();
    for (id, kind) in parents {
        for (parent, coll, api) in CHILD_COLLECTIONS {
            if kind == *parent {
                for c in list(base, &format!("{id}/{coll}?api-version={api}")) {
                    add(&mut snap, &c);
                }
            }
        }
    }
    // What Azure made for each owner, read from the owner's own body. The type comes from the
    // ID: a zone group's body has no `type` (`PrivateDnsZoneGroup` is a sub-resource).
    let owners: Vec<(String, String)> = snap
        .values()
        .map(|s| (s.id.clone(), type_of(&s.id)))
        .collect();
    for (owner, kind) in owners {
        for (ty, api, made) in MADE_WITH {
            if kind != *ty {
                continue;
            }
            let (status, body) = http(base, "GET", &format!("{owner}?api-version={api}"), None);
            assert_eq!(status, 200, "GET {owner}: {status} {body}");
            for id in made_ids(&body, *made) {
                if let Some(s) = snap.get_mut(&id) {
                    s.made_by = Some((owner.to_ascii_lowercase(), matches!(made, Made::Records)));
                }
            }
        }
    }
    snap
}

/// The lower-cased ARM type of an ID: `microsoft.network/privateendpoints/privatednszonegroups`
/// for `…/providers/Microsoft.Network/privateEndpoints/pe/privateDnsZoneGroups/default`.
pub fn type_of(id: &str) -> String {
    let lower = id.to_ascii_lowercase();
    let Some((_, rest)) = lower.rsplit_once("/providers/") else {
        return String::new();
    };
    let parts: Vec<&str> = rest.split('/').collect();
    let mut ty = parts.first().map(|p| p.to_string()).unwrap_or_default();
    for t in parts.iter().skip(1).step_by(2) {
        ty.push('/');
        ty.push_str(t);
    }
    ty
}

/// Lower-cased IDs of what `body` says Azure made for it.
fn made_ids(body: &Value, made: Made) -> Vec<String> {
    let each = |v: Option<&Value>| v.and_then(Value::as_array).cloned().unwrap_or_default();
    match made {
        Made::Ids(pointer) => each(body.pointer(pointer))
            .iter()
            .filter_map(|x| x["id"].as_str())
            .map(str::to_ascii_lowercase)
            .collect(),
        Made::Records => each(body.pointer("/properties/privateDnsZoneConfigs"))
            .iter()
            .flat_map(|c| {
                let zone = c["properties"]["privateDnsZoneId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_ascii_lowercase();
                each(c.pointer("/properties/recordSets"))
                    .iter()
                    .filter(|r| r["recordType"].as_str() == Some("A"))
                    .filter_map(|r| r["recordSetName"].as_str())
                    .map(|n| format!("{zone}/a/{}", n.to_ascii_lowercase()))
                    .collect::<Vec<_>>()
            })
            .collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// The emulator's recording

/// One write the emulator received.
#[derive(Debug, Clone)]
pub struct Sent {
    /// Sequence number of the traffic file.
    pub seq: u64,
    /// `PUT`, `PATCH`, `DELETE`.
    pub method: String,
    /// Lower-cased path without the query: the resource's ARM ID.
    pub path: String,
    /// Response status.
    pub status: u16,
    /// Lower-cased IDs of the children a PUT carries in its body (the subnets of a VNet PUT,
    /// [`CARRIED_CHILDREN`]): each counts as a write of that child.
    pub carries: Vec<String>,
}

/// Children a parent's PUT may carry in its body, each a write of the child: (parent type,
/// body array under `properties`, child collection in the ID). A VNet PUT with its subnets is
/// one operation where per-subnet PUTs would be one each.
pub const CARRIED_CHILDREN: &[(&str, &str, &str)] = &[(
    "/providers/microsoft.network/virtualnetworks/",
    "subnets",
    "subnets",
)];

/// The children `body` carries when it is a PUT to `path` (see [`CARRIED_CHILDREN`]).
pub fn carried(path: &str, body: &Value) -> Vec<String> {
    let Some((_, array, coll)) = CARRIED_CHILDREN.iter().find(|(ty, _, _)| {
        path.rsplit_once(ty)
            .is_some_and(|(_, name)| !name.is_empty() && !name.contains('/'))
    }) else {
        return Vec::new();
    };
    body["properties"][*array]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str())
        .map(|n| format!("{path}/{coll}/{}", n.to_ascii_lowercase()))
        .collect()
}

/// Sequence number the next traffic file in `dir` will get.
pub fn next_seq(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter_map(|e| {
                    e.file_name()
                        .to_str()
                        .and_then(|n| n.split('-').next())
                        .and_then(|n| n.parse::<u64>().ok())
                })
                .max()
                .map_or(0, |m| m + 1)
        })
        .unwrap_or(0)
}

/// Waits until no new traffic file has appeared in `dir` for a while (at most a few
/// seconds): a killed moat may have had other requests in flight, which the emulator still
/// serves and records after the kill — they belong to the killed run, not to the next one.
pub fn settle(dir: &Path) {
    let quiet = Duration::from_millis(400);
    let started = Instant::now();
    let mut last = next_seq(dir);
    let mut since = Instant::now();
    while since.elapsed() < quiet && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
        let now = next_seq(dir);
        if now != last {
            last = now;
            since = Instant::now();
        }
    }
}

/// Whether `dir` holds a traffic file of a write (PUT, PATCH, DELETE, POST) numbered `from` or
/// later.
pub fn has_write_since(dir: &Path, from: u64) -> bool {
    std::fs::read_dir(dir).is_ok_and(|d| {
        d.filter_map(Result::ok).any(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let mut parts = name.splitn(3, '-');
            let seq = parts.next().and_then(|n| n.parse::<u64>().ok());
            let method = parts.next().unwrap_or("");
            seq.is_some_and(|n| n >= from) && matches!(method, "PUT" | "PATCH" | "DELETE" | "POST")
        })
    })
}

/// Every PUT, PATCH, DELETE and POST recorded in `dir` from sequence number `from` on, in
/// order. A POST is an action (a key listing, a vault purge): it counts as a write, because a
/// purge the plan did not list is as much a surprise as a DELETE.
pub fn writes_since(dir: &Path, from: u64) -> Vec<Sent> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        let mut parts = name.splitn(3, '-');
        let (Some(seq), Some(method)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Ok(seq) = seq.parse::<u64>() else {
            continue;
        };
        if seq < from || !matches!(method, "PUT" | "PATCH" | "DELETE" | "POST") {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).expect("traffic file");
        let v: Value = serde_json::from_str(&text).expect("traffic file is JSON");
        let status = v["liveResponse"]["statusCode"]
            .as_u64()
            .or_else(|| v["liveResponse"]["statusCode"].as_str()?.parse().ok())
            .unwrap_or(0) as u16;
        let url = v["liveRequest"]["url"].as_str().unwrap_or_default();
        let path = url
            .split('?')
            .next()
            .unwrap_or_default()
            .trim_start_matches("http://")
            .split_once('/')
            .map(|(_, p)| format!("/{p}"))
            .unwrap_or_default()
            .to_ascii_lowercase();
        let carries = if method == "PUT" {
            carried(&path, &v["liveRequest"]["body"])
        } else {
            Vec::new()
        };
        out.push(Sent {
            seq,
            method: method.to_string(),
            path,
            status,
            carries,
        });
    }
    out.sort_by_key(|w| w.seq);
    out
}

// ---------------------------------------------------------------------------------------------
// Plans, as the binary prints them

/// One resource of a plan.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Spec key.
    pub key: String,
    /// Kind word.
    pub kind: String,
    /// `create`, `update`, `replace`, `delete`, `no_op`, `read`, `unreadable`, `move`, …
    pub action: String,
    /// Lower-cased ARM IDs the entry names: its `id` first, then the ID a replacement or a move
    /// leaves behind (a top-level field named like [`OLD_ID_FIELDS`] holding an ARM ID).
    pub ids: Vec<String>,
    /// `destructive: true` (JSON) or the `! DESTRUCTIVE` line under the header (text).
    pub destructive: Option<bool>,
    /// Why, in words (the JSON plan's `reasons`; the `# …` lines of a text plan).
    pub reasons: Vec<String>,
}

impl Entry {
    /// True when apply writes something for this entry.
    pub fn writes(&self) -> bool {
        matches!(
            self.action.as_str(),
            "create" | "update" | "replace" | "delete"
        )
    }
}

/// A plan: from `--format json`, or parsed from the text `apply`/`destroy` print.
#[derive(Debug, Clone, Default)]
pub struct PlanView {
    /// The resources.
    pub entries: Vec<Entry>,
    /// Parsed from JSON (else from text).
    pub json: bool,
}

impl PlanView {
    /// Both plans' entries: what either of two runs promised.
    pub fn merged(&self, other: &PlanView) -> PlanView {
        PlanView {
            entries: self.entries.iter().chain(&other.entries).cloned().collect(),
            json: self.json && other.json,
        }
    }

    /// From the JSON plan.
    pub fn from_json(v: &Value) -> PlanView {
        let entries = v["resources"]
            .as_array()
            .map(|rs| {
                rs.iter()
                    .map(|r| {
                        let mut ids =
                            vec![r["id"].as_str().unwrap_or_default().to_ascii_lowercase()];
                        if let Some(o) = r.as_object() {
                            for (k, v) in o {
                                if let Some(s) = v.as_str()
                                    && OLD_ID_FIELDS.iter().any(|f| k.contains(f))
                                    && s.starts_with("/subscriptions/")
                                {
                                    ids.push(s.to_ascii_lowercase());
                                }
                            }
                        }
                        Entry {
                            key: r["key"].as_str().unwrap_or_default().to_string(),
                            kind: r["kind"].as_str().unwrap_or_default().to_string(),
                            action: r["action"].as_str().unwrap_or_default().to_string(),
                            ids,
                            destructive: r["destructive"].as_bool(),
                            reasons: r["reasons"]
                                .as_array()
                                .map(|a| {
                                    a.iter()
                                        .filter_map(|x| x.as_str().map(str::to_string))
                                        .collect()
                                })
                                .unwrap_or_default(),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        PlanView {
            entries,
            json: true,
        }
    }

    /// From the human plan: `  # KEY (KIND) VERB` followed by `  SYM ARM_ID`.
    pub fn from_text(text: &str) -> PlanView {
        let mut entries: Vec<Entry> = Vec::new();
        let mut pending: Option<(String, String)> = None;
        let mut destructive = false;
        let mut reasons: Vec<String> = Vec::new();
        for line in text.lines() {
            if let Some(h) = line.strip_prefix("  # ") {
                destructive = false;
                reasons.clear();
                if let Some((key, rest)) = h.split_once(" (")
                    && let Some((kind, _verb)) = rest.split_once(") ")
                {
                    pending = Some((key.to_string(), kind.to_string()));
                }
                continue;
            }
            let t = line.trim();
            if let Some(r) = line.strip_prefix("    # ") {
                reasons.push(r.to_string());
                continue;
            }
            if t.starts_with("! DESTRUCTIVE") {
                // The marker line under the header of a destructive delete or replacement.
                destructive = pending.is_some();
                continue;
            }
            let mut words = t.split_whitespace();
            if let (Some(sym), Some(id), Some((key, kind))) =
                (words.next(), words.next(), pending.as_ref())
                && id.starts_with("/subscriptions/")
            {
                let action = match sym {
                    "+" => "create",
                    "~" => "update",
                    "-/+" | "+/-" => "replace",
                    "-" => "delete",
                    "?" => "unreadable",
                    "<=" => "read",
                    ">" | "->" => "move",
                    _ => "unknown",
                };
                entries.push(Entry {
                    key: key.clone(),
                    kind: kind.clone(),
                    action: action.to_string(),
                    ids: vec![id.to_ascii_lowercase()],
                    destructive: Some(destructive),
                    reasons: std::mem::take(&mut reasons),
                });
                pending = None;
            }
        }
        PlanView {
            entries,
            json: false,
        }
    }

    /// Keys of the entries that write.
    pub fn changed_keys(&self) -> BTreeSet<String> {
        self.entries
            .iter()
            .filter(|e| e.writes() || e.action == "unreadable")
            .map(|e| e.key.clone())
            .collect()
    }

    /// The entry for key `key`.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().find(|e| e.key == key)
    }

    /// The entries naming `id` exactly, else (for a child moat writes inside its parent) the
    /// entries of its nearest parent; the flag says which. A plan may name one ID under two
    /// keys (a key rename planned as a delete beside a no-op): all are returned.
    fn find(&self, id: &str, inline_only: bool) -> (Vec<&Entry>, bool) {
        let exact: Vec<&Entry> = self
            .entries
            .iter()
            .filter(|e| e.ids.iter().any(|i| i == id))
            .collect();
        if !exact.is_empty() {
            return (exact, false);
        }
        let mut best: Vec<&Entry> = Vec::new();
        let mut best_len = 0;
        for e in &self.entries {
            for i in &e.ids {
                let Some(rest) = id.strip_prefix(i.as_str()) else {
                    continue;
                };
                if !rest.starts_with('/') || rest.contains("/providers/") {
                    continue;
                }
                let coll = rest.trim_start_matches('/').split('/').next().unwrap_or("");
                if inline_only && !INLINE_CHILDREN.contains(&coll) {
                    continue;
                }
                if i.len() > best_len {
                    best = vec![e];
                    best_len = i.len();
                } else if i.len() == best_len {
                    best.push(e);
                }
            }
        }
        (best, true)
    }
}

/// `` `k1` as a, `k2` as b `` for messages.
fn listed(entries: &[&Entry]) -> String {
    entries
        .iter()
        .map(|e| format!("`{}` as {}", e.key, e.action))
        .collect::<Vec<_>>()
        .join(" and ")
}

/// A short form of an ARM ID for messages: what follows the resource group.
pub fn short(id: &str) -> String {
    let lower = id.to_ascii_lowercase();
    match lower.find("/providers/") {
        Some(at) => id[at + "/providers/".len()..].to_string(),
        None => id.rsplit('/').next().unwrap_or(id).to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// State

/// Lower-cased ARM IDs the stack's state file owns, by key (empty when there is no state).
/// Read as plain JSON (`<dir>/<stack>.state.json`, `resources.<key>.id`) so that the harness
/// does not depend on the engine's types.
pub fn state_ids(state_dir: &Path, stack: &str) -> BTreeMap<String, String> {
    let path = state_dir.join(format!("{stack}.state.json"));
    let Ok(text) = std::fs::read_to_string(&path) else {
        return BTreeMap::new();
    };
    let v: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("state file {} is not JSON: {e}", path.display()));
    v["resources"]
        .as_object()
        .map(|rs| {
            rs.iter()
                .filter_map(|(k, r)| Some((r["id"].as_str()?.to_ascii_lowercase(), k.clone())))
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// The checks

/// One breach of the plan contract.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Violation {
    /// Which check: `a` writes, `b` vanished, `c` done, `d` next plan, `e` orphans, `f` plan
    /// honesty (unreadable, destructive marker), `g` the scenario's own expectation.
    pub check: char,
    /// What happened, precisely.
    pub what: String,
}

fn v(check: char, what: String) -> Violation {
    Violation { check, what }
}

/// (a) Every PUT/PATCH/DELETE targets a resource the plan lists with a matching action (a
/// POST, one the plan writes). A PUT that carries children in its body (a VNet with its
/// subnets) is also a write of each child it carries: one the plan creates or updates counts
/// as that write (so the parent's PUT is planned when the parent is, or when it carries a
/// planned child change); one the plan keeps unchanged (no entry that writes it) is only
/// carried through as it is — what vanished or changed is for checks (b) to (d).
pub fn check_writes(plan: &PlanView, writes: &[Sent], out: &mut Vec<Violation>) -> usize {
    for w in writes {
        let carries_planned = w.carries.iter().any(|c| {
            plan.entries.iter().any(|e| {
                e.ids.first() == Some(c) && matches!(e.action.as_str(), "create" | "update")
            })
        });
        if carries_planned {
            continue;
        }
        let (entries, via_parent) = plan.find(&w.path, false);
        if entries.is_empty() {
            out.push(v(
                'a',
                format!(
                    "{} {} ({}): the plan does not list this resource",
                    w.method,
                    short(&w.path),
                    w.status
                ),
            ));
            continue;
        }
        let ok = entries.iter().any(|e| match w.method.as_str() {
            "DELETE" if via_parent => {
                matches!(e.action.as_str(), "update" | "replace" | "delete")
            }
            "DELETE" => matches!(e.action.as_str(), "delete" | "replace"),
            // An action on a resource (`…/listKeys`): any write of that resource may need it.
            "POST" => e.writes(),
            _ => matches!(e.action.as_str(), "create" | "update" | "replace"),
        });
        if !ok {
            let through = if via_parent {
                " (its parent, which moat writes it through)"
            } else {
                ""
            };
            out.push(v(
                'a',
                format!(
                    "{} {} ({}): the plan lists it{through} {}",
                    w.method,
                    short(&w.path),
                    w.status,
                    listed(&entries)
                ),
            ));
        }
    }
    writes.len()
}

/// The writes that wrote `entry`'s resource: a request to its ID, or a PUT that carried it.
pub fn writes_of<'w>(entry: &Entry, writes: &'w [Sent]) -> Vec<&'w Sent> {
    let id = entry.ids.first().map(String::as_str).unwrap_or_default();
    writes
        .iter()
        .filter(|w| w.path == id || w.carries.iter().any(|c| c == id))
        .collect()
}

/// (b) Every resource that vanished was listed as deleted or replaced (an NSG rule or a route
/// goes with an update of its parent; what Azure made for a resource, with a planned delete,
/// replacement or update of that owner, or with the owner's own planned disappearance).
pub fn check_vanished(
    plan: &PlanView,
    before: &Snapshot,
    after: &Snapshot,
    out: &mut Vec<Violation>,
) -> usize {
    let gone: Vec<&Seen> = before
        .iter()
        .filter(|(id, _)| !after.contains_key(*id))
        .map(|(_, s)| s)
        .collect();
    for s in &gone {
        if s.made_by
            .as_ref()
            .is_some_and(|(o, on_update)| owner_planned(plan, before, o, *on_update))
        {
            continue;
        }
        let (entries, via_parent) = plan.find(&s.id.to_ascii_lowercase(), true);
        let ok = entries.iter().any(|e| {
            if via_parent {
                matches!(e.action.as_str(), "update" | "replace" | "delete")
            } else {
                matches!(e.action.as_str(), "delete" | "replace")
            }
        });
        if entries.is_empty() {
            out.push(v(
                'b',
                format!("{} vanished but the plan does not list it", short(&s.id)),
            ));
        } else if !ok {
            out.push(v(
                'b',
                format!(
                    "{} vanished but the plan lists it {}",
                    short(&s.id),
                    listed(&entries)
                ),
            ));
        }
    }
    gone.len()
}

/// Whether the plan deletes or replaces `owner` (or, `on_update`, rewrites it), so that what
/// Azure made for it may go: its own entry, else (a child not planned on its own) its
/// parent's, else its own owner's.
fn owner_planned(plan: &PlanView, before: &Snapshot, owner: &str, on_update: bool) -> bool {
    // An update rewrites what its own entry made, not what a parent's update might.
    let (entries, via_parent) = plan.find(owner, false);
    if entries.iter().any(|e| {
        matches!(e.action.as_str(), "delete" | "replace")
            || (on_update && !via_parent && e.action == "update")
    }) {
        return true;
    }
    before
        .get(owner)
        .and_then(|s| s.made_by.as_ref())
        .is_some_and(|(o, u)| o != owner && owner_planned(plan, before, o, *u))
}

/// (c) Every planned create (or replacement, update, move) exists afterwards and every planned
/// delete is gone.
pub fn check_done(plan: &PlanView, after: &Snapshot, out: &mut Vec<Violation>) {
    for e in &plan.entries {
        match e.action.as_str() {
            "create" | "replace" | "update" | "move" if !after.contains_key(&e.ids[0]) => {
                out.push(v(
                    'c',
                    format!(
                        "`{}` was planned as {} but does not exist afterwards",
                        e.key, e.action
                    ),
                ));
            }
            // A replacement under a new name leaves its old ID behind: it must be gone too.
            "delete" | "replace" => {
                let skip = usize::from(e.action == "replace");
                for id in e.ids.iter().skip(skip) {
                    if let Some(seen) = after.get(id)
                        && (e.action == "delete" || *id != e.ids[0])
                    {
                        out.push(v(
                            'c',
                            format!(
                                "`{}` was planned as {} but {} still exists",
                                e.key,
                                e.action,
                                short(&seen.id)
                            ),
                        ));
                    }
                }
            }
            _ => {}
        }
    }
}

/// (e) No orphans: everything tagged with the stack is in the state, and everything in the
/// state exists.
pub fn check_orphans(
    stack: &str,
    after: &Snapshot,
    state: &BTreeMap<String, String>,
    out: &mut Vec<Violation>,
) {
    for (id, s) in after {
        let tagged = s
            .tags
            .iter()
            .any(|(k, val)| k.eq_ignore_ascii_case(STACK_TAG) && val == stack);
        if tagged && !state.contains_key(id) {
            out.push(v(
                'e',
                format!(
                    "{} is tagged `{STACK_TAG}: {stack}` but the state does not own it",
                    short(&s.id)
                ),
            ));
        }
    }
    for (id, key) in state {
        if !after.contains_key(id) {
            out.push(v(
                'e',
                format!(
                    "the state owns `{key}` ({}) but it does not exist",
                    short(id)
                ),
            ));
        }
    }
}

/// (e) What Azure made for a resource (its NIC, its records) does not outlive it, unless
/// another owner now claims it (the record a replacement endpoint rewrote under its name).
pub fn check_made_with_gone(before: &Snapshot, after: &Snapshot, out: &mut Vec<Violation>) {
    for (id, s) in before {
        if let Some((owner, _)) = &s.made_by
            && !after.contains_key(owner)
            && let Some(left) = after.get(id)
            && left.made_by.is_none()
        {
            out.push(v(
                'e',
                format!(
                    "{}, which Azure made for {}, outlived it",
                    short(&left.id),
                    short(before.get(owner).map_or(owner.as_str(), |o| o.id.as_str()))
                ),
            ));
        }
    }
}

/// (f) The plan is honest about what it does: one ARM ID is never both kept and deleted under
/// two keys, and destructive changes are marked (in text and JSON plans alike).
pub fn check_plan(plan: &PlanView, out: &mut Vec<Violation>) {
    let mut by_id: BTreeMap<&str, Vec<&Entry>> = BTreeMap::new();
    for e in &plan.entries {
        by_id.entry(e.ids[0].as_str()).or_default().push(e);
    }
    for (id, es) in by_id {
        let actions: BTreeSet<&str> = es.iter().map(|e| e.action.as_str()).collect();
        if es.len() > 1 && actions.len() > 1 {
            out.push(v(
                'f',
                format!("the plan lists {} {}", short(id), listed(&es)),
            ));
        }
    }
    // Text plans mark it with the `! DESTRUCTIVE` line, JSON plans with `destructive: true`.
    for e in &plan.entries {
        if matches!(e.action.as_str(), "delete" | "replace")
            && DESTRUCTIVE_KINDS.contains(&e.kind.as_str())
            && e.destructive != Some(true)
        {
            out.push(v(
                'f',
                format!(
                    "{} of `{}` ({}) is not marked `destructive: true`",
                    e.action, e.key, e.kind
                ),
            ));
        }
    }
}

/// Copies the directory `from` to `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for e in std::fs::read_dir(from)
        .expect("read dir")
        .filter_map(Result::ok)
    {
        let p = e.path();
        let t = to.join(e.file_name());
        if p.is_dir() {
            copy_dir(&p, &t);
        } else {
            std::fs::copy(&p, &t).expect("copy file");
        }
    }
}

/// The directory of this test process's scenarios (under the target dir).
pub fn run_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("plan-contract-{}", std::process::id()))
}

/// Removes the directories earlier test processes left (kept for failed scenarios), once their
/// process is gone; only where `/proc` tells.
pub fn remove_stale_run_dirs() {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(env!("CARGO_TARGET_TMPDIR")) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name.strip_prefix("plan-contract-") else {
            continue;
        };
        if pid != std::process::id().to_string() && !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A fresh directory for one scenario.
pub fn scratch(name: &str) -> PathBuf {
    let dir = run_dir().join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}
