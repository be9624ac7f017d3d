//! The Azure Blob Storage state backend: the record is one block blob, the lock a lease on
//! that blob, the holder's [`LockInfo`] the blob's metadata. The requests themselves go
//! through moat-arm's [`BlobClient`] (URLs, Shared Key or bearer, the credential rule, the
//! redacted trace); this file keeps the lease and lock semantics.
//!
//! The lease is finite (60 s by default) and renewed by a background task while held,
//! rather than infinite: a CI job that is killed then leaves no lock behind (the lease runs
//! out within a minute, and the next apply finishes the interrupted one from the journal),
//! while a holder that lost its lease cannot clobber the record, because every write while
//! locked carries the lease id and Azure refuses it once the lease is gone.
//!
//! Each renewal also stamps the lock record with the server's time of the renewal, so that
//! anyone can tell a lease that is still being renewed (a live holder) from one that is
//! running out, and when it will.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use moat_arm::blob::{BlobClient, BlobRequest, BlobResponse, Method, Target, parse_http_date};
use tokio::task::JoinHandle;
use tokio::time::Instant;

pub use moat_arm::blob::{BlobAuth, BlobLocation, STORAGE_API_VERSION, TokenSource};

use super::{
    HeldLock, HolderStatus, LockGuard, LockInfo, StateBackend, StateError, StateRecord,
    check_successor, parse_record,
};

/// Azure's lease bounds for a finite lease.
const MIN_LEASE: Duration = Duration::from_secs(15);
const MAX_LEASE: Duration = Duration::from_secs(60);

/// How long a process that exits gives the release of its lease.
const EXIT_RELEASE_LIMIT: Duration = Duration::from_secs(10);

/// Metadata names of the lock holder (C# identifiers, as Azure requires).
const META_PREFIX: &str = "x-ms-meta-moat_lock_";
const META_FIELDS: [&str; 5] = ["who", "pid", "operation", "since", "id"];
/// Server time (Unix seconds) of the last acquisition or renewal, the holder's renewal period
/// and its lease length, in seconds.
const META_RENEWED: &str = "renewed";
const META_RENEW_EVERY: &str = "renew_every";
const META_LEASE: &str = "lease";

/// Timing of the lease lock.
#[derive(Debug, Clone, Copy)]
pub struct BlobOptions {
    /// Lease length, 15 to 60 s.
    pub lease_duration: Duration,
    /// How often a held lease is renewed; well under `lease_duration`.
    pub renew_every: Duration,
    /// How often a waiting `lock` tries again.
    pub poll: Duration,
}

impl Default for BlobOptions {
    fn default() -> Self {
        Self {
            lease_duration: MAX_LEASE,
            renew_every: Duration::from_secs(20),
            poll: Duration::from_millis(250),
        }
    }
}

/// State kept in one Azure blob.
#[derive(Debug, Clone)]
pub struct BlobBackend {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    client: BlobClient,
    stack: String,
    options: BlobOptions,
    seen: Mutex<Seen>,
    lease: Mutex<Option<ActiveLease>>,
    /// Held by reads, writes and the renewal stamp: each changes or learns the etag, and
    /// one of them overtaking another would make the next write a false conflict.
    io: tokio::sync::Mutex<()>,
}

/// What this backend last read or wrote, for `If-Match`.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Never,
    Absent,
    Etag {
        etag: String,
        stored: Option<(String, u64)>,
    },
}

#[derive(Debug, Clone)]
struct ActiveLease {
    id: String,
    info: LockInfo,
    renewed: Option<i64>,
}

impl BlobBackend {
    /// The backend of `stack` in the blob at `location`, with default lease timing and
    /// transport options (public cloud, no trace).
    pub fn new(
        location: BlobLocation,
        auth: BlobAuth,
        stack: impl Into<String>,
    ) -> Result<Self, StateError> {
        Self::with_options(location, auth, stack, BlobOptions::default())
    }

    /// Like [`BlobBackend::new`] with explicit lease timing.
    pub fn with_options(
        location: BlobLocation,
        auth: BlobAuth,
        stack: impl Into<String>,
        options: BlobOptions,
    ) -> Result<Self, StateError> {
        let client = BlobClient::new(location, auth, moat_arm::blob::BlobOptions::default())?;
        Self::with_client(client, stack, options)
    }

