//! The offline half of moat — parse, decode, resolve, lint, graph, diff against an empty
//! cloud — run phase by phase with a clock on each, and the child-process runner that gives
//! each spec size its own peak-memory figure.

use anyhow::{Context as _, bail};
use moat_engine::diff::{PlanInput, plan};
use moat_engine::live::Live;
use moat_engine::plan::Plan;
use moat_engine::state::StateRecord;
use moat_model::Model;
use moat_model::arm::MapContext;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// Seconds spent in each offline phase, and the peak memory of the process.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct OfflineFigures {
    /// Resources in the model.
    pub resources: usize,
    /// Bytes of spec text.
    pub spec_bytes: usize,
    /// YAML parse and decode into the typed spec.
    pub parse_s: f64,
    /// References, variables, defaults, naming and CIDR rules.
    pub resolve_s: f64,
    /// The rule catalogue.
    pub lint_s: f64,
    /// Dependency graph and its topological order.
    pub graph_s: f64,
    /// Plan against an empty `Live` and an empty state record.
    pub diff_s: f64,
    /// Everything above.
    pub total_s: f64,
    /// Peak resident set size of the process (`VmHWM`), MiB.
    pub peak_mb: f64,
    /// The peak once the model was built and linted (before graph and diff), MiB.
    pub peak_model_mb: f64,
}

/// Turns spec text into a model, failing with every error diagnostic rendered.
pub fn model_of(name: &str, text: &str) -> anyhow::Result<Model> {
    let (model, _) = timed_model(name, text)?;
    Ok(model)
}

fn timed_model(name: &str, text: &str) -> anyhow::Result<(Model, [f64; 3])> {
    let t0 = Instant::now();
    let file = moat_spec::source_from_bytes(name, text.as_bytes().to_vec())
        .map_err(|(_, d)| anyhow::anyhow!("{name}: {}", d.message))?;
    let env = |_: &str| None;
    let (spec, mut diags) = moat_spec::load(&file, &moat_spec::VarOverrides(Vec::new()), &env);
    let parse = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let model = match &spec {
        Some(s) => {
            let (m, more) = moat_model::resolve(s, &moat_model::Context::default());
            diags.extend(more);
            m
        }
        None => None,
    };
    let resolve = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    if let (Some(m), false) = (&model, diags.iter().any(|d| d.is_error())) {
        diags.extend(moat_lint::lint(m));
    }
    let lint = t2.elapsed().as_secs_f64();
    let errors: Vec<String> = diags
        .iter()
        .filter(|d| d.is_error())
        .take(5)
        .map(|d| moat_spec::diag::render_short(d, &file))
        .collect();
    if !errors.is_empty() {
        bail!("{name} does not validate:\n{}", errors.join("\n"));
    }
    let model = model.with_context(|| format!("{name} could not be resolved"))?;
    Ok((model, [parse, resolve, lint]))
}

/// The plan of `model` against an empty cloud and an empty state record.
pub fn plan_from_empty(model: &Model) -> anyhow::Result<Plan> {
    let live = Live::default();
    let state = StateRecord::new(model.stack.value.clone());
    let ctx = MapContext {
        tenant: moat_model::LOCAL_TENANT.to_string(),
        ..MapContext::default()
    };
    let input = PlanInput {
        model,
        live: &live,
        state: &state,
        ctx: &ctx,
        spec_hash: String::new(),
        destroy: false,
    };
    plan(&input).map_err(|errors| {
        let list: Vec<String> = errors.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("the plan failed: {}", list.join("; "))
    })
}

/// Runs every offline phase on the spec at `path` (in this process) and measures each.
pub fn measure(path: &Path) -> anyhow::Result<OfflineFigures> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    let started = Instant::now();
    let (model, [parse_s, resolve_s, lint_s]) = timed_model(&path.display().to_string(), &text)?;
    let peak_model_mb = peak_rss_mb().unwrap_or(f64::NAN);
    let t = Instant::now();
    let graph = model.graph();
    let order_len = graph
        .topo_order()
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .len();
    let graph_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let p = plan_from_empty(&model)?;
    let diff_s = t.elapsed().as_secs_f64();
    let total_s = started.elapsed().as_secs_f64();
    if order_len != model.resources.len() || p.resources.len() != model.resources.len() {
        bail!(
            "the graph ({order_len}) or the plan ({}) does not hold every resource ({})",
            p.resources.len(),
            model.resources.len()
        );
    }
    Ok(OfflineFigures {
        resources: model.resources.len(),
        spec_bytes: text.len(),
        parse_s,
        resolve_s,
        lint_s,
        graph_s,
        diff_s,
        total_s,
        peak_mb: peak_rss_mb().unwrap_or(f64::NAN),
        peak_model_mb,
    })
}

/// `VmHWM` of this process in MiB (Linux); `None` elsewhere.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Measures one generated spec of `n` resources in a child process of this binary, so that
/// its peak memory is its own.
pub fn measure_in_child(dir: &Path, n: usize) -> anyhow::Result<OfflineFigures> {
    let path = dir.join(format!("offline-{n}.yaml"));
    std::fs::write(&path, crate::specgen::spec(&format!("off{n}"), n))
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    let exe = std::env::current_exe().context("cannot find the bench binary")?;
    // Three fresh processes; the one with the median time is reported (a run of a second or
    // two is at the mercy of whatever else the machine does), with the highest peak of the
    // three.
    let mut runs: Vec<OfflineFigures> = Vec::new();
    for _ in 0..3 {
        let out = std::process::Command::new(&exe)
            .arg("--offline-child")
            .arg(&path)
            .output()
            .context("cannot run the offline child")?;
        if !out.status.success() {
            bail!(
                "the offline child for {n} resources failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        runs.push(
            serde_json::from_slice(&out.stdout).context("the offline child printed no figures")?,
        );
    }
    let peak = runs.iter().map(|r| r.peak_mb).fold(f64::NAN, f64::max);
    runs.sort_by(|a, b| a.total_s.total_cmp(&b.total_s));
    let mut median = runs.swap_remove(1);
    median.peak_mb = peak;
    Ok(median)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_specs_validate_and_have_the_asked_size() {
        for n in [1, 2, 12, 23, 31, 32, 33, 64, 100, 517] {
            let text = crate::specgen::spec("t", n);
            let model = model_of("gen.yaml", &text).unwrap_or_else(|e| panic!("{n}: {e}\n{text}"));
            assert_eq!(model.resources.len(), n, "{text}");
            let p = plan_from_empty(&model).expect("plan");
            assert_eq!(p.resources.len(), n);
        }
    }

    #[test]
    fn peak_rss_is_read() {
        let mb = peak_rss_mb().expect("Linux has /proc/self/status");
        assert!(mb > 1.0 && mb < 100_000.0, "{mb}");
    }
}
