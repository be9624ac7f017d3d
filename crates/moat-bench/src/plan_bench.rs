//! Benchmark 2: `plan` of a large, already-applied stack against an emulator with a fixed
//! per-request latency and ARM's default read throttling, compared with the lower bound that
//! latency and throttling set.
//!
//! The stack is put in place by PUTting the plan's own request bodies straight to the
//! emulator (no polls, so the read budget the plan is measured against starts full), and the
//! state record is built from the same plan, as `apply` would have left it.

use crate::apply_bench::client_for;
use anyhow::{Context as _, bail};
use moat_arm::{Arm as _, ArmClient, ClientConfig, ClientLimits, Endpoint, WriteRequest};
use moat_engine::plan::{Action, Plan, ResourcePlan};
use moat_engine::state::{ResourceState, StateRecord};
use moat_model::Model;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::task::JoinSet;

/// The read parallelism `moat plan` uses (`read_live(…, 64)` in the CLI).
pub const READ_PARALLELISM: usize = 64;

/// What one plan measured.
#[derive(Clone, Debug, Serialize)]
pub struct PlanFigures {
    /// Resources in the spec.
    pub resources: usize,
    /// `fresh` (nothing exists yet) or `applied` (everything exists, state record present).
    pub cloud: String,
    /// GETs the plan cannot do without: one per non-subnet resource (a VNet's body holds its
    /// subnets), plus one per absent key vault (is its name held by a soft-deleted vault?).
    pub reads_needed: usize,
    /// Per-request latency, seconds.
    pub latency_s: f64,
    /// Wall time of live read + diff, seconds.
    pub wall_s: f64,
    /// `max(latency × ⌈reads / 64⌉, latency × sequential pages, (reads − burst) / rate +
    /// latency)`, seconds.
    pub lower_bound_s: f64,
    /// `wall_s / lower_bound_s`.
    pub ratio: f64,
    /// Requests the client sent.
    pub requests: u64,
    /// `requests / resources`.
    pub requests_per_resource: f64,
    /// 429 answers the client received.
    pub http_429: u64,
    /// Resources the plan would write (0 on an applied stack).
    pub changes: usize,
    /// `list` (one paginated list per group and kind where the registry allows) or `get`
    /// (one GET per resource, as before).
    pub reads: String,
}

/// The reads a plan of `model` cannot do without, when it is the only stack in its groups:
/// with `lists`, one page per [`moat_sim::LIST_PAGE`] resources of each group and kind holding
/// two or more (one request when the group does not exist yet, `fresh`), one GET for the rest;
/// without, one GET per resource that is not read inside its parent. Plus, on a fresh cloud,
/// the look for a soft-deleted vault for each key vault.
pub fn reads_needed(model: &Model, lists: bool, fresh: bool) -> usize {
    let keys = moat_engine::live::keys_read(model);
    let mut scopes: BTreeMap<String, usize> = BTreeMap::new();
    let mut gets = 0;
    for r in model.resources.iter().filter(|r| keys.contains(&r.key)) {
        match moat_engine::live::list_scope(r.kind, &r.id).filter(|_| lists) {
            Some(scope) => *scopes.entry(scope.to_ascii_lowercase()).or_default() += 1,
            None => gets += 1,
        }
    }
    let listed: usize = scopes
        .values()
        .map(|&n| match (n, fresh) {
            (1, _) => 1,
            (_, true) => 1,
            (n, false) => n.div_ceil(moat_sim::LIST_PAGE),
        })
        .sum();
    let vaults = if fresh {
        model
            .resources
            .iter()
            .filter(|r| r.kind == moat_model::Kind::KeyVault)
            .count()
    } else {
        0
    };
    gets + listed + vaults
}

/// The round trips a plan of `model` needs one after another at least: the pages of its
/// longest list (each page names the next), and on a fresh cloud one more for the vault
/// probes, which follow the first reads.
pub fn sequential_rounds(model: &Model, lists: bool, fresh: bool) -> usize {
    let keys = moat_engine::live::keys_read(model);
    let mut scopes: BTreeMap<String, usize> = BTreeMap::new();
    for r in model.resources.iter().filter(|r| keys.contains(&r.key)) {
        if let Some(scope) = moat_engine::live::list_scope(r.kind, &r.id).filter(|_| lists) {
            *scopes.entry(scope.to_ascii_lowercase()).or_default() += 1;
        }
    }
    let pages = scopes
        .values()
        .map(|&n| {
            if fresh || n < 2 {
                1
            } else {
                n.div_ceil(moat_sim::LIST_PAGE)
            }
        })
        .max()
        .unwrap_or(1);
    let vaults = model
        .resources
        .iter()
        .any(|r| r.kind == moat_model::Kind::KeyVault);
    pages + usize::from(fresh && vaults)
}

