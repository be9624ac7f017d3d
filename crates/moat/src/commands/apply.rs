//! `moat apply` and `moat destroy`: lock the stack, finish any interrupted apply, plan (or load
//! a saved plan and prove it is still current), confirm, execute with progress, report.

use crate::Status;
use crate::cli::{ApplyArgs, DestroyArgs, Global, RunArgs, VarArgs};
use crate::load::spec_path;
use crate::output::Output;
use crate::pipeline::{
    Checked, Session, check, groups_are_ours, make_plan, read_state, report_unreadable,
};
use crate::progress::Reporter;
use crate::remote::{backend, connect, forget_exit_release, release_on_exit, watch_interrupts};
use anyhow::{Context as _, bail};
use moat_arm::Arm as _;
use moat_engine::apply::{ApplyOptions, ResourceOutcome, StateStore, apply, resume_journal};
use moat_engine::plan::{Action, Plan};
use moat_engine::render;
use moat_engine::state::{LockGuard, LockInfo, StateBackend, StateError};
use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// `moat apply`.
pub fn run_apply(g: &Global, args: &ApplyArgs, out: &Output) -> anyhow::Result<Status> {
    let path = spec_path(args.spec.as_deref());
    // A saved plan is JSON with a format version; anything else is a spec.
    let saved: Option<Plan> = std::fs::read(&path)
        .ok()
        .filter(|b| b.first() == Some(&b'{'))
        .map(|b| {
            serde_json::from_slice::<Plan>(&b)
                .with_context(|| format!("`{}` is not a moat plan", path.display()))
        })
        .transpose()?;
    match saved {
        Some(plan) => {
            let spec = plan
                .spec_path
                .clone()
                .context("the saved plan does not name its spec")?;
            run(
                g,
                Path::new(&spec),
                &args.vars,
                &args.run,
                out,
                false,
                Some(plan),
            )
        }
        None => run(g, &path, &args.vars, &args.run, out, false, None),
    }
}

/// `moat destroy`.
pub fn run_destroy(g: &Global, args: &DestroyArgs, out: &Output) -> anyhow::Result<Status> {
    let path = spec_path(args.spec.as_deref());
    run(g, &path, &args.vars, &args.run, out, true, None)
}

fn run(
    g: &Global,
    path: &Path,
    vars: &VarArgs,
    run: &RunArgs,
    out: &Output,
    destroy: bool,
    saved: Option<Plan>,
) -> anyhow::Result<Status> {
    if run.json && !run.auto_approve {
        bail!(
            "`--json` needs `--auto-approve`: the plan goes out as event lines, with no one to confirm it"
        );
    }
    let Some(c) = check(g, path, vars, out)? else {
        return Ok(Status::Failed);
    };
    crate::runtime()?.block_on(async {
        // The lock comes before the connection: with `--local` the embedded emulator reads
        // its cloud when it starts, and a run that waited for the lock must see what the
        // run before it created.
        moat_arm::install_crypto_provider();
        let backend = backend(g, &c.model, &c.state_dir)?;
        let op = if destroy { "destroy" } else { "apply" };
        let guard = lock(backend.as_ref(), &c, run, out, op).await?;
        // From here every exit releases the lock: errors below return to this function, which
        // releases before returning; Ctrl-C, SIGTERM and panics go through the exit release.
        release_on_exit(&guard);
        let cancel = tokio_util::sync::CancellationToken::new();
        let writing = Arc::new(AtomicBool::new(false));
        let watcher = watch_interrupts(cancel.clone(), writing.clone());
        let result = match connect(g, &c.state_dir).await {
            Ok(remote) => {
                let s = Session { remote, backend };
                let interrupts = Interrupts { cancel, writing };
                let result = locked(&s, &guard, &c, run, out, destroy, saved, &interrupts).await;
                s.remote.close().await;
                result
            }
            Err(e) => Err(e),
        };
        watcher.abort();
        let released = guard.release().await;
        forget_exit_release();
        match (result, released) {
            (Ok(status), Ok(())) => Ok(status),
            (Ok(_), Err(e)) => Err(anyhow::Error::new(e).context(format!(
                "cannot release the lock on stack `{}`",
                c.model.stack.value
            ))),
            // The run's own error is the one to show; the lease runs out by itself.
            (Err(e), _) => Err(e),
        }
    })
}

/// What the interrupt watcher and the walker share.
struct Interrupts {
    cancel: tokio_util::sync::CancellationToken,
    writing: Arc<AtomicBool>,
}

