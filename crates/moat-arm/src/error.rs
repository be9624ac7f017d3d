//! The typed error every ARM call returns, and the parser that turns ARM's several error body
//! shapes (enveloped, unwrapped AKS, Azure ML, HTML or empty) into it.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Codes that mean "this resource (or its parent) does not exist", i.e. absent, not an error.
const NOT_FOUND_CODES: &[&str] = &[
    "ResourceNotFound",
    "ResourceGroupNotFound",
    "NotFound",
    "ParentResourceNotFound",
    // A missing role assignment (Authorization's own code).
    "RoleAssignmentNotFound",
];

/// Operation error codes that say "try again later" rather than "this request is wrong".
const RETRYABLE_CODES: &[&str] = &[
    "RetryableError",
    "RetryableErrorDueToAnotherOperation",
    "AnotherOperationInProgress",
    "OperationPreempted",
    "PrincipalNotFound",
];

/// One entry of ARM's error `details` (recursive, as ARM nests them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// The machine-readable code, e.g. `InUseSubnetCannotBeDeleted`.
    pub code: String,
    /// The service's message.
    pub message: String,
    /// The property or resource the error is about, when the service says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Nested details.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<ErrorDetail>,
}

/// Everything that can go wrong talking to ARM.
#[derive(Clone, Debug, thiserror::Error)]
pub enum ArmError {
    /// ARM answered with an error status.
    // The code and message lead: that is what a user acts on; the request comes after.
    #[error("{code} ({status}): {} — {method} {path}{}", trim_message(message), ids(request_id.as_deref(), correlation_id.as_deref()))]
    Http {
        /// HTTP method of the failed request.
        method: String,
        /// URL path of the failed request (no host, no query string).
        path: String,
        /// HTTP status code.
        status: u16,
        /// ARM error code (from the body, the `x-ms-error-code` header, or the status).
        code: String,
        /// The service's message.
        message: String,
        /// The error's target, when given.
        target: Option<String>,
        /// Nested details.
        details: Vec<ErrorDetail>,
        /// `x-ms-request-id` of the response.
        request_id: Option<String>,
        /// `x-ms-correlation-request-id` of the response.
        correlation_id: Option<String>,
        /// How long the server asked us to wait (`Retry-After` or the message's hint).
        retry_after: Option<Duration>,
    },
    /// A long-running operation ended `Failed` or `Canceled`.
    #[error("operation on `{id}` ended {status}: {code}: {}{}", trim_message(message), ids(request_id.as_deref(), correlation_id.as_deref()))]
    OperationFailed {
        /// The ARM id the operation was about.
        id: String,
        /// The terminal status, `Failed` or `Canceled`.
        status: String,
        /// The operation's error code.
        code: String,
        /// The operation's error message.
        message: String,
        /// The error's target, when given.
        target: Option<String>,
        /// Nested details.
        details: Vec<ErrorDetail>,
        /// `x-ms-request-id` of the last poll.
        request_id: Option<String>,
        /// `x-ms-correlation-request-id` of the last poll.
        correlation_id: Option<String>,
    },
    /// A long-running operation did not finish within its time limit.
    #[error("timed out after {}s waiting for the operation on `{id}` (limit {}s)", waited.as_secs(), limit.as_secs())]
    Timeout {
        /// The ARM id the operation was about.
        id: String,
        /// How long we waited in total.
        waited: Duration,
        /// The limit that applied.
        limit: Duration,
    },
    /// The request did not get an HTTP answer (connection refused, reset, timed out).
    #[error("{method} {path}: {message}{}", if *outcome_unknown { " (the request may have reached ARM)" } else { "" })]
    Transport {
        /// HTTP method of the failed request.
        method: String,
        /// URL path of the failed request.
        path: String,
        /// What went wrong, with its cause chain.
        message: String,
        /// True when the request may have been sent and acted on.
        outcome_unknown: bool,
    },
    /// No credential could produce a token.
    #[error("no Azure credential worked; tried {}", tried_list(tried))]
    Credential {
        /// Each credential tried, and why it did not work.
        tried: Vec<(String, String)>,
    },
    /// The client was configured wrongly (endpoint, log file, resume token).
    #[error("{message}")]
    Config {
        /// What is wrong.
        message: String,
    },
}

