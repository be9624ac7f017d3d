//! A failure in one branch of the graph: the storage account's long-running operation ends
//! `Failed`. The apply exits 1 with an error that names the resource, the ARM code and
//! message and the spec line; what needs the storage account is listed once as skipped;
//! independent branches finish and are recorded; without the fault the next apply converges.

mod common;

use common::{Moat, assert_cloud_is, copy_example, key_position, owned_ids, scratch};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const CODE: &str = "StorageProvisioningFailed";
const MESSAGE: &str = "The storage account could not be provisioned (injected by the test)";

fn fail_storage_faults(dir: &Path) -> std::path::PathBuf {
    let file = dir.join("faults.json");
    let plan = serde_json::json!({
        "seed": 1,
        "rules": [{
            "method": "PUT",
            "path": "*/storageAccounts/*",
            "fault": { "kind": "fail_lro", "code": CODE, "message": MESSAGE }
        }]
    });
    std::fs::write(&file, plan.to_string()).expect("write faults");
    file
}

/// Keys that depend on `root`, directly or not, per the plan's `depends_on`.
fn dependents(plan: &Value, root: &str) -> BTreeSet<String> {
    let edges: Vec<(String, Vec<String>)> = plan["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .map(|r| {
            (
                r["key"].as_str().unwrap_or_default().to_string(),
                r["depends_on"]
                    .as_array()
                    .map(|d| {
                        d.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default(),
            )
        })
        .collect();
    let mut out = BTreeSet::new();
    let mut grew = true;
    while grew {
        grew = false;
        for (k, deps) in &edges {
            if !out.contains(k) && deps.iter().any(|d| d == root || out.contains(d)) {
                out.insert(k.clone());
                grew = true;
            }
        }
    }
    out
}

#[test]
fn a_failed_branch_is_reported_once_and_the_rest_finishes() {
    let dir = scratch("failure");
    let spec = copy_example(
        &common::repo().join("examples/secure-ml-workspace.yaml"),
        &dir,
    );
    let text = std::fs::read_to_string(&spec).expect("spec");
    let plain = Moat::local(&dir.join("state"));
    let faulty = plain
        .clone()
        .with_env("MOAT_LOCAL_FAULTS", fail_storage_faults(&dir));
    let plan = plain.plan_json(&spec);
    let owned = owned_ids(&plan);
    let stack = common::stack_of(&plan);
    let skipped = dependents(&plan, "store");
    assert!(
        ["ws", "cpu-cluster", "inference"]
            .iter()
            .all(|k| skipped.contains(*k)),
        "the example changed shape: dependents of `store` are {skipped:?}"
    );

    let out = faulty.apply(&spec);
    out.expect(1, "apply with a failing storage account");
    let err = &out.stderr;
    let (line, col) = key_position(&text, "store");
    let at = format!("--> {}:{line}:{col}", spec.display());
    let error_line = err
        .lines()
        .position(|l| l.starts_with("error: `store` failed"))
        .unwrap_or_else(|| panic!("no error line for `store`:\n{err}"));
    let lines: Vec<&str> = err.lines().collect();
    assert!(
        lines[error_line].contains(CODE) && lines[error_line].contains(MESSAGE),
        "the error names neither the ARM code nor its message: {}",
        lines[error_line]
    );
    assert!(
        lines[error_line + 1].trim() == at,
        "the error does not point at the spec line {at}:\n{err}"
    );
    // Dependents are listed once, in one place, each with what it needed.
    let skip_lines: Vec<&&str> = lines.iter().filter(|l| l.contains("(needs ")).collect();
    assert_eq!(skip_lines.len(), 1, "skips reported more than once:\n{err}");
    for k in &skipped {
        assert_eq!(
            skip_lines[0].matches(&format!("{k} (needs ")).count(),
            1,
            "`{k}` is not listed once as skipped: {}",
            skip_lines[0]
        );
        assert!(
            !err.contains(&format!("{k}: creating")),
            "`{k}` was started although `store` failed"
        );
    }
    assert!(
        err.contains(&format!("1 failed, {} skipped", skipped.len())),
        "summary:\n{err}"
    );

    // Independent branches finished, and the state records exactly what succeeded.
    let succeeded: BTreeMap<String, String> = owned
        .iter()
        .filter(|(_, k)| *k != "store" && !skipped.contains(*k))
        .map(|(id, k)| (id.clone(), k.clone()))
        .collect();
    assert!(succeeded.values().any(|k| k == "aks"), "aks is independent");
    let record = plain.state(&stack).expect("state after a failed apply");
    let recorded: BTreeSet<&String> = record.resources.keys().collect();
    let expected: BTreeSet<&String> = succeeded.values().collect();
    assert_eq!(recorded, expected, "the state records what succeeded");
    assert!(
        record.journal.is_empty(),
        "journal left: {:?}",
        record.journal
    );
    let cloud = common::cloud_ids(&plain.local_cloud());
    for (id, k) in &succeeded {
        assert!(cloud.contains(id), "`{k}` was not created");
    }
    for (id, k) in &owned {
        if skipped.contains(k) {
            assert!(!cloud.contains(id), "skipped `{k}` exists");
        }
    }

    // Without the fault, the next apply finishes the job.
    let out = plain.apply(&spec);
    out.expect(0, "apply after removing the fault");
    plain.assert_no_changes(&spec, "the recovering apply");
    assert_cloud_is(
        &plain.local_cloud(),
        &BTreeSet::new(),
        &owned,
        "after the recovering apply",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// After an operation ends `Failed`, Azure keeps the resource with `provisioningState:
/// Failed`; the documented recovery is to PUT it again. A plan that calls it unchanged leaves
/// it broken for good while reporting "No changes".
#[test]
fn a_resource_left_failed_is_written_again() {
    let dir = scratch("failed-state");
    let spec = copy_example(
        &common::repo().join("examples/secure-ml-workspace.yaml"),
        &dir,
    );
    let plain = Moat::local(&dir.join("state"));
    let faulty = plain
        .clone()
        .with_env("MOAT_LOCAL_FAULTS", fail_storage_faults(&dir));
    faulty
        .apply(&spec)
        .expect(1, "apply with a failing storage account");
    let plan = plain.plan_json(&spec);
    let store = plan["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["key"] == "store")
        .expect("store in the plan")
        .clone();
    assert_ne!(
        store["action"], "no_op",
        "a storage account in provisioningState Failed must be written again: {store:#}"
    );
    plain.apply(&spec).expect(0, "recovering apply");
    let cloud: Value =
        serde_json::from_str(&std::fs::read_to_string(plain.local_cloud()).expect("cloud file"))
            .expect("cloud json");
    let failed: Vec<&String> = cloud["resources"]
        .as_object()
        .expect("resources")
        .iter()
        .filter(|(_, r)| r["failed"] == true)
        .map(|(k, _)| k)
        .collect();
    assert!(failed.is_empty(), "still failed after apply: {failed:?}");
    plain.assert_no_changes(&spec, "re-writing the failed storage account");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A write ARM refuses for a reason the user can act on carries a `hint:` built from the
/// error's code (issue 11: the typed error reaches the CLI), after the located error line.
#[test]
fn a_refused_write_says_what_to_do_about_it() {
    let dir = scratch("refused");
    let spec = copy_example(&common::repo().join("examples/minimal.yaml"), &dir);
    let faults = dir.join("faults.json");
    let plan = serde_json::json!({
        "seed": 1,
        "rules": [{
            "method": "PUT",
            "path": "*/virtualNetworks/*",
            "fault": {
                "kind": "status", "status": 403, "code": "AuthorizationFailed",
                "message": "The client does not have authorization to perform action (injected by the test)"
            }
        }]
    });
    std::fs::write(&faults, plan.to_string()).expect("write faults");
    let moat = Moat::local(&dir.join("state")).with_env("MOAT_LOCAL_FAULTS", &faults);
    let out = moat.apply(&spec);
    out.expect(1, "apply with a refused VNet write");
    let lines: Vec<&str> = out.stderr.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("error: `vnet` failed") && l.contains("AuthorizationFailed"))
        .unwrap_or_else(|| panic!("no error line for `vnet`:\n{}", out.stderr));
    assert!(
        lines[at + 1].trim_start().starts_with("--> "),
        "{}",
        out.stderr
    );
    assert!(
        lines[at + 2].starts_with("hint: the credential has no role"),
        "no hint after the located error:\n{}",
        out.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}
