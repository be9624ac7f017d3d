//! Runs the selected benchmarks in order, prints the table and writes the JSON figures.

use crate::Args;
use crate::apply_bench::{ApplyFigures, ApplySettings};
use crate::baseline::BaselineFigures;
use crate::concurrent::ConcurrentFigures;
use crate::offline::OfflineFigures;
use crate::ops_bench::OpFigures;
use crate::plan_bench::PlanFigures;
use anyhow::Context as _;
use serde::Serialize;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The CLI's default `--parallelism`.
pub(crate) const CLI_PARALLELISM: usize = 16;

/// Seeds of the emulator's durations for the seeded apply runs (`--seeds N`: 1..=N).
fn seeds(args: &Args) -> Vec<u64> {
    (1..=args.seeds.max(1) as u64).collect()
}

/// The `q`-quantile (0..1, nearest rank) of `v`.
pub fn quantile(v: &[f64], q: f64) -> Option<f64> {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return None;
    }
    s.sort_by(f64::total_cmp);
    let i = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1;
    Some(s[i])
}

/// Seeded runs of one spec: p50 and p90 of both ratios.
#[derive(Clone, Debug, Serialize)]
pub struct SeededFigures {
    /// Spec label.
    pub spec: String,
    /// Seeds run.
    pub seeds: Vec<u64>,
    /// Apply seconds per seed.
    pub apply_s: Vec<f64>,
    /// `apply / provisioning bound` per seed.
    pub ratios: Vec<f64>,
    /// `apply / observable bound` per seed.
    pub observable_ratios: Vec<f64>,
    /// p50 and p90 of `ratios`.
    pub ratio_p50: Option<f64>,
    /// p90 of `ratios`.
    pub ratio_p90: Option<f64>,
    /// p50 of `observable_ratios`.
    pub observable_p50: Option<f64>,
    /// p90 of `observable_ratios`.
    pub observable_p90: Option<f64>,
}

impl SeededFigures {
    fn of(spec: &str, runs: &[ApplyFigures]) -> SeededFigures {
        let ratios: Vec<f64> = runs.iter().map(|r| r.ratio).collect();
        let observable: Vec<f64> = runs.iter().map(|r| r.observable_ratio).collect();
        SeededFigures {
            spec: spec.to_string(),
            seeds: runs.iter().filter_map(|r| r.seed).collect(),
            apply_s: runs.iter().map(|r| r.apply_s).collect(),
            ratio_p50: quantile(&ratios, 0.5),
            ratio_p90: quantile(&ratios, 0.9),
            observable_p50: quantile(&observable, 0.5),
            observable_p90: quantile(&observable, 0.9),
            ratios,
            observable_ratios: observable,
        }
    }
}

