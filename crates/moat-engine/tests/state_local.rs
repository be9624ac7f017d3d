//! The local state backend against a real directory: atomic writes, optimistic
//! concurrency, lock contention with the holder named, corrupt files, and a lock holder
//! process that is killed.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use moat_engine::state::{LocalBackend, LockInfo, StateBackend, StateError, StateRecord};

fn record(stack: &str) -> StateRecord {
    let mut r = StateRecord::new(stack);
    r.resources.insert(
        "rg".into(),
        moat_engine::state::ResourceState {
            id: "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg".into(),
            kind: moat_model::Kind::ResourceGroup,
            api_version: "2024-03-01".into(),
            applied: serde_json::json!({"location": "eastus2", "tags": {"team": "ml"}}),
            etag: None,
            updated_at: "2025-01-01T00:00:00Z".into(),
            depends_on: Vec::new(),
            outputs: Default::default(),
        },
    );
    r
}

fn dir_entries(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[tokio::test]
async fn write_then_read_roundtrips_and_leaves_no_temporary_file() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("state");
    let b = LocalBackend::new(&dir, "secure-ml");
    assert_eq!(b.read().await.unwrap(), None);
    let mut r = record("secure-ml");
    r.serial = 1;
    b.write(&r).await.unwrap();
    r.serial = 2;
    r.journal.push(moat_engine::state::JournalEntry {
        key: "vnet".into(),
        id: "/subscriptions/x/vnet".into(),
        kind: Some(moat_model::Kind::VirtualNetwork),
        action: "create".into(),
        started_at: "2025-01-01T00:00:01Z".into(),
        operation: Some(serde_json::json!({"url": "https://op"})),
    });
    b.write(&r).await.unwrap();
    let fresh = LocalBackend::new(&dir, "secure-ml");
    assert_eq!(fresh.read().await.unwrap(), Some(r.clone()));
    assert_eq!(dir_entries(&dir), vec!["secure-ml.state.json"]);
    let text = std::fs::read_to_string(b.state_path()).unwrap();
    assert!(
        text.starts_with("{\n  \"version\": 1,\n  \"stack\": \"secure-ml\",\n  \"serial\": 2,")
    );
    assert_eq!(b.describe(), b.state_path().display().to_string());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(b.state_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "state file readable by others: {mode:o}");
    }
}

#[tokio::test]
async fn writes_refuse_unseen_or_stale_records() {
    let tmp = tempfile::tempdir().unwrap();
    let a = LocalBackend::new(tmp.path(), "s");
    let b = LocalBackend::new(tmp.path(), "s");
    let mut r = record("s");
    r.serial = 1;
    let e = a.write(&r).await.unwrap_err();
    assert!(
        e.to_string().contains("read the state before writing it"),
        "{e}"
    );

    assert_eq!(a.read().await.unwrap(), None);
    assert_eq!(b.read().await.unwrap(), None);
    a.write(&r).await.unwrap();
    // b read "no state" and someone created one since.
    let e = b.write(&r).await.unwrap_err();
    assert!(matches!(e, StateError::Conflict { .. }));
    assert!(e.to_string().contains("changed since it was read"), "{e}");

    // Once b has read, the serial must still go up and the lineage stay.
    b.read().await.unwrap();
    let e = b.write(&r).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("does not follow the stored serial 1"),
        "{e}"
    );
    let mut other = record("s");
    other.serial = 5;
    let e = b.write(&other).await.unwrap_err();
    assert!(e.to_string().contains("lineage"), "{e}");
    r.serial = 2;
    b.write(&r).await.unwrap();
    // a has not seen serial 2.
    r.serial = 3;
    assert!(a.write(&r).await.is_err());
}

