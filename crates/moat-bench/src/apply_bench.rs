//! Benchmark 1: `apply` from an empty cloud against an in-process emulator running at scaled
//! real provisioning times, compared with the lower bound of the plan's schedule.
//!
//! The apply is wired exactly as `moat apply` wires it (lock, state record in a local
//! directory, live read, plan, the walker with the CLI's default parallelism); the state
//! backend is wrapped only to count and time its writes.

use crate::bound::{self, Bound, Priority};
use anyhow::{Context as _, bail};
use moat_arm::{
    Arm as _, ArmClient, BucketLimit, ClientConfig, ClientLimits, Endpoint, WriteRequest,
};
use moat_engine::apply::{ApplyOptions, Event, Progress, StateStore, apply};
use moat_engine::diff::PlanInput;
use moat_engine::plan::Plan;
use moat_engine::state::{
    LocalBackend, LockGuard, LockInfo, StateBackend, StateError, StateRecord,
};
use moat_model::Model;
use moat_model::arm::MapContext;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Settings shared by every apply run.
#[derive(Clone, Copy, Debug)]
pub struct ApplySettings {
    /// Emulator time scale.
    pub time_scale: f64,
    /// Emulator latency per request.
    pub latency: Duration,
    /// Writes in flight at once (0: unbounded).
    pub parallelism: usize,
    /// Divide the emulator's and the client's throttling refill rates by the time scale.
    pub scale_limits: bool,
    /// Keep the state record in memory only (a diagnostic: what the apply costs without
    /// persisting the record; not how moat runs).
    pub state_in_memory: bool,
    /// The emulator's duration seed (`None`: every operation its typical time).
    pub seed: Option<u64>,
    /// ARM's limits in the emulator and the client (false: unlimited, the "without limits"
    /// curve).
    pub limited: bool,
}

/// What one apply measured.
#[derive(Clone, Debug, Serialize)]
pub struct ApplyFigures {
    /// Spec label.
    pub spec: String,
    /// Resources in the plan.
    pub resources: usize,
    /// Writes done.
    pub writes: usize,
    /// Parallelism cap used (0: unbounded).
    pub parallelism: usize,
    /// The state record was kept in memory (diagnostic run).
    pub state_in_memory: bool,
    /// Throttling refill rates were scaled with time.
    pub scale_limits: bool,
    /// Time scale used.
    pub time_scale: f64,
    /// The emulator's duration seed.
    pub seed: Option<u64>,
    /// ARM's limits applied.
    pub limited: bool,
    /// The observable bound, scaled, seconds: every operation rounded up to its provider's
    /// polling interval (what a client polling at the advised cadence can see at best).
    pub observable_bound_s: f64,
    /// `apply_s / observable_bound_s`.
    pub observable_ratio: f64,
    /// ARM's budget term of both bounds (refill time of the request buckets for the
    /// requests the apply cannot do without), scaled, seconds.
    pub budget_s: f64,
    /// Live read + plan, seconds.
    pub plan_s: f64,
    /// The apply walk, seconds.
    pub apply_s: f64,
    /// The lower bound, scaled, seconds.
    pub lower_bound_s: f64,
    /// `apply_s / lower_bound_s`.
    pub ratio: f64,
    /// The bound's parts (unscaled seconds).
    pub bound: Bound,
    /// Zero-overhead list schedule with moat's priority (node count), scaled seconds.
    pub schedule_nodes_s: f64,
    /// Zero-overhead list schedule with provisioning-time priority, scaled seconds.
    pub schedule_weighted_s: f64,
    /// Requests the client sent during the apply.
    pub requests: u64,
    /// Long-running-operation polls during the apply.
    pub polls: u64,
    /// 429 answers the client received (whole run).
    pub http_429: u64,
    /// State record writes during the apply.
    pub state_writes: u64,
    /// Seconds spent writing the state record (serialised by the record's mutex).
    pub state_write_s: f64,
    /// Size of the final state record, bytes.
    pub state_bytes: usize,
    /// Changes a second plan finds right after the apply (should be 0).
    pub replan_changes: usize,
    /// Apply wall times of every repetition (this run is the median).
    pub runs_apply_s: Vec<f64>,
    /// Each write's start, acceptance and end, by start time.
    pub timeline: Vec<Step>,
}