/// Runs everything `args` selects.
pub fn run(args: &Args) -> anyhow::Result<()> {
    let want = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let started = Instant::now();
    let settings = ApplySettings {
        time_scale: args.time_scale,
        latency: Duration::from_millis(args.apply_latency_ms),
        parallelism: CLI_PARALLELISM,
        state_in_memory: false,
        scale_limits: true,
        seed: None,
        limited: true,
    };
    let root = crate::baseline::workspace_root();
    let mut out = Figures::default();

    // 1. Apply against the physical limit: the examples (the secure one and the wide VNet
    // over seeds), and the grid curve with and without ARM's limits.
    let mut secure: Option<(ApplyFigures, crate::apply_bench::Resources)> = None;
    if want("apply") || want("baseline") {
        let examples: &[&str] = if want("apply") {
            &["secure-ml-workspace", "minimal", "shared-vnet-training"]
        } else {
            &["secure-ml-workspace"]
        };
        for name in examples {
            let path = root.join(format!("examples/{name}.yaml"));
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("cannot read `{}`", path.display()))?;
            eprintln!("moat-bench: apply {name} …");
            // The baseline's comparison run: typical durations, the median of three (fsync
            // times vary with the disk load of whatever else runs on the machine).
            let repeats = if *name == "secure-ml-workspace" { 3 } else { 1 };
            let (f, ids) = rt.block_on(crate::apply_bench::bench_median(
                name, &text, settings, repeats,
            ))?;
            if *name == "secure-ml-workspace" {
                secure = Some((f.clone(), ids));
            }
            out.applies.push(f);
        }
    }
    if want("apply") {
        let seeded_specs: [(&str, String); 2] = [
            (
                "secure-ml-workspace",
                std::fs::read_to_string(root.join("examples/secure-ml-workspace.yaml"))?,
            ),
            ("wide VNet", crate::specgen::grid("wide", 1)),
        ];
        for (name, text) in &seeded_specs {
            let mut runs = Vec::new();
            for seed in seeds(args) {
                eprintln!("moat-bench: apply {name}, seed {seed} …");
                let s = ApplySettings {
                    seed: Some(seed),
                    time_scale: args.seeded_time_scale,
                    ..settings
                };
                let (f, _) = rt.block_on(crate::apply_bench::bench_spec(
                    &format!("{name} (seed {seed})"),
                    text,
                    s,
                ))?;
                runs.push(f);
            }
            out.seeded.push(SeededFigures::of(name, &runs));
            out.seeded_runs.extend(runs);
        }
        let sizes: &[usize] = if !args.grid_sizes.is_empty() {
            &args.grid_sizes
        } else if args.quick {
            &[1, 3]
        } else {
            &[1, 3, 10, 30]
        };
        for &vnets in sizes {
            let text = crate::specgen::grid("grid", vnets);
            for limited in [true, false] {
                let label = format!(
                    "grid {vnets} VNets{}",
                    if limited {
                        ", ARM limits"
                    } else {
                        ", no limits"
                    }
                );
                eprintln!("moat-bench: apply {label} …");
                let s = ApplySettings {
                    limited,
                    time_scale: args.grid_time_scale,
                    ..settings
                };
                let (f, _) = rt.block_on(crate::apply_bench::bench_spec(&label, &text, s))?;
                out.grid.push((vnets, f));
            }
        }
    }

    // 3. The SDK baseline (needs the secure example's moat run), plus moat on the wide VNet
    // (one VNet, ten subnets: the spec where per-subnet writes cost most).
    if want("baseline") {
        out.baseline = Some(match &secure {
            Some((f, resources)) => {
                eprintln!("moat-bench: apply the wide VNet for the baseline …");
                let text = crate::specgen::grid("wide", 1);
                let (wf, wide) = rt.block_on(crate::apply_bench::bench_median(
                    "wide VNet (baseline)",
                    &text,
                    settings,
                    3,
                ))?;
                eprintln!("moat-bench: baseline (Azure SDK for Python, sequential and threaded) …");
                let venv = args
                    .venv
                    .clone()
                    .unwrap_or_else(|| root.join("target/bench-venv"));
                let moat = [
                    crate::baseline::MoatRun {
                        spec: "secure",
                        moat_s: f.plan_s + f.apply_s,
                        resources,
                    },
                    crate::baseline::MoatRun {
                        spec: "wide",
                        moat_s: wf.plan_s + wf.apply_s,
                        resources: &wide,
                    },
                ];
                out.applies.push(wf.clone());
                rt.block_on(crate::baseline::bench(&args.python, &venv, settings, &moat))
            }
            None => BaselineFigures::skipped("the secure example was not applied"),
        });
    }

    // 2. Plan against latency and throttling: the 2 000 headline (lists and GETs, fresh and
    // applied), and the curve over sizes and latencies.
    if want("plan") {
        let base = Duration::from_millis(args.latency_ms);
        eprintln!("moat-bench: plan 2000 resources …");
        out.plans.extend(rt.block_on(crate::plan_bench::bench_size(
            2000,
            &[base],
            args.time_scale,
            true,
            !args.quick,
        ))?);
        let lat: Vec<Duration> = [20, 100, 200]
            .iter()
            .map(|&ms| Duration::from_millis(ms))
            .collect();
        let sizes: &[usize] = if !args.plan_sizes.is_empty() {
            &args.plan_sizes
        } else if args.quick {
            &[100, 1000]
        } else {
            &[100, 1000, 5000, 10_000]
        };
        for &n in sizes {
            // GETs at 5 000 and more take minutes each under the read budget (their bound is
            // given instead); lists at every size.
            let gets = n <= 1000 && !args.quick;
            eprintln!("moat-bench: plan curve {n} resources …");
            out.plan_curve
                .extend(rt.block_on(crate::plan_bench::bench_size(
                    n,
                    &lat,
                    args.time_scale,
                    false,
                    gets,
                ))?);
        }
    }

    // 2b. Concurrent plans in one subscription, sharing ARM's read budget.
    if want("concurrent") {
        let ks: &[usize] = if args.quick {
            &[2]
        } else {
            &args.concurrent_plans
        };
        for &k in ks {
            eprintln!("moat-bench: {k} concurrent plans of 1 000 resources …");
            let latency = Duration::from_millis(args.latency_ms);
            out.concurrent.push(rt.block_on(crate::concurrent::bench(
                k,
                1000,
                latency,
                args.time_scale,
                true,
            ))?);
        }
        // Where the budget binds: five plans reading one GET per resource.
        if !args.quick && args.concurrent_get_resources > 0 {
            let n = args.concurrent_get_resources;
            eprintln!("moat-bench: 5 concurrent plans of {n} resources, GET reads …");
            out.concurrent.push(rt.block_on(crate::concurrent::bench(
                5,
                n,
                Duration::from_millis(args.latency_ms),
                args.time_scale,
                false,
            ))?);
        }
    }

    // 5. Daily and heavy applies on big stacks.
    if want("ops") {
        let s = ApplySettings {
            latency: Duration::from_millis(args.latency_ms),
            ..settings
        };
        let (big, small) = if args.quick { (500, 200) } else { (2000, 500) };
        eprintln!("moat-bench: no-op and one-change applies at {big} …");
        out.ops
            .extend(rt.block_on(crate::ops_bench::bench(big, s, &["noop", "one-change"]))?);
        eprintln!("moat-bench: replace and destroy at {small} …");
        out.ops
            .extend(rt.block_on(crate::ops_bench::bench(small, s, &["replace", "destroy"]))?);
    }

    // 4. Offline cost, each size in its own process.
    if want("offline") {
        let sizes: &[usize] = if args.quick {
            &[1000]
        } else {
            &[1000, 10_000, 50_000]
        };
        let dir = tempfile::tempdir()?;
        for &n in sizes {
            eprintln!("moat-bench: offline {n} resources …");
            out.offline
                .push(crate::offline::measure_in_child(dir.path(), n)?);
        }
    }

    let total = started.elapsed().as_secs_f64();
    print_table(
        &out.applies,
        &out.plans,
        out.baseline.as_ref(),
        &out.offline,
        total,
    );
    print_concurrent(&out.concurrent);
    print_extra(&out);
    if !args.quick && (want("apply") || want("plan")) {
        let dir = args
            .plots
            .clone()
            .unwrap_or_else(|| root.join("docs/bench"));
        write_plots(args, &out, &dir)?;
        eprintln!("moat-bench: wrote the plots to {}", dir.display());
    }
    if let Some(path) = &args.json {
        let mut v = figures_json(args, &out, total);
        add_concurrent(&mut v, &out.concurrent);
        let text = serde_json::to_string_pretty(&v)? + "\n";
        std::fs::write(path, text).with_context(|| format!("cannot write `{}`", path.display()))?;
        eprintln!("moat-bench: wrote {}", path.display());
    }
    Ok(())
}

