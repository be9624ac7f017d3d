//! The apply walker: executes a [`Plan`] over its own graph — creates and updates in
//! dependency order, then deletes in reverse — as many at once as the graph, the parallelism
//! cap and the per-VNet lock groups allow. Before each write the intent is journalled in the
//! state record, then the operation's resume token, then the result, each with an atomic write,
//! so a crash at any moment leaves enough behind for the next apply to finish the job.

use crate::plan::{Action, Plan, ResourcePlan};
use crate::state::{JournalEntry, ResourceState, StateBackend, StateError, StateRecord};
use moat_arm::{Arm, ArmError, Method, Operation, Poll, Url, WriteRequest, is_loopback};
use moat_graph::{Graph, Outcome, WalkOptions, walk};
use moat_model::kinds::Scope;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
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
            let mut guard = lock(&self.record);
            f(&mut guard.0);
            guard.1 += 1;
            guard.1
        };
        let mut written = self.writer.lock().await;
        if *written >= mine {
            return Ok(());
        }
        let (snapshot, upto) = {
            let mut guard = lock(&self.record);
            guard.0.serial += 1;
            (guard.0.clone(), guard.1)
        };
        self.backend.write(&snapshot).await?;
        *written = upto;
        Ok(())
    }

    /// Reads the current record in place.
    pub fn with_record<T>(&self, f: impl FnOnce(&StateRecord) -> T) -> T {
        f(&self
            .record
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0)
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
        // Children written inside their parent's PUT (subnets in their VNet's): the parent
        // waits for what they need (their NSG, route table), they wait for the parent, and
        // they take no lock of their own since they send nothing. Only whole entries ride or
        // carry: the halves of a split replacement are writes of their own.
        let inline = if phase == 0 {
            let whole: Vec<&ResourcePlan> = items
                .iter()
                .filter(|(_, step, _)| *step == Step::Whole)
                .map(|(_, _, r)| *r)
                .collect();
            inline_children(&whole)
        } else {
            BTreeMap::new()
        };
        let mut riders: BTreeMap<&str, Vec<&ResourcePlan>> = BTreeMap::new();
        for (_, _, r) in items {
            if let Some(parent) = inline.get(&r.key) {
                riders.entry(parent.as_str()).or_default().push(*r);
            }
        }
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
            if let Some(parent) = inline.get(&r.key) {
                let _ = graph.add_edge(&r.key, parent);
                for d in &r.depends_on {
                    if d != parent && graph.contains(d) && inline.get(d) != Some(parent) {
                        let _ = graph.add_edge(parent, d);
                    }
                }
            }
        }
        let mut wo = WalkOptions::new()
            .parallelism(opts.parallelism)
            .cancel(opts.cancel.clone());
        for (node, step, r) in items {
            let carried = *step == Step::Whole && inline.contains_key(&r.key);
            if let Some(g) = lock_of(r)
                && r.action.writes()
                && !carried
            {
                wo = wo.lock_group(node.clone(), g);
            }
            // What writes nothing costs nothing; a replace is a delete and a create.
            let cost = match r.action {
                _ if carried => 0,
                a if !a.writes() => 0,
                Action::Replace if *step == Step::Whole => 2 * r.kind.typical_seconds(),
                _ => r.kind.typical_seconds(),
            };
            wo = wo.weight(node.clone(), cost);
        }
        // Riders a parent has finished and recorded: done, even when the walk is interrupted
        // before their own (empty) nodes run.
        let carried_done: std::sync::Mutex<BTreeMap<String, Duration>> =
            std::sync::Mutex::new(BTreeMap::new());
        let (inline, riders, carried_done) = (&inline, &riders, &carried_done);
        let report = walk(&graph, &wo, |_key, (step, r)| {
            let secrets = opts.secrets.clone();
            let arm = arm.clone();
            let store = store.clone();
            let progress = progress.clone();
            let (step, r) = (*step, *r);
            async move {
                let t0 = tokio::time::Instant::now();
                if step == Step::Whole && inline.contains_key(&r.key) {
                    // Written, recorded and reported by its parent.
                    return Ok(());
                }
                let mine: &[&ResourcePlan] = match step {
                    Step::Whole => riders.get(r.key.as_str()).map_or(&[], |v| v.as_slice()),
                    _ => &[],
                };
                // The old self of a split replacement is reported with its new self.
                let reported = r.action.writes() && step != Step::OldSelf;
                if reported {
                    // The riders start, are accepted and finish with their parent's write.
                    for k in std::iter::once(r).chain(mine.iter().copied()) {
                        progress.event(Event::Started {
                            key: k.key.clone(),
                            action: k.action,
                        });
                    }
                }
                let relay = Relay {
                    inner: progress.as_ref(),
                    parent: &r.key,
                    riders: mine,
                };
                let mut run = run_one(r, step, mine, arm.as_ref(), &store, &relay, &secrets).await;
                if run.is_ok() {
                    for k in mine {
                        if let Err(e) = carried_one(k, &store).await {
                            run = Err(e);
                            break;
                        }
                        lock(carried_done).insert(k.key.clone(), t0.elapsed());
                        progress.event(Event::Finished {
                            key: k.key.clone(),
                            action: k.action,
                            elapsed: t0.elapsed(),
                        });
                    }
                }
                match run {
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
                        // Its riders are reported skipped (because of it) by the walk.
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
                    // A rider took as long as its parent's write.
                    elapsed: lock(carried_done)
                        .get(&r.key)
                        .copied()
                        .or(d)
                        .unwrap_or_default(),
                },
                Some((Outcome::Failed(e), _)) => ResourceOutcome::Failed(e.clone()),
                Some((Outcome::Skipped { because }, _)) => {
                    progress.event(Event::Skipped {
                        key: r.key.clone(),
                        because: because.clone(),
                    });
                    ResourceOutcome::Skipped(because.clone())
                }
                // A rider its parent wrote and recorded before an interruption.
                _ => match lock(carried_done).get(&r.key) {
                    Some(d) => ResourceOutcome::Done { elapsed: *d },
                    None => ResourceOutcome::NotStarted,
                },
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

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The lock a write takes: the ID of the resource Azure serialises it on
/// ([`moat_model::Kind::lock_id`]: a subnet of its own shares its VNet's lock with the VNet and
/// every sibling), else the plan's group.
fn lock_of(r: &ResourcePlan) -> Option<String> {
    r.kind.lock_id(&r.id).or_else(|| r.lock_group.clone())
}

/// The children of `items` whose create or update is sent inside their parent's PUT, by child
/// key → parent key: a kind the registry marks `written_in_parent` (a subnet), created or
/// updated by a PUT, whose parent the same plan creates or updates by a PUT — one operation
/// instead of one per child under the parent's lock. A child stays a write of its own when
/// it is replaced or moves under a new ID, when its parent is not written, and when something
/// it needs (besides its parent) itself needs the parent: the parent would then wait for
/// itself.
pub fn inline_children(items: &[&ResourcePlan]) -> BTreeMap<String, String> {
    let puts = |r: &ResourcePlan| {
        matches!(r.action, Action::Create | Action::Update)
            && r.replaces.is_none()
            && r.request
                .as_ref()
                .is_some_and(|q| q.method.arm() == Method::Put && q.body.is_some())
    };
    let by_key: BTreeMap<&str, &ResourcePlan> =
        items.iter().map(|r| (r.key.as_str(), *r)).collect();
    // Whether `from` reaches `to` through `depends_on`.
    let reaches = |from: &str, to: &str| {
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut stack = vec![from];
        while let Some(k) = stack.pop() {
            if k == to {
                return true;
            }
            if !seen.insert(k) {
                continue;
            }
            if let Some(r) = by_key.get(k) {
                stack.extend(r.depends_on.iter().map(String::as_str));
            }
        }
        false
    };
    let mut out = BTreeMap::new();
    for r in items {
        let def = r.kind.def();
        let Scope::Child { parent, segment } = def.scope else {
            continue;
        };
        if !def.written_in_parent || !puts(r) {
            continue;
        }
        let Some((parent_id, _)) =
            r.id.to_ascii_lowercase()
                .rsplit_once(&format!("/{}/", segment.to_ascii_lowercase()))
                .map(|(p, n)| (p.to_string(), n.to_string()))
        else {
            continue;
        };
        let Some(p) = items
            .iter()
            .find(|p| p.kind == parent && p.id.eq_ignore_ascii_case(&parent_id) && puts(p))
        else {
            continue;
        };
        if r.depends_on
            .iter()
            .any(|d| *d != p.key && reaches(d, &p.key))
        {
            continue;
        }
        out.insert(r.key.clone(), p.key.clone());
    }
    out
}

/// Passes events on, and repeats a parent's `Accepted` for the children riding in its PUT.
struct Relay<'a> {
    inner: &'a dyn Progress,
    parent: &'a str,
    riders: &'a [&'a ResourcePlan],
}

impl Progress for Relay<'_> {
    fn event(&self, event: Event) {
        if let Event::Accepted { key, request_id } = &event
            && key == self.parent
        {
            for r in self.riders {
                self.inner.event(Event::Accepted {
                    key: r.key.clone(),
                    request_id: request_id.clone(),
                });
            }
        }
        self.inner.event(event);
    }
}

