//! Locking through the CLI: two concurrent applies of one stack never both write — the
//! second waits and then finds nothing to do, or gives up after `--lock-timeout` naming the
//! holder (who, pid, operation, since, lock id); `force-unlock` breaks a lock whose holder is
//! dead, refuses one whose holder is alive unless `--force`, and asks first; and the same with
//! the Azure Blob backend against a test-started Azurite, where every exit path (errors, a
//! second Ctrl-C) releases the lease and a killed holder's lease is named as such.

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
        b.stderr.contains("Waiting up to 75s for the lock")
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

/// Issue 12, repro 8: `moat plan` holds the stack's lock while it reads, so a plan during an
/// apply waits (or gives up) instead of reading a half-applied stack; `--lock=false` skips it.
#[test]
fn plan_takes_the_lock_and_lock_false_skips_it() {
    let dir = scratch("lock-plan");
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
    wait_until(Duration::from_secs(10), "the apply to write", || {
        has_put(&record)
    });
    let p = moat.run(&["plan", path_str(&spec), "--lock-timeout", "1s"]);
    let unlocked = moat.run(&["plan", path_str(&spec), "--lock=false"]);
    let a = wait_with_deadline(a, a_pipes, a_started, common::DEADLINE);
    a.expect(0, "apply");
    p.expect(1, "a plan that cannot get the lock");
    assert!(
        p.stderr.contains("cannot lock stack `secure-ml`")
            && holder_named(&p.stderr, a_pid, "apply"),
        "the plan does not say who holds the lock:\n{}",
        p.stderr
    );
    unlocked.expect(0, "a plan with --lock=false");
    // After the apply, a locked plan gets the lock and releases it again.
    moat.assert_no_changes(&spec, "the apply");
    moat.run(&["plan", path_str(&spec)])
        .expect(0, "a second plan after the first released");
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

/// The lock id a lock message prints (`lock id 5f0c…`).
fn lock_id_in(stderr: &str) -> String {
    let at = stderr
        .find("lock id ")
        .unwrap_or_else(|| panic!("no lock id in:\n{stderr}"));
    stderr[at + 8..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit() || *c == '-')
        .collect()
}

/// Issue 15 item 4: a stopped (alive) holder's lock is not broken unless `--force`.
#[test]
fn force_unlock_refuses_a_live_holder_unless_forced() {
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
    let id = lock_id_in(&b.stderr);
    // Alive (stopped, not dead): refused, even with `--yes`, and nothing is broken.
    let u = moat.run(&["force-unlock", path_str(&spec), &id, "--yes"]);
    u.expect(1, "force-unlock of a live holder");
    assert!(
        u.stderr
            .contains("refusing to break the lock on stack `secure-ml`")
            && u.stderr.contains(&format!(
                "its process (pid {a_pid}) is still running on this host"
            ))
            && u.stderr.contains("`--force`"),
        "force-unlock does not say why it refuses:\n{}",
        u.stderr
    );
    let still = moat.run(&[
        "apply",
        path_str(&spec),
        "--auto-approve",
        "--lock-timeout",
        "1s",
    ]);
    still.expect(1, "the lock is still held after the refusal");
    // Another lock id breaks nothing either.
    let w = moat.run(&[
        "force-unlock",
        path_str(&spec),
        "00000000-0000-0000-0000-000000000000",
        "--force",
    ]);
    w.expect(1, "force-unlock of another lock id");
    assert!(
        w.stderr.contains("not by lock id 00000000-"),
        "{}",
        w.stderr
    );
    let u = moat.run(&["force-unlock", path_str(&spec), &id, "--force"]);
    u.expect(0, "force-unlock --force");
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
    // Without a terminal there is no prompt: `--yes` (or `--force`) is required.
    let u = moat.run(&["force-unlock", path_str(&spec)]);
    u.expect(1, "force-unlock without a terminal or --yes");
    assert!(
        u.stderr.contains("no terminal to ask; pass `--yes`"),
        "{}",
        u.stderr
    );
    let u = moat.run(&["force-unlock", path_str(&spec), "--yes"]);
    u.expect(0, "force-unlock --yes");
    assert!(
        holder_named(&u.stderr, a_pid, "apply")
            && u.stderr.contains(&format!(
                "held by pid {a_pid} on this host, which is no longer running"
            )),
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
    let u = moat.run(&[
        "force-unlock",
        path_str(&spec),
        &lock_id_in(&e.stderr),
        "--yes",
    ]);
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

/// Whether the emulator recorded a successful PUT to a path containing `word` (lower case).
fn puts_of(record: &Path, word: &str) -> bool {
    successful_puts(record).keys().any(|p| p.contains(word))
}

/// The example with its state in Azurite's blob `state/<blob>`.
fn blob_spec(dir: &Path, azurite: &Azurite, blob: &str) -> PathBuf {
    let text = std::fs::read_to_string(common::repo().join("examples/secure-ml-workspace.yaml"))
        .expect("example");
    let spec = dir.join(format!("{blob}.yaml"));
    std::fs::write(
        &spec,
        format!(
            "{text}\nbackend: {{ account: devstoreaccount1, container: state, blob: {blob}, endpoint: {}/devstoreaccount1 }}\n",
            azurite.base
        ),
    )
    .expect("spec");
    spec
}

/// Who holds the lease on Azurite's `state/<blob>` now.
fn blob_holder(azurite: &Azurite, blob: &str) -> Option<moat_engine::state::LockInfo> {
    use moat_engine::state::StateBackend as _;
    let backend = moat_engine::state::BlobBackend::new(
        moat_engine::state::BlobLocation::azurite(&azurite.base, "state", blob),
        moat_engine::state::BlobAuth::SharedKey {
            account_key: moat_arm::blob::AZURITE_KEY.into(),
        },
        "secure-ml",
    )
    .expect("backend");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(backend.holder()).expect("read the lease")
}

/// Puts `bytes` as Azurite's blob `state/<blob>`, as a broken tool might.
fn put_raw_blob(azurite: &Azurite, blob: &str, bytes: &[u8]) {
    use moat_arm::blob::{
        BlobAuth, BlobClient, BlobLocation, BlobOptions, BlobRequest, Method, Target,
    };
    let client = BlobClient::new(
        BlobLocation::azurite(&azurite.base, "state", blob),
        BlobAuth::SharedKey {
            account_key: moat_arm::blob::AZURITE_KEY.into(),
        },
        BlobOptions::default(),
    )
    .expect("client");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let resp = rt
        .block_on(client.send(BlobRequest {
            operation: "put blob",
            method: Method::PUT,
            target: Target::Blob,
            query: &[],
            headers: vec![("x-ms-blob-type".into(), "BlockBlob".into())],
            body: Some(bytes.to_vec()),
        }))
        .expect("put the blob");
    assert_eq!(resp.status, 201, "put blob");
}

/// Issue 15 item 5: a missing `--auto-approve`, an unknown `--target` and a corrupt state
/// blob each end the run with the lease released, so the next run gets the lock at once.
#[test]
fn error_exits_release_the_blob_lease_at_once() {
    let dir = scratch("lock-blob-errors");
    let Some(azurite) = Azurite::start(&dir.join("azurite")) else {
        return;
    };
    azurite.create_container("state");
    let spec = blob_spec(&dir, &azurite, "errors");
    let sim = Sim::start(&dir.join("cloud.json"), TIME_SCALE, &[]);
    let moat = Moat::remote(&dir.join("state"), &sim.url);

    let trace = dir.join("http.jsonl");
    let a = moat.run(&["--log-http", path_str(&trace), "apply", path_str(&spec)]);
    a.expect(1, "apply without --auto-approve and without a terminal");
    assert!(a.stderr.contains("pass `--auto-approve`"), "{}", a.stderr);
    // The state blob's exchanges share the ARM trace, redacted the same way.
    let trace = std::fs::read_to_string(&trace).expect("trace");
    assert!(
        trace
            .lines()
            .any(|l| l.contains("/devstoreaccount1/state/errors?comp=lease")
                && l.contains("\"method\":\"PUT\"")),
        "no lease request in the --log-http trace:\n{trace}"
    );
    for word in ["SharedKey", "authorization", moat_arm::blob::AZURITE_KEY] {
        assert!(!trace.contains(word), "the trace shows `{word}`");
    }
    assert_eq!(
        blob_holder(&azurite, "errors"),
        None,
        "the lease outlived a missing --auto-approve"
    );

    let t = moat.run(&[
        "apply",
        path_str(&spec),
        "--auto-approve",
        "--target",
        "no-such-key",
        "--lock-timeout",
        "1s",
    ]);
    t.expect(1, "apply with an unknown --target");
    assert!(
        !t.stderr.contains("is locked") && t.stderr.contains("no-such-key"),
        "the second run should fail on its target, not on the first one's lease:\n{}",
        t.stderr
    );
    assert_eq!(
        blob_holder(&azurite, "errors"),
        None,
        "the lease outlived an unknown --target"
    );

    put_raw_blob(&azurite, "errors", b"{\"version\": 1, \"stack\": ");
    let c = moat.run(&[
        "apply",
        path_str(&spec),
        "--auto-approve",
        "--lock-timeout",
        "1s",
    ]);
    c.expect(1, "apply over a corrupt state blob");
    assert!(c.stderr.contains("is corrupt"), "{}", c.stderr);
    assert_eq!(
        blob_holder(&azurite, "errors"),
        None,
        "the lease outlived a corrupt state blob"
    );
    drop(sim);
    drop(azurite);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 15 item 5: the second Ctrl-C exits at once (130) — and releases the lease on its way
/// out, so the next apply starts right away and finishes the journal.
#[test]
fn a_second_ctrl_c_releases_the_blob_lease() {
    let dir = scratch("lock-blob-ctrlc");
    let Some(azurite) = Azurite::start(&dir.join("azurite")) else {
        return;
    };
    azurite.create_container("state");
    let spec = blob_spec(&dir, &azurite, "ctrlc");
    let record = dir.join("record");
    let sim = Sim::start(
        &dir.join("cloud.json"),
        TIME_SCALE,
        &["--record", path_str(&record)],
    );
    let moat = Moat::remote(&dir.join("state"), &sim.url);
    let (a, a_pipes, a_started) = moat.spawn(&["apply", path_str(&spec), "--auto-approve"]);
    let a_pid = a.id();
    // AKS takes the longest: interrupt twice while it is being created.
    wait_until(Duration::from_secs(20), "the AKS create", || {
        puts_of(&record, "managedclusters")
    });
    signal(a_pid, "INT");
    std::thread::sleep(Duration::from_millis(100));
    signal(a_pid, "INT");
    let a = wait_with_deadline(a, a_pipes, a_started, common::DEADLINE);
    assert_eq!(a.code, Some(130), "exit after two Ctrl-Cs:\n{}", a.stderr);
    assert_eq!(
        blob_holder(&azurite, "ctrlc"),
        None,
        "the lease outlived the second Ctrl-C"
    );
    let b = moat.run(&[
        "apply",
        path_str(&spec),
        "--auto-approve",
        "--lock-timeout",
        "1s",
    ]);
    b.expect(0, "apply right after the interrupted one");
    assert!(
        b.stderr
            .contains("did not finish; picking up where it stopped"),
        "the next run should know the last one was interrupted:\n{}",
        b.stderr
    );
    moat.assert_no_changes(&spec, "the apply after two Ctrl-Cs");
    drop(sim);
    drop(azurite);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Issue 15 item 5: a killed holder's lease is named as such, with when it runs out; and the
/// default `--lock-timeout` outlasts the lease, so a plain retry waits and then succeeds.
#[test]
fn a_killed_holders_lease_is_named_and_the_default_timeout_outlasts_it() {
    let dir = scratch("lock-blob-killed");
    let Some(azurite) = Azurite::start(&dir.join("azurite")) else {
        return;
    };
    azurite.create_container("state");
    let spec = blob_spec(&dir, &azurite, "killed");
    let record = dir.join("record");
    let sim = Sim::start(
        &dir.join("cloud.json"),
        TIME_SCALE,
        &["--record", path_str(&record)],
    );
    let moat = Moat::remote(&dir.join("state"), &sim.url);
    let (mut a, a_pipes, a_started) = moat.spawn(&["apply", path_str(&spec), "--auto-approve"]);
    let a_pid = a.id();
    wait_until(Duration::from_secs(15), "the apply to write", || {
        has_put(&record)
    });
    let _ = a.kill();
    let _ = wait_with_deadline(a, a_pipes, a_started, common::DEADLINE);
    let b = moat.run(&[
        "apply",
        path_str(&spec),
        "--auto-approve",
        "--lock-timeout",
        "1s",
    ]);
    b.expect(1, "apply against a killed holder's lease");
    let gone = format!(
        "held by pid {a_pid} on this host, which is no longer running; the lease expires in "
    );
    assert!(
        b.stderr.contains(&gone),
        "the lock error does not say the holder is gone:\n{}",
        b.stderr
    );
    let left: u64 = b.stderr[b.stderr.find(&gone).unwrap() + gone.len()..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .expect("seconds");
    assert!(left <= 60, "a lease lasts 60 s at most, not {left}");
    // The default timeout: the retry waits for the lease, then finishes the killed apply.
    let (c, c_pipes, c_started) = moat.spawn(&["apply", path_str(&spec), "--auto-approve"]);
    let c = wait_with_deadline(c, c_pipes, c_started, Duration::from_secs(120));
    c.expect(0, "a plain retry after the killed apply");
    assert!(
        c.stderr.contains("Waiting up to 75s for the lock") && c.stderr.contains(&gone),
        "the retry does not say whom it waits for and why:\n{}",
        c.stderr
    );
    moat.assert_no_changes(&spec, "the retry");
    drop(sim);
    drop(azurite);
    let _ = std::fs::remove_dir_all(&dir);
}
