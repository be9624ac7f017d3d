//! Shared helpers of the end-to-end tests: run the real `moat` binary with a deadline, start
//! `moat sim` as a separate process, seed the clouds the examples expect, and read what the
//! emulated cloud and the state record hold afterwards.
#![allow(dead_code)]

use moat_engine::state::StateRecord;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_moat");

/// Longest any single command may run before the test fails.
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Environment variables of the user's shell that would change what the binary does.
const SCRUBBED: &[&str] = &[
    "MOAT_ARM_ENDPOINT",
    "MOAT_STATE_DIR",
    "MOAT_AUTH",
    "MOAT_LOG_HTTP",
    "MOAT_LOCAL_FAULTS",
    "MOAT_LOCAL_TIME_SCALE",
    "MOAT_LOCAL_RECORD",
    "MOAT_LOCAL_REPLICATION_SECS",
    "MOAT_BLOB_KEY",
    "MOAT_ALLOW_ENDPOINT",
    "AZURE_SUBSCRIPTION_ID",
    "AZURE_TENANT_ID",
    "ARM_SUBSCRIPTION_ID",
    "ARM_TENANT_ID",
];

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every example spec, sorted.
pub fn examples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(repo().join("examples"))
        .expect("examples/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    v.sort();
    v
}

/// A scratch directory under the target dir, unique per call, emptied first.
pub fn scratch(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "e2e-{name}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Out {
    /// Exit code (`None` when killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Wall time.
    pub elapsed: Duration,
}

impl Out {
    /// Panics with both streams unless the exit code is `code`.
    pub fn expect(&self, code: i32, what: &str) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "{what}: expected exit {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout,
            self.stderr
        );
        self
    }
}

/// Reads a child's pipes on threads so that a full pipe never blocks it.
pub struct Pipes {
    out: std::thread::JoinHandle<String>,
    err: std::thread::JoinHandle<String>,
}

impl Pipes {
    /// Takes the child's stdout and stderr.
    pub fn take(child: &mut Child) -> Pipes {
        let mut o = child.stdout.take().expect("piped stdout");
        let mut e = child.stderr.take().expect("piped stderr");
        Pipes {
            out: std::thread::spawn(move || {
                let mut s = String::new();
                let _ = o.read_to_string(&mut s);
                s
            }),
            err: std::thread::spawn(move || {
                let mut s = String::new();
                let _ = e.read_to_string(&mut s);
                s
            }),
        }
    }

    /// Both streams, once the child has exited.
    pub fn join(self) -> (String, String) {
        (
            self.out.join().unwrap_or_default(),
            self.err.join().unwrap_or_default(),
        )
    }
}

