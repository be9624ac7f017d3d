//! The ARM REST client: credentials, clouds, retries, client-side throttling, long-running
//! operations and a typed `ArmError` — moat's only road to Azure. It knows nothing of specs.
//!
//! The engine codes against the narrow [`Arm`] port; [`ArmClient`] implements it for real
//! Azure and for the local emulator (any loopback endpoint, which gets a development token).
//!
//! Module map: `cloud` (endpoints, authorities, scopes, loopback), `auth` (credential chain,
//! token cache, bearer policy), `client` (the request loop and the port), `lro` (operation
//! polling rules and the resume token), `retry` (when and how long to retry), `throttle`
//! (token buckets), `error` (error type and body parser), `log` (redacted HTTP trace),
//! `blob` (the Blob Storage transport of the state backend) with `sharedkey` (its signing).
//! Every outbound request, ARM or Blob, passes the one credential rule, [`Egress`].

// `ArmError` keeps ARM's fields inline (status, code, message, ids…) so callers can match on
// them; it is large, but errors are the slow path and boxing would only hide the fields.
#![allow(clippy::result_large_err)]

mod auth;
pub mod blob;
mod client;
mod cloud;
mod error;
mod log;
mod lro;
mod retry;
mod sharedkey;
mod throttle;

use serde_json::Value;

pub use auth::{
    AuthChoice, AzurePipelinesAssertion, Credentials, DEV_TOKEN, EnvLookup, FixedToken,
    GITHUB_AUDIENCE, GithubOidcAssertion, NamedSource, TERRAFORM_FALLBACKS, process_env,
    with_fallbacks,
};
pub use azure_core::http::Url;
pub use client::{ArmClient, ArmResponse, ClientConfig, ClientStats, user_agent};
pub use cloud::{
    ALLOW_ENDPOINT_ENV, AZURITE_ACCOUNT, Carries, Cloud, Egress, Endpoint, Service, is_loopback,
};
pub use error::{ArmError, ErrorDetail, ParsedError, parse_error_body, retry_hint_from_text};
pub use log::{REDACTED, is_secret_key, redact_json};
pub use lro::{Method, Operation, Poll, Timeouts, resource_id_of, resource_type_of};
pub use throttle::{BucketLimit, ClientLimits};

/// The narrow port the engine uses; implemented by [`ArmClient`], and by the engine's
/// scripted fake.
#[async_trait::async_trait]
pub trait Arm: Send + Sync {
    /// GET; `Ok(None)` on 404 (`ResourceNotFound` / `ResourceGroupNotFound` / `NotFound`).
    async fn get(&self, id: &str, api_version: &str) -> Result<Option<Value>, ArmError>;
    /// Starts a PUT/PATCH/DELETE/POST; returns when ARM accepted it (does not wait for the
    /// long-running operation).
    async fn begin(&self, req: WriteRequest) -> Result<Started, ArmError>;
    /// Waits for a started operation (or one resumed from its token after a crash) to finish;
    /// for PUT/PATCH returns the final resource body from a GET, for DELETE `None`, for POST
    /// the operation's result body when it has one.
    async fn wait(&self, op: &Operation) -> Result<Option<Value>, ArmError>;
    /// GETs the collection at `path` (a resource group's resources of one type, the
    /// subscription's groups, a parent's children) and follows every `nextLink`; `Ok(None)`
    /// when the scope itself does not exist (404). An implementation that cannot list
    /// answers an error, and callers read the resources one by one instead.
    async fn list(&self, path: &str, api_version: &str) -> Result<Option<Listing>, ArmError> {
        let _ = (path, api_version);
        Err(ArmError::config("this ARM port does not list collections"))
    }
}

/// A collection read by [`Arm::list`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Listing {
    /// Every item of every page's `value`.
    pub items: Vec<Value>,
    /// Pages read (each one request).
    pub pages: usize,
}

/// A write to start.
#[derive(Clone, Debug, PartialEq)]
pub struct WriteRequest {
    /// `Put`, `Patch`, `Delete` or `Post`.
    pub method: Method,
    /// The ARM id, or id + `/action` for POST.
    pub id: String,
    /// The api-version to send.
    pub api_version: String,
    /// The JSON body, if any.
    pub body: Option<Value>,
    /// Extra query parameters, e.g. `underlyingResourceAction=Delete`.
    pub query: Vec<(String, String)>,
}

impl WriteRequest {
    /// A PUT of `body` to `id`.
    pub fn put(id: impl Into<String>, api_version: impl Into<String>, body: Value) -> Self {
        WriteRequest {
            method: Method::Put,
            id: id.into(),
            api_version: api_version.into(),
            body: Some(body),
            query: Vec::new(),
        }
    }

    /// A PATCH of `body` to `id`.
    pub fn patch(id: impl Into<String>, api_version: impl Into<String>, body: Value) -> Self {
        WriteRequest {
            method: Method::Patch,
            ..WriteRequest::put(id, api_version, body)
        }
    }

    /// A DELETE of `id`.
    pub fn delete(id: impl Into<String>, api_version: impl Into<String>) -> Self {
        WriteRequest {
            method: Method::Delete,
            id: id.into(),
            api_version: api_version.into(),
            body: None,
            query: Vec::new(),
        }
    }

    /// A POST to `path` (an id + action), with an optional body.
    pub fn post(
        path: impl Into<String>,
        api_version: impl Into<String>,
        body: Option<Value>,
    ) -> Self {
        WriteRequest {
            method: Method::Post,
            id: path.into(),
            api_version: api_version.into(),
            body,
            query: Vec::new(),
        }
    }

    /// Adds a query parameter.
    pub fn with_query(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.push((key.into(), value.into()));
        self
    }
}

/// A write ARM accepted.
#[derive(Clone, Debug, PartialEq)]
pub struct Started {
    /// The resume token to record and pass to [`Arm::wait`].
    pub operation: Operation,
    /// The body of ARM's first answer, if it had one.
    pub response: Option<Value>,
    /// The HTTP status of ARM's first answer.
    pub status: u16,
    /// `x-ms-request-id` of ARM's first answer.
    pub request_id: Option<String>,
}

/// Installs rustls' `ring` crypto provider; must run before any HTTP client is built (main and
/// tests call it first). Idempotent.
pub fn install_crypto_provider() {
    // An error only means a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
