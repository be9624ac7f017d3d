//! The HTTP side: routing of ARM paths, authentication, latency, faults, throttling,
//! recording and persistence around the kind handlers.

use crate::ctx::{Ctx, View};
use crate::errors::{ArmError, ArmResult};
use crate::faults::{Fault, FaultState};
use crate::kind::{self, Kind, RESOURCES_API, ResPath, rg_id};
use crate::kinds;
use crate::record::{Exchange, Recorder};
use crate::reply::Reply;
use crate::store::{Record, State};
use crate::throttle::{Class, Limits, Taken, Throttle};
use crate::{Stats, service_tags, util};
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Response, StatusCode};
use http_body::{Body as HttpBody, Frame};
use serde_json::Value;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::task::{Context, Poll};

/// Everything the request handler shares.
pub struct Shared {
    /// The emulated cloud: lists read it side by side, everything else holds it alone.
    pub state: RwLock<State>,
    /// Fault rules and counters.
    pub faults: Mutex<FaultState>,
    /// Throttling buckets.
    pub throttle: Mutex<Throttle>,
    /// Counters.
    pub stats: Mutex<Stats>,
    /// `--time-scale`.
    pub time_scale: f64,
    /// `--seed` of the provisioning durations.
    pub seed: Option<u64>,
    /// `--replication-delay`: seconds a new principal stays invisible to role assignments.
    pub replication_secs: f64,
    /// Throttling limits.
    pub limits: Limits,
    /// Added latency, microseconds (changed at run time by `SimHandle::set_latency`).
    pub latency_us: std::sync::atomic::AtomicU64,
    /// `--state` file.
    pub state_file: Option<PathBuf>,
    /// `--record` directory.
    pub recorder: Option<Recorder>,
}

/// Locks a mutex; a panic in another request must not take the emulator down with it.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Shares a lock with the other readers (as [`lock`], a panic elsewhere does not poison it).
pub fn read<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}

/// Holds a lock alone.
pub fn write<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}

/// A body that fails on first poll, so hyper closes the connection without an answer.
struct DroppedBody;