    /// The backend of `stack` over an existing transport (with its credential rule and trace).
    pub fn with_client(
        client: BlobClient,
        stack: impl Into<String>,
        options: BlobOptions,
    ) -> Result<Self, StateError> {
        if !(MIN_LEASE..=MAX_LEASE).contains(&options.lease_duration) {
            return Err(StateError::Config(format!(
                "lease duration must be 15 to 60 s, not {:?}",
                options.lease_duration
            )));
        }
        if options.renew_every.is_zero() || options.renew_every >= options.lease_duration {
            return Err(StateError::Config(
                "the lease must be renewed more often than it lasts".to_owned(),
            ));
        }
        Ok(Self {
            shared: Arc::new(Shared {
                client,
                stack: stack.into(),
                options,
                seen: Mutex::new(Seen::Never),
                lease: Mutex::new(None),
                io: tokio::sync::Mutex::new(()),
            }),
        })
    }

    /// Creates the container if it does not exist; says whether it created it. For tests
    /// and bootstrap: the state container is normally made with the storage account.
    pub async fn create_container_if_missing(&self) -> Result<bool, StateError> {
        let s = &self.shared;
        let resp = s
            .send(
                "create container",
                Method::PUT,
                Target::Container,
                &[("restype", "container")],
                Vec::new(),
                Some(Vec::new()),
            )
            .await?;
        match resp.status {
            201 => Ok(true),
            409 => Ok(false),
            _ => Err(s.error("create container", &resp)),
        }
    }

    /// The blob's URL.
    pub fn url(&self) -> &str {
        self.shared.client.blob_url().as_str()
    }
}

impl Shared {
    fn seen(&self) -> Seen {
        self.seen.lock().map(|s| s.clone()).unwrap_or(Seen::Never)
    }

    fn set_seen(&self, seen: Seen) {
        if let Ok(mut s) = self.seen.lock() {
            *s = seen;
        }
    }

    fn lease(&self) -> Option<ActiveLease> {
        self.lease.lock().ok().and_then(|l| l.clone())
    }

    fn set_lease(&self, lease: Option<ActiveLease>) {
        if let Ok(mut l) = self.lease.lock() {
            *l = lease;
        }
    }

    fn set_renewed(&self, at: Option<i64>) {
        if let Ok(mut l) = self.lease.lock()
            && let Some(active) = l.as_mut()
        {
            active.renewed = at;
        }
    }

    fn location(&self) -> String {
        self.client.blob_url().to_string()
    }

    /// Sends one request through the transport.
    async fn send(
        &self,
        operation: &'static str,
        method: Method,
        target: Target,
        query: &[(&str, &str)],
        headers: Vec<(String, String)>,
        body: Option<Vec<u8>>,
    ) -> Result<BlobResponse, StateError> {
        Ok(self
            .client
            .send(BlobRequest {
                operation,
                method,
                target,
                query,
                headers,
                body,
            })
            .await?)
    }

    fn error(&self, operation: &'static str, resp: &BlobResponse) -> StateError {
        self.client.error(operation, resp).into()
    }

    /// Blob properties: `None` if the blob does not exist.
    async fn properties(&self) -> Result<Option<BlobResponse>, StateError> {
        let resp = self
            .send(
                "get blob properties",
                Method::HEAD,
                Target::Blob,
                &[],
                Vec::new(),
                None,
            )
            .await?;
        match resp.status {
            200 => Ok(Some(resp)),
            // A HEAD has no body, so the code is only in the header.
            404 if resp.error_code() == "BlobNotFound" => Ok(None),
            _ => Err(self.error("get blob properties", &resp)),
        }
    }

    /// Creates an empty blob to hold a lease on, if there is no blob yet.
    async fn create_placeholder(&self) -> Result<(), StateError> {
        let resp = self
            .send(
                "create state blob",
                Method::PUT,
                Target::Blob,
                &[],
                vec![
                    ("x-ms-blob-type".into(), "BlockBlob".into()),
                    ("If-None-Match".into(), "*".into()),
                ],
                Some(Vec::new()),
            )
            .await?;
        match resp.status {
            // Someone else created it first: just as good.
            201 | 409 | 412 => Ok(()),
            _ => Err(self.error("create state blob", &resp)),
        }
    }

