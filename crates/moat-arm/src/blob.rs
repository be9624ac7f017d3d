//! The Azure Blob Storage transport, beside the ARM client so that moat has one road to Azure:
//! URLs of a container and a blob, Shared Key signing (account keys and the Azurite emulator,
//! which knows nothing else) or Entra bearer tokens, sending, the typed error of a failed
//! answer, and the same redacted `--log-http` trace as ARM.
//!
//! Every request passes [`Egress`] first — at construction, so that a misdirected endpoint is
//! refused before any token is fetched or connection opened, and again per request. The state
//! backend (lease and lock semantics) lives in moat-engine and only calls [`BlobClient::send`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
/// The HTTP method of a [`BlobRequest`].
pub use reqwest::Method;

use crate::cloud::{AZURITE_ACCOUNT, Carries, Egress, Service};
use crate::log::{Exchange, HttpLog};
use crate::sharedkey::{self, SignInput};
use crate::{ArmError, Url};

/// The Blob REST API version sent with every request.
pub const STORAGE_API_VERSION: &str = "2023-11-03";

/// The Azurite emulator's published development account key. It is the same in every Azurite
/// install and opens nothing but a local emulator, so it is not a secret — and it is the only
/// key moat sends (signs with) over plain http.
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The OAuth scope of a storage token (the same in every cloud).
pub const STORAGE_SCOPE: &str = "https://storage.azure.com/.default";

/// Where a blob is.
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
            endpoint: format!("{}/{AZURITE_ACCOUNT}", base.trim_end_matches('/')),
            account: AZURITE_ACCOUNT.to_owned(),
            container: container.into(),
            blob: blob.into(),
        }
    }
}

/// Gives bearer tokens for Azure Storage (scope [`STORAGE_SCOPE`]).
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

impl BlobAuth {
    /// What a request signed this way carries, for [`Egress`].
    fn carries(&self) -> Carries {
        match self {
            BlobAuth::SharedKey { account_key } if account_key.trim() == AZURITE_KEY => {
                Carries::Development
            }
            BlobAuth::SharedKey { .. } | BlobAuth::Bearer(_) => Carries::Real,
        }
    }
}

/// What can go wrong talking to Azure Storage.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// Azure Storage answered with an error.
    #[error(
        "blob storage {operation} of `{location}` failed: HTTP {status} {code}: {message}{}",
        request_id.as_ref().map(|r| format!(" (request id {r})")).unwrap_or_default()
    )]
    Storage {
        /// `get blob`, `put blob`, `acquire lease`, ...
        operation: &'static str,
        /// The blob or container.
        location: String,
        /// The HTTP status.
        status: u16,
        /// Azure Storage's error code (`LeaseIdMismatchWithBlobOperation`).
        code: String,
        /// Azure Storage's message.
        message: String,
        /// `x-ms-request-id`.
        request_id: Option<String>,
    },
    /// The request did not get an answer.
    #[error("blob storage {operation} of `{location}` failed: {message}")]
    Transport {
        /// `get blob`, `put blob`, ...
        operation: &'static str,
        /// The blob or container.
        location: String,
        /// The transport error, its causes joined.
        message: String,
    },
    /// No token for Azure Storage could be had.
    #[error("cannot get a token for Azure Storage: {0}")]
    Token(String),
    /// The request may not be sent there (see [`Egress`]); nothing was sent.
    #[error("{0}")]
    Refused(String),
    /// The settings are unusable.
    #[error("{0}")]
    Config(String),
}

/// Which resource of the location a request is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The container.
    Container,
    /// The blob.
    Blob,
}

/// One request to send.
#[derive(Debug)]
pub struct BlobRequest<'a> {
    /// Named in errors: `get blob`, `acquire lease`.
    pub operation: &'static str,
    /// The HTTP method.
    pub method: Method,
    /// The container or the blob.
    pub target: Target,
    /// Query parameters, not encoded (`comp=lease`).
    pub query: &'a [(&'a str, &'a str)],
    /// Headers (`x-ms-*`, conditions); version, date and length are added.
    pub headers: Vec<(String, String)>,
    /// The body; `None` sends no `Content-Length`.
    pub body: Option<Vec<u8>>,
}

/// One answer, whatever its status.
#[derive(Clone, Debug)]
pub struct BlobResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: Vec<u8>,
}

impl BlobResponse {
    /// A header by (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// `x-ms-error-code`, or empty.
    pub fn error_code(&self) -> &str {
        self.header("x-ms-error-code").unwrap_or_default()
    }
}

/// Talks to one blob (and its container) of one storage account. Cheap to clone.
#[derive(Clone)]
pub struct BlobClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    location: BlobLocation,
    container_url: Url,
    blob_url: Url,
    auth: Auth,
    carries: Carries,
    egress: Egress,
    log: Option<Arc<HttpLog>>,
    timeout: Duration,
}

