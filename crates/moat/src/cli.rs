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
    /// Print the JSON Schema of the spec.
    Schema,
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
