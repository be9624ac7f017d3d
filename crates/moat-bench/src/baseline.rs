//! Benchmark 3: moat against what teams do today — `bench/baseline_sdk.py`, the Azure SDK for
//! Python creating the secure ML workspace, once one resource after another and once with a
//! thread pool over the dependency graph — on the same emulator settings and the same polling
//! rules. Each run's result is compared with moat's property by property (what a GET returns,
//! not only the IDs), so a script that creates less does not look faster. Installs the pinned
//! SDK into a venv on first use; without Python the benchmark is reported as skipped.

use crate::apply_bench::Resources;
use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where the bench's files live in the work tree.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap_or_else(|_| PathBuf::from("."))
}

/// The baseline's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct BaselineFigures {
    /// `ran` or `skipped`.
    pub status: String,
    /// Why it was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Each (spec, mode) run of the script.
    pub runs: Vec<ScriptRun>,
}

impl BaselineFigures {
    /// A skipped baseline.
    pub fn skipped(reason: impl Into<String>) -> Self {
        BaselineFigures {
            status: "skipped".into(),
            reason: Some(reason.into()),
            runs: Vec::new(),
        }
    }

    /// The worst (largest) `moat_s / sdk_s` of the threaded script over the specs; `None`
    /// unless every threaded run created what moat did.
    pub fn threaded_ratio(&self) -> Option<f64> {
        let runs: Vec<&ScriptRun> = self.runs.iter().filter(|r| r.mode == "threaded").collect();
        if runs.is_empty() || !runs.iter().all(|r| r.same_result()) {
            return None;
        }
        runs.iter().map(|r| r.ratio).reduce(f64::max)
    }

    /// `moat_s / sdk_s` of the sequential script on the secure example, when both created
    /// the same thing.
    pub fn sequential_ratio(&self) -> Option<f64> {
        self.runs
            .iter()
            .find(|r| r.mode == "sequential" && r.spec == "secure")
            .filter(|r| r.same_result())
            .map(|r| r.ratio)
    }
}

/// What moat did on one spec, for the script to be compared with.
pub struct MoatRun<'a> {
    /// The script's `--spec`: `secure` or `wide`.
    pub spec: &'static str,
    /// moat: live read + plan + apply, seconds.
    pub moat_s: f64,
    /// What moat left in the emulator.
    pub resources: &'a Resources,
}

/// One run of the script.
#[derive(Clone, Debug, Serialize)]
pub struct ScriptRun {
    /// `secure` (the secure ML example) or `wide` (one VNet, ten subnets).
    pub spec: String,
    /// `sequential` or `threaded`.
    pub mode: String,
    /// moat on the same spec: live read + plan + apply, seconds.
    pub moat_s: f64,
    /// The script's provisioning wall time, seconds.
    pub sdk_s: f64,
    /// `moat_s / sdk_s`.
    pub ratio: f64,
    /// Requests the script sent.
    pub requests: u64,
    /// Per-resource seconds of the script.
    pub steps: Vec<(String, f64)>,
    /// IDs only moat created.
    pub only_moat: Vec<String>,
    /// IDs only the script created.
    pub only_sdk: Vec<String>,
    /// Where a resource both created reads back differently (`id: path: moat … / sdk …`).
    pub property_differences: Vec<String>,
}

impl ScriptRun {
    /// Same resources with the same properties read back.
    pub fn same_result(&self) -> bool {
        self.only_moat.is_empty()
            && self.only_sdk.is_empty()
            && self.property_differences.is_empty()
    }
}

#[derive(Deserialize)]
struct ScriptOutput {
    seconds: f64,
    requests: u64,
    steps: Vec<(String, f64)>,
}

/// Runs `cmd`, failing with its stderr.
fn run(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot {what}"))?;
    if !out.status.success() {
        bail!(
            "cannot {what}: {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or("")
        );
    }
    Ok(())
}

