//! Benchmark: k `moat plan`s at once in one subscription, against one emulator with ARM's
//! read budget (250 + 25/s per subscription), the way several CI jobs of a platform team hit
//! ARM together. Each plan runs on its own thread with its own runtime and client, as separate
//! processes would, so the only thing they share is the machine and what ARM tells them
//! (`x-ms-ratelimit-remaining-*`, 429 and `Retry-After`).
//!
//! Goals (issue 18 item 4): no resource left unread, 429s at most 1 % of the requests, and the
//! slowest plan within 1.1 × the combined bound. Two things bound k plans at once:
//! - the reads of all k plans through one bucket, `max(latency × rounds, (reads − burst) /
//!   rate + latency)` ([`crate::plan_bench::lower_bound_rounds`]);
//! - the machine: the k plans' work, measured by running each plan alone first (its wall time,
//!   the CPU seconds the process — plans and emulator — spent on it, of those what the plans
//!   spent before their first request, and the time the emulator held its state lock alone,
//!   under which it serves every request but a list one at a time), can finish no sooner than
//!   `max(slowest plan alone, latency + Σ (CPU seconds − before the first request) / cores,
//!   Σ exclusive lock time)`: the k plans start together, and no answer, so no work of the
//!   emulator's or of a plan reading it, comes before one round trip.
//!
//! With list reads (the default) a 1 000-resource plan needs ~13 reads, so k plans stay inside
//! the burst and the machine bound is the larger one. The second regime, GET reads of smaller
//! stacks, makes the budget bind, which is where adapting to ARM's headers matters.

use crate::apply_bench::{client_for, make_plan_with};
use crate::plan_bench::{put_everything, record_of, start_sim};
use anyhow::Context as _;
use moat_arm::{
    Arm, ArmClient, ArmError, ClientConfig, ClientLimits, Endpoint, Listing, Operation, Started,
    WriteRequest,
};
use moat_engine::plan::{Action, Plan};
use moat_engine::state::StateRecord;
use moat_model::Model;
use serde::Serialize;
use serde_json::Value;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// What one run of k concurrent plans measured.
#[derive(Clone, Debug, Serialize)]
pub struct ConcurrentFigures {
    /// Plans run at once.
    pub plans: usize,
    /// Resources in each plan's spec.
    pub resources_each: usize,
    /// `list` (list reads, as `moat plan` reads) or `get` (one GET per resource).
    pub reads: &'static str,
    /// Requests all plans need together at least.
    pub reads_needed: usize,
    /// Per-request latency, seconds.
    pub latency_s: f64,
    /// Time from the first plan's start until the last plan finished, seconds, in the round
    /// with the median of that time (the other per-round figures are that round's).
    pub wall_s: f64,
    /// Each plan's own time, seconds.
    pub plan_s: Vec<f64>,
    /// The read-budget bound for `reads_needed` through one bucket, seconds.
    pub bound_s: f64,
    /// `wall_s / bound_s`.
    pub read_bound_ratio: f64,
    /// Each plan alone, before the concurrent run: wall seconds (list regime only).
    pub solo_s: Vec<f64>,
    /// CPU seconds the process (plans and emulator) spent on the solo runs together.
    pub solo_cpu_s: f64,
    /// Of `solo_cpu_s`, what the plans' threads spent before their first request.
    pub solo_before_first_s: f64,
    /// Seconds the emulator held its state lock alone for the solo runs together: it serves
    /// every request but a list one at a time under it, so the k plans' reads need at least
    /// this long (0 when they only list).
    pub serial_s: f64,
    /// CPU seconds the process spent on the concurrent run.
    pub cpu_s: f64,
    /// Of `cpu_s`, the plans' own threads (the rest is the emulator's).
    pub plan_cpu_s: f64,
    /// Cores of the machine.
    pub cores: usize,
    /// `max(slowest solo plan, latency + (solo CPU seconds − before the first request) /
    /// cores, lock seconds)`, each the median over
    /// the rounds (0 in the GET regime, where the budget bound is larger by two orders of
    /// magnitude and solo runs would drain the bucket).
    pub machine_bound_s: f64,
    /// `max(bound_s, machine_bound_s)`.
    pub combined_bound_s: f64,
    /// `wall_s / combined_bound_s` (goal ≤ 1.1).
    pub ratio: f64,
    /// Each round's wall time against its own solo runs, ascending (the spread of the noise).
    pub ratios: Vec<f64>,
    /// `wall_s / (cpu_s / cores)`: the wall time against the CPU the concurrent run itself
    /// used, spread over the cores (1.0: no core was ever idle). Where it is near 1 and
    /// `ratio` is not, the k plans were not slowed by waiting but by doing more work at once
    /// than alone (contention for caches and cores), which no schedule avoids.
    pub cpu_ratio: f64,
    /// Requests the k clients sent (all rounds; likewise 429s, unread and errors).
    pub requests: u64,
    /// 429 answers the k clients received.
    pub http_429: u64,
    /// 429s the emulator sent (a cross-check of `http_429`).
    pub emulator_429: u64,
    /// `http_429 / requests` (goal ≤ 0.01).
    pub share_429: f64,
    /// Resources the plans could not read, all plans together (goal 0).
    pub unread: usize,
    /// Writes the plans would make (0: every stack is applied).
    pub changes: usize,
    /// Plans that failed outright, with the error.
    pub errors: Vec<String>,
}