fn trim_message(message: &str) -> &str {
    message.trim().trim_end_matches('.')
}

fn ids(request_id: Option<&str>, correlation_id: Option<&str>) -> String {
    match (request_id, correlation_id) {
        (Some(r), Some(c)) => format!(" (request id {r}, correlation id {c})"),
        (Some(r), None) => format!(" (request id {r})"),
        (None, Some(c)) => format!(" (correlation id {c})"),
        (None, None) => String::new(),
    }
}

fn tried_list(tried: &[(String, String)]) -> String {
    if tried.is_empty() {
        return "nothing".to_owned();
    }
    tried
        .iter()
        .map(|(name, why)| format!("{name}: {}", trim_message(why)))
        .collect::<Vec<_>>()
        .join("; ")
}

impl ArmError {
    /// The ARM error code, if the error has one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ArmError::Http { code, .. } | ArmError::OperationFailed { code, .. } => Some(code),
            _ => None,
        }
    }

    /// What to do about the error, from its code and status: the common refusals of a
    /// provisioning run, each with the change that gets past it. `None` when the message
    /// itself is the best guide.
    pub fn hint(&self) -> Option<&'static str> {
        let code = self.code().unwrap_or_default().to_ascii_lowercase();
        let hint = match code.as_str() {
            "authorizationfailed" | "linkedauthorizationfailed" => {
                "the credential has no role that allows this on its scope: grant one (e.g. Contributor on the resource group), then apply again"
            }
            "requestdisallowedbypolicy" => {
                "an Azure Policy assignment refuses this resource (the message names it): change the spec to comply, or ask for an exemption"
            }
            "missingsubscriptionregistration" => {
                "the subscription has not registered this resource provider: `az provider register --namespace <provider>`, then apply again"
            }
            "storageaccountalreadytaken" | "vaultalreadyexists" | "registrynamenotavailable" => {
                "the name is globally unique and someone holds it: set another `name:`"
            }
            "skunotavailable" | "quotaexceeded" | "operationnotallowed" => {
                "the region lacks capacity or your quota for this size: pick another VM size or region, or request more quota"
            }
            "inusesubnetcannotbedeleted"
            | "inusenetworksecuritygroupcannotbedeleted"
            | "inuseroutetablecannotbedeleted"
            | "subnetinuse" => {
                "something still uses it (the message says what): remove or move that first; anything outside this stack is yours to change"
            }
            "invalidauthenticationtoken" | "expiredauthenticationtoken" => {
                "ARM refused the token: check the tenant and that the credential is still valid"
            }
            "subscriptionnotfound" | "invalidsubscriptionid" => {
                "check `subscription:` in the spec, or AZURE_SUBSCRIPTION_ID"
            }
            _ => match self.status() {
                Some(429) => {
                    "ARM kept throttling past moat's retries: run again later, or lower `--parallelism`"
                }
                _ => return None,
            },
        };
        Some(hint)
    }

    /// The HTTP status, for [`ArmError::Http`].
    pub fn status(&self) -> Option<u16> {
        match self {
            ArmError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The `x-ms-request-id` of the response that carried the error.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            ArmError::Http { request_id, .. } | ArmError::OperationFailed { request_id, .. } => {
                request_id.as_deref()
            }
            _ => None,
        }
    }

    /// True for a 404 that means "absent": `ResourceNotFound`, `ResourceGroupNotFound`,
    /// `NotFound` (AKS unwrapped, or a 404 with no code at all), `ParentResourceNotFound`.
    pub fn is_not_found(&self) -> bool {
        match self {
            ArmError::Http {
                status: 404, code, ..
            } => NOT_FOUND_CODES.iter().any(|c| c.eq_ignore_ascii_case(code)),
            _ => false,
        }
    }

    /// True when trying again later may succeed: throttling, server errors, a busy resource,
    /// connection failures.
    pub fn is_retryable(&self) -> bool {
        match self {
            ArmError::Http { status, code, .. } => {
                matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
                    || RETRYABLE_CODES.iter().any(|c| c.eq_ignore_ascii_case(code))
            }
            ArmError::OperationFailed { code, details, .. } => {
                RETRYABLE_CODES.iter().any(|c| c.eq_ignore_ascii_case(code))
                    || details.iter().any(|d| {
                        RETRYABLE_CODES
                            .iter()
                            .any(|c| c.eq_ignore_ascii_case(&d.code))
                    })
            }
            ArmError::Transport { .. } => true,
            ArmError::Timeout { .. } | ArmError::Credential { .. } | ArmError::Config { .. } => {
                false
            }
        }
    }

    pub(crate) fn config(message: impl fmt::Display) -> ArmError {
        ArmError::Config {
            message: message.to_string(),
        }
    }
}

