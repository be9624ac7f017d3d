//! Long-running operations the way each resource provider does them: which headers a write
//! returns, and what the poll endpoints answer at a given time. The provider-specific parts are
//! data ([`LroStyle`]), declared by each kind in its own file; nothing here names a kind.

use crate::ctx::Ctx;
use crate::errors::{ArmError, ArmResult};
use crate::kind::ResPath;
use crate::reply::Reply;
use crate::store::{Operation, Record, State};
use serde_json::{Value, json};

/// Where a provider's poll endpoints live.
#[derive(Debug, Clone, Copy)]
pub enum PollUrls {
    /// `…/subscriptions/{sub}/providers/{ns}/locations/{loc}/{what}/{op}?{query}`, with one
    /// (what, query) for `Azure-AsyncOperation` and one for `Location`.
    Provider {
        /// Provider namespace in the poll URL.
        ns: &'static str,
        /// Path segment and query of the `Azure-AsyncOperation` URL.
        async_op: (&'static str, &'static str),
        /// Path segment and query of the `Location` URL.
        location: (&'static str, &'static str),
    },
    /// `…/subscriptions/{sub}/operationresults/{op}?{query}` (Microsoft.Resources).
    Subscription {
        /// Query string.
        query: &'static str,
    },
    /// `…/subscriptions/{sub}/resourceGroups/{rg}/providers/{ns}/{what}/{op}?{query}` (Private
    /// DNS: `privateDnsOperationStatuses` and `privateDnsOperationResults`). Its status polls
    /// answer 202 (with the poll headers again) while the operation runs, 200 once it is over.
    ResourceGroup {
        /// Provider namespace in the poll URL.
        ns: &'static str,
        /// Path segment and query of the `Azure-AsyncOperation` URL.
        async_op: (&'static str, &'static str),
        /// Path segment and query of the `Location` URL.
        location: (&'static str, &'static str),
    },
}

/// How a resource provider runs its long-running operations.
#[derive(Debug, Clone, Copy)]
pub struct LroStyle {
    /// Poll endpoint URLs.
    pub urls: PollUrls,
    /// The `Retry-After` the provider sends, in seconds before `--time-scale`.
    pub retry_after: f64,
    /// Bounds its API definition puts on `Retry-After`: below the lower one the header is left
    /// out rather than sent with a value the provider's own contract forbids.
    pub retry_bounds: Option<(u64, u64)>,
    /// Whether the status body carries the operation's `name`.
    pub status_name: bool,
    /// Whether the status body carries `startTime` / `endTime`.
    pub status_times: bool,
    /// Whether a finished status body carries `percentComplete: 100`.
    pub percent_complete: bool,
    /// Status of the final `Location` poll of a delete (204, or 200 for some providers).
    pub delete_done: u16,
    /// The word a status body says while the operation runs: `InProgress` (ARM's), or
    /// `Updating` for Azure ML's endpoints (the recordings' `mfeOperationsStatus` polls).
    pub running: &'static str,
}

impl LroStyle {
    /// The Network resource provider's style, shared by every Network kind.
    pub const NETWORK: LroStyle = LroStyle {
        urls: PollUrls::Provider {
            ns: "Microsoft.Network",
            async_op: ("operations", "api-version=2024-03-01"),
            location: ("operationResults", "api-version=2024-03-01"),
        },
        retry_after: 10.0,
        retry_bounds: None,
        status_name: false,
        status_times: false,
        percent_complete: false,
        delete_done: 204,
        running: "InProgress",
    };

    /// The Private DNS provider's style (azure-cli privatedns/*.yaml): a write answers 202 with
    /// both headers on resource-group poll URLs; a status poll answers 202 `InProgress` until
    /// it answers 200 `Succeeded` (or `Failed` with the error, e.g. `PreconditionFailed`).
    pub const PRIVATE_DNS: LroStyle = LroStyle {
        urls: PollUrls::ResourceGroup {
            ns: "Microsoft.Network",
            async_op: ("privateDnsOperationStatuses", "api-version=2024-06-01"),
            location: ("privateDnsOperationResults", "api-version=2024-06-01"),
        },
        retry_after: 10.0,
        retry_bounds: None,
        status_name: false,
        status_times: false,
        percent_complete: false,
        delete_done: 204,
        running: "InProgress",
    };
}

/// The polling headers of a write: `retry-after-ms` with the scaled interval, and
/// `Retry-After` in whole seconds where the provider's contract allows that value.
fn retry_headers(ctx: &Ctx, style: &LroStyle) -> Vec<(String, String)> {
    let c = ctx.cadence(style.retry_after);
    match style.retry_bounds {
        Some((lo, _)) if c.secs() < lo => c.headers(false),
        Some((_, hi)) if c.secs() > hi => {
            let mut h = c.headers(false);
            h.push(("Retry-After".to_string(), hi.to_string()));
            h
        }
        _ => c.headers(true),
    }
}