/// One round of the list regime: solo runs, then the k plans at once.
struct Round {
    serial_s: f64,
    wall_s: f64,
    plan_s: Vec<f64>,
    solo_s: Vec<f64>,
    solo_cpu_s: f64,
    solo_before_first_s: f64,
    cpu_s: f64,
    plan_cpu_s: f64,
}

impl Round {
    fn slowest_solo_s(&self) -> f64 {
        self.solo_s.iter().copied().fold(0.0, f64::max)
    }

    /// The k plans' work spread over the cores, after the first round trip: no answer
    /// comes back sooner, so all of it but what the plans do before their first request
    /// (`solo_before_first_s`) waits that long.
    fn spread_s(&self, cores: usize, latency_s: f64) -> f64 {
        if self.solo_s.is_empty() {
            // The GET regime runs no plan alone: nothing is known of the machine's part.
            return 0.0;
        }
        latency_s + (self.solo_cpu_s - self.solo_before_first_s).max(0.0) / cores as f64
    }

    /// This round's own machine bound (what its solo runs say the k plans need).
    fn machine_bound_s(&self, cores: usize, latency_s: f64) -> f64 {
        self.spread_s(cores, latency_s)
            .max(self.serial_s)
            .max(self.slowest_solo_s())
    }
}

/// Rounds of the list regime: at least five, and more where a round is cheap (a round of
/// two plans lasts a few tenths of a second and is the noisiest: its rounds ranged 1.00–1.31
/// in one run), about thirty plans run at once in all.
fn rounds_for(k: usize) -> usize {
    (30 / k.max(1)).max(5)
}

/// What one plan on its own thread returned.
struct PlanRun {
    started: Instant,
    ended: Instant,
    result: anyhow::Result<Plan>,
    requests: u64,
    throttled: u64,
    /// CPU seconds of the plan's own thread (its client and the plan; not the emulator).
    cpu_s: f64,
    /// Of `cpu_s`, what the thread spent before its first request.
    before_first_s: f64,
}

impl PlanRun {
    /// A plan that could not run at all.
    fn failed(e: anyhow::Error) -> Self {
        let now = Instant::now();
        PlanRun {
            started: now,
            ended: now,
            result: Err(e),
            requests: 0,
            throttled: 0,
            cpu_s: 0.0,
            before_first_s: 0.0,
        }
    }
}

/// CPU seconds (user + system) this process has used so far, all threads, those that have
/// ended included (the kernel's process CPU clock, to the nanosecond: `/proc`'s counters
/// tick every 10 ms, a tenth of a solo plan).
fn process_cpu_s() -> f64 {
    seconds(rustix::time::clock_gettime(
        rustix::time::ClockId::ProcessCPUTime,
    ))
}

/// CPU seconds the calling thread has used so far.
fn thread_cpu_s() -> f64 {
    seconds(rustix::time::clock_gettime(
        rustix::time::ClockId::ThreadCPUTime,
    ))
}

fn seconds(t: rustix::time::Timespec) -> f64 {
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

/// The client of one plan, noting the CPU seconds of the plan's thread when it sends its
/// first request: what the plan spends before any answer can come back.
struct FirstRequest<'a> {
    arm: &'a ArmClient,
    cpu_at_first: std::sync::OnceLock<f64>,
}

impl FirstRequest<'_> {
    fn note(&self) {
        self.cpu_at_first.get_or_init(thread_cpu_s);
    }
}

#[async_trait::async_trait]
impl Arm for FirstRequest<'_> {
    async fn get(&self, id: &str, api_version: &str) -> Result<Option<Value>, ArmError> {
        self.note();
        Arm::get(self.arm, id, api_version).await
    }

    async fn begin(&self, req: WriteRequest) -> Result<Started, ArmError> {
        self.note();
        Arm::begin(self.arm, req).await
    }

    async fn wait(&self, op: &Operation) -> Result<Option<Value>, ArmError> {
        self.note();
        Arm::wait(self.arm, op).await
    }

    async fn list(&self, path: &str, api_version: &str) -> Result<Option<Listing>, ArmError> {
        self.note();
        Arm::list(self.arm, path, api_version).await
    }
}