/// When each write started, was accepted by ARM and finished, seconds from the apply's start.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Step {
    /// Resource key.
    pub key: String,
    /// The walker started it.
    pub start: f64,
    /// ARM accepted the write.
    pub accepted: f64,
    /// Done.
    pub end: f64,
}

/// Records a [`Step`] per resource from the apply's events.
struct Timeline {
    t0: Instant,
    steps: std::sync::Mutex<BTreeMap<String, Step>>,
}

impl Progress for Timeline {
    fn event(&self, event: Event) {
        let now = self.t0.elapsed().as_secs_f64();
        let Ok(mut steps) = self.steps.lock() else {
            return;
        };
        let step = |steps: &mut BTreeMap<String, Step>, key: &str| -> Step {
            steps.get(key).cloned().unwrap_or_else(|| Step {
                key: key.to_string(),
                ..Step::default()
            })
        };
        match event {
            Event::Started { key, .. } => {
                let mut s = step(&mut steps, &key);
                s.start = now;
                steps.insert(key, s);
            }
            Event::Accepted { key, .. } => {
                let mut s = step(&mut steps, &key);
                s.accepted = now;
                steps.insert(key, s);
            }
            Event::Finished { key, .. } => {
                let mut s = step(&mut steps, &key);
                s.end = now;
                steps.insert(key, s);
            }
            _ => {}
        }
    }
}

/// Wraps the local backend to count and time writes.
struct TimedBackend {
    inner: LocalBackend,
    /// Skip the write (the record then lives only in the `StateStore`).
    in_memory: bool,
    writes: AtomicU64,
    nanos: AtomicU64,
}

