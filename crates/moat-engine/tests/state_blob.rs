//! The Azure Blob state backend against Azurite, the real storage emulator: records,
//! etag conflicts, lease locks that name their holder, force-unlock and lease renewal.
//! Plus bearer authorization against a one-shot loopback server.
//!
//! Azurite installs itself on first use (`moat_testkit::azurite`); `MOAT_AZURITE_BIN` points
//! at another `azurite-blob`. Without npm the Azurite tests say so in one line and skip.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use moat_engine::state::{
    BlobAuth, BlobBackend, BlobLocation, BlobOptions, LockInfo, StateBackend, StateError,
    StateRecord,
};

/// The target's name in skip lines.
const TARGET: &str = "moat-engine/state_blob";

/// One Azurite blob service with its own data folder.
struct Azurite {
    service: moat_testkit::Azurite,
    _dir: tempfile::TempDir,
}

impl Azurite {
    /// `None` (after one `SKIPPED` line) when Azurite cannot be installed here.
    fn start() -> Option<Azurite> {
        let dir = tempfile::tempdir().unwrap();
        let service = moat_testkit::Azurite::start(
            TARGET,
            Path::new(env!("CARGO_TARGET_TMPDIR")),
            dir.path(),
        )?;
        Some(Azurite { service, _dir: dir })
    }

    fn base(&self) -> &str {
        self.service.url()
    }

    fn backend(&self, container: &str, options: BlobOptions) -> BlobBackend {
        BlobBackend::with_options(
            BlobLocation::azurite(self.base(), container, "stacks/secure-ml.json"),
            BlobAuth::SharedKey {
                account_key: moat_testkit::azurite::ACCOUNT_KEY.into(),
            },
            "secure-ml",
            options,
        )
        .unwrap()
    }
}

fn record() -> StateRecord {
    let mut r = StateRecord::new("secure-ml");
    r.resources.insert(
        "rg".into(),
        moat_engine::state::ResourceState {
            id: "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg".into(),
            kind: moat_model::Kind::ResourceGroup,
            api_version: "2024-03-01".into(),
            applied: serde_json::json!({"location": "eastus2"}),
            etag: Some("W/\"1\"".into()),
            updated_at: "2025-01-01T00:00:00Z".into(),
            depends_on: Vec::new(),
            outputs: Default::default(),
        },
    );
    r
}

fn fast() -> BlobOptions {
    BlobOptions {
        poll: Duration::from_millis(100),
        ..BlobOptions::default()
    }
}

#[tokio::test]
async fn records_roundtrip_and_stale_writers_get_an_etag_conflict() {
    let Some(az) = Azurite::start() else {
        return;
    };
    let a = az.backend("state", fast());
    assert!(a.create_container_if_missing().await.unwrap());
    assert!(!a.create_container_if_missing().await.unwrap());
    assert_eq!(
        a.describe(),
        format!("{}/devstoreaccount1/state/stacks/secure-ml.json", az.base())
    );

    let mut r = record();
    r.serial = 1;
    let e = a.write(&r).await.unwrap_err();
    assert!(
        e.to_string().contains("read the state before writing it"),
        "{e}"
    );
    assert_eq!(a.read().await.unwrap(), None);
    a.write(&r).await.unwrap();
    r.serial = 2;
    a.write(&r).await.unwrap();

    let b = az.backend("state", fast());
    assert_eq!(b.read().await.unwrap(), Some(r.clone()));
    // a writes again; b's etag is now stale.
    r.serial = 3;
    a.write(&r).await.unwrap();
    r.serial = 4;
    let e = b.write(&r).await.unwrap_err();
    assert!(matches!(e, StateError::Conflict { .. }), "{e:?}");
    assert!(e.to_string().contains("changed since it was read"), "{e}");
    // After reading again b may write.
    assert_eq!(b.read().await.unwrap().unwrap().serial, 3);
    b.write(&r).await.unwrap();

    // Two creators of a new stack: the second one's `If-None-Match: *` fails.
    let c = az.backend("state2", fast());
    let d = az.backend("state2", fast());
    c.create_container_if_missing().await.unwrap();
    assert_eq!(c.read().await.unwrap(), None);
    assert_eq!(d.read().await.unwrap(), None);
    let mut first = record();
    first.serial = 1;
    c.write(&first).await.unwrap();
    let e = d.write(&record()).await.unwrap_err();
    assert!(matches!(e, StateError::Conflict { .. }), "{e:?}");
}