/// Everything one run measured.
#[derive(Default)]
struct Figures {
    applies: Vec<ApplyFigures>,
    seeded: Vec<SeededFigures>,
    seeded_runs: Vec<ApplyFigures>,
    /// (VNets, figures) of the grid curve.
    grid: Vec<(usize, ApplyFigures)>,
    baseline: Option<BaselineFigures>,
    plans: Vec<PlanFigures>,
    plan_curve: Vec<PlanFigures>,
    concurrent: Vec<ConcurrentFigures>,
    ops: Vec<OpFigures>,
    offline: Vec<OfflineFigures>,
}

fn print_extra(f: &Figures) {
    if !f.seeded.is_empty() {
        println!(
            "\nSeeded applies (Azure cadence): apply / provisioning bound and / observable bound"
        );
        for s in &f.seeded {
            println!(
                "{:<22} seeds {:?}  p50 {:.3} p90 {:.3}   observable p50 {:.3} p90 {:.3}",
                s.spec,
                s.seeds,
                s.ratio_p50.unwrap_or(f64::NAN),
                s.ratio_p90.unwrap_or(f64::NAN),
                s.observable_p50.unwrap_or(f64::NAN),
                s.observable_p90.unwrap_or(f64::NAN)
            );
        }
    }
    if !f.grid.is_empty() {
        println!("\nApply curve (grid spec)");
        println!(
            "{:<30} {:>5} {:>8} {:>8} {:>8} {:>6} {:>8} {:>6}",
            "spec", "res", "apply s", "bound s", "budget s", "ratio", "obs s", "429s"
        );
        for (_, a) in &f.grid {
            println!(
                "{:<30} {:>5} {:>8.3} {:>8.3} {:>8.3} {:>6.2} {:>8.3} {:>6}",
                a.spec,
                a.resources,
                a.apply_s,
                a.lower_bound_s,
                a.budget_s,
                a.ratio,
                a.observable_bound_s,
                a.http_429
            );
        }
    }
    if !f.plan_curve.is_empty() {
        println!("\nPlan curve (applied stack, ARM's read budget)");
        println!(
            "{:>6} {:>5} {:>5} {:>6} {:>8} {:>8} {:>6} {:>6} {:>5}",
            "res", "ms", "reads", "needed", "wall s", "bound s", "ratio", "reqs", "429s"
        );
        for p in &f.plan_curve {
            println!(
                "{:>6} {:>5.0} {:>5} {:>6} {:>8.3} {:>8.3} {:>6.2} {:>6} {:>5}",
                p.resources,
                p.latency_s * 1000.0,
                p.reads,
                p.reads_needed,
                p.wall_s,
                p.lower_bound_s,
                p.ratio,
                p.requests,
                p.http_429
            );
        }
    }
    if !f.ops.is_empty() {
        println!("\nDaily and heavy applies");
        println!(
            "{:<11} {:>5} {:>6} {:>8} {:>8} {:>8} {:>6} {:>5}",
            "op", "res", "writes", "plan s", "apply s", "total s", "reqs", "429s"
        );
        for o in &f.ops {
            println!(
                "{:<11} {:>5} {:>6} {:>8.3} {:>8.3} {:>8.3} {:>6} {:>5}",
                o.op, o.resources, o.writes, o.plan_s, o.apply_s, o.total_s, o.requests, o.http_429
            );
        }
    }
}

