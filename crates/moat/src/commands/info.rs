//! `moat version` and `moat completions`: what this moat is and speaks, and the shell
//! completion scripts generated from the same argument definitions the binary parses.

use crate::Status;
use crate::cli::{Cli, CompletionsArgs};
use crate::output::data;
use clap::CommandFactory as _;

/// `moat version`: the version, then each kind with the ARM type and api-version it is
/// read and written with (what an operator checks against a policy of allowed versions).
pub fn version() -> anyhow::Result<Status> {
    let mut text = format!("moat {}\n\nARM api-versions:\n", env!("CARGO_PKG_VERSION"));
    let kinds: Vec<moat_model::Kind> = moat_model::Kind::all().collect();
    let width = kinds.iter().map(|k| k.word().len()).max().unwrap_or(0);
    for k in kinds {
        text.push_str(&format!(
            "  {:<width$}  {}  {}\n",
            k.word(),
            k.api_version(),
            k.arm_type()
        ));
    }
    data(&text)?;
    Ok(Status::Ok)
}

/// `moat completions SHELL`.
pub fn completions(args: &CompletionsArgs) -> anyhow::Result<Status> {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "moat", &mut buf);
    data(&String::from_utf8_lossy(&buf))?;
    Ok(Status::Ok)
}