impl HttpBody for DroppedBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>>
    where
        Self: Sized,
    {
        Poll::Ready(Some(Err(std::io::Error::other(
            "fault: dropped connection",
        ))))
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(
                std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"),
                16,
            )
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(q: Option<&str>) -> Vec<(String, String)> {
    q.unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// Whether a path is an LRO poll endpoint (never recorded: the specs don't define them).
pub fn is_poll(path: &str) -> bool {
    let p = path.to_ascii_lowercase();
    let segs: Vec<&str> = p.trim_matches('/').split('/').collect();
    (segs.len() == 4 && segs[2] == "operationresults")
        || (segs.len() == 8
            && segs[4] == "providers"
            && matches!(
                segs[6],
                "privatednsoperationstatuses" | "privatednsoperationresults"
            ))
        || (segs.len() >= 8
            && segs[4] == "locations"
            && matches!(
                segs[6],
                "operations"
                    | "operationresults"
                    | "asyncoperations"
                    | "workspaceoperationsstatus"
                    | "computeoperationsstatus"
                    | "operationstatuses"
                    | "mfeoperationsstatus"
                    | "mfeoperationresults"
            ))
}

fn subscription_of(path: &str) -> Option<String> {
    let mut it = path.trim_matches('/').split('/');
    match (it.next(), it.next()) {
        (Some(s), Some(sub)) if s.eq_ignore_ascii_case("subscriptions") => Some(sub.to_string()),
        _ => None,
    }
}

fn error_reply(e: ArmError) -> Reply {
    Reply::error(&e)
}

/// Handles one HTTP request.
pub async fn handle(shared: Arc<Shared>, req: Request) -> Response<Body> {
    let (parts, body) = req.into_parts();
    let method = parts.method.as_str().to_ascii_uppercase();
    let raw_path = parts.uri.path().to_string();
    let path = percent_decode(&raw_path);
    let raw_query = parts.uri.query().map(str::to_string);
    let host = parts
        .headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let base = format!("http://{host}");
    let url = match &raw_query {
        Some(q) => format!("{base}{raw_path}?{q}"),
        None => format!("{base}{raw_path}"),
    };
    let req_headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .filter_map(|(k, v)| {
            v.to_str()
                .ok()
                .map(|v| (k.as_str().to_string(), v.to_string()))
        })
        .collect();
    {
        let mut s = lock(&shared.stats);
        *s.requests.entry(method.clone()).or_insert(0) += 1;
    }
    let latency = shared.latency_us.load(std::sync::atomic::Ordering::Relaxed);
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_micros(latency)).await;
    }
    let body_bytes = axum::body::to_bytes(body, 64 * 1024 * 1024)
        .await
        .unwrap_or_default();

    let mut fail_lro = None;
    let mut injected = false;
    let reply = 'reply: {
        let auth = parts
            .headers
            .get("authorization")
            .and_then(|h| h.to_str().ok());
        let token_ok = auth.is_some_and(|a| {
            a.len() > 7 && a[..7].eq_ignore_ascii_case("bearer ") && !a[7..].trim().is_empty()
        });
        if !token_ok {
            let msg = if auth.is_none() {
                "Authentication failed. The 'Authorization' header is missing."
            } else {
                "Authentication failed. The 'Authorization' header is provided in an invalid format."
            };
            break 'reply error_reply(ArmError::new(401, "AuthenticationFailed", msg)).header(
                "WWW-Authenticate",
                "Bearer authorization_uri=\"https://login.microsoftonline.com/common\", error=\"invalid_token\", error_description=\"The authentication failed because of missing 'Authorization' header.\"",
            );
        }
        let fault = lock(&shared.faults).pick(&method, &path);
        if let Some(f) = fault {
            lock(&shared.stats).faults_injected += 1;
            match f {
                Fault::Drop => {
                    return Response::builder()
                        .status(StatusCode::OK)
                        .body(Body::new(DroppedBody))
                        .unwrap_or_default();
                }
                Fault::Slow { delay_ms } => {
                    tokio::time::sleep(std::time::Duration::from_millis(delay_ms)).await;
                }
                Fault::FailLro { code, message } => {
                    fail_lro = Some((
                        code.unwrap_or_else(|| "InternalServerError".into()),
                        message.unwrap_or_else(|| "An internal error occurred while processing the operation (fault injected by moat sim).".into()),
                    ));
                }
                Fault::Throttle { retry_after } => {
                    injected = true;
                    break 'reply error_reply(
                        ArmError::new(429, "TooManyRequests", format!("The request is being throttled. Please try again after '{retry_after}' seconds."))
                            .retry_after(retry_after),
                    );
                }
                Fault::Status {
                    status,
                    html,
                    code,
                    message,
                } => {
                    injected = true;
                    if html {
                        let page = format!(
                            "<!DOCTYPE html><html><head><title>{status} Service Unavailable</title></head><body><h1>{status}</h1><p>The service is temporarily unavailable.</p></body></html>"
                        );
                        return build_response(
                            status,
                            vec![("content-type".into(), "text/html".into())],
                            Some(page.into_bytes()),
                        );
                    }
                    break 'reply error_reply(ArmError::new(
                        status,
                        code.as_deref().unwrap_or(if status == 503 {
                            "ServiceUnavailable"
                        } else {
                            "InternalServerError"
                        }),
                        message.unwrap_or_else(|| "An error occurred.".into()),
                    ));
                }
            }
        }
        let class = if crate::throttle::is_resource_request(&method, &path) {
            Class::ResourceRequests
        } else {
            Class::of(&method)
        };
        let sub = subscription_of(&path).unwrap_or_default();
        let now = util::now();
        let remaining = match lock(&shared.throttle).take(&shared.limits, &sub, class, now) {
            Taken::Ok(r) => r,
            Taken::Throttled(wait, label) => {
                break 'reply error_reply(
                    ArmError::new(
                        429,
                        "SubscriptionRequestsThrottled",
                        format!("Number of '{label}' requests for subscription '{sub}' actor 'moat-sim' exceeded. Please try again after '{wait}' seconds after the additional tokens are available. Refer to https://aka.ms/arm-throttling for additional information."),
                    )
                    .retry_after(wait),
                )
                .header(class.header(), "0");
            }
        };
        let parsed: Option<Value> = if body_bytes.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            match serde_json::from_slice(&body_bytes) {
                Ok(v) => Some(v),
                Err(e) => {
                    break 'reply error_reply(ArmError::invalid_content(format!("{e}")));
                }
            }
        };
        let query = parse_query(raw_query.as_deref());
        // A list reads only: it shares the state with the other readers, unless something
        // fell due that the sweep must remove first.
        if method == "GET" {
            let st = read(&shared.state);
            if !st.sweep_due(now) {
                let view = View {
                    st: &st,
                    now,
                    query: &query,
                    self_url: &url,
                };
                if let Some(result) = route_read(&view, &path) {
                    let mut reply = result.unwrap_or_else(error_reply);
                    if let Some(r) = remaining {
                        reply = reply.header(class.header(), r.to_string());
                    }
                    break 'reply reply;
                }
            }
        }
        let mut st = write(&shared.state);
        let held = std::time::Instant::now();
        st.sweep(now);
        let mut ctx = Ctx {
            st: &mut st,
            now,
            scale: shared.time_scale,
            base: base.clone(),
            fail_lro: fail_lro.clone(),
            query,
            self_url: url.clone(),
            seed: shared.seed,
            if_none_match: req_headers
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("if-none-match") && v.trim() == "*"),
            replication_secs: shared.replication_secs,
        };
        let result = route(&mut ctx, &method, &path, parsed);
        let mut reply = result.unwrap_or_else(error_reply);
        if let Some(r) = remaining {
            reply = reply.header(class.header(), r.to_string());
        }
        let mutated = !matches!(method.as_str(), "GET" | "HEAD") && reply.status < 400;
        if mutated
            && let Some(file) = &shared.state_file
            && let Err(e) = st.save(file)
        {
            eprintln!("moat sim: {e}");
        }
        drop(st);
        let micros = u64::try_from(held.elapsed().as_micros()).unwrap_or(u64::MAX);
        lock(&shared.stats).state_lock_micros += micros;
        reply
    };

    let mut reply = reply;
    let request_id = util::guid();
    reply = reply
        .header("x-ms-request-id", request_id.clone())
        .header("x-ms-correlation-request-id", request_id);
    if reply.status == 429 {
        lock(&shared.stats).throttled += 1;
    }
    let content_type = "application/json; charset=utf-8";
    if reply.body.is_some() {
        reply = reply.header("content-type", content_type);
    }
    if let Some(rec) = &shared.recorder
        && !is_poll(&path)
        && !injected
    {
        let req_body = serde_json::from_slice(&body_bytes).ok();
        rec.write(Exchange {
            method: &method,
            url: &url,
            req_headers: req_headers
                .iter()
                .filter(|(k, _)| {
                    k.eq_ignore_ascii_case("content-type")
                        || k.eq_ignore_ascii_case("authorization")
                })
                .cloned()
                .collect(),
            req_body,
            status: reply.status,
            resp_headers: reply.headers.clone(),
            resp_body: reply.body.clone(),
        });
    }
    let bytes = if method == "HEAD" {
        None
    } else {
        reply
            .body
            .as_ref()
            .map(|b| serde_json::to_vec(b).unwrap_or_default())
    };
    build_response(reply.status, reply.headers, bytes)
}

