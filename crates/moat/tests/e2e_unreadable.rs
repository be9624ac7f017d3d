//! Reads that fail after retries are failures: a plan or apply that could not read a resource
//! exits 1 naming it (and ARM's error), after showing everything else; apply writes nothing;
//! `--detailed-exitcode` never says 0 or 2 then; an unreachable endpoint fails at once with
//! one line. Faults come from the emulator's `--faults` rules (`MOAT_LOCAL_FAULTS`).

mod common;

use common::{Moat, Out, cloud_ids, path_str, scratch};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A resource group, a VNet and its subnet: the VNet's GET is the one the faults aim at.
const SPEC: &str = "\
stack: reads
location: westeurope
resources:
  rg: { type: resource_group, name: reads-rg }
  vnet:
    type: virtual_network
    resource_group: rg
    address_space: [10.10.0.0/16]
    subnets:
      default: { address_prefix: 10.10.0.0/24 }
";

fn setup(name: &str, faults: Option<serde_json::Value>) -> (PathBuf, PathBuf, Moat, Moat) {
    let dir = scratch(name);
    let spec = dir.join("spec.yaml");
    std::fs::write(&spec, SPEC).expect("spec");
    let plain = Moat::local(&dir.join("state"));
    let faulty = match faults {
        Some(f) => {
            let file = dir.join("faults.json");
            std::fs::write(&file, f.to_string()).expect("faults");
            plain.clone().with_env("MOAT_LOCAL_FAULTS", &file)
        }
        None => plain.clone(),
    };
    (dir, spec, plain, faulty)
}

fn four_503s_on_the_vnet_get() -> serde_json::Value {
    serde_json::json!({ "rules": [
        { "method": "GET", "path": "*/virtualNetworks/vnet", "fault": { "kind": "status", "status": 503 }, "count": 4 }
    ] })
}

/// The `error: cannot read` lines of stderr, by key.
fn unread_keys(out: &Out) -> Vec<String> {
    out.stderr
        .lines()
        .filter_map(|l| l.strip_prefix("error: cannot read `"))
        .filter_map(|l| l.split_once('`').map(|(k, _)| k.to_string()))
        .collect()
}

fn assert_nothing_written(cloud: &Path, what: &str) {
    let ids = cloud_ids(cloud);
    assert!(
        ids.is_empty(),
        "{what}: the emulator holds resources although nothing may be written: {ids:?}"
    );
}

#[test]
fn four_503s_on_one_get_fail_the_apply_and_write_nothing() {
    let (_dir, spec, plain, faulty) = setup("503-apply", Some(four_503s_on_the_vnet_get()));
    let out = faulty.apply(&spec);
    out.expect(1, "apply whose VNet read fails four times");
    assert!(
        !out.stderr.contains("Apply complete"),
        "an apply that could not read the VNet says it completed:\n{}",
        out.stderr
    );
    assert_eq!(
        unread_keys(&out),
        ["vnet", "vnet/default"],
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("ServiceUnavailable (503)") && out.stderr.contains("request id"),
        "the read error lacks ARM's status, code or request id:\n{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("spec.yaml:5:3"),
        "the VNet's spec line is not named:\n{}",
        out.stderr
    );
    // Everything else was read and is shown: the resource group to create.
    assert!(
        out.stdout.contains("rg (resource_group) will be created"),
        "{}",
        out.stdout
    );
    assert_nothing_written(&plain.local_cloud(), "after the refused apply");
    // Without the faults the same spec converges.
    plain.apply(&spec).expect(0, "apply once the VNet reads");
    plain.assert_no_changes(&spec, "the apply without faults");
}

#[test]
fn detailed_exitcode_is_never_0_or_2_when_a_read_failed() {
    let (dir, spec, plain, faulty) = setup("503-plan", Some(four_503s_on_the_vnet_get()));
    let plan_file = dir.join("plan.json");
    let out = faulty.run(&[
        "plan",
        path_str(&spec),
        "--detailed-exitcode",
        "--out",
        path_str(&plan_file),
    ]);
    out.expect(1, "plan --detailed-exitcode with an unreadable VNet");
    assert_eq!(
        unread_keys(&out),
        ["vnet", "vnet/default"],
        "{}",
        out.stderr
    );
    assert!(
        out.stdout.contains("2 resources could not be read"),
        "{}",
        out.stdout
    );
    assert!(
        !plan_file.exists(),
        "an incomplete plan was saved for apply"
    );

    // The JSON plan lists them in `unreadable` (and as actions). Each run starts its own
    // embedded emulator, so the four 503s happen again.
    let out = faulty.run(&["plan", path_str(&spec), "--format", "json"]);
    out.expect(1, "plan --format json with an unreadable VNet");
    let plan: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON plan");
    let keys: Vec<&str> = plan["unreadable"]
        .as_array()
        .expect("`unreadable` in the JSON plan")
        .iter()
        .filter_map(|u| u["key"].as_str())
        .collect();
    assert_eq!(keys, ["vnet", "vnet/default"]);

    // A plan file that carries an unreadable resource is refused by apply.
    std::fs::write(&plan_file, &out.stdout).unwrap();
    let out = plain.run(&["apply", path_str(&plan_file), "--auto-approve"]);
    out.expect(1, "apply of a saved plan with an unreadable resource");
    assert_eq!(
        unread_keys(&out),
        ["vnet", "vnet/default"],
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("Apply complete"), "{}", out.stderr);
    assert_nothing_written(&plain.local_cloud(), "after the refused saved plan");
}