    /// Sends a lease action.
    async fn lease_action(
        &self,
        operation: &'static str,
        headers: Vec<(String, String)>,
    ) -> Result<BlobResponse, StateError> {
        self.send(
            operation,
            Method::PUT,
            Target::Blob,
            &[("comp", "lease")],
            headers,
            Some(Vec::new()),
        )
        .await
    }

    /// Renews the lease; gives the server's time of the renewal.
    async fn renew(&self, lease_id: &str) -> Result<Option<i64>, StateError> {
        let resp = self
            .lease_action(
                "renew lease",
                vec![
                    ("x-ms-lease-action".into(), "renew".into()),
                    ("x-ms-lease-id".into(), lease_id.into()),
                ],
            )
            .await?;
        if resp.status == 200 {
            Ok(resp.header("date").and_then(parse_http_date))
        } else {
            Err(self.error("renew lease", &resp))
        }
    }

    fn metadata_of(&self, lease: &ActiveLease) -> Vec<(String, String)> {
        lock_metadata(
            &lease.info,
            Some(LeaseStamp {
                renewed: lease.renewed,
                renew_every: self.options.renew_every,
                lease: self.options.lease_duration,
            }),
        )
    }

    /// Replaces the blob's metadata (the lock record) and keeps the etag this backend
    /// knows in step, since a metadata change gives the blob a new etag.
    async fn set_metadata(
        &self,
        meta: Vec<(String, String)>,
        lease_id: Option<&str>,
    ) -> Result<(), StateError> {
        let seen = self.seen();
        let mut conditional = match &seen {
            Seen::Etag { etag, .. } => Some(etag.clone()),
            _ => None,
        };
        loop {
            let mut headers = meta.clone();
            if let Some(id) = lease_id {
                headers.push(("x-ms-lease-id".into(), id.into()));
            }
            if let Some(etag) = &conditional {
                headers.push(("If-Match".into(), etag.clone()));
            }
            let resp = self
                .send(
                    "set blob metadata",
                    Method::PUT,
                    Target::Blob,
                    &[("comp", "metadata")],
                    headers,
                    Some(Vec::new()),
                )
                .await?;
            match resp.status {
                200 => {
                    if let (Some(_), Seen::Etag { stored, .. }, Some(new)) =
                        (&conditional, &seen, resp.header("etag"))
                    {
                        self.set_seen(Seen::Etag {
                            etag: new.to_owned(),
                            stored: stored.clone(),
                        });
                    }
                    return Ok(());
                }
                412 if conditional.is_some() && resp.error_code() == "ConditionNotMet" => {
                    // The blob changed since we read it: set the metadata anyway, and leave
                    // the stale etag so that the next write is refused.
                    conditional = None;
                }
                _ => return Err(self.error("set blob metadata", &resp)),
            }
        }
    }

    /// Releases the lease. With `clear`, the lock record goes first; without, it stays, so
    /// that the next holder learns that this run did not finish (an interrupted exit).
    async fn release(&self, lease_id: &str, clear: bool) -> Result<(), StateError> {
        // The lease is released even if the record could not be cleared: a leftover
        // record only makes the next holder report a `previous` one.
        let cleared = if clear {
            let _io = self.io.lock().await;
            self.set_metadata(Vec::new(), Some(lease_id)).await
        } else {
            Ok(())
        };
        let resp = self
            .lease_action(
                "release lease",
                vec![
                    ("x-ms-lease-action".into(), "release".into()),
                    ("x-ms-lease-id".into(), lease_id.into()),
                ],
            )
            .await?;
        self.set_lease(None);
        if resp.status == 200 {
            cleared
        } else {
            Err(self.error("release lease", &resp))
        }
    }

