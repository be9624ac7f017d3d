//! Azurite, Microsoft's storage emulator, for the blob state backend's tests: installed with npm
//! on first use into a cache under the target directory, then started on a free loopback port
//! and stopped on drop.
//!
//! Several test binaries (and several tests inside one) may ask for it at the same moment, so
//! the install holds a file lock, writes into a private temporary folder and renames it into
//! place: a folder at the final path is always a complete install, even after a killed run.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The Azurite release the tests install (`azurite@3` pinned, so every machine runs the same).
pub const VERSION: &str = "3.35.0";

/// Overrides the install: the path of an `azurite-blob` executable to use instead.
pub const BIN_VAR: &str = "MOAT_AZURITE_BIN";

/// Azurite's published development account key (the same in every Azurite install; it opens
/// nothing but a local emulator).
pub const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// How long Azurite may take to say where it listens (its first start on a cold disk is slow).
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Where the tests keep their Azurite install: `<target>/tmp/moat-testkit/`. Callers pass
/// `env!("CARGO_TARGET_TMPDIR")`, which Cargo sets for integration tests only.
pub fn cache_dir(target_tmp: &Path) -> PathBuf {
    target_tmp.join("moat-testkit")
}

/// Why `azurite-blob` cannot be had.
#[derive(Debug)]
pub enum Unavailable {
    /// npm is not installed: the test is skipped (or fails under CI).
    NoNpm,
    /// The install was tried and failed: always a failure.
    Failed(String),
}

/// The `azurite-blob` executable: [`BIN_VAR`] if set, else the cached install, installing
/// [`VERSION`] with npm when it is not there yet.
pub fn blob_executable(target_tmp: &Path) -> Result<PathBuf, Unavailable> {
    if let Some(bin) = std::env::var_os(BIN_VAR).filter(|v| !v.is_empty()) {
        let bin = PathBuf::from(bin);
        return if bin.exists() {
            Ok(bin)
        } else {
            Err(Unavailable::Failed(format!(
                "{BIN_VAR}={} does not exist",
                bin.display()
            )))
        };
    }
    let cache = cache_dir(target_tmp);
    let dest = cache.join(format!("azurite-{VERSION}"));
    let bin = dest.join("node_modules/.bin/azurite-blob");
    if bin.exists() {
        return Ok(bin);
    }
    if !crate::runs("npm") {
        return Err(Unavailable::NoNpm);
    }
    let failed = |what: &str, e: &dyn std::fmt::Display| {
        Unavailable::Failed(format!("{what} under {}: {e}", cache.display()))
    };
    std::fs::create_dir_all(&cache).map_err(|e| failed("cannot create the cache", &e))?;
    let lock = File::create(cache.join("azurite.lock"))
        .map_err(|e| failed("cannot create the install lock", &e))?;
    // Blocks while another test (thread or process) installs; the lock goes with the file.
    lock.lock()
        .map_err(|e| failed("cannot take the install lock", &e))?;
    if bin.exists() {
        return Ok(bin);
    }
    let partial = cache.join(format!("azurite-{VERSION}.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    std::fs::create_dir_all(&partial)
        .map_err(|e| failed("cannot create the install folder", &e))?;
    let out = Command::new("npm")
        .arg("install")
        .arg("--prefix")
        .arg(&partial)
        .args(["--no-audit", "--no-fund", "--loglevel=error"])
        .arg(format!("azurite@{VERSION}"))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| failed("cannot run npm", &e))?;
    if !out.status.success() || !partial.join("node_modules/.bin/azurite-blob").exists() {
        let _ = std::fs::remove_dir_all(&partial);
        return Err(Unavailable::Failed(format!(
            "`npm install azurite@{VERSION}` failed ({}); install it yourself and set {BIN_VAR}:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    // A folder at `dest` without the executable is the leftover of a foreign, broken install.
    let _ = std::fs::remove_dir_all(&dest);
    std::fs::rename(&partial, &dest)
        .map_err(|e| failed("cannot move the install into place", &e))?;
    Ok(bin)
}

/// One Azurite blob service on a free loopback port, stopped (killed) on drop.
#[derive(Debug)]
pub struct Azurite {
    child: Child,
    url: String,
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Azurite {
    /// Starts a blob service that keeps its data in `data`, for a test of `target`. `None` after
    /// [`crate::skip`] when npm is missing; panics when the install or the start fails.
    pub fn start(target: &str, target_tmp: &Path, data: &Path) -> Option<Azurite> {
        let bin = match blob_executable(target_tmp) {
            Ok(bin) => bin,
            Err(Unavailable::NoNpm) => {
                crate::skip(
                    target,
                    &format!(
                        "`npm` not found on PATH, so Azurite cannot be installed (or set {BIN_VAR})"
                    ),
                );
                return None;
            }
            Err(Unavailable::Failed(why)) => panic!("{target}: {why}"),
        };
        std::fs::create_dir_all(data)
            .unwrap_or_else(|e| panic!("{target}: cannot create {}: {e}", data.display()));
        let mut child = Command::new(&bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", "0", "--location"])
            .arg(data)
            .args([
                "--silent",
                "--skipApiVersionCheck",
                "--loose",
                "--disableTelemetry",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{target}: cannot start {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        // Reads until Azurite exits, so that its stdout pipe never fills up.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find("http://127.0.0.1:") {
                    let _ = tx.send(line[at..].trim().to_owned());
                }
            }
        });
        let mut azurite = Azurite {
            child,
            url: String::new(),
        };
        azurite.url = rx.recv_timeout(START_TIMEOUT).unwrap_or_else(|_| {
            panic!(
                "{target}: {} did not say where it listens within {}s",
                bin.display(),
                START_TIMEOUT.as_secs()
            )
        });
        Some(azurite)
    }

    /// The blob endpoint, `http://127.0.0.1:PORT` (the account name follows in the path).
    pub fn url(&self) -> &str {
        &self.url
    }
}
