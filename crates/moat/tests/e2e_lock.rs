//! Locking through the CLI: two concurrent applies of one stack never both write — the
//! second waits and then finds nothing to do, or gives up after `--lock-timeout` naming the
//! holder (who, pid, operation, since); `force-unlock` breaks a lock whose holder is stuck or
//! dead; and the same with the Azure Blob backend against a test-started Azurite.

mod common;

use common::{
    Moat, Sim, assert_cloud_is, copy_example, has_put, owned_ids, path_str, scratch, signal,
    successful_puts, wait_until, wait_with_deadline,
};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The secure ML workspace applies in about 2.5 s at this scale: long enough to collide.
const TIME_SCALE: f64 = 0.006;

fn example(dir: &Path) -> PathBuf {
    copy_example(
        &common::repo().join("examples/secure-ml-workspace.yaml"),
        dir,
    )
}

/// Every resource was created by exactly one successful PUT: nobody wrote twice.
fn assert_written_once(record: &Path) {
    let puts = successful_puts(record);
    assert!(!puts.is_empty(), "no PUT was recorded");
    let twice: Vec<_> = puts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "written more than once: {twice:?}");
}

fn holder_named(stderr: &str, pid: u32, op: &str) -> bool {
    stderr.contains(&format!("(pid {pid}, {op} since "))
}

