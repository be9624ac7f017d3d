//! Runs the selected benchmarks in order, prints the table and writes the JSON figures.

use crate::Args;
use crate::apply_bench::{ApplyFigures, ApplySettings};
use crate::baseline::BaselineFigures;
use crate::concurrent::ConcurrentFigures;
use crate::offline::OfflineFigures;
use crate::plan_bench::PlanFigures;
use anyhow::Context as _;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The CLI's default `--parallelism`.
const CLI_PARALLELISM: usize = 16;

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
    };
    let root = crate::baseline::workspace_root();

    // 1. Apply against the physical limit (and the secure example's run for the baseline).
    let mut applies: Vec<ApplyFigures> = Vec::new();
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
            // The headline figure is the median of three runs: fsync times vary with the
            // disk load of whatever else runs on the machine.
            let repeats = if *name == "secure-ml-workspace" { 3 } else { 1 };
            let (f, ids) = rt.block_on(crate::apply_bench::bench_median(
                name, &text, settings, repeats,
            ))?;
            if *name == "secure-ml-workspace" {
                secure = Some((f.clone(), ids));
            }
            applies.push(f);
        }
        if want("apply") {
            let vnets = if args.quick { 1 } else { 3 };
            let text = crate::specgen::grid("grid", vnets);
            // The CLI's parallelism; no cap; no cap with the state record kept in memory (what
            // persisting the record costs); and the CLI's parallelism with ARM's limits not
            // scaled with time (what `moat apply --local` does today).
            let runs = [
                (CLI_PARALLELISM, false, true, ""),
                (0, false, true, ""),
                (0, true, true, ", state in memory"),
                (CLI_PARALLELISM, false, false, ", unscaled limits"),
            ];
            for (parallelism, state_in_memory, scale_limits, note) in runs {
                let label = format!("generated {vnets} VNets × 10 subnets{note}");
                eprintln!("moat-bench: apply {label} (parallelism {parallelism}) …");
                let s = ApplySettings {
                    parallelism,
                    state_in_memory,
                    scale_limits,
                    ..settings
                };
                let (f, _) = rt.block_on(crate::apply_bench::bench_spec(&label, &text, s))?;
                applies.push(f);
            }
        }
    }

    // 3. The SDK baseline (needs the secure example's moat run), plus moat on the wide VNet
    // (one VNet, ten subnets: the spec where per-subnet writes cost most).
    let baseline = if want("baseline") {
        match &secure {
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
                Some(rt.block_on(crate::baseline::bench(&args.python, &venv, settings, &moat)))
            }
            None => Some(BaselineFigures::skipped(
                "the secure example was not applied",
            )),
        }
    } else {
        None
    };

    // 2. Plan against latency and throttling.
    let mut plans: Vec<PlanFigures> = Vec::new();
    if want("plan") {
        let sizes: &[usize] = if args.quick {
            &[100, 500]
        } else {
            &[100, 500, 2000]
        };
        for &n in sizes {
            eprintln!("moat-bench: plan {n} resources …");
            let latency = Duration::from_millis(args.latency_ms);
            plans.extend(rt.block_on(crate::plan_bench::bench_size(
                n,
                latency,
                args.time_scale,
                true,
            ))?);
        }
    }

    // 2b. Concurrent plans in one subscription, sharing ARM's read budget.
    let mut concurrent: Vec<ConcurrentFigures> = Vec::new();
    if want("concurrent") {
        let ks: &[usize] = if args.quick {
            &[2]
        } else {
            &args.concurrent_plans
        };
        for &k in ks {
            eprintln!("moat-bench: {k} concurrent plans of 1 000 resources …");
            let latency = Duration::from_millis(args.latency_ms);
            concurrent.push(rt.block_on(crate::concurrent::bench(
                k,
                1000,
                latency,
                args.time_scale,
            ))?);
        }
    }

    // 4. Offline cost, each size in its own process.
    let mut offline: Vec<OfflineFigures> = Vec::new();
    if want("offline") {
        let sizes: &[usize] = if args.quick { &[1000] } else { &[1000, 10_000] };
        let dir = tempfile::tempdir()?;
        for &n in sizes {
            eprintln!("moat-bench: offline {n} resources …");
            offline.push(crate::offline::measure_in_child(dir.path(), n)?);
        }
    }

    let total = started.elapsed().as_secs_f64();
    print_table(&applies, &plans, baseline.as_ref(), &offline, total);
    print_concurrent(&concurrent);
    if let Some(path) = &args.json {
        let mut v = figures_json(args, &applies, &plans, baseline.as_ref(), &offline, total);
        add_concurrent(&mut v, &concurrent);
        let text = serde_json::to_string_pretty(&v)? + "\n";
        std::fs::write(path, text).with_context(|| format!("cannot write `{}`", path.display()))?;
        eprintln!("moat-bench: wrote {}", path.display());
    }
    Ok(())
}

