//! Long-running operations the way each resource provider does them: which headers a write
//! returns, and what the poll endpoints answer at a given time.

use crate::errors::{ArmError, ArmResult};
use crate::kinds::{self, Ctx, Kind, ResPath};
use crate::store::Operation;
use serde_json::{Value, json};

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

/// Base `Retry-After` in seconds by kind, before scaling.
fn retry_base(kind: Kind) -> f64 {
    match kind {
        Kind::StorageAccount => 17.0,
        Kind::ManagedCluster => 30.0,
        Kind::MlWorkspace | Kind::MlCompute => 15.0,
        Kind::ResourceGroup => 15.0,
        _ => 10.0,
    }
}

/// The `Retry-After` header for a write, if any.
///
/// The ML definitions bound `Retry-After` to 10..=600 seconds, so at small time scales the
/// ML provider omits it rather than send a value its own contract forbids.
fn retry_header(ctx: &Ctx, kind: Kind) -> Option<String> {
    let secs = ctx.retry_after(retry_base(kind));
    match kind {
        Kind::MlWorkspace | Kind::MlCompute if secs < 10 => None,
        Kind::MlWorkspace | Kind::MlCompute => Some(secs.min(600).to_string()),
        _ => Some(secs.to_string()),
    }
}

/// Registers an operation and returns its id.
pub fn start_op(ctx: &mut Ctx, resource_key: &str, secs: f64, delete: bool) -> String {
    let id = crate::util::guid();
    let op = Operation {
        resource_key: resource_key.to_ascii_lowercase(),
        start: ctx.now,
        until: ctx.now + ctx.scaled(secs),
        error: ctx.fail_lro.clone(),
        delete,
    };
    ctx.st.operations.insert(id.clone(), op);
    id
}

/// Poll URLs of a provider for an operation: (Azure-AsyncOperation, Location).
pub fn poll_urls(ctx: &Ctx, kind: Kind, sub: &str, location: &str, op: &str) -> (String, String) {
    let b = &ctx.base;
    let p = |ns: &str, what: &str, q: &str| {
        format!("{b}/subscriptions/{sub}/providers/{ns}/locations/{location}/{what}/{op}?{q}")
    };
    match kind {
        Kind::ManagedCluster => (
            p(
                "Microsoft.ContainerService",
                "operations",
                "api-version=2016-03-30",
            ),
            p(
                "Microsoft.ContainerService",
                "operationresults",
                "api-version=2016-03-30",
            ),
        ),
        Kind::MlCompute => (
            p(
                "Microsoft.MachineLearningServices",
                "computeOperationsStatus",
                "api-version=2024-04-01&service=new",
            ),
            p(
                "Microsoft.MachineLearningServices",
                "computeOperationsStatus",
                "api-version=2024-04-01&service=new&type=location",
            ),
        ),
        Kind::MlWorkspace => (
            p(
                "Microsoft.MachineLearningServices",
                "workspaceOperationsStatus",
                "api-version=2024-04-01&type=async",
            ),
            p(
                "Microsoft.MachineLearningServices",
                "workspaceOperationsStatus",
                "api-version=2024-04-01&type=location",
            ),
        ),
        Kind::StorageAccount => {
            let l = p(
                "Microsoft.Storage",
                "asyncoperations",
                "monitor=true&api-version=2023-05-01",
            );
            (l.clone(), l)
        }
        Kind::ContainerRegistry => (
            p(
                "Microsoft.ContainerRegistry",
                "operationStatuses",
                "api-version=2023-07-01",
            ),
            p(
                "Microsoft.ContainerRegistry",
                "operationResults",
                "api-version=2023-07-01",
            ),
        ),
        Kind::KeyVault => {
            let l = p(
                "Microsoft.KeyVault",
                "operationResults",
                "api-version=2023-07-01",
            );
            (l.clone(), l)
        }
        Kind::ResourceGroup => {
            let l = format!("{b}/subscriptions/{sub}/operationresults/{op}?api-version=2024-07-01");
            (l.clone(), l)
        }
        _ => (
            p("Microsoft.Network", "operations", "api-version=2024-03-01"),
            p(
                "Microsoft.Network",
                "operationResults",
                "api-version=2024-03-01",
            ),
        ),
    }
}

/// Adds `Azure-AsyncOperation` (and `Location` when `with_location`) and `Retry-After`.
pub fn with_async_headers(
    ctx: &Ctx,
    reply: Reply,
    kind: Kind,
    sub: &str,
    location: &str,
    op: &str,
    with_location: bool,
) -> Reply {
    let (ao, loc) = poll_urls(ctx, kind, sub, location, op);
    let mut r = reply.header("Azure-AsyncOperation", ao);
    if let Some(v) = retry_header(ctx, kind) {
        r = r.header("Retry-After", v);
    }
    if with_location {
        r = r.header("Location", loc);
    }
    r
}