#[test]
fn arm_endpoint_down_fails_plan_and_apply_quickly_with_one_line() {
    let dir = scratch("endpoint-down");
    let spec = dir.join("spec.yaml");
    std::fs::write(&spec, SPEC).expect("spec");
    // A port nobody listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let endpoints = [
        format!("http://127.0.0.1:{port}"),
        // `.invalid` never resolves (RFC 2606).
        "https://moat-endpoint.invalid".to_string(),
    ];
    for url in &endpoints {
        let moat = Moat::remote(&dir.join("state"), url);
        for args in [
            vec!["plan", path_str(&spec)],
            vec!["plan", path_str(&spec), "--detailed-exitcode"],
            vec!["apply", path_str(&spec), "--auto-approve"],
        ] {
            let out = moat.run(&args);
            out.expect(1, &format!("{args:?} against {url}"));
            assert!(
                out.elapsed < Duration::from_secs(15),
                "{args:?} against {url} took {:?}",
                out.elapsed
            );
            let lines: Vec<&str> = out
                .stderr
                .lines()
                .filter(|l| !l.trim().is_empty())
                .collect();
            assert_eq!(
                lines.len(),
                1,
                "{args:?} against {url}: expected one line on stderr:\n{}",
                out.stderr
            );
            assert!(
                lines[0].starts_with("error: cannot reach ARM at "),
                "{args:?} against {url}: {}",
                lines[0]
            );
            assert!(
                out.stdout.is_empty(),
                "{args:?} printed a plan: {}",
                out.stdout
            );
        }
    }
}

#[test]
fn a_429_storm_never_exits_0_with_resources_missing() {
    let storm = serde_json::json!({ "rules": [
        { "method": "GET", "path": "*", "fault": { "kind": "throttle", "retry_after": 1 }, "count": 30 }
    ] });
    let (_dir, spec, plain, faulty) = setup("429-storm", Some(storm));
    let out = faulty.apply(&spec);
    match out.code {
        // The retries outlasted the storm: the apply must then be complete.
        Some(0) => {
            let ids = cloud_ids(&plain.local_cloud());
            assert!(
                ids.iter().any(|i| i.ends_with("/virtualnetworks/vnet"))
                    && ids.iter().any(|i| i.ends_with("/resourcegroups/reads-rg")),
                "apply exited 0 through a 429 storm but resources are missing: {ids:?}\n{}",
                out.stderr
            );
            plain.assert_no_changes(&spec, "an apply through a 429 storm");
        }
        Some(1) => {
            let unread = unread_keys(&out);
            assert!(
                !unread.is_empty(),
                "exit 1 without naming what was unread:\n{}",
                out.stderr
            );
            for key in &unread {
                assert!(
                    out.stderr
                        .lines()
                        .any(|l| l.starts_with(&format!("error: cannot read `{key}`: "))
                            && l.contains("(429)")),
                    "`{key}` is not named with its 429:\n{}",
                    out.stderr
                );
            }
            assert!(!out.stderr.contains("Apply complete"), "{}", out.stderr);
            assert_nothing_written(
                &plain.local_cloud(),
                "after an apply refused in a 429 storm",
            );
        }
        other => panic!(
            "apply through a 429 storm exited {other:?}:\n{}",
            out.stderr
        ),
    }
}

#[test]
fn destroy_refuses_when_an_owned_resource_cannot_be_read() {
    let (_dir, spec, plain, faulty) = setup("503-destroy", Some(four_503s_on_the_vnet_get()));
    plain.apply(&spec).expect(0, "apply without faults");
    let before = cloud_ids(&plain.local_cloud());
    let out = faulty.run(&["destroy", path_str(&spec), "--auto-approve"]);
    out.expect(1, "destroy whose VNet read fails four times");
    assert_eq!(
        unread_keys(&out),
        ["vnet", "vnet/default"],
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("Apply complete"), "{}", out.stderr);
    assert_eq!(
        cloud_ids(&plain.local_cloud()),
        before,
        "a refused destroy deleted something"
    );
}
