//! The Azure Blob state backend against Azurite, the real storage emulator: records,
//! etag conflicts, lease locks that name their holder, force-unlock and lease renewal.
//! Plus bearer authorization against a one-shot loopback server.
//!
//! Azurite comes from npm: `npm install --no-audit --no-fund --prefix .ci/node azurite@3`
//! at the repository root (CI does this), or point `MOAT_AZURITE_BIN` at `azurite-blob`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use moat_engine::state::{
    BlobAuth, BlobBackend, BlobLocation, BlobOptions, LockInfo, StateBackend, StateError,
    StateRecord,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Azurite's published development account key (the same in every Azurite install; it
/// opens nothing but a local emulator).
const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// One Azurite blob service on a free loopback port, stopped on drop.
struct Azurite {
    child: Child,
    base: String,
    _dir: tempfile::TempDir,
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn azurite_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("MOAT_AZURITE_BIN") {
        return PathBuf::from(p);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.ci/node/node_modules/.bin/azurite-blob")
}

impl Azurite {
    fn start() -> Azurite {
        let bin = azurite_bin();
        assert!(
            bin.exists(),
            "azurite-blob not found at {}: install it with \
             `npm install --no-audit --no-fund --prefix .ci/node azurite@3` in the repository \
             root, or set MOAT_AZURITE_BIN to an azurite-blob executable",
            bin.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(&bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", "0", "--location"])
            .arg(dir.path())
            .args([
                "--silent",
                "--skipApiVersionCheck",
                "--loose",
                "--disableTelemetry",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(at) = line.find("http://127.0.0.1:") {
                    let _ = tx.send(line[at..].trim().to_owned());
                }
            }
        });
        let mut az = Azurite {
            child,
            base: String::new(),
            _dir: dir,
        };
        az.base = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("azurite-blob did not say where it listens within 20 s");
        az
    }

    fn backend(&self, container: &str, options: BlobOptions) -> BlobBackend {
        BlobBackend::with_options(
            BlobLocation::azurite(&self.base, container, "stacks/secure-ml.json"),
            BlobAuth::SharedKey {
                account_key: AZURITE_KEY.into(),
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
    let az = Azurite::start();
    let a = az.backend("state", fast());
    assert!(a.create_container_if_missing().await.unwrap());
    assert!(!a.create_container_if_missing().await.unwrap());
    assert_eq!(
        a.describe(),
        format!("{}/devstoreaccount1/state/stacks/secure-ml.json", az.base)
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
    let az = Azurite::start();
    let b = az.backend("nope", fast());
    let e = b.read().await.unwrap_err();
    let text = e.to_string();
    assert!(text.contains("HTTP 404 ContainerNotFound"), "{text}");
    assert!(text.contains("/devstoreaccount1/nope/"), "{text}");
}

#[tokio::test]
async fn the_lease_lock_names_its_holder_and_guards_writes() {
    let az = Azurite::start();
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
    let az = Azurite::start();
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
    let az = Azurite::start();
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
    let az = Azurite::start();
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

/// Accepts one HTTP request on loopback, answers 404 BlobNotFound, and returns the
/// request head.
async fn one_shot_server() -> (String, tokio::task::JoinHandle<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = tokio::spawn(async move {
        let (mut sock, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
            .await
            .expect("no request within 10 s")
            .unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = sock.read(&mut chunk).await.unwrap();
            if n == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        sock.write_all(
            b"HTTP/1.1 404 The specified blob does not exist.\r\n\
              x-ms-error-code: BlobNotFound\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
        )
        .await
        .unwrap();
        String::from_utf8_lossy(&buf).into_owned()
    });
    (format!("http://{addr}"), handle)
}

#[tokio::test]
async fn bearer_tokens_are_sent_as_authorization() {
    let (base, server) = one_shot_server().await;
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
    let backend = BlobBackend::new(location, BlobAuth::Bearer(Arc::new(source)), "s").unwrap();
    assert_eq!(backend.read().await.unwrap(), None);
    let head = server.await.unwrap().to_ascii_lowercase();
    assert!(head.starts_with("get /c/b.json http/1.1\r\n"), "{head}");
    assert!(
        head.contains("\r\nauthorization: bearer tok-123\r\n"),
        "{head}"
    );
    assert!(head.contains("\r\nx-ms-version: 2023-11-03\r\n"), "{head}");
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 1);

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
