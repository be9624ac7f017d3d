//! Test-only helpers every crate's integration tests share: where the ARM oracle kit is, what a
//! test does when a prerequisite is missing (skip with one line, or fail under `CI=true`), and an
//! Azurite blob service that installs itself on first use. One crate, so that the lookup and the
//! skip-or-fail policy cannot drift apart between the crates that need them.
//!
//! The kit (real API definitions, recorded ARM traffic, `validate-traffic`) is found through
//! `ARM_ORACLE_DIR`, else at `../shared/arm` beside the repository. Without it a test prints
//! `SKIPPED <test>: …` and passes; with `CI=true` it fails instead, so CI can never skip silently.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

pub mod azurite;

pub use azurite::Azurite;

/// The variable that points the tests at an ARM oracle kit.
pub const ORACLE_VAR: &str = "ARM_ORACLE_DIR";

/// The repository root (this crate lives at `crates/moat-testkit`).
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Whether missing prerequisites must fail rather than skip: `CI` is `true` (or `1`), as
/// GitHub Actions, Azure Pipelines and `.ci/run` set it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// A prerequisite of `target` (a test target such as `moat-engine/state_blob`) is missing.
/// Under CI this panics with `why`; elsewhere it prints one `SKIPPED` line naming the target
/// and the test, and returns; the caller returns too.
///
/// The line goes straight to the process's stderr rather than through `eprintln!`, which the
/// test harness captures and shows only for failing tests: a skip must be visible in a passing
/// run, or nobody notices that a check did not happen.
pub fn skip(target: &str, why: &str) {
    // The harness names each test's thread after the test.
    let test = std::thread::current()
        .name()
        .filter(|n| *n != "main")
        .map(|n| format!(" {n}"))
        .unwrap_or_default();
    if in_ci() {
        panic!("{target}{test}: {why} (CI=true, so this is a failure rather than a skip)");
    }
    let _ = writeln!(std::io::stderr().lock(), "SKIPPED {target}{test}: {why}");
}

/// Whether `program --version` runs.
pub fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether Node.js and npm are on `PATH` (Azurite and `validate-traffic`'s oav need both).
pub fn have_node() -> bool {
    runs("node") && runs("npm")
}

/// An ARM oracle kit: a folder with `specs/`, `recordings/` and `validate-traffic`.
#[derive(Clone, Debug)]
pub struct Kit {
    root: PathBuf,
}

impl Kit {
    /// The kit's folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The API definitions (`specs/`, holding `specification/<service>/…`).
    pub fn specs(&self) -> PathBuf {
        self.root.join("specs")
    }

    /// The recorded ARM traffic (`recordings/`, holding `azure-cli/<area>/*.yaml`).
    pub fn recordings(&self) -> PathBuf {
        self.root.join("recordings")
    }

    /// `validate-traffic`, ready for its arguments (run through bash, so that a kit copied
    /// without its executable bit still works).
    pub fn validate_traffic(&self) -> Command {
        let mut c = Command::new("bash");
        c.arg(self.root.join("validate-traffic"));
        c
    }
}

/// What a folder lacks to be a kit, if anything.
fn lacks(dir: &Path) -> Option<String> {
    let absent: Vec<&str> = ["validate-traffic", "specs", "recordings"]
        .into_iter()
        .filter(|part| !dir.join(part).exists())
        .collect();
    (!absent.is_empty()).then(|| absent.join(", "))
}

/// Where the kit is looked for: `ARM_ORACLE_DIR` when set, else `../shared/arm` beside the
/// repository. `Err` when `ARM_ORACLE_DIR` names a folder that is not a kit: a setting the user
/// made on purpose and got wrong is never a skip.
pub fn find_kit() -> Result<Option<Kit>, String> {
    find_kit_in(
        std::env::var_os(ORACLE_VAR).map(PathBuf::from),
        &repo().join("../shared/arm"),
    )
}

/// [`find_kit`] with the variable's value and the default folder passed in.
fn find_kit_in(configured: Option<PathBuf>, beside: &Path) -> Result<Option<Kit>, String> {
    if let Some(dir) = configured.filter(|d| !d.as_os_str().is_empty()) {
        return match lacks(&dir) {
            None => Ok(Some(Kit { root: dir })),
            Some(what) => Err(format!(
                "{ORACLE_VAR}={} is not an ARM oracle kit: it has no {what}",
                dir.display()
            )),
        };
    }
    Ok(lacks(beside).is_none().then(|| Kit {
        root: beside.to_path_buf(),
    }))
}

/// The kit for a test of `target`, or `None` after [`skip`] said why (under CI: a panic).
pub fn kit(target: &str) -> Option<Kit> {
    match find_kit() {
        Ok(Some(kit)) => Some(kit),
        Ok(None) => {
            skip(
                target,
                &format!(
                    "no ARM oracle kit (set {ORACLE_VAR}, or put it at ../shared/arm beside the repository)"
                ),
            );
            None
        }
        Err(why) => panic!("{target}: {why}"),
    }
}

/// The kit for a test that also runs `validate-traffic` (oav is an npm package, installed by
/// the script itself on first use), or `None` after [`skip`].
pub fn kit_with_node(target: &str) -> Option<Kit> {
    let kit = kit(target)?;
    if !have_node() {
        skip(
            target,
            "`node`/`npm` not found on PATH (validate-traffic needs Node.js >= 20)",
        );
        return None;
    }
    Some(kit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_is_a_kit_only_with_all_three_parts() {
        let dir = std::env::temp_dir().join(format!("moat-testkit-kit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("specs")).unwrap();
        assert_eq!(lacks(&dir).as_deref(), Some("validate-traffic, recordings"));
        std::fs::create_dir_all(dir.join("recordings")).unwrap();
        std::fs::write(dir.join("validate-traffic"), "#!/bin/sh\n").unwrap();
        assert_eq!(lacks(&dir), None);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_configured_folder_must_be_a_kit_but_an_absent_default_is_no_kit() {
        let dir = std::env::temp_dir().join(format!("moat-testkit-find-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("kit/specs")).unwrap();
        std::fs::create_dir_all(dir.join("kit/recordings")).unwrap();
        std::fs::write(dir.join("kit/validate-traffic"), "#!/bin/sh\n").unwrap();
        let none = dir.join("nothing-here");

        let err = find_kit_in(Some(none.clone()), &dir.join("kit")).expect_err("not a kit");
        assert!(
            err.contains("ARM_ORACLE_DIR=") && err.contains("validate-traffic"),
            "{err}"
        );
        assert!(find_kit_in(None, &none).expect("absent is fine").is_none());
        let found = find_kit_in(None, &dir.join("kit"))
            .expect("kit")
            .expect("found");
        assert_eq!(found.specs(), dir.join("kit/specs"));
        let chosen = find_kit_in(Some(dir.join("kit")), &none)
            .expect("kit")
            .expect("found");
        assert_eq!(chosen.root(), dir.join("kit"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
