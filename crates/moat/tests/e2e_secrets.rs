//! Secrets never leave: the development bearer token, any `Authorization` header, and the
//! keys ARM returns (Application Insights' instrumentation key and connection string) appear
//! in none of what moat writes — plan text, JSON plan, stderr (verbose), the `--log-http`
//! trace, the state record — nor in the emulator's own traffic files.

mod common;

use common::{Moat, copy_example, path_str, scratch};
use std::path::Path;

const DEV_TOKEN: &str = "moat-local-dev-token";

fn assert_clean(what: &str, text: &str, secrets: &[String]) {
    assert!(!text.is_empty(), "{what} is empty: nothing was checked");
    for s in secrets {
        assert!(!text.contains(s.as_str()), "{what} leaks `{s}`");
    }
    let lower = text.to_ascii_lowercase();
    // A header as a JSON key or a header line (`enableRbacAuthorization` is a vault property).
    for word in ["\"authorization\"", "authorization:", "bearer "] {
        assert!(!lower.contains(word), "{what} shows `{word}`");
    }
}

fn all_files(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default()
}

#[test]
fn no_token_header_or_key_leaves_the_process() {
    let dir = scratch("secrets");
    let spec = copy_example(
        &common::repo().join("examples/secure-ml-workspace.yaml"),
        &dir,
    );
    let log = dir.join("http.jsonl");
    let record = dir.join("record");
    let moat = Moat::local(&dir.join("state"))
        .with_env("MOAT_LOCAL_RECORD", &record)
        .with_env("RUST_LOG", "trace");
    let s = path_str(&spec);
    let log_s = path_str(&log);

    let apply = moat.run(&["-vv", "--log-http", log_s, "apply", s, "--auto-approve"]);
    apply.expect(0, "apply");

    // The keys ARM handed back for the Application Insights component.
    let cloud: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(moat.local_cloud()).expect("cloud"))
            .expect("cloud json");
    let insights = cloud["resources"]
        .as_object()
        .expect("resources")
        .values()
        .find(|r| r["kind"] == "AppInsights")
        .expect("an Application Insights component");
    let mut secrets = vec![DEV_TOKEN.to_string()];
    for k in ["InstrumentationKey", "ConnectionString"] {
        if let Some(v) = insights["body"]["properties"][k].as_str() {
            secrets.push(v.to_string());
        }
    }

    assert_eq!(
        secrets.len(),
        3,
        "the emulator returned no Application Insights keys"
    );

    // Plans that show every property, and one with changes on every resource.
    let text = std::fs::read_to_string(&spec).expect("spec");
    let changed = dir.join("changed.yaml");
    std::fs::write(
        &changed,
        text.replacen("team: ml-platform", "team: ml-platform-2", 1),
    )
    .expect("changed spec");
    let mut outputs = vec![
        ("apply stdout", apply.stdout),
        ("apply stderr", apply.stderr),
    ];
    for (name, args) in [
        ("plan text", vec!["plan", s, "--show-unchanged"]),
        ("plan json", vec!["plan", s, "--format", "json"]),
        ("plan markdown", vec!["plan", s, "--format", "markdown"]),
        ("changed plan text", vec!["plan", path_str(&changed)]),
        (
            "changed plan json",
            vec!["plan", path_str(&changed), "--format", "json"],
        ),
    ] {
        let mut a = vec!["-vv", "--log-http", log_s];
        a.extend(args);
        let out = moat.run(&a);
        out.expect(0, name);
        outputs.push((name, out.stdout));
        outputs.push((name, out.stderr));
    }
    assert!(
        outputs
            .iter()
            .any(|(n, o)| *n == "changed plan text" && o.contains("ml-platform-2")),
        "the changed plan shows no change"
    );
    for (name, text) in &outputs {
        if !text.is_empty() {
            assert_clean(name, text, &secrets);
        }
    }

    let trace = std::fs::read_to_string(&log).expect("http trace");
    assert!(
        trace.lines().count() > 20,
        "the trace is too short to mean anything"
    );
    assert_clean("the --log-http trace", &trace, &secrets);
    let state = std::fs::read_to_string(dir.join("state/secure-ml.state.json")).expect("state");
    assert_clean("the state record", &state, &secrets);

    // The emulator records the header (redacted) by design; the token must not be there.
    let files = all_files(&record);
    assert!(!files.is_empty(), "the emulator recorded nothing");
    for f in files {
        let t = std::fs::read_to_string(&f).expect("record file");
        for s in &secrets[..1] {
            assert!(!t.contains(s.as_str()), "{} leaks the token", f.display());
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