    /// The holder as the blob shows it, with its lease timing read against the server's clock.
    async fn status(&self) -> Result<Option<HolderStatus>, StateError> {
        let Some(h) = self.properties().await? else {
            return Ok(None);
        };
        if h.header("x-ms-lease-state") != Some("leased") {
            return Ok(None);
        }
        let info = lock_info_from(&h).unwrap_or_else(|| LockInfo {
            who: "unknown (a lease without moat's lock record)".to_owned(),
            pid: 0,
            operation: "unknown".to_owned(),
            since: h.header("last-modified").unwrap_or_default().to_owned(),
            id: String::new(),
        });
        let meta = |name: &str| {
            h.header(&format!("{META_PREFIX}{name}"))
                .and_then(|v| v.parse::<i64>().ok())
        };
        let now = h.header("date").and_then(parse_http_date);
        let secs = |s: i64| Duration::from_secs(u64::try_from(s.max(0)).unwrap_or(0));
        let renewed_ago = match (now, meta(META_RENEWED)) {
            (Some(now), Some(at)) => Some(secs(now - at)),
            _ => None,
        };
        let expires_in = match (now, meta(META_RENEWED), meta(META_LEASE)) {
            (Some(now), Some(at), Some(lease)) => Some(secs(at + lease - now)),
            _ => None,
        };
        Ok(Some(HolderStatus {
            process_gone: info.holder_is_gone(),
            info,
            renewed_ago,
            renew_every: meta(META_RENEW_EVERY).map(secs),
            expires_in,
        }))
    }
}

#[async_trait]
impl StateBackend for BlobBackend {
    async fn lock(&self, info: LockInfo, timeout: Duration) -> Result<LockGuard, StateError> {
        let s = &self.shared;
        let began = Instant::now();
        let lease_secs = s.options.lease_duration.as_secs().to_string();
        let acquired_at = loop {
            let resp = s
                .lease_action(
                    "acquire lease",
                    vec![
                        ("x-ms-lease-action".into(), "acquire".into()),
                        ("x-ms-lease-duration".into(), lease_secs.clone()),
                        ("x-ms-proposed-lease-id".into(), info.id.clone()),
                    ],
                )
                .await?;
            match (resp.status, resp.error_code()) {
                (200 | 201, _) => break resp.header("date").and_then(parse_http_date),
                (404, "BlobNotFound") => s.create_placeholder().await?,
                (409, "LeaseAlreadyPresent") => {
                    let waited = began.elapsed();
                    if waited >= timeout {
                        let status = s.status().await?;
                        return Err(StateError::Locked {
                            location: s.location(),
                            stale: status
                                .as_ref()
                                .is_some_and(|h| h.process_gone == Some(true)),
                            expires_in: status.as_ref().and_then(|h| h.expires_in),
                            holder: status.map(|h| Box::new(h.info)),
                            waited,
                        });
                    }
                    tokio::time::sleep(s.options.poll.min(timeout - waited)).await;
                }
                _ => return Err(s.error("acquire lease", &resp)),
            }
        };
        let lease_id = info.id.clone();
        let active = ActiveLease {
            id: lease_id.clone(),
            info: info.clone(),
            renewed: acquired_at,
        };
        let acquired = async {
            let previous = s.properties().await?.as_ref().and_then(lock_info_from);
            s.set_metadata(s.metadata_of(&active), Some(&lease_id))
                .await?;
            Ok::<_, StateError>(previous)
        }
        .await;
        let previous = match acquired {
            Ok(p) => p,
            Err(e) => {
                let _ = s.release(&lease_id, true).await;
                return Err(e);
            }
        };
        s.set_lease(Some(active));
        let renewer = spawn_renewer(self.shared.clone(), lease_id.clone());
        Ok(LockGuard::new(
            info,
            previous,
            Box::new(BlobHeld {
                shared: self.shared.clone(),
                lease_id,
                renewer: Some(renewer),
            }),
        ))
    }

    async fn read(&self) -> Result<Option<StateRecord>, StateError> {
        let s = &self.shared;
        let _io = s.io.lock().await;
        let resp = s
            .send("get blob", Method::GET, Target::Blob, &[], Vec::new(), None)
            .await?;
        match resp.status {
            200 => {
                let etag = resp.header("etag").unwrap_or_default().to_owned();
                // An empty blob is the placeholder that a first lock creates.
                let record = if resp.body.is_empty() {
                    None
                } else {
                    Some(parse_record(&s.location(), &resp.body, &s.stack)?)
                };
                s.set_seen(Seen::Etag {
                    etag,
                    stored: record.as_ref().map(|r| (r.lineage.clone(), r.serial)),
                });
                Ok(record)
            }
            404 if resp.error_code() == "BlobNotFound" => {
                s.set_seen(Seen::Absent);
                Ok(None)
            }
            _ => Err(s.error("get blob", &resp)),
        }
    }