fn with_headers(mut reply: Reply, headers: Vec<(String, String)>) -> Reply {
    reply.headers.extend(headers);
    reply
}

/// Registers an operation and returns its id.
pub fn start_op(ctx: &mut Ctx, resource_key: &str, secs: f64, delete: bool) -> String {
    let until = ctx.now + ctx.scaled(secs);
    start_op_until(ctx, resource_key, until, delete)
}

/// [`start_op`] for an operation that ends at `until` (emulator time), not after a duration.
pub fn start_op_until(ctx: &mut Ctx, resource_key: &str, until: f64, delete: bool) -> String {
    let id = crate::util::guid();
    let op = Operation {
        resource_key: resource_key.to_ascii_lowercase(),
        start: ctx.now,
        until,
        error: ctx.fail_lro.clone(),
        delete,
    };
    ctx.st.operations.insert(id.clone(), op);
    id
}

/// Poll URLs of a provider for an operation: (Azure-AsyncOperation, Location).
pub fn poll_urls(
    ctx: &Ctx,
    style: &LroStyle,
    sub: &str,
    location: &str,
    op: &str,
) -> (String, String) {
    let b = &ctx.base;
    match style.urls {
        PollUrls::Provider {
            ns,
            async_op,
            location: loc,
        } => {
            let p = |(what, q): (&str, &str)| {
                format!(
                    "{b}/subscriptions/{sub}/providers/{ns}/locations/{location}/{what}/{op}?{q}"
                )
            };
            (p(async_op), p(loc))
        }
        PollUrls::Subscription { query } => {
            let l = format!("{b}/subscriptions/{sub}/operationresults/{op}?{query}");
            (l.clone(), l)
        }
        // `location` is the resource group here.
        PollUrls::ResourceGroup {
            ns,
            async_op,
            location: loc,
        } => {
            let p = |(what, q): (&str, &str)| {
                format!(
                    "{b}/subscriptions/{sub}/resourceGroups/{location}/providers/{ns}/{what}/{op}?{q}"
                )
            };
            (p(async_op), p(loc))
        }
    }
}

/// Adds `Azure-AsyncOperation` (and `Location` when `with_location`) and `Retry-After`.
pub fn with_async_headers(
    ctx: &Ctx,
    reply: Reply,
    style: &LroStyle,
    sub: &str,
    location: &str,
    op: &str,
    with_location: bool,
) -> Reply {
    let (ao, loc) = poll_urls(ctx, style, sub, location, op);
    let mut r = with_headers(
        reply.header("Azure-AsyncOperation", ao),
        retry_headers(ctx, style),
    );
    if with_location {
        r = r.header("Location", loc);
    }
    r
}

/// Adds a `Location` poll header (and `Retry-After`).
pub fn with_location_header(
    ctx: &Ctx,
    reply: Reply,
    style: &LroStyle,
    sub: &str,
    location: &str,
    op: &str,
) -> Reply {
    let (_, loc) = poll_urls(ctx, style, sub, location, op);
    with_headers(reply.header("Location", loc), retry_headers(ctx, style))
}

/// Delete as an LRO taking `secs`: 202 + `Azure-AsyncOperation` + `Location`; 204 when absent.
pub fn async_delete(ctx: &mut Ctx, rp: &ResPath, style: &LroStyle, secs: f64) -> ArmResult<Reply> {
    let id = rp.id();
    let Some(rec) = ctx.st.get(&id) else {
        return Ok(Reply::empty(204));
    };
    let location = rec.location().to_string();
    let fail = ctx.fail_lro.is_some();
    let op = start_op(ctx, &id, secs, true);
    let until = ctx.now + ctx.scaled(secs);
    if !fail && let Some(rec) = ctx.st.get_mut(&id) {
        rec.deleting_until = Some(until);
    }
    mark_children_deleting(ctx, &id, until, fail);
    let reply = Reply::empty(202);
    Ok(with_async_headers(
        ctx, reply, style, &rp.sub, &location, &op, true,
    ))
}

/// Children of a deleted resource go with it.
pub fn mark_children_deleting(ctx: &mut Ctx, id: &str, until: f64, fail: bool) {
    if fail {
        return;
    }
    let prefix = format!("{}/", id.to_ascii_lowercase());
    for (k, r) in ctx.st.resources_mut().iter_mut() {
        if k.starts_with(&prefix) && r.deleting_until.is_none() {
            r.deleting_until = Some(until);
        }
    }
}