/// The run under the lock; the caller releases it however this returns.
#[allow(clippy::too_many_arguments)]
async fn locked(
    s: &Session,
    guard: &LockGuard,
    c: &Checked,
    run: &RunArgs,
    out: &Output,
    destroy: bool,
    saved: Option<Plan>,
    interrupts: &Interrupts,
) -> anyhow::Result<Status> {
    let op = if destroy { "destroy" } else { "apply" };
    if let Some(prev) = guard.previous() {
        // Lock records are written by other processes (a shared blob): escaped like user text.
        let prev = moat_spec::diag::escape_text(&prev.to_string());
        out.status(&format!(
            "note: the last run ({prev}) did not finish; picking up where it stopped"
        ));
    }
    let record = read_state(s.backend.as_ref(), &c.model.stack.value).await?;
    let store = Arc::new(StateStore::new(s.backend.clone(), record));
    let moved_to = s.remote.sim.as_ref().map(moat_sim::SimHandle::url);
    for (key, note) in resume_journal(s.remote.client.as_ref(), &store, moved_to.as_deref()).await?
    {
        out.status(&format!("{key}: {note}"));
    }
    let record = store.snapshot().await;
    let plan = match saved {
        Some(plan) => {
            if let Err(why) = still_current(&plan, c, &record, s).await {
                bail!("the saved plan is stale: {why}; run `moat plan` again");
            }
            plan
        }
        None => match make_plan(s, c, &record, destroy).await? {
            Some((p, _)) => p,
            None => return Ok(Status::Failed),
        },
    };
    // Checked before `--target` narrows the plan, so that no selection makes an unread
    // resource look harmless; a saved plan is checked too (an older moat saved such plans).
    if plan.is_incomplete() {
        if !out.quiet {
            // Everything that could be read is shown before the refusal.
            crate::output::data(&render::text(
                &plan,
                render::TextOptions {
                    color: out.color_stdout(),
                    show_unchanged: false,
                },
            ))?;
        }
        report_unreadable(c, &plan, "nothing was changed");
        return Ok(Status::Failed);
    }
    let plan = select(plan, c, run, destroy)?;
    if !groups_are_ours(s, c, &plan).await? {
        return Ok(Status::Failed);
    }
    let mut events = run.json.then(crate::progress::EventWriter::new);
    if let Some(e) = &events {
        e.planned(&plan);
    } else if !out.quiet {
        crate::output::data(&render::text(
            &plan,
            render::TextOptions {
                color: out.color_stdout(),
                show_unchanged: false,
            },
        ))?;
    }
    let writes = plan.resources.iter().filter(|r| r.action.writes()).count();
    let records = plan
        .resources
        .iter()
        .any(|r| (r.action == Action::NoOp && r.applied.is_some()) || r.action == Action::Move);
    if writes == 0 && !records {
        if let Some(e) = &events {
            e.run_ended(op, "no_changes");
        }
        return Ok(Status::Ok);
    }
    if writes > 0 && !run.auto_approve && !confirm(op)? {
        out.status("Nothing was changed.");
        return Ok(Status::Ok);
    }
    interrupts.writing.store(true, Ordering::SeqCst);
    let progress = Arc::new(Reporter::new(writes, out, events.take()));
    let heartbeat = progress.start_heartbeat();
    let opts = ApplyOptions {
        parallelism: run.parallelism,
        cancel: interrupts.cancel.clone(),
    };
    let report = apply(
        &plan,
        s.remote.client.clone(),
        store.clone(),
        progress.clone(),
        &opts,
    )
    .await;
    drop(heartbeat);
    // Summary.
    let mut failed = Vec::new();
    let mut skipped = Vec::new();
    let mut lines = Vec::new();
    for (key, action, outcome) in &report.outcomes {
        match outcome {
            ResourceOutcome::Done { elapsed } if action.writes() => lines.push(format!(
                "  {:>3} {key:<28} {:>7.1}s",
                action.symbol(),
                elapsed.as_secs_f64()
            )),
            ResourceOutcome::Failed(e) => failed.push((key.clone(), e.clone())),
            ResourceOutcome::Skipped(b) => skipped.push((key.clone(), b.clone())),
            _ => {}
        }
    }
    if !lines.is_empty() && !out.quiet {
        eprintln!("\nDurations:\n{}", lines.join("\n"));
    }
    for (key, e) in &failed {
        let e = moat_spec::diag::escape_text(&e.to_string());
        eprintln!("error: `{key}` failed: {e}{}", c.locate(key));
    }
    if !skipped.is_empty() {
        let list: Vec<String> = skipped
            .iter()
            .map(|(k, b)| format!("{k} (needs {b})"))
            .collect();
        eprintln!("skipped because of the failures above: {}", list.join(", "));
    }
    let done = report
        .outcomes
        .iter()
        .filter(|(_, a, o)| a.writes() && matches!(o, ResourceOutcome::Done { .. }))
        .count();
    let verb = if destroy { "destroyed" } else { "applied" };
    if let Some(e) = progress.json() {
        e.run_summary(op, &report, writes);
    }
    if report.is_success() && writes == 0 {
        // Only the state record was brought up to date; the plan already said "No changes".
        Ok(Status::Ok)
    } else if report.is_success() {
        out.status(&format!(
            "Apply complete: {done} change(s) {verb} in {:.1}s.",
            report.elapsed.as_secs_f64()
        ));
        Ok(Status::Ok)
    } else if report.cancelled {
        out.status(&format!(
            "Interrupted after {done} change(s); run `moat {op}` again to finish."
        ));
        Ok(Status::Failed)
    } else {
        out.status(&format!("Apply failed: {done} change(s) {verb}, {} failed, {} skipped; what succeeded is recorded.", failed.len(), skipped.len()));
        Ok(Status::Failed)
    }
}