    async fn write(&self, record: &StateRecord) -> Result<(), StateError> {
        let s = &self.shared;
        let _io = s.io.lock().await;
        let location = s.location();
        let mut headers: Vec<(String, String)> = vec![
            ("x-ms-blob-type".into(), "BlockBlob".into()),
            ("Content-Type".into(), "application/json".into()),
        ];
        match s.seen() {
            Seen::Never => {
                return Err(StateError::Conflict {
                    location,
                    reason: "read the state before writing it".to_owned(),
                });
            }
            Seen::Absent => {
                check_successor(&location, &s.stack, None, record)?;
                headers.push(("If-None-Match".into(), "*".into()));
            }
            Seen::Etag { etag, stored } => {
                check_successor(
                    &location,
                    &s.stack,
                    stored.as_ref().map(|(l, n)| (l.as_str(), *n)),
                    record,
                )?;
                headers.push(("If-Match".into(), etag));
            }
        }
        // A write replaces the metadata too, so the lock record goes with it.
        if let Some(lease) = s.lease() {
            headers.push(("x-ms-lease-id".into(), lease.id.clone()));
            headers.extend(s.metadata_of(&lease));
        }
        let resp = s
            .send(
                "put blob",
                Method::PUT,
                Target::Blob,
                &[],
                headers,
                Some(record.to_json().into_bytes()),
            )
            .await?;
        let code = resp.error_code();
        match resp.status {
            201 => {
                s.set_seen(Seen::Etag {
                    etag: resp.header("etag").unwrap_or_default().to_owned(),
                    stored: Some((record.lineage.clone(), record.serial)),
                });
                Ok(())
            }
            412 | 409 if code == "ConditionNotMet" || code == "BlobAlreadyExists" => {
                Err(StateError::Conflict {
                    location,
                    reason: "the stored record changed since it was read (another writer?)"
                        .to_owned(),
                })
            }
            412 if code.starts_with("Lease") => Err(StateError::Conflict {
                location,
                reason: format!("the blob is locked by another holder ({code})"),
            }),
            _ => Err(s.error("put blob", &resp)),
        }
    }

    async fn holder(&self) -> Result<Option<LockInfo>, StateError> {
        Ok(self.shared.status().await?.map(|h| h.info))
    }

    /// The key is the blob `<state blob>.fingerprint-key` in the state's container: who can
    /// read the state can read the key (the fingerprints protect secrets against a leaked
    /// state record, not against the container's readers). Created with `If-None-Match: *`,
    /// so two runs creating it at once agree on the first.
    async fn fingerprint_key(&self) -> Result<Vec<u8>, StateError> {
        let s = &self.shared;
        let name = format!("{}.fingerprint-key", s.client.location().blob);
        let key = s.client.sibling(&name)?;
        let location = key.blob_url().to_string();
        let get = || {
            key.send(BlobRequest {
                operation: "get blob",
                method: Method::GET,
                target: Target::Blob,
                query: &[],
                headers: Vec::new(),
                body: None,
            })
        };
        let resp = get().await?;
        if resp.status == 200 {
            return super::parse_fingerprint_key(&location, &String::from_utf8_lossy(&resp.body));
        }
        if resp.status != 404 {
            return Err(key.error("get blob", &resp).into());
        }
        let put = key
            .send(BlobRequest {
                operation: "put blob",
                method: Method::PUT,
                target: Target::Blob,
                query: &[],
                headers: vec![
                    ("x-ms-blob-type".into(), "BlockBlob".into()),
                    ("Content-Type".into(), "text/plain".into()),
                    ("If-None-Match".into(), "*".into()),
                ],
                body: Some(super::new_fingerprint_key().into_bytes()),
            })
            .await?;
        if !matches!(put.status, 201 | 409 | 412) {
            return Err(key.error("put blob", &put).into());
        }
        let resp = get().await?;
        if resp.status != 200 {
            return Err(key.error("get blob", &resp).into());
        }
        super::parse_fingerprint_key(&location, &String::from_utf8_lossy(&resp.body))
    }

    async fn status(&self) -> Result<Option<HolderStatus>, StateError> {
        self.shared.status().await
    }

