//! Benchmark 3: moat against what teams do today — `bench/baseline_sdk.py`, the Azure SDK for
//! Python creating the secure ML workspace one resource after another — on the same emulator
//! settings. Installs the pinned SDK into a venv on first use; without Python the benchmark is
//! reported as skipped.

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
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
    /// moat: live read + plan + apply, seconds.
    pub moat_s: f64,
    /// The SDK script's provisioning wall time, seconds.
    pub sdk_s: f64,
    /// `moat_s / sdk_s`.
    pub ratio: f64,
    /// Requests the SDK script sent.
    pub sdk_requests: u64,
    /// Per-resource seconds of the script.
    pub sdk_steps: Vec<(String, f64)>,
    /// Both runs left the same resource IDs in the emulator.
    pub same_ids: bool,
    /// IDs only moat created / only the script created.
    pub only_moat: Vec<String>,
    /// IDs only the script created.
    pub only_sdk: Vec<String>,
}

impl BaselineFigures {
    /// A skipped baseline.
    pub fn skipped(reason: impl Into<String>) -> Self {
        BaselineFigures {
            status: "skipped".into(),
            reason: Some(reason.into()),
            moat_s: f64::NAN,
            sdk_s: f64::NAN,
            ratio: f64::NAN,
            sdk_requests: 0,
            sdk_steps: Vec::new(),
            same_ids: false,
            only_moat: Vec::new(),
            only_sdk: Vec::new(),
        }
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
async fn run_script(py: &Path, url: &str, time_scale: f64) -> anyhow::Result<ScriptOutput> {
    let script = workspace_root().join("bench/baseline_sdk.py");
    let mut child = Command::new(py)
        .arg(&script)
        .args(["--endpoint", url])
        .args(["--subscription", moat_model::LOCAL_SUBSCRIPTION])
        .args(["--tenant", moat_model::LOCAL_TENANT])
        .args(["--time-scale", &time_scale.to_string()])
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

/// Compares moat's figures for the secure example with the SDK script's.
pub async fn bench(
    python: &str,
    venv: &Path,
    settings: crate::apply_bench::ApplySettings,
    moat_s: f64,
    moat_ids: &[String],
) -> BaselineFigures {
    let py = match ensure_venv(python, venv) {
        Ok(p) => p,
        Err(e) => return BaselineFigures::skipped(format!("{e:#}")),
    };
    match compare(&py, settings, moat_s, moat_ids).await {
        Ok(f) => f,
        Err(e) => BaselineFigures::skipped(format!("{e:#}")),
    }
}

async fn compare(
    py: &Path,
    settings: crate::apply_bench::ApplySettings,
    moat_s: f64,
    moat_ids: &[String],
) -> anyhow::Result<BaselineFigures> {
    let sim = crate::apply_bench::start_sim(&settings).await?;
    let out = run_script(py, &sim.url(), settings.time_scale).await;
    let ids = crate::apply_bench::resource_ids(&sim);
    sim.shutdown().await;
    let out = out?;
    let only_moat: Vec<String> = moat_ids
        .iter()
        .filter(|i| !ids.contains(i))
        .cloned()
        .collect();
    let only_sdk: Vec<String> = ids
        .iter()
        .filter(|i| !moat_ids.contains(i))
        .cloned()
        .collect();
    Ok(BaselineFigures {
        status: "ran".into(),
        reason: None,
        moat_s,
        sdk_s: out.seconds,
        ratio: moat_s / out.seconds,
        sdk_requests: out.requests,
        sdk_steps: out.steps,
        same_ids: only_moat.is_empty() && only_sdk.is_empty(),
        only_moat,
        only_sdk,
    })
}