fn build_response(
    status: u16,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
) -> Response<Body> {
    let mut resp = Response::new(match body {
        Some(b) => Body::from(b),
        None => Body::empty(),
    });
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::try_from(k.as_str()),
            HeaderValue::try_from(v.as_str()),
        ) {
            resp.headers_mut().append(k, v);
        }
    }
    resp
}

fn api_version<'a>(ctx: &'a View) -> ArmResult<&'a str> {
    ctx.query("api-version").ok_or_else(|| {
        ArmError::bad_request(
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    })
}

fn check_resources_api(ctx: &View) -> ArmResult<()> {
    let v = api_version(ctx)?;
    if v != RESOURCES_API {
        return Err(ArmError::bad_request(
            "InvalidApiVersionParameter",
            format!(
                "The api-version '{v}' is invalid. The supported versions are '{RESOURCES_API}'."
            ),
        ));
    }
    Ok(())
}

/// Finds the kind for a namespace and type segments and checks the api-version.
fn lookup(ctx: &View, ns: &str, types: &[&str]) -> ArmResult<Kind> {
    if !kind::known_namespace(ns) {
        return Err(ArmError::bad_request(
            "InvalidResourceNamespace",
            format!("The resource namespace '{ns}' is invalid."),
        ));
    }
    let v = api_version(ctx)?;
    let info = kind::find(ns, types).ok_or_else(|| {
        ArmError::bad_request(
            "InvalidResourceType",
            format!("The resource type '{}' could not be found in the namespace '{ns}' for api version '{v}'.", types.join("/")),
        )
    })?;
    if v != info.api {
        return Err(ArmError::bad_request(
            "NoRegisteredProviderFound",
            format!(
                "No registered resource provider found for location 'global' and API version '{v}' for type '{}'. The supported api-versions are '{}'. The supported locations are 'eastus, eastus2, westus, westus2, westus3, centralus, northeurope, westeurope, uksouth, swedencentral'.",
                info.types.join("/"),
                info.api
            ),
        ));
    }
    Ok(info.kind)
}