impl fmt::Debug for BlobClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobClient")
            .field("blob", &self.inner.blob_url.as_str())
            .finish_non_exhaustive()
    }
}

enum Auth {
    Key(Vec<u8>),
    Bearer(Arc<dyn TokenSource>),
}

/// What shapes a [`BlobClient`] besides where and how.
#[derive(Clone, Debug)]
pub struct BlobOptions {
    /// Where credentials may go.
    pub egress: Egress,
    /// Append a redacted trace of every exchange to this file (the `--log-http` of ARM).
    pub log_http: Option<std::path::PathBuf>,
    /// Time limit of one exchange.
    pub timeout: Duration,
}

impl Default for BlobOptions {
    fn default() -> Self {
        BlobOptions {
            egress: Egress::new(crate::Cloud::AzurePublic),
            log_http: None,
            timeout: Duration::from_secs(60),
        }
    }
}

impl BlobClient {
    /// A client for the blob at `location`; refuses (before anything is sent) a location
    /// that `options.egress` does not let `auth`'s credential go to.
    pub fn new(
        location: BlobLocation,
        auth: BlobAuth,
        options: BlobOptions,
    ) -> Result<BlobClient, BlobError> {
        let config = BlobError::Config;
        let base = Url::parse(location.endpoint.trim_end_matches('/')).map_err(|e| {
            config(format!(
                "storage endpoint `{}` is not a URL: {e}",
                location.endpoint
            ))
        })?;
        if location.container.is_empty() || location.blob.is_empty() {
            return Err(config(
                "container and blob names must not be empty".to_owned(),
            ));
        }
        let carries = auth.carries();
        check(&options.egress, &base, carries, &location)?;
        let mut container_url = base.clone();
        container_url
            .path_segments_mut()
            .map_err(|()| config(format!("storage endpoint `{base}` cannot be a base")))?
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
        let log = match &options.log_http {
            Some(path) => Some(Arc::new(open_log(path)?)),
            None => None,
        };
        Ok(BlobClient {
            inner: Arc::new(Inner {
                http: http_client(options.timeout)?,
                location,
                container_url,
                blob_url,
                auth,
                carries,
                egress: options.egress,
                log,
                timeout: options.timeout,
            }),
        })
    }

    /// The same client with a fresh connection pool, for work that must finish outside the
    /// runtime the pool's connections belong to (releasing a lease while the process exits).
    pub fn detached(&self) -> Result<BlobClient, BlobError> {
        let i = &self.inner;
        Ok(BlobClient {
            inner: Arc::new(Inner {
                http: http_client(i.timeout)?,
                location: i.location.clone(),
                container_url: i.container_url.clone(),
                blob_url: i.blob_url.clone(),
                auth: match &i.auth {
                    Auth::Key(k) => Auth::Key(k.clone()),
                    Auth::Bearer(t) => Auth::Bearer(t.clone()),
                },
                carries: i.carries,
                egress: i.egress.clone(),
                log: i.log.clone(),
                timeout: i.timeout,
            }),
        })
    }

    /// A client for another blob of the same container, with the same credential, log and
    /// connection pool (the state's fingerprint key beside the state blob).
    pub fn sibling(&self, blob: &str) -> Result<BlobClient, BlobError> {
        let i = &self.inner;
        if blob.is_empty() {
            return Err(BlobError::Config("blob names must not be empty".to_owned()));
        }
        let location = BlobLocation {
            blob: blob.to_owned(),
            ..i.location.clone()
        };
        let mut blob_url = i.container_url.clone();
        if let Ok(mut segs) = blob_url.path_segments_mut() {
            segs.extend(blob.split('/'));
        }
        check(&i.egress, &blob_url, i.carries, &location)?;
        Ok(BlobClient {
            inner: Arc::new(Inner {
                http: i.http.clone(),
                location,
                container_url: i.container_url.clone(),
                blob_url,
                auth: match &i.auth {
                    Auth::Key(k) => Auth::Key(k.clone()),
                    Auth::Bearer(t) => Auth::Bearer(t.clone()),
                },
                carries: i.carries,
                egress: i.egress.clone(),
                log: i.log.clone(),
                timeout: i.timeout,
            }),
        })
    }

    /// The blob's URL.
    pub fn blob_url(&self) -> &Url {
        &self.inner.blob_url
    }

    /// Where the blob is.
    pub fn location(&self) -> &BlobLocation {
        &self.inner.location
    }

    fn url_of(&self, target: Target) -> &Url {
        match target {
            Target::Container => &self.inner.container_url,
            Target::Blob => &self.inner.blob_url,
        }
    }