    async fn force_unlock(&self) -> Result<Option<LockInfo>, StateError> {
        let s = &self.shared;
        let Some(h) = s.properties().await? else {
            return Ok(None);
        };
        let info = lock_info_from(&h);
        if h.header("x-ms-lease-state") == Some("leased") {
            let resp = s
                .lease_action(
                    "break lease",
                    vec![
                        ("x-ms-lease-action".into(), "break".into()),
                        ("x-ms-lease-break-period".into(), "0".into()),
                    ],
                )
                .await?;
            if resp.status != 202 {
                return Err(s.error("break lease", &resp));
            }
        }
        if info.is_some() {
            s.set_metadata(Vec::new(), None).await?;
        }
        Ok(info)
    }

    async fn force_unlock_id(&self, id: &str) -> Result<Option<LockInfo>, StateError> {
        let s = &self.shared;
        let Some(h) = s.properties().await? else {
            return Ok(None);
        };
        let info = lock_info_from(&h);
        let leased = h.header("x-ms-lease-state") == Some("leased");
        match &info {
            Some(i) if i.id != id => {
                return Err(StateError::Conflict {
                    location: s.location(),
                    reason: format!("the lock is held by {i}, not by lock id {id}"),
                });
            }
            None if leased => {
                // A lease without moat's record: its id is unknown, so only a break ends it.
                return self.force_unlock().await;
            }
            None => return Ok(None),
            Some(_) => {}
        }
        if leased {
            // moat's lease id is the lock id: releasing with it ends exactly this holding,
            // and fails if another has taken the blob meanwhile.
            let resp = s
                .lease_action(
                    "release lease",
                    vec![
                        ("x-ms-lease-action".into(), "release".into()),
                        ("x-ms-lease-id".into(), id.into()),
                    ],
                )
                .await?;
            if resp.status != 200 {
                return Err(s.error("release lease", &resp));
            }
        }
        s.set_metadata(Vec::new(), None).await?;
        Ok(info)
    }

    fn describe(&self) -> String {
        self.shared.location()
    }
}

struct BlobHeld {
    shared: Arc<Shared>,
    lease_id: String,
    renewer: Option<JoinHandle<()>>,
}

#[async_trait]
impl HeldLock for BlobHeld {
    async fn release(mut self: Box<Self>) -> Result<(), StateError> {
        if let Some(r) = self.renewer.take() {
            r.abort();
        }
        self.shared.release(&self.lease_id, true).await
    }

    fn release_on_drop(mut self: Box<Self>) {
        if let Some(r) = self.renewer.take() {
            r.abort();
        }
        self.shared.set_lease(None);
        release_blocking(&self.shared, &self.lease_id, true);
    }

    fn exit_releaser(&self) -> Box<dyn Fn() + Send + Sync> {
        let shared = self.shared.clone();
        let id = self.lease_id.clone();
        Box::new(move || release_blocking(&shared, &id, false))
    }
}

/// Releases the lease from a thread of its own, with a fresh connection pool and runtime, and
/// waits for it (at most [`EXIT_RELEASE_LIMIT`]): this runs when the process is about to exit
/// or unwind — from a `Drop`, a signal handler, a panic hook — where the caller's runtime may
/// never poll a spawned task again, and a lease left behind would lock the stack for a minute.
fn release_blocking(shared: &Arc<Shared>, lease_id: &str, clear: bool) {
    let Ok(client) = shared.client.detached() else {
        return;
    };
    let detached = Shared {
        client,
        stack: shared.stack.clone(),
        options: shared.options,
        seen: Mutex::new(shared.seen()),
        lease: Mutex::new(None),
        io: tokio::sync::Mutex::new(()),
    };
    let id = lease_id.to_owned();
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("moat-lease-release".into())
        .spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                let _ = rt.block_on(detached.release(&id, clear));
            }
            let _ = tx.send(());
        });
    if spawned.is_ok() {
        let _ = rx.recv_timeout(EXIT_RELEASE_LIMIT);
    }
}

