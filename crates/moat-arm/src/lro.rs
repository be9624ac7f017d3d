//! ARM long-running operations (BEHAVIOR.md §1.3): how a write's first answer says where to
//! poll, how each poll answer is read, per-type time limits, and the serializable resume token
//! that lets a crashed apply pick up polling where it stopped.
//!
//! The network side (sending polls, sleeping) lives in `client.rs`; everything here is pure.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ErrorDetail, detail_from_value};

/// The HTTP methods moat sends to ARM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Method {
    /// Read.
    Get,
    /// Create or replace.
    Put,
    /// Partial update.
    Patch,
    /// Delete.
    Delete,
    /// Action (`…/listKeys`, `…/abort`).
    Post,
}

impl Method {
    /// The method's name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Post => "POST",
        }
    }

    pub(crate) fn sdk(self) -> azure_core::http::Method {
        match self {
            Method::Get => azure_core::http::Method::Get,
            Method::Put => azure_core::http::Method::Put,
            Method::Patch => azure_core::http::Method::Patch,
            Method::Delete => azure_core::http::Method::Delete,
            Method::Post => azure_core::http::Method::Post,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the state of an operation is read from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Poll {
    /// Poll the `Azure-AsyncOperation` URL for a `status`; `location` is kept because a POST's
    /// result is read from it once the operation succeeded.
    AsyncOperation {
        /// The opaque status URL.
        url: String,
        /// The `Location` header of the same answer, if any.
        location: Option<String>,
    },
    /// Poll the `Location` URL until it stops answering 202.
    Location {
        /// The opaque URL.
        url: String,
    },
    /// No operation URL: GET the resource until `provisioningState` is terminal (Key Vault's
    /// `RegisteringDns`, or any synchronous PUT).
    ProvisioningState,
    /// A 202 DELETE without headers: GET the resource until it is gone.
    ResourceGone,
    /// Finished with the first answer.
    Done,
}

/// A started write: the resume token the engine records, so that after a crash it can call
/// `wait` again and keep polling the same operation instead of issuing the write twice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operation {
    /// The write's method.
    pub method: Method,
    /// The ARM id written (for POST, the action path).
    pub id: String,
    /// The api-version of the write, reused for the final GET.
    pub api_version: String,
    /// Where to poll.
    pub poll: Poll,
    /// When ARM accepted the write, milliseconds since the Unix epoch (time limits count from here).
    pub started_at_unix_ms: u64,
    /// ARM resource type (`Microsoft.Network/virtualNetworks`), which picks the time limit.
    pub resource_type: String,
}

impl Operation {
    /// How long this operation has been running.
    pub fn elapsed(&self) -> Duration {
        let started = UNIX_EPOCH + Duration::from_millis(self.started_at_unix_ms);
        SystemTime::now()
            .duration_since(started)
            .unwrap_or(Duration::ZERO)
    }

    /// The ARM id of the resource itself: the id without a trailing action segment.
    pub fn resource_id(&self) -> &str {
        resource_id_of(&self.id)
    }
}

pub(crate) fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Per-resource-type time limits for long-running operations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// The limit for types not listed in `by_type`.
    pub default: Duration,
    /// Limits by resource type or provider-namespace prefix, compared case-insensitively; the
    /// longest matching prefix wins (`Microsoft.Network` covers every Network type).
    pub by_type: BTreeMap<String, Duration>,
}

impl Default for Timeouts {
    fn default() -> Self {
        let min = |m: u64| Duration::from_secs(m * 60);
        Timeouts {
            default: min(60),
            by_type: BTreeMap::from([
                (
                    "Microsoft.ContainerService/managedClusters".to_owned(),
                    min(90),
                ),
                (
                    "Microsoft.MachineLearningServices/workspaces/computes".to_owned(),
                    min(30),
                ),
                ("Microsoft.Network".to_owned(), min(30)),
            ]),
        }
    }
}