/// The parts of an error body, whatever shape it came in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParsedError {
    /// The code (never empty: falls back to the header, then the status).
    pub code: String,
    /// The message (never empty for a non-empty body).
    pub message: String,
    /// The target, when given.
    pub target: Option<String>,
    /// Nested details.
    pub details: Vec<ErrorDetail>,
}

/// Parses an ARM error response body. `header_code` is `x-ms-error-code`, if present.
pub fn parse_error_body(status: u16, header_code: Option<&str>, body: &[u8]) -> ParsedError {
    let fallback_code = || {
        header_code
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .unwrap_or_else(|| status_code_name(status))
    };
    let json: Option<Value> = serde_json::from_slice(body).ok();
    if let Some(Value::Object(map)) = &json {
        // The standard envelope and the Azure ML one put everything under `error`; AKS and
        // DNS send the same fields unwrapped at the top level.
        let inner = match map.get("error") {
            Some(v @ Value::Object(_)) => v,
            _ => json.as_ref().unwrap_or(&Value::Null),
        };
        let detail = detail_from_value(inner);
        // A top-level `error` string (some gateways) is the message.
        let message = if detail.message.is_empty() {
            map.get("error")
                .and_then(Value::as_str)
                .or_else(|| map.get("Message").and_then(Value::as_str))
                .unwrap_or_default()
                .to_owned()
        } else {
            detail.message
        };
        return ParsedError {
            code: if detail.code.is_empty() {
                fallback_code()
            } else {
                detail.code
            },
            message: if message.is_empty() {
                default_message(status)
            } else {
                message
            },
            target: detail.target,
            details: detail.details,
        };
    }
    let text = String::from_utf8_lossy(body);
    ParsedError {
        code: fallback_code(),
        message: text_message(&text).unwrap_or_else(|| default_message(status)),
        target: None,
        details: Vec::new(),
    }
}

/// Reads one error object leniently: any field may be missing or `null` (Azure ML sends
/// `"target": null`, `"details": null`).
pub fn detail_from_value(v: &Value) -> ErrorDetail {
    let s = |key: &str| -> Option<String> {
        v.get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    };
    let details = v
        .get("details")
        .and_then(Value::as_array)
        .map(|a| a.iter().map(detail_from_value).collect())
        .unwrap_or_default();
    ErrorDetail {
        code: s("code").unwrap_or_default(),
        message: s("message").unwrap_or_default(),
        target: s("target"),
        details,
    }
}

/// A short message from a non-JSON body: an HTML page's `<title>`, else its text, clipped.
fn text_message(text: &str) -> Option<String> {
    const MAX: usize = 200;
    let lower = text.to_ascii_lowercase();
    let candidate = match (lower.find("<title>"), lower.find("</title>")) {
        (Some(start), Some(end)) if end > start + 7 => text[start + 7..end].to_owned(),
        _ => strip_tags(text),
    };
    let collapsed = candidate.split_whitespace().collect::<Vec<_>>().join(" ");
    if collapsed.is_empty() {
        return None;
    }
    if collapsed.chars().count() > MAX {
        let clipped: String = collapsed.chars().take(MAX).collect();
        Some(format!("{clipped}…"))
    } else {
        Some(collapsed)
    }
}

