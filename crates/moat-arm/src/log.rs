//! The optional HTTP trace (`--log-http FILE`): one JSON line per exchange, with secrets
//! redacted, so a failed run can be diagnosed without ever writing a token or key to disk.
//!
//! Headers are never written except the request ids, so `Authorization` cannot leak; JSON
//! bodies have every value under a key matching `secret|password|key|token|connectionstring`
//! (any case) replaced, and so have URL query parameters with such names.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::error::ArmError;

/// What replaces a redacted value.
pub const REDACTED: &str = "[REDACTED]";

const SECRET_KEY_PARTS: &[&str] = &[
    "secret",
    "password",
    "key",
    "token",
    "connectionstring",
    // A cluster extension's `configurationProtectedSettings` (x-ms-secret), whatever its keys.
    "protectedsettings",
];

/// True when a JSON key or query parameter name may hold a secret.
pub fn is_secret_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    SECRET_KEY_PARTS.iter().any(|part| lower.contains(part)) || lower == "sig"
}

/// A copy of `value` with every secret-named key's value replaced by [`REDACTED`].
pub fn redact_json(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if is_secret_key(k) {
                        Value::String(REDACTED.to_owned())
                    } else {
                        redact_json(v)
                    };
                    (k.clone(), v)
                })
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact_json).collect()),
        other => other.clone(),
    }
}

/// The URL with secret-named query parameters redacted.
pub fn redact_url(url: &url::Url) -> String {
    if url.query().is_none() {
        return url.to_string();
    }
    let mut out = url.clone();
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| {
            let v = if is_secret_key(&k) {
                REDACTED.to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    out.query_pairs_mut().clear().extend_pairs(pairs);
    out.to_string()
}

/// A body as it may appear in the log.
pub(crate) fn redact_body(body: &[u8]) -> Value {
    if body.is_empty() {
        return Value::Null;
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v) => redact_json(&v),
        // Non-JSON bodies (HTML error pages) are summarized, never copied: they are not
        // structured, so there is no key to tell a secret by.
        Err(_) => json!({ "non_json_bytes": body.len() }),
    }
}

/// One exchange, as written to the log.
pub(crate) struct Exchange<'a> {
    pub(crate) method: &'a str,
    pub(crate) url: &'a url::Url,
    pub(crate) status: Option<u16>,
    pub(crate) error: Option<&'a str>,
    pub(crate) duration: Duration,
    pub(crate) client_request_id: &'a str,
    pub(crate) request_id: Option<&'a str>,
    pub(crate) correlation_id: Option<&'a str>,
    pub(crate) request_body: Option<&'a Value>,
    pub(crate) response_body: &'a [u8],
}

/// An append-only JSON-lines trace file.
#[derive(Debug)]
pub(crate) struct HttpLog {
    file: Mutex<File>,
}

impl HttpLog {
    pub(crate) fn open(path: &Path) -> Result<HttpLog, ArmError> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| {
                ArmError::config(format!("cannot open HTTP log `{}`: {e}", path.display()))
            })?;
        Ok(HttpLog {
            file: Mutex::new(file),
        })
    }

    /// Writes one line; a failing log never fails the request (it only loses the line).
    pub(crate) fn record(&self, ex: &Exchange<'_>) {
        let line = json!({
            "time": time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            "method": ex.method,
            "url": redact_url(ex.url),
            "status": ex.status,
            "error": ex.error,
            "duration_ms": u64::try_from(ex.duration.as_millis()).unwrap_or(u64::MAX),
            "client_request_id": ex.client_request_id,
            "request_id": ex.request_id,
            "correlation_id": ex.correlation_id,
            "request_body": ex.request_body.map(redact_json),
            "response_body": redact_body(ex.response_body),
        });
        // One write of the whole line, so that the ARM and the Blob clients appending to the
        // same file through their own handles never interleave within a line.
        let mut text = line.to_string();
        text.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        // Logging is best effort by design: a full disk must not fail an apply.
        let _ = file.write_all(text.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_secret_keys_at_any_depth() {
        let v = json!({
            "name": "vault",
            "properties": {
                "clientSecret": "s3cr3t",
                "adminPassword": "p",
                "primaryKey": "k",
                "accessToken": "t",
                "ConnectionString": "c",
                "keys": [{"value": "v"}],
                "nested": [{"servicePrincipalProfile": {"secret": "x", "clientId": "id"}}],
                "addressPrefix": "10.0.0.0/24"
            }
        });
        let r = redact_json(&v);
        let text = r.to_string();
        for leaked in [
            "s3cr3t", "\"p\"", "\"k\"", "\"t\"", "\"c\"", "\"v\"", "\"x\"",
        ] {
            assert!(!text.contains(leaked), "{leaked} leaked: {text}");
        }
        assert_eq!(r["properties"]["addressPrefix"], "10.0.0.0/24");
        assert_eq!(
            r["properties"]["nested"][0]["servicePrincipalProfile"]["clientId"],
            "id"
        );
        assert_eq!(r["properties"]["clientSecret"], REDACTED);
    }

    #[test]
    fn redacts_query_parameters() {
        let url = url::Url::parse(
            "https://management.azure.com/op?api-version=2024-01-01&sig=abc&token=def&t=1",
        )
        .expect("url");
        let s = redact_url(&url);
        assert!(!s.contains("abc") && !s.contains("def"), "{s}");
        assert!(
            s.contains("api-version=2024-01-01") && s.contains("t=1"),
            "{s}"
        );
    }

    #[test]
    fn non_json_bodies_are_summarized() {
        assert_eq!(
            redact_body(b"<html>password=hunter2</html>"),
            json!({"non_json_bytes": 29})
        );
        assert_eq!(redact_body(b""), Value::Null);
    }
}