/// Answers a poll endpoint for operation `op_id` (`op`) of a provider with `style`.
///
/// `what` is the last-but-one path segment (`operations`, `operationResults`,
/// `asyncoperations`, …) and decides between the Azure-AsyncOperation shape (200 with a
/// status body) and the Location shape (202 until done, then 200/204). `render` gives the
/// body of a resource, for the providers whose final poll returns it.
pub fn poll(
    ctx: &mut Ctx,
    style: &LroStyle,
    what: &str,
    op_id: &str,
    op: &Operation,
    render: fn(&State, &Record, f64) -> Value,
) -> ArmResult<Reply> {
    let status = op.status(ctx.now);
    let what = what.to_ascii_lowercase();
    let location_style = what == "operationresults"
        || what == "privatednsoperationresults"
        || what == "asyncoperations"
        || ctx.query("type").is_some_and(|t| t == "location");
    // Polls in progress advise the provider's interval too (unbounded: the definitions
    // declare no poll operations).
    let retry = ctx.cadence(style.retry_after).headers(true);
    if location_style {
        if status == "InProgress" {
            let self_url = ctx.self_url.clone();
            return Ok(with_headers(
                Reply::empty(202).header("Location", self_url),
                retry,
            ));
        }
        if let Some((code, message)) = &op.error {
            return Err(ArmError::new(500, code, message.clone()));
        }
        if what == "asyncoperations" && !op.delete {
            // Storage answers the final poll with the resource itself.
            if let Some(rec) = ctx.st.get(&op.resource_key) {
                let body = render(ctx.st, rec, ctx.now);
                return Ok(Reply::json(200, body));
            }
        }
        let done = if op.delete { style.delete_done } else { 200 };
        return Ok(Reply::empty(done));
    }
    let mut body = serde_json::Map::new();
    if style.status_name {
        body.insert("name".into(), json!(op_id));
    }
    body.insert(
        "status".into(),
        json!(if status == "InProgress" {
            style.running
        } else {
            status
        }),
    );
    if style.status_times {
        body.insert("startTime".into(), json!(crate::util::timestamp(op.start)));
        if status != "InProgress" {
            body.insert("endTime".into(), json!(crate::util::timestamp(op.until)));
        }
    }
    if style.percent_complete && status == "Succeeded" {
        body.insert("percentComplete".into(), json!(100.0));
    } else if style.percent_complete && status == "InProgress" {
        body.insert("percentComplete".into(), json!(0.0));
    }
    if let Some((code, message)) = &op.error
        && status == "Failed"
    {
        body.insert(
            "error".into(),
            json!({"code": code, "message": message, "details": []}),
        );
    }
    let running = status == "InProgress";
    let accepted_while_running = matches!(style.urls, PollUrls::ResourceGroup { .. });
    let mut reply = Reply::json(
        if running && accepted_while_running {
            202
        } else {
            200
        },
        Value::Object(body),
    );
    if running {
        if accepted_while_running {
            let self_url = ctx.self_url.clone();
            reply = reply.header("Azure-AsyncOperation", self_url);
        }
        reply = with_headers(reply, retry);
    }
    Ok(reply)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ML_LIKE: LroStyle = LroStyle {
        retry_after: 15.0,
        retry_bounds: Some((10, 600)),
        ..LroStyle::NETWORK
    };

    fn headers(scale: f64, style: &LroStyle) -> Vec<(String, String)> {
        let mut st = State::default();
        let ctx = Ctx {
            st: &mut st,
            now: 0.0,
            scale,
            base: String::new(),
            fail_lro: None,
            query: Vec::new(),
            self_url: String::new(),
            seed: None,
            if_none_match: false,
            replication_secs: 0.0,
        };
        retry_headers(&ctx, style)
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn bounded_retry_after_is_left_out_but_the_cadence_is_not() {
        assert_eq!(
            headers(0.01, &ML_LIKE),
            h(&[("retry-after-ms", "150")]),
            "below the definitions' minimum of 10 s only the ms header is sent"
        );
        assert_eq!(
            headers(1.0, &ML_LIKE),
            h(&[("retry-after-ms", "15000"), ("Retry-After", "15")])
        );
        assert_eq!(
            headers(100.0, &ML_LIKE),
            h(&[("retry-after-ms", "1500000"), ("Retry-After", "600")])
        );
        assert_eq!(
            headers(0.01, &LroStyle::NETWORK),
            h(&[("retry-after-ms", "100"), ("Retry-After", "1")])
        );
    }
}
