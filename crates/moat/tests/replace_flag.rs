//! `--replace KEY` on `plan` and `apply` (Terraform's `-replace`): the resource is replaced
//! although nothing forces it, with what its replacement takes along, in every plan format
//! with the reason "requested with --replace"; an unknown key is refused with a suggestion;
//! a saved plan records the keys and its apply does exactly that replacement.

mod common;

use common::{Moat, copy_example, path_str, repo, scratch};
use serde_json::Value;
use std::path::Path;

/// The writes the embedded emulator recorded in `dir`: (method, lower-cased path), in order.
fn writes(dir: &Path) -> Vec<(String, String)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .filter_map(|f| {
            let v: Value = serde_json::from_str(&std::fs::read_to_string(f).ok()?).ok()?;
            let method = v["liveRequest"]["method"].as_str()?.to_string();
            let url = v["liveRequest"]["url"].as_str()?;
            let path = url.split('?').next()?.to_ascii_lowercase();
            matches!(method.as_str(), "PUT" | "DELETE" | "PATCH").then_some((method, path))
        })
        .collect()
}

#[test]
fn replace_is_planned_shown_saved_and_applied_exactly() {
    let dir = scratch("replace-flag");
    let spec = copy_example(&repo().join("examples/minimal.yaml"), &dir);
    let s = path_str(&spec);
    let rec = dir.join("rec");
    let moat = Moat::local(&dir.join("state"))
        .with_env("MOAT_LOCAL_TIME_SCALE", "0")
        .with_env("MOAT_LOCAL_RECORD", &rec);
    moat.apply(&spec).expect(0, "apply");

    // An unknown key: a clear error with the closest key, nothing planned.
    let bad = moat.run(&["plan", s, "--replace", "vnett"]);
    bad.expect(1, "plan --replace of an unknown key");
    assert!(
        bad.stderr.contains("`--replace vnett`: ")
            && bad
                .stderr
                .contains("has no resource `vnett`; did you mean `vnet`?"),
        "{}",
        bad.stderr
    );
    assert!(bad.stdout.is_empty(), "{}", bad.stdout);

    // Every format says why; the subnet goes with its network.
    let text = moat.run(&["plan", s, "--replace", "vnet"]);
    text.expect(0, "plan --replace vnet");
    assert!(
        text.stdout
            .contains("# vnet (virtual_network) must be replaced")
            && text.stdout.contains("# requested with --replace")
            && text
                .stdout
                .contains("# vnet/default (subnet) must be replaced")
            && text.stdout.contains("# `vnet` is replaced")
            && text
                .stdout
                .contains("0 to add, 0 to change, 2 to replace, 0 to destroy"),
        "{}",
        text.stdout
    );
    let md = moat.run(&["plan", s, "--replace", "vnet", "--format", "markdown"]);
    md.expect(0, "plan --replace vnet --format markdown");
    assert!(
        md.stdout.lines().any(|l| l.contains("`vnet`")
            && l.contains("replace")
            && l.contains("requested with --replace")),
        "{}",
        md.stdout
    );
    let planfile = dir.join("plan.json");
    let pf = path_str(&planfile);
    let json = moat.run(&[
        "plan",
        s,
        "--replace",
        "vnet",
        "--format",
        "json",
        "--out",
        pf,
    ]);
    json.expect(0, "plan --replace vnet --out");
    let plan: Value = serde_json::from_str(&json.stdout).expect("JSON plan");
    assert_eq!(plan["replace"], serde_json::json!(["vnet"]));
    let entry = |key: &str| {
        plan["resources"]
            .as_array()
            .and_then(|rs| rs.iter().find(|r| r["key"] == key))
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(entry("vnet")["action"], "replace");
    assert_eq!(
        entry("vnet")["reasons"],
        serde_json::json!(["requested with --replace"])
    );
    assert_eq!(entry("vnet/default")["action"], "replace");
    assert_eq!(entry("rg")["action"], "no_op");
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(&planfile).expect("plan file")).unwrap();
    assert_eq!(saved["replace"], serde_json::json!(["vnet"]));

    // `--replace` belongs to the plan that is saved, not to its apply; and never to a destroy.
    let again = moat.run(&["apply", pf, "--replace", "rg", "--auto-approve"]);
    again.expect(1, "apply PLANFILE --replace");
    assert!(
        again
            .stderr
            .contains("a saved plan is applied as it was made"),
        "{}",
        again.stderr
    );
    let destroy = moat.run(&["plan", s, "--destroy", "--replace", "vnet"]);
    destroy.expect(2, "plan --destroy --replace (a usage error)");

    // The saved plan's apply deletes and re-creates the network, then nothing is left to do.
    let before = writes(&rec).len();
    moat.run(&["apply", pf, "--auto-approve"])
        .expect(0, "apply of the saved --replace plan");
    let vnet = moat.state("minimal").expect("state").resources["vnet"]
        .id
        .to_ascii_lowercase();
    let sent: Vec<(String, String)> = writes(&rec).split_off(before);
    let of_vnet: Vec<&str> = sent
        .iter()
        .filter(|(_, p)| p.ends_with(&vnet))
        .map(|(m, _)| m.as_str())
        .collect();
    assert_eq!(of_vnet, ["DELETE", "PUT"], "writes: {sent:?}");
    assert!(
        sent.iter().all(|(_, p)| p.contains("/virtualnetworks/")),
        "only the network and its subnet are written: {sent:?}"
    );
    moat.assert_no_changes(&spec, "the replacement");

    // `apply --replace` plans and applies the same in one go.
    moat.run(&["apply", s, "--replace", "vnet", "--auto-approve"])
        .expect(0, "apply --replace vnet");
    moat.assert_no_changes(&spec, "apply --replace");
}
