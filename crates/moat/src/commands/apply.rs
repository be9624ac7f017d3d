//! `moat apply` and `moat destroy`: lock the stack, finish any interrupted apply, plan (or load
//! a saved plan and prove it is still current), confirm, execute with progress, report.

use crate::Status;
use crate::cli::{ApplyArgs, DestroyArgs, Global, RunArgs, Select, VarArgs};
use crate::load::spec_path;
use crate::output::Output;
use crate::pipeline::{
    Checked, Session, check, check_keys, check_replace_keys, groups_are_ours, make_plan,
    read_state, report_unreadable, spec_hash,
};
use crate::progress::Reporter;
use crate::remote::{backend, connect, forget_exit_release, release_on_exit, watch_interrupts};
use anyhow::{Context as _, bail};
use moat_engine::apply::{ApplyOptions, ResourceOutcome, StateStore, apply, resume_journal};
use moat_engine::diff::DestroyScope;
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
            if !args.run.select.is_empty() || !args.replace.is_empty() {
                bail!(
                    "a saved plan is applied as it was made: give `--target`/`--exclude`/`--replace` to `moat plan --out`"
                );
            }
            let spec = saved_spec(&path, &plan)?;
            // The text first: the variables the plan recorded may not fit an edited spec.
            if spec_hash(&spec)? != plan.spec_hash {
                bail!(
                    "the saved plan is stale: {} changed since the plan was made; run `moat plan` again",
                    spec.display()
                );
            }
            let vars = saved_vars(&plan, &args.vars)?;
            let destroy = plan.destroy;
            run(g, &spec, &vars, &args.run, &[], out, destroy, Some(plan))
        }
        None => run(
            g,
            &path,
            &args.vars,
            &args.run,
            &args.replace,
            out,
            false,
            None,
        ),
    }
}

