//! `ArmClient`: the real implementation of the [`Arm`] port. It builds URLs, sends requests
//! through an azure_core pipeline (our reqwest client as transport, no SDK retry), and adds
//! what ARM needs on top: client-side throttling, retries, the write-outcome check, error
//! parsing, long-running-operation polling, stats and the redacted HTTP log.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use azure_core::error::ErrorKind;
use azure_core::http::headers::HeaderValue;
use azure_core::http::policies::{Policy, PolicyResult};
use azure_core::http::{
    ClientOptions, Context, Pipeline, PipelineSendOptions, Request, RetryOptions, Transport, Url,
};
use serde::Serialize;
use serde_json::Value;

use crate::auth::{AuthChoice, BearerPolicy, Credentials, EnvLookup, process_env};
use crate::cloud::{Egress, Endpoint, same_authority};
use crate::error::{ArmError, parse_error_body, retry_hint_from_text};
use crate::log::{Exchange, HttpLog};
use crate::lro::{
    Method, Operation, Poll, PollState, Timeouts, is_deleting, is_transitioning,
    operation_from_response, read_async_operation, read_location, read_resource, resource_id_of,
};
use crate::retry::{self, Attempt, Backoff, Decision, Idempotence};
use crate::throttle::{ClientLimits, Observed, RequestClass, Throttle};
use crate::{Arm, Listing, Started, WriteRequest};

/// The longest wait a server's `Retry-After` can impose on one retry.
const MAX_SERVER_WAIT: Duration = Duration::from_secs(600);

/// Everything that shapes an [`ArmClient`].
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Where requests go.
    pub endpoint: Endpoint,
    /// Which credential to use (ignored on loopback, which always gets the development token).
    pub auth: AuthChoice,
    /// Write a redacted trace of every exchange here.
    pub log_http: Option<PathBuf>,
    /// Long-running-operation time limits.
    pub timeouts: Timeouts,
    /// Client-side token buckets.
    pub limits: ClientLimits,
    /// Never poll more often than this, even when `Retry-After` says 0.
    pub min_poll_interval: Duration,
    /// Poll interval when the server gives no `Retry-After`.
    pub default_poll_interval: Duration,
    /// Retries per request (5xx — capped at 3 — and dropped connections; a 429 is retried
    /// until a deadline instead, see `retry`).
    pub max_retries: u32,
    /// First backoff delay; doubles each retry, with jitter.
    pub retry_base_delay: Duration,
    /// Longest backoff delay (a server's `Retry-After` may ask for more).
    pub max_retry_delay: Duration,
    /// Time limit of one HTTP exchange; a write that hits it has an unknown outcome.
    pub request_timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            endpoint: Endpoint::default(),
            auth: AuthChoice::Auto,
            log_http: None,
            timeouts: Timeouts::default(),
            limits: ClientLimits::default(),
            min_poll_interval: Duration::from_secs(1),
            default_poll_interval: Duration::from_secs(10),
            max_retries: 8,
            retry_base_delay: Duration::from_millis(800),
            max_retry_delay: Duration::from_secs(60),
            request_timeout: Duration::from_secs(120),
        }
    }
}

impl ClientConfig {
    /// Defaults aimed at `endpoint`; a loopback endpoint (the emulator) polls fast.
    pub fn for_endpoint(endpoint: Endpoint) -> ClientConfig {
        let local = endpoint.is_loopback();
        let mut config = ClientConfig {
            endpoint,
            ..ClientConfig::default()
        };
        if local {
            config.min_poll_interval = Duration::from_millis(50);
            config.default_poll_interval = Duration::from_millis(200);
            config.retry_base_delay = Duration::from_millis(50);
            config.max_retry_delay = Duration::from_secs(2);
        }
        config
    }
}

/// Counters since the client was built.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ClientStats {
    /// HTTP requests sent (every try and every poll).
    pub requests_sent: u64,
    /// 429 answers received.
    pub throttled: u64,
    /// Requests sent again after a retryable failure.
    pub retries: u64,
    /// 5xx answers received.
    pub server_errors: u64,
    /// Connections that failed or broke.
    pub transport_errors: u64,
    /// Polls of long-running operations.
    pub polls: u64,
}

