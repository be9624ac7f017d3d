//! The apply walker: executes a [`Plan`] over its own graph — creates and updates in
//! dependency order, then deletes in reverse — as many at once as the graph, the parallelism
//! cap and the per-VNet lock groups allow. Before each write the intent is journalled in the
//! state record, then the operation's resume token, then the result, each with an atomic write,
//! so a crash at any moment leaves enough behind for the next apply to finish the job.

use crate::plan::{Action, Plan, ResourcePlan};
use crate::state::{JournalEntry, ResourceState, StateBackend, StateError, StateRecord};
use moat_arm::{Arm, ArmError, Method, Operation, Poll, Url, WriteRequest, is_loopback};
use moat_graph::{Graph, Outcome, WalkOptions, walk};
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

/// What the apply reports as it goes (the CLI draws progress from these).
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// A resource's write starts.
    Started {
        /// Resource key.
        key: String,
        /// What is done.
        action: Action,
    },
    /// ARM accepted the write and its resume token is journalled; waiting for it to finish.
    Accepted {
        /// Resource key.
        key: String,
        /// `x-ms-request-id`.
        request_id: Option<String>,
    },
    /// The resource is done.
    Finished {
        /// Resource key.
        key: String,
        /// What was done.
        action: Action,
        /// How long it took.
        elapsed: Duration,
    },
    /// The resource failed.
    Failed {
        /// Resource key.
        key: String,
        /// Why.
        error: String,
    },
    /// A write is sent again after a refusal that passes by itself (a new principal that
    /// Entra ID has not replicated yet: `PrincipalNotFound`).
    Retrying {
        /// Resource key.
        key: String,
        /// The attempt that comes next (2 for the first retry).
        attempt: u32,
        /// How long it waits first.
        after: Duration,
        /// Why, in words (with the ARM code).
        reason: String,
    },
    /// Not attempted because something it depends on failed.
    Skipped {
        /// Resource key.
        key: String,
        /// The failed resource.
        because: String,
    },
}

/// Receives [`Event`]s.
pub trait Progress: Send + Sync {
    /// Called for each event, from the apply's tasks.
    fn event(&self, event: Event);
}

/// Ignores events.
pub struct NoProgress;

impl Progress for NoProgress {
    fn event(&self, _event: Event) {}
}

