//! A long apply shows life: with the embedded emulator slowed down, every running write gets
//! a `still creating …` line per heartbeat on a non-terminal stderr, and `--json` streams one
//! event object per line on stdout that the checked-in event schema accepts.
//! (`MOAT_HEARTBEAT_SECS` shortens the 30 s period so the test takes seconds.)

mod common;

use common::{Moat, copy_example, path_str, repo, scratch};
use serde_json::Value;

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(repo().join("schemas/events.schema.json"))
        .expect("schemas/events.schema.json");
    let v: Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::validator_for(&v).expect("a valid JSON Schema")
}

fn lines(stdout: &str) -> Vec<Value> {
    let schema = schema();
    stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("`{l}`: {e}"));
            let errors: Vec<String> = schema.iter_errors(&v).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "`{l}` breaks the schema: {errors:?}");
            v
        })
        .collect()
}

#[test]
fn a_slow_apply_prints_heartbeats_and_json_events() {
    let dir = scratch("heartbeat");
    let spec = copy_example(&repo().join("examples/minimal.yaml"), &dir);
    // At 0.25 of Azure's time a VNet and its subnet take ~2.5 s each: two heartbeats apiece.
    let moat = Moat::local(&dir.join("state"))
        .with_env("MOAT_LOCAL_TIME_SCALE", "0.25")
        .with_env("MOAT_HEARTBEAT_SECS", "1");
    let out = moat.run(&["apply", path_str(&spec), "--auto-approve", "--json"]);
    out.expect(0, "apply --json");

    let beats: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains("still creating"))
        .collect();
    for key in ["vnet", "vnet/default"] {
        // `still creating vnet… [1s elapsed]`; a loaded machine may be a tick late.
        let needle = format!("still creating {key}… [");
        let secs: Vec<u64> = beats
            .iter()
            .filter_map(|l| l.split_once(&needle))
            .filter_map(|(_, rest)| rest.strip_suffix("s elapsed]")?.parse().ok())
            .collect();
        assert!(
            !secs.is_empty() && secs[0] >= 1 && secs.windows(2).all(|w| w[0] < w[1]),
            "no rising heartbeats for `{key}`: {secs:?}\n{}",
            out.stderr
        );
    }
    assert!(
        !beats.iter().any(|l| l.contains(" rg…")),
        "the instant resource group got a heartbeat:\n{}",
        out.stderr
    );

    let events = lines(&out.stdout);
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(kinds.iter().filter(|k| **k == "planned").count(), 3);
    for k in ["started", "accepted", "progress", "done"] {
        assert!(kinds.contains(&k), "no `{k}` event in {kinds:?}");
    }
    let last = events.last().expect("events");
    assert_eq!(last["type"], "summary");
    assert_eq!(last["result"], "applied");
    assert_eq!(last["done"], 3);
    // Every write's events come in order: started, accepted, progress…, done.
    for key in ["rg", "vnet", "vnet/default"] {
        let seq: Vec<&str> = events
            .iter()
            .filter(|e| e["key"] == key)
            .filter_map(|e| e["type"].as_str())
            .filter(|t| *t != "progress")
            .collect();
        assert_eq!(seq, ["planned", "started", "accepted", "done"], "{key}");
    }
    let progress: Vec<&Value> = events.iter().filter(|e| e["type"] == "progress").collect();
    assert!(
        progress
            .iter()
            .all(|e| e["elapsed_secs"].as_f64().is_some_and(|s| s >= 1.0)),
        "a progress event before its first period: {progress:?}"
    );

    // The next plan, as events: nothing planned to write, and the summary says so.
    let plan = moat.run(&["plan", path_str(&spec), "--json"]);
    plan.expect(0, "plan --json");
    let events = lines(&plan.stdout);
    let last = events.last().expect("events");
    assert_eq!(last["command"], "plan");
    assert_eq!(last["result"], "no_changes");
    assert!(
        events
            .iter()
            .filter(|e| e["type"] == "planned")
            .all(|e| e["action"] == "no_op"),
        "{}",
        plan.stdout
    );
}

