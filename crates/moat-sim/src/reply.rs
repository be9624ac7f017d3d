//! A response before it becomes HTTP: what every handler returns and the server sends.

use crate::errors::ArmError;
use serde_json::Value;

/// A response before it becomes HTTP.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Option<Value>,
}

impl Reply {
    /// A JSON reply.
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Some(body),
        }
    }

    /// A reply without body.
    pub fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: None,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Reply {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// An error reply.
    pub fn error(e: &ArmError) -> Reply {
        Reply {
            status: e.status,
            headers: e.headers.clone(),
            body: Some(e.body()),
        }
    }
}
