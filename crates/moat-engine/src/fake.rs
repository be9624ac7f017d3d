//! A scripted in-memory implementation of the [`Arm`] port, for scheduling and failure tests
//! of the planner and the apply walker with no server at all (DESIGN.md: "the other a scripted
//! in-memory fake"). It is a fake, not a mock: it keeps resources and answers like ARM would
//! (a PUT under a missing parent or naming a missing resource fails, deleting a parent removes
//! its children, a VNet's body lists its subnets), and tests script failures and delays on top.

// The fake answers with the port's own `ArmError`, large by design (see moat-arm's lib.rs).
#![allow(clippy::result_large_err)]

use async_trait::async_trait;
use moat_arm::{Arm, ArmError, Method, Operation, Poll, Started, WriteRequest, resource_type_of};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// When a scripted failure fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// ARM refuses the request itself (the write never starts).
    Begin,
    /// ARM accepts the write and the long-running operation then fails.
    Wait,
}

/// A scripted failure.
#[derive(Clone, Debug)]
struct Fault {
    method: Method,
    id: String,
    stage: Stage,
    error: ArmError,
    /// How many more times it fires (`None`: always).
    remaining: Option<usize>,
}

/// One call the fake received.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// The method (`Get` for reads).
    pub method: Method,
    /// The ARM id as given.
    pub id: String,
    /// The api-version sent.
    pub api_version: String,
    /// The body, for writes.
    pub body: Option<Value>,
    /// Extra query parameters.
    pub query: Vec<(String, String)>,
    /// When the call arrived, since the fake was made.
    pub at: Duration,
    /// For writes: when the operation finished (its `wait` returned), since the fake was made.
    pub finished: Option<Duration>,
    /// For writes: whether the write succeeded (set when its `wait` returns or `begin` fails).
    pub ok: Option<bool>,
}

#[derive(Default)]
struct Inner {
    /// Resources by lower-cased id: (id as first written, body).
    resources: BTreeMap<String, (String, Value)>,
    faults: Vec<Fault>,
    delays: BTreeMap<String, Duration>,
    calls: Vec<Call>,
    etag: u64,
    in_flight: usize,
    max_in_flight: usize,
}

/// The scripted fake. Share it as `Arc<FakeArm>`; it is also an `Arc<dyn Arm>`.
pub struct FakeArm {
    inner: Mutex<Inner>,
    started: Instant,
    delay: Duration,
    check_references: bool,
}

impl Default for FakeArm {
    fn default() -> Self {
        FakeArm::new()
    }
}

fn key(id: &str) -> String {
    id.trim_end_matches('/').to_ascii_lowercase()
}

/// The ARM id of the parent a resource needs: the resource group for a top-level resource,
/// the parent resource for a child (`…/virtualNetworks/v/subnets/s` → the VNet), nothing for a
/// resource group.
fn parent_of(id: &str) -> Option<String> {
    let segments: Vec<&str> = id.trim_matches('/').split('/').collect();
    let lower: Vec<String> = segments.iter().map(|s| s.to_ascii_lowercase()).collect();
    let p = lower.iter().rposition(|s| s == "providers")?;
    let after = segments.len().saturating_sub(p + 2);
    let cut = if after > 2 { segments.len() - 2 } else { p };
    Some(format!("/{}", segments[..cut].join("/")))
}

/// Every string in `body` that looks like an ARM resource id.
fn references(body: &Value, out: &mut Vec<String>) {
    match body {
        Value::String(s) if s.to_ascii_lowercase().starts_with("/subscriptions/") => {
            out.push(s.clone());
        }
        Value::Array(a) => a.iter().for_each(|v| references(v, out)),
        Value::Object(m) => m.values().for_each(|v| references(v, out)),
        _ => {}
    }
}

fn http_error(method: Method, id: &str, status: u16, code: &str, message: &str) -> ArmError {
    ArmError::Http {
        method: method.as_str().to_string(),
        path: id.to_string(),
        status,
        code: code.to_string(),
        message: message.to_string(),
        target: None,
        details: Vec::new(),
        request_id: None,
        correlation_id: None,
        retry_after: None,
    }
}

