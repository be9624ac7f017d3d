//! The Azure Blob Storage state backend: the record is one block blob, the lock a lease on
//! that blob, the holder's [`LockInfo`] the blob's metadata. Spoken directly over the Blob
//! REST API, with Shared Key (account keys, the Azurite emulator) or bearer tokens.
//!
//! The lease is finite (60 s by default) and renewed by a background task while held,
//! rather than infinite: a CI job that is killed then leaves no lock behind (the lease runs
//! out within a minute, and the next apply finishes the interrupted one from the journal),
//! while a holder that lost its lease cannot clobber the record, because every write while
//! locked carries the lease id and Azure refuses it once the lease is gone.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode, Url};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::sharedkey::{self, SignInput};
use super::{
    HeldLock, LockGuard, LockInfo, StateBackend, StateError, StateRecord, check_successor,
    parse_record,
};

/// The Blob REST API version sent with every request.
pub const STORAGE_API_VERSION: &str = "2023-11-03";

/// Azure's lease bounds for a finite lease.
const MIN_LEASE: Duration = Duration::from_secs(15);
const MAX_LEASE: Duration = Duration::from_secs(60);

/// Metadata names of the lock holder (C# identifiers, as Azure requires).
const META_PREFIX: &str = "x-ms-meta-moat_lock_";
const META_FIELDS: [&str; 5] = ["who", "pid", "operation", "since", "id"];

/// Where the state blob is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobLocation {
    /// The Blob service endpoint of the account, without a trailing slash:
    /// `https://ACCOUNT.blob.core.windows.net`, or for Azurite
    /// `http://127.0.0.1:10000/devstoreaccount1`.
    pub endpoint: String,
    /// The storage account name.
    pub account: String,
    /// The container, which must exist.
    pub container: String,
    /// The blob name; `/` makes virtual folders.
    pub blob: String,
}

impl BlobLocation {
    /// A blob in a storage account of the Azure public cloud.
    pub fn azure(
        account: impl Into<String>,
        container: impl Into<String>,
        blob: impl Into<String>,
    ) -> Self {
        let account = account.into();
        Self {
            endpoint: format!("https://{account}.blob.core.windows.net"),
            account,
            container: container.into(),
            blob: blob.into(),
        }
    }

    /// A blob in the Azurite emulator's development account, served at `base`
    /// (`http://127.0.0.1:10000`).
    pub fn azurite(base: &str, container: impl Into<String>, blob: impl Into<String>) -> Self {
        Self {
            endpoint: format!("{}/devstoreaccount1", base.trim_end_matches('/')),
            account: "devstoreaccount1".to_owned(),
            container: container.into(),
            blob: blob.into(),
        }
    }
}

/// Gives bearer tokens for Azure Storage (scope `https://storage.azure.com/.default`).
#[async_trait]
pub trait TokenSource: Send + Sync {
    /// A currently valid access token; the error says why none could be had (never the
    /// token itself).
    async fn token(&self) -> Result<String, String>;
}

#[async_trait]
impl<F, Fut> TokenSource for F
where
    F: Fn() -> Fut + Send + Sync,
    Fut: Future<Output = Result<String, String>> + Send,
{
    async fn token(&self) -> Result<String, String> {
        self().await
    }
}

/// How requests to Azure Storage are authorized.
#[derive(Clone)]
pub enum BlobAuth {
    /// An account key (base64, as the portal shows it).
    SharedKey {
        /// The key; never logged, never put in an error.
        account_key: String,
    },
    /// Microsoft Entra ID tokens.
    Bearer(Arc<dyn TokenSource>),
}

impl fmt::Debug for BlobAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlobAuth::SharedKey { .. } => f.write_str("SharedKey { account_key: <redacted> }"),
            BlobAuth::Bearer(_) => f.write_str("Bearer(<token source>)"),
        }
    }
}

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

struct Shared {
    http: reqwest::Client,
    location: BlobLocation,
    container_url: Url,
    blob_url: Url,
    auth: Auth,
    stack: String,
    options: BlobOptions,
    seen: Mutex<Seen>,
    lease: Mutex<Option<ActiveLease>>,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobBackend")
            .field("blob", &self.blob_url.as_str())
            .field("stack", &self.stack)
            .finish_non_exhaustive()
    }
}

enum Auth {
    Key(Vec<u8>),
    Bearer(Arc<dyn TokenSource>),
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
}