#[derive(Debug, Default)]
struct Counters {
    requests_sent: AtomicU64,
    throttled: AtomicU64,
    retries: AtomicU64,
    server_errors: AtomicU64,
    transport_errors: AtomicU64,
    polls: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

/// One HTTP answer, as the client received it.
#[derive(Clone, Debug)]
pub struct ArmResponse {
    /// HTTP status.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: BTreeMap<String, String>,
    /// The raw body.
    pub body: Vec<u8>,
}

impl ArmResponse {
    /// A header by (case-insensitive) name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .get(&name.to_ascii_lowercase())
            .map(String::as_str)
    }

    /// The body as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        if self.body.is_empty() {
            return None;
        }
        serde_json::from_slice(&self.body).ok()
    }

    /// `x-ms-request-id`.
    pub fn request_id(&self) -> Option<&str> {
        self.header("x-ms-request-id")
    }

    fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Sets `User-Agent: moat/<version>` (after the SDK's own policy, so ours wins).
#[derive(Debug)]
struct UserAgent(HeaderValue);

#[async_trait::async_trait]
impl Policy for UserAgent {
    async fn send(
        &self,
        ctx: &Context,
        request: &mut Request,
        next: &[Arc<dyn Policy>],
    ) -> PolicyResult {
        request.insert_header("user-agent", self.0.clone());
        next[0].send(ctx, request, &next[1..]).await
    }
}

/// The user agent moat sends.
pub fn user_agent() -> String {
    format!("moat/{}", env!("CARGO_PKG_VERSION"))
}

enum Failure {
    /// Worth a retry decision.
    Attempt(Attempt, String),
    /// Not an HTTP problem (credentials, configuration): reported as is.
    Fatal(ArmError),
}

enum SendError {
    Arm(ArmError),
    /// A write may or may not have happened; the caller must look before retrying.
    OutcomeUnknown(ArmError),
}

/// The ARM client. Cheap to clone; clones share throttling, credentials and stats.
#[derive(Clone, Debug)]
pub struct ArmClient {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: ClientConfig,
    base: Url,
    pipeline: Pipeline,
    throttle: Throttle,
    log: Option<HttpLog>,
    credentials: Option<Arc<Credentials>>,
    counters: Counters,
    backoff: Backoff,
}

impl ArmClient {
    /// Builds a client; credentials are read from the process environment (they are only
    /// exercised on the first request).
    pub async fn new(config: ClientConfig) -> Result<ArmClient, ArmError> {
        ArmClient::with_env(config, &process_env())
    }

    /// Like [`ArmClient::new`], reading credential variables through `env`.
    pub fn with_env(config: ClientConfig, env: &EnvLookup) -> Result<ArmClient, ArmError> {
        let credentials = Credentials::for_endpoint(&config.endpoint, config.auth, env);
        ArmClient::with_credentials(config, credentials.map(Arc::new))
    }

    /// Like [`ArmClient::new`], with explicit credentials (`None`: no `Authorization` header).
    pub fn with_credentials(
        config: ClientConfig,
        credentials: Option<Arc<Credentials>>,
    ) -> Result<ArmClient, ArmError> {
        config.endpoint.validate()?;
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .timeout(config.request_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ArmError::config(format!("cannot build the HTTP client: {e}")))?;
        let options = ClientOptions {
            transport: Some(Transport::new(Arc::new(http))),
            retry: RetryOptions::none(),
            cloud: config.endpoint.sdk_cloud(),
            ..ClientOptions::default()
        };
        let mut per_try: Vec<Arc<dyn Policy>> =
            vec![Arc::new(UserAgent(HeaderValue::from(user_agent())))];
        if let Some(credentials) = &credentials {
            per_try.push(Arc::new(BearerPolicy {
                credentials: credentials.clone(),
                egress: arm_egress(&config.endpoint)?,
            }));
        }
        let pipeline = Pipeline::new(
            Some("moat"),
            Some(env!("CARGO_PKG_VERSION")),
            options,
            Vec::new(),
            per_try,
            None,
        );
        let log = config.log_http.as_deref().map(HttpLog::open).transpose()?;
        Ok(ArmClient {
            inner: Arc::new(Inner {
                base: config.endpoint.url(),
                throttle: Throttle::new(config.limits),
                backoff: Backoff {
                    base: config.retry_base_delay,
                    max: config.max_retry_delay,
                },
                config,
                pipeline,
                log,
                credentials,
                counters: Counters::default(),
            }),
        })
    }

    /// The base URL requests go to.
    pub fn endpoint(&self) -> &Url {
        &self.inner.base
    }

    /// The credentials in use, if any.
    pub fn credentials(&self) -> Option<&Arc<Credentials>> {
        self.inner.credentials.as_ref()
    }

    /// The tenant of the credential in use (`None` on loopback or without credentials).
    pub async fn tenant_id(&self) -> Result<Option<String>, ArmError> {
        match &self.inner.credentials {
            Some(c) => c.tenant_id().await,
            None => Ok(None),
        }
    }

    /// Counters since the client was built.
    pub fn stats(&self) -> ClientStats {
        let c = &self.inner.counters;
        ClientStats {
            requests_sent: c.requests_sent.load(Ordering::Relaxed),
            throttled: c.throttled.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            server_errors: c.server_errors.load(Ordering::Relaxed),
            transport_errors: c.transport_errors.load(Ordering::Relaxed),
            polls: c.polls.load(Ordering::Relaxed),
        }
    }

    /// The URL of an ARM path with `api-version` and extra query parameters.
    pub fn url_for(
        &self,
        path: &str,
        api_version: &str,
        query: &[(String, String)],
    ) -> Result<Url, ArmError> {
        if !path.starts_with('/') {
            return Err(ArmError::config(format!(
                "ARM path `{path}` must start with `/`"
            )));
        }
        let mut url = self
            .inner
            .base
            .join(path.trim_start_matches('/'))
            .map_err(|e| ArmError::config(format!("invalid ARM path `{path}`: {e}")))?;
        {
            let mut pairs = url.query_pairs_mut();
            pairs.append_pair("api-version", api_version);
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// Sends any request with retries and returns the final answer whatever its status
    /// (for list calls and anything the [`Arm`] port does not cover).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        api_version: &str,
        body: Option<&Value>,
        query: &[(String, String)],
    ) -> Result<ArmResponse, ArmError> {
        let url = self.url_for(path, api_version, query)?;
        let idempotence = match method {
            Method::Get => Idempotence::Read,
            Method::Post => Idempotence::Action,
            _ => Idempotence::IdempotentWrite,
        };
        match self.send(method, &url, body, idempotence).await {
            Ok(r) => Ok(r),
            Err(SendError::Arm(e) | SendError::OutcomeUnknown(e)) => Err(e),
        }
    }

    /// GETs a collection and follows `nextLink` pages; returns every item of `value`.
    pub async fn list(&self, path: &str, api_version: &str) -> Result<Vec<Value>, ArmError> {
        match self.pages(path, api_version).await? {
            (listing, None) => Ok(listing.items),
            (_, Some((url, response))) => Err(http_error(Method::Get, &url, &response)),
        }
    }

    /// Reads every page of a collection: the items and pages read, and the error answer that
    /// ended the reading early, with the URL it answered (the callers differ on a 404).
    async fn pages(
        &self,
        path: &str,
        api_version: &str,
    ) -> Result<(Listing, Option<(Url, ArmResponse)>), ArmError> {
        let mut url = self.url_for(path, api_version, &[])?;
        let mut out = Listing::default();
        let mut response = self.read_url(&url).await?;
        loop {
            out.pages += 1;
            if !response.is_success() {
                return Ok((out, Some((url, response))));
            }
            // The next page is asked for before this one is parsed: its link alone is cheap
            // to find (nothing of the page is built), and the round trip then overlaps the
            // parse of the page, the costly part, instead of following it.
            let Some(next) = next_link_of(&response.body)? else {
                let (values, next) = page_of(&response.body)?;
                out.items.extend(values);
                // The link pass misses only a key spelled with escapes: the full parse has
                // the last word, and such a page's next one is asked for after it.
                let Some(next) = next else {
                    return Ok((out, None));
                };
                url = self.opaque_url(&next)?;
                response = self.read_url(&url).await?;
                continue;
            };
            let next_url = self.opaque_url(&next)?;
            let parse = async {
                // The request of the next page goes out first (on a single-threaded runtime
                // the connection is written only once this task yields).
                tokio::task::yield_now().await;
                page_of(&response.body)
            };
            let (following, parsed) = tokio::join!(self.read_url(&next_url), parse);
            let (values, _) = parsed?;
            out.items.extend(values);
            response = following?;
            url = next_url;
        }
    }

    /// Parses a URL ARM handed us (poll URL, next link) and checks it stays on our endpoint.
    fn opaque_url(&self, raw: &str) -> Result<Url, ArmError> {
        let url = Url::parse(raw)
            .or_else(|_| self.inner.base.join(raw.trim_start_matches('/')))
            .map_err(|e| ArmError::config(format!("ARM returned an invalid URL `{raw}`: {e}")))?;
        if !same_authority(&self.inner.base, &url) {
            return Err(ArmError::config(format!(
                "ARM returned a URL on another host (`{}`); refusing to send credentials there",
                url.origin().ascii_serialization()
            )));
        }
        Ok(url)
    }

    async fn read_url(&self, url: &Url) -> Result<ArmResponse, ArmError> {
        match self.send(Method::Get, url, None, Idempotence::Read).await {
            Ok(r) => Ok(r),
            Err(SendError::Arm(e) | SendError::OutcomeUnknown(e)) => Err(e),
        }
    }

    /// One exchange: throttle, send, log, count.
    async fn exchange(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
    ) -> Result<ArmResponse, Failure> {
        let inner = &*self.inner;
        let class = match method {
            Method::Get => RequestClass::Read,
            Method::Delete => RequestClass::Delete,
            Method::Put | Method::Patch | Method::Post => RequestClass::Write,
        };
        // Held until the answer is in: the throttle counts what ARM has not seen yet.
        let permit = inner.throttle.acquire(url.path(), class).await;

        let client_request_id = uuid::Uuid::new_v4().to_string();
        let mut request = Request::new(url.clone(), method.sdk());
        request.insert_header("x-ms-client-request-id", client_request_id.clone());
        request.insert_header("accept", "application/json");
        if let Some(body) = body {
            let bytes = serde_json::to_vec(body).map_err(|e| {
                Failure::Fatal(ArmError::config(format!("unserializable body: {e}")))
            })?;
            request.insert_header("content-type", "application/json");
            request.set_body(bytes);
        }
        bump(&inner.counters.requests_sent);
        let started = Instant::now();
        let result = inner
            .pipeline
            .send(
                &Context::new(),
                &mut request,
                Some(PipelineSendOptions {
                    skip_checks: true,
                    ..PipelineSendOptions::default()
                }),
            )
            .await;
        let duration = started.elapsed();
        let outcome = match result {
            Ok(raw) => {
                let headers: BTreeMap<String, String> = raw
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.as_str().to_ascii_lowercase(), v.as_str().to_owned()))
                    .collect();
                Ok(ArmResponse {
                    status: u16::from(raw.status()),
                    headers,
                    body: raw.body().as_ref().to_vec(),
                })
            }
            Err(e) => Err(match classify_sdk_error(e) {
                // Transport errors quote the URL; poll URLs carry signed query tokens.
                Failure::Attempt(a, text) => {
                    Failure::Attempt(a, text.replace(url.as_str(), &crate::log::redact_url(url)))
                }
                fatal => fatal,
            }),
        };

        if let Some(log) = &inner.log {
            let (status, error_text, response_body, request_id, correlation_id) = match &outcome {
                Ok(r) => (
                    Some(r.status),
                    None,
                    r.body.as_slice(),
                    r.header("x-ms-request-id"),
                    r.header("x-ms-correlation-request-id"),
                ),
                Err(Failure::Attempt(_, m)) => (None, Some(m.as_str()), &[][..], None, None),
                Err(Failure::Fatal(_)) => (None, Some("not sent"), &[][..], None, None),
            };
            log.record(&Exchange {
                method: method.as_str(),
                url,
                status,
                error: error_text,
                duration,
                client_request_id: &client_request_id,
                request_id,
                correlation_id,
                request_body: body,
                response_body,
            });
        }

        match &outcome {
            Ok(r) => {
                let code = (r.status == 429)
                    .then(|| parse_error_body(r.status, r.header("x-ms-error-code"), &r.body).code);
                inner.throttle.observe(
                    &permit,
                    &Observed {
                        status: r.status,
                        code: code.as_deref(),
                        headers: &r.headers,
                        retry_after: server_wait(r),
                    },
                );
                if r.status == 429 {
                    bump(&inner.counters.throttled);
                }
                if r.status >= 500 {
                    bump(&inner.counters.server_errors);
                }
            }
            Err(Failure::Attempt(..)) => bump(&inner.counters.transport_errors),
            Err(Failure::Fatal(_)) => {}
        }
        outcome
    }

    /// The retry loop around [`ArmClient::exchange`].
    async fn send(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
        idempotence: Idempotence,
    ) -> Result<ArmResponse, SendError> {
        let inner = &*self.inner;
        let mut attempt = 0u32;
        let mut server_errors = 0u32;
        let first_attempt = Instant::now();
        loop {
            let (outcome, result) = match self.exchange(method, url, body).await {
                Ok(r) => (Attempt::Status(r.status), Ok(r)),
                Err(Failure::Attempt(a, message)) => (a, Err(message)),
                Err(Failure::Fatal(e)) => return Err(SendError::Arm(e)),
            };
            let server_wait = result.as_ref().ok().and_then(server_wait);
            let decision = retry::decide(
                idempotence,
                outcome,
                attempt,
                server_errors,
                inner.config.max_retries,
                first_attempt.elapsed(),
                server_wait,
                &inner.backoff,
            );
            match decision {
                Decision::Done => {
                    return result.map_err(|message| {
                        SendError::Arm(transport_error(method, url, message, outcome))
                    });
                }
                Decision::OutcomeUnknown => {
                    let error = match result {
                        Ok(r) => http_error(method, url, &r),
                        Err(message) => transport_error(method, url, message, outcome),
                    };
                    return Err(SendError::OutcomeUnknown(error));
                }
                Decision::Retry(wait) => {
                    attempt += 1;
                    if matches!(outcome, Attempt::Status(s) if s >= 500 || s == 408) {
                        server_errors += 1;
                    }
                    bump(&inner.counters.retries);
                    tokio::time::sleep(wait.min(MAX_SERVER_WAIT)).await;
                }
            }
        }
    }

    /// Re-issues a write whose outcome was unknown, after reading the resource: returns the
    /// operation to wait for when the read shows the first attempt took effect.
    async fn check_after_unknown(&self, req: &WriteRequest) -> Result<Option<Started>, ArmError> {
        let id = resource_id_of(&req.id);
        let current = self.get(id, &req.api_version).await?;
        let op = |poll: Poll| Operation {
            method: req.method,
            id: req.id.clone(),
            api_version: req.api_version.clone(),
            poll,
            started_at_unix_ms: crate::lro::now_unix_ms(),
            resource_type: crate::lro::resource_type_of(&req.id),
        };
        let started = |poll: Poll, response: Option<Value>| Started {
            operation: op(poll),
            response,
            status: 200,
            request_id: None,
        };
        Ok(match (req.method, current) {
            (Method::Delete, None) => Some(started(Poll::Done, None)),
            (Method::Delete, Some(body)) if is_deleting(&body) => {
                Some(started(Poll::ResourceGone, Some(body)))
            }
            (Method::Put | Method::Patch, Some(body)) if is_transitioning(&body) => {
                Some(started(Poll::ProvisioningState, Some(body)))
            }
            _ => None,
        })
    }

    async fn sleep_until_next_poll(
        &self,
        response: &ArmResponse,
        deadline: &mut Instant,
        op: &Operation,
        began: Instant,
        limit: Duration,
    ) -> Result<(), ArmError> {
        let config = &self.inner.config;
        let asked = retry::retry_after(|name| response.header(name).map(str::to_owned));
        let (delay, from_server) = match asked {
            Some(d) => (d.max(config.min_poll_interval), true),
            None => (
                config.default_poll_interval.max(config.min_poll_interval),
                false,
            ),
        };
        let now = Instant::now();
        if now >= *deadline {
            return Err(ArmError::Timeout {
                id: op.resource_id().to_owned(),
                waited: op.elapsed().max(now - began),
                limit,
            });
        }
        let delay = if now + delay > *deadline {
            if from_server {
                // The server knows the operation needs longer: let it have that long.
                *deadline = now + delay;
                delay
            } else {
                *deadline - now
            }
        } else {
            delay
        };
        tokio::time::sleep(delay.min(MAX_SERVER_WAIT)).await;
        Ok(())
    }

    async fn poll_get(&self, url: &Url) -> Result<ArmResponse, ArmError> {
        bump(&self.inner.counters.polls);
        self.read_url(url).await
    }

    fn operation_failed(op: &Operation, response: &ArmResponse, state: PollState) -> ArmError {
        match state {
            PollState::Failed { status, error } => ArmError::OperationFailed {
                id: op.resource_id().to_owned(),
                status,
                code: error.code,
                message: error.message,
                target: error.target,
                details: error.details,
                request_id: response.header("x-ms-request-id").map(str::to_owned),
                correlation_id: response
                    .header("x-ms-correlation-request-id")
                    .map(str::to_owned),
            },
            _ => ArmError::config("internal error: not a failed state"),
        }
    }

    /// After the operation succeeded: the final resource for PUT/PATCH, nothing for DELETE,
    /// the operation's result body (if any) for POST.
    async fn finish(
        &self,
        op: &Operation,
        result: Option<Value>,
    ) -> Result<Option<Value>, ArmError> {
        match op.method {
            Method::Put | Method::Patch => {
                match self.get(op.resource_id(), &op.api_version).await? {
                    Some(body) => Ok(Some(body)),
                    None => Err(ArmError::OperationFailed {
                        id: op.resource_id().to_owned(),
                        status: "Succeeded".to_owned(),
                        code: "ResourceNotFoundAfterWrite".to_owned(),
                        message: "the operation succeeded but the resource cannot be read"
                            .to_owned(),
                        target: None,
                        details: Vec::new(),
                        request_id: None,
                        correlation_id: None,
                    }),
                }
            }
            Method::Delete | Method::Get => Ok(None),
            Method::Post => Ok(result),
        }
    }
}