#[test]
fn a_second_apply_waits_then_finds_nothing_to_do() {
    let dir = scratch("lock-wait");
    let spec = example(&dir);
    let record = dir.join("record");
    let sim = Sim::start(
        &dir.join("cloud.json"),
        TIME_SCALE,
        &["--record", path_str(&record)],
    );
    let moat = Moat::remote(&dir.join("state"), &sim.url);
    let (a, a_pipes, a_started) = moat.spawn(&["apply", path_str(&spec), "--auto-approve"]);
    let a_pid = a.id();
    wait_until(Duration::from_secs(10), "the first apply to write", || {
        has_put(&record)
    });
    let b = moat.run(&["apply", path_str(&spec), "--auto-approve"]);
    let a = wait_with_deadline(a, a_pipes, a_started, common::DEADLINE);
    a.expect(0, "first apply");
    b.expect(0, "second apply");
    assert!(
        b.stderr.contains("Waiting up to 30s for the lock")
            && holder_named(&b.stderr, a_pid, "apply"),
        "the waiting apply does not say whom it waits for:\n{}",
        b.stderr
    );
    assert!(
        b.stdout.contains("No changes"),
        "the second apply should find nothing to do:\n{}",
        b.stdout
    );
    assert_written_once(&record);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_second_apply_gives_up_after_the_lock_timeout_naming_the_holder() {
    let dir = scratch("lock-timeout");
    let spec = example(&dir);
    let record = dir.join("record");
    let sim = Sim::start(
        &dir.join("cloud.json"),
        TIME_SCALE,
        &["--record", path_str(&record)],
    );
    let moat = Moat::remote(&dir.join("state"), &sim.url);
    let (a, a_pipes, a_started) = moat.spawn(&["apply", path_str(&spec), "--auto-approve"]);
    let a_pid = a.id();
    wait_until(Duration::from_secs(10), "the first apply to write", || {
        has_put(&record)
    });
    let b = moat.run(&[
        "apply",
        path_str(&spec),
        "--auto-approve",
        "--lock-timeout",
        "1s",
    ]);
    b.expect(1, "apply that cannot get the lock");
    assert!(
        b.stderr.contains("cannot lock stack `secure-ml`")
            && holder_named(&b.stderr, a_pid, "apply")
            && b.stderr.contains("gave up after"),
        "the error does not name the holder:\n{}",
        b.stderr
    );
    let a = wait_with_deadline(a, a_pipes, a_started, common::DEADLINE);
    a.expect(0, "first apply");
    assert_written_once(&record);
    moat.assert_no_changes(&spec, "the first apply");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The embedded emulator keeps its cloud in the state directory: a run that waited for the
/// lock must see what the holder created, and neither may write the other's cloud back.
#[test]
fn two_local_applies_never_both_write() {
    let dir = scratch("lock-local");
    let spec = example(&dir);
    let record = dir.join("record");
    let moat = Moat::local(&dir.join("state"))
        .with_env("MOAT_LOCAL_RECORD", &record)
        .with_env("MOAT_LOCAL_TIME_SCALE", TIME_SCALE.to_string());
    let (a, a_pipes, a_started) = moat.spawn(&["apply", path_str(&spec), "--auto-approve"]);
    wait_until(Duration::from_secs(10), "the first apply to write", || {
        has_put(&record)
    });
    // A plan in the middle reads a snapshot of the cloud; it must not write it back.
    moat.run(&["plan", path_str(&spec)])
        .expect(0, "plan during the apply");
    let b = moat.run(&["apply", path_str(&spec), "--auto-approve"]);
    let a = wait_with_deadline(a, a_pipes, a_started, common::DEADLINE);
    a.expect(0, "first apply");
    b.expect(0, "second apply");
    assert!(
        b.stdout.contains("No changes"),
        "second apply:\n{}",
        b.stdout
    );
    assert_written_once(&record);
    let plan = moat.plan_json(&spec);
    assert_cloud_is(
        &moat.local_cloud(),
        &BTreeSet::new(),
        &owned_ids(&plan),
        "after two local applies",
    );
    moat.assert_no_changes(&spec, "two local applies");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn force_unlock_breaks_the_lock_of_a_stuck_run() {
    let dir = scratch("lock-stuck");
    let spec = example(&dir);
    let record = dir.join("record");
    let sim = Sim::start(
        &dir.join("cloud.json"),
        TIME_SCALE,
        &["--record", path_str(&record)],
    );
    let moat = Moat::remote(&dir.join("state"), &sim.url);
    let (a, a_pipes, a_started) = moat.spawn(&["apply", path_str(&spec), "--auto-approve"]);
    let a_pid = a.id();
    wait_until(Duration::from_secs(10), "the first apply to write", || {
        has_put(&record)
    });
    signal(a_pid, "STOP");
    let b = moat.run(&[
        "apply",
        path_str(&spec),
        "--auto-approve",
        "--lock-timeout",
        "1s",
    ]);
    b.expect(1, "apply against a stuck holder");
    assert!(holder_named(&b.stderr, a_pid, "apply"), "{}", b.stderr);
    let u = moat.run(&["force-unlock", path_str(&spec)]);
    u.expect(0, "force-unlock");
    assert!(
        u.stderr.contains("Broke the lock on stack `secure-ml`")
            && holder_named(&u.stderr, a_pid, "apply"),
        "force-unlock does not say whose lock it broke:\n{}",
        u.stderr
    );
    // The stuck run's writes are in its journal; the next apply finishes them and the rest.
    let c = moat.apply(&spec);
    signal(a_pid, "KILL");
    signal(a_pid, "CONT");
    let _ = wait_with_deadline(a, a_pipes, a_started, common::DEADLINE);
    c.expect(0, "apply after force-unlock");
    moat.assert_no_changes(&spec, "the apply after force-unlock");
    let plan = moat.plan_json(&spec);
    assert_cloud_is(
        &sim.state,
        &BTreeSet::new(),
        &owned_ids(&plan),
        "after force-unlock",
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn force_unlock_clears_the_lock_of_a_killed_run() {
    let dir = scratch("lock-dead");
    let spec = example(&dir);
    let record = dir.join("record");
    let sim = Sim::start(
        &dir.join("cloud.json"),
        TIME_SCALE,
        &["--record", path_str(&record)],
    );
    let moat = Moat::remote(&dir.join("state"), &sim.url);
    let (mut a, a_pipes, a_started) = moat.spawn(&["apply", path_str(&spec), "--auto-approve"]);
    let a_pid = a.id();
    wait_until(Duration::from_secs(10), "the first apply to write", || {
        has_put(&record)
    });
    let _ = a.kill();
    let _ = wait_with_deadline(a, a_pipes, a_started, common::DEADLINE);
    let u = moat.run(&["force-unlock", path_str(&spec)]);
    u.expect(0, "force-unlock");
    assert!(
        holder_named(&u.stderr, a_pid, "apply"),
        "force-unlock does not name the dead holder:\n{}",
        u.stderr
    );
    let u = moat.run(&["force-unlock", path_str(&spec)]);
    u.expect(0, "second force-unlock");
    assert!(u.stderr.contains("was not locked"), "{}", u.stderr);
    moat.apply(&spec).expect(0, "apply after the kill");
    moat.assert_no_changes(&spec, "the apply after the kill");
    let _ = std::fs::remove_dir_all(&dir);
}

/// One Azurite blob service (installed on first use by moat-testkit), stopped on drop.
struct Azurite {
    _service: moat_testkit::Azurite,
    base: String,
}

impl Azurite {
    /// `None` (after one `SKIPPED` line) when Azurite cannot be installed here.
    fn start(dir: &Path) -> Option<Azurite> {
        let service = moat_testkit::Azurite::start(
            "moat/e2e_lock",
            Path::new(env!("CARGO_TARGET_TMPDIR")),
            dir,
        )?;
        let base = service.url().to_owned();
        Some(Azurite {
            _service: service,
            base,
        })
    }

    /// Creates the container, as the platform team does once per state account.
    fn create_container(&self, container: &str) {
        let backend = moat_engine::state::BlobBackend::new(
            moat_engine::state::BlobLocation::azurite(&self.base, container, "probe"),
            moat_engine::state::BlobAuth::SharedKey {
                account_key: moat_testkit::azurite::ACCOUNT_KEY.into(),
            },
            "probe",
        )
        .expect("backend");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(backend.create_container_if_missing())
            .expect("create the container");
    }
}

#[test]
fn the_blob_backend_locks_and_converges_through_the_cli() {
    let dir = scratch("lock-blob");
    let Some(azurite) = Azurite::start(&dir.join("azurite")) else {
        return;
    };
    azurite.create_container("state");
    let text = std::fs::read_to_string(common::repo().join("examples/secure-ml-workspace.yaml"))
        .expect("example");
    let spec = dir.join("blob.yaml");
    std::fs::write(
        &spec,
        format!(
            "{text}\nbackend: {{ account: devstoreaccount1, container: state, blob: x, endpoint: {}/devstoreaccount1 }}\n",
            azurite.base
        ),
    )
    .expect("spec");
    let record = dir.join("record");
    let sim = Sim::start(
        &dir.join("cloud.json"),
        TIME_SCALE,
        &["--record", path_str(&record)],
    );
    let state_dir = dir.join("state");
    let moat = Moat::remote(&state_dir, &sim.url);

    // Apply while a second apply tries and gives up naming the holder.
    let (a, a_pipes, a_started) = moat.spawn(&["apply", path_str(&spec), "--auto-approve"]);
    let a_pid = a.id();
    wait_until(Duration::from_secs(15), "the first apply to write", || {
        has_put(&record)
    });
    let b = moat.run(&[
        "apply",
        path_str(&spec),
        "--auto-approve",
        "--lock-timeout",
        "1s",
    ]);
    b.expect(1, "second apply against a leased blob");
    assert!(
        holder_named(&b.stderr, a_pid, "apply") && b.stderr.contains("/state/x"),
        "the error does not name the holder and the blob:\n{}",
        b.stderr
    );
    let a = wait_with_deadline(a, a_pipes, a_started, common::DEADLINE);
    a.expect(0, "apply with the blob backend");
    assert_written_once(&record);
    moat.assert_no_changes(&spec, "the blob-backed apply");
    assert!(
        !state_dir.join("secure-ml.state.json").exists(),
        "the state went to the local directory instead of the blob"
    );

    // A killed destroy leaves its lease behind; force-unlock breaks it and destroy finishes.
    let (mut d, d_pipes, d_started) = moat.spawn(&["destroy", path_str(&spec), "--auto-approve"]);
    let d_pid = d.id();
    std::thread::sleep(Duration::from_millis(900));
    let _ = d.kill();
    let _ = wait_with_deadline(d, d_pipes, d_started, common::DEADLINE);
    let e = moat.run(&[
        "destroy",
        path_str(&spec),
        "--auto-approve",
        "--lock-timeout",
        "1s",
    ]);
    e.expect(1, "destroy against a dead holder's lease");
    assert!(holder_named(&e.stderr, d_pid, "destroy"), "{}", e.stderr);
    let u = moat.run(&["force-unlock", path_str(&spec)]);
    u.expect(0, "force-unlock of the blob lease");
    assert!(
        u.stderr.contains("Broke the lock") && holder_named(&u.stderr, d_pid, "destroy"),
        "{}",
        u.stderr
    );
    moat.run(&["destroy", path_str(&spec), "--auto-approve"])
        .expect(0, "destroy after force-unlock");
    assert_cloud_is(
        &sim.state,
        &BTreeSet::new(),
        &Default::default(),
        "after the blob-backed destroy",
    );
    drop(sim);
    drop(azurite);
    let _ = std::fs::remove_dir_all(&dir);
}