#[tokio::test]
async fn a_missing_container_is_a_storage_error_that_says_so() {
    let Some(az) = Azurite::start() else {
        return;
    };
    let b = az.backend("nope", fast());
    let e = b.read().await.unwrap_err();
    let text = e.to_string();
    assert!(text.contains("HTTP 404 ContainerNotFound"), "{text}");
    assert!(text.contains("/devstoreaccount1/nope/"), "{text}");
}

#[tokio::test]
async fn the_lease_lock_names_its_holder_and_guards_writes() {
    let Some(az) = Azurite::start() else {
        return;
    };
    let a = az.backend("locks", fast());
    let b = az.backend("locks", fast());
    a.create_container_if_missing().await.unwrap();

    let mut holder = LockInfo::new("apply");
    holder.who = "alice@build-7".into();
    // No blob yet: the lock creates an empty one to lease.
    let ga = a
        .lock(holder.clone(), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(ga.previous(), None);
    assert_eq!(b.holder().await.unwrap(), Some(holder.clone()));
    assert_eq!(a.read().await.unwrap(), None);
    let mut r = record();
    r.serial = 1;
    a.write(&r).await.unwrap();
    // The write kept the lock record.
    assert_eq!(b.holder().await.unwrap(), Some(holder.clone()));

    let started = std::time::Instant::now();
    let e = b
        .lock(LockInfo::new("destroy"), Duration::from_millis(800))
        .await
        .unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(800));
    let text = e.to_string();
    for part in [
        "is locked by alice@build-7",
        &format!("pid {}", holder.pid),
        &format!("apply since {}", holder.since),
        &holder.id,
    ] {
        assert!(text.contains(part), "`{part}` missing from: {text}");
    }
    assert!(matches!(e, StateError::Locked { holder: Some(ref h), .. } if **h == holder));

    // Without the lease, b cannot write even with a fresh etag.
    assert_eq!(b.read().await.unwrap(), Some(r.clone()));
    r.serial = 2;
    let e = b.write(&r).await.unwrap_err();
    assert!(e.to_string().contains("locked by another holder"), "{e}");

    ga.release().await.unwrap();
    assert_eq!(b.holder().await.unwrap(), None);
    let gb = b
        .lock(LockInfo::new("destroy"), Duration::from_secs(5))
        .await
        .unwrap();
    // a released cleanly: no previous holder.
    assert_eq!(gb.previous(), None);
    // b's etag went stale when the lock record changed the metadata; reading fixes it.
    b.read().await.unwrap();
    b.write(&r).await.unwrap();
    assert_eq!(a.read().await.unwrap().unwrap().serial, 2);
    drop(gb);
    // The dropped guard releases in the background.
    let gc = a
        .lock(LockInfo::new("apply"), Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(gc.previous(), None);
    gc.release().await.unwrap();
}

#[tokio::test]
async fn force_unlock_breaks_the_lease_and_the_old_holder_cannot_write() {
    let Some(az) = Azurite::start() else {
        return;
    };
    let a = az.backend("force", fast());
    let b = az.backend("force", fast());
    a.create_container_if_missing().await.unwrap();
    assert_eq!(b.force_unlock().await.unwrap(), None);

    let info = LockInfo::new("apply");
    let _ga = a.lock(info.clone(), Duration::ZERO).await.unwrap();
    assert_eq!(a.read().await.unwrap(), None);

    assert_eq!(b.force_unlock().await.unwrap(), Some(info));
    assert_eq!(b.holder().await.unwrap(), None);
    let gb = b
        .lock(LockInfo::new("apply"), Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(gb.previous(), None);
    let mut r = record();
    r.serial = 1;
    let e = a.write(&r).await.unwrap_err();
    assert!(matches!(e, StateError::Conflict { .. }), "{e:?}");
    gb.release().await.unwrap();
}

#[tokio::test]
async fn a_held_lease_is_renewed_past_its_duration() {
    let Some(az) = Azurite::start() else {
        return;
    };
    let options = BlobOptions {
        lease_duration: Duration::from_secs(15),
        renew_every: Duration::from_secs(3),
        poll: Duration::from_millis(100),
    };
    let a = az.backend("renew", options);
    let b = az.backend("renew", options);
    a.create_container_if_missing().await.unwrap();
    let ga = a
        .lock(LockInfo::new("apply"), Duration::ZERO)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(17)).await;
    let e = b
        .lock(LockInfo::new("apply"), Duration::ZERO)
        .await
        .unwrap_err();
    assert!(matches!(e, StateError::Locked { .. }), "{e:?}");
    // The lease id the writes carry is still valid.
    a.read().await.unwrap();
    let mut r = record();
    r.serial = 1;
    a.write(&r).await.unwrap();
    ga.release().await.unwrap();
}

#[test]
fn an_expired_lease_of_a_vanished_holder_is_reported_as_previous() {
    let Some(az) = Azurite::start() else {
        return;
    };
    let options = BlobOptions {
        lease_duration: Duration::from_secs(15),
        renew_every: Duration::from_secs(5),
        poll: Duration::from_millis(250),
    };
    let crashed = LockInfo::new("apply");
    {
        // The "process" that dies: its runtime (and so its lease renewer) goes away
        // without the guard ever being released.
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let a = az.backend("expiry", options);
            a.create_container_if_missing().await.unwrap();
            let guard = a.lock(crashed.clone(), Duration::ZERO).await.unwrap();
            std::mem::forget(guard);
        });
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let b = az.backend("expiry", options);
        // Held until the lease runs out, 15 s after it was taken.
        let g = b
            .lock(LockInfo::new("apply"), Duration::from_secs(25))
            .await
            .unwrap();
        assert_eq!(g.previous(), Some(&crashed));
        g.release().await.unwrap();
    });
}