fn strip_tags(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                out.push(' ');
            }
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

fn default_message(status: u16) -> String {
    format!("the server answered HTTP {status} with no error message")
}

/// A code for a response that carries none, named after its status.
pub fn status_code_name(status: u16) -> String {
    match status {
        400 => "BadRequest",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        408 => "RequestTimeout",
        409 => "Conflict",
        412 => "PreconditionFailed",
        429 => "TooManyRequests",
        500 => "InternalServerError",
        502 => "BadGateway",
        503 => "ServiceUnavailable",
        504 => "GatewayTimeout",
        _ => return format!("Http{status}"),
    }
    .to_owned()
}

/// The wait Network's "another operation in progress" errors put in prose:
/// "…The call can be retried in 12 seconds." Looks in the message and every detail.
pub fn retry_hint_from_text(message: &str, details: &[ErrorDetail]) -> Option<Duration> {
    hint_in(message).or_else(|| {
        details
            .iter()
            .find_map(|d| retry_hint_from_text(&d.message, &d.details))
    })
}

fn hint_in(message: &str) -> Option<Duration> {
    let lower = message.to_ascii_lowercase();
    let at = lower.find("retried in ")? + "retried in ".len();
    let rest = &lower[at..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let n: u64 = digits.parse().ok()?;
    let unit = rest[digits.len()..].trim_start();
    let secs = if unit.starts_with("minute") {
        n.saturating_mul(60)
    } else if unit.starts_with("second") || unit.starts_with("sec") || unit.starts_with('s') {
        n
    } else {
        return None;
    };
    Some(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_envelope() {
        let body = br#"{"error":{"code":"InUseSubnetCannotBeDeleted","message":"Subnet s1 is in use.","target":"s1","details":[{"code":"Inner","message":"m"}]}}"#;
        let p = parse_error_body(400, None, body);
        assert_eq!(p.code, "InUseSubnetCannotBeDeleted");
        assert_eq!(p.message, "Subnet s1 is in use.");
        assert_eq!(p.target.as_deref(), Some("s1"));
        assert_eq!(p.details.len(), 1);
        assert_eq!(p.details[0].code, "Inner");
    }

    #[test]
    fn unwrapped_aks_shape() {
        let body = br#"{"code":"NotFound","message":"Could not find managed cluster","subcode":"GetManagedCluster_NotFound","details":[{"code":"Unspecified","message":"rpc error"}]}"#;
        let p = parse_error_body(404, None, body);
        assert_eq!(p.code, "NotFound");
        assert_eq!(p.message, "Could not find managed cluster");
        assert_eq!(p.details[0].message, "rpc error");
    }

    #[test]
    fn ml_shape_with_nulls() {
        let body = br#"{"error":{"code":"UserError","severity":null,"message":"Bad compute","messageFormat":null,"messageParameters":null,"referenceCode":null,"detailsUri":null,"target":null,"details":[],"innerError":null,"debugInfo":null,"additionalInfo":null}}"#;
        let p = parse_error_body(400, None, body);
        assert_eq!(p.code, "UserError");
        assert_eq!(p.message, "Bad compute");
        assert_eq!(p.target, None);
        assert!(p.details.is_empty());
    }

    #[test]
    fn message_without_code_uses_header_then_status() {
        let body = br#"{"message":"An error occurred.","details":[]}"#;
        assert_eq!(
            parse_error_body(500, None, body).code,
            "InternalServerError"
        );
        assert_eq!(
            parse_error_body(500, Some("FromHeader"), body).code,
            "FromHeader"
        );
        assert_eq!(
            parse_error_body(500, None, body).message,
            "An error occurred."
        );
    }

    #[test]
    fn html_body() {
        let body = b"<!DOCTYPE html><html><head><title>Service Unavailable</title></head><body><h1>503</h1></body></html>";
        let p = parse_error_body(503, None, body);
        assert_eq!(p.code, "ServiceUnavailable");
        assert_eq!(p.message, "Service Unavailable");
        let p = parse_error_body(
            404,
            None,
            b"<html><body><h2>Not found</h2> bad url</body></html>",
        );
        assert_eq!(p.message, "Not found bad url");
    }

    #[test]
    fn empty_body() {
        let p = parse_error_body(502, None, b"");
        assert_eq!(p.code, "BadGateway");
        assert!(p.message.contains("502"));
    }

    #[test]
    fn network_retry_hint_in_details() {
        let body = br#"{"error":{"code":"RetryableError","message":"A retryable error occurred.","details":[{"code":"RetryableErrorDueToAnotherOperation","message":"Operation PutVirtualNetworkGatewayOperation (abc) is updating resource x. The call can be retried in 12 seconds."}]}}"#;
        let p = parse_error_body(429, None, body);
        assert_eq!(
            retry_hint_from_text(&p.message, &p.details),
            Some(Duration::from_secs(12))
        );
        assert_eq!(retry_hint_from_text("no hint here", &[]), None);
        assert_eq!(
            retry_hint_from_text("can be retried in 2 minutes", &[]),
            Some(Duration::from_secs(120))
        );
    }

    fn http(status: u16, code: &str) -> ArmError {
        ArmError::Http {
            method: "GET".into(),
            path: "/subscriptions/s/resourceGroups/rg".into(),
            status,
            code: code.into(),
            message: "The thing was not found.".into(),
            target: None,
            details: Vec::new(),
            request_id: Some("req-1".into()),
            correlation_id: Some("corr-1".into()),
            retry_after: None,
        }
    }

    #[test]
    fn hints_come_from_the_code_and_status() {
        let h = |e: ArmError| e.hint().unwrap_or_default();
        assert!(h(http(403, "AuthorizationFailed")).contains("grant one"));
        assert!(h(http(403, "authorizationfailed")).contains("grant one"));
        assert!(h(http(409, "StorageAccountAlreadyTaken")).contains("set another `name:`"));
        assert!(h(http(400, "InUseSubnetCannotBeDeleted")).contains("still uses it"));
        assert!(h(http(429, "TooManyRequests")).contains("--parallelism"));
        assert_eq!(http(404, "ResourceNotFound").hint(), None);
        assert_eq!(http(400, "SomethingNew").hint(), None);
    }

    #[test]
    fn helpers_and_display() {
        assert!(http(404, "ResourceNotFound").is_not_found());
        assert!(http(404, "ResourceGroupNotFound").is_not_found());
        assert!(!http(404, "SomethingElse").is_not_found());
        assert!(!http(400, "ResourceNotFound").is_not_found());
        assert!(http(429, "TooManyRequests").is_retryable());
        assert!(http(409, "AnotherOperationInProgress").is_retryable());
        assert!(!http(400, "InvalidRequestPropertyValue").is_retryable());
        let e = http(404, "ResourceNotFound");
        assert_eq!(e.code(), Some("ResourceNotFound"));
        assert_eq!(e.request_id(), Some("req-1"));
        assert_eq!(
            e.to_string(),
            "ResourceNotFound (404): The thing was not found — GET /subscriptions/s/resourceGroups/rg (request id req-1, correlation id corr-1)"
        );
        let c = ArmError::Credential {
            tried: vec![
                (
                    "environment".into(),
                    "AZURE_CLIENT_SECRET is not set".into(),
                ),
                ("azure-cli".into(), "az not found.".into()),
            ],
        };
        assert_eq!(
            c.to_string(),
            "no Azure credential worked; tried environment: AZURE_CLIENT_SECRET is not set; azure-cli: az not found"
        );
        assert!(!c.to_string().contains('\n'));
    }
}