impl BlobBackend {
    /// The backend of `stack` in the blob at `location`, with default lease timing.
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
        let config = |m: String| StateError::Config(m);
        if !(MIN_LEASE..=MAX_LEASE).contains(&options.lease_duration) {
            return Err(config(format!(
                "lease duration must be 15 to 60 s, not {:?}",
                options.lease_duration
            )));
        }
        if options.renew_every.is_zero() || options.renew_every >= options.lease_duration {
            return Err(config(
                "the lease must be renewed more often than it lasts".to_owned(),
            ));
        }
        let base = Url::parse(location.endpoint.trim_end_matches('/')).map_err(|e| {
            config(format!(
                "storage endpoint `{}` is not a URL: {e}",
                location.endpoint
            ))
        })?;
        let loopback = match base.host_str() {
            Some("localhost") => true,
            Some(h) => h
                .trim_matches(['[', ']'])
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback()),
            None => false,
        };
        if base.scheme() != "https" && !(base.scheme() == "http" && loopback) {
            return Err(config(format!(
                "storage endpoint `{}` must use https (http is allowed on loopback only)",
                location.endpoint
            )));
        }
        if location.container.is_empty() || location.blob.is_empty() {
            return Err(config(
                "container and blob names must not be empty".to_owned(),
            ));
        }
        let mut container_url = base.clone();
        container_url
            .path_segments_mut()
            .map_err(|()| config(format!("storage endpoint `{}` cannot be a base", base)))?
            .pop_if_empty()
            .push(&location.container);
        let mut blob_url = container_url.clone();
        if let Ok(mut segs) = blob_url.path_segments_mut() {
            segs.extend(location.blob.split('/'));
        }
        let auth = match auth {
            BlobAuth::SharedKey { account_key } => Auth::Key(
                sharedkey::decode_key(&account_key)
                    .ok_or_else(|| config("the storage account key is not base64".to_owned()))?,
            ),
            BlobAuth::Bearer(t) => Auth::Bearer(t),
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            shared: Arc::new(Shared {
                http,
                location,
                container_url,
                blob_url,
                auth,
                stack: stack.into(),
                options,
                seen: Mutex::new(Seen::Never),
                lease: Mutex::new(None),
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
                &s.container_url,
                &[("restype", "container")],
                Vec::new(),
                Some(Vec::new()),
            )
            .await?;
        match resp.status() {
            StatusCode::CREATED => Ok(true),
            StatusCode::CONFLICT => Ok(false),
            _ => Err(s.error("create container", resp).await),
        }
    }

    /// The blob's URL.
    pub fn url(&self) -> &str {
        self.shared.blob_url.as_str()
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

    fn location(&self) -> String {
        self.blob_url.to_string()
    }

    /// Sends one signed request.
    async fn send(
        &self,
        operation: &'static str,
        method: Method,
        url: &Url,
        query: &[(&str, &str)],
        mut headers: Vec<(String, String)>,
        body: Option<Vec<u8>>,
    ) -> Result<reqwest::Response, StateError> {
        let mut url = url.clone();
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        headers.push(("x-ms-version".into(), STORAGE_API_VERSION.into()));
        headers.push(("x-ms-date".into(), http_date()));
        if let Some(b) = &body {
            headers.push(("Content-Length".into(), b.len().to_string()));
        }
        let authorization = match &self.auth {
            Auth::Key(key) => {
                let query: Vec<(String, String)> = query
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect();
                sharedkey::authorization(
                    &SignInput {
                        method: method.as_str(),
                        headers: &headers,
                        account: &self.location.account,
                        path: url.path(),
                        query: &query,
                    },
                    key,
                )
            }
            Auth::Bearer(source) => {
                format!(
                    "Bearer {}",
                    source.token().await.map_err(StateError::Token)?
                )
            }
        };
        let mut req = self
            .http
            .request(method, url)
            .header(reqwest::header::AUTHORIZATION, authorization);
        for (k, v) in headers {
            req = req.header(k, v);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        req.send().await.map_err(|source| StateError::Http {
            operation,
            location: self.location(),
            source,
        })
    }

    /// The error of a response that was not a success.
    async fn error(&self, operation: &'static str, resp: reqwest::Response) -> StateError {
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text().await.unwrap_or_default();
        let code = header(&headers, "x-ms-error-code")
            .or_else(|| xml_element(&body, "Code"))
            .unwrap_or_default();
        let message = xml_element(&body, "Message")
            .map(|m| m.lines().next().unwrap_or_default().to_owned())
            .unwrap_or_else(|| {
                reqwest::StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("no message")
                    .to_owned()
            });
        StateError::Storage {
            operation,
            location: self.location(),
            status,
            code,
            message,
            request_id: header(&headers, "x-ms-request-id"),
        }
    }

    /// Blob properties: `None` if the blob does not exist.
    async fn properties(&self) -> Result<Option<HeaderMap>, StateError> {
        let resp = self
            .send(
                "get blob properties",
                Method::HEAD,
                &self.blob_url,
                &[],
                Vec::new(),
                None,
            )
            .await?;
        match resp.status() {
            StatusCode::OK => Ok(Some(resp.headers().clone())),
            StatusCode::NOT_FOUND
                if header(resp.headers(), "x-ms-error-code").as_deref() == Some("BlobNotFound") =>
            {
                Ok(None)
            }
            _ => Err(self.error("get blob properties", resp).await),
        }
    }

    /// Creates an empty blob to hold a lease on, if there is no blob yet.
    async fn create_placeholder(&self) -> Result<(), StateError> {
        let resp = self
            .send(
                "create state blob",
                Method::PUT,
                &self.blob_url,
                &[],
                vec![
                    ("x-ms-blob-type".into(), "BlockBlob".into()),
                    ("If-None-Match".into(), "*".into()),
                ],
                Some(Vec::new()),
            )
            .await?;
        match resp.status() {
            // Someone else created it first: just as good.
            StatusCode::CREATED | StatusCode::CONFLICT | StatusCode::PRECONDITION_FAILED => Ok(()),
            _ => Err(self.error("create state blob", resp).await),
        }
    }

    /// Sends a lease action.
    async fn lease_action(
        &self,
        operation: &'static str,
        headers: Vec<(String, String)>,
    ) -> Result<reqwest::Response, StateError> {
        self.send(
            operation,
            Method::PUT,
            &self.blob_url,
            &[("comp", "lease")],
            headers,
            Some(Vec::new()),
        )
        .await
    }

    async fn renew(&self, lease_id: &str) -> Result<(), StateError> {
        let resp = self
            .lease_action(
                "renew lease",
                vec![
                    ("x-ms-lease-action".into(), "renew".into()),
                    ("x-ms-lease-id".into(), lease_id.into()),
                ],
            )
            .await?;
        if resp.status() == StatusCode::OK {
            Ok(())
        } else {
            Err(self.error("renew lease", resp).await)
        }
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
                    &self.blob_url,
                    &[("comp", "metadata")],
                    headers,
                    Some(Vec::new()),
                )
                .await?;
            match resp.status() {
                StatusCode::OK => {
                    if let (Some(_), Seen::Etag { stored, .. }, Some(new)) =
                        (&conditional, &seen, header(resp.headers(), "etag"))
                    {
                        self.set_seen(Seen::Etag {
                            etag: new,
                            stored: stored.clone(),
                        });
                    }
                    return Ok(());
                }
                StatusCode::PRECONDITION_FAILED
                    if conditional.is_some()
                        && header(resp.headers(), "x-ms-error-code").as_deref()
                            == Some("ConditionNotMet") =>
                {
                    // The blob changed since we read it: set the metadata anyway, and leave
                    // the stale etag so that the next write is refused.
                    conditional = None;
                }
                _ => return Err(self.error("set blob metadata", resp).await),
            }
        }
    }

    async fn release(&self, lease_id: &str) -> Result<(), StateError> {
        // The lease is released even if the record could not be cleared: a leftover
        // record only makes the next holder report a `previous` one.
        let cleared = self.set_metadata(Vec::new(), Some(lease_id)).await;
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
        if resp.status() == StatusCode::OK {
            cleared
        } else {
            Err(self.error("release lease", resp).await)
        }
    }
}