#[tokio::test]
async fn a_corrupt_state_file_is_an_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let b = LocalBackend::new(tmp.path(), "s");
    std::fs::write(b.state_path(), "{\"version\": 1, \"stack\": \"s\", \"seri").unwrap();
    let e = b.read().await.unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains(&b.state_path().display().to_string()),
        "{text}"
    );
    assert!(text.contains("is corrupt"), "{text}");
    assert!(std::error::Error::source(&e).is_some());
    // And it is not overwritten as if it were empty.
    let mut r = record("s");
    r.serial = 1;
    assert!(b.write(&r).await.is_err());
    std::fs::write(b.state_path(), "").unwrap();
    assert!(matches!(b.read().await, Err(StateError::Corrupt { .. })));
}

#[tokio::test]
async fn a_state_file_with_unknown_fields_was_written_by_a_newer_moat_and_is_kept() {
    let tmp = tempfile::tempdir().unwrap();
    let b = LocalBackend::new(tmp.path(), "s");
    let mut v: serde_json::Value = serde_json::from_str(&record("s").to_json()).unwrap();
    v["outputs"] = serde_json::json!({"vnet_id": "/x"});
    let text = serde_json::to_string_pretty(&v).unwrap();
    std::fs::write(b.state_path(), &text).unwrap();
    let e = b.read().await.unwrap_err();
    assert!(matches!(e, StateError::Newer { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains(&format!(
            "state file `{}` was written by a newer moat: unknown field `outputs`",
            b.state_path().display()
        )),
        "{msg}"
    );
    assert!(msg.contains(" at line "), "{msg}");
    // Never overwritten: the newer moat's field would be lost.
    let mut r = record("s");
    r.serial = 1;
    assert!(b.write(&r).await.is_err());
    assert_eq!(std::fs::read_to_string(b.state_path()).unwrap(), text);
}

#[tokio::test]
async fn a_second_locker_waits_then_fails_naming_the_holder() {
    let tmp = tempfile::tempdir().unwrap();
    let a = LocalBackend::new(tmp.path(), "s");
    let b = LocalBackend::new(tmp.path(), "s");
    let mut holder = LockInfo::new("apply");
    holder.who = "alice@build-7".into();
    let guard = a.lock(holder.clone(), Duration::ZERO).await.unwrap();
    assert_eq!(guard.previous(), None);
    assert_eq!(b.holder().await.unwrap(), Some(holder.clone()));

    let started = std::time::Instant::now();
    let e = b
        .lock(LockInfo::new("destroy"), Duration::from_millis(600))
        .await
        .unwrap_err();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(600), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
    let text = e.to_string();
    for part in [
        "is locked by alice@build-7",
        &format!("pid {}", holder.pid),
        &format!("apply since {}", holder.since),
        "gave up after 0.6s",
    ] {
        assert!(text.contains(part), "`{part}` missing from: {text}");
    }
    match e {
        StateError::Locked {
            holder: h, stale, ..
        } => {
            assert_eq!(h.as_deref(), Some(&holder));
            // alice@build-7 is not this host, so nothing can be said about its process.
            assert!(!stale);
        }
        other => panic!("{other:?}"),
    }

    guard.release().await.unwrap();
    assert_eq!(b.holder().await.unwrap(), None);
    let g = b
        .lock(LockInfo::new("destroy"), Duration::ZERO)
        .await
        .unwrap();
    // A clean release leaves no previous holder behind.
    assert_eq!(g.previous(), None);
}

#[tokio::test]
async fn a_waiter_gets_the_lock_when_the_holder_lets_go_and_drop_releases() {
    let tmp = tempfile::tempdir().unwrap();
    let a = LocalBackend::new(tmp.path(), "s");
    let b = LocalBackend::new(tmp.path(), "s");
    let guard = a
        .lock(LockInfo::new("apply"), Duration::ZERO)
        .await
        .unwrap();
    let releaser = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        drop(guard);
    });
    let started = std::time::Instant::now();
    let g = b
        .lock(LockInfo::new("apply"), Duration::from_secs(10))
        .await
        .unwrap();
    let waited = started.elapsed();
    releaser.await.unwrap();
    assert!(waited >= Duration::from_millis(400), "{waited:?}");
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    assert_eq!(g.previous(), None);
    assert_eq!(g.info().operation, "apply");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tasks_contending_each_get_the_lock_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let inside = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..4 {
        let dir = tmp.path().to_owned();
        let inside = inside.clone();
        tasks.push(tokio::spawn(async move {
            let b = LocalBackend::new(dir, "s");
            let g = b
                .lock(LockInfo::new(format!("op{i}")), Duration::from_secs(10))
                .await
                .unwrap();
            let n = inside.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            assert_eq!(n, 0, "two holders at once");
            // Read-modify-write under the lock.
            let mut r = b.read().await.unwrap().unwrap_or_else(|| {
                let mut r = StateRecord::new("s");
                r.lineage = "shared".into();
                r
            });
            tokio::time::sleep(Duration::from_millis(50)).await;
            r.serial += 1;
            b.write(&r).await.unwrap();
            inside.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            g.release().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let b = LocalBackend::new(tmp.path(), "s");
    assert_eq!(b.read().await.unwrap().unwrap().serial, 4);
}

#[tokio::test]
async fn a_lock_held_for_a_dead_process_is_stale_and_force_unlock_breaks_it() {
    let tmp = tempfile::tempdir().unwrap();
    let b = LocalBackend::new(tmp.path(), "s");
    // Hold the OS lock from another open file (as a stuck process would) with the record
    // of a process that no longer exists on this host.
    let mut child = Command::new("true").spawn().unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();
    let mut dead = LockInfo::new("apply");
    dead.pid = dead_pid;
    std::fs::write(b.lock_path(), serde_json::to_string(&dead).unwrap()).unwrap();
    let held = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(b.lock_path())
        .unwrap();
    held.try_lock().unwrap();

    let e = b
        .lock(LockInfo::new("apply"), Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, StateError::Locked { stale: true, holder: Some(h), .. } if h.pid == dead_pid)
    );
    assert!(e.to_string().contains("lock is stale"), "{e}");
    assert!(e.to_string().contains("moat force-unlock"), "{e}");

    assert_eq!(b.force_unlock().await.unwrap(), Some(dead.clone()));
    let g = b
        .lock(LockInfo::new("apply"), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(g.info().pid, std::process::id());
    drop(held);
    // Nothing to break once released.
    g.release().await.unwrap();
    assert_eq!(b.force_unlock().await.unwrap(), None);
}

#[tokio::test]
async fn a_killed_holder_process_leaves_a_free_lock_and_is_reported_as_previous() {
    let tmp = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new(exe)
        .args([
            "--ignored",
            "--exact",
            "lock_holder_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("MOAT_TEST_LOCK_DIR", tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let child_pid = child.id();
    let stdout = child.stdout.take().unwrap();
    let mut child = KillOnDrop(child);
    let mut lines = BufReader::new(stdout).lines();
    let mut locked = false;
    for line in lines.by_ref() {
        // libtest may print "test lock_holder_child ... " on the same line.
        if line.unwrap().trim_end().ends_with("LOCKED") {
            locked = true;
            break;
        }
    }
    assert!(locked, "the child never took the lock");

    let b = LocalBackend::new(tmp.path(), "s");
    let e = b
        .lock(LockInfo::new("apply"), Duration::from_millis(300))
        .await
        .unwrap_err();
    match &e {
        StateError::Locked {
            holder: Some(h),
            stale,
            ..
        } => {
            assert_eq!(h.pid, child_pid);
            assert_eq!(h.operation, "apply");
            assert!(!stale, "a live holder is not stale");
        }
        other => panic!("{other:?}"),
    }

    child.0.kill().unwrap();
    child.0.wait().unwrap();
    // The OS lock died with the process; its record tells the next holder what happened.
    let g = b
        .lock(LockInfo::new("apply"), Duration::from_secs(2))
        .await
        .unwrap();
    let prev = g.previous().expect("the killed holder's record");
    assert_eq!(prev.pid, child_pid);
    assert_eq!(prev.holder_is_gone(), Some(true));
}

/// Run by the test above in a child process: takes the lock, says so, and waits to be
/// killed.
#[tokio::test]
#[ignore = "helper process of a_killed_holder_process_leaves_a_free_lock_and_is_reported_as_previous"]
async fn lock_holder_child() {
    let dir = std::env::var("MOAT_TEST_LOCK_DIR")
        .expect("lock_holder_child is started by another test, with MOAT_TEST_LOCK_DIR set");
    let b = LocalBackend::new(dir, "s");
    let _g = b
        .lock(LockInfo::new("apply"), Duration::ZERO)
        .await
        .unwrap();
    println!("LOCKED");
    // Bounded, in case the parent died before killing it.
    tokio::time::sleep(Duration::from_secs(20)).await;
}

/// Kills a helper process however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_fingerprint_key_is_created_once_private_and_shared_by_every_run() {
    let tmp = tempfile::tempdir().unwrap();
    let a = LocalBackend::new(tmp.path(), "secure-ml");
    let b = LocalBackend::new(tmp.path(), "secure-ml");
    // Two runs creating it at once end with one key.
    let (ka, kb) = tokio::join!(a.fingerprint_key(), b.fingerprint_key());
    let (ka, kb) = (ka.unwrap(), kb.unwrap());
    assert_eq!(ka.len(), 32);
    assert_eq!(ka, kb);
    assert_eq!(
        a.fingerprint_key().await.unwrap(),
        ka,
        "a second read changed it"
    );
    assert_eq!(
        dir_entries(tmp.path()),
        ["secure-ml.fingerprint-key"],
        "a temporary file was left behind"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(a.fingerprint_key_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Another stack has its own.
    let other = LocalBackend::new(tmp.path(), "other");
    assert_ne!(other.fingerprint_key().await.unwrap(), ka);
    // A damaged key is an error naming the file, never replaced silently.
    std::fs::write(a.fingerprint_key_path(), "not a key").unwrap();
    let e = a.fingerprint_key().await.unwrap_err();
    assert!(e.to_string().contains("fingerprint-key"), "{e}");
}

#[tokio::test]
async fn a_write_after_our_own_still_sees_another_writer_in_between() {
    // A backend that wrote the file last skips re-reading it while the file is unchanged; a
    // record another writer put there since must still be refused, whether it replaced the
    // file (as moat does) or rewrote it in place.
    let tmp = tempfile::tempdir().unwrap();
    let a = LocalBackend::new(tmp.path(), "s");
    assert_eq!(a.read().await.unwrap(), None);
    let mut r = record("s");
    r.serial = 1;
    a.write(&r).await.unwrap();
    r.serial = 2;
    a.write(&r).await.unwrap();

    let b = LocalBackend::new(tmp.path(), "s");
    let mut theirs = b.read().await.unwrap().unwrap();
    theirs.serial = 3;
    b.write(&theirs).await.unwrap();
    r.serial = 3;
    let e = a.write(&r).await.unwrap_err();
    assert!(e.to_string().contains("changed since it was read"), "{e}");

    // Rewritten in place, same inode (and a different length, so that the check does not
    // hang on the file system's time resolution).
    let c = LocalBackend::new(tmp.path(), "s");
    let mut mine = c.read().await.unwrap().unwrap();
    mine.serial = 4;
    c.write(&mine).await.unwrap();
    let mut edited = mine.clone();
    edited.serial = 50;
    std::fs::write(c.state_path(), edited.to_json()).unwrap();
    mine.serial = 5;
    let e = c.write(&mine).await.unwrap_err();
    assert!(e.to_string().contains("changed since it was read"), "{e}");
}