#[async_trait::async_trait]
impl StateBackend for TimedBackend {
    async fn lock(&self, info: LockInfo, timeout: Duration) -> Result<LockGuard, StateError> {
        self.inner.lock(info, timeout).await
    }
    async fn read(&self) -> Result<Option<StateRecord>, StateError> {
        self.inner.read().await
    }
    async fn fingerprint_key(&self) -> Result<Vec<u8>, StateError> {
        self.inner.fingerprint_key().await
    }
    async fn write(&self, record: &StateRecord) -> Result<(), StateError> {
        let t = Instant::now();
        let r = if self.in_memory {
            Ok(())
        } else {
            self.inner.write(record).await
        };
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.nanos
            .fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
        r
    }
    async fn holder(&self) -> Result<Option<LockInfo>, StateError> {
        self.inner.holder().await
    }
    async fn force_unlock(&self) -> Result<Option<LockInfo>, StateError> {
        self.inner.force_unlock().await
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

/// ARM's per-subscription limits with every refill rate divided by `time_scale` (bursts
/// unchanged), or ARM's own limits when `scaled` is false.
///
/// The emulator compresses provisioning times by `time_scale`; a request budget that is not
/// compressed with them is a hundred times tighter, relative to the work, than Azure's at
/// 0.01 — apply's polls would run out of reads long before they would on Azure.
pub fn limits(time_scale: f64, scaled: bool) -> (moat_sim::Limits, ClientLimits) {
    let (sim, client) = (moat_sim::Limits::default(), ClientLimits::default());
    if !scaled {
        return (sim, client);
    }
    if time_scale <= 0.0 {
        return (moat_sim::Limits::unlimited(), ClientLimits::unlimited());
    }
    let speed = |b: Option<moat_sim::Bucket>| {
        b.map(|b| moat_sim::Bucket {
            per_second: b.per_second / time_scale,
            ..b
        })
    };
    let fast = |b: BucketLimit| BucketLimit {
        refill_per_sec: b.refill_per_sec / time_scale,
        ..b
    };
    (
        moat_sim::Limits {
            reads: speed(sim.reads),
            writes: speed(sim.writes),
            deletes: speed(sim.deletes),
        },
        ClientLimits {
            reads: fast(client.reads),
            writes: fast(client.writes),
            deletes: fast(client.deletes),
        },
    )
}

/// Starts an emulator with the timing and limits of `s`.
pub async fn start_sim(s: &ApplySettings) -> anyhow::Result<moat_sim::SimHandle> {
    let config = moat_sim::SimConfig {
        time_scale: s.time_scale,
        latency: s.latency,
        limits: if s.limited {
            limits(s.time_scale, s.scale_limits).0
        } else {
            moat_sim::Limits::unlimited()
        },
        seed: s.seed,
        ..moat_sim::SimConfig::default()
    };
    moat_sim::start(([127, 0, 0, 1], 0).into(), config)
        .await
        .context("cannot start the emulator")
}

/// A client aimed at `url` with moat's defaults for a loopback endpoint, and `limits` for its
/// own throttling (ARM's when `None`).
pub async fn client_for(url: &str, limits: Option<ClientLimits>) -> anyhow::Result<Arc<ArmClient>> {
    moat_arm::install_crypto_provider();
    let mut config = ClientConfig::for_endpoint(Endpoint::parse(url)?);
    if let Some(l) = limits {
        config.limits = l;
    }
    // A diagnostic: moat's redacted HTTP trace of the benchmark's requests.
    config.log_http = std::env::var_os("MOAT_BENCH_LOG_HTTP").map(std::path::PathBuf::from);
    Ok(Arc::new(ArmClient::new(config).await?))
}

/// Reads live state and plans `model` against the record.
pub async fn make_plan(
    client: &ArmClient,
    model: &Model,
    record: &StateRecord,
) -> anyhow::Result<(Plan, usize)> {
    make_plan_with(client, model, record, false, true).await
}

/// [`make_plan`] of a destroy (`destroy`), with list reads on or off (`lists`).
pub async fn make_plan_with(
    client: &dyn moat_arm::Arm,
    model: &Model,
    record: &StateRecord,
    destroy: bool,
    lists: bool,
) -> anyhow::Result<(Plan, usize)> {
    let ctx = MapContext {
        tenant: moat_model::LOCAL_TENANT.to_string(),
        ..MapContext::default()
    };
    // As `moat plan` does: the spec's resources are planned as their reads land.
    let (live, early) =
        moat_engine::live::read_live_planning(client, model, record, &ctx, 64, lists, destroy)
            .await?;
    let input = PlanInput {
        model,
        live: &live,
        state: record,
        ctx: &ctx,
        spec_hash: String::new(),
        destroy,
    };
    let p = moat_engine::diff::plan_replacing_early(&input, &Default::default(), &[], early)
        .map_err(|errors| {
            let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("the plan failed: {}", list.join("; "))
        })?;
    Ok((p, live.requests))
}

/// Creates what `examples/shared-vnet-training.yaml` expects to exist already: the hub team's
/// VNet with its two subnets.
pub async fn seed_hub(client: &ArmClient) -> anyhow::Result<()> {
    let sub = moat_model::LOCAL_SUBSCRIPTION;
    let rg = format!("/subscriptions/{sub}/resourceGroups/network-rg");
    let vnet = format!("{rg}/providers/Microsoft.Network/virtualNetworks/hub-vnet");
    let writes = [
        WriteRequest::put(&rg, "2024-07-01", json!({"location": "westeurope"})),
        WriteRequest::put(
            &vnet,
            "2024-03-01",
            json!({
                "location": "westeurope",
                "properties": {
                    "addressSpace": {"addressPrefixes": ["10.100.0.0/16"]},
                    "subnets": [
                        {"name": "ml-training", "properties": {
                            "addressPrefix": "10.100.1.0/24",
                            "serviceEndpoints": [
                                {"service": "Microsoft.Storage"},
                                {"service": "Microsoft.KeyVault"}
                            ]}},
                        {"name": "ml-inference", "properties": {
                            "addressPrefix": "10.100.16.0/20",
                            "serviceEndpoints": [{"service": "Microsoft.Storage"}]}}
                    ]
                }
            }),
        ),
    ];
    for w in writes {
        let started = client.begin(w).await?;
        client.wait(&started.operation).await?;
    }
    Ok(())
}

/// Applies `model` from an empty cloud on the emulator behind `client`, the way `moat apply`
/// does, and measures it.
pub async fn run(
    label: &str,
    model: &Model,
    client: Arc<ArmClient>,
    state_dir: &Path,
    s: ApplySettings,
) -> anyhow::Result<ApplyFigures> {
    let stack = model.stack.value.clone();
    let backend = Arc::new(TimedBackend {
        inner: LocalBackend::new(state_dir, &stack),
        in_memory: s.state_in_memory,
        writes: AtomicU64::new(0),
        nanos: AtomicU64::new(0),
    });
    let guard = backend
        .lock(LockInfo::new("apply"), Duration::from_secs(5))
        .await?;
    let record = backend
        .read()
        .await?
        .unwrap_or_else(|| StateRecord::new(&stack));
    let t = Instant::now();
    let (p, _) = make_plan(&client, model, &record).await?;
    let plan_s = t.elapsed().as_secs_f64();
    let timing = bound::Timing {
        seed: s.seed,
        observable: false,
    };
    let tasks = bound::tasks_of(&p, timing);
    let b = bound::lower_bound(&tasks, s.parallelism);
    let ob = bound::lower_bound(
        &bound::tasks_of(
            &p,
            bound::Timing {
                observable: true,
                ..timing
            },
        ),
        s.parallelism,
    );
    // In the bench's seconds: scaled with time when the limits' refill is.
    let budget_s = match (s.limited, s.scale_limits) {
        (false, _) => 0.0,
        // The plan's own reads are left out: the bucket may refill while it runs, and a
        // lower bound must not count what it cannot be sure of.
        (true, true) => bound::budget_secs(&p, 0) * s.time_scale,
        (true, false) => bound::budget_secs(&p, 0),
    };
    let store = Arc::new(StateStore::new(backend.clone(), record));
    let before = client.stats();
    let writes_before = backend.writes.load(Ordering::Relaxed);
    let nanos_before = backend.nanos.load(Ordering::Relaxed);
    let opts = ApplyOptions {
        parallelism: s.parallelism,
        ..ApplyOptions::default()
    };
    let timeline = Arc::new(Timeline {
        t0: Instant::now(),
        steps: std::sync::Mutex::new(BTreeMap::new()),
    });
    let report = apply(&p, client.clone(), store.clone(), timeline.clone(), &opts).await;
    let after = client.stats();
    guard.release().await?;
    if !report.is_success() {
        let failed: Vec<String> = report
            .outcomes
            .iter()
            .filter(|(_, _, o)| !matches!(o, moat_engine::apply::ResourceOutcome::Done { .. }))
            .map(|(k, _, o)| format!("{k}: {o:?}"))
            .collect();
        bail!("the apply of {label} failed: {}", failed.join("; "));
    }
    let mut timeline: Vec<Step> = timeline
        .steps
        .lock()
        .map(|s| s.values().cloned().collect())
        .unwrap_or_default();
    timeline.sort_by(|a, b| a.start.total_cmp(&b.start));
    let record = store.snapshot().await;
    let (again, _) = make_plan(&client, model, &record).await?;
    let replan_changes = again.resources.iter().filter(|r| r.action.writes()).count();
    if replan_changes != 0 {
        let keys: Vec<&str> = again
            .resources
            .iter()
            .filter(|r| r.action.writes())
            .map(|r| r.key.as_str())
            .collect();
        bail!(
            "the plan right after the apply of {label} still has {replan_changes} change(s): {}",
            keys.join(", ")
        );
    }
    let apply_s = report.elapsed.as_secs_f64();
    let lower = (b.lower_bound_s * s.time_scale).max(budget_s);
    let observable = (ob.lower_bound_s * s.time_scale).max(budget_s);
    Ok(ApplyFigures {
        spec: label.to_string(),
        resources: p.resources.len(),
        writes: p.resources.iter().filter(|r| r.action.writes()).count(),
        parallelism: s.parallelism,
        state_in_memory: s.state_in_memory,
        scale_limits: s.scale_limits,
        time_scale: s.time_scale,
        seed: s.seed,
        limited: s.limited,
        observable_bound_s: observable,
        observable_ratio: apply_s / observable,
        budget_s,
        plan_s,
        apply_s,
        lower_bound_s: lower,
        ratio: apply_s / lower,
        schedule_nodes_s: bound::simulate(&tasks, s.parallelism, Priority::Nodes) * s.time_scale,
        schedule_weighted_s: bound::simulate(&tasks, s.parallelism, Priority::Weighted)
            * s.time_scale,
        bound: b,
        requests: after.requests_sent - before.requests_sent,
        polls: after.polls - before.polls,
        http_429: after.throttled,
        state_writes: backend.writes.load(Ordering::Relaxed) - writes_before,
        state_write_s: (backend.nanos.load(Ordering::Relaxed) - nanos_before) as f64 / 1e9,
        state_bytes: record.to_json().len(),
        replan_changes,
        runs_apply_s: vec![apply_s],
        timeline,
    })
}

/// [`bench_spec`] `repeats` times; the run with the median apply time, carrying every time.
pub async fn bench_median(
    label: &str,
    text: &str,
    s: ApplySettings,
    repeats: usize,
) -> anyhow::Result<(ApplyFigures, Resources)> {
    let mut runs = Vec::new();
    for _ in 0..repeats.max(1) {
        runs.push(bench_spec(label, text, s).await?);
    }
    let times: Vec<f64> = runs.iter().map(|(f, _)| f.apply_s).collect();
    runs.sort_by(|a, b| a.0.apply_s.total_cmp(&b.0.apply_s));
    let (mut f, ids) = runs.swap_remove(runs.len() / 2);
    f.runs_apply_s = times;
    Ok((f, ids))
}

/// What an emulator holds after a run: each resource's body by lower-cased ID.
pub type Resources = std::collections::BTreeMap<String, Value>;

/// One whole apply benchmark: a fresh emulator, the spec applied, what the emulator holds.
pub async fn bench_spec(
    label: &str,
    text: &str,
    s: ApplySettings,
) -> anyhow::Result<(ApplyFigures, Resources)> {
    let model = crate::offline::model_of(label, text)?;
    let sim = start_sim(&s).await?;
    let client_limits = if s.limited {
        limits(s.time_scale, s.scale_limits).1
    } else {
        ClientLimits::unlimited()
    };
    let client = client_for(&sim.url(), Some(client_limits)).await?;
    if model
        .resources
        .iter()
        .any(|r| r.is_existing() && r.id.contains("/hub-vnet"))
    {
        seed_hub(&client).await?;
    }
    let dir = tempfile::tempdir()?;
    let figures = run(label, &model, client, dir.path(), s).await?;
    let resources = resources_by_id(&sim);
    sim.shutdown().await;
    Ok((figures, resources))
}

/// Every resource the emulator holds, as it would answer a GET, by lower-cased ID.
pub fn resources_by_id(sim: &moat_sim::SimHandle) -> Resources {
    sim.resources()
        .into_iter()
        .filter_map(|r| {
            let id = r.get("id")?.as_str()?.to_ascii_lowercase();
            Some((id, r))
        })
        .collect()
}