/// [`lower_bound`], and at least `rounds` round trips one after another.
pub fn lower_bound_rounds(reads: usize, rounds: usize, latency: Duration) -> f64 {
    lower_bound(reads, latency).max(rounds as f64 * latency.as_secs_f64())
}

/// Reads the emulator and ARM allow by default: burst and refill per second.
pub(crate) const READ_BURST: f64 = 250.0;
pub(crate) const READ_RATE: f64 = 25.0;

/// The lower bound for `reads` GETs.
pub fn lower_bound(reads: usize, latency: Duration) -> f64 {
    let lat = latency.as_secs_f64();
    let rounds = reads.div_ceil(READ_PARALLELISM) as f64;
    let throttled = if reads as f64 > READ_BURST {
        (reads as f64 - READ_BURST) / READ_RATE + lat
    } else {
        0.0
    };
    (lat * rounds).max(throttled)
}

/// Starts an emulator for plan measurements: `latency`, ARM's read limits, unlimited writes
/// (so that putting the stack in place is quick; the plan sends no writes).
pub(crate) async fn start_sim(
    latency: Duration,
    time_scale: f64,
) -> anyhow::Result<moat_sim::SimHandle> {
    let limits = moat_sim::Limits {
        writes: None,
        deletes: None,
        ..moat_sim::Limits::default()
    };
    let config = moat_sim::SimConfig {
        time_scale,
        latency,
        limits,
        ..moat_sim::SimConfig::default()
    };
    moat_sim::start(([127, 0, 0, 1], 0).into(), config)
        .await
        .context("cannot start the emulator")
}

/// Dependency depth of each resource of a plan (0: depends on nothing in the plan).
fn depths(plan: &Plan) -> Vec<usize> {
    let index: BTreeMap<&str, usize> = plan
        .resources
        .iter()
        .enumerate()
        .map(|(i, r)| (r.key.as_str(), i))
        .collect();
    let mut depth = vec![0usize; plan.resources.len()];
    // The plan lists creates in dependency order, so one pass suffices.
    for (i, r) in plan.resources.iter().enumerate() {
        depth[i] = r
            .depends_on
            .iter()
            .filter_map(|d| index.get(d.as_str()))
            .map(|&j| depth[j] + 1)
            .max()
            .unwrap_or(0);
    }
    depth
}

/// PUTs every create of `plan`, level by level, each VNet's writes one after another, and
/// waits for the slowest provisioning time of each level.
pub(crate) async fn put_everything(
    client: &Arc<ArmClient>,
    plan: &Plan,
    time_scale: f64,
) -> anyhow::Result<()> {
    let depth = depths(plan);
    let max_depth = depth.iter().copied().max().unwrap_or(0);
    for level in 0..=max_depth {
        // One queue per lock group; ungrouped writes each get their own.
        let mut queues: BTreeMap<String, Vec<&ResourcePlan>> = BTreeMap::new();
        let mut slowest: f64 = 0.0;
        for (i, r) in plan.resources.iter().enumerate() {
            if depth[i] != level || r.action != Action::Create {
                continue;
            }
            slowest = slowest.max(crate::bound::provisioning_secs(r));
            let q = r.lock_group.clone().unwrap_or_else(|| r.key.clone());
            queues.entry(q).or_default().push(r);
        }
        let mut set = JoinSet::new();
        for (_, queue) in queues {
            let client = client.clone();
            let writes: Vec<WriteRequest> = queue
                .iter()
                .map(|r| {
                    WriteRequest::put(
                        r.id.clone(),
                        r.api_version.clone(),
                        r.request
                            .as_ref()
                            .and_then(|q| q.body.clone())
                            .unwrap_or(Value::Null),
                    )
                })
                .collect();
            let per_write = Duration::from_secs_f64(slowest * time_scale + 0.005);
            set.spawn(async move {
                for (n, w) in writes.into_iter().enumerate() {
                    if n > 0 {
                        // The previous write of this VNet must be done before the next.
                        tokio::time::sleep(per_write).await;
                    }
                    client.begin(w).await?;
                }
                Ok::<(), moat_arm::ArmError>(())
            });
        }
        while let Some(r) = set.join_next().await {
            r.context("a seeding task panicked")??;
        }
        tokio::time::sleep(Duration::from_secs_f64(slowest * time_scale + 0.02)).await;
    }
    Ok(())
}

/// The state record `apply` would have left after applying `plan`.
pub(crate) fn record_of(model: &Model, plan: &Plan) -> StateRecord {
    let mut rec = StateRecord::new(model.stack.value.clone());
    rec.serial = 1;
    for r in &plan.resources {
        if r.action != Action::Create {
            continue;
        }
        rec.resources.insert(
            r.key.clone(),
            ResourceState {
                id: r.id.clone(),
                kind: r.kind,
                api_version: r.api_version.clone(),
                applied: r
                    .applied
                    .clone()
                    .map(|m| Value::Object(m.into_iter().collect()))
                    .unwrap_or(Value::Null),
                etag: None,
                updated_at: moat_engine::state::now_rfc3339(),
                depends_on: r.depends_on.clone(),
                outputs: Default::default(),
            },
        );
    }
    rec
}