impl Timeouts {
    /// The limit for `resource_type`.
    pub fn for_type(&self, resource_type: &str) -> Duration {
        let wanted = resource_type.to_ascii_lowercase();
        self.by_type
            .iter()
            .filter(|(prefix, _)| {
                let prefix = prefix.to_ascii_lowercase();
                wanted == prefix
                    || (wanted.starts_with(&prefix)
                        && wanted.as_bytes().get(prefix.len()) == Some(&b'/'))
            })
            .max_by_key(|(prefix, _)| prefix.len())
            .map_or(self.default, |(_, limit)| *limit)
    }
}

/// The resource type of an ARM id: `Microsoft.Resources/resourceGroups` for a group,
/// `Microsoft.Network/virtualNetworks/subnets` for a subnet. A trailing action segment
/// (`…/clusters/c1/abort`) is ignored.
pub fn resource_type_of(id: &str) -> String {
    let segments: Vec<&str> = id.split('/').filter(|s| !s.is_empty()).collect();
    let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    if let Some(p) = lower.iter().rposition(|s| s == "providers")
        && let Some(namespace) = segments.get(p + 1)
    {
        let rest = &segments[(p + 2).min(segments.len())..];
        let types: Vec<&str> = rest
            .chunks(2)
            .filter(|c| c.len() == 2)
            .map(|c| c[0])
            .collect();
        if types.is_empty() {
            return (*namespace).to_owned();
        }
        return format!("{namespace}/{}", types.join("/"));
    }
    match lower.iter().position(|s| s == "resourcegroups") {
        Some(_) => "Microsoft.Resources/resourceGroups".to_owned(),
        None if lower.first().is_some_and(|s| s == "subscriptions") => {
            "Microsoft.Resources/subscriptions".to_owned()
        }
        None => String::new(),
    }
}

/// The id without a trailing action segment (`…/managedClusters/c1/abort` → `…/c1`).
pub fn resource_id_of(id: &str) -> &str {
    let trimmed = id.trim_end_matches('/');
    let segments: Vec<&str> = trimmed.split('/').filter(|s| !s.is_empty()).collect();
    let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    let odd = match lower.iter().rposition(|s| s == "providers") {
        Some(p) => segments.len().saturating_sub(p + 2) % 2 == 1,
        // `/subscriptions/s/resourceGroups/rg` has an even count; an action makes it odd.
        None => segments.len() % 2 == 1,
    };
    if odd {
        trimmed.rsplit_once('/').map_or(trimmed, |(head, _)| head)
    } else {
        trimmed
    }
}

/// Builds the resume token from the write's first answer (rules 1–3 of BEHAVIOR.md §1.3).
pub(crate) fn operation_from_response(
    method: Method,
    id: &str,
    api_version: &str,
    status: u16,
    async_operation: Option<&str>,
    location: Option<&str>,
) -> Operation {
    let poll = if let Some(url) = async_operation.filter(|u| !u.is_empty()) {
        Poll::AsyncOperation {
            url: url.to_owned(),
            location: location.filter(|u| !u.is_empty()).map(str::to_owned),
        }
    } else if let Some(url) = location.filter(|u| !u.is_empty() && status == 202) {
        Poll::Location {
            url: url.to_owned(),
        }
    } else {
        match method {
            Method::Put | Method::Patch => Poll::ProvisioningState,
            Method::Delete if status == 202 => Poll::ResourceGone,
            Method::Delete | Method::Post | Method::Get => Poll::Done,
        }
    };
    Operation {
        method,
        id: id.to_owned(),
        api_version: api_version.to_owned(),
        poll,
        started_at_unix_ms: now_unix_ms(),
        resource_type: resource_type_of(id),
    }
}

/// How one poll answer reads.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum PollState {
    /// Keep polling.
    InProgress,
    /// Finished well; the body, when the answer carried one.
    Succeeded(Option<Value>),
    /// Ended `Failed` or `Canceled`, with the operation's error.
    Failed { status: String, error: ErrorDetail },
}