/// The venv's Python with the pinned SDK, created when missing or when the requirements
/// changed; `Err` says why there is none.
pub fn ensure_venv(python: &str, venv: &Path) -> anyhow::Result<PathBuf> {
    let root = workspace_root();
    let requirements = root.join("bench/requirements.txt");
    let wanted = std::fs::read_to_string(&requirements)
        .with_context(|| format!("cannot read `{}`", requirements.display()))?;
    let py = venv.join("bin/python");
    let stamp = venv.join("moat-bench-requirements.txt");
    if py.exists() && std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(py);
    }
    run(
        Command::new(python).arg("--version"),
        &format!("run `{python}`"),
    )?;
    eprintln!(
        "moat-bench: installing the Azure SDK for Python into {} …",
        venv.display()
    );
    run(
        Command::new(python).arg("-m").arg("venv").arg(venv),
        "create the venv",
    )?;
    run(
        Command::new(&py)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&requirements),
        "install bench/requirements.txt (needs pip and PyPI)",
    )?;
    std::fs::write(&stamp, wanted)?;
    Ok(py)
}

/// Runs the script against the emulator at `url`; returns its output.
async fn run_script(
    py: &Path,
    url: &str,
    time_scale: f64,
    mode: &str,
    spec: &str,
) -> anyhow::Result<ScriptOutput> {
    let script = workspace_root().join("bench/baseline_sdk.py");
    let mut child = Command::new(py)
        .arg(&script)
        .args(["--endpoint", url])
        .args(["--subscription", moat_model::LOCAL_SUBSCRIPTION])
        .args(["--tenant", moat_model::LOCAL_TENANT])
        .args(["--time-scale", &time_scale.to_string()])
        .args(["--mode", mode])
        .args(["--spec", spec])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start the baseline script")?;
    // The emulator serves from this process, so wait without blocking the runtime.
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("the baseline script ran for more than 300 s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(3).collect();
        bail!("the baseline script failed: {}", tail.join(" | "));
    }
    serde_json::from_slice(&out.stdout).context("the baseline script printed no figures")
}

/// Runs both scripts on each spec moat ran, and compares.
pub async fn bench(
    python: &str,
    venv: &Path,
    settings: crate::apply_bench::ApplySettings,
    moat: &[MoatRun<'_>],
) -> BaselineFigures {
    let py = match ensure_venv(python, venv) {
        Ok(p) => p,
        Err(e) => return BaselineFigures::skipped(format!("{e:#}")),
    };
    let mut figures = BaselineFigures {
        status: "ran".into(),
        reason: None,
        runs: Vec::new(),
    };
    for m in moat {
        for mode in ["sequential", "threaded"] {
            match run_mode(&py, settings, mode, m).await {
                Ok(r) => figures.runs.push(r),
                Err(e) => {
                    return BaselineFigures::skipped(format!("{} {mode}: {e:#}", m.spec));
                }
            }
        }
    }
    figures
}

async fn run_mode(
    py: &Path,
    settings: crate::apply_bench::ApplySettings,
    mode: &str,
    moat: &MoatRun<'_>,
) -> anyhow::Result<ScriptRun> {
    let sim = crate::apply_bench::start_sim(&settings).await?;
    let out = run_script(py, &sim.url(), settings.time_scale, mode, moat.spec).await;
    let sdk = crate::apply_bench::resources_by_id(&sim);
    sim.shutdown().await;
    let out = out?;
    let mine = moat.resources;
    let only_moat: Vec<String> = mine
        .keys()
        .filter(|i| !sdk.contains_key(*i))
        .cloned()
        .collect();
    let only_sdk: Vec<String> = sdk
        .keys()
        .filter(|i| !mine.contains_key(*i))
        .cloned()
        .collect();
    let mut property_differences = Vec::new();
    for (id, body) in mine {
        if let Some(other) = sdk.get(id) {
            for d in differences(&normalize(body), &normalize(other)) {
                property_differences.push(format!("{id}: {d}"));
            }
        }
    }
    Ok(ScriptRun {
        spec: moat.spec.to_string(),
        mode: mode.to_string(),
        moat_s: moat.moat_s,
        sdk_s: out.seconds,
        ratio: moat.moat_s / out.seconds,
        requests: out.requests,
        steps: out.steps,
        only_moat,
        only_sdk,
        property_differences,
    })
}

/// What two runs may legitimately differ in is taken out: the emulator's generated GUIDs
/// (principal ids, resource GUIDs, keys), AKS's `resourceUID` and timestamps, `etag` and
/// `systemData`, and moat's own bookkeeping tags (`moat-*`, which mark what a stack owns); ARM
/// IDs are compared case-insensitively and arrays as sets (ARM does not give their order a
/// meaning for these kinds: rules, subnets, ACL entries).
fn normalize(v: &Value) -> Value {
    normalize_in(v, false)
}

fn normalize_in(v: &Value, in_tags: bool) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "etag" | "systemData" | "resourceUID"))
                .filter(|(k, _)| !(in_tags && k.starts_with("moat-")))
                .map(|(k, v)| (k.clone(), normalize_in(v, k == "tags")))
                .collect(),
        ),
        Value::Array(items) => {
            let mut items: Vec<Value> = items.iter().map(normalize).collect();
            // Sorted by their text: the comparison is then order-blind.
            items.sort_by_cached_key(Value::to_string);
            Value::Array(items)
        }
        Value::String(s) => Value::String(normalize_text(s)),
        other => other.clone(),
    }
}