/// Renews the lease until aborted, stamping each renewal's server time into the lock
/// record; gives up once the lease has certainly run out.
fn spawn_renewer(shared: Arc<Shared>, lease_id: String) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut last_ok = Instant::now();
        let mut wait = shared.options.renew_every;
        loop {
            tokio::time::sleep(wait).await;
            match shared.renew(&lease_id).await {
                Ok(at) => {
                    last_ok = Instant::now();
                    wait = shared.options.renew_every;
                    shared.set_renewed(at);
                    if let Some(lease) = shared.lease() {
                        let _io = shared.io.lock().await;
                        // Informational: a lost stamp only makes the holder look older.
                        let _ = shared
                            .set_metadata(shared.metadata_of(&lease), Some(&lease_id))
                            .await;
                    }
                }
                Err(_) if last_ok.elapsed() < shared.options.lease_duration => {
                    wait = Duration::from_secs(2);
                }
                // Lost: writes now fail with a lease error, which is what the caller sees.
                Err(_) => return,
            }
        }
    })
}

/// The lease timing stored with the lock record.
struct LeaseStamp {
    renewed: Option<i64>,
    renew_every: Duration,
    lease: Duration,
}

fn lock_metadata(info: &LockInfo, stamp: Option<LeaseStamp>) -> Vec<(String, String)> {
    let values = [
        info.who.clone(),
        info.pid.to_string(),
        info.operation.clone(),
        info.since.clone(),
        info.id.clone(),
    ];
    let mut meta: Vec<(String, String)> = META_FIELDS
        .iter()
        .zip(values)
        .map(|(name, v)| {
            // Header values must be visible ASCII; the record is informational.
            let v: String = v
                .chars()
                .map(|c| if (' '..='~').contains(&c) { c } else { '?' })
                .collect();
            (format!("{META_PREFIX}{name}"), v)
        })
        .collect();
    if let Some(stamp) = stamp {
        if let Some(at) = stamp.renewed {
            meta.push((format!("{META_PREFIX}{META_RENEWED}"), at.to_string()));
        }
        meta.push((
            format!("{META_PREFIX}{META_RENEW_EVERY}"),
            stamp.renew_every.as_secs().to_string(),
        ));
        meta.push((
            format!("{META_PREFIX}{META_LEASE}"),
            stamp.lease.as_secs().to_string(),
        ));
    }
    meta
}

fn lock_info_from(resp: &BlobResponse) -> Option<LockInfo> {
    let get = |name: &str| {
        resp.header(&format!("{META_PREFIX}{name}"))
            .map(str::to_owned)
    };
    Some(LockInfo {
        who: get("who")?,
        pid: get("pid")?.parse().ok()?,
        operation: get("operation")?,
        since: get("since")?,
        id: get("id")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn key() -> BlobAuth {
        BlobAuth::SharedKey {
            account_key: "a2V5".into(),
        }
    }

    #[test]
    fn urls_and_lease_validation() {
        let b = BlobBackend::new(
            BlobLocation::azure("acct", "tfstate", "envs/prod.json"),
            key(),
            "s",
        )
        .unwrap();
        assert_eq!(
            b.url(),
            "https://acct.blob.core.windows.net/tfstate/envs/prod.json"
        );
        let e = BlobBackend::new(
            BlobLocation::azure("acct", "c", "b"),
            BlobAuth::SharedKey {
                account_key: "not base64!".into(),
            },
            "s",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid state backend settings: the storage account key is not base64"
        );
        let opts = BlobOptions {
            lease_duration: Duration::from_secs(5),
            ..BlobOptions::default()
        };
        assert!(
            BlobBackend::with_options(BlobLocation::azure("a", "c", "b"), key(), "s", opts)
                .is_err()
        );
    }

    #[test]
    fn lock_metadata_roundtrips_through_headers() {
        let info = LockInfo {
            who: "jos\u{e9}@host".into(),
            pid: 42,
            operation: "apply".into(),
            since: "2025-01-01T00:00:00Z".into(),
            id: "id-1".into(),
        };
        let stamp = LeaseStamp {
            renewed: Some(1_700_000_000),
            renew_every: Duration::from_secs(20),
            lease: Duration::from_secs(60),
        };
        let headers: BTreeMap<String, String> = lock_metadata(&info, Some(stamp))
            .into_iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v))
            .collect();
        assert_eq!(
            headers
                .get("x-ms-meta-moat_lock_renewed")
                .map(String::as_str),
            Some("1700000000")
        );
        let resp = BlobResponse {
            status: 200,
            headers,
            body: Vec::new(),
        };
        let back = lock_info_from(&resp).unwrap();
        assert_eq!(back.who, "jos?@host");
        assert_eq!(back.pid, 42);
        assert_eq!(back.id, "id-1");
    }
}
