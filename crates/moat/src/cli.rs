//! Command-line arguments (the v1 contract of DESIGN.md).

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// moat: declarative, network-isolated Azure Machine Learning infrastructure.
#[derive(Debug, Parser)]
#[command(name = "moat", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: Global,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args, Clone)]
pub struct Global {
    /// ARM endpoint (default: Azure public cloud). A loopback address needs no credentials.
    #[arg(long, global = true, env = "MOAT_ARM_ENDPOINT", value_name = "URL")]
    pub arm_endpoint: Option<String>,
    /// Run against moat's embedded local emulator; its cloud state lives in the state directory.
    #[arg(long, global = true)]
    pub local: bool,
    /// Where state, locks and the local cloud live (default `.moat` next to the spec).
    #[arg(long, global = true, env = "MOAT_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// More output (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// No ANSI colours (also when `NO_COLOR` is set or output is not a terminal).
    #[arg(long, global = true)]
    pub no_color: bool,
    /// Credential to use: auto, env, workload-identity, github-oidc, azure-pipelines, managed-identity, azure-cli, none.
    #[arg(long, global = true, env = "MOAT_AUTH", value_name = "KIND")]
    pub auth: Option<String>,
    /// Write a redacted trace of every ARM exchange to FILE (JSON lines).
    #[arg(long, global = true, env = "MOAT_LOG_HTTP", value_name = "FILE")]
    pub log_http: Option<PathBuf>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Offline checks: parse, types, references, naming, CIDR, lint. Sends nothing anywhere.
    Validate(ValidateArgs),
    /// The Azure ML network rule catalogue, alone.
    Lint(LintArgs),
    /// Print the dependency graph.
    Graph(GraphArgs),
    /// Show what apply would change.
    Plan(PlanArgs),
    /// Make the cloud match the spec (or apply a saved plan).
    Apply(ApplyArgs),
    /// Delete everything the stack owns.
    Destroy(DestroyArgs),
    /// Adopt an existing resource into the stack.
    Import(ImportArgs),
    /// Break a stale state lock.
    ForceUnlock(SpecArg),
    /// Run the local ARM emulator.
    Sim(SimArgs),
    /// Print the JSON Schema of the spec.
    Schema,
}

/// Plan formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PlanFormat {
    /// Human-readable.
    Text,
    /// The versioned JSON plan (`schemas/plan.schema.json`).
    Json,
    /// A pull-request comment.
    Markdown,
}

/// `moat plan`
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Spec file (default `moat.yaml`).
    #[arg(value_name = "SPEC")]
    pub spec: Option<PathBuf>,
    /// Variables.
    #[command(flatten)]
    pub vars: VarArgs,
    /// Save the plan for `moat apply PLANFILE`.
    #[arg(long, value_name = "PLANFILE")]
    pub out: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// Exit 2 when there are changes, 0 when none, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Also show resources without changes.
    #[arg(long)]
    pub show_unchanged: bool,
}

/// Options shared by apply and destroy.
#[derive(Debug, Args, Clone)]
pub struct RunArgs {
    /// Skip the confirmation (required without a terminal).
    #[arg(long)]
    pub auto_approve: bool,
    /// Most writes in flight at once.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub parallelism: usize,
    /// Only this resource and what it needs (repeatable).
    #[arg(long = "target", value_name = "KEY")]
    pub targets: Vec<String>,
    /// Leave this resource and what needs it alone (repeatable).
    #[arg(long = "exclude", value_name = "KEY")]
    pub excludes: Vec<String>,
    /// How long to wait for another run's lock on the stack.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = parse_duration)]
    pub lock_timeout: std::time::Duration,
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    moat_model::resolve::parse_duration(s).map(std::time::Duration::from_secs)
}

/// `moat apply`
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// A spec (default `moat.yaml`) or a plan saved with `moat plan --out`.
    #[arg(value_name = "SPEC|PLANFILE")]
    pub spec: Option<PathBuf>,
    /// Variables.
    #[command(flatten)]
    pub vars: VarArgs,
    /// Run options.
    #[command(flatten)]
    pub run: RunArgs,
}