/// Waits for `child` until `deadline`, killing it (and failing the test) past it.
pub fn wait_with_deadline(
    mut child: Child,
    pipes: Pipes,
    started: Instant,
    limit: Duration,
) -> Out {
    loop {
        match child.try_wait().expect("wait for moat") {
            Some(status) => {
                let (stdout, stderr) = pipes.join();
                return Out {
                    code: status.code(),
                    stdout,
                    stderr,
                    elapsed: started.elapsed(),
                };
            }
            None if started.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                let (stdout, stderr) = pipes.join();
                panic!(
                    "moat ran longer than {limit:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
                );
            }
            None => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Where a `moat` invocation sends ARM traffic.
#[derive(Clone, Debug)]
pub enum Target {
    /// `--local`: the embedded emulator, its cloud in the state dir.
    Local,
    /// `--arm-endpoint URL`.
    Endpoint(String),
}

/// Runs the binary against one state directory and one ARM.
#[derive(Clone, Debug)]
pub struct Moat {
    /// `--state-dir`.
    pub state_dir: PathBuf,
    /// Where ARM is.
    pub target: Target,
    /// Extra environment.
    pub env: Vec<(String, String)>,
}

impl Moat {
    /// `--local` with state (and the local cloud) in `state_dir`.
    pub fn local(state_dir: &Path) -> Moat {
        Moat {
            state_dir: state_dir.to_path_buf(),
            target: Target::Local,
            env: Vec::new(),
        }
    }

    /// `--arm-endpoint url` with state in `state_dir`.
    pub fn remote(state_dir: &Path, url: &str) -> Moat {
        Moat {
            state_dir: state_dir.to_path_buf(),
            target: Target::Endpoint(url.to_string()),
            env: Vec::new(),
        }
    }

    /// Adds an environment variable.
    pub fn with_env(mut self, k: &str, v: impl AsRef<std::ffi::OsStr>) -> Moat {
        self.env
            .push((k.to_string(), v.as_ref().to_string_lossy().into_owned()));
        self
    }

    /// The command, not started; stdin is empty, both outputs are piped.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        for k in SCRUBBED {
            c.env_remove(k);
        }
        c.env("NO_COLOR", "1");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c.arg("--state-dir").arg(&self.state_dir);
        match &self.target {
            Target::Local => {
                c.arg("--local");
            }
            Target::Endpoint(u) => {
                c.args(["--arm-endpoint", u]);
            }
        }
        c.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// Starts the command.
    pub fn spawn(&self, args: &[&str]) -> (Child, Pipes, Instant) {
        let started = Instant::now();
        let mut child = self.command(args).spawn().expect("start moat");
        let pipes = Pipes::take(&mut child);
        (child, pipes, started)
    }

    /// Runs the command to the end (at most [`DEADLINE`]).
    pub fn run(&self, args: &[&str]) -> Out {
        let (child, pipes, started) = self.spawn(args);
        wait_with_deadline(child, pipes, started, DEADLINE)
    }

    /// `apply SPEC --auto-approve`.
    pub fn apply(&self, spec: &Path) -> Out {
        self.run(&["apply", path_str(spec), "--auto-approve"])
    }

    /// `plan SPEC --detailed-exitcode`, asserted to exit 0 with "No changes".
    pub fn assert_no_changes(&self, spec: &Path, after: &str) {
        let out = self.run(&["plan", path_str(spec), "--detailed-exitcode"]);
        out.expect(0, &format!("plan after {after}"));
        assert!(
            out.stdout.contains("No changes"),
            "plan after {after} does not say \"No changes\":\n{}",
            out.stdout
        );
    }

    /// The JSON plan of `spec` (fails the test unless `plan` exits 0).
    pub fn plan_json(&self, spec: &Path) -> Value {
        let out = self.run(&["plan", path_str(spec), "--format", "json"]);
        out.expect(0, "plan --format json");
        serde_json::from_str(&out.stdout).expect("the JSON plan parses")
    }

    /// The stack's state record; fails the test if it does not parse.
    pub fn state(&self, stack: &str) -> Option<StateRecord> {
        read_state(&self.state_dir.join(format!("{stack}.state.json")))
    }

    /// The embedded emulator's cloud file.
    pub fn local_cloud(&self) -> PathBuf {
        self.state_dir.join("local-cloud.json")
    }
}

/// `path` as `&str` (test paths are UTF-8).
pub fn path_str(path: &Path) -> &str {
    path.to_str().expect("UTF-8 path")
}

/// Reads a local state record: `None` when absent; panics when it does not parse — moat must
/// never leave a corrupt state file behind, whenever it is killed.
pub fn read_state(path: &Path) -> Option<StateRecord> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("cannot read {}: {e}", path.display()),
    };
    match serde_json::from_slice::<StateRecord>(&bytes) {
        Ok(r) => Some(r),
        Err(e) => panic!(
            "state file {} is corrupt: {e}\n{}",
            path.display(),
            String::from_utf8_lossy(&bytes)
        ),
    }
}