fn terminal(status: &str, body: &Value, what: &str) -> PollState {
    match status.to_ascii_lowercase().as_str() {
        "succeeded" => PollState::Succeeded(Some(body.clone())),
        "failed" | "canceled" | "cancelled" => {
            let mut error = body
                .get("error")
                .or_else(|| body.pointer("/properties/error"))
                .map(detail_from_value)
                .unwrap_or_default();
            if error.code.is_empty() {
                error.code = if status.eq_ignore_ascii_case("failed") {
                    "OperationFailed".to_owned()
                } else {
                    "OperationCanceled".to_owned()
                };
            }
            if error.message.is_empty() {
                error.message = format!("the {what} reports `{status}` with no error details");
            }
            PollState::Failed {
                status: capitalized(status),
                error,
            }
        }
        _ => PollState::InProgress,
    }
}

fn capitalized(status: &str) -> String {
    match status.to_ascii_lowercase().as_str() {
        "failed" => "Failed".to_owned(),
        _ => "Canceled".to_owned(),
    }
}

fn provisioning_state(body: &Value) -> Option<&str> {
    body.pointer("/properties/provisioningState")
        .and_then(Value::as_str)
}

/// Reads a 200 answer of an `Azure-AsyncOperation` URL (`{"status": …, "error": …}`).
pub(crate) fn read_async_operation(body: &Value) -> PollState {
    match body.get("status").and_then(Value::as_str) {
        Some(status) => terminal(status, body, "operation"),
        // Some services answer with the resource itself; its state is then the status.
        None => match provisioning_state(body) {
            Some(state) => terminal(state, body, "operation"),
            None => PollState::InProgress,
        },
    }
}

/// Reads an answer of a `Location` URL: 202 keeps going, any other 2xx is the end, unless
/// its body says the operation failed.
pub(crate) fn read_location(status: u16, body: Option<&Value>) -> PollState {
    if status == 202 {
        return PollState::InProgress;
    }
    let Some(body) = body else {
        return PollState::Succeeded(None);
    };
    let state = body
        .get("status")
        .and_then(Value::as_str)
        .or_else(|| provisioning_state(body));
    match state.map(|s| terminal(s, body, "operation")) {
        Some(failed @ PollState::Failed { .. }) => failed,
        _ => PollState::Succeeded(Some(body.clone())),
    }
}

/// Reads a GET of the resource while waiting for a terminal `provisioningState`; a resource
/// without one is ready.
pub(crate) fn read_resource(body: &Value) -> PollState {
    match provisioning_state(body) {
        Some(state) => terminal(state, body, "resource's provisioningState"),
        None => PollState::Succeeded(Some(body.clone())),
    }
}

/// True while a DELETE is still running on the resource.
pub(crate) fn is_deleting(body: &Value) -> bool {
    provisioning_state(body).is_some_and(|s| s.eq_ignore_ascii_case("deleting"))
}