/// `moat destroy`
#[derive(Debug, Args)]
pub struct DestroyArgs {
    /// Spec file (default `moat.yaml`).
    #[arg(value_name = "SPEC")]
    pub spec: Option<PathBuf>,
    /// Variables.
    #[command(flatten)]
    pub vars: VarArgs,
    /// Run options.
    #[command(flatten)]
    pub run: RunArgs,
}

/// `moat import`
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Spec file.
    #[arg(value_name = "SPEC")]
    pub spec: PathBuf,
    /// The resource key in the spec.
    #[arg(value_name = "KEY")]
    pub key: String,
    /// The ARM ID of the resource to adopt.
    #[arg(value_name = "ARM_ID")]
    pub arm_id: String,
    /// Variables.
    #[command(flatten)]
    pub vars: VarArgs,
    /// How long to wait for another run's lock.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = parse_duration)]
    pub lock_timeout: std::time::Duration,
}

/// A command that takes only a spec.
#[derive(Debug, Args)]
pub struct SpecArg {
    /// Spec file (default `moat.yaml`).
    #[arg(value_name = "SPEC")]
    pub spec: Option<PathBuf>,
    /// Variables.
    #[command(flatten)]
    pub vars: VarArgs,
}

/// `moat sim`
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Address to listen on (loopback only).
    #[arg(long, default_value = "127.0.0.1:8443", value_name = "ADDR")]
    pub listen: std::net::SocketAddr,
    /// Keep the emulated cloud in FILE across restarts.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Write every non-polling exchange as a traffic file into DIR.
    #[arg(long, value_name = "DIR")]
    pub record: Option<PathBuf>,
    /// Inject the faults described in FILE (JSON).
    #[arg(long, value_name = "FILE")]
    pub faults: Option<PathBuf>,
    /// Multiply real provisioning times by F (0 = instant).
    #[arg(long, default_value_t = 1.0, value_name = "F")]
    pub time_scale: f64,
}

/// Output formats for diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DiagFormat {
    /// Human-readable, with source snippets.
    Text,
    /// JSON.
    Json,
}

/// `--var NAME=VALUE`, repeatable.
#[derive(Debug, Args, Clone, Default)]
pub struct VarArgs {
    /// Set a variable: `--var prefix=team1` (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE", value_parser = parse_var)]
    pub vars: Vec<(String, String)>,
}

fn parse_var(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.trim().to_string(), v.to_string()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("expected NAME=VALUE, got `{s}`"))
}

/// `moat validate`
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Spec files (default `moat.yaml`).
    #[arg(value_name = "SPEC")]
    pub specs: Vec<PathBuf>,
    /// Variables.
    #[command(flatten)]
    pub vars: VarArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = DiagFormat::Text)]
    pub format: DiagFormat,
}

/// Output formats of `moat lint`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LintFormat {
    /// Human-readable.
    Text,
    /// JSON.
    Json,
    /// SARIF 2.1.0, for code scanning.
    Sarif,
}

/// `moat lint`
#[derive(Debug, Args)]
pub struct LintArgs {
    /// Spec file (default `moat.yaml`).
    #[arg(value_name = "SPEC")]
    pub spec: Option<PathBuf>,
    /// Variables.
    #[command(flatten)]
    pub vars: VarArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = LintFormat::Text)]
    pub format: LintFormat,
}

/// Graph formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// Graphviz.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
    /// Sorted `a -> b` lines.
    Text,
}

/// `moat graph`
#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Spec file (default `moat.yaml`).
    #[arg(value_name = "SPEC")]
    pub spec: Option<PathBuf>,
    /// Variables.
    #[command(flatten)]
    pub vars: VarArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = GraphFormat::Dot)]
    pub format: GraphFormat,
}