    /// Sends one signed request and returns the answer whatever its status.
    pub async fn send(&self, req: BlobRequest<'_>) -> Result<BlobResponse, BlobError> {
        let i = &*self.inner;
        let mut url = self.url_of(req.target).clone();
        if !req.query.is_empty() {
            url.query_pairs_mut().extend_pairs(req.query);
        }
        check(&i.egress, &url, i.carries, &i.location)?;
        let client_request_id = uuid::Uuid::new_v4().to_string();
        let mut headers = req.headers;
        headers.push(("x-ms-version".into(), STORAGE_API_VERSION.into()));
        headers.push(("x-ms-date".into(), http_date()));
        headers.push(("x-ms-client-request-id".into(), client_request_id.clone()));
        if let Some(b) = &req.body {
            headers.push(("Content-Length".into(), b.len().to_string()));
        }
        let authorization = match &i.auth {
            Auth::Key(key) => {
                let query: Vec<(String, String)> = req
                    .query
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect();
                sharedkey::authorization(
                    &SignInput {
                        method: req.method.as_str(),
                        headers: &headers,
                        account: &i.location.account,
                        path: url.path(),
                        query: &query,
                    },
                    key,
                )
            }
            Auth::Bearer(source) => {
                format!("Bearer {}", source.token().await.map_err(BlobError::Token)?)
            }
        };
        let method = req.method.clone();
        let mut builder = i
            .http
            .request(req.method, url.clone())
            .header(reqwest::header::AUTHORIZATION, authorization);
        for (k, v) in headers {
            builder = builder.header(k, v);
        }
        if let Some(b) = req.body {
            builder = builder.body(b);
        }
        let started = Instant::now();
        let result = async {
            let resp = builder.send().await?;
            let status = resp.status().as_u16();
            let headers: BTreeMap<String, String> = resp
                .headers()
                .iter()
                .filter_map(|(k, v)| {
                    Some((k.as_str().to_ascii_lowercase(), v.to_str().ok()?.to_owned()))
                })
                .collect();
            let body = resp.bytes().await?.to_vec();
            Ok::<_, reqwest::Error>(BlobResponse {
                status,
                headers,
                body,
            })
        }
        .await
        .map_err(|e| BlobError::Transport {
            operation: req.operation,
            location: url_text(&url),
            message: error_text(e),
        });
        if let Some(log) = &i.log {
            let (status, error, request_id, body) = match &result {
                Ok(r) => (
                    Some(r.status),
                    None,
                    r.header("x-ms-request-id"),
                    r.body.as_slice(),
                ),
                Err(e) => (None, Some(e.to_string()), None, &[][..]),
            };
            log.record(&Exchange {
                method: method.as_str(),
                url: &url,
                status,
                error: error.as_deref(),
                duration: started.elapsed(),
                client_request_id: &client_request_id,
                request_id,
                correlation_id: None,
                request_body: None,
                response_body: body,
            });
        }
        result
    }

    /// The typed error of an answer that was not a success.
    pub fn error(&self, operation: &'static str, resp: &BlobResponse) -> BlobError {
        let body = String::from_utf8_lossy(&resp.body);
        let code = resp
            .header("x-ms-error-code")
            .map(str::to_owned)
            .or_else(|| xml_element(&body, "Code"))
            .unwrap_or_default();
        let message = xml_element(&body, "Message")
            .map(|m| m.lines().next().unwrap_or_default().to_owned())
            .unwrap_or_else(|| {
                reqwest::StatusCode::from_u16(resp.status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("no message")
                    .to_owned()
            });
        BlobError::Storage {
            operation,
            location: self.inner.blob_url.to_string(),
            status: resp.status,
            code,
            message,
            request_id: resp.header("x-ms-request-id").map(str::to_owned),
        }
    }
}

/// Whether a request to `location` carrying `carries` may be sent, by [`Egress`]: for a
/// caller that wants the answer before it builds (and so fetches) a credential.
pub fn check_location(
    location: &BlobLocation,
    carries: Carries,
    egress: &Egress,
) -> Result<(), BlobError> {
    let base = Url::parse(location.endpoint.trim_end_matches('/')).map_err(|e| {
        BlobError::Config(format!(
            "storage endpoint `{}` is not a URL: {e}",
            location.endpoint
        ))
    })?;
    check(egress, &base, carries, location)
}

/// [`Egress::check`] for Blob, with the account named when http is refused.
fn check(
    egress: &Egress,
    url: &Url,
    carries: Carries,
    location: &BlobLocation,
) -> Result<(), BlobError> {
    egress
        .check(Service::Blob, url, carries)
        .map_err(|e| match e {
            ArmError::Config { message } if url.scheme() == "http" && carries == Carries::Real => {
                BlobError::Refused(format!(
                    "{message}; this backend's account is `{}`",
                    location.account
                ))
            }
            ArmError::Config { message } => BlobError::Refused(message),
            other => BlobError::Refused(other.to_string()),
        })
}

fn http_client(timeout: Duration) -> Result<reqwest::Client, BlobError> {
    crate::install_crypto_provider();
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout)
        // A redirect would take the signed request (and its token) to a host Egress never saw.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| BlobError::Config(format!("cannot build the HTTP client: {e}")))
}