/// Why one resource failed. Each variant's message carries its cause once: `Arm` shows the
/// ARM error itself (code, message, request IDs), the others name the cause in their text and
/// expose no separate `source`, so an error chain never prints the cause twice.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// ARM refused or the operation failed.
    #[error(transparent)]
    Arm(#[from] ArmError),
    /// The state record could not be written.
    #[error("state: {0}")]
    State(StateError),
    /// The plan's graph could not be ordered (a cycle).
    #[error("cannot order the plan: {0}")]
    Order(moat_graph::GraphError),
    /// A body holds a secret marker whose value was not read.
    #[error(transparent)]
    Secret(#[from] moat_model::secret::Unresolved),
    /// A value known only after another resource exists could not be read from it.
    #[error("`{path}` of `{id}` is not there yet")]
    Deferred {
        /// The resource it is read from.
        id: String,
        /// Its ARM path there.
        path: String,
    },
}

impl From<StateError> for ApplyError {
    fn from(e: StateError) -> ApplyError {
        ApplyError::State(e)
    }
}

/// Why a resource failed, typed: the CLI reads the ARM error's fields (code, request ID)
/// instead of parsing a message. Shared, because a walk report is cloned.
#[derive(Clone, Debug)]
pub struct Failure(pub Arc<ApplyError>);

impl Failure {
    /// The ARM error, when ARM refused the write or its operation failed.
    pub fn arm(&self) -> Option<&ArmError> {
        match self.0.as_ref() {
            ApplyError::Arm(e) => Some(e),
            _ => None,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Two failures are equal when they say the same thing (errors carry no identity).
impl PartialEq for Failure {
    fn eq(&self, other: &Failure) -> bool {
        self.to_string() == other.to_string()
    }
}

/// The state record, shared by the apply's tasks; every change is written through at once.
pub struct StateStore {
    backend: Arc<dyn StateBackend>,
    /// The record as it is now, with every change applied; `.1` counts the changes.
    record: std::sync::Mutex<(StateRecord, u64)>,
    /// Held by the one task writing; `.0` is the change count the last write included.
    writer: Mutex<u64>,
}

impl StateStore {
    /// Wraps a record read from `backend` (or a new one).
    pub fn new(backend: Arc<dyn StateBackend>, record: StateRecord) -> StateStore {
        StateStore {
            backend,
            record: std::sync::Mutex::new((record, 0)),
            writer: Mutex::new(0),
        }
    }

    /// Applies `f` to the record and returns once a write that includes the change is on
    /// disk (group commit: changes made while another write is in flight share the next
    /// write, so twenty parallel writes cost two state writes, not twenty, and every caller
    /// still knows its change is durable before it goes on).
    pub async fn update(&self, f: impl FnOnce(&mut StateRecord)) -> Result<(), StateError> {
        let mine = {
            let mut guard = self
                .record
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            f(&mut guard.0);
            guard.1 += 1;
            guard.1
        };
        let mut written = self.writer.lock().await;
        if *written >= mine {
            return Ok(());
        }
        let (snapshot, upto) = {
            let mut guard = self
                .record
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            guard.0.serial += 1;
            (guard.0.clone(), guard.1)
        };
        self.backend.write(&snapshot).await?;
        *written = upto;
        Ok(())
    }

    /// A copy of the current record.
    pub async fn snapshot(&self) -> StateRecord {
        self.record
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0
            .clone()
    }
}

/// Apply switches.
#[derive(Clone, Default)]
pub struct ApplyOptions {
    /// Most writes in flight at once (0: unbounded).
    pub parallelism: usize,
    /// Stops scheduling new writes when cancelled (Ctrl-C); writes in flight finish.
    pub cancel: CancellationToken,
    /// The values of the secret markers the plan's bodies hold ([`moat_model::secret`]),
    /// filled in just before each request is sent.
    pub secrets: Arc<moat_model::secret::Secrets>,
}

/// The outcome of one resource.
#[derive(Clone, Debug, PartialEq)]
pub enum ResourceOutcome {
    /// Done (or nothing to do).
    Done {
        /// Wall time of its writes.
        elapsed: Duration,
    },
    /// Failed with this error.
    Failed(Failure),
    /// Not attempted: the named dependency failed.
    Skipped(String),
    /// Not started because the apply was interrupted.
    NotStarted,
}

/// What an apply did.
#[derive(Clone, Debug, PartialEq)]
pub struct ApplyReport {
    /// Per resource key, in plan order.
    pub outcomes: Vec<(String, Action, ResourceOutcome)>,
    /// The apply was interrupted.
    pub cancelled: bool,
    /// Wall time.
    pub elapsed: Duration,
}

impl ApplyReport {
    /// True when every resource is done.
    pub fn is_success(&self) -> bool {
        !self.cancelled
            && self
                .outcomes
                .iter()
                .all(|(_, _, o)| matches!(o, ResourceOutcome::Done { .. }))
    }
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Finishes writes a previous apply left in flight (recorded in the journal): waits for each
/// recorded operation, then clears the journal. Errors of those operations are returned for
/// reporting; the following plan re-reads everything anyway.
///
/// `moved_to` is the ARM base URL of this run when the endpoint moves between runs while
/// keeping its cloud — the emulator embedded by `--local` listens on a new loopback port
/// every time: poll URLs recorded on a loopback origin are moved there, else they would
/// point at a port nobody listens on any more.
pub async fn resume_journal(
    arm: &dyn Arm,
    store: &StateStore,
    moved_to: Option<&str>,
) -> Result<Vec<(String, String)>, StateError> {
    let journal = store.snapshot().await.journal;
    // Every entry was in flight at the same moment, so none waits on another: they are
    // followed together, and recovery takes as long as the slowest, not the sum.
    let follows = journal.iter().map(|entry| async move {
        let Some(mut op) = entry
            .operation
            .as_ref()
            .and_then(|v| serde_json::from_value::<Operation>(v.clone()).ok())
        else {
            return (
                entry.key.clone(),
                format!(
                    "{} was interrupted before ARM answered; re-reading",
                    entry.action
                ),
            );
        };
        if let Some(base) = moved_to {
            rebase_poll(&mut op.poll, base);
        }
        let note = match follow(arm, &op).await {
            Ok(_) => format!("finished the interrupted {}", entry.action),
            Err(e) => format!("the interrupted {} ended with: {e}", entry.action),
        };
        (entry.key.clone(), note)
    });
    let notes = futures_util::future::join_all(follows).await;
    if !journal.is_empty() {
        store.update(|r| r.journal.clear()).await?;
    }
    Ok(notes)
}

/// How many times an accepted operation is followed again after its polling broke off.
const FOLLOW_AGAIN: u32 = 3;

/// Waits for an accepted operation. When polling breaks off — connections keep dropping or
/// the server keeps throttling past the client's own retries — nothing is known about the
/// operation, which keeps running in Azure: follow it again from its resume token rather
/// than fail a write that may well succeed. Errors the operation itself reports are final.
async fn follow(arm: &dyn Arm, op: &Operation) -> Result<Option<Value>, ArmError> {
    let mut again = 0;
    loop {
        match arm.wait(op).await {
            Err(e) if again < FOLLOW_AGAIN && lost_sight(&e) => {
                again += 1;
                tokio::time::sleep(Duration::from_millis(250 * u64::from(again))).await;
            }
            result => return result,
        }
    }
}

/// The poll itself failed (no answer, or throttled), as opposed to the operation.
fn lost_sight(e: &ArmError) -> bool {
    match e {
        ArmError::Transport { .. } => true,
        ArmError::Http { status, .. } => *status == 429,
        _ => false,
    }
}

/// Moves a poll URL on a loopback origin to `base`'s origin (scheme, host, port).
fn rebase_poll(poll: &mut Poll, base: &str) {
    let Ok(base) = Url::parse(base) else { return };
    let moved = |u: &mut String| {
        if let Ok(mut url) = Url::parse(u)
            && is_loopback(&url)
            && url.set_scheme(base.scheme()).is_ok()
            && url.set_host(base.host_str()).is_ok()
            && url.set_port(base.port()).is_ok()
        {
            *u = url.to_string();
        }
    };
    match poll {
        Poll::AsyncOperation { url, location } => {
            moved(url);
            if let Some(l) = location {
                moved(l);
            }
        }
        Poll::Location { url } => moved(url),
        _ => {}
    }
}

/// Executes `plan`.
pub async fn apply(
    plan: &Plan,
    arm: Arc<dyn Arm>,
    store: Arc<StateStore>,
    progress: Arc<dyn Progress>,
    opts: &ApplyOptions,
) -> ApplyReport {
    let started = tokio::time::Instant::now();
    let mut outcomes: Vec<(String, Action, ResourceOutcome)> = Vec::new();
    let mut cancelled = false;
    // The old IDs of replacements under a new ID go in the delete phase: after everything
    // that referred to them has moved to the new ones.
    let old_ids = crate::identity::old_id_deletes(&plan.resources);
    let phases = phases(plan, &old_ids);
    for (phase, items) in phases.iter().enumerate() {
        if items.is_empty() {
            continue;
        }
        let mut graph: Graph<(Step, &ResourcePlan)> = Graph::new();
        for (node, step, r) in items {
            let _ = graph.add_node(node.clone(), (*step, *r));
        }
        let split: BTreeSet<&str> = items
            .iter()
            .filter(|(_, step, _)| *step == Step::OldSelf)
            .map(|(_, _, r)| r.key.as_str())
            .collect();
        for (node, step, r) in items {
            if *step == Step::OldSelf {
                continue;
            }
            if *step == Step::NewSelf {
                let _ = graph.add_edge(node, &old_self(&r.key));
            }
            for d in &r.depends_on {
                // A delete waits for the deletes it names: of a split replacement, its old self.
                let target = if r.action == Action::Delete && split.contains(d.as_str()) {
                    old_self(d)
                } else {
                    d.clone()
                };
                if graph.contains(&target) {
                    let _ = graph.add_edge(node, &target);
                }
            }
        }
        let mut wo = WalkOptions::new()
            .parallelism(opts.parallelism)
            .cancel(opts.cancel.clone());
        for (node, step, r) in items {
            if let Some(g) = &r.lock_group
                && r.action.writes()
            {
                wo = wo.lock_group(node.clone(), g.clone());
            }
            // What writes nothing costs nothing; a replace is a delete and a create.
            let cost = match r.action {
                a if !a.writes() => 0,
                Action::Replace if *step == Step::Whole => 2 * r.kind.typical_seconds(),
                _ => r.kind.typical_seconds(),
            };
            wo = wo.weight(node.clone(), cost);
        }
        let report = walk(&graph, &wo, |_key, (step, r)| {
            let secrets = opts.secrets.clone();
            let arm = arm.clone();
            let store = store.clone();
            let progress = progress.clone();
            let (step, r) = (*step, *r);
            async move {
                let t0 = tokio::time::Instant::now();
                // The old self of a split replacement is reported with its new self.
                let reported = r.action.writes() && step != Step::OldSelf;
                if reported {
                    progress.event(Event::Started {
                        key: r.key.clone(),
                        action: r.action,
                    });
                }
                match run_one(r, step, arm.as_ref(), &store, progress.as_ref(), &secrets).await {
                    Ok(()) => {
                        if reported {
                            progress.event(Event::Finished {
                                key: r.key.clone(),
                                action: r.action,
                                elapsed: t0.elapsed(),
                            });
                        }
                        Ok(t0.elapsed())
                    }
                    Err(e) => {
                        progress.event(Event::Failed {
                            key: r.key.clone(),
                            error: e.to_string(),
                        });
                        Err(Failure(Arc::new(e)))
                    }
                }
                .map(|_| ())
            }
        })
        .await;
        let report = match report {
            Ok(r) => r,
            Err(e) => {
                for (_, _, r) in items.iter().filter(|(_, s, _)| *s != Step::OldSelf) {
                    outcomes.push((
                        r.key.clone(),
                        r.action,
                        ResourceOutcome::Failed(Failure(Arc::new(ApplyError::Order(e.clone())))),
                    ));
                }
                continue;
            }
        };
        cancelled |= report.cancelled;
        for (node, step, r) in items {
            if *step == Step::OldSelf {
                continue;
            }
            // A split replacement whose old self failed reports that failure.
            let old = (*step == Step::NewSelf)
                .then(|| report.nodes.get(&old_self(&r.key)))
                .flatten()
                .filter(|n| matches!(n.outcome, Outcome::Failed(_)));
            let outcome = match old
                .or_else(|| report.nodes.get(node))
                .map(|n| (&n.outcome, n.duration()))
            {
                Some((Outcome::Succeeded, d)) => ResourceOutcome::Done {
                    elapsed: d.unwrap_or_default(),
                },
                Some((Outcome::Failed(e), _)) => ResourceOutcome::Failed(e.clone()),
                Some((Outcome::Skipped { because }, _)) => {
                    progress.event(Event::Skipped {
                        key: r.key.clone(),
                        because: because.clone(),
                    });
                    ResourceOutcome::Skipped(because.clone())
                }
                _ => ResourceOutcome::NotStarted,
            };
            outcomes.push((r.key.clone(), r.action, outcome));
        }
        if cancelled || phase == 1 {
            break;
        }
    }
    ApplyReport {
        outcomes,
        cancelled,
        elapsed: started.elapsed(),
    }
}

/// Which part of a plan entry a walk node does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// All of it.
    Whole,
    /// The delete of a replacement's old self, when an early delete needs it gone first (an
    /// AKS cluster in a subnet that is deleted before its renamed successor is created).
    OldSelf,
    /// The rest of that replacement: the create, after its old self is gone and what it
    /// needs exists.
    NewSelf,
}

/// The walk key of a split replacement's old self (not a valid resource key).
fn old_self(key: &str) -> String {
    format!("{key} (old)")
}

/// The plan's entries in the two phases of apply, as walk nodes. First every create, update
/// and replacement, with the deletes the plan marks `delete_first` (Azure cannot hold the new
/// resource beside the old one) and, split in two, the replacements those deletes wait for;
/// then every other delete, dependents first.
fn phases<'p>(
    plan: &'p Plan,
    old_ids: &'p [ResourcePlan],
) -> [Vec<(String, Step, &'p ResourcePlan)>; 2] {
    let early = |r: &ResourcePlan| r.action == Action::Delete && r.delete_first;
    let split: BTreeSet<&str> = plan
        .resources
        .iter()
        .filter(|r| early(r))
        .flat_map(|d| d.depends_on.iter())
        .filter(|k| {
            plan.get(k)
                .is_some_and(|r| r.action == Action::Replace && r.delete_first)
        })
        .map(String::as_str)
        .collect();
    let mut first = Vec::new();
    for r in &plan.resources {
        if r.action == Action::Delete && !r.delete_first {
            continue;
        }
        if split.contains(r.key.as_str()) {
            first.push((old_self(&r.key), Step::OldSelf, r));
            first.push((r.key.clone(), Step::NewSelf, r));
        } else {
            first.push((r.key.clone(), Step::Whole, r));
        }
    }
    let then = plan
        .resources
        .iter()
        .filter(|r| r.action == Action::Delete && !r.delete_first)
        .chain(old_ids.iter())
        .map(|r| (r.key.clone(), Step::Whole, r))
        .collect();
    [first, then]
}

async fn run_one(
    r: &ResourcePlan,
    step: Step,
    arm: &dyn Arm,
    store: &StateStore,
    progress: &dyn Progress,
    secrets: &moat_model::secret::Secrets,
) -> Result<(), ApplyError> {
    if let Some(from) = &r.moved_from {
        // A move: the record follows the key; no request.
        let to = r.key.clone();
        store.update(|rec| rec.rekey(from, &to)).await?;
    }
    match r.action {
        Action::Read | Action::Unreadable => Ok(()),
        Action::NoOp | Action::Move => {
            // Adopt what a crashed apply created but never recorded, and refresh last-applied.
            let applied = r
                .applied
                .clone()
                .map(|m| Value::Object(m.into_iter().collect()));
            let current = store.snapshot().await;
            let same = current
                .resources
                .get(&r.key)
                .is_some_and(|s| Some(&s.applied) == applied.as_ref());
            if same || applied.is_none() {
                return Ok(());
            }
            record(store, r, None).await?;
            Ok(())
        }
        Action::Delete => {
            if let Some(req) = &r.request {
                let wr = WriteRequest {
                    method: req.method.arm(),
                    id: r.id.clone(),
                    api_version: r.api_version.clone(),
                    body: None,
                    query: req.query.clone(),
                };
                write(r, wr, "delete", arm, store, progress).await?;
            }
            let key = r.key.clone();
            store
                .update(|rec| {
                    rec.resources.remove(&key);
                    rec.journal.retain(|j| j.key != key);
                })
                .await?;
            Ok(())
        }
        Action::Create | Action::Update | Action::Replace => {
            match (&r.replaces, r.action) {
                _ if step == Step::NewSelf => {}
                (old, Action::Replace) if step == Step::OldSelf => {
                    let del = WriteRequest {
                        query: crate::diff::implied_delete_query(r),
                        ..WriteRequest::delete(
                            old.clone().unwrap_or_else(|| r.id.clone()),
                            r.api_version.clone(),
                        )
                    };
                    write(r, del, "replace", arm, store, progress).await?;
                    return Ok(());
                }
                (Some(_), Action::Replace) if !r.delete_first => {
                    // Create before delete: the old ID stays owned (under `KEY~old`) until
                    // the delete phase removes it, so a failure never orphans it.
                    let (from, to) = (r.key.clone(), crate::identity::old_key(&r.key));
                    store.update(|rec| rec.rekey(&from, &to)).await?;
                }
                (old, Action::Replace) => {
                    // The plan's request is the PUT; the DELETE before it is implied, with
                    // the kind's delete query (of the old ID when the ID changes).
                    let del = WriteRequest {
                        query: crate::diff::implied_delete_query(r),
                        ..WriteRequest::delete(
                            old.clone().unwrap_or_else(|| r.id.clone()),
                            r.api_version.clone(),
                        )
                    };
                    write(r, del, "replace", arm, store, progress).await?;
                }
                _ => {}
            }
            let mut body = r
                .request
                .as_ref()
                .and_then(|q| q.body.clone())
                .unwrap_or(Value::Null);
            fill_deferred(&mut body, arm).await?;
            // The last step before the wire: nothing after this keeps the body (the journal
            // holds no bodies, the HTTP log redacts secret-named fields).
            moat_model::secret::fill(&mut body, secrets)?;
            let wr = WriteRequest {
                method: r.request.as_ref().map_or(Method::Put, |q| q.method.arm()),
                ..WriteRequest::put(r.id.clone(), r.api_version.clone(), body)
            };
            let action = match r.action {
                Action::Create => "create",
                Action::Update => "update",
                _ => "replace",
            };
            let final_body = write_retrying(r, wr, action, arm, store, progress).await?;
            record(store, r, final_body.as_ref()).await?;
            Ok(())
        }
    }
}

/// Replaces every deferred value of `body` ([`moat_model::deferred`], a new identity's
/// principal ID) by reading it from its resource, which the plan's order created first.
async fn fill_deferred(body: &mut Value, arm: &dyn Arm) -> Result<(), ApplyError> {
    let mut stack = vec![body];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(m) => stack.extend(m.values_mut()),
            Value::Array(a) => stack.extend(a.iter_mut()),
            Value::String(s) => {
                let Some((id, api, path)) = moat_model::deferred::parse(s) else {
                    continue;
                };
                let got = arm.get(id, api).await?;
                let found = got
                    .as_ref()
                    .and_then(|b| moat_model::json::get(b, path))
                    .and_then(Value::as_str)
                    .map(str::to_string);
                match found {
                    Some(x) => *s = x,
                    None => {
                        return Err(ApplyError::Deferred {
                            id: id.to_string(),
                            path: path.to_string(),
                        });
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// How often a write refused with `PrincipalNotFound` is sent again: Entra ID replicates a new
/// principal within seconds to minutes (BEHAVIOR.md §3: retry with backoff).
const PRINCIPAL_RETRIES: u32 = 8;

/// [`write`], sending it again with backoff while the directory has not replicated a new
/// principal (`PrincipalNotFound`, a 400: nothing was written), and taking
/// `RoleAssignmentExists` (the same scope, principal and role under another name) as done.
async fn write_retrying(
    r: &ResourcePlan,
    req: WriteRequest,
    action: &str,
    arm: &dyn Arm,
    store: &StateStore,
    progress: &dyn Progress,
) -> Result<Option<Value>, ApplyError> {
    let mut delay = std::time::Duration::from_millis(500);
    let mut attempt = 0;
    loop {
        match write(r, req.clone(), action, arm, store, progress).await {
            Err(ApplyError::Arm(e))
                if e.code() == Some("PrincipalNotFound") && attempt < PRINCIPAL_RETRIES =>
            {
                attempt += 1;
                progress.event(Event::Retrying {
                    key: r.key.clone(),
                    attempt: attempt + 1,
                    after: delay,
                    reason: "the new principal is not visible to role assignments yet (PrincipalNotFound: Entra ID replication)".into(),
                });
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(30));
            }
            Err(ApplyError::Arm(e)) if e.code() == Some("RoleAssignmentExists") => return Ok(None),
            other => return other,
        }
    }
}

/// One journalled write: intent, then resume token, then the wait.
async fn write(
    r: &ResourcePlan,
    req: WriteRequest,
    action: &str,
    arm: &dyn Arm,
    store: &StateStore,
    progress: &dyn Progress,
) -> Result<Option<Value>, ApplyError> {
    let key = r.key.clone();
    let entry = JournalEntry {
        key: key.clone(),
        id: r.id.clone(),
        kind: Some(r.kind),
        action: action.to_string(),
        started_at: now(),
        operation: None,
    };
    store
        .update(|rec| {
            rec.journal.retain(|j| j.key != key);
            rec.journal.push(entry);
        })
        .await?;
    let is_delete = req.method == Method::Delete;
    let started = match arm.begin(req).await {
        Ok(s) => s,
        Err(e) if is_delete && e.is_not_found() => {
            store
                .update(|rec| rec.journal.retain(|j| j.key != key))
                .await?;
            return Ok(None);
        }
        Err(e) => {
            store
                .update(|rec| rec.journal.retain(|j| j.key != key))
                .await?;
            return Err(e.into());
        }
    };
    let token = serde_json::to_value(&started.operation).ok();
    store
        .update(|rec| {
            if let Some(j) = rec.journal.iter_mut().find(|j| j.key == key) {
                j.operation = token;
            }
        })
        .await?;
    // Reported once journalled: from here on a crash is finished by the next apply.
    progress.event(Event::Accepted {
        key: key.clone(),
        request_id: started.request_id.clone(),
    });
    let result = follow(arm, &started.operation).await;
    store
        .update(|rec| rec.journal.retain(|j| j.key != key))
        .await?;
    match result {
        Ok(v) => Ok(v),
        Err(e) if is_delete && e.is_not_found() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn record(
    store: &StateStore,
    r: &ResourcePlan,
    final_body: Option<&Value>,
) -> Result<(), StateError> {
    let applied = r
        .applied
        .clone()
        .map(|m| Value::Object(m.into_iter().collect()))
        .unwrap_or(Value::Null);
    let etag = final_body
        .and_then(|b| b.get("etag"))
        .and_then(Value::as_str)
        .map(str::to_string);
    // What the service assigned (a principal ID), from the body this write returned; a write
    // that returned none (a no-op refresh) keeps what the record had.
    let mut outputs = store
        .snapshot()
        .await
        .resources
        .get(&r.key)
        .map(|s| s.outputs.clone())
        .unwrap_or_default();
    if let Some(body) = final_body {
        for (name, path) in r.kind.def().server_outputs {
            if let Some(v) = moat_model::json::get(body, path).and_then(Value::as_str) {
                outputs.insert((*name).to_string(), v.to_string());
            }
        }
    }
    let rs = ResourceState {
        id: r.id.clone(),
        kind: r.kind,
        api_version: r.api_version.clone(),
        applied,
        etag,
        updated_at: now(),
        depends_on: r.depends_on.clone(),
        outputs,
    };
    let key = r.key.clone();
    store
        .update(|rec| {
            rec.resources.insert(key, rs);
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_urls_follow_a_moved_loopback_endpoint_only() {
        let mut p = Poll::AsyncOperation {
            url: "http://127.0.0.1:40861/subscriptions/s/providers/Microsoft.Network/locations/x/operations/1?api-version=2024-03-01".into(),
            location: Some("http://127.0.0.1:40861/subscriptions/s/operationResults/1".into()),
        };
        rebase_poll(&mut p, "http://127.0.0.1:5555");
        assert_eq!(
            p,
            Poll::AsyncOperation {
                url: "http://127.0.0.1:5555/subscriptions/s/providers/Microsoft.Network/locations/x/operations/1?api-version=2024-03-01".into(),
                location: Some("http://127.0.0.1:5555/subscriptions/s/operationResults/1".into()),
            }
        );
        let azure = "https://management.azure.com/subscriptions/s/operationResults/1".to_string();
        let mut p = Poll::Location { url: azure.clone() };
        rebase_poll(&mut p, "http://127.0.0.1:5555");
        assert_eq!(p, Poll::Location { url: azure });
    }
}