/// Resource IDs (lower-cased) the plan says the stack owns or will own: everything but
/// `existing:` reads.
pub fn owned_ids(plan: &Value) -> BTreeMap<String, String> {
    plan["resources"]
        .as_array()
        .expect("plan.resources")
        .iter()
        .filter(|r| !matches!(r["action"].as_str(), Some("read" | "unreadable")))
        .map(|r| {
            (
                r["id"].as_str().expect("id").to_ascii_lowercase(),
                r["key"].as_str().expect("key").to_string(),
            )
        })
        .collect()
}

/// The keys a plan owns (an endpoint and its traffic share one ID, so [`owned_ids`] keys by
/// ID cannot list both).
pub fn owned_keys(plan: &Value) -> BTreeSet<String> {
    plan["resources"]
        .as_array()
        .expect("plan.resources")
        .iter()
        .filter(|r| !matches!(r["action"].as_str(), Some("read" | "unreadable")))
        .map(|r| r["key"].as_str().expect("key").to_string())
        .collect()
}

/// The stack name a plan is for.
pub fn stack_of(plan: &Value) -> String {
    plan["stack"].as_str().expect("plan.stack").to_string()
}

/// Kinds the emulator keeps as separate records but ARM shows inline in their parent
/// (NSG rules, routes): they come and go with the parent.
const INLINE_KINDS: &[&str] = &["SecurityRule", "Route"];

/// Lower-cased IDs of the resources an emulator cloud file holds now (what finished deleting
/// is gone; what is still deleting still exists).
pub fn cloud_ids(cloud_file: &Path) -> BTreeSet<String> {
    let text = match std::fs::read_to_string(cloud_file) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return BTreeSet::new(),
        Err(e) => panic!("cannot read {}: {e}", cloud_file.display()),
    };
    let v: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("emulator cloud {} is corrupt: {e}", cloud_file.display()));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    v["resources"]
        .as_object()
        .expect("cloud.resources")
        .iter()
        .filter(|(_, r)| !INLINE_KINDS.contains(&r["kind"].as_str().unwrap_or("")))
        .filter(|(_, r)| r["deleting_until"].as_f64().is_none_or(|t| t > now))
        .map(|(k, _)| k.to_ascii_lowercase())
        .collect()
}

/// Asserts that the cloud holds exactly `baseline` plus `expected` — every planned resource
/// once, nothing the stack made that it does not know about.
pub fn assert_cloud_is(
    cloud_file: &Path,
    baseline: &BTreeSet<String>,
    expected: &BTreeMap<String, String>,
    context: &str,
) {
    let now = cloud_ids(cloud_file);
    let missing: Vec<&String> = expected
        .iter()
        .filter(|(id, _)| !now.contains(*id))
        .map(|(_, k)| k)
        .collect();
    // What Azure makes for a resource and deletes with it (a private endpoint's NIC, the A
    // records its DNS zone group writes, the outbound rules a managed network needs, named
    // `__SYS_…`) is no orphan while the stack holds resources; once it holds none (after
    // destroy) it must be gone too.
    let made_with = |id: &str| {
        !expected.is_empty()
            && (id.contains("/providers/microsoft.network/networkinterfaces/")
                || (id.contains("/providers/microsoft.network/privatednszones/")
                    && id.contains("/a/"))
                || id.contains("/outboundrules/__sys_"))
    };
    let orphans: Vec<&String> = now
        .iter()
        .filter(|id| !baseline.contains(*id) && !expected.contains_key(*id) && !made_with(id))
        .collect();
    let lost: Vec<&String> = baseline.iter().filter(|id| !now.contains(*id)).collect();
    assert!(
        missing.is_empty() && orphans.is_empty() && lost.is_empty(),
        "{context}: the cloud does not match the plan\n  missing: {missing:?}\n  orphans: {orphans:?}\n  resources of others that went away: {lost:?}"
    );
}

