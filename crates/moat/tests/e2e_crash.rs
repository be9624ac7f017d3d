//! Crash safety: `moat apply` and `moat destroy` are killed with SIGKILL at seeded random
//! moments while a separate `moat sim` process keeps the cloud. After every kill the state
//! file still parses, the next run converges (exit 0), the plan after it says "No changes",
//! and the cloud holds exactly one resource per planned ID — no duplicates, no orphans.
//!
//! The emulator runs at a small time scale so that one apply takes about a second and a
//! trial (kill, recovering run, plan, inspection) about two.

mod common;

use common::{
    Moat, Rng, Sim, assert_cloud_is, copy_example, owned_ids, path_str, read_state, scratch,
    seed_spec, wait_with_deadline,
};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Provisioning times × this: the secure ML workspace applies in about 1.5 s.
const TIME_SCALE: f64 = 0.003;

/// A converged starting point for one example, made once and copied into every trial.
struct Template {
    dir: PathBuf,
    spec: PathBuf,
    stack: String,
    /// What the cloud held before the example (what it reads with `existing:`).
    baseline: BTreeSet<String>,
    /// Planned IDs of the stack.
    owned: BTreeMap<String, String>,
    owned_keys: BTreeSet<String>,
    /// The cloud before the example is applied.
    empty_cloud: PathBuf,
    /// The cloud and state after a full apply.
    full_cloud: PathBuf,
    full_state: PathBuf,
    /// How long an uninterrupted apply and destroy take.
    apply_time: Duration,
    destroy_time: Duration,
}

impl Template {
    fn new(example: &str) -> Template {
        let dir = scratch(&format!("crash-template-{example}"));
        let example = common::repo().join("examples").join(example);
        let spec = copy_example(&example, &dir);
        let empty_cloud = dir.join("empty-cloud.json");
        {
            let sim = Sim::start(&empty_cloud, TIME_SCALE, &[]);
            if let Some(text) = seed_spec(&example) {
                let seed = dir.join("seed.yaml");
                std::fs::write(&seed, text).expect("seed spec");
                Moat::remote(&dir.join("seed-state"), &sim.url)
                    .apply(&seed)
                    .expect(0, "seed apply");
            }
        }
        let baseline = common::cloud_ids(&empty_cloud);
        let full_cloud = dir.join("full-cloud.json");
        if empty_cloud.exists() {
            std::fs::copy(&empty_cloud, &full_cloud).expect("copy cloud");
        }
        let state = dir.join("state");
        let sim = Sim::start(&full_cloud, TIME_SCALE, &[]);
        let moat = Moat::remote(&state, &sim.url);
        let plan = moat.plan_json(&spec);
        let owned = owned_ids(&plan);
        let owned_keys = common::owned_keys(&plan);
        let stack = common::stack_of(&plan);
        let out = moat.apply(&spec);
        out.expect(0, "uninterrupted apply");
        let apply_time = out.elapsed;
        moat.assert_no_changes(&spec, "the uninterrupted apply");
        assert_cloud_is(&full_cloud, &baseline, &owned, "uninterrupted apply");
        let full_state = dir.join("full-state.json");
        std::fs::copy(state.join(format!("{stack}.state.json")), &full_state).expect("copy state");
        // Time a destroy on a copy, so the template stays converged.
        drop(sim);
        let probe = scratch("crash-probe");
        let (cloud, state_dir) = stage(&probe, &full_cloud, Some(&full_state), &stack);
        let sim = Sim::start(&cloud, TIME_SCALE, &[]);
        let out =
            Moat::remote(&state_dir, &sim.url).run(&["destroy", path_str(&spec), "--auto-approve"]);
        out.expect(0, "uninterrupted destroy");
        let destroy_time = out.elapsed;
        drop(sim);
        let _ = std::fs::remove_dir_all(&probe);
        Template {
            dir,
            spec,
            stack,
            baseline,
            owned,
            owned_keys,
            empty_cloud,
            full_cloud,
            full_state,
            apply_time,
            destroy_time,
        }
    }
}

/// Copies a cloud (and a state record) into a trial directory.
fn stage(dir: &Path, cloud: &Path, state: Option<&Path>, stack: &str) -> (PathBuf, PathBuf) {
    let to_cloud = dir.join("cloud.json");
    if cloud.exists() {
        std::fs::copy(cloud, &to_cloud).expect("copy cloud");
    }
    let state_dir = dir.join("state");
    std::fs::create_dir_all(&state_dir).expect("state dir");
    if let Some(s) = state {
        std::fs::copy(s, state_dir.join(format!("{stack}.state.json"))).expect("copy state");
    }
    (to_cloud, state_dir)
}

#[derive(Default, Debug)]
struct Tally {
    trials: usize,
    converged: usize,
    /// Kills that left writes in the journal (the interesting ones).
    with_journal: usize,
    /// Runs that had already finished when the kill came.
    finished_first: usize,
}

/// Kills `apply` (or `destroy`) `n` times at seeded random moments and checks recovery.
fn trials(t: &Template, n: usize, seed: u64, destroy: bool) -> Tally {
    trials_on(t, n, seed, destroy, false)
}