#[async_trait]
impl StateBackend for BlobBackend {
    async fn lock(&self, info: LockInfo, timeout: Duration) -> Result<LockGuard, StateError> {
        let s = &self.shared;
        let began = Instant::now();
        let lease_secs = s.options.lease_duration.as_secs().to_string();
        loop {
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
            let code = header(resp.headers(), "x-ms-error-code");
            match (resp.status(), code.as_deref()) {
                (StatusCode::CREATED | StatusCode::OK, _) => break,
                (StatusCode::NOT_FOUND, Some("BlobNotFound")) => s.create_placeholder().await?,
                (StatusCode::CONFLICT, Some("LeaseAlreadyPresent")) => {
                    let waited = began.elapsed();
                    if waited >= timeout {
                        let holder = match s.properties().await? {
                            Some(h) => lock_info_from(&h),
                            None => None,
                        };
                        return Err(StateError::Locked {
                            location: s.location(),
                            holder: holder.map(Box::new),
                            waited,
                            // A lease runs out by itself: a held one is never stale.
                            stale: false,
                        });
                    }
                    tokio::time::sleep(s.options.poll.min(timeout - waited)).await;
                }
                _ => return Err(s.error("acquire lease", resp).await),
            }
        }
        let lease_id = info.id.clone();
        let acquired = async {
            let previous = s.properties().await?.as_ref().and_then(lock_info_from);
            s.set_metadata(lock_metadata(&info), Some(&lease_id))
                .await?;
            Ok::<_, StateError>(previous)
        }
        .await;
        let previous = match acquired {
            Ok(p) => p,
            Err(e) => {
                let _ = s.release(&lease_id).await;
                return Err(e);
            }
        };
        s.set_lease(Some(ActiveLease {
            id: lease_id.clone(),
            info: info.clone(),
        }));
        let renewer = spawn_renewer(self.shared.clone(), lease_id.clone());
        Ok(LockGuard::new(
            info,
            previous,
            Box::new(BlobHeld {
                shared: self.shared.clone(),
                lease_id,
                renewer,
            }),
        ))
    }

