//! Benchmark: k `moat plan`s of 1 000 resources each at once in one subscription, against one
//! emulator with ARM's read budget (250 + 25/s per subscription), the way several CI jobs of a
//! platform team hit ARM together. Each plan has its own client, as separate processes would,
//! so the only thing they share is what ARM tells them (`x-ms-ratelimit-remaining-*`, 429 and
//! `Retry-After`).
//!
//! Goals (issue 18 item 4): no resource left unread, 429s at most 1 % of the requests, and the
//! slowest plan within 1.1 × the combined budget bound: the reads of all k plans through one
//! bucket, `max(latency × rounds, (reads − burst) / rate + latency)`
//! ([`crate::plan_bench::lower_bound_rounds`]; with list reads, a few pages per plan).

use crate::apply_bench::{client_for, make_plan};
use crate::plan_bench::{put_everything, record_of, start_sim};
use anyhow::Context as _;
use moat_arm::{ArmClient, ClientConfig, ClientLimits, Endpoint};
use moat_engine::plan::Action;
use serde::Serialize;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one run of k concurrent plans measured.
#[derive(Clone, Debug, Serialize)]
pub struct ConcurrentFigures {
    /// Plans run at once.
    pub plans: usize,
    /// Resources in each plan's spec.
    pub resources_each: usize,
    /// GETs all plans need together (one per non-subnet resource).
    pub reads_needed: usize,
    /// Per-request latency, seconds.
    pub latency_s: f64,
    /// Time until the last plan finished, seconds.
    pub wall_s: f64,
    /// Each plan's own time, seconds.
    pub plan_s: Vec<f64>,
    /// The combined budget bound for `reads_needed`, seconds.
    pub bound_s: f64,
    /// `wall_s / bound_s` (goal ≤ 1.1).
    pub ratio: f64,
    /// Requests the k clients sent.
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

/// Runs `k` plans of `n` resources each at once.
pub async fn bench(
    k: usize,
    n: usize,
    latency: Duration,
    time_scale: f64,
) -> anyhow::Result<ConcurrentFigures> {
    let sim = start_sim(latency, time_scale).await?;
    let mut config = ClientConfig::for_endpoint(Endpoint::parse(&sim.url())?);
    config.limits = ClientLimits::unlimited();
    moat_arm::install_crypto_provider();
    let seeder = Arc::new(ArmClient::new(config).await?);
    let mut stacks = Vec::new();
    let mut reads_needed = 0;
    let mut rounds = 1;
    for i in 0..k {
        // The global names (storage, vaults) carry the stack's tag: one subscription.
        let tag = format!("c{k}p{i}");
        let text = crate::specgen::spec_tagged(&format!("conc{k}-{i}"), n, &tag);
        let model = crate::offline::model_of(&format!("conc-{k}-{i}.yaml"), &text)?;
        let seed_plan = crate::offline::plan_from_empty(&model)?;
        put_everything(&seeder, &seed_plan, time_scale)
            .await
            .with_context(|| format!("cannot put stack {i} of {k} in place"))?;
        reads_needed += crate::plan_bench::reads_needed(&model, true, false);
        rounds = rounds.max(crate::plan_bench::sequential_rounds(&model, true, false));
        let record = record_of(&model, &seed_plan);
        stacks.push((model, record));
    }
    // Seeding sent no reads, but let the bucket be full for certain, as after a quiet spell.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let throttled_before = sim.stats().throttled;

    // One client per plan: separate processes share nothing but ARM.
    let mut clients = Vec::new();
    for _ in 0..k {
        clients.push(client_for(&sim.url(), None).await?);
    }
    let started = Instant::now();
    // Polled together on this task (the plan futures are not `Send`-general, so they cannot
    // be spawned); their reads are I/O-bound and the emulator runs on the runtime's threads.
    let plans = stacks
        .iter()
        .zip(&clients)
        .map(|((model, record), client)| async move {
            let t = Instant::now();
            let result = make_plan(client, model, record).await;
            (t.elapsed().as_secs_f64(), result)
        });
    let results = futures_util::future::join_all(plans).await;
    let mut plan_s = Vec::new();
    let mut unread = 0;
    let mut changes = 0;
    let mut errors = Vec::new();
    for (secs, result) in results {
        plan_s.push(secs);
        match result {
            Ok((p, _)) => {
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
    let wall_s = started.elapsed().as_secs_f64();
    let requests: u64 = clients.iter().map(|c| c.stats().requests_sent).sum();
    let http_429: u64 = clients.iter().map(|c| c.stats().throttled).sum();
    let emulator_429 = sim.stats().throttled - throttled_before;
    sim.shutdown().await;
    let bound_s = crate::plan_bench::lower_bound_rounds(reads_needed, rounds, latency);
    Ok(ConcurrentFigures {
        plans: k,
        resources_each: n,
        reads_needed,
        latency_s: latency.as_secs_f64(),
        wall_s,
        plan_s,
        bound_s,
        ratio: wall_s / bound_s,
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
