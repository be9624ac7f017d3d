//! Command-line arguments (the v1 contract of DESIGN.md).

use clap::{Args, CommandFactory as _, FromArgMatches as _, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// moat: declarative, network-isolated Azure Machine Learning infrastructure.
#[derive(Debug, Parser)]
#[command(
    name = "moat",
    version,
    about = "moat: declarative, network-isolated Azure Machine Learning infrastructure",
    long_about = None,
    propagate_version = true
)]
pub struct Cli {
    /// Options every command takes.
    #[command(flatten)]
    pub global: Global,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// The argument definitions as the binary uses them: [`Cli`], with the global options hidden
/// from `moat sim --help`, where none of them applies (the emulator has its own).
pub fn command() -> clap::Command {
    let mut cmd = Cli::command();
    // Global options reach the subcommands only when the command is built; hide them after.
    cmd.build();
    let globals: Vec<clap::Id> = cmd
        .get_arguments()
        .filter(|a| a.is_global_set())
        .map(|a| a.get_id().clone())
        .collect();
    // `mut_args` keeps the order of the arguments, which the built key map indexes into.
    cmd.mut_subcommand("sim", |sim| {
        sim.mut_args(|a| {
            if globals.contains(a.get_id()) {
                a.hide(true)
            } else {
                a
            }
        })
    })
}

/// Parses the process arguments (exiting with clap's message and code 2 on bad ones).
pub fn parse() -> Cli {
    let matches = command().get_matches();
    Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// Options every command takes.
#[derive(Debug, Args, Clone)]
#[command(next_help_heading = "Global options")]
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
    /// Write a redacted trace of every ARM and state-blob exchange to FILE (JSON lines).
    #[arg(long, global = true, env = "MOAT_LOG_HTTP", value_name = "FILE")]
    pub log_http: Option<PathBuf>,
    /// Also send real credentials to this https endpoint (a spec's `backend.endpoint` outside
    /// the cloud's storage hosts); repeatable, or comma-separated in the variable.
    #[arg(
        long,
        global = true,
        env = "MOAT_ALLOW_ENDPOINT",
        value_name = "URL",
        value_delimiter = ','
    )]
    pub allow_endpoint: Vec<String>,
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
    /// Show a plan saved with `moat plan --out`.
    Show(ShowArgs),
    /// Print what the stack's resources are known by: IDs, endpoints, FQDNs (never secrets).
    Output(OutputArgs),
    /// Look at or edit the stack's state record.
    #[command(subcommand)]
    State(StateCommand),
    /// Break a stale state lock: `moat force-unlock [SPEC] [LOCK_ID]`.
    ForceUnlock(UnlockArgs),
    /// Run the local ARM emulator.
    Sim(SimArgs),
    /// Print the JSON Schema of the spec.
    Schema,
    /// Print a shell completion script.
    #[command(after_help = COMPLETIONS_HELP)]
    Completions(CompletionsArgs),
    /// Print moat's version and the ARM api-versions it speaks.
    Version,
}

const PLAN_HELP: &str = "\
Examples:
  moat plan                                   # moat.yaml, text
  moat plan infra/prod.yaml --var-file prod.vars.yaml
  moat plan --out plan.json --detailed-exitcode   # CI: save it, exit 2 on changes
  moat plan --format markdown > comment.md    # a pull-request comment
  moat plan --json | jq -c 'select(.type == \"planned\")'
  moat plan --destroy --target vnet/training  # what a targeted destroy would do
  moat plan --target ws --out ws.json         # apply it later with `moat apply ws.json`
  moat plan --replace cpu --out cpu.json      # re-create cpu (and what goes with it)

Exit codes:
  0  success (with --detailed-exitcode: no changes)
  1  error: bad spec, unreadable state, ARM refused a read
  2  changes to apply (only with --detailed-exitcode)";

const APPLY_HELP: &str = "\
Examples:
  moat apply                                  # plan moat.yaml, ask, apply
  moat apply plan.json                        # apply exactly a plan saved by `moat plan --out`
  moat apply --auto-approve --target ws       # ws and what it needs, no question
  moat apply --replace aks                    # delete and re-create aks (and its attachments)
  moat apply --local examples/minimal.yaml --auto-approve   # against the embedded emulator
  moat apply --auto-approve --json > events.jsonl   # machine-readable progress

Exit codes:
  0    applied, or nothing to do
  1    error, not confirmed (\"Apply cancelled.\"), a write failed (what succeeded is
       recorded), or interrupted
  130  interrupted twice (writes in flight are journalled; the next apply finishes them)";