fn open_log(path: &Path) -> Result<HttpLog, BlobError> {
    HttpLog::open(path).map_err(|e| BlobError::Config(e.to_string()))
}

fn url_text(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.to_string()
}

/// A transport error with its causes; reqwest quotes the URL, which carries no secret here
/// (Shared Key and bearer go in a header), but the query is dropped all the same.
fn error_text(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        let next = s.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = s.source();
    }
    text
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

/// Parses an RFC 1123 date (`Date`, `Last-Modified`) into seconds since the epoch.
pub fn parse_http_date(text: &str) -> Option<i64> {
    let fmt = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::PrimitiveDateTime::parse(text.trim(), &fmt)
        .ok()
        .map(|t| t.assume_utc().unix_timestamp())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Cloud;

    fn key() -> BlobAuth {
        BlobAuth::SharedKey {
            account_key: "a2V5".into(),
        }
    }

    #[test]
    fn urls_and_validation() {
        let b = BlobClient::new(
            BlobLocation::azure("acct", "tfstate", "envs/prod.json"),
            key(),
            BlobOptions::default(),
        )
        .unwrap();
        assert_eq!(
            b.blob_url().as_str(),
            "https://acct.blob.core.windows.net/tfstate/envs/prod.json"
        );
        let a = BlobLocation::azurite("http://127.0.0.1:10000/", "c", "b");
        assert_eq!(a.endpoint, "http://127.0.0.1:10000/devstoreaccount1");
        let mut plain = BlobLocation::azure("acct", "c", "b");
        plain.endpoint = "http://acct.blob.core.windows.net".into();
        let e = BlobClient::new(plain, key(), BlobOptions::default()).unwrap_err();
        assert!(e.to_string().contains("plain http is only allowed"), "{e}");
        let e = BlobClient::new(
            BlobLocation::azure("acct", "c", "b"),
            BlobAuth::SharedKey {
                account_key: "not base64!".into(),
            },
            BlobOptions::default(),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "the storage account key is not base64");
    }

    #[test]
    fn only_azurites_key_goes_over_http_and_real_credentials_stay_in_the_cloud() {
        let azurite = BlobLocation::azurite("http://127.0.0.1:10000", "c", "b");
        let dev = BlobAuth::SharedKey {
            account_key: AZURITE_KEY.into(),
        };
        assert!(BlobClient::new(azurite.clone(), dev, BlobOptions::default()).is_ok());
        // A real key to the same loopback address: refused, naming the account.
        let mut other = azurite.clone();
        other.account = "evil".into();
        let e = BlobClient::new(other, key(), BlobOptions::default()).unwrap_err();
        assert!(matches!(e, BlobError::Refused(_)), "{e:?}");
        assert!(e.to_string().contains("account is `evil`"), "{e}");
        let token = || async { Ok::<_, String>("t".to_owned()) };
        let e = BlobClient::new(
            azurite,
            BlobAuth::Bearer(Arc::new(token)),
            BlobOptions::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("development key"), "{e}");
        // A foreign https host, unless allowed.
        let mut foreign = BlobLocation::azure("acct", "c", "b");
        foreign.endpoint = "https://state.example.com".into();
        assert!(BlobClient::new(foreign.clone(), key(), BlobOptions::default()).is_err());
        let mut egress = Egress::new(Cloud::AzurePublic);
        egress.allow("https://state.example.com").unwrap();
        let options = BlobOptions {
            egress,
            ..BlobOptions::default()
        };
        assert!(BlobClient::new(foreign, key(), options).is_ok());
    }

    #[test]
    fn auth_debug_hides_the_key() {
        let auth = BlobAuth::SharedKey {
            account_key: "c2VjcmV0".into(),
        };
        assert!(!format!("{auth:?}").contains("c2VjcmV0"));
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
    fn http_dates_roundtrip() {
        let d = http_date();
        assert!(d.ends_with(" GMT") && d.len() == 29, "{d}");
        let t = parse_http_date(&d).unwrap();
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        assert!((now - t).abs() <= 2, "{d} → {t}, now {now}");
        assert_eq!(
            parse_http_date("Mon, 06 Jan 2025 10:00:00 GMT"),
            Some(1_736_157_600)
        );
    }
}