#[test]
fn json_apply_needs_auto_approve() {
    let dir = scratch("heartbeat-approve");
    let spec = copy_example(&repo().join("examples/minimal.yaml"), &dir);
    let out = Moat::local(&dir.join("state")).run(&["apply", path_str(&spec), "--json"]);
    out.expect(1, "apply --json without --auto-approve");
    assert!(out.stdout.is_empty(), "{}", out.stdout);
    assert!(
        out.stderr.contains("`--json` needs `--auto-approve`"),
        "{}",
        out.stderr
    );
}

#[test]
fn events_schema_is_up_to_date() {
    let path = repo().join("schemas/events.schema.json");
    let fresh = moat::progress::events_schema_text();
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &fresh).expect("write schema");
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == fresh,
        "schemas/events.schema.json is stale: run `UPDATE_SCHEMAS=1 cargo test -p moat --test progress_events`"
    );
}

#[test]
fn a_failed_apply_and_a_destroy_stream_their_events() {
    let dir = scratch("events-failure");
    let spec = copy_example(&repo().join("examples/minimal.yaml"), &dir);
    let faults = dir.join("faults.json");
    std::fs::write(
        &faults,
        serde_json::json!({
            "seed": 1,
            "rules": [{
                "method": "PUT",
                "path": "*/virtualNetworks/vnet",
                "fault": { "kind": "fail_lro", "code": "InjectedFailure", "message": "injected by the test" }
            }]
        })
        .to_string(),
    )
    .expect("faults");
    let plain = Moat::local(&dir.join("state")).with_env("MOAT_LOCAL_TIME_SCALE", "0");
    let faulty = plain.clone().with_env("MOAT_LOCAL_FAULTS", &faults);
    let out = faulty.run(&["apply", path_str(&spec), "--auto-approve", "--json"]);
    out.expect(1, "apply with a failing VNet");
    let events = lines(&out.stdout);
    let of = |t: &str| -> Vec<&Value> { events.iter().filter(|e| e["type"] == t).collect() };
    let failed = of("failed");
    assert_eq!(failed.len(), 1, "{}", out.stdout);
    assert_eq!(failed[0]["key"], "vnet");
    assert!(
        failed[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("InjectedFailure")),
        "{}",
        failed[0]
    );
    let skipped = of("skipped");
    assert_eq!(skipped.len(), 1, "{}", out.stdout);
    assert_eq!(skipped[0]["key"], "vnet/default");
    assert_eq!(skipped[0]["because"], "vnet");
    let last = events.last().expect("events");
    assert_eq!(
        (
            &last["result"],
            &last["done"],
            &last["failed"],
            &last["skipped"]
        ),
        (
            &Value::from("failed"),
            &Value::from(1),
            &Value::from(1),
            &Value::from(1)
        ),
        "{last}"
    );

    let out = plain.run(&["destroy", path_str(&spec), "--auto-approve", "--json"]);
    out.expect(0, "destroy --json");
    let events = lines(&out.stdout);
    let planned: Vec<(&str, &str)> = events
        .iter()
        .filter(|e| e["type"] == "planned")
        .filter_map(|e| Some((e["key"].as_str()?, e["action"].as_str()?)))
        .collect();
    // The VNet that failed half-way is the stack's too: it goes first, then its group. Its
    // subnet rode in the failed PUT and exists with it: listed, deleted with the VNet.
    assert_eq!(
        planned,
        [
            ("vnet", "delete"),
            ("rg", "delete"),
            ("vnet/default", "delete")
        ],
        "{}",
        out.stdout
    );
    let last = events.last().expect("events");
    assert_eq!(last["command"], "destroy");
    assert_eq!(last["result"], "applied");
}
