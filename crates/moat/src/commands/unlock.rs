//! `moat force-unlock SPEC`: break a stack's lock left by a run that cannot release it.

use crate::Status;
use crate::cli::{Global, SpecArg};
use crate::load::spec_path;
use crate::output::Output;
use crate::pipeline::check;
use crate::remote::backend;

/// Runs the command.
pub fn run(g: &Global, args: &SpecArg, out: &Output) -> anyhow::Result<Status> {
    let path = spec_path(args.spec.as_deref());
    let Some(c) = check(g, &path, &args.vars, out)? else {
        return Ok(Status::Failed);
    };
    moat_arm::install_crypto_provider();
    let b = backend(g, &c.model, &c.state_dir)?;
    crate::runtime()?.block_on(async {
        match b.force_unlock().await? {
            Some(holder) => out.status(&format!(
                "Broke the lock on stack `{}` held by {holder} ({}).",
                c.model.stack.value,
                b.describe()
            )),
            None => out.status(&format!(
                "Stack `{}` was not locked ({}).",
                c.model.stack.value,
                b.describe()
            )),
        }
        Ok(Status::Ok)
    })
}