/// A spec that creates what an example reads with `existing:`, applied before the example.
pub fn seed_spec(example: &Path) -> Option<&'static str> {
    match example.file_name()?.to_str()? {
        "shared-vnet-training.yaml" => Some(
            "stack: hub-network\n\
             location: westeurope\n\
             resources:\n\
             \x20 network-rg: { type: resource_group, name: network-rg }\n\
             \x20 hub-vnet:\n\
             \x20   type: virtual_network\n\
             \x20   resource_group: network-rg\n\
             \x20   address_space: [10.200.0.0/16]\n\
             \x20   subnets:\n\
             \x20     ml-training: { address_prefix: 10.200.1.0/24, service_endpoints: [Microsoft.Storage, Microsoft.KeyVault] }\n\
             \x20     ml-inference: { address_prefix: 10.200.16.0/20, service_endpoints: [Microsoft.Storage, Microsoft.KeyVault] }\n",
        ),
        "team-subnet-in-hub.yaml" => Some(
            "stack: hub-network\n\
             location: westeurope\n\
             resources:\n\
             \x20 network-rg: { type: resource_group, name: network-rg }\n\
             \x20 hub-vnet:\n\
             \x20   type: virtual_network\n\
             \x20   resource_group: network-rg\n\
             \x20   address_space: [10.20.0.0/16]\n\
             \x20   subnets:\n\
             \x20     ml-training: { address_prefix: 10.20.1.0/24, service_endpoints: [Microsoft.Storage, Microsoft.KeyVault] }\n\
             \x20     shared-services: { address_prefix: 10.20.2.0/24 }\n",
        ),
        _ => None,
    }
}

/// Applies the example's seed (if it has one) with `moat` and returns the IDs of the cloud
/// afterwards: what belongs to others and must survive the example's apply and destroy.
pub fn seed(moat: &Moat, example: &Path, cloud_file: &Path, dir: &Path) -> BTreeSet<String> {
    if let Some(text) = seed_spec(example) {
        let spec = dir.join("seed.yaml");
        std::fs::write(&spec, text).expect("write seed spec");
        moat.apply(&spec).expect(0, "apply of the seed spec");
    }
    cloud_ids(cloud_file)
}

/// Copies an example into `dir` (so that line numbers in messages refer to a file the test
/// controls, and a concurrent edit of `examples/` cannot change it mid-test).
pub fn copy_example(example: &Path, dir: &Path) -> PathBuf {
    let to = dir.join(example.file_name().expect("file name"));
    std::fs::copy(example, &to).expect("copy example");
    to
}

/// A `moat sim` process on a free loopback port, killed on drop.
pub struct Sim {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// Its `--state` file.
    pub state: PathBuf,
}

impl Sim {
    /// Starts `moat sim --listen 127.0.0.1:0 --state STATE --time-scale SCALE [extra]`.
    pub fn start(state: &Path, time_scale: f64, extra: &[&str]) -> Sim {
        let mut c = Command::new(BIN);
        for k in SCRUBBED {
            c.env_remove(k);
        }
        let mut child = c
            .args(["sim", "--listen", "127.0.0.1:0", "--state"])
            .arg(state)
            .args(["--time-scale", &time_scale.to_string()])
            .args(extra)
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
        let url = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(u) => u,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("moat sim did not say where it listens within 20 s");
            }
        };
        Sim {
            child,
            url,
            state: state.to_path_buf(),
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The (1-based) line and column of `  KEY:` under `resources:` in a spec text.
pub fn key_position(spec_text: &str, key: &str) -> (usize, usize) {
    let needle = format!("{key}:");
    spec_text
        .lines()
        .enumerate()
        .find_map(|(i, l)| {
            let t = l.trim_start();
            (t.starts_with(&needle) && l.len() - t.len() == 2).then(|| (i + 1, 3))
        })
        .unwrap_or_else(|| panic!("no `{key}:` in the spec"))
}

/// A small seeded generator (splitmix64), so random test schedules are reproducible.
pub struct Rng(pub u64);

impl Rng {
    /// The next value in [0, 1).
    pub fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Polls `cond` every 10 ms until it holds; fails the test after `limit`.
pub fn wait_until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !cond() {
        assert!(
            t0.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends a signal (`INT`, `STOP`, `CONT`, `KILL`) to one process by id.
pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill")
        .success();
    assert!(ok, "kill -{sig} {pid} failed");
}

/// How many successful (status < 300) PUTs each resource path received, from an emulator
/// `--record` directory (paths lower-cased, without the query).
pub fn successful_puts(record_dir: &Path) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    let Ok(entries) = std::fs::read_dir(record_dir) else {
        return counts;
    };
    for e in entries.filter_map(Result::ok) {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.contains("-PUT-") {
            continue;
        }
        let text = std::fs::read_to_string(e.path()).expect("record file");
        let v: Value = serde_json::from_str(&text).expect("record file is JSON");
        let status = v["liveResponse"]["statusCode"]
            .as_u64()
            .or_else(|| {
                v["liveResponse"]["statusCode"]
                    .as_str()
                    .and_then(|s| s.parse().ok())
            })
            .unwrap_or(0);
        if status >= 300 {
            continue;
        }
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
        *counts.entry(path).or_insert(0) += 1;
    }
    counts
}

/// Whether an emulator `--record` directory holds at least one PUT (a run started writing).
pub fn has_put(record_dir: &Path) -> bool {
    std::fs::read_dir(record_dir).is_ok_and(|mut d| {
        d.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().contains("-PUT-")))
    })
}