/// Takes the stack's lock; when another run holds it, says who and waits up to
/// `--lock-timeout`, so a waiting CI job does not look hung.
async fn lock(
    backend: &dyn StateBackend,
    c: &Checked,
    run: &RunArgs,
    out: &Output,
    op: &str,
) -> anyhow::Result<LockGuard> {
    let stack = &c.model.stack.value;
    let info = LockInfo::new(op);
    let first = backend.lock(info.clone(), Duration::ZERO).await;
    let result = match first {
        Err(StateError::Locked {
            holder,
            stale,
            expires_in,
            ..
        }) if !run.lock_timeout.is_zero() => {
            let who = holder.as_ref().map_or_else(
                || "an unknown holder".to_string(),
                |h| moat_spec::diag::escape_text(&h.to_string()),
            );
            // A holder that is gone is said so, with when its lease frees the stack.
            let gone = match holder.as_deref() {
                Some(h) if stale => {
                    let mut note = format!(
                        " — held by pid {} on this host, which is no longer running",
                        h.pid
                    );
                    if let Some(left) = expires_in {
                        note.push_str(&format!("; the lease expires in {} s", left.as_secs()));
                    }
                    note
                }
                _ => String::new(),
            };
            out.status(&format!(
                "Waiting up to {}s for the lock on stack `{stack}`, held by {who}{gone}…",
                run.lock_timeout.as_secs()
            ));
            backend.lock(info, run.lock_timeout).await
        }
        other => other,
    };
    result.with_context(|| format!("cannot lock stack `{stack}`"))
}

fn confirm(op: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!(
            "refusing to {op} without confirmation: there is no terminal to ask; pass `--auto-approve`"
        );
    }
    eprint!("Do you want to {op} these changes? Only `yes` is accepted: ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim() == "yes")
}

/// Restricts a plan to `--target`/`--exclude`.
fn select(mut plan: Plan, c: &Checked, run: &RunArgs, destroy: bool) -> anyhow::Result<Plan> {
    if run.targets.is_empty() && run.excludes.is_empty() {
        return Ok(plan);
    }
    let mut graph = moat_graph::Graph::new();
    for r in &plan.resources {
        let _ = graph.add_node(r.key.clone(), ());
    }
    // In the model's direction: a delete's `depends_on` lists what must be deleted *before*
    // it (its dependents), so its edges are turned around.
    for r in &plan.resources {
        for d in &r.depends_on {
            if graph.contains(d) {
                let _ = if r.action == Action::Delete {
                    graph.add_edge(d, &r.key)
                } else {
                    graph.add_edge(&r.key, d)
                };
            }
        }
    }
    let t: Vec<&str> = run.targets.iter().map(String::as_str).collect();
    let x: Vec<&str> = run.excludes.iter().map(String::as_str).collect();
    let keep = if destroy {
        graph.select_for_destroy(&t, &x)
    } else {
        graph.select_for_apply(&t, &x)
    }
    .map_err(|e| {
        anyhow::anyhow!(
            "{e} (keys of {} are: {})",
            c.path.display(),
            plan.resources
                .iter()
                .map(|r| r.key.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    plan.resources.retain(|r| keep.contains(&r.key));
    plan.summary = Plan::summarize(&plan.resources);
    plan.unreadable = Plan::unreadable_of(&plan.resources);
    Ok(plan)
}

/// A saved plan applies only to the spec, state and live resources it was computed from.
async fn still_current(
    plan: &Plan,
    c: &Checked,
    record: &moat_engine::state::StateRecord,
    s: &Session,
) -> Result<(), String> {
    if plan.spec_hash != c.spec_hash {
        return Err(format!(
            "{} (or its variables) changed since the plan was made",
            c.path.display()
        ));
    }
    if plan.state_serial != record.serial
        || (record.serial > 0 && plan.state_lineage != record.lineage)
    {
        return Err(format!(
            "the state changed since the plan was made (serial {} → {})",
            plan.state_serial, record.serial
        ));
    }
    for r in plan
        .resources
        .iter()
        // Kinds read inside their parent's body (subnets) are checked through the parent.
        .filter(|r| r.action.writes() && !r.kind.def().read_in_parent)
    {
        let live = s
            .remote
            .client
            .get(&r.id, &r.api_version)
            .await
            .map_err(|e| format!("cannot re-read `{}`: {e}", r.key))?;
        let etag = live
            .as_ref()
            .and_then(|b| b.get("etag"))
            .and_then(|e| e.as_str())
            .map(str::to_string);
        let exists_now = live.is_some();
        // A replacement under a new ID may find the new ID either way (absent, or left by
        // an interrupted apply); its old ID is what it replaces.
        let existed = match r.action {
            Action::Create => false,
            Action::Replace if r.replaces.is_some() => exists_now,
            _ => true,
        };
        if exists_now != existed || (r.live_etag.is_some() && etag != r.live_etag) {
            return Err(format!(
                "`{}` changed in Azure since the plan was made",
                r.key
            ));
        }
    }
    Ok(())
}
