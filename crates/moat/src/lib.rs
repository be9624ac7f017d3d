//! The moat command line as a library: argument types, the command dispatcher and the output
//! helpers, so that integration tests can drive exactly what the binary runs.

pub mod cli;
pub mod commands;
pub mod load;
pub mod output;
pub mod pipeline;
pub mod progress;
pub mod reach;
pub mod remote;

use cli::{Cli, Command};

/// How a successful run ends; mapped to the process exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Exit 0: success, no changes.
    Ok,
    /// Exit 1: the command ran and found errors (already printed).
    Failed,
    /// Exit 2: `plan --detailed-exitcode` found changes.
    Changes,
}

impl From<Status> for std::process::ExitCode {
    fn from(s: Status) -> Self {
        std::process::ExitCode::from(match s {
            Status::Ok => 0,
            Status::Failed => 1,
            Status::Changes => 2,
        })
    }
}

/// Runs one command.
pub fn run(cli: Cli) -> anyhow::Result<Status> {
    let out = output::Output::new(&cli.global);
    match &cli.command {
        Command::Validate(args) => commands::validate::run(&cli.global, args, &out),
        Command::Lint(args) => commands::lint::run(&cli.global, args, &out),
        Command::Graph(args) => commands::graph::run(&cli.global, args, &out),
        Command::Plan(args) => commands::plan::run(&cli.global, args, &out),
        Command::Apply(args) => commands::apply::run_apply(&cli.global, args, &out),
        Command::Destroy(args) => commands::apply::run_destroy(&cli.global, args, &out),
        Command::Import(args) => commands::import::run(&cli.global, args, &out),
        Command::Show(args) => commands::show::run(args, &out),
        Command::Output(args) => commands::outputs::run(&cli.global, args, &out),
        Command::State(cmd) => commands::state::run(&cli.global, cmd, &out),
        Command::Completions(args) => commands::info::completions(args),
        Command::Version => commands::info::version(),
        Command::ForceUnlock(args) => commands::unlock::run(&cli.global, args, &out),
        Command::Sim(args) => commands::sim::run(args),
        Command::Schema => {
            output::data_line(&moat_spec::schema::spec_schema_text_with(
                &moat_model::schema_facts(),
            ))?;
            Ok(Status::Ok)
        }
    }
}

/// The async runtime of the commands that talk to ARM.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()?)
}