/// Adds a `Location` poll header (and `Retry-After`).
pub fn with_location_header(
    ctx: &Ctx,
    reply: Reply,
    kind: Kind,
    sub: &str,
    location: &str,
    op: &str,
) -> Reply {
    let (_, loc) = poll_urls(ctx, kind, sub, location, op);
    let r = reply.header("Location", loc);
    match retry_header(ctx, kind) {
        Some(v) => r.header("Retry-After", v),
        None => r,
    }
}

/// Delete as an LRO: 202 + `Azure-AsyncOperation` + `Location`; 204 when absent.
pub fn async_delete(ctx: &mut Ctx, rp: &ResPath) -> ArmResult<Reply> {
    let id = rp.id();
    let Some(rec) = ctx.st.get(&id) else {
        return Ok(Reply::empty(204));
    };
    let location = rec.location().to_string();
    let secs = kinds::delete_seconds(rp.kind);
    let fail = ctx.fail_lro.is_some();
    let op = start_op(ctx, &id, secs, true);
    let until = ctx.now + ctx.scaled(secs);
    if !fail && let Some(rec) = ctx.st.get_mut(&id) {
        rec.deleting_until = Some(until);
    }
    mark_children_deleting(ctx, &id, until, fail);
    let reply = Reply::empty(202);
    Ok(with_async_headers(
        ctx, reply, rp.kind, &rp.sub, &location, &op, true,
    ))
}

/// Children of a deleted resource go with it.
pub fn mark_children_deleting(ctx: &mut Ctx, id: &str, until: f64, fail: bool) {
    if fail {
        return;
    }
    let prefix = format!("{}/", id.to_ascii_lowercase());
    for (k, r) in ctx.st.resources.iter_mut() {
        if k.starts_with(&prefix) && r.deleting_until.is_none() {
            r.deleting_until = Some(until);
        }
    }
}

/// Answers a poll endpoint.
///
/// `what` is the last-but-one path segment (`operations`, `operationResults`,
/// `asyncoperations`, …) and decides between the Azure-AsyncOperation shape (200 with a
/// status body) and the Location shape (202 until done, then 200/204).
pub fn poll(ctx: &mut Ctx, ns: &str, what: &str, op_id: &str) -> ArmResult<Reply> {
    let Some(op) = ctx.st.operations.get(op_id).cloned() else {
        return Err(ArmError::new(
            404,
            "OperationNotFound",
            format!("The operation '{op_id}' could not be found."),
        ));
    };
    let status = op.status(ctx.now);
    let what = what.to_ascii_lowercase();
    let location_style = what == "operationresults"
        || what == "asyncoperations"
        || ctx.query("type").is_some_and(|t| t == "location");
    let kind = kinds::parse_id(&op.resource_key).map(|p| p.kind).unwrap_or(
        if ns.eq_ignore_ascii_case("resources") {
            Kind::ResourceGroup
        } else {
            Kind::VirtualNetwork
        },
    );
    let retry = ctx.retry_after(retry_base(kind)).to_string();
    if location_style {
        if status == "InProgress" {
            let self_url = ctx.self_url.clone();
            return Ok(Reply::empty(202)
                .header("Location", self_url)
                .header("Retry-After", retry));
        }
        if let Some((code, message)) = &op.error {
            return Err(ArmError::new(500, code, message.clone()));
        }
        if what == "asyncoperations" && !op.delete {
            // Storage answers the final poll with the resource itself.
            if let Some(rec) = ctx.st.get(&op.resource_key) {
                let body = kinds::render(ctx.st, rec, ctx.now);
                return Ok(Reply::json(200, body));
            }
        }
        let done = if op.delete && kind != Kind::ResourceGroup && kind != Kind::KeyVault {
            204
        } else {
            200
        };
        return Ok(Reply::empty(done));
    }
    let mut body = serde_json::Map::new();
    if kind == Kind::ManagedCluster || kind == Kind::ContainerRegistry {
        body.insert("name".into(), json!(op_id));
    }
    body.insert("status".into(), json!(status));
    if kind == Kind::ManagedCluster {
        body.insert("startTime".into(), json!(crate::util::timestamp(op.start)));
        if status != "InProgress" {
            body.insert("endTime".into(), json!(crate::util::timestamp(op.until)));
        }
    }
    if kind == Kind::MlCompute && status == "Succeeded" {
        body.insert("percentComplete".into(), json!(100.0));
    }
    if let Some((code, message)) = &op.error
        && status == "Failed"
    {
        body.insert(
            "error".into(),
            json!({"code": code, "message": message, "details": []}),
        );
    }
    let mut reply = Reply::json(200, Value::Object(body));
    if status == "InProgress" {
        reply = reply.header("Retry-After", retry);
    }
    Ok(reply)
}