/// [`trials`], against a `moat sim` process or (`local`) the emulator embedded by `--local`,
/// which dies with the killed run and comes back on another port.
fn trials_on(t: &Template, n: usize, seed: u64, destroy: bool, local: bool) -> Tally {
    let mut rng = Rng(seed);
    let mut tally = Tally::default();
    let span = if destroy {
        t.destroy_time
    } else {
        t.apply_time
    };
    let cmd = if destroy { "destroy" } else { "apply" };
    for i in 0..n {
        let dir = scratch("crash-trial");
        let (cloud, state_dir) = if destroy {
            stage(&dir, &t.full_cloud, Some(&t.full_state), &t.stack)
        } else {
            stage(&dir, &t.empty_cloud, None, &t.stack)
        };
        let (sim, moat) = if local {
            std::fs::rename(&cloud, state_dir.join("local-cloud.json")).ok();
            let moat =
                Moat::local(&state_dir).with_env("MOAT_LOCAL_TIME_SCALE", TIME_SCALE.to_string());
            (None, moat)
        } else {
            let sim = Sim::start(&cloud, TIME_SCALE, &[]);
            let moat = Moat::remote(&state_dir, &sim.url);
            (Some(sim), moat)
        };
        let cloud = if local { moat.local_cloud() } else { cloud };
        // Anywhere from before the lock is taken to just past the usual end.
        let at = span.mul_f64(rng.unit() * 1.05);
        let (mut child, pipes, started) = moat.spawn(&[cmd, path_str(&t.spec), "--auto-approve"]);
        std::thread::sleep(at);
        let _ = child.kill();
        let killed = wait_with_deadline(child, pipes, started, Duration::from_secs(10));
        let context = format!("{cmd} trial {i} (seed {seed}, killed at {at:?})");
        if killed.code.is_some() {
            tally.finished_first += 1;
        }
        let state_file = state_dir.join(format!("{}.state.json", t.stack));
        if let Some(r) = read_state(&state_file)
            && !r.journal.is_empty()
        {
            tally.with_journal += 1;
        }
        let out = moat.run(&[cmd, path_str(&t.spec), "--auto-approve"]);
        out.expect(0, &format!("recovering run after {context}"));
        assert!(
            !out.stderr.contains("Connection refused"),
            "{context}: the recovering run polled a dead endpoint:\n{}",
            out.stderr
        );
        if destroy {
            assert_cloud_is(&cloud, &t.baseline, &BTreeMap::new(), &context);
        } else {
            moat.assert_no_changes(&t.spec, &context);
            assert_cloud_is(&cloud, &t.baseline, &t.owned, &context);
        }
        let record = read_state(&state_file).expect("a state record after the recovering run");
        assert!(
            record.journal.is_empty(),
            "{context}: journal left: {:?}",
            record.journal
        );
        let recorded: BTreeSet<&String> = record.resources.keys().collect();
        let expected: BTreeSet<&String> = if destroy {
            BTreeSet::new()
        } else {
            t.owned_keys.iter().collect()
        };
        assert_eq!(
            recorded, expected,
            "{context}: the state owns what the plan owns"
        );
        tally.trials += 1;
        tally.converged += 1;
        drop(sim);
        let _ = std::fs::remove_dir_all(&dir);
    }
    tally
}

fn report(name: &str, tally: &Tally) {
    eprintln!(
        "{name}: {} of {} kill -9 trials converged ({} killed with writes in the journal, {} had already finished)",
        tally.converged, tally.trials, tally.with_journal, tally.finished_first
    );
}

#[test]
fn kill_9_during_apply_of_the_secure_ml_workspace() {
    let t = Template::new("secure-ml-workspace.yaml");
    let tally = trials(&t, 24, 0x5eed_0001, false);
    report("secure-ml-workspace apply", &tally);
    assert_eq!(tally.converged, 24);
    assert!(
        tally.with_journal >= 6,
        "too few kills landed mid-write to mean anything: {tally:?}"
    );
    let _ = std::fs::remove_dir_all(&t.dir);
}

#[test]
fn kill_9_during_local_apply_of_the_secure_ml_workspace() {
    let t = Template::new("secure-ml-workspace.yaml");
    let tally = trials_on(&t, 8, 0x5eed_0005, false, true);
    report("secure-ml-workspace apply --local", &tally);
    assert_eq!(tally.converged, 8);
    let _ = std::fs::remove_dir_all(&t.dir);
}

#[test]
fn kill_9_during_destroy_of_the_secure_ml_workspace() {
    let t = Template::new("secure-ml-workspace.yaml");
    let tally = trials(&t, 12, 0x5eed_0002, true);
    report("secure-ml-workspace destroy", &tally);
    assert_eq!(tally.converged, 12);
    let _ = std::fs::remove_dir_all(&t.dir);
}

#[test]
fn kill_9_during_apply_and_destroy_of_the_shared_vnet_team_stack() {
    let t = Template::new("shared-vnet-training.yaml");
    let a = trials(&t, 12, 0x5eed_0003, false);
    report("shared-vnet-training apply", &a);
    let d = trials(&t, 6, 0x5eed_0004, true);
    report("shared-vnet-training destroy", &d);
    assert_eq!(a.converged + d.converged, 18);
    let _ = std::fs::remove_dir_all(&t.dir);
}

/// The controlled rollout (issue 16): a kill -9 anywhere in endpoint → deployments → traffic
/// converges on the next apply, with the spec's traffic map.
#[test]
fn kill_9_during_apply_of_the_inference_rollout() {
    let t = Template::new("inference-rollout.yaml");
    let tally = trials(&t, 20, 0x5eed_0016, false);
    report("inference-rollout apply", &tally);
    assert_eq!(tally.converged, 20);
    let _ = std::fs::remove_dir_all(&t.dir);
}