/// An emulator inside the test process, with an ARM client to arrange what the tests need
/// (resources that moat did not create) and to look at the result.
pub struct InProcessCloud {
    rt: tokio::runtime::Runtime,
    sim: Option<moat_sim::SimHandle>,
    client: moat_arm::ArmClient,
}

impl InProcessCloud {
    /// Starts an instant (time scale 0) emulator on a free loopback port.
    pub fn start() -> InProcessCloud {
        moat_arm::install_crypto_provider();
        let rt = tokio::runtime::Runtime::new().expect("runtime");
        let config = moat_sim::SimConfig {
            time_scale: 0.0,
            ..moat_sim::SimConfig::default()
        };
        let sim = rt
            .block_on(moat_sim::start(
                "127.0.0.1:0".parse().expect("addr"),
                config,
            ))
            .expect("sim");
        let endpoint = moat_arm::Endpoint::parse(&sim.url()).expect("endpoint");
        let client = rt
            .block_on(moat_arm::ArmClient::new(
                moat_arm::ClientConfig::for_endpoint(endpoint),
            ))
            .expect("client");
        InProcessCloud {
            rt,
            sim: Some(sim),
            client,
        }
    }

    /// The emulator's URL, for `--arm-endpoint`.
    pub fn url(&self) -> String {
        self.sim.as_ref().map(|s| s.url()).unwrap_or_default()
    }

    /// PUTs `body` to `id` and waits for it.
    pub fn put(&self, id: &str, api_version: &str, body: Value) {
        use moat_arm::Arm as _;
        self.rt.block_on(async {
            let s = self
                .client
                .begin(moat_arm::WriteRequest::put(id, api_version, body))
                .await
                .expect("put");
            self.client.wait(&s.operation).await.expect("wait");
        });
    }

    /// GETs `id` (`None` when absent).
    pub fn get(&self, id: &str, api_version: &str) -> Option<Value> {
        use moat_arm::Arm as _;
        self.rt
            .block_on(self.client.get(id, api_version))
            .expect("get")
    }

    /// Every resource ID the emulator holds, lowercased.
    pub fn ids(&self) -> BTreeSet<String> {
        self.sim
            .as_ref()
            .map(|s| s.resources())
            .unwrap_or_default()
            .iter()
            .filter_map(|r| r.get("id").and_then(Value::as_str).map(str::to_lowercase))
            .collect()
    }
}

impl Drop for InProcessCloud {
    fn drop(&mut self) {
        if let Some(sim) = self.sim.take() {
            self.rt.block_on(sim.shutdown());
        }
    }
}
