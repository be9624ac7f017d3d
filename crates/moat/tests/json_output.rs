//! `moat validate --format json` is a machine contract (CI annotations, editors): stdout is one
//! JSON array of diagnostics with stable field names and 1-based positions.

use std::process::Command;

#[test]
fn validate_json_reports_located_diagnostics() {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("json_output");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join("broken.yaml");
    std::fs::write(
        &path,
        "stack: demo\nlocation: eastus2\nresources:\n  rg: { type: resource_group }\n  vnet:\n    type: virtual_network\n    resource_group: rgg\n    address_space: [10.0.0.0/16]\n",
    )
    .expect("write spec");
    let out = Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(["validate", "--local", "--format", "json"])
        .arg(&path)
        .output()
        .expect("run moat");
    assert_eq!(
        out.status.code(),
        Some(1),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    let diags = v.as_array().expect("an array of diagnostics");
    assert_eq!(diags.len(), 1, "{v:#}");
    let d = &diags[0];
    assert_eq!(d["file"], path.display().to_string());
    assert_eq!(d["severity"], "error");
    assert_eq!(d["code"], "E0201");
    assert_eq!(d["message"], "unknown reference `rgg`");
    assert_eq!(d["hint"], "did you mean `rg`?");
    assert_eq!(d["primary"]["line"], 7);
    assert_eq!(d["primary"]["column"], 21);
    assert_eq!(d["primary"]["end_line"], 7);
    assert_eq!(d["primary"]["end_column"], 24);
    assert_eq!(d["primary"]["text"], "no resource named `rgg`");
    assert!(d["secondary"].as_array().is_some_and(Vec::is_empty));
    assert!(d["notes"].is_array());
}

#[test]
fn validate_json_of_a_valid_spec_is_an_empty_array() {
    let example =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/minimal.yaml");
    let out = Command::new(env!("CARGO_BIN_EXE_moat"))
        .args(["validate", "--local", "--format", "json"])
        .arg(&example)
        .output()
        .expect("run moat");
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(v, serde_json::json!([]));
}
