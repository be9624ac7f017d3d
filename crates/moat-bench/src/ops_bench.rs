//! Benchmark 5: the applies a team runs every day on a big stack that exists already — a
//! no-op apply and a one-change apply at 2 000 resources — and the rare, heavy ones at 500: a
//! destroy of everything and a replacement of every storage account (a new name each).
//!
//! Each starts from a stack put in place the way the plan benchmark does it (the plan's own
//! bodies PUT straight into the emulator, the state record built from the same plan), then
//! runs `moat apply`'s path: live read, plan, the walker, the state record in a local
//! directory. Every run ends with a second plan that must find nothing to do.

use crate::apply_bench::{ApplySettings, client_for, limits, make_plan_with};
use anyhow::bail;
use moat_arm::{ArmClient, ClientConfig, ClientLimits, Endpoint};
use moat_engine::apply::{ApplyOptions, NoProgress, StateStore, apply};
use moat_engine::state::{LocalBackend, StateBackend};
use moat_model::Model;
use serde::Serialize;
use std::sync::Arc;
use std::time::Instant;

/// What one operation measured.
#[derive(Clone, Debug, Serialize)]
pub struct OpFigures {
    /// `noop`, `one-change`, `destroy`, `replace`.
    pub op: String,
    /// Resources in the spec.
    pub resources: usize,
    /// Writes the plan lists.
    pub writes: usize,
    /// Live read + plan, seconds.
    pub plan_s: f64,
    /// The apply walk, seconds.
    pub apply_s: f64,
    /// `plan_s + apply_s`: what `moat apply --auto-approve` takes.
    pub total_s: f64,
    /// Requests the client sent (plan and apply).
    pub requests: u64,
    /// 429 answers the client received.
    pub http_429: u64,
}

/// Runs `ops` on a generated stack of `n` resources: `noop`, `one-change`, `destroy`,
/// `replace`, in the order given.
pub async fn bench(n: usize, s: ApplySettings, ops: &[&str]) -> anyhow::Result<Vec<OpFigures>> {
    let text = crate::specgen::spec(&format!("ops{n}"), n);
    let model = crate::offline::model_of(&format!("ops-{n}.yaml"), &text)?;
    let sim = crate::apply_bench::start_sim(&s).await?;
    let mut config = ClientConfig::for_endpoint(Endpoint::parse(&sim.url())?);
    config.limits = ClientLimits::unlimited();
    let seeder = Arc::new(ArmClient::new(config).await?);
    let seed_plan = crate::offline::plan_from_empty(&model)?;
    crate::plan_bench::put_everything(&seeder, &seed_plan, s.time_scale).await?;
    let dir = tempfile::tempdir()?;
    let backend: Arc<dyn StateBackend> =
        Arc::new(LocalBackend::new(dir.path(), &model.stack.value));
    // The backend writes only over a record it has read (none yet here).
    let _ = backend.read().await?;
    backend
        .write(&crate::plan_bench::record_of(&model, &seed_plan))
        .await?;
    let client = client_for(&sim.url(), Some(limits(s.time_scale, s.scale_limits).1)).await?;
    let mut out = Vec::new();
    // The spec as the last operation left it.
    let mut text = text;
    let mut current = model;
    for op in ops {
        let destroy = *op == "destroy";
        match *op {
            "noop" | "destroy" => {}
            // One NSG rule's priority: one update.
            "one-change" => {
                text = changed(&text, "priority: 100", "priority: 110", false)?;
                current = crate::offline::model_of(&format!("ops-{n}.yaml"), &text)?;
            }
            // Every storage account gets a new name: a replacement under a new ID each.
            "replace" => {
                text = changed(&text, "name: bst", "name: brs", true)?;
                current = crate::offline::model_of(&format!("ops-{n}.yaml"), &text)?;
            }
            other => bail!("unknown operation `{other}`"),
        }
        out.push(run_op(op, &current, destroy, &client, backend.clone(), n).await?);
    }
    sim.shutdown().await;
    Ok(out)
}

fn changed(text: &str, from: &str, to: &str, all: bool) -> anyhow::Result<String> {
    if !text.contains(from) {
        bail!("the generated spec has no `{from}`");
    }
    Ok(if all {
        text.replace(from, to)
    } else {
        text.replacen(from, to, 1)
    })
}

async fn run_op(
    op: &str,
    model: &Model,
    destroy: bool,
    client: &Arc<ArmClient>,
    backend: Arc<dyn StateBackend>,
    n: usize,
) -> anyhow::Result<OpFigures> {
    let record = backend
        .read()
        .await?
        .unwrap_or_else(|| moat_engine::state::StateRecord::new(model.stack.value.clone()));
    let before = client.stats();
    let t = Instant::now();
    let (p, _) = make_plan_with(&**client, model, &record, destroy, true).await?;
    let plan_s = t.elapsed().as_secs_f64();
    let writes = p.resources.iter().filter(|r| r.action.writes()).count();
    let store = Arc::new(StateStore::new(backend.clone(), record));
    let opts = ApplyOptions {
        parallelism: crate::run::CLI_PARALLELISM,
        ..ApplyOptions::default()
    };
    let t = Instant::now();
    let report = apply(
        &p,
        client.clone(),
        store.clone(),
        Arc::new(NoProgress),
        &opts,
    )
    .await;
    let apply_s = t.elapsed().as_secs_f64();
    if !report.is_success() {
        let failed: Vec<String> = report
            .outcomes
            .iter()
            .filter(|(_, _, o)| !matches!(o, moat_engine::apply::ResourceOutcome::Done { .. }))
            .take(5)
            .map(|(k, _, o)| format!("{k}: {o:?}"))
            .collect();
        bail!("the {op} apply at {n} failed: {}", failed.join("; "));
    }
    let after = client.stats();
    // The contract: the next plan (of the same spec; of nothing after a destroy) is empty.
    let record = store.snapshot().await;
    let (again, _) = make_plan_with(&**client, model, &record, destroy, true).await?;
    let left = again.resources.iter().filter(|r| r.action.writes()).count();
    if left != 0 {
        bail!("the plan right after the {op} apply at {n} still has {left} change(s)");
    }
    Ok(OpFigures {
        op: op.to_string(),
        resources: n,
        writes,
        plan_s,
        apply_s,
        total_s: plan_s + apply_s,
        requests: after.requests_sent - before.requests_sent,
        http_429: after.throttled - before.throttled,
    })
}