    async fn read(&self) -> Result<Option<StateRecord>, StateError> {
        let s = &self.shared;
        let resp = s
            .send("get blob", Method::GET, &s.blob_url, &[], Vec::new(), None)
            .await?;
        match resp.status() {
            StatusCode::OK => {
                let etag = header(resp.headers(), "etag").unwrap_or_default();
                let bytes = resp.bytes().await.map_err(|source| StateError::Http {
                    operation: "get blob",
                    location: s.location(),
                    source,
                })?;
                // An empty blob is the placeholder that a first lock creates.
                let record = if bytes.is_empty() {
                    None
                } else {
                    Some(parse_record(&s.location(), &bytes, &s.stack)?)
                };
                s.set_seen(Seen::Etag {
                    etag,
                    stored: record.as_ref().map(|r| (r.lineage.clone(), r.serial)),
                });
                Ok(record)
            }
            StatusCode::NOT_FOUND
                if header(resp.headers(), "x-ms-error-code").as_deref() == Some("BlobNotFound") =>
            {
                s.set_seen(Seen::Absent);
                Ok(None)
            }
            _ => Err(s.error("get blob", resp).await),
        }
    }

    async fn write(&self, record: &StateRecord) -> Result<(), StateError> {
        let s = &self.shared;
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
            headers.extend(lock_metadata(&lease.info));
        }
        let resp = s
            .send(
                "put blob",
                Method::PUT,
                &s.blob_url,
                &[],
                headers,
                Some(record.to_json().into_bytes()),
            )
            .await?;
        let code = header(resp.headers(), "x-ms-error-code").unwrap_or_default();
        match resp.status() {
            StatusCode::CREATED => {
                s.set_seen(Seen::Etag {
                    etag: header(resp.headers(), "etag").unwrap_or_default(),
                    stored: Some((record.lineage.clone(), record.serial)),
                });
                Ok(())
            }
            StatusCode::PRECONDITION_FAILED | StatusCode::CONFLICT
                if code == "ConditionNotMet" || code == "BlobAlreadyExists" =>
            {
                Err(StateError::Conflict {
                    location,
                    reason: "the stored record changed since it was read (another writer?)"
                        .to_owned(),
                })
            }
            StatusCode::PRECONDITION_FAILED if code.starts_with("Lease") => {
                Err(StateError::Conflict {
                    location,
                    reason: format!("the blob is locked by another holder ({code})"),
                })
            }
            _ => Err(s.error("put blob", resp).await),
        }
    }

    async fn holder(&self) -> Result<Option<LockInfo>, StateError> {
        let Some(h) = self.shared.properties().await? else {
            return Ok(None);
        };
        if header(&h, "x-ms-lease-state").as_deref() != Some("leased") {
            return Ok(None);
        }
        Ok(Some(lock_info_from(&h).unwrap_or_else(|| LockInfo {
            who: "unknown (a lease without moat's lock record)".to_owned(),
            pid: 0,
            operation: "unknown".to_owned(),
            since: header(&h, "last-modified").unwrap_or_default(),
            id: String::new(),
        })))
    }

    async fn force_unlock(&self) -> Result<Option<LockInfo>, StateError> {
        let s = &self.shared;
        let Some(h) = s.properties().await? else {
            return Ok(None);
        };
        let info = lock_info_from(&h);
        if header(&h, "x-ms-lease-state").as_deref() == Some("leased") {
            let resp = s
                .lease_action(
                    "break lease",
                    vec![
                        ("x-ms-lease-action".into(), "break".into()),
                        ("x-ms-lease-break-period".into(), "0".into()),
                    ],
                )
                .await?;
            if resp.status() != StatusCode::ACCEPTED {
                return Err(s.error("break lease", resp).await);
            }
        }
        if info.is_some() {
            s.set_metadata(Vec::new(), None).await?;
        }
        Ok(info)
    }

    fn describe(&self) -> String {
        self.shared.location()
    }
}

