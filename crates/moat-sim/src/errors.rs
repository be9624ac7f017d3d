//! ARM error bodies and the crate's own error type.
//!
//! Every failure the emulator sends goes through [`ArmError`], so that status, code, message
//! and the `{"error":{...}}` envelope stay consistent across resource kinds.

use serde_json::{Value, json};

/// Errors of the emulator as a library (startup, state file, faults file).
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The listen address could not be bound.
    #[error("cannot listen on `{addr}`")]
    Bind {
        /// Address that was asked for.
        addr: std::net::SocketAddr,
        /// Underlying IO error.
        #[source]
        source: std::io::Error,
    },
    /// The state file exists but cannot be read.
    #[error("cannot read state file `{path}`")]
    StateRead {
        /// The state file.
        path: std::path::PathBuf,
        /// Underlying IO error.
        #[source]
        source: std::io::Error,
    },
    /// The state file is not a state file of this emulator (corrupted or foreign).
    #[error("state file `{path}` is corrupted: {detail}")]
    StateCorrupt {
        /// The state file.
        path: std::path::PathBuf,
        /// What is wrong, e.g. the JSON error with line and column.
        detail: String,
    },
    /// The state file could not be written.
    #[error("cannot write state file `{path}`")]
    StateWrite {
        /// The state file.
        path: std::path::PathBuf,
        /// Underlying IO error.
        #[source]
        source: std::io::Error,
    },
    /// The faults file cannot be read.
    #[error("cannot read faults file `{path}`")]
    FaultsRead {
        /// The faults file.
        path: std::path::PathBuf,
        /// Underlying IO error.
        #[source]
        source: std::io::Error,
    },
    /// The faults file is not valid.
    #[error("faults file `{path}` is invalid: {detail}")]
    FaultsInvalid {
        /// The faults file.
        path: std::path::PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The record directory cannot be created.
    #[error("cannot create record directory `{path}`")]
    RecordDir {
        /// The directory.
        path: std::path::PathBuf,
        /// Underlying IO error.
        #[source]
        source: std::io::Error,
    },
    /// Waiting for Ctrl-C/SIGTERM failed.
    #[error("cannot install the signal handler")]
    Signal(#[source] std::io::Error),
}

/// An error response in ARM's shape (boxed: it travels through every handler's `Result`).
#[derive(Debug, Clone)]
pub struct ArmError(Box<ErrorData>);

impl std::ops::Deref for ArmError {
    type Target = ErrorData;

    fn deref(&self) -> &ErrorData {
        &self.0
    }
}

/// The parts of an [`ArmError`].
#[derive(Debug, Clone)]
pub struct ErrorData {
    /// HTTP status.
    pub status: u16,
    /// `error.code`.
    pub code: String,
    /// `error.message`.
    pub message: String,
    /// `error.target`, when the service names the offending field.
    pub target: Option<String>,
    /// `error.details` as (code, message) pairs.
    pub details: Vec<(String, String)>,
    /// Extra response headers (e.g. `Retry-After`).
    pub headers: Vec<(String, String)>,
}

impl ArmError {
    /// A new error with no target, details or headers.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self(Box::new(ErrorData {
            status,
            code: code.to_string(),
            message: message.into(),
            target: None,
            details: Vec::new(),
            headers: Vec::new(),
        }))
    }

    /// 400 with the given code.
    pub fn bad_request(code: &str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    /// 400 `InvalidRequestContent`, ARM's answer to a body that breaks the API definition.
    pub fn invalid_content(message: impl Into<String>) -> Self {
        Self::new(
            400,
            "InvalidRequestContent",
            format!(
                "The request content was invalid and could not be deserialized: '{}'.",
                message.into()
            ),
        )
    }

    /// 404 `ResourceGroupNotFound`.
    pub fn rg_not_found(rg: &str) -> Self {
        Self::new(
            404,
            "ResourceGroupNotFound",
            format!("Resource group '{rg}' could not be found."),
        )
    }

    /// 404 `ResourceNotFound` as the ARM gateway words it.
    pub fn resource_not_found(full_type: &str, name: &str, rg: &str) -> Self {
        Self::new(
            404,
            "ResourceNotFound",
            format!(
                "The Resource '{full_type}/{name}' under resource group '{rg}' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix"
            ),
        )
    }

    /// 404 `ParentResourceNotFound`.
    pub fn parent_not_found(parent_type: &str, parent_name: &str, rg: &str) -> Self {
        Self::new(
            404,
            "ParentResourceNotFound",
            format!(
                "Can not perform requested operation on nested resource. Parent resource '{parent_name}' not found. (type '{parent_type}', resource group '{rg}')"
            ),
        )
    }

    /// Adds a `Retry-After` header.
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.0
            .headers
            .push(("Retry-After".to_string(), secs.to_string()));
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: &str, value: String) -> Self {
        self.0.headers.push((name.to_string(), value));
        self
    }

    /// Adds one detail.
    pub fn detail(mut self, code: &str, message: impl Into<String>) -> Self {
        self.0.details.push((code.to_string(), message.into()));
        self
    }

    /// Sets the target field.
    pub fn target(mut self, target: &str) -> Self {
        self.0.target = Some(target.to_string());
        self
    }

    /// The `{"error":{...}}` body.
    pub fn body(&self) -> Value {
        let mut inner = serde_json::Map::new();
        inner.insert("code".into(), json!(self.code));
        inner.insert("message".into(), json!(self.message));
        if let Some(t) = &self.target {
            inner.insert("target".into(), json!(t));
        }
        if !self.details.is_empty() {
            let details: Vec<Value> = self
                .details
                .iter()
                .map(|(c, m)| json!({"code": c, "message": m}))
                .collect();
            inner.insert("details".into(), Value::Array(details));
        }
        json!({ "error": Value::Object(inner) })
    }
}

/// Result of a request handler.
pub type ArmResult<T> = Result<T, ArmError>;