fn normalize_text(s: &str) -> String {
    if time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok() {
        return "<time>".into();
    }
    let s = if s.starts_with("/subscriptions/") {
        s.to_ascii_lowercase()
    } else {
        s.to_string()
    };
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while !rest.is_empty() {
        if rest.len() >= 36 && rest.is_char_boundary(36) && is_guid(&rest[..36]) {
            out.push_str("<guid>");
            rest = &rest[36..];
        } else {
            let c = rest.chars().next().unwrap_or_default();
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

fn is_guid(s: &str) -> bool {
    s.bytes().enumerate().all(|(i, b)| match i {
        8 | 13 | 18 | 23 => b == b'-',
        _ => b.is_ascii_hexdigit(),
    })
}

/// Paths where `moat` and `sdk` differ, with both values (shortened).
fn differences(moat: &Value, sdk: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff_at("", moat, sdk, &mut out);
    out
}

fn diff_at(path: &str, a: &Value, b: &Value, out: &mut Vec<String>) {
    let short = |v: &Value| {
        let t = v.to_string();
        if t.chars().count() > 80 {
            format!("{}…", t.chars().take(80).collect::<String>())
        } else {
            t
        }
    };
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = format!("{path}/{k}");
                match (x.get(k), y.get(k)) {
                    (Some(u), Some(v)) => diff_at(&p, u, v, out),
                    (Some(u), None) => out.push(format!("{p}: moat {} / sdk absent", short(u))),
                    (None, Some(v)) => out.push(format!("{p}: moat absent / sdk {}", short(v))),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (u, v)) in x.iter().zip(y).enumerate() {
                diff_at(&format!("{path}/{i}"), u, v, out);
            }
        }
        _ if a != b => out.push(format!("{path}: moat {} / sdk {}", short(a), short(b))),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn generated_values_and_order_do_not_count() {
        let moat = json!({"id": "/subscriptions/S/resourceGroups/RG", "etag": "W/1",
            "tags": {"team": "ml", "moat-stack": "secure-ml"},
            "identity": {"principalId": "0f8fad5b-d9cb-469f-a165-70867728950e"},
            "properties": {"createdAt": "2026-12-01T20:00:00Z", "rules": [{"name": "a"}, {"name": "b"}]}});
        let sdk = json!({"id": "/subscriptions/s/resourceGroups/rg", "etag": "W/2",
            "tags": {"team": "ml"},
            "identity": {"principalId": "7c9e6679-7425-40de-944b-e07fc1f90ae7"},
            "properties": {"createdAt": "2026-12-01T20:00:05Z", "rules": [{"name": "b"}, {"name": "a"}]}});
        assert_eq!(
            differences(&normalize(&moat), &normalize(&sdk)),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_missing_rule_or_endpoint_is_a_difference() {
        let moat = json!({"properties": {"serviceEndpoints": [{"service": "Microsoft.Storage"}],
            "acl": {"virtualNetworkRules": [{"id": "a"}, {"id": "b"}]}}});
        let sdk = json!({"properties": {"acl": {"virtualNetworkRules": [{"id": "a"}]}}});
        // A tag the team set is compared like any property.
        let d = differences(&normalize(&moat), &normalize(&sdk));
        assert_eq!(d.len(), 2, "{d:?}");
        let tagged = json!({"tags": {"team": "ml"}});
        assert_eq!(
            differences(&normalize(&tagged), &normalize(&json!({"tags": {}}))).len(),
            1
        );
        assert!(
            d[0].starts_with("/properties/acl/virtualNetworkRules: moat"),
            "{d:?}"
        );
        assert!(
            d[1].starts_with("/properties/serviceEndpoints: moat"),
            "{d:?}"
        );
    }
}