/// Runs each `(model, record)` plan on its own OS thread with its own single-threaded runtime
/// and client, all starting together once every client is ready.
fn run_plans(url: &str, stacks: &[&(Model, StateRecord)], lists: bool) -> Vec<PlanRun> {
    let gate = Barrier::new(stacks.len());
    tokio::task::block_in_place(|| {
        std::thread::scope(|scope| {
            let handles: Vec<_> = stacks
                .iter()
                .map(|stack| {
                    let gate = &gate;
                    scope.spawn(move || one_plan(url, stack, lists, gate))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        PlanRun::failed(anyhow::anyhow!("the plan's thread panicked"))
                    })
                })
                .collect()
        })
    })
}

fn one_plan(
    url: &str,
    (model, record): &(Model, StateRecord),
    lists: bool,
    gate: &Barrier,
) -> PlanRun {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            gate.wait();
            return PlanRun::failed(e.into());
        }
    };
    rt.block_on(async {
        let client = match client_for(url, None).await {
            Ok(c) => c,
            Err(e) => {
                gate.wait();
                return PlanRun::failed(e);
            }
        };
        gate.wait();
        let cpu = thread_cpu_s();
        let started = Instant::now();
        let first = FirstRequest {
            arm: &client,
            cpu_at_first: std::sync::OnceLock::new(),
        };
        let result = make_plan_with(&first, model, record, false, lists)
            .await
            .map(|(p, _)| p);
        let ended = Instant::now();
        let cpu_s = thread_cpu_s() - cpu;
        let stats = client.stats();
        PlanRun {
            started,
            ended,
            result,
            requests: stats.requests_sent,
            throttled: stats.throttled,
            cpu_s,
            before_first_s: first.cpu_at_first.get().map_or(cpu_s, |at| at - cpu),
        }
    })
}