fn list_of(
    ctx: &View,
    sub: &str,
    rg: Option<&str>,
    kind: Kind,
    parent: Option<String>,
) -> ArmResult<Reply> {
    if let Some(rg) = rg
        && ctx.st.get(&rg_id(sub, rg)).is_none()
    {
        return Err(ArmError::rg_not_found(rg));
    }
    if let Some(pid) = &parent
        && ctx.st.get(pid).is_none()
    {
        let p = kind::parse_id(pid);
        let name = p.as_ref().map(|p| p.names.join("/")).unwrap_or_default();
        return Err(ArmError::resource_not_found(
            kind.parent().unwrap_or(kind).info().type_name,
            &name,
            rg.unwrap_or(""),
        ));
    }
    // A page starts after the last id of the one before: the store is ordered by id, so a
    // page costs its own records (and those of other kinds between them), not the whole
    // group's again for every page.
    let after = ctx.query("$skiptoken").map(str::to_ascii_lowercase);
    let after = after.as_deref();
    let value = match &parent {
        Some(pid) => page(ctx, ctx.st.children_after(pid, kind, after)),
        None => {
            // Ids are stored lower-cased: a group's resources are one range of the store.
            let prefix = match rg {
                Some(g) => format!("/subscriptions/{sub}/resourcegroups/{g}/").to_ascii_lowercase(),
                None => format!("/subscriptions/{sub}/").to_ascii_lowercase(),
            };
            page(
                ctx,
                ctx.st
                    .under_after(prefix, after)
                    .map(|(_, r)| r)
                    .filter(|r| {
                        r.kind == kind
                            && r.sub.eq_ignore_ascii_case(sub)
                            && rg.is_none_or(|g| r.rg.eq_ignore_ascii_case(g))
                    }),
            )
        }
    };
    Ok(Reply::json(200, value))
}

/// Items per page of a typed list. ARM pages every list (`x-ms-pageable`, `nextLink`); the
/// page sizes of the providers are not in the recordings, so one size serves them all.
pub const LIST_PAGE: usize = 100;

/// One page of `items` (in id order, from where the request's `$skiptoken` left off),
/// rendered, with a `nextLink` while items remain: this URL with `$skiptoken` the last id of
/// the page (opaque to clients, as ARM's are). Only the page's own items are rendered:
/// rendering is the costly part, and a list of thousands is read a hundred at a time. What
/// points at them (an NSG's `subnets`) comes from the store's back-reference index, built
/// once per change of the store, not per page.
fn page<'a>(ctx: &View, items: impl Iterator<Item = &'a Record>) -> Value {
    let mut shown: Vec<&Record> = items.take(LIST_PAGE + 1).collect();
    let more = shown.len() > LIST_PAGE;
    shown.truncate(LIST_PAGE);
    if let Some(first) = shown.first() {
        kinds::network::index_back_refs(ctx.st, first.kind, ctx.now);
    }
    let value: Vec<Value> = shown
        .iter()
        .map(|r| kinds::render(ctx.st, r, ctx.now))
        .collect();
    let last = match shown.last() {
        Some(last) if more => last.id.to_ascii_lowercase(),
        _ => return util::list_body(value, None),
    };
    let (head, query) = ctx.self_url.split_once('?').unwrap_or((ctx.self_url, ""));
    let mut pairs: Vec<String> = query
        .split('&')
        .filter(|p| {
            let p = p.to_ascii_lowercase();
            !p.is_empty() && !p.starts_with("$skiptoken=") && !p.starts_with("%24skiptoken=")
        })
        .map(str::to_string)
        .collect();
    pairs.push(format!("$skiptoken={}", percent_encode(&last)));
    util::list_body(
        value,
        Some(Value::String(format!("{head}?{}", pairs.join("&")))),
    )
}