/// The concurrent-plan keys: the goals are stated for five plans.
fn add_concurrent(v: &mut Value, runs: &[ConcurrentFigures]) {
    let five = runs.iter().find(|c| c.plans == 5);
    let worst_ratio = runs
        .iter()
        .map(|c| c.ratio)
        .fold(None, |m: Option<f64>, r| Some(m.map_or(r, |m| m.max(r))));
    if let Value::Object(map) = v {
        map.insert(
            "plan_concurrent_unread".into(),
            json!(five.map(|c| c.unread
                + if c.errors.is_empty() {
                    0
                } else {
                    c.resources_each
                })),
        );
        map.insert(
            "plan_concurrent_429_share".into(),
            json!(five.map(|c| c.share_429)),
        );
        map.insert(
            "plan_concurrent_budget_ratio".into(),
            json!(five.map(|c| c.ratio)),
        );
        map.insert(
            "plan_concurrent_unread_all_k".into(),
            json!(runs.iter().map(|c| c.unread).sum::<usize>()),
        );
        map.insert("plan_concurrent_worst_ratio".into(), json!(worst_ratio));
        map.insert("concurrent".into(), json!(runs));
    }
}

fn print_concurrent(runs: &[ConcurrentFigures]) {
    if runs.is_empty() {
        return;
    }
    println!("\nConcurrent plans in one subscription (1 000 resources each, ARM's read budget)");
    println!(
        "{:>5} {:>6} {:>8} {:>8} {:>6} {:>7} {:>6} {:>7} {:>7} {:>7}",
        "plans", "reads", "wall s", "bound s", "ratio", "reqs", "429s", "429 %", "unread", "errors"
    );
    for c in runs {
        println!(
            "{:>5} {:>6} {:>8.2} {:>8.2} {:>6.3} {:>7} {:>6} {:>7.2} {:>7} {:>7}",
            c.plans,
            c.reads_needed,
            c.wall_s,
            c.bound_s,
            c.ratio,
            c.requests,
            c.http_429,
            c.share_429 * 100.0,
            c.unread,
            c.errors.len()
        );
    }
}

fn plan_at<'a>(plans: &'a [PlanFigures], n: usize, cloud: &str) -> Option<&'a PlanFigures> {
    plans.iter().find(|p| p.resources == n && p.cloud == cloud)
}

fn figures_json(
    args: &Args,
    applies: &[ApplyFigures],
    plans: &[PlanFigures],
    baseline: Option<&BaselineFigures>,
    offline: &[OfflineFigures],
    total: f64,
) -> Value {
    let secure = applies.iter().find(|a| a.spec == "secure-ml-workspace");
    let p2000 = plan_at(plans, 2000, "applied");
    let o10k = offline.iter().find(|o| o.resources == 10_000);
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
        "apply_critical_path_ratio": secure.map(|a| a.ratio),
        "plan_2000_lower_bound_ratio": p2000.map(|p| p.ratio),
        "plan_2000_requests_per_resource": p2000.map(|p| p.requests_per_resource),
        "plan_2000_http_429": p2000.map(|p| p.http_429),
        "sdk_threaded_ratio": baseline.and_then(BaselineFigures::threaded_ratio),
        "sdk_sequential_ratio": baseline.and_then(BaselineFigures::sequential_ratio),
        "offline_10000_seconds": o10k.map(|o| o.total_s),
        "offline_10000_peak_mb": o10k.map(|o| o.peak_mb),
        "apply": applies,
        "plan": plans,
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