/// The spec a saved plan was made from: `spec_file` relative to the plan file's directory;
/// else (the plan file was moved) `spec_repo_file` under the working directory's git
/// repository; else (an older moat) `spec_path`, relative to where the plan was made. The
/// first that exists is taken; the stale check then compares its text with the plan's.
fn saved_spec(planfile: &Path, plan: &Plan) -> anyhow::Result<std::path::PathBuf> {
    let mut candidates = Vec::new();
    if let Some(rel) = &plan.spec_file {
        let dir = planfile.parent().unwrap_or(Path::new(""));
        let dir = if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        };
        candidates.push(dir.join(rel));
    }
    if let Some(rel) = &plan.spec_repo_file
        && let Ok(cwd) = std::env::current_dir()
        && let Some(root) = crate::commands::plan::repo_root(&cwd)
    {
        candidates.push(root.join(rel));
    }
    if let Some(p) = &plan.spec_path {
        candidates.push(std::path::PathBuf::from(p));
    }
    match candidates.iter().find(|p| p.is_file()) {
        Some(p) => Ok(p.clone()),
        None if candidates.is_empty() => bail!("the saved plan does not name its spec"),
        None => bail!(
            "cannot find the spec of the saved plan; looked for {}",
            candidates
                .iter()
                .map(|p| format!("`{}`", p.display()))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// The variables to load a saved plan's spec with: the plan's own, then any given on the
/// command line (the stale check refuses one that disagrees).
fn saved_vars(plan: &Plan, given: &VarArgs) -> anyhow::Result<VarArgs> {
    let given = crate::load::resolve_vars(given)?;
    let mut vars: Vec<(String, String)> = plan
        .variables
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    vars.extend(given.vars);
    Ok(VarArgs {
        vars,
        var_files: Vec::new(),
    })
}

/// `moat destroy`.
pub fn run_destroy(g: &Global, args: &DestroyArgs, out: &Output) -> anyhow::Result<Status> {
    let path = spec_path(args.spec.as_deref());
    run(g, &path, &args.vars, &args.run, &[], out, true, None)
}

#[allow(clippy::too_many_arguments)]
fn run(
    g: &Global,
    path: &Path,
    vars: &VarArgs,
    run: &RunArgs,
    replace: &[String],
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
        let guard = lock(backend.as_ref(), &c, run.lock_timeout, out, op).await?;
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
                let result = locked(
                    &s,
                    &guard,
                    &c,
                    (run, replace),
                    out,
                    destroy,
                    saved,
                    &interrupts,
                )
                .await;
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
    (run, replace): (&RunArgs, &[String]),
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
    let from_saved = saved.is_some();
    let (plan, secrets) = match saved {
        Some(plan) => {
            if let Err(why) = still_current(&plan, c, &record, s).await {
                bail!("the saved plan is stale: {why}; run `moat plan` again");
            }
            let secrets = if plan.destroy {
                moat_model::secret::Secrets::none()
            } else {
                match crate::pipeline::read_secrets(s, c).await? {
                    Some(x) => x,
                    None => return Ok(Status::Failed),
                }
            };
            if let Some(key) = rotated_since(&plan, &secrets) {
                bail!(
                    "the saved plan is stale: a secret of `{key}` changed since the plan was made; run `moat plan` again"
                );
            }
            (plan, secrets)
        }
        None => {
            check_keys(c, &record, &run.select.targets)?;
            check_keys(c, &record, &run.select.excludes)?;
            check_replace_keys(c, replace)?;
            let scope = scope(destroy, &run.select);
            match make_plan(s, c, &record, destroy, &scope, replace).await? {
                Some((p, _, secrets)) => (p, secrets),
                None => return Ok(Status::Failed),
            }
        }
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
    // A destroy plan is narrowed by the planner itself (survivors drop their references);
    // a saved plan was narrowed when it was made.
    let plan = if destroy || from_saved {
        plan
    } else {
        select_apply(plan, c, &run.select)?
    };
    if !crate::pipeline::unprotected(c, &plan) || !groups_are_ours(s, c, &plan).await? {
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
        // Not an error of the spec, but not done either: scripts must not read it as done.
        out.status(if destroy {
            "Destroy cancelled."
        } else {
            "Apply cancelled."
        });
        return Ok(Status::Failed);
    }
    interrupts.writing.store(true, Ordering::SeqCst);
    let progress = Arc::new(Reporter::new(writes, out, events.take()));
    let heartbeat = progress.start_heartbeat();
    let opts = ApplyOptions {
        parallelism: run.parallelism,
        cancel: interrupts.cancel.clone(),
        secrets: Arc::new(secrets),
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
    for (key, failure) in &failed {
        let e = moat_spec::diag::escape_text(&failure.to_string());
        let hint = failure
            .arm()
            .and_then(moat_arm::ArmError::hint)
            .map(|h| format!("\nhint: {h}"))
            .unwrap_or_default();
        eprintln!("error: `{key}` failed: {e}{}{hint}", c.locate(key));
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
pub(crate) async fn lock(
    backend: &dyn StateBackend,
    c: &Checked,
    lock_timeout: Duration,
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
        }) if !lock_timeout.is_zero() => {
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
                lock_timeout.as_secs()
            ));
            backend.lock(info, lock_timeout).await
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

/// The planner's scope of a destroy plan.
pub(crate) fn scope(destroy: bool, select: &Select) -> DestroyScope {
    if destroy {
        DestroyScope {
            targets: select.targets.clone(),
            excludes: select.excludes.clone(),
        }
    } else {
        DestroyScope::default()
    }
}

/// Restricts an apply plan to `--target`/`--exclude`: a target and what it needs, minus
/// each excluded resource and what needs it.
pub(crate) fn select_apply(mut plan: Plan, c: &Checked, select: &Select) -> anyhow::Result<Plan> {
    if select.is_empty() {
        return Ok(plan);
    }
    let mut graph = moat_graph::Graph::new();
    for r in &plan.resources {
        let _ = graph.add_node(r.key.clone(), ());
    }
    // In the model's direction: a delete's `depends_on` lists what must be deleted *before*
    // it (its dependents), so its edges are turned around — except for a `delete_first`
    // delete, which needs what it names gone first (the old self of a replacement using it),
    // as the create that follows it needs it.
    for r in &plan.resources {
        for d in &r.depends_on {
            if graph.contains(d) {
                let _ = if r.action == Action::Delete && !r.delete_first {
                    graph.add_edge(d, &r.key)
                } else {
                    graph.add_edge(&r.key, d)
                };
            }
        }
    }
    let t: Vec<&str> = select.targets.iter().map(String::as_str).collect();
    let x: Vec<&str> = select.excludes.iter().map(String::as_str).collect();
    let keep = graph.select_for_apply(&t, &x).map_err(|e| {
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
    plan.targets = select.targets.clone();
    plan.excludes = select.excludes.clone();
    Ok(plan)
}

/// A saved plan applies only to the spec, state and live resources it was computed from.
/// The key of a resource the saved plan writes whose secret fingerprint (in what it records
/// as applied) is no longer the fingerprint of any secret read now: the value the plan
/// compared is not the one apply would send.
fn rotated_since(plan: &Plan, secrets: &moat_model::secret::Secrets) -> Option<String> {
    let now: std::collections::BTreeSet<&String> = secrets.fingerprints().values().collect();
    plan.resources
        .iter()
        .filter(|r| r.action.writes())
        .find(|r| {
            r.applied.as_ref().is_some_and(|a| {
                a.values().any(|v| {
                    moat_model::secret::is_fingerprint(v)
                        && v.as_str().is_some_and(|f| !now.contains(&f.to_string()))
                })
            })
        })
        .map(|r| r.key.clone())
}

async fn still_current(
    plan: &Plan,
    c: &Checked,
    record: &moat_engine::state::StateRecord,
    s: &Session,
) -> Result<(), String> {
    if plan.spec_hash != c.spec_hash {
        return Err(format!(
            "{} changed since the plan was made",
            c.path.display()
        ));
    }
    // Compared as sorted maps: the order `--var`s are given in is no change.
    if plan.variables != c.variables {
        let names: std::collections::BTreeSet<&String> =
            plan.variables.keys().chain(c.variables.keys()).collect();
        let changed: Vec<String> = names
            .into_iter()
            .filter(|k| plan.variables.get(*k) != c.variables.get(*k))
            .map(|k| format!("`{k}`"))
            .collect();
        return Err(format!(
            "variable(s) {} differ from the plan's",
            changed.join(", ")
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
    // Kinds read inside their parent's body (subnets) are checked through the parent.
    let checked: Vec<&moat_engine::plan::ResourcePlan> = plan
        .resources
        .iter()
        .filter(|r| r.action.writes() && !r.kind.def().read_in_parent)
        .collect();
    // Read again the way the plan read them: one list per group and kind where the registry
    // allows, GETs in parallel for the rest.
    let again: Vec<moat_engine::live::ReadAgain> = checked
        .iter()
        .map(|r| moat_engine::live::ReadAgain {
            key: r.key.clone(),
            id: r.id.clone(),
            kind: r.kind,
            existed: r.action != Action::Create,
        })
        .collect();
    let (now, _) = moat_engine::live::read_ids(s.remote.client.as_ref(), &again, 64).await;
    for r in checked {
        let live = match now.get(&r.key) {
            Some(moat_engine::live::LiveState::Present(b)) => Some(b),
            Some(moat_engine::live::LiveState::Unreadable(e)) => {
                return Err(format!("cannot re-read `{}`: {e}", r.key));
            }
            _ => None,
        };
        let etag = live
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