/// `s` with everything but unreserved characters percent-encoded, for a query value.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn not_found_path(path: &str) -> ArmError {
    ArmError::new(
        404,
        "NotFound",
        format!("The requested path '{path}' is not served by this emulator."),
    )
}

/// Routes a request to its handler.
pub fn route(ctx: &mut Ctx, method: &str, path: &str, body: Option<Value>) -> ArmResult<Reply> {
    if method == "GET"
        && let Some(reply) = route_read(&ctx.view(), path)
    {
        return reply;
    }
    let segs = segments(path);
    let is = |i: usize, s: &str| segs.get(i).is_some_and(|x| x.eq_ignore_ascii_case(s));
    if !is(0, "subscriptions") || segs.len() < 2 {
        return Err(not_found_path(path));
    }
    let sub = segs[1].to_string();
    if !util::is_guid(&sub) {
        return Err(ArmError::bad_request(
            "InvalidSubscriptionId",
            format!("The provided subscription identifier '{sub}' is malformed or invalid."),
        ));
    }
    if let Some(p) = kinds::cluster_extension::split(path) {
        return kinds::cluster_extension::handle(ctx, method, &sub, &p, body);
    }
    if let Some((scope, name)) = kinds::role_assignment::split(path) {
        lookup_api(
            &ctx.view(),
            "Microsoft.Authorization",
            "2022-04-01",
            "Microsoft.Authorization",
        )?;
        return kinds::role_assignment::handle(ctx, method, &sub, &scope, &name, body);
    }
    let rest = &segs[2..];
    let n = rest.len();
    if n == 2 && is(2, "operationresults") {
        return kinds::poll(ctx, "operationresults", rest[1]);
    }
    if n >= 1 && is(2, "providers") {
        if n == 6 && is(4, "locations") && is_poll(path) {
            return kinds::poll(ctx, rest[4], rest[5]);
        }
        if n < 2 {
            return Err(not_found_path(path));
        }
        let ns = rest[1];
        if ns.eq_ignore_ascii_case("Microsoft.KeyVault") {
            if n == 6 && is(4, "locations") && is(6, "deletedVaults") && method == "GET" {
                lookup_api(&ctx.view(), ns, "2023-07-01", "Microsoft.KeyVault")?;
                return kinds::keyvault::get_deleted(ctx, &sub, rest[3], rest[5]);
            }
            if n == 7
                && is(4, "locations")
                && is(6, "deletedVaults")
                && is(8, "purge")
                && method == "POST"
            {
                lookup_api(&ctx.view(), ns, "2023-07-01", "Microsoft.KeyVault")?;
                return kinds::keyvault::purge(ctx, &sub, rest[3], rest[5]);
            }
        }
        return Err(not_found_path(path));
    }
    if n == 0 || !is(2, "resourcegroups") {
        return Err(not_found_path(path));
    }
    if n == 1 {
        // A GET of the collection is a list (`route_read`).
        check_resources_api(&ctx.view())?;
        return Err(ArmError::new(
            405,
            "MethodNotAllowed",
            "Only GET is allowed on the resource group collection.",
        ));
    }
    let rg = rest[1].to_string();
    if n == 2 {
        check_resources_api(&ctx.view())?;
        return kinds::resource_group::handle(ctx, method, &sub, &rg, body);
    }
    if !is(4, "providers") || n < 5 {
        return Err(not_found_path(path));
    }
    let ns = rest[3];
    if n == 6 && is_poll(path) {
        return kinds::poll(ctx, rest[4], rest[5]);
    }
    let (types, names) = types_and_names(&rest[4..]);
    let kind = lookup(&ctx.view(), ns, &types)?;
    if types.len() != names.len() {
        // A GET of a collection is a list (`route_read`).
        return Err(ArmError::new(
            405,
            "MethodNotAllowed",
            format!("The requested method '{method}' is not allowed on a collection."),
        ));
    }
    let rp = ResPath {
        sub,
        rg,
        kind,
        names,
    };
    kinds::instance(ctx, method, &rp, body)
}

/// The path's segments.
fn segments(path: &str) -> Vec<&str> {
    path.trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect()
}