/// The two curves as SVG files in `dir`: `apply-curve.svg` and `plan-curve.svg`.
fn write_plots(args: &Args, f: &Figures, dir: &std::path::Path) -> anyhow::Result<()> {
    use crate::svg::{Series, line_chart};
    std::fs::create_dir_all(dir)?;
    if !f.grid.is_empty() {
        let mut series = Vec::new();
        for limited in [true, false] {
            let rows: Vec<&ApplyFigures> = f
                .grid
                .iter()
                .map(|(_, a)| a)
                .filter(|a| a.limited == limited)
                .collect();
            let tag = if limited { "ARM limits" } else { "no limits" };
            series.push(Series {
                name: format!("apply, {tag}"),
                points: rows
                    .iter()
                    .map(|a| (a.resources as f64, a.apply_s))
                    .collect(),
                dashed: false,
            });
            series.push(Series {
                name: format!("bound, {tag}"),
                points: rows
                    .iter()
                    .map(|a| (a.resources as f64, a.lower_bound_s))
                    .collect(),
                dashed: true,
            });
        }
        let title = format!(
            "Apply of the grid spec (1, 3, 10, 30 VNets), time scale {}",
            args.grid_time_scale
        );
        let svg = line_chart(&title, "resources (log)", "seconds", true, &series);
        std::fs::write(dir.join("apply-curve.svg"), svg)?;
    }
    if !f.plan_curve.is_empty() {
        let mut series = Vec::new();
        for reads in ["list", "get"] {
            for ms in [20.0, 100.0, 200.0] {
                let points: Vec<(f64, f64)> = f
                    .plan_curve
                    .iter()
                    .filter(|p| p.reads == reads && (p.latency_s * 1000.0 - ms).abs() < 0.5)
                    .map(|p| (p.resources as f64, p.wall_s))
                    .collect();
                if !points.is_empty() {
                    series.push(Series {
                        name: format!("{reads}s, {ms:.0} ms"),
                        points,
                        dashed: reads == "get",
                    });
                }
            }
        }
        let svg = line_chart(
            "Plan of an applied stack under ARM's read budget",
            "resources (log)",
            "seconds",
            true,
            &series,
        );
        std::fs::write(dir.join("plan-curve.svg"), svg)?;
    }
    Ok(())
}