/// Runs `k` plans of `n` resources each at once, with list reads (`lists`) or one GET per
/// resource.
pub async fn bench(
    k: usize,
    n: usize,
    latency: Duration,
    time_scale: f64,
    lists: bool,
) -> anyhow::Result<ConcurrentFigures> {
    let sim = start_sim(latency, time_scale).await?;
    let mut config = ClientConfig::for_endpoint(Endpoint::parse(&sim.url())?);
    config.limits = ClientLimits::unlimited();
    moat_arm::install_crypto_provider();
    let seeder = Arc::new(ArmClient::new(config).await?);
    let mode = if lists { "list" } else { "get" };
    let mut stacks = Vec::new();
    let mut reads_needed = 0;
    let mut rounds = 1;
    for i in 0..k {
        // The global names (storage, vaults) carry the stack's tag: one subscription.
        let tag = format!("c{k}{mode}p{i}");
        let text = crate::specgen::spec_tagged(&format!("conc{k}{mode}-{i}"), n, &tag);
        let model = crate::offline::model_of(&format!("conc-{k}-{mode}-{i}.yaml"), &text)?;
        let seed_plan = crate::offline::plan_from_empty(&model)?;
        put_everything(&seeder, &seed_plan, time_scale)
            .await
            .with_context(|| format!("cannot put stack {i} of {k} in place"))?;
        reads_needed += crate::plan_bench::reads_needed(&model, lists, false);
        rounds = rounds.max(crate::plan_bench::sequential_rounds(&model, lists, false));
        let record = record_of(&model, &seed_plan);
        stacks.push((model, record));
    }
    let url = sim.url();
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());

    let all: Vec<&(Model, StateRecord)> = stacks.iter().collect();
    let bound_s = crate::plan_bench::lower_bound_rounds(reads_needed, rounds, latency);
    // Seconds until the read bucket has refilled what `reads` took, and a second more.
    let refill = |reads: usize| {
        Duration::from_secs_f64((reads as f64 / crate::plan_bench::READ_RATE + 1.0).min(11.0))
    };
    tokio::time::sleep(Duration::from_secs(11)).await;
    let throttled_before = sim.stats().throttled;

    // `rounds_for(k)` rounds in the list regime (a run is a fraction of a second, so one is noise):
    // each measures every plan alone — what the machine needs for the k plans' work — and then
    // the k plans at once. The GET regime runs once: it takes tens of seconds, and solo runs
    // would drain the bucket.
    let repeats = if lists { rounds_for(k) } else { 1 };
    // Reads a round takes from the bucket before the refill at its end: the solo runs' too,
    // when the bucket held both runs and was not refilled between them.
    let solo_refill = 2.0 * reads_needed as f64 > crate::plan_bench::READ_BURST;
    let round_reads = if lists && !solo_refill {
        2 * reads_needed
    } else {
        reads_needed
    };
    let mut rounds_run = Vec::new();
    let mut unread = 0;
    let mut changes = 0;
    let mut errors = Vec::new();
    let mut requests = 0;
    let mut http_429 = 0;
    for _ in 0..repeats {
        let mut solo_s = Vec::new();
        let mut solo_cpu_s = 0.0;
        let mut solo_before_first_s = 0.0;
        let locked_before = sim.stats().state_lock_micros;
        if lists {
            for stack in &stacks {
                let cpu = process_cpu_s();
                let run = run_plans(&url, &[stack], lists).remove(0);
                solo_cpu_s += process_cpu_s() - cpu;
                solo_before_first_s += run.before_first_s;
                run.result.context("a plan alone failed")?;
                solo_s.push((run.ended - run.started).as_secs_f64());
            }
            // The solo runs took as many reads as the concurrent one will: unless the bucket
            // still holds them, wait until it does.
            if solo_refill {
                tokio::time::sleep(refill(reads_needed)).await;
            }
        }
        let serial_s = (sim.stats().state_lock_micros - locked_before) as f64 / 1e6;
        let cpu = process_cpu_s();
        let runs = run_plans(&url, &all, lists);
        let cpu_s = process_cpu_s() - cpu;
        let first = runs.iter().map(|r| r.started).min();
        let last = runs.iter().map(|r| r.ended).max();
        let wall_s = match (first, last) {
            (Some(a), Some(b)) => (b - a).as_secs_f64(),
            _ => 0.0,
        };
        let mut plan_s = Vec::new();
        let mut plan_cpu_s = 0.0;
        for run in runs {
            plan_cpu_s += run.cpu_s;
            plan_s.push((run.ended - run.started).as_secs_f64());
            requests += run.requests;
            http_429 += run.throttled;
            match run.result {
                Ok(p) => {
                    unread += p
                        .resources
                        .iter()
                        .filter(|r| r.action == Action::Unreadable)
                        .count();
                    changes += p.resources.iter().filter(|r| r.action.writes()).count();
                }
                Err(e) => errors.push(format!("{e:#}")),
            }
        }
        rounds_run.push(Round {
            serial_s,
            wall_s,
            plan_s,
            solo_s,
            solo_cpu_s,
            solo_before_first_s,
            cpu_s,
            plan_cpu_s,
        });
        tokio::time::sleep(refill(round_reads)).await;
    }
    let emulator_429 = sim.stats().throttled - throttled_before;
    sim.shutdown().await;
    // The bound is estimated from every round's solo runs and the wall time is the median
    // round's: a round lasts half a second, and comparing each round with its own solo runs
    // compares two noisy figures (rounds came out 0.85 and 1.46 in one run).
    let median = |v: Vec<f64>| crate::run::quantile(&v, 0.5).unwrap_or(0.0);
    let latency_s = latency.as_secs_f64();
    let machine_bound_s = median(rounds_run.iter().map(|r| r.slowest_solo_s()).collect())
        .max(median(
            rounds_run
                .iter()
                .map(|r| r.spread_s(cores, latency_s))
                .collect(),
        ))
        .max(median(rounds_run.iter().map(|r| r.serial_s).collect()));
    let mut ratios: Vec<f64> = rounds_run
        .iter()
        .map(|r| r.wall_s / bound_s.max(r.machine_bound_s(cores, latency_s)))
        .collect();
    ratios.sort_by(f64::total_cmp);
    rounds_run.sort_by(|a, b| a.wall_s.total_cmp(&b.wall_s));
    let median_round = rounds_run.swap_remove(rounds_run.len() / 2);
    let Round {
        serial_s,
        wall_s,
        plan_s,
        solo_s,
        solo_cpu_s,
        solo_before_first_s,
        cpu_s,
        plan_cpu_s,
    } = median_round;
    let combined_bound_s = bound_s.max(machine_bound_s);
    Ok(ConcurrentFigures {
        plans: k,
        resources_each: n,
        reads: mode,
        reads_needed,
        latency_s: latency.as_secs_f64(),
        wall_s,
        plan_s,
        bound_s,
        read_bound_ratio: wall_s / bound_s,
        solo_s,
        solo_cpu_s,
        solo_before_first_s,
        serial_s,
        cpu_s,
        plan_cpu_s,
        cores,
        machine_bound_s,
        combined_bound_s,
        ratio: wall_s / combined_bound_s,
        ratios,
        cpu_ratio: if cpu_s > 0.0 {
            wall_s / (cpu_s / cores as f64)
        } else {
            0.0
        },
        requests,
        http_429,
        emulator_429,
        share_429: if requests == 0 {
            0.0
        } else {
            http_429 as f64 / requests as f64
        },
        unread,
        changes,
        errors,
    })
}