struct BlobHeld {
    shared: Arc<Shared>,
    lease_id: String,
    renewer: JoinHandle<()>,
}

#[async_trait]
impl HeldLock for BlobHeld {
    async fn release(self: Box<Self>) -> Result<(), StateError> {
        self.renewer.abort();
        self.shared.release(&self.lease_id).await
    }

    fn release_on_drop(self: Box<Self>) {
        self.renewer.abort();
        self.shared.set_lease(None);
        // Without a runtime the lease simply runs out.
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let shared = self.shared.clone();
            let id = self.lease_id.clone();
            rt.spawn(async move {
                let _ = shared.release(&id).await;
            });
        }
    }
}

/// Renews the lease until aborted; gives up once the lease has certainly run out.
fn spawn_renewer(shared: Arc<Shared>, lease_id: String) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut last_ok = Instant::now();
        let mut wait = shared.options.renew_every;
        loop {
            tokio::time::sleep(wait).await;
            match shared.renew(&lease_id).await {
                Ok(()) => {
                    last_ok = Instant::now();
                    wait = shared.options.renew_every;
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

fn lock_metadata(info: &LockInfo) -> Vec<(String, String)> {
    let values = [
        info.who.clone(),
        info.pid.to_string(),
        info.operation.clone(),
        info.since.clone(),
        info.id.clone(),
    ];
    META_FIELDS
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
        .collect()
}

fn lock_info_from(headers: &HeaderMap) -> Option<LockInfo> {
    let get = |name: &str| header(headers, &format!("{META_PREFIX}{name}"));
    Some(LockInfo {
        who: get("who")?,
        pid: get("pid")?.parse().ok()?,
        operation: get("operation")?,
        since: get("since")?,
        id: get("id")?,
    })
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn xml_element(body: &str, name: &str) -> Option<String> {
    let start = body.find(&format!("<{name}>"))? + name.len() + 2;
    let end = start + body[start..].find(&format!("</{name}>"))?;
    Some(body[start..end].trim().to_owned())
}

/// RFC 1123 date, as `x-ms-date` wants it.
fn http_date() -> String {
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::OffsetDateTime::now_utc()
        .format(&fmt)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_validation() {
        let b = BlobBackend::new(
            BlobLocation::azure("acct", "tfstate", "envs/prod.json"),
            BlobAuth::SharedKey {
                account_key: "a2V5".into(),
            },
            "s",
        )
        .unwrap();
        assert_eq!(
            b.url(),
            "https://acct.blob.core.windows.net/tfstate/envs/prod.json"
        );
        let a = BlobLocation::azurite("http://127.0.0.1:10000/", "c", "b");
        assert_eq!(a.endpoint, "http://127.0.0.1:10000/devstoreaccount1");
        let key = || BlobAuth::SharedKey {
            account_key: "a2V5".into(),
        };
        let mut plain = BlobLocation::azure("acct", "c", "b");
        plain.endpoint = "http://acct.blob.core.windows.net".into();
        let e = BlobBackend::new(plain, key(), "s").unwrap_err();
        assert!(e.to_string().contains("must use https"), "{e}");
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
    fn auth_debug_hides_the_key() {
        let auth = BlobAuth::SharedKey {
            account_key: "c2VjcmV0".into(),
        };
        assert!(!format!("{auth:?}").contains("c2VjcmV0"));
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
        let mut headers = HeaderMap::new();
        for (k, v) in lock_metadata(&info) {
            headers.insert(
                reqwest::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let back = lock_info_from(&headers).unwrap();
        assert_eq!(back.who, "jos?@host");
        assert_eq!(back.pid, 42);
        assert_eq!(back.id, "id-1");
    }

    #[test]
    fn error_xml_is_read() {
        let body = "<?xml version=\"1.0\"?><Error><Code>LeaseIdMissing</Code>\
                    <Message>There is currently a lease.\nRequestId:1</Message></Error>";
        assert_eq!(xml_element(body, "Code").as_deref(), Some("LeaseIdMissing"));
        assert_eq!(
            xml_element(body, "Message").as_deref(),
            Some("There is currently a lease.\nRequestId:1")
        );
    }

    #[test]
    fn http_date_is_rfc1123() {
        let d = http_date();
        assert!(d.ends_with(" GMT") && d.len() == 29, "{d}");
    }
}
