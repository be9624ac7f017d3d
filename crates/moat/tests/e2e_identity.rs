//! Role assignments through Entra ID's replication delay (emulated): right after an identity
//! is created its principal is unknown to role assignments (400 `PrincipalNotFound`); apply
//! retries with backoff, says so, and converges; a second apply creates no duplicate.

mod common;

use common::{Moat, copy_example, path_str, scratch};

/// The role assignments the emulated cloud holds.
fn assignments(cloud: &std::path::Path) -> Vec<String> {
    let text = std::fs::read_to_string(cloud).expect("cloud file");
    let v: serde_json::Value = serde_json::from_str(&text).expect("cloud json");
    v["resources"]
        .as_object()
        .expect("resources")
        .keys()
        .filter(|id| {
            id.to_ascii_lowercase()
                .contains("/providers/microsoft.authorization/roleassignments/")
        })
        .cloned()
        .collect()
}

#[test]
fn role_assignments_survive_the_replication_delay_without_duplicates() {
    let dir = scratch("replication");
    let spec = copy_example(
        &common::repo().join("examples/rbac-vault-and-registry.yaml"),
        &dir,
    );
    let s = path_str(&spec);
    let log = dir.join("http.jsonl");
    // 600 s of replication at the local time scale: a few seconds, longer than the first
    // role assignment waits for its identity.
    let moat = Moat::local(&dir.join("state")).with_env("MOAT_LOCAL_REPLICATION_SECS", "600");
    let out = moat.run(&["--log-http", path_str(&log), "apply", s, "--auto-approve"]);
    out.expect(0, "apply through the replication delay");
    assert!(
        out.stderr.contains("retrying") && out.stderr.contains("PrincipalNotFound"),
        "the retries are not shown:\n{}",
        out.stderr
    );
    let trace = std::fs::read_to_string(&log).expect("trace");
    let refused = trace
        .lines()
        .filter(|l| l.contains("roleAssignments") && l.contains("PrincipalNotFound"))
        .count();
    assert!(refused > 0, "the emulator never refused a role assignment");
    let spec_text = std::fs::read_to_string(&spec).expect("spec");
    let declared = spec_text.matches("type: role_assignment").count();
    assert_eq!(assignments(&moat.local_cloud()).len(), declared);
    moat.assert_no_changes(&spec, "the apply through the replication delay");

    // The principal IDs the service assigned are recorded and listed.
    let out = moat.run(&["output", "--spec", s]);
    out.expect(0, "moat output");
    let cloud: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(moat.local_cloud()).expect("cloud"))
            .expect("cloud json");
    let principal_of = |suffix: &str, pointer: &str| -> String {
        cloud["resources"]
            .as_object()
            .expect("resources")
            .iter()
            .find(|(id, _)| {
                id.to_ascii_lowercase()
                    .ends_with(&suffix.to_ascii_lowercase())
            })
            .and_then(|(_, r)| r["body"].pointer(pointer))
            .and_then(serde_json::Value::as_str)
            .unwrap_or_else(|| panic!("no principal for {suffix}"))
            .to_string()
    };
    let identity = principal_of(
        "/userAssignedIdentities/rbac-ml-identity",
        "/properties/principalId",
    );
    let workspace = principal_of("/workspaces/rbac-ml-ws", "/identity/principalId");
    assert!(
        out.stdout
            .contains(&format!("ml-identity.principal_id = {identity}")),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains(&format!("ws.principal_id = {workspace}")),
        "{}",
        out.stdout
    );

    // Again: nothing to do, and still one assignment per grant.
    let again = moat.apply(&spec);
    again.expect(0, "second apply");
    assert_eq!(
        assignments(&moat.local_cloud()).len(),
        declared,
        "a re-apply duplicated a role assignment"
    );

    // Without the delay nothing is refused.
    let dir2 = scratch("replication-off");
    let spec2 = copy_example(
        &common::repo().join("examples/rbac-vault-and-registry.yaml"),
        &dir2,
    );
    let log2 = dir2.join("http.jsonl");
    let off = Moat::local(&dir2.join("state")).with_env("MOAT_LOCAL_REPLICATION_SECS", "0");
    off.run(&[
        "--log-http",
        path_str(&log2),
        "apply",
        path_str(&spec2),
        "--auto-approve",
    ])
    .expect(0, "apply without the delay");
    let trace = std::fs::read_to_string(&log2).expect("trace");
    assert!(
        !trace.contains("PrincipalNotFound"),
        "refused without a delay"
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&dir2);
}
