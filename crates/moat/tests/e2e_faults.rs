//! Transient faults on every example: about 5 % of requests answered 500 or 503 (ARM JSON
//! and HTML bodies), connections dropped in the middle of polling and on writes, and two 429
//! storms. Apply and destroy must still converge with nothing duplicated or lost: the cloud
//! holds exactly one resource per planned ID, and the next plan says "No changes".

mod common;

use common::{Moat, assert_cloud_is, copy_example, examples, owned_ids, path_str, scratch, seed};
use std::collections::BTreeMap;
use std::path::Path;

fn faults(seed: u64) -> serde_json::Value {
    let throttle = serde_json::json!({ "kind": "throttle", "retry_after": 1 });
    serde_json::json!({
        "seed": seed,
        "rules": [
            // A storm early (the live reads) and one in the middle of the writes.
            { "path": "*", "fault": throttle, "skip": 4, "count": 6 },
            { "path": "*", "fault": throttle, "skip": 60, "count": 6 },
            // Dropped connections while polling long-running operations, and on writes
            // (the client must look before it writes again).
            { "method": "GET", "path": "*operation*", "fault": { "kind": "drop" }, "probability": 0.08 },
            { "method": "PUT", "path": "*", "fault": { "kind": "drop" }, "probability": 0.04 },
            { "method": "DELETE", "path": "*", "fault": { "kind": "drop" }, "probability": 0.04 },
            // About 5 % server errors, with JSON and HTML bodies.
            { "path": "*", "fault": { "kind": "status", "status": 500 }, "probability": 0.02 },
            { "path": "*", "fault": { "kind": "status", "status": 503 }, "probability": 0.015 },
            { "path": "*", "fault": { "kind": "status", "status": 503, "html": true }, "probability": 0.015 }
        ]
    })
}

/// Counts of what the HTTP trace shows: 429s, 5xx answers and broken connections.
fn trace_counts(log: &Path) -> (usize, usize, usize) {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let (mut throttled, mut server, mut dropped) = (0, 0, 0);
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("trace lines are JSON");
        match v["status"].as_u64() {
            Some(429) => throttled += 1,
            Some(s) if s >= 500 => server += 1,
            None if !v["error"].is_null() => dropped += 1,
            _ => {}
        }
    }
    (throttled, server, dropped)
}

/// Applies and destroys one example through faults; returns what the trace shows.
fn through_faults(example: &Path, fault_seed: u64) -> (usize, usize, usize) {
    let name = example.file_name().unwrap().to_string_lossy().into_owned();
    let dir = scratch("faults");
    let spec = copy_example(example, &dir);
    let plain = Moat::local(&dir.join("state"));
    let cloud = plain.local_cloud();
    let baseline = seed(&plain, example, &cloud, &dir);
    let plan = plain.plan_json(&spec);
    let owned = owned_ids(&plan);

    let faults_file = dir.join("faults.json");
    std::fs::write(&faults_file, faults(fault_seed).to_string()).expect("faults");
    let log = dir.join("http.jsonl");
    let faulty = plain
        .clone()
        .with_env("MOAT_LOCAL_FAULTS", &faults_file)
        .with_env("MOAT_LOG_HTTP", &log);

    let out = faulty.apply(&spec);
    out.expect(0, &format!("apply of {name} through faults"));
    plain.assert_no_changes(&spec, &format!("applying {name} through faults"));
    assert_cloud_is(
        &cloud,
        &baseline,
        &owned,
        &format!("{name} after a faulty apply"),
    );

    let out = faulty.run(&["destroy", path_str(&spec), "--auto-approve"]);
    out.expect(0, &format!("destroy of {name} through faults"));
    assert_cloud_is(
        &cloud,
        &baseline,
        &BTreeMap::new(),
        &format!("{name} after a faulty destroy"),
    );
    let (t, s, d) = trace_counts(&log);
    eprintln!("{name}: converged through {t} 429s, {s} 5xx answers, {d} dropped connections");
    assert!(
        t >= 6,
        "{name}: the throttling storms did not happen ({t} 429s)"
    );
    let _ = std::fs::remove_dir_all(&dir);
    (t, s, d)
}

#[test]
fn every_example_converges_through_transient_faults() {
    // `MOAT_E2E_FAULT_SEED` moves the seeds, to soak the same faults with other schedules.
    let base: u64 = std::env::var("MOAT_E2E_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    // One thread per example: each drives its own moat processes and emulator.
    let counts: Vec<(usize, usize, usize)> = std::thread::scope(|scope| {
        let runs: Vec<_> = examples()
            .into_iter()
            .enumerate()
            .map(|(n, example)| scope.spawn(move || through_faults(&example, base + n as u64)))
            .collect();
        runs.into_iter()
            .map(|r| r.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    let totals = counts
        .iter()
        .fold((0, 0, 0), |a, c| (a.0 + c.0, a.1 + c.1, a.2 + c.2));
    assert!(
        totals.1 >= 3 && totals.2 >= 3,
        "too few faults fired to mean anything: {totals:?}"
    );
}