/// True when the resource shows a write still running (`Creating`, `Updating`, …).
pub(crate) fn is_transitioning(body: &Value) -> bool {
    matches!(read_resource(body), PollState::InProgress)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const VNET: &str =
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v";

    #[test]
    fn resource_types() {
        assert_eq!(resource_type_of(VNET), "Microsoft.Network/virtualNetworks");
        assert_eq!(
            resource_type_of(&format!("{VNET}/subnets/a")),
            "Microsoft.Network/virtualNetworks/subnets"
        );
        assert_eq!(
            resource_type_of("/subscriptions/s/resourceGroups/rg"),
            "Microsoft.Resources/resourceGroups"
        );
        assert_eq!(
            resource_type_of(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/c/abort"
            ),
            "Microsoft.ContainerService/managedClusters"
        );
    }

    #[test]
    fn resource_ids_drop_actions() {
        assert_eq!(resource_id_of(VNET), VNET);
        assert_eq!(resource_id_of(&format!("{VNET}/listKeys")), VNET);
        assert_eq!(
            resource_id_of("/subscriptions/s/resourceGroups/rg/exportTemplate"),
            "/subscriptions/s/resourceGroups/rg"
        );
        assert_eq!(
            resource_id_of("/subscriptions/s/resourceGroups/rg"),
            "/subscriptions/s/resourceGroups/rg"
        );
    }

    #[test]
    fn timeouts_by_type() {
        let t = Timeouts::default();
        let min = |m: u64| Duration::from_secs(m * 60);
        assert_eq!(
            t.for_type("Microsoft.ContainerService/managedClusters"),
            min(90)
        );
        assert_eq!(
            t.for_type("microsoft.containerservice/managedclusters/agentPools"),
            min(90)
        );
        assert_eq!(
            t.for_type("Microsoft.MachineLearningServices/workspaces/computes"),
            min(30)
        );
        assert_eq!(
            t.for_type("Microsoft.Network/virtualNetworks/subnets"),
            min(30)
        );
        assert_eq!(t.for_type("Microsoft.NetworkFunction/x"), min(60));
        assert_eq!(t.for_type("Microsoft.KeyVault/vaults"), min(60));
    }

    #[test]
    fn choosing_the_poll_kind() {
        let op = |m, s, ao, loc| operation_from_response(m, VNET, "2024-03-01", s, ao, loc).poll;
        assert_eq!(
            op(Method::Put, 201, Some("https://a/op"), None),
            Poll::AsyncOperation {
                url: "https://a/op".into(),
                location: None
            }
        );
        assert!(matches!(
            op(
                Method::Delete,
                202,
                Some("https://a/op"),
                Some("https://a/loc")
            ),
            Poll::AsyncOperation {
                location: Some(_),
                ..
            }
        ));
        assert_eq!(
            op(Method::Put, 202, None, Some("https://a/loc")),
            Poll::Location {
                url: "https://a/loc".into()
            }
        );
        assert_eq!(op(Method::Put, 200, None, None), Poll::ProvisioningState);
        assert_eq!(op(Method::Delete, 200, None, None), Poll::Done);
        assert_eq!(op(Method::Delete, 202, None, None), Poll::ResourceGone);
        assert_eq!(op(Method::Post, 200, None, None), Poll::Done);
    }

    #[test]
    fn resume_token_round_trips() {
        let op = operation_from_response(
            Method::Put,
            VNET,
            "2024-03-01",
            201,
            Some("https://management.azure.com/x?t=1&s=2"),
            None,
        );
        let text = serde_json::to_string(&op).expect("serialize");
        let back: Operation = serde_json::from_str(&text).expect("deserialize");
        assert_eq!(back, op);
        assert_eq!(back.resource_type, "Microsoft.Network/virtualNetworks");
        assert!(back.elapsed() < Duration::from_secs(60));
    }

    #[test]
    fn reading_poll_answers() {
        assert_eq!(
            read_async_operation(&json!({"status": "InProgress"})),
            PollState::InProgress
        );
        assert!(matches!(
            read_async_operation(&json!({"status": "succeeded"})),
            PollState::Succeeded(_)
        ));
        let failed = read_async_operation(
            &json!({"status": "Failed", "error": {"code": "X", "message": "m"}}),
        );
        assert_eq!(
            failed,
            PollState::Failed {
                status: "Failed".into(),
                error: ErrorDetail {
                    code: "X".into(),
                    message: "m".into(),
                    ..ErrorDetail::default()
                }
            }
        );
        assert!(matches!(
            read_async_operation(&json!({"status": "Canceled"})),
            PollState::Failed { ref status, .. } if status == "Canceled"
        ));
        assert_eq!(read_location(202, None), PollState::InProgress);
        assert_eq!(read_location(204, None), PollState::Succeeded(None));
        assert!(matches!(
            read_location(
                200,
                Some(&json!({"properties": {"provisioningState": "Failed"}}))
            ),
            PollState::Failed { .. }
        ));
        assert_eq!(
            read_resource(&json!({"properties": {"provisioningState": "RegisteringDns"}})),
            PollState::InProgress
        );
        assert!(matches!(
            read_resource(&json!({"name": "rg"})),
            PollState::Succeeded(_)
        ));
        assert!(is_deleting(
            &json!({"properties": {"provisioningState": "Deleting"}})
        ));
        assert!(is_transitioning(
            &json!({"properties": {"provisioningState": "Updating"}})
        ));
    }
}