const DESTROY_HELP: &str = "\
Examples:
  moat destroy                                # plan the deletes, ask, delete
  moat destroy --auto-approve --exclude rg    # keep the resource group
  moat destroy --target vnet/training         # the subnet and what is in it; firewall
                                              # entries and associations dropped in place
  moat plan --destroy --target training-nsg   # the same, shown, not done
  moat destroy --auto-approve --json          # machine-readable progress

Exit codes:
  0    destroyed, or nothing to do
  1    error, not confirmed (\"Destroy cancelled.\"), a delete failed, or interrupted
  130  interrupted twice (deletes in flight are journalled; the next run finishes them)";

const COMPLETIONS_HELP: &str = "\
Examples:
  moat completions bash > ~/.local/share/bash-completion/completions/moat
  moat completions zsh > \"${fpath[1]}/_moat\"
  moat completions fish > ~/.config/fish/completions/moat.fish
  moat completions powershell >> $PROFILE";

/// `moat show`
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A plan saved with `moat plan --out`.
    #[arg(value_name = "PLANFILE")]
    pub planfile: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = PlanFormat::Text)]
    pub format: PlanFormat,
    /// With `--format markdown`: the link to the full plan (the CI run's plan artifact) that
    /// a comment cut short at GitHub's 65 536-character limit points to.
    #[arg(long, value_name = "URL", env = "MOAT_PLAN_URL")]
    pub plan_url: Option<String>,
    /// Also show resources without changes.
    #[arg(long)]
    pub show_unchanged: bool,
}

/// The spec of a command whose other arguments come first.
#[derive(Debug, Args, Clone)]
pub struct SpecOpt {
    /// Spec file (default `moat.yaml`): names the stack and where its state is.
    #[arg(long, value_name = "SPEC")]
    pub spec: Option<PathBuf>,
    /// Variables.
    #[command(flatten)]
    pub vars: VarArgs,
}

/// `moat output`
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// One resource (`store`), or one value of it (`store.blob_endpoint`).
    #[arg(value_name = "KEY")]
    pub key: Option<String>,
    /// JSON instead of `key.name = value` lines.
    #[arg(long)]
    pub json: bool,
    /// The spec.
    #[command(flatten)]
    pub spec: SpecOpt,
}

/// `moat state …`
#[derive(Debug, Subcommand)]
pub enum StateCommand {
    /// List the resources the stack manages.
    List(SpecOpt),
    /// Show what the state records about one resource.
    Show(StateKeyArgs),
    /// Stop managing a resource without deleting it.
    Forget(ForgetArgs),
}

/// `moat state show KEY`
#[derive(Debug, Args)]
pub struct StateKeyArgs {
    /// The resource key (`vnet`, `vnet/training`).
    #[arg(value_name = "KEY")]
    pub key: String,
    /// The spec.
    #[command(flatten)]
    pub spec: SpecOpt,
}

/// `moat state forget KEY`
#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// The resource key (`vnet`, `vnet/training`).
    #[arg(value_name = "KEY")]
    pub key: String,
    /// Skip the confirmation (required without a terminal).
    #[arg(long)]
    pub yes: bool,
    /// How long to wait for another run's lock.
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = parse_duration)]
    pub lock_timeout: std::time::Duration,
    /// The spec.
    #[command(flatten)]
    pub spec: SpecOpt,
}

/// `moat completions`
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
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
#[command(after_help = PLAN_HELP)]
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
    /// With `--format markdown`: the link to the full plan (the CI run's plan artifact) that
    /// a comment cut short at GitHub's 65 536-character limit points to.
    #[arg(long, value_name = "URL", env = "MOAT_PLAN_URL")]
    pub plan_url: Option<String>,
    /// Exit 2 when there are changes, 0 when none, 1 on error.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Also show resources without changes.
    #[arg(long)]
    pub show_unchanged: bool,
    /// Stream JSON event lines on stdout instead (`schemas/events.schema.json`).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Show what `moat destroy` would delete (with `--target`/`--exclude`, what a targeted
    /// destroy would), without doing it; `--out` saves it for `moat apply PLANFILE`.
    #[arg(long)]
    pub destroy: bool,
    /// `--target` and `--exclude`.
    #[command(flatten)]
    pub select: Select,
    /// Replace this resource although nothing forces it (repeatable; Terraform's
    /// `-replace`): deleted and created again, with what its replacement takes along.
    #[arg(long = "replace", value_name = "KEY", conflicts_with = "destroy")]
    pub replace: Vec<String>,
    /// Hold the stack's lock while reading (`--lock=false` skips it, e.g. on a read-only
    /// backend; the plan may then see a half-finished apply).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub lock: bool,
    /// How long to wait for another run's lock on the stack.
    #[arg(long, default_value = LOCK_TIMEOUT, value_name = "DURATION", value_parser = parse_duration)]
    pub lock_timeout: std::time::Duration,
}