/// A loopback listener that counts the connections it is offered (and reads nothing).
async fn counting_listener() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        while let Ok(Ok((_sock, _))) =
            tokio::time::timeout(Duration::from_secs(10), listener.accept()).await
        {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    (format!("http://{addr}"), count)
}

#[tokio::test]
async fn a_bearer_token_is_refused_over_plain_http_before_anything_is_sent() {
    let (base, connections) = counting_listener().await;
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = calls.clone();
    let source = move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok::<_, String>("tok-123".to_owned())
        }
    };
    let mut location = BlobLocation::azure("acct", "c", "b.json");
    location.endpoint = base;
    let e = BlobBackend::new(location, BlobAuth::Bearer(Arc::new(source)), "s").unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("refusing to send a storage credential to `http://127.0.0.1:"),
        "{text}"
    );
    assert!(text.contains("account is `acct`"), "{text}");
    assert!(!text.contains("tok-123"), "{text}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "a token was fetched"
    );
    assert_eq!(
        connections.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "a connection was opened"
    );

    let failing = || async { Err::<String, _>("no credential configured".to_owned()) };
    let backend = BlobBackend::new(
        BlobLocation::azure("acct", "c", "b.json"),
        BlobAuth::Bearer(Arc::new(failing)),
        "s",
    )
    .unwrap();
    let e = backend.read().await.unwrap_err();
    assert_eq!(
        e.to_string(),
        "cannot get a token for Azure Storage: no credential configured"
    );
}