/// The type and name segments of a path below `providers/{namespace}`.
fn types_and_names<'p>(tail: &[&'p str]) -> (Vec<&'p str>, Vec<String>) {
    let types = tail.iter().step_by(2).copied().collect();
    let names = tail
        .iter()
        .skip(1)
        .step_by(2)
        .map(|s| s.to_string())
        .collect();
    (types, names)
}

/// The GETs that only read — a list of a collection — answered from a state other readers
/// share (ARM serves reads side by side; under one exclusive lock k plans' lists would queue
/// behind each other's rendering); `None` for every other request, which [`route`] answers
/// under the exclusive lock.
pub fn route_read(v: &View, path: &str) -> Option<ArmResult<Reply>> {
    let segs = segments(path);
    let is = |i: usize, s: &str| segs.get(i).is_some_and(|x| x.eq_ignore_ascii_case(s));
    if !is(0, "subscriptions") || segs.len() < 2 || !util::is_guid(segs[1]) {
        return None;
    }
    if kinds::cluster_extension::split(path).is_some()
        || kinds::role_assignment::split(path).is_some()
    {
        return None;
    }
    let sub = segs[1];
    let rest = &segs[2..];
    let n = rest.len();
    if n >= 2 && is(2, "providers") {
        let ns = rest[1];
        if n == 5 && is(4, "locations") && is(6, "serviceTags") {
            let location = util::normalize_location(rest[3]);
            return Some(
                lookup_api(v, ns, "2024-03-01", "Microsoft.Network")
                    .map(|()| Reply::json(200, service_tags::list(sub, &location))),
            );
        }
        if n != 3 {
            return None;
        }
        if ns.eq_ignore_ascii_case("Microsoft.KeyVault") && is(4, "deletedVaults") {
            return Some(
                lookup_api(v, ns, "2023-07-01", "Microsoft.KeyVault")
                    .map(|()| kinds::keyvault::list_deleted(v, sub)),
            );
        }
        return Some(lookup(v, ns, &[rest[2]]).and_then(|kind| list_of(v, sub, None, kind, None)));
    }
    if n == 1 && is(2, "resources") {
        return Some(
            check_resources_api(v)
                .and_then(|()| kinds::resource_group::list_resources(v, sub, None)),
        );
    }
    if n == 0 || !is(2, "resourcegroups") {
        return None;
    }
    if n == 1 {
        return Some(check_resources_api(v).map(|()| kinds::resource_group::list_groups(v, sub)));
    }
    let rg = rest[1];
    if n == 3 && is(4, "resources") {
        return Some(
            check_resources_api(v)
                .and_then(|()| kinds::resource_group::list_resources(v, sub, Some(rg))),
        );
    }
    if n < 5 || !is(4, "providers") || (n == 6 && is_poll(path)) {
        return None;
    }
    let (types, names) = types_and_names(&rest[4..]);
    if types.len() == names.len() {
        return None;
    }
    let kind = match lookup(v, rest[3], &types) {
        Ok(kind) => kind,
        Err(e) => return Some(Err(e)),
    };
    // The resource group must exist for a list below it.
    let rg_exists =
        v.st.get(&rg_id(sub, rg))
            .is_some_and(|r| r.deleting_until.is_none());
    if !rg_exists {
        return Some(Err(ArmError::rg_not_found(rg)));
    }
    let parent = if names.is_empty() {
        None
    } else {
        let pk = kind.parent().unwrap_or(kind);
        Some(kind::id_of(sub, rg, pk, &names))
    };
    Some(list_of(v, sub, Some(rg), kind, parent))
}