/// Plans a generated spec of `n` resources: on a fresh cloud (optional, list reads), then
/// after the stack exists at each latency of `latencies`, with list reads and (`gets`) with
/// one GET per resource. The emulator keeps ARM's read budget throughout; between two
/// measurements the bench waits until the bucket is full again.
pub async fn bench_size(
    n: usize,
    latencies: &[Duration],
    time_scale: f64,
    fresh: bool,
    gets: bool,
) -> anyhow::Result<Vec<PlanFigures>> {
    let text = crate::specgen::spec(&format!("plan{n}"), n);
    let model = crate::offline::model_of(&format!("plan-{n}.yaml"), &text)?;
    let first = latencies.first().copied().unwrap_or_default();
    let sim = start_sim(first, time_scale).await?;
    let mut out = Vec::new();
    let empty = StateRecord::new(model.stack.value.clone());
    let settle = |requests: u64| {
        Duration::from_secs_f64((requests as f64).min(READ_BURST) / READ_RATE + 0.3)
    };
    if fresh {
        let client = client_for(&sim.url(), None).await?;
        let f = measure(&client, &model, &empty, n, first, "fresh", true).await?;
        let wait = settle(f.requests);
        out.push(f);
        tokio::time::sleep(wait).await;
    }
    // Put the stack in place with a client that does not throttle itself.
    let seed_plan = crate::offline::plan_from_empty(&model)?;
    let mut config = ClientConfig::for_endpoint(Endpoint::parse(&sim.url())?);
    config.limits = ClientLimits::unlimited();
    let seeder = Arc::new(ArmClient::new(config).await?);
    put_everything(&seeder, &seed_plan, time_scale).await?;
    let record = record_of(&model, &seed_plan);
    for &latency in latencies {
        sim.set_latency(latency);
        for lists in [true, false] {
            if !lists && !gets {
                continue;
            }
            // A new client: no pacing learnt from the previous measurement.
            let client = client_for(&sim.url(), None).await?;
            let f = measure(&client, &model, &record, n, latency, "applied", lists).await?;
            if f.changes != 0 {
                bail!(
                    "the plan of the applied {n}-resource stack still has {} change(s)",
                    f.changes
                );
            }
            let wait = settle(f.requests);
            out.push(f);
            tokio::time::sleep(wait).await;
        }
    }
    sim.shutdown().await;
    Ok(out)
}

async fn measure(
    client: &ArmClient,
    model: &Model,
    record: &StateRecord,
    n: usize,
    latency: Duration,
    cloud: &str,
    lists: bool,
) -> anyhow::Result<PlanFigures> {
    let reads_needed = reads_needed(model, lists, cloud == "fresh");
    let before = client.stats();
    let t = Instant::now();
    let (p, _) = crate::apply_bench::make_plan_with(client, model, record, false, lists).await?;
    let wall_s = t.elapsed().as_secs_f64();
    let after = client.stats();
    let requests = after.requests_sent - before.requests_sent;
    let rounds = sequential_rounds(model, lists, cloud == "fresh");
    let lower = lower_bound_rounds(reads_needed, rounds, latency);
    Ok(PlanFigures {
        resources: n,
        cloud: cloud.to_string(),
        reads_needed,
        latency_s: latency.as_secs_f64(),
        wall_s,
        lower_bound_s: lower,
        ratio: wall_s / lower,
        requests,
        requests_per_resource: requests as f64 / n as f64,
        http_429: after.throttled - before.throttled,
        changes: p.resources.iter().filter(|r| r.action.writes()).count(),
        reads: if lists { "list" } else { "get" }.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bound_is_latency_rounds_below_the_burst() {
        let l = Duration::from_millis(20);
        assert!((lower_bound(64, l) - 0.02).abs() < 1e-9);
        assert!((lower_bound(65, l) - 0.04).abs() < 1e-9);
    }

    #[test]
    fn bound_is_the_refill_rate_above_the_burst() {
        let l = Duration::from_millis(20);
        // 1 250 reads: 1 000 beyond the burst at 25/s = 40 s, plus the last answer's latency.
        assert!((lower_bound(1250, l) - 40.02).abs() < 1e-9);
    }

    #[test]
    fn depths_follow_dependencies() {
        let model =
            crate::offline::model_of("t.yaml", &crate::specgen::spec("t", 40)).expect("model");
        let p = crate::offline::plan_from_empty(&model).expect("plan");
        let d = depths(&p);
        let at = |k: &str| d[p.resources.iter().position(|r| r.key == k).expect(k)];
        assert_eq!(at("rg0"), 0);
        assert_eq!(at("vnet0"), 1);
        assert_eq!(at("vnet0/s0"), 2);
        assert_eq!(at("st0-0"), 3);
    }
}
