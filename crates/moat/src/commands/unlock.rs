//! `moat force-unlock [SPEC] [LOCK_ID]`: break a stack's lock left by a run that cannot
//! release it — but never the lock of a run that is provably alive (its process runs on this
//! host, or it is still renewing its blob lease) unless `--force`, never a holding other than
//! LOCK_ID, and never without a confirmation (a terminal prompt, or `--yes`/`--force`).

use crate::Status;
use crate::cli::{Global, UnlockArgs};
use crate::load::spec_path;
use crate::output::Output;
use crate::pipeline::check;
use crate::remote::backend;
use anyhow::bail;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

/// Runs the command.
pub fn run(g: &Global, args: &UnlockArgs, out: &Output) -> anyhow::Result<Status> {
    let (spec, lock_id) = split_args(args.spec.as_deref(), args.lock_id.as_deref());
    let path = spec_path(spec.as_deref());
    let Some(c) = check(g, &path, &args.vars, out)? else {
        return Ok(Status::Failed);
    };
    moat_arm::install_crypto_provider();
    let b = backend(g, &c.model, &c.state_dir)?;
    let stack = &c.model.stack.value;
    crate::runtime()?.block_on(async {
        let Some(holder) = b.status().await? else {
            out.status(&format!(
                "Stack `{stack}` was not locked ({}).",
                b.describe()
            ));
            return Ok(Status::Ok);
        };
        let info = &holder.info;
        if let Some(id) = &lock_id
            && !info.id.is_empty()
            && *id != info.id
        {
            bail!(
                "the lock on stack `{stack}` is held by {info}, not by lock id {id}; nothing was broken"
            );
        }
        if let Some(why) = holder.alive()
            && !args.force
        {
            bail!(
                "refusing to break the lock on stack `{stack}` held by {info}: {why}; \
                 wait for it, or pass `--force` if you are sure it is stuck"
            );
        }
        if let Some(gone) = holder.gone() {
            out.status(&format!("The lock on stack `{stack}` is {gone}."));
        }
        if !args.yes && !confirm(stack, info, args.force)? {
            out.status("Nothing was changed.");
            return Ok(Status::Ok);
        }
        let broken = match (&lock_id, info.id.is_empty()) {
            (Some(id), false) => b.force_unlock_id(id).await?,
            _ if !info.id.is_empty() => b.force_unlock_id(&info.id).await?,
            _ => b.force_unlock().await?,
        };
        match broken {
            Some(h) => out.status(&format!(
                "Broke the lock on stack `{stack}` held by {h} ({}).",
                b.describe()
            )),
            None => out.status(&format!(
                "Stack `{stack}` was not locked ({}).",
                b.describe()
            )),
        }
        Ok(Status::Ok)
    })
}

/// `force-unlock X`: X is the lock ID when it is no file and looks like one (a UUID), so both
/// `moat force-unlock SPEC` (DESIGN.md) and `moat force-unlock LOCK_ID` work.
fn split_args(spec: Option<&Path>, lock_id: Option<&str>) -> (Option<PathBuf>, Option<String>) {
    match (spec, lock_id) {
        (Some(one), None) if !one.exists() && one.to_str().is_some_and(looks_like_lock_id) => {
            (None, one.to_str().map(str::to_owned))
        }
        (s, l) => (s.map(Path::to_path_buf), l.map(str::to_owned)),
    }
}

/// A UUID in its hyphenated form, as moat's lock ids are.
fn looks_like_lock_id(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Asks on the terminal; without one, refuses unless `--force` (which says the user decided).
fn confirm(stack: &str, info: &moat_engine::state::LockInfo, force: bool) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        if force {
            return Ok(true);
        }
        bail!(
            "refusing to break the lock on stack `{stack}` without confirmation: there is no terminal to ask; pass `--yes`"
        );
    }
    eprint!("Break the lock on stack `{stack}` held by {info}? Only `yes` is accepted: ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_lock_id_is_the_lock_id_and_a_spec_stays_a_spec() {
        let id = "5f0c6a8e-3b1d-4c39-9f7e-0a1b2c3d4e5f";
        assert_eq!(
            split_args(Some(Path::new(id)), None),
            (None, Some(id.to_owned()))
        );
        assert_eq!(
            split_args(Some(Path::new("infra/prod.yaml")), None),
            (Some(PathBuf::from("infra/prod.yaml")), None)
        );
        assert_eq!(
            split_args(Some(Path::new("a.yaml")), Some(id)),
            (Some(PathBuf::from("a.yaml")), Some(id.to_owned()))
        );
        assert_eq!(split_args(None, None), (None, None));
    }
}