/// The concurrent-plan keys: the goals are stated for five plans.
fn add_concurrent(v: &mut Value, runs: &[ConcurrentFigures]) {
    let five = runs.iter().find(|c| c.plans == 5 && c.reads == "list");
    let five_get = runs.iter().find(|c| c.plans == 5 && c.reads == "get");
    let worst_ratio = runs
        .iter()
        .map(|c| c.ratio)
        .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
    let unread = |c: &ConcurrentFigures| {
        c.unread
            + if c.errors.is_empty() {
                0
            } else {
                c.resources_each
            }
    };
    if let Value::Object(map) = v {
        map.insert("plan_concurrent_unread".into(), json!(five.map(unread)));
        map.insert(
            "plan_concurrent_429_share".into(),
            json!(five.map(|c| c.share_429)),
        );
        map.insert(
            "plan_concurrent_budget_ratio".into(),
            json!(five.map(|c| c.ratio)),
        );
        map.insert(
            "plan_concurrent_cpu_ratio".into(),
            json!(five.map(|c| c.cpu_ratio)),
        );
        map.insert(
            "plan_concurrent_read_bound_ratio".into(),
            json!(five.map(|c| c.read_bound_ratio)),
        );
        map.insert(
            "plan_concurrent_get_budget_ratio".into(),
            json!(five_get.map(|c| c.ratio)),
        );
        map.insert(
            "plan_concurrent_get_429_share".into(),
            json!(five_get.map(|c| c.share_429)),
        );
        map.insert(
            "plan_concurrent_unread_all_k".into(),
            json!(runs.iter().map(unread).sum::<usize>()),
        );
        map.insert("plan_concurrent_worst_ratio".into(), json!(worst_ratio));
        map.insert("concurrent".into(), json!(runs));
    }
}

fn print_concurrent(runs: &[ConcurrentFigures]) {
    if runs.is_empty() {
        return;
    }
    println!(
        "\nConcurrent plans in one subscription (ARM's read budget; bound = max(reads, machine))"
    );
    println!(
        "{:>5} {:>6} {:>5} {:>6} {:>8} {:>8} {:>8} {:>6} {:>6} {:>7} {:>6} {:>7} {:>7} {:>7}",
        "plans",
        "each",
        "reads",
        "needed",
        "wall s",
        "read s",
        "mach s",
        "ratio",
        "cpu r",
        "reqs",
        "429s",
        "429 %",
        "unread",
        "errors"
    );
    for c in runs {
        println!(
            "{:>5} {:>6} {:>5} {:>6} {:>8.2} {:>8.2} {:>8.2} {:>6.3} {:>6.3} {:>7} {:>6} {:>7.2} {:>7} {:>7}",
            c.plans,
            c.resources_each,
            c.reads,
            c.reads_needed,
            c.wall_s,
            c.bound_s,
            c.machine_bound_s,
            c.ratio,
            c.cpu_ratio,
            c.requests,
            c.http_429,
            c.share_429 * 100.0,
            c.unread,
            c.errors.len()
        );
    }
}

