//! `moat state list|show|forget`: look at the stack's state record, and stop managing a
//! resource without deleting it (the record forgets it; Azure keeps it).

use crate::Status;
use crate::cli::{ForgetArgs, Global, SpecOpt, StateCommand, StateKeyArgs};
use crate::load::spec_path;
use crate::output::{Output, data, data_line};
use crate::pipeline::{Checked, check, read_state};
use crate::remote::backend;
use anyhow::{Context as _, bail};
use moat_engine::state::{LockInfo, StateRecord};
use std::io::{BufRead, IsTerminal, Write};

/// Runs one `moat state` command.
pub fn run(g: &Global, cmd: &StateCommand, out: &Output) -> anyhow::Result<Status> {
    match cmd {
        StateCommand::List(spec) => list(g, spec, out),
        StateCommand::Show(args) => show(g, args, out),
        StateCommand::Forget(args) => forget(g, args, out),
    }
}

/// Checks the spec (it names the stack and the backend) and reads the record; `None` when
/// the spec has errors (already printed).
pub fn read_record(
    g: &Global,
    spec: &SpecOpt,
    out: &Output,
) -> anyhow::Result<Option<(Checked, StateRecord)>> {
    let path = spec_path(spec.spec.as_deref());
    let Some(c) = check(g, &path, &spec.vars, out)? else {
        return Ok(None);
    };
    moat_arm::install_crypto_provider();
    let b = backend(g, &c.model, &c.state_dir)?;
    let record = crate::runtime()?.block_on(read_state(b.as_ref(), &c.model.stack.value))?;
    Ok(Some((c, record)))
}

fn list(g: &Global, spec: &SpecOpt, out: &Output) -> anyhow::Result<Status> {
    let Some((c, record)) = read_record(g, spec, out)? else {
        return Ok(Status::Failed);
    };
    if record.resources.is_empty() {
        out.status(&format!(
            "Stack `{}` manages nothing yet.",
            c.model.stack.value
        ));
        return Ok(Status::Ok);
    }
    let width = record.resources.keys().map(String::len).max().unwrap_or(0);
    let mut text = String::new();
    for (key, r) in &record.resources {
        text.push_str(&format!("{key:<width$}  {:<22}  {}\n", r.kind, r.id));
    }
    data(&text)?;
    Ok(Status::Ok)
}

fn show(g: &Global, args: &StateKeyArgs, out: &Output) -> anyhow::Result<Status> {
    let Some((_c, record)) = read_record(g, &args.spec, out)? else {
        return Ok(Status::Failed);
    };
    let Some(r) = record.resources.get(&args.key) else {
        bail!("{}", not_managed(&args.key, &record));
    };
    data_line(&serde_json::to_string_pretty(r)?)?;
    Ok(Status::Ok)
}

fn not_managed(key: &str, record: &StateRecord) -> String {
    let keys: Vec<&str> = record.resources.keys().map(String::as_str).collect();
    if keys.is_empty() {
        format!(
            "`{key}` is not in the state of stack `{}`: it manages nothing yet",
            record.stack
        )
    } else {
        format!(
            "`{key}` is not in the state of stack `{}` (it has: {})",
            record.stack,
            keys.join(", ")
        )
    }
}

fn forget(g: &Global, args: &ForgetArgs, out: &Output) -> anyhow::Result<Status> {
    let path = spec_path(args.spec.spec.as_deref());
    let Some(c) = check(g, &path, &args.spec.vars, out)? else {
        return Ok(Status::Failed);
    };
    moat_arm::install_crypto_provider();
    let b = backend(g, &c.model, &c.state_dir)?;
    let stack = c.model.stack.value.clone();
    crate::runtime()?.block_on(async {
        let guard = b
            .lock(LockInfo::new("state forget"), args.lock_timeout)
            .await
            .with_context(|| format!("cannot lock stack `{stack}`"))?;
        let result = async {
            let mut record = read_state(b.as_ref(), &stack).await?;
            // A VNet's subnets are part of it: forgetting the VNet forgets them too.
            let prefix = format!("{}/", args.key);
            let keys: Vec<String> = record
                .resources
                .keys()
                .filter(|k| **k == args.key || k.starts_with(&prefix))
                .cloned()
                .collect();
            if keys.is_empty() {
                bail!("{}", not_managed(&args.key, &record));
            }
            if let Some(j) = record.journal.iter().find(|j| keys.contains(&j.key)) {
                bail!(
                    "`{}` has a write in flight from an interrupted run; run `moat apply` to finish it first",
                    j.key
                );
            }
            out.status(&format!(
                "moat will stop managing {} (the resources stay in Azure):",
                keys.join(", ")
            ));
            for k in &keys {
                out.status(&format!("  {k}  {}", record.resources[k].id));
            }
            if !args.yes && !confirm()? {
                out.status("Nothing was changed.");
                return Ok(Status::Ok);
            }
            for k in &keys {
                record.resources.remove(k);
            }
            record.serial += 1;
            b.write(&record)
                .await
                .with_context(|| format!("cannot write the state of stack `{stack}`"))?;
            out.status(&format!(
                "Forgot {} resource(s). Remove {} from {} too, or the next apply adopts it again.",
                keys.len(),
                args.key,
                c.path.display()
            ));
            Ok(Status::Ok)
        }
        .await;
        guard.release().await.ok();
        result
    })
}

fn confirm() -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("refusing to forget without confirmation: there is no terminal to ask; pass `--yes`");
    }
    eprint!("Forget them? Only `yes` is accepted: ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}
