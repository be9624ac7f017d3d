//! `moat sim`: the local ARM emulator as a server, until Ctrl-C or SIGTERM.

use crate::Status;
use crate::cli::SimArgs;
use anyhow::bail;

/// Runs the command.
pub fn run(args: &SimArgs) -> anyhow::Result<Status> {
    if !args.listen.ip().is_loopback() {
        bail!(
            "the emulator listens on loopback addresses only (127.0.0.1, ::1), not {}",
            args.listen.ip()
        );
    }
    let faults = match &args.faults {
        Some(f) => moat_sim::load_faults(f)?,
        None => moat_sim::FaultPlan::default(),
    };
    let config = moat_sim::SimConfig {
        time_scale: args.time_scale,
        state_file: args.state.clone(),
        record_dir: args.record.clone(),
        faults,
        seed: args.seed,
        replication_secs: args.replication_delay,
        ..moat_sim::SimConfig::default()
    };
    crate::runtime()?.block_on(moat_sim::serve(moat_sim::ServeOptions {
        listen: args.listen,
        config,
    }))?;
    Ok(Status::Ok)
}