fn figures_json(args: &Args, f: &Figures, total: f64) -> Value {
    let applies = &f.applies;
    let plans = &f.plans;
    let baseline = f.baseline.as_ref();
    let offline = &f.offline;
    let seeded = |name: &str| f.seeded.iter().find(|s| s.spec == name);
    let p2000 = plans
        .iter()
        .find(|p| p.resources == 2000 && p.cloud == "applied" && p.reads == "list");
    let p2000_get = plans
        .iter()
        .find(|p| p.resources == 2000 && p.cloud == "applied" && p.reads == "get");
    let off = |n: usize| offline.iter().find(|o| o.resources == n);
    let grid_1000 = f.grid.iter().find(|(v, a)| *v == 30 && a.limited);
    // Against the observable bound, as the wide VNet: no client that waits the `Retry-After`
    // ARM asks for can see a write finish before its provider's next poll, and on the grid
    // that alone puts the provisioning bound 1.5 × out of reach.
    let budget_1000 = grid_1000.map(|(_, a)| a.observable_ratio);
    let budget_1000_provisioning = grid_1000.map(|(_, a)| a.ratio);
    let op = |name: &str| f.ops.iter().find(|o| o.op == name && o.resources == 2000);
    let date = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    // Read-only: which commit the figures belong to (the work tree may have edits on top).
    let commit = std::process::Command::new("git")
        .arg("-C")
        .arg(crate::baseline::workspace_root())
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    json!({
        "date": date,
        "git_commit": commit,
        "quick": args.quick,
        "time_scale": args.time_scale,
        "plan_latency_ms": args.latency_ms,
        "apply_latency_ms": args.apply_latency_ms,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "total_seconds": total,
        "apply_critical_path_ratio": seeded("secure-ml-workspace").and_then(|s| s.ratio_p50),
        "apply_critical_path_ratio_p90": seeded("secure-ml-workspace").and_then(|s| s.ratio_p90),
        "apply_critical_path_observable_ratio": seeded("secure-ml-workspace").and_then(|s| s.observable_p50),
        "apply_wide_vnet_ratio": seeded("wide VNet").and_then(|s| s.observable_p50),
        "apply_wide_vnet_ratio_p90": seeded("wide VNet").and_then(|s| s.observable_p90),
        "apply_1000_budget_ratio": budget_1000,
        "apply_1000_budget_provisioning_ratio": budget_1000_provisioning,
        "plan_2000_seconds": p2000.map(|p| p.wall_s),
        "plan_2000_http_429": p2000.map(|p| p.http_429),
        "plan_2000_lower_bound_ratio": p2000.map(|p| p.ratio),
        "plan_2000_requests_per_resource": p2000.map(|p| p.requests_per_resource),
        "plan_2000_get_seconds": p2000_get.map(|p| p.wall_s),
        "sdk_threaded_ratio": baseline.and_then(BaselineFigures::threaded_ratio),
        "sdk_sequential_ratio": baseline.and_then(BaselineFigures::sequential_ratio),
        "noop_apply_2000_seconds": op("noop").map(|o| o.total_s),
        "one_change_apply_2000_seconds": op("one-change").map(|o| o.total_s),
        "offline_10000_seconds": off(10_000).map(|o| o.total_s),
        "offline_10000_peak_mb": off(10_000).map(|o| o.peak_mb),
        "offline_50000_seconds": off(50_000).map(|o| o.total_s),
        "offline_50000_peak_mb": off(50_000).map(|o| o.peak_mb),
        "apply": applies,
        "apply_seeded": f.seeded,
        "apply_seeded_runs": f.seeded_runs,
        "apply_curve": f.grid.iter().map(|(_, a)| a).collect::<Vec<_>>(),
        "plan": plans,
        "plan_curve": f.plan_curve,
        "ops": f.ops,
        "baseline": baseline,
        "offline": offline,
    })
}

