//! `moat-bench`: measures moat against its physical limits (apply vs the critical path, plan vs
//! latency and throttling, offline cost) and against the Azure SDK for Python, prints a table
//! and writes the figures as JSON. See `docs/benchmarks.md`.

mod apply_bench;
mod baseline;
mod bound;
mod concurrent;
mod offline;
mod ops_bench;
mod plan_bench;
mod run;
mod specgen;
mod svg;

use clap::Parser;
use std::path::PathBuf;
use std::process::ExitCode;

/// Benchmarks of moat; prints a table, optionally writes JSON.
#[derive(Parser, Debug)]
#[command(name = "moat-bench", version)]
pub struct Args {
    /// Write the figures to FILE as JSON.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// Smaller sizes, for a smoke test.
    #[arg(long)]
    pub quick: bool,
    /// Only these benchmarks (comma-separated: apply, plan, concurrent, baseline, ops,
    /// offline).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub only: Vec<String>,
    /// Emulator time scale for apply and the baseline (real provisioning times × this).
    #[arg(long, default_value_t = 0.01)]
    pub time_scale: f64,
    /// Emulator latency per request for plan, milliseconds.
    #[arg(long, default_value_t = 20)]
    pub latency_ms: u64,
    /// How many plans of 1 000 resources the concurrent-plan benchmark runs at once, one run
    /// per value (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "LIST", default_values_t = [2, 5, 10])]
    pub concurrent_plans: Vec<usize>,
    /// Resources of each of the five plans of the concurrent benchmark's GET-read run, where
    /// ARM's read budget binds (0: skip that run).
    #[arg(long, default_value_t = 200)]
    pub concurrent_get_resources: usize,
    /// Emulator latency per request for apply and the baseline, milliseconds.
    #[arg(long, default_value_t = 0)]
    pub apply_latency_ms: u64,
    /// Python used to create the baseline's venv.
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// The baseline's venv (default: `target/bench-venv` in the work tree).
    #[arg(long, value_name = "DIR")]
    pub venv: Option<PathBuf>,
    /// Time scale of the seeded applies (the secure example and the wide VNet): larger than
    /// `--time-scale` so that fixed per-write costs (state writes, scheduling on a shared
    /// machine) weigh against Azure's cadence as they would on Azure, not a hundred times more.
    #[arg(long, default_value_t = 0.1)]
    pub seeded_time_scale: f64,
    /// Seeds of the emulator's durations for the seeded applies (1..=N).
    #[arg(long, default_value_t = 5)]
    pub seeds: usize,
    /// Where the curves' SVG plots go (default: `docs/bench` in the work tree).
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// Sizes of the plan curve (comma-separated; default 100,1000,5000,10000, with
    /// `--quick` 100,1000).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub plan_sizes: Vec<usize>,
    /// VNets of the grid apply curve (comma-separated; default 1,3,10,30, with `--quick` 1,3).
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    pub grid_sizes: Vec<usize>,
    /// Time scale of the grid apply curve: Azure cadence, as the seeded applies, so that a
    /// write's fixed cost weighs against the provider's poll interval as it would on Azure.
    #[arg(long, default_value_t = 0.1)]
    pub grid_time_scale: f64,
    /// Internal: measure the offline phases of one spec and print JSON.
    #[arg(long, hide = true, value_name = "SPEC")]
    pub offline_child: Option<PathBuf>,
    /// Print the generated spec of N resources that the offline and plan benchmarks use, and
    /// exit (to profile one phase by hand: `moat-bench --print-spec 50000 > big.yaml`).
    #[arg(long, value_name = "N")]
    pub print_spec: Option<usize>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(n) = args.print_spec {
        print!("{}", specgen::spec(&format!("off{n}"), n));
        return ExitCode::SUCCESS;
    }
    if let Some(spec) = &args.offline_child {
        return match offline::measure(spec) {
            Ok(f) => {
                println!("{}", serde_json::to_string(&f).unwrap_or_default());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    match run::run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