#[tokio::test]
async fn a_state_blob_with_unknown_fields_was_written_by_a_newer_moat() {
    let Some(az) = Azurite::start() else {
        return;
    };
    let a = az.backend("newer", fast());
    a.create_container_if_missing().await.unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&record().to_json()).unwrap();
    v["resources"]["rg"]["zone_pinning"] = serde_json::json!(true);
    let raw = moat_arm::blob::BlobClient::new(
        BlobLocation::azurite(az.base(), "newer", "stacks/secure-ml.json"),
        BlobAuth::SharedKey {
            account_key: moat_testkit::azurite::ACCOUNT_KEY.into(),
        },
        moat_arm::blob::BlobOptions::default(),
    )
    .unwrap();
    let resp = raw
        .send(moat_arm::blob::BlobRequest {
            operation: "put blob",
            method: moat_arm::blob::Method::PUT,
            target: moat_arm::blob::Target::Blob,
            query: &[],
            headers: vec![("x-ms-blob-type".into(), "BlockBlob".into())],
            body: Some(serde_json::to_vec_pretty(&v).unwrap()),
        })
        .await
        .unwrap();
    assert_eq!(resp.status, 201);
    let e = a.read().await.unwrap_err();
    assert!(matches!(e, StateError::Newer { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("/newer/stacks/secure-ml.json` was written by a newer moat: unknown field `zone_pinning`"), "{text}");
    assert!(text.contains("at line "), "{text}");
}

#[tokio::test]
async fn a_lease_renewed_elsewhere_is_alive_and_force_unlock_by_id_spares_other_holdings() {
    let Some(az) = Azurite::start() else {
        return;
    };
    let options = BlobOptions {
        lease_duration: Duration::from_secs(15),
        renew_every: Duration::from_secs(2),
        poll: Duration::from_millis(100),
    };
    let a = az.backend("alive", options);
    let b = az.backend("alive", options);
    a.create_container_if_missing().await.unwrap();
    let mut info = LockInfo::new("apply");
    info.who = "ci@another-host.invalid".into();
    let ga = a.lock(info.clone(), Duration::ZERO).await.unwrap();
    // Two renewals later the lease has been stamped by the renewer, not just the acquisition.
    tokio::time::sleep(Duration::from_millis(4500)).await;
    let st = b.status().await.unwrap().expect("held");
    assert_eq!(st.info, info);
    assert_eq!(
        st.process_gone, None,
        "another host: its process cannot be seen"
    );
    let why = st.alive().expect("a renewing holder is alive");
    assert!(why.contains("still renewing its lease"), "{why}");
    let left = st.expires_in.expect("lease timing");
    assert!(
        left > Duration::from_secs(10) && left <= Duration::from_secs(15),
        "{left:?}"
    );
    // The lock message of a waiter names the lock id to break.
    let e = b
        .lock(LockInfo::new("apply"), Duration::ZERO)
        .await
        .unwrap_err();
    assert!(e.to_string().contains(&info.id), "{e}");
    // Another lock id breaks nothing.
    let e = b.force_unlock_id("not-this-one").await.unwrap_err();
    assert!(e.to_string().contains("not by lock id not-this-one"), "{e}");
    assert!(b.status().await.unwrap().is_some());
    assert_eq!(b.force_unlock_id(&info.id).await.unwrap(), Some(info));
    assert_eq!(b.status().await.unwrap(), None);
    drop(ga);
    let gb = b
        .lock(LockInfo::new("apply"), Duration::ZERO)
        .await
        .unwrap();
    gb.release().await.unwrap();
}

#[test]
fn a_guard_dropped_by_a_panic_releases_the_lease_at_once() {
    let Some(az) = Azurite::start() else {
        return;
    };
    {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(az.backend("panic", fast()).create_container_if_missing())
            .unwrap();
    }
    let base = az.base().to_string();
    let crashed = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let a = BlobBackend::with_options(
                BlobLocation::azurite(&base, "panic", "stacks/secure-ml.json"),
                BlobAuth::SharedKey {
                    account_key: moat_testkit::azurite::ACCOUNT_KEY.into(),
                },
                "secure-ml",
                fast(),
            )
            .unwrap();
            let _guard = a
                .lock(LockInfo::new("apply"), Duration::ZERO)
                .await
                .unwrap();
            panic!("a bug while the stack is locked");
        });
    })
    .join();
    assert!(crashed.is_err(), "the thread was meant to panic");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        // Immediately free: no waiting for the 60 s lease to run out.
        let g = az
            .backend("panic", fast())
            .lock(LockInfo::new("apply"), Duration::ZERO)
            .await
            .expect("the panicking holder's lease was released");
        g.release().await.unwrap();
    });
}

#[tokio::test]
async fn the_fingerprint_key_is_a_sibling_blob_created_once() {
    let Some(az) = Azurite::start() else {
        return;
    };
    let a = az.backend("fpkey", fast());
    a.create_container_if_missing().await.unwrap();
    let b = az.backend("fpkey", fast());
    // Two runs creating it at once agree on one key (`If-None-Match: *`).
    let (ka, kb) = tokio::join!(a.fingerprint_key(), b.fingerprint_key());
    let (ka, kb) = (ka.unwrap(), kb.unwrap());
    assert_eq!(ka.len(), 32);
    assert_eq!(ka, kb);
    assert_eq!(a.fingerprint_key().await.unwrap(), ka);
    // It is not the state blob: the state is still absent.
    assert!(a.read().await.unwrap().is_none());
    // Another container, another key.
    let c = az.backend("fpkey2", fast());
    c.create_container_if_missing().await.unwrap();
    assert_ne!(c.fingerprint_key().await.unwrap(), ka);
}