/// `--target`/`--exclude`, shared by plan, apply and destroy.
#[derive(Debug, Args, Clone, Default)]
pub struct Select {
    /// Only this resource (repeatable). Apply: it and what it needs. Destroy (and `plan
    /// --destroy`): it and what cannot exist without it; a survivor that only refers to it
    /// (a firewall entry, an NSG association) is updated to drop the reference; never its
    /// parent.
    #[arg(long = "target", value_name = "KEY")]
    pub targets: Vec<String>,
    /// Leave this resource and what needs it alone (repeatable). Destroy (and `plan
    /// --destroy`) also leaves alone everything those need; a resource group's members do
    /// not need it (`--exclude rg` keeps only the group).
    #[arg(long = "exclude", value_name = "KEY")]
    pub excludes: Vec<String>,
}

impl Select {
    /// True when neither flag was given.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty() && self.excludes.is_empty()
    }
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
    /// `--target` and `--exclude`.
    #[command(flatten)]
    pub select: Select,
    /// How long to wait for another run's lock on the stack. The default outlasts a blob
    /// lease (60 s), so a run right after a killed one waits for its lease instead of failing.
    #[arg(long, default_value = LOCK_TIMEOUT, value_name = "DURATION", value_parser = parse_duration)]
    pub lock_timeout: std::time::Duration,
    /// Stream JSON event lines on stdout (`schemas/events.schema.json`); needs `--auto-approve`.
    #[arg(long)]
    pub json: bool,
}

/// The default `--lock-timeout`: longer than the blob backend's 60 s lease.
pub const LOCK_TIMEOUT: &str = "75s";

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    moat_model::resolve::parse_duration(s).map(std::time::Duration::from_secs)
}

/// `moat apply`
#[derive(Debug, Args)]
#[command(after_help = APPLY_HELP)]
pub struct ApplyArgs {
    /// A spec (default `moat.yaml`) or a plan saved with `moat plan --out`.
    #[arg(value_name = "SPEC|PLANFILE")]
    pub spec: Option<PathBuf>,
    /// Variables.
    #[command(flatten)]
    pub vars: VarArgs,
    /// Replace this resource although nothing forces it (repeatable; Terraform's
    /// `-replace`): deleted and created again, with what its replacement takes along. A
    /// saved plan records its own.
    #[arg(long = "replace", value_name = "KEY")]
    pub replace: Vec<String>,
    /// Run options.
    #[command(flatten)]
    pub run: RunArgs,
}

/// `moat destroy`
#[derive(Debug, Args)]
#[command(after_help = DESTROY_HELP)]
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
    #[arg(long, default_value = LOCK_TIMEOUT, value_name = "DURATION", value_parser = parse_duration)]
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

/// `moat force-unlock`
#[derive(Debug, Args)]
pub struct UnlockArgs {
    /// Spec file (default `moat.yaml`). A lone argument that is no file and looks like a
    /// lock ID is taken as the lock ID.
    #[arg(value_name = "SPEC")]
    pub spec: Option<PathBuf>,
    /// The lock ID the lock message printed (`lock id …`): only that holding is broken.
    #[arg(value_name = "LOCK_ID")]
    pub lock_id: Option<String>,
    /// Break the lock even though its holder is provably alive (its process runs on this
    /// host, or it is still renewing its lease).
    #[arg(long)]
    pub force: bool,
    /// Do not ask for confirmation (required without a terminal, unless `--force`).
    #[arg(long, short = 'y')]
    pub yes: bool,
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
    /// Draw each create's duration from its kind's range (fitted to real recordings) with
    /// this seed; without it every operation takes its typical time.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Seconds (before `--time-scale`) a new managed identity's principal stays invisible to
    /// role assignments (400 `PrincipalNotFound`), like Entra ID's replication; 0 turns it off.
    #[arg(long, default_value_t = 10.0, value_name = "SECS")]
    pub replication_delay: f64,
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
    /// Read variables from a YAML map (repeatable; `--var` wins over a file, a later file over
    /// an earlier one).
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
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