/// A child whose write went with its parent's PUT, which has succeeded: only the record.
async fn carried_one(r: &ResourcePlan, store: &StateStore) -> Result<(), ApplyError> {
    if let Some(from) = &r.moved_from {
        let to = r.key.clone();
        store.update(|rec| rec.rekey(from, &to)).await?;
    }
    record(store, r, None).await?;
    Ok(())
}

/// The parent's PUT body with its riding children in `properties.<segment>`. The list is the
/// full set (BEHAVIOR.md §5.1: a child left out is deleted), so every child the parent holds
/// now is carried through as it is (read again just before the write, under the parent's
/// lock: a subnet another stack added since the plan stays), except the riders, which take
/// their planned bodies; children the plan deletes stay until their own DELETE.
async fn with_riders(
    r: &ResourcePlan,
    riders: &[&ResourcePlan],
    body: &mut Value,
    arm: &dyn Arm,
) -> Result<(), ApplyError> {
    let Some(first) = riders.first() else {
        return Ok(());
    };
    let Scope::Child { segment, .. } = first.kind.def().scope else {
        return Ok(());
    };
    let path = format!("properties.{segment}");
    let name_of = |id: &str| id.rsplit('/').next().unwrap_or_default().to_string();
    let planned = |q: &ResourcePlan| {
        let mut item = q
            .request
            .as_ref()
            .and_then(|x| x.body.clone())
            .unwrap_or_else(|| Value::Object(Default::default()));
        if let Value::Object(m) = &mut item {
            m.insert("name".into(), Value::String(name_of(&q.id)));
        }
        item
    };
    let live: Vec<Value> = if r.action == Action::Update {
        arm.get(&r.id, &r.api_version)
            .await?
            .and_then(|b| moat_model::json::get(&b, &path).cloned())
            .and_then(|v| v.as_array().cloned())
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let mut list = Vec::new();
    let mut done: BTreeSet<&str> = BTreeSet::new();
    for child in &live {
        let name = child
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match riders
            .iter()
            .find(|q| name_of(&q.id).eq_ignore_ascii_case(name))
        {
            Some(q) => {
                done.insert(q.key.as_str());
                list.push(planned(q));
            }
            None => {
                // As the GET returned it, less its provisioning state (read-only; ARM ignores
                // the other read-only fields on a PUT, as in every recorded read-modify-write).
                let mut item = child.clone();
                if let Some(Value::Object(p)) = item.get_mut("properties") {
                    p.remove("provisioningState");
                }
                list.push(item);
            }
        }
    }
    for q in riders {
        if !done.contains(q.key.as_str()) {
            list.push(planned(q));
        }
    }
    moat_model::json::set(body, &path, Value::Array(list));
    Ok(())
}

async fn run_one(
    r: &ResourcePlan,
    step: Step,
    riders: &[&ResourcePlan],
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
            // Compared in place: a copy of the whole record per no-op would make a no-op
            // apply quadratic in the stack's size.
            let same = store.with_record(|rec| {
                rec.resources
                    .get(&r.key)
                    .is_some_and(|s| Some(&s.applied) == applied.as_ref())
            });
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
            with_riders(r, riders, &mut body, arm).await?;
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
        .with_record(|rec| rec.resources.get(&r.key).map(|s| s.outputs.clone()))
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
    use moat_model::Kind;

    const V: &str =
        "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/virtualNetworks/v";
    const N: &str =
        "/subscriptions/s/resourceGroups/g/providers/Microsoft.Network/networkSecurityGroups/n";

    fn planned(key: &str, kind: Kind, id: &str, action: Action, deps: &[&str]) -> ResourcePlan {
        ResourcePlan {
            key: key.into(),
            kind,
            id: id.into(),
            api_version: kind.api_version().into(),
            action,
            reasons: Vec::new(),
            changes: Vec::new(),
            depends_on: deps.iter().map(|d| d.to_string()).collect(),
            lock_group: kind.lock_group(key),
            request: action.writes().then(|| crate::plan::Request {
                method: crate::plan::Method::Put,
                body: Some(serde_json::json!({"properties": {}})),
                query: Vec::new(),
            }),
            live_etag: None,
            applied: None,
            destructive: false,
            moved_from: None,
            replaces: None,
            delete_first: false,
        }
    }

    #[test]
    fn subnets_ride_in_their_vnets_put_only_when_the_vnet_is_written_and_no_cycle_follows() {
        let sub = |name: &str, deps: &[&str]| {
            planned(
                &format!("vnet/{name}"),
                Kind::Subnet,
                &format!("{V}/subnets/{name}"),
                Action::Create,
                deps,
            )
        };
        let vnet = planned("vnet", Kind::VirtualNetwork, V, Action::Create, &[]);
        let nsg = planned("nsg", Kind::NetworkSecurityGroup, N, Action::Create, &[]);
        // An NSG that itself waits for the VNet: `c` cannot ride (the VNet would wait for
        // itself through it).
        let late = planned(
            "late",
            Kind::NetworkSecurityGroup,
            &format!("{N}2"),
            Action::Create,
            &["vnet"],
        );
        let (a, b, c) = (
            sub("a", &["vnet", "nsg"]),
            sub("b", &["vnet"]),
            sub("c", &["vnet", "late"]),
        );
        // A subnet of its own in a network of another stack (not in the plan): its own PUT.
        let own = planned(
            "team",
            Kind::Subnet,
            "/subscriptions/s/resourceGroups/hub/providers/Microsoft.Network/virtualNetworks/hub/subnets/team",
            Action::Create,
            &[],
        );
        let items = [&vnet, &nsg, &late, &a, &b, &c, &own];
        let got = inline_children(&items);
        assert_eq!(
            got.into_iter().collect::<Vec<_>>(),
            [
                ("vnet/a".to_string(), "vnet".to_string()),
                ("vnet/b".to_string(), "vnet".to_string())
            ]
        );
        // A VNet the plan leaves alone carries nothing: its subnets are written on their own.
        let idle = planned("vnet", Kind::VirtualNetwork, V, Action::NoOp, &[]);
        assert!(inline_children(&[&idle, &a, &b]).is_empty());
        // A replaced subnet is a DELETE and a PUT of its own.
        let mut r = sub("a", &["vnet"]);
        r.action = Action::Replace;
        assert!(inline_children(&[&vnet, &r]).is_empty());
    }

    #[test]
    fn a_subnet_of_its_own_takes_its_vnets_lock_whatever_its_key() {
        let vnet = planned("hub", Kind::VirtualNetwork, V, Action::Update, &[]);
        let mine = planned(
            "team",
            Kind::Subnet,
            &format!("{V}/subnets/team"),
            Action::Create,
            &[],
        );
        let inline = planned(
            "hub/x",
            Kind::Subnet,
            &format!("{}/SUBNETS/x", V.to_uppercase()),
            Action::Create,
            &[],
        );
        assert_eq!(mine.lock_group, None, "the key names no VNet");
        assert_eq!(lock_of(&vnet), Some(V.to_ascii_lowercase()));
        assert_eq!(lock_of(&mine), lock_of(&vnet));
        assert_eq!(lock_of(&inline), lock_of(&vnet));
        assert_eq!(
            lock_of(&planned(
                "n",
                Kind::NetworkSecurityGroup,
                N,
                Action::Create,
                &[]
            )),
            None
        );
    }

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