fn print_table(
    applies: &[ApplyFigures],
    plans: &[PlanFigures],
    baseline: Option<&BaselineFigures>,
    offline: &[OfflineFigures],
    total: f64,
) {
    if !applies.is_empty() {
        println!("\nApply vs the physical limit (wall time of the apply walk / lower bound)");
        println!(
            "{:<50} {:>5} {:>4} {:>8} {:>8} {:>6} {:>8} {:>6} {:>6} {:>8}",
            "spec",
            "res",
            "par",
            "apply s",
            "bound s",
            "ratio",
            "sched s",
            "reqs",
            "429s",
            "state s"
        );
        for a in applies {
            println!(
                "{:<50} {:>5} {:>4} {:>8.3} {:>8.3} {:>6.2} {:>8.3} {:>6} {:>6} {:>8.3}",
                a.spec,
                a.resources,
                if a.parallelism == 0 {
                    "∞".to_string()
                } else {
                    a.parallelism.to_string()
                },
                a.apply_s,
                a.lower_bound_s,
                a.ratio,
                a.schedule_nodes_s,
                a.requests,
                a.http_429,
                a.state_write_s
            );
        }
    }
    if !plans.is_empty() {
        println!("\nPlan vs latency and throttling (live read + diff)");
        println!(
            "{:>6} {:<8} {:>6} {:>8} {:>8} {:>6} {:>6} {:>8} {:>5} {:>7}",
            "res",
            "cloud",
            "reads",
            "wall s",
            "bound s",
            "ratio",
            "reqs",
            "req/res",
            "429s",
            "changes"
        );
        for p in plans {
            println!(
                "{:>6} {:<8} {:>6} {:>8.3} {:>8.3} {:>6.2} {:>6} {:>8.3} {:>5} {:>7}",
                p.resources,
                p.cloud,
                p.reads_needed,
                p.wall_s,
                p.lower_bound_s,
                p.ratio,
                p.requests,
                p.requests_per_resource,
                p.http_429,
                p.changes
            );
        }
    }
    if let Some(b) = baseline {
        println!(
            "\nAgainst the Azure SDK for Python (secure example and wide VNet; same cadence and polling rules)"
        );
        if b.status == "ran" {
            for r in &b.runs {
                println!(
                    "{:<6} {:<10} moat {:.3} s   script {:.3} s ({} requests)   moat/script {:.2}   same resources and properties: {}",
                    r.spec,
                    r.mode,
                    r.moat_s,
                    r.sdk_s,
                    r.requests,
                    r.ratio,
                    if r.same_result() { "yes" } else { "NO" }
                );
                for d in r
                    .only_moat
                    .iter()
                    .map(|i| format!("only moat: {i}"))
                    .chain(r.only_sdk.iter().map(|i| format!("only script: {i}")))
                    .chain(r.property_differences.iter().cloned())
                {
                    println!("    {d}");
                }
            }
        } else {
            println!(
                "skipped: {}",
                b.reason.as_deref().unwrap_or("no reason given")
            );
        }
    }
    if !offline.is_empty() {
        println!("\nOffline cost (parse + resolve + lint + graph + diff, own process)");
        println!(
            "{:>6} {:>9} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>8}",
            "res", "bytes", "parse", "resolve", "lint", "graph", "diff", "total s", "peak MB"
        );
        for o in offline {
            println!(
                "{:>6} {:>9} {:>7.3} {:>7.3} {:>7.3} {:>7.3} {:>7.3} {:>7.3} {:>8.1}",
                o.resources,
                o.spec_bytes,
                o.parse_s,
                o.resolve_s,
                o.lint_s,
                o.graph_s,
                o.diff_s,
                o.total_s,
                o.peak_mb
            );
        }
    }
    println!("\nAll benchmarks: {total:.1} s");
}