/// Api-version check for provider-level endpoints that have no kind of their own.
fn lookup_api(ctx: &View, ns: &str, api: &str, canonical: &str) -> ArmResult<()> {
    let v = api_version(ctx)?;
    if v != api {
        return Err(ArmError::bad_request(
            "NoRegisteredProviderFound",
            format!(
                "No registered resource provider found for API version '{v}' in namespace '{canonical}' ({ns}). The supported api-versions are '{api}'."
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Record;

    const SUB: &str = "00000000-0000-0000-0000-000000000001";

    fn record(id: &str, kind: Kind, body: Value) -> Record {
        Record {
            id: id.to_string(),
            kind,
            sub: SUB.to_string(),
            rg: "rg".to_string(),
            body,
            created: 0.0,
            modified: 0.0,
            busy_until: 0.0,
            transitional: String::new(),
            failed: false,
            deleting_until: None,
            etag: "W/\"1\"".to_string(),
        }
    }

    /// A group with one NSG and one being deleted until `t = 10`.
    fn cloud() -> State {
        let mut st = State::default();
        let rg = format!("/subscriptions/{SUB}/resourceGroups/rg");
        let nsg =
            |name: &str| format!("{rg}/providers/Microsoft.Network/networkSecurityGroups/{name}");
        let body = |name: &str| serde_json::json!({"id": nsg(name), "name": name, "location": "westeurope", "properties": {}});
        let mut going = record(&nsg("going"), Kind::NetworkSecurityGroup, body("going"));
        going.deleting_until = Some(10.0);
        let all = st.resources_mut();
        all.insert(
            rg.to_ascii_lowercase(),
            record(
                &rg,
                Kind::ResourceGroup,
                serde_json::json!({"id": rg, "name": "rg", "location": "westeurope"}),
            ),
        );
        all.insert(
            nsg("a").to_ascii_lowercase(),
            record(&nsg("a"), Kind::NetworkSecurityGroup, body("a")),
        );
        all.insert(nsg("going").to_ascii_lowercase(), going);
        st
    }

    fn names(reply: &Reply) -> Vec<String> {
        let items = reply
            .body
            .as_ref()
            .and_then(|b| b.get("value"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        items
            .iter()
            .filter_map(|v| v.get("name").and_then(Value::as_str).map(str::to_string))
            .collect()
    }

    #[test]
    fn a_shared_read_answers_a_list_as_the_exclusive_route_does_and_nothing_else() {
        let mut st = cloud();
        st.sweep(1.0);
        let query = vec![("api-version".to_string(), "2024-03-01".to_string())];
        let list = format!(
            "/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Network/networkSecurityGroups"
        );
        let url = format!("http://127.0.0.1{list}?api-version=2024-03-01");
        let view = View {
            st: &st,
            now: 1.0,
            query: &query,
            self_url: &url,
        };
        let shared = route_read(&view, &list).map(|r| r.map(|r| names(&r)).map_err(|e| e.status));
        // Still deleting at t = 1: both show, as a GET would show them.
        assert_eq!(shared, Some(Ok(vec!["a".to_string(), "going".to_string()])));
        for not_a_list in [
            format!("{list}/a"),
            format!("/subscriptions/{SUB}/resourceGroups/rg"),
            format!(
                "/subscriptions/{SUB}/providers/Microsoft.Network/locations/westeurope/operations/x"
            ),
            "/subscriptions/not-a-guid/resourcegroups".to_string(),
        ] {
            assert!(route_read(&view, &not_a_list).is_none(), "{not_a_list}");
        }
        let bad_version = vec![("api-version".to_string(), "2019-01-01".to_string())];
        let view_bad = View {
            query: &bad_version,
            ..view
        };
        let err = route_read(&view_bad, &list).map(|r| r.map(|_| ()).map_err(|e| e.status));
        assert_eq!(err, Some(Err(400)));

        let mut ctx = Ctx {
            st: &mut st,
            now: 1.0,
            scale: 1.0,
            base: "http://127.0.0.1".into(),
            fail_lro: None,
            query: query.clone(),
            self_url: url.clone(),
            seed: None,
            if_none_match: false,
            replication_secs: 0.0,
        };
        let exclusive = route(&mut ctx, "GET", &list, None)
            .map(|r| names(&r))
            .map_err(|e| e.status);
        assert_eq!(exclusive, Ok(vec!["a".to_string(), "going".to_string()]));
    }

    #[test]
    fn a_read_shares_the_state_only_while_the_sweep_has_nothing_to_do() {
        let mut st = cloud();
        assert!(st.sweep_due(1.0), "never swept");
        st.sweep(1.0);
        assert!(!st.sweep_due(1.0));
        assert!(!st.sweep_due(9.9));
        // The NSG being deleted stops showing at t = 10: the sweep must run first.
        assert!(st.sweep_due(10.0));
        st.sweep(10.0);
        assert!(!st.sweep_due(10.0));
        assert_eq!(st.resources().len(), 2);
        // Any change of the resources makes the next read sweep.
        let _ = st.resources_mut();
        assert!(st.sweep_due(10.0));
    }
}