/// Where ARM tokens may go: the selected cloud's ARM host, or the custom https endpoint the
/// user named with `--arm-endpoint` (a flag or the environment, never a spec).
fn arm_egress(endpoint: &Endpoint) -> Result<Egress, ArmError> {
    let mut egress = Egress::new(endpoint.cloud());
    if let Endpoint::Custom(url) = endpoint
        && url.scheme() == "https"
    {
        egress.allow(url.as_str())?;
    }
    Ok(egress)
}

fn server_wait(r: &ArmResponse) -> Option<Duration> {
    let header = retry::retry_after(|name| r.header(name).map(str::to_owned));
    let hint = if r.status == 429 || r.status == 409 {
        let parsed = parse_error_body(r.status, r.header("x-ms-error-code"), &r.body);
        retry_hint_from_text(&parsed.message, &parsed.details)
    } else {
        None
    };
    match (header, hint) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

fn classify_sdk_error(e: azure_core::Error) -> Failure {
    let kind = e.kind().clone();
    let text = {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        text
    };
    if let Ok(inner) = e.into_inner()
        && let Ok(arm) = inner.downcast::<ArmError>()
    {
        return Failure::Fatal(*arm);
    }
    match kind {
        ErrorKind::Connection => Failure::Attempt(Attempt::NotSent, text),
        ErrorKind::Io => Failure::Attempt(Attempt::Dropped, text),
        _ => Failure::Fatal(ArmError::config(text)),
    }
}

/// A list page's items and next link, from its raw body. A page that is not JSON (a proxy's
/// HTML) is unknown, never empty: read as empty, every resource on it would look absent.
fn page_of(body: &[u8]) -> Result<(Vec<Value>, Option<String>), ArmError> {
    match serde_json::from_slice(body) {
        Ok(v) => Ok(page_parts(v)),
        Err(e) => Err(ArmError::config(format!(
            "ARM returned a list page that is not JSON ({} bytes): {e}",
            body.len()
        ))),
    }
}

/// A list page's `nextLink` alone, the page checked as JSON but none of its items built.
/// A page whose bytes do not hold the key at all (most lists: one page) has none, and is
/// not scanned twice.
fn next_link_of(body: &[u8]) -> Result<Option<String>, ArmError> {
    if memchr::memmem::find(body, b"\"nextLink\"").is_none() {
        return Ok(None);
    }
    #[derive(serde::Deserialize)]
    struct Link {
        #[serde(rename = "nextLink", default)]
        next_link: Option<Value>,
    }
    match serde_json::from_slice::<Link>(body) {
        Ok(Link {
            next_link: Some(Value::String(next)),
        }) if !next.is_empty() => Ok(Some(next)),
        Ok(_) => Ok(None),
        // Not an object (or not JSON at all): the full parse says which.
        Err(_) => page_of(body).map(|(_, next)| next),
    }
}

/// A list page's items, moved out of the page (a page of a thousand resources is most of
/// what a plan reads: never copied), and its `nextLink`.
fn page_parts(body: Value) -> (Vec<Value>, Option<String>) {
    let Value::Object(mut page) = body else {
        return (Vec::new(), None);
    };
    let values = match page.remove("value") {
        Some(Value::Array(values)) => values,
        _ => Vec::new(),
    };
    let next = match page.remove("nextLink") {
        Some(Value::String(next)) if !next.is_empty() => Some(next),
        _ => None,
    };
    (values, next)
}

fn display_path(url: &Url) -> String {
    url.path().to_owned()
}

fn transport_error(method: Method, url: &Url, message: String, outcome: Attempt) -> ArmError {
    ArmError::Transport {
        method: method.as_str().to_owned(),
        path: display_path(url),
        message,
        outcome_unknown: outcome == Attempt::Dropped && method != Method::Get,
    }
}

/// The typed error of a non-2xx answer.
pub(crate) fn http_error(method: Method, url: &Url, r: &ArmResponse) -> ArmError {
    let parsed = parse_error_body(r.status, r.header("x-ms-error-code"), &r.body);
    ArmError::Http {
        method: method.as_str().to_owned(),
        path: display_path(url),
        status: r.status,
        retry_after: server_wait(r),
        code: parsed.code,
        message: parsed.message,
        target: parsed.target,
        details: parsed.details,
        request_id: r.header("x-ms-request-id").map(str::to_owned),
        correlation_id: r.header("x-ms-correlation-request-id").map(str::to_owned),
    }
}

#[async_trait::async_trait]
impl Arm for ArmClient {
    async fn get(&self, id: &str, api_version: &str) -> Result<Option<Value>, ArmError> {
        let url = self.url_for(id, api_version, &[])?;
        let response = self.read_url(&url).await?;
        if response.is_success() {
            return match response.json() {
                Some(body) => Ok(Some(body)),
                None if response.body.is_empty() => Ok(Some(Value::Null)),
                None => Err(ArmError::Http {
                    method: "GET".to_owned(),
                    path: display_path(&url),
                    status: response.status,
                    code: "InvalidResponseBody".to_owned(),
                    message: "the response body is not JSON".to_owned(),
                    target: None,
                    details: Vec::new(),
                    request_id: response.request_id().map(str::to_owned),
                    correlation_id: response
                        .header("x-ms-correlation-request-id")
                        .map(str::to_owned),
                    retry_after: None,
                }),
            };
        }
        let error = http_error(Method::Get, &url, &response);
        if error.is_not_found() {
            Ok(None)
        } else {
            Err(error)
        }
    }

    async fn list(&self, path: &str, api_version: &str) -> Result<Option<Listing>, ArmError> {
        match self.pages(path, api_version).await? {
            (listing, None) => Ok(Some(listing)),
            (listing, Some((url, response))) => {
                let error = http_error(Method::Get, &url, &response);
                if listing.pages == 1 && error.is_not_found() {
                    Ok(None)
                } else {
                    Err(error)
                }
            }
        }
    }

    async fn begin(&self, req: WriteRequest) -> Result<Started, ArmError> {
        if req.method == Method::Get {
            return Err(ArmError::config("`begin` needs PUT, PATCH, DELETE or POST"));
        }
        let url = self.url_for(&req.id, &req.api_version, &req.query)?;
        let idempotence = if req.method == Method::Post {
            Idempotence::Action
        } else {
            Idempotence::IdempotentWrite
        };
        let mut checks = 0u32;
        loop {
            let response = match self
                .send(req.method, &url, req.body.as_ref(), idempotence)
                .await
            {
                Ok(r) => r,
                Err(SendError::Arm(e)) => return Err(e),
                Err(SendError::OutcomeUnknown(e)) => {
                    checks += 1;
                    if checks > self.inner.config.max_retries {
                        return Err(e);
                    }
                    if let Some(started) = self.check_after_unknown(&req).await? {
                        return Ok(started);
                    }
                    bump(&self.inner.counters.retries);
                    tokio::time::sleep(self.inner.backoff.delay(checks - 1)).await;
                    continue;
                }
            };
            if !response.is_success() {
                let error = http_error(req.method, &url, &response);
                if req.method == Method::Delete && error.is_not_found() {
                    let operation = operation_from_response(
                        req.method,
                        &req.id,
                        &req.api_version,
                        response.status,
                        None,
                        None,
                    );
                    return Ok(Started {
                        operation,
                        response: None,
                        status: response.status,
                        request_id: response.request_id().map(str::to_owned),
                    });
                }
                return Err(error);
            }
            let operation = operation_from_response(
                req.method,
                &req.id,
                &req.api_version,
                response.status,
                response.header("azure-asyncoperation"),
                response.header("location"),
            );
            return Ok(Started {
                operation,
                response: response.json(),
                status: response.status,
                request_id: response.request_id().map(str::to_owned),
            });
        }
    }

    async fn wait(&self, op: &Operation) -> Result<Option<Value>, ArmError> {
        let limit = self.inner.config.timeouts.for_type(&op.resource_type);
        let began = Instant::now();
        let mut deadline = began + limit.saturating_sub(op.elapsed());
        match &op.poll {
            Poll::Done => self.finish(op, None).await,
            Poll::AsyncOperation { url, location } => {
                let url = self.opaque_url(url)?;
                loop {
                    let response = self.poll_get(&url).await?;
                    if !response.is_success() {
                        return Err(http_error(Method::Get, &url, &response));
                    }
                    let body = response.json().unwrap_or(Value::Null);
                    match read_async_operation(&body) {
                        PollState::InProgress => {
                            self.sleep_until_next_poll(&response, &mut deadline, op, began, limit)
                                .await?;
                        }
                        PollState::Succeeded(_) => {
                            let result = match (op.method, location) {
                                (Method::Post, Some(location)) => {
                                    let location = self.opaque_url(location)?;
                                    let r = self.poll_get(&location).await?;
                                    if r.is_success() { r.json() } else { None }
                                }
                                _ => None,
                            };
                            return self.finish(op, result).await;
                        }
                        failed @ PollState::Failed { .. } => {
                            return Err(ArmClient::operation_failed(op, &response, failed));
                        }
                    }
                }
            }
            Poll::Location { url } => {
                let mut url = self.opaque_url(url)?;
                loop {
                    let response = self.poll_get(&url).await?;
                    if !response.is_success() {
                        return Err(http_error(Method::Get, &url, &response));
                    }
                    match read_location(response.status, response.json().as_ref()) {
                        PollState::InProgress => {
                            if let Some(next) = response.header("location") {
                                url = self.opaque_url(next)?;
                            }
                            self.sleep_until_next_poll(&response, &mut deadline, op, began, limit)
                                .await?;
                        }
                        PollState::Succeeded(body) => return self.finish(op, body).await,
                        failed @ PollState::Failed { .. } => {
                            return Err(ArmClient::operation_failed(op, &response, failed));
                        }
                    }
                }
            }
            Poll::ProvisioningState | Poll::ResourceGone => {
                let url = self.url_for(op.resource_id(), &op.api_version, &[])?;
                let gone_wanted = op.poll == Poll::ResourceGone;
                loop {
                    let response = self.poll_get(&url).await?;
                    let state = if response.is_success() {
                        let body = response.json().unwrap_or(Value::Null);
                        if gone_wanted {
                            PollState::InProgress
                        } else {
                            read_resource(&body)
                        }
                    } else {
                        let error = http_error(Method::Get, &url, &response);
                        if !error.is_not_found() {
                            return Err(error);
                        }
                        if gone_wanted {
                            return Ok(None);
                        }
                        // Just written but not yet readable: ARM is eventually consistent.
                        PollState::InProgress
                    };
                    match state {
                        PollState::InProgress => {
                            self.sleep_until_next_poll(&response, &mut deadline, op, began, limit)
                                .await?;
                        }
                        PollState::Succeeded(body) => return Ok(body),
                        failed @ PollState::Failed { .. } => {
                            return Err(ArmClient::operation_failed(op, &response, failed));
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_page_that_is_not_json_is_an_error_not_an_empty_page() {
        let page = br#"{"value": [{"id": "/x/1"}], "nextLink": "https://n/2"}"#;
        let (items, next) = page_of(page).expect("a page");
        assert_eq!(items, vec![serde_json::json!({"id": "/x/1"})]);
        assert_eq!(next.as_deref(), Some("https://n/2"));
        assert_eq!(
            page_of(br#"{"value": []}"#).expect("a page"),
            (vec![], None)
        );
        let e = page_of(b"<html>").expect_err("not JSON");
        assert!(e.to_string().contains("not JSON"), "{e}");
    }

    #[test]
    fn the_next_link_is_found_without_the_items_and_agrees_with_the_full_parse() {
        for page in [
            &br#"{"value": [{"id": "/x/1"}], "nextLink": "https://n/2"}"#[..],
            br#"{"nextLink": "https://n/2", "value": [{"id": "/x/1"}]}"#,
            br#"{"value": [{"id": "/x/1", "name": "nextLink"}]}"#,
            br#"{"value": [], "nextLink": null}"#,
            br#"{"value": [], "nextLink": ""}"#,
            br#"{"value": []}"#,
            br#"[{"nextLink": "https://n/2"}]"#,
        ] {
            let full = page_of(page).expect("a page").1;
            assert_eq!(next_link_of(page).expect("a page"), full, "{page:?}");
        }
        let e = next_link_of(br#"<html>"nextLink"</html>"#).expect_err("not JSON");
        assert!(e.to_string().contains("not JSON"), "{e}");
    }
}
