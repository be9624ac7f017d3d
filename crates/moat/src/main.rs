//! The `moat` binary: parses arguments, runs one command, prints the error chain once, and
//! maps the outcome to an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = moat::cli::parse();
    match moat::run(cli) {
        Ok(status) => status.into(),
        Err(err) => {
            moat::output::print_error(&err);
            ExitCode::from(1)
        }
    }
}