impl FakeArm {
    /// An empty cloud that answers at once and checks parents and references.
    pub fn new() -> FakeArm {
        FakeArm {
            inner: Mutex::new(Inner::default()),
            started: Instant::now(),
            delay: Duration::ZERO,
            check_references: true,
        }
    }

    /// Every long-running operation takes `delay` (in `wait`).
    pub fn with_delay(mut self, delay: Duration) -> FakeArm {
        self.delay = delay;
        self
    }

    /// Whether a PUT naming a resource id that does not exist fails (default: yes), the way
    /// ARM refuses a subnet whose NSG is missing. Off for tests that seed nothing.
    pub fn with_reference_checks(mut self, on: bool) -> FakeArm {
        self.check_references = on;
        self
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A test that panicked while holding the lock has failed already; keep answering.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Puts a resource in place as if it had always been there, body as given; a VNet's
    /// `properties.subnets` are stored as its children, as ARM keeps them.
    pub fn seed(&self, id: &str, mut body: Value) {
        let mut inner = self.lock();
        let k = key(id);
        if is_vnet(&k)
            && let Some(Value::Array(subnets)) = body
                .get_mut("properties")
                .and_then(Value::as_object_mut)
                .and_then(|p| p.remove("subnets"))
        {
            for s in subnets {
                let name = s.get("name").and_then(Value::as_str).unwrap_or_default();
                let child = format!("{}/subnets/{name}", id.trim_end_matches('/'));
                inner.resources.insert(key(&child), (child, s));
            }
        }
        inner.resources.insert(k, (id.to_string(), body));
    }

    /// Operations on `id` take `delay` instead of the default.
    pub fn delay_for(&self, id: &str, delay: Duration) {
        self.lock().delays.insert(key(id), delay);
    }

    /// Every `method` on `id` fails at `stage` with `error`.
    pub fn fail(&self, method: Method, id: &str, stage: Stage, error: ArmError) {
        self.push_fault(method, id, stage, error, None);
    }

    /// The next `times` `method`s on `id` fail at `stage` with `error`; later ones succeed.
    pub fn fail_times(
        &self,
        method: Method,
        id: &str,
        stage: Stage,
        error: ArmError,
        times: usize,
    ) {
        self.push_fault(method, id, stage, error, Some(times));
    }

    /// Shorthand: `method` on `id` is refused with an HTTP error.
    pub fn refuse(&self, method: Method, id: &str, status: u16, code: &str, message: &str) {
        self.fail(
            method,
            id,
            Stage::Begin,
            http_error(method, id, status, code, message),
        );
    }

    /// Shorthand: `method` on `id` is accepted and its operation ends `Failed`.
    pub fn fail_operation(&self, method: Method, id: &str, code: &str, message: &str) {
        self.fail(
            method,
            id,
            Stage::Wait,
            ArmError::OperationFailed {
                id: id.to_string(),
                status: "Failed".into(),
                code: code.into(),
                message: message.into(),
                target: None,
                details: Vec::new(),
                request_id: None,
                correlation_id: None,
            },
        );
    }

    fn push_fault(
        &self,
        method: Method,
        id: &str,
        stage: Stage,
        error: ArmError,
        remaining: Option<usize>,
    ) {
        self.lock().faults.push(Fault {
            method,
            id: key(id),
            stage,
            error,
            remaining,
        });
    }

    /// The stored body of `id`, as a GET would return it.
    pub fn resource(&self, id: &str) -> Option<Value> {
        let inner = self.lock();
        render(&inner, &key(id))
    }

    /// Ids of every stored resource (as first written), sorted case-insensitively.
    pub fn ids(&self) -> Vec<String> {
        self.lock()
            .resources
            .values()
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Every call so far, in arrival order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The writes (non-GET calls) so far, as `"PUT <id>"` lines, in arrival order.
    pub fn writes(&self) -> Vec<String> {
        self.lock()
            .calls
            .iter()
            .filter(|c| c.method != Method::Get)
            .map(|c| format!("{} {}", c.method, c.id))
            .collect()
    }

    /// The most operations that were waiting at the same time.
    pub fn max_in_flight(&self) -> usize {
        self.lock().max_in_flight
    }

    fn take_fault(
        &self,
        inner: &mut Inner,
        method: Method,
        id: &str,
        stage: Stage,
    ) -> Option<ArmError> {
        let k = key(id);
        let f = inner.faults.iter_mut().find(|f| {
            f.method == method && f.id == k && f.stage == stage && f.remaining != Some(0)
        })?;
        if let Some(n) = &mut f.remaining {
            *n -= 1;
        }
        Some(f.error.clone())
    }

    fn log(&self, inner: &mut Inner, req: &WriteRequest) -> usize {
        inner.calls.push(Call {
            method: req.method,
            id: req.id.clone(),
            api_version: req.api_version.clone(),
            body: req.body.clone(),
            query: req.query.clone(),
            at: self.started.elapsed(),
            finished: None,
            ok: None,
        });
        inner.calls.len() - 1
    }

    fn begin_locked(
        &self,
        inner: &mut Inner,
        req: &WriteRequest,
    ) -> Result<Option<Value>, ArmError> {
        if let Some(e) = self.take_fault(inner, req.method, &req.id, Stage::Begin) {
            return Err(e);
        }
        let k = key(&req.id);
        match req.method {
            Method::Put | Method::Patch => {
                if let Some(parent) = parent_of(&req.id)
                    && !inner.resources.contains_key(&key(&parent))
                {
                    let code = if parent.to_ascii_lowercase().contains("/providers/") {
                        "ParentResourceNotFound"
                    } else {
                        "ResourceGroupNotFound"
                    };
                    return Err(http_error(
                        req.method,
                        &req.id,
                        404,
                        code,
                        &format!("{parent} does not exist"),
                    ));
                }
                let mut body = req.body.clone().unwrap_or_else(|| json!({}));
                if self.check_references {
                    let mut refs = Vec::new();
                    references(&body, &mut refs);
                    if let Some(missing) = refs
                        .iter()
                        .find(|r| key(r) != k && !inner.resources.contains_key(&key(r)))
                    {
                        return Err(http_error(
                            req.method,
                            &req.id,
                            400,
                            "InvalidResourceReference",
                            &format!("resource {missing} referenced by {} was not found", req.id),
                        ));
                    }
                }
                if req.method == Method::Patch
                    && let Some((_, old)) = inner.resources.get(&k)
                {
                    let mut merged = old.clone();
                    merge(&mut merged, &body);
                    body = merged;
                }
                inner.etag += 1;
                let name = req
                    .id
                    .trim_end_matches('/')
                    .rsplit('/')
                    .next()
                    .unwrap_or("");
                if let Value::Object(m) = &mut body {
                    m.insert("id".into(), json!(req.id));
                    m.insert("name".into(), json!(name));
                    m.insert("type".into(), json!(resource_type_of(&req.id)));
                    m.insert("etag".into(), json!(format!("W/\"fake-{}\"", inner.etag)));
                    let props = m.entry("properties").or_insert_with(|| json!({}));
                    if let Value::Object(p) = props {
                        p.insert("provisioningState".into(), json!("Succeeded"));
                    }
                }
                // A VNet PUT with `subnets` sets the whole list (BEHAVIOR.md §5.1): each is
                // stored as the subnet it is, and one left out is gone.
                let inline = (is_vnet(&k) && req.method == Method::Put)
                    .then(|| {
                        body.get_mut("properties")
                            .and_then(Value::as_object_mut)
                            .and_then(|p| p.remove("subnets"))
                    })
                    .flatten()
                    .and_then(|v| v.as_array().cloned());
                inner.resources.insert(k.clone(), (req.id.clone(), body));
                if let Some(list) = inline {
                    let prefix = format!("{k}/subnets/");
                    inner.resources.retain(|r, _| !r.starts_with(&prefix));
                    for mut sub in list {
                        let name = sub["name"].as_str().unwrap_or_default().to_string();
                        let id = format!("{}/subnets/{name}", req.id);
                        if let Value::Object(m) = &mut sub {
                            m.insert("id".into(), json!(id));
                            m.insert("type".into(), json!(resource_type_of(&id)));
                            let props = m.entry("properties").or_insert_with(|| json!({}));
                            if let Value::Object(p) = props {
                                p.insert("provisioningState".into(), json!("Succeeded"));
                            }
                        }
                        inner.resources.insert(key(&id), (id, sub));
                    }
                }
                Ok(render(inner, &k))
            }
            Method::Delete => {
                if !inner.resources.contains_key(&k) {
                    return Err(http_error(
                        req.method,
                        &req.id,
                        404,
                        "ResourceNotFound",
                        &format!("{} was not found", req.id),
                    ));
                }
                let child_prefix = format!("{k}/");
                inner
                    .resources
                    .retain(|r, _| r != &k && !r.starts_with(&child_prefix));
                Ok(None)
            }
            Method::Post | Method::Get => Ok(None),
        }
    }
}

fn is_vnet(k: &str) -> bool {
    k.contains("/providers/microsoft.network/virtualnetworks/") && !k.contains("/subnets/")
}

/// A stored body as a GET returns it: a VNet lists its stored subnets.
fn render(inner: &Inner, k: &str) -> Option<Value> {
    let (_, body) = inner.resources.get(k)?;
    let mut body = body.clone();
    if is_vnet(k) {
        let prefix = format!("{k}/subnets/");
        let subnets: Vec<Value> = inner
            .resources
            .range(prefix.clone()..)
            .take_while(|(r, _)| r.starts_with(&prefix))
            .filter(|(r, _)| !r[prefix.len()..].contains('/'))
            .map(|(_, (_, b))| b.clone())
            .collect();
        if let Value::Object(m) = &mut body {
            let props = m.entry("properties").or_insert_with(|| json!({}));
            if let Value::Object(p) = props {
                p.insert("subnets".into(), Value::Array(subnets));
            }
        }
    }
    Some(body)
}

fn merge(into: &mut Value, patch: &Value) {
    match (into, patch) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(k) {
                    Some(slot) if v.is_object() => merge(slot, v),
                    _ => {
                        a.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (slot, v) => *slot = v.clone(),
    }
}

#[async_trait]
impl Arm for FakeArm {
    async fn get(&self, id: &str, api_version: &str) -> Result<Option<Value>, ArmError> {
        let mut inner = self.lock();
        inner.calls.push(Call {
            method: Method::Get,
            id: id.to_string(),
            api_version: api_version.to_string(),
            body: None,
            query: Vec::new(),
            at: self.started.elapsed(),
            finished: None,
            ok: None,
        });
        if let Some(e) = self.take_fault(&mut inner, Method::Get, id, Stage::Begin) {
            return Err(e);
        }
        Ok(render(&inner, &key(id)))
    }

    async fn begin(&self, req: WriteRequest) -> Result<Started, ArmError> {
        let mut inner = self.lock();
        let index = self.log(&mut inner, &req);
        match self.begin_locked(&mut inner, &req) {
            Ok(response) => {
                let status = match (req.method, response.is_some()) {
                    (Method::Delete, _) => 202,
                    (_, true) => 201,
                    _ => 200,
                };
                let operation = Operation {
                    method: req.method,
                    id: req.id.clone(),
                    api_version: req.api_version.clone(),
                    // The fake keeps the call's index in the poll URL so `wait` finds it again.
                    poll: Poll::Location {
                        url: format!("fake://operations/{index}"),
                    },
                    started_at_unix_ms: 0,
                    resource_type: resource_type_of(&req.id),
                };
                Ok(Started {
                    operation,
                    response,
                    status,
                    request_id: Some(format!("fake-{index}")),
                })
            }
            Err(e) => {
                inner.calls[index].ok = Some(false);
                inner.calls[index].finished = Some(self.started.elapsed());
                Err(e)
            }
        }
    }

    async fn wait(&self, op: &Operation) -> Result<Option<Value>, ArmError> {
        let index = match &op.poll {
            Poll::Location { url } => url
                .strip_prefix("fake://operations/")
                .and_then(|n| n.parse::<usize>().ok()),
            _ => None,
        };
        let delay = {
            let mut inner = self.lock();
            inner.in_flight += 1;
            inner.max_in_flight = inner.max_in_flight.max(inner.in_flight);
            inner
                .delays
                .get(&key(&op.id))
                .copied()
                .unwrap_or(self.delay)
        };
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        let mut inner = self.lock();
        inner.in_flight -= 1;
        let result = match self.take_fault(&mut inner, op.method, &op.id, Stage::Wait) {
            Some(e) => {
                if let Some((_, body)) = inner.resources.get_mut(&key(&op.id))
                    && let Some(p) = body.get_mut("properties").and_then(Value::as_object_mut)
                {
                    p.insert("provisioningState".into(), json!("Failed"));
                }
                Err(e)
            }
            None if op.method == Method::Delete => Ok(None),
            None => Ok(render(&inner, &key(&op.id))),
        };
        if let Some(call) = index.and_then(|i| inner.calls.get_mut(i)) {
            call.finished = Some(self.started.elapsed());
            call.ok = Some(result.is_ok());
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RG: &str = "/subscriptions/s/resourceGroups/rg";
    const VNET: &str =
        "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v";

    #[test]
    fn parents_are_the_group_or_the_parent_resource() {
        assert_eq!(parent_of(RG), None);
        assert_eq!(parent_of(VNET).as_deref(), Some(RG));
        assert_eq!(
            parent_of(&format!("{VNET}/subnets/a")).as_deref(),
            Some(VNET)
        );
    }

    #[tokio::test]
    async fn puts_echo_and_deletes_cascade() {
        let fake = FakeArm::new();
        let put = |id: &str, body: Value| WriteRequest::put(id, "2024-03-01", body);
        let err = fake.begin(put(VNET, json!({}))).await.unwrap_err();
        assert_eq!(err.code(), Some("ResourceGroupNotFound"));
        fake.begin(put(RG, json!({ "location": "eastus2" })))
            .await
            .unwrap();
        let s = fake
            .begin(put(VNET, json!({ "properties": { "addressSpace": {} } })))
            .await
            .unwrap();
        let body = fake.wait(&s.operation).await.unwrap().unwrap();
        assert_eq!(body["name"], "v");
        assert_eq!(body["properties"]["provisioningState"], "Succeeded");
        fake.begin(put(
            &format!("{VNET}/subnets/a"),
            json!({ "properties": {} }),
        ))
        .await
        .unwrap();
        // Ids are case-insensitive, and a VNet's body lists its subnets.
        let v = fake.get(&VNET.to_uppercase(), "x").await.unwrap().unwrap();
        assert_eq!(v["properties"]["subnets"][0]["name"], "a");
        let err = fake
            .begin(put(
                &format!("{VNET}/subnets/b"),
                json!({ "properties": { "networkSecurityGroup": { "id": format!("{RG}/providers/Microsoft.Network/networkSecurityGroups/n") } } }),
            ))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("InvalidResourceReference"));
        fake.begin(WriteRequest::delete(RG, "x")).await.unwrap();
        assert!(fake.ids().is_empty());
        assert_eq!(fake.writes().len(), 6, "refused writes are logged too");
    }

    #[tokio::test]
    async fn scripted_failures_fire_the_given_number_of_times() {
        let fake = FakeArm::new();
        fake.fail_times(
            Method::Put,
            RG,
            Stage::Begin,
            http_error(Method::Put, RG, 429, "TooManyRequests", "slow down"),
            1,
        );
        let put = WriteRequest::put(RG, "x", json!({}));
        assert_eq!(
            fake.begin(put.clone()).await.unwrap_err().status(),
            Some(429)
        );
        let s = fake.begin(put).await.unwrap();
        fake.fail_operation(Method::Put, RG, "Conflict", "no");
        assert!(fake.wait(&s.operation).await.is_err());
        let calls = fake.calls();
        assert_eq!(calls[0].ok, Some(false));
        assert_eq!(calls[1].ok, Some(false));
        assert_eq!(
            fake.resource(RG).unwrap()["properties"]["provisioningState"],
            "Failed"
        );
    }
}
