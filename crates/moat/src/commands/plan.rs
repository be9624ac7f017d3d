//! `moat plan`: what apply (or, with `--destroy`, destroy) would change, as text, JSON or
//! markdown, narrowed by `--target`/`--exclude`; `--out` saves it for `moat apply PLANFILE`
//! with its variables and its spec's path relative to the plan file; `--detailed-exitcode`
//! for CI. The stack's lock is held while reading, so a plan never sees a half-done apply.

use crate::Status;
use crate::cli::{Global, PlanArgs, PlanFormat};
use crate::commands::apply::{lock, scope, select_apply};
use crate::load::spec_path;
use crate::output::Output;
use crate::pipeline::{
    Checked, Session, check, check_keys, check_replace_keys, groups_are_ours, make_plan,
    read_state, report_unreadable,
};
use crate::remote::{backend, connect, forget_exit_release, release_on_exit};
use anyhow::Context as _;
use moat_engine::plan::Plan;
use moat_engine::render;
use std::path::{Component, Path, PathBuf};

/// Runs the command.
pub fn run(g: &Global, args: &PlanArgs, out: &Output) -> anyhow::Result<Status> {
    let path = spec_path(args.spec.as_deref());
    let Some(c) = check(g, &path, &args.vars, out)? else {
        return Ok(Status::Failed);
    };
    crate::runtime()?.block_on(async {
        moat_arm::install_crypto_provider();
        let backend = backend(g, &c.model, &c.state_dir)?;
        // Before the connection, as apply does: the embedded emulator reads its cloud when
        // it starts, and a plan that waited must see what the run before it did.
        let guard = if args.lock {
            let guard = lock(backend.as_ref(), &c, args.lock_timeout, out, "plan").await?;
            release_on_exit(&guard);
            Some(guard)
        } else {
            None
        };
        let result = match connect(g, &c.state_dir).await {
            Ok(remote) => {
                let s = Session { remote, backend };
                let result = planned(&s, &c, args, out).await;
                s.remote.close().await;
                result
            }
            Err(e) => Err(e),
        };
        if let Some(guard) = guard {
            let released = guard.release().await;
            forget_exit_release();
            if let (Ok(_), Err(e)) = (&result, released) {
                return Err(anyhow::Error::new(e).context(format!(
                    "cannot release the lock on stack `{}`",
                    c.model.stack.value
                )));
            }
        }
        result
    })
}

/// Plans, shows and saves, under the lock (when taken).
async fn planned(
    s: &Session,
    c: &Checked,
    args: &PlanArgs,
    out: &Output,
) -> anyhow::Result<Status> {
    let record = read_state(s.backend.as_ref(), &c.model.stack.value).await?;
    check_keys(c, &record, &args.select.targets)?;
    check_keys(c, &record, &args.select.excludes)?;
    check_replace_keys(c, &args.replace)?;
    let scope = scope(args.destroy, &args.select);
    let Some((plan, _live, _secrets)) =
        make_plan(s, c, &record, args.destroy, &scope, &args.replace).await?
    else {
        return Ok(Status::Failed);
    };
    // An unreadable resource fails the plan whatever the selection (reported below).
    let mut plan = if args.destroy || plan.is_incomplete() {
        plan
    } else {
        select_apply(plan, c, &args.select)?
    };
    // Protection is judged on the plan as narrowed: a protected resource outside the
    // selection does not block it.
    if !crate::pipeline::unprotected(c, &plan) || !groups_are_ours(s, c, &plan).await? {
        return Ok(Status::Failed);
    }
    if out.verbose > 0 {
        eprintln!(
            "read {} resources with {} ARM requests",
            c.model.resources.len(),
            s.remote.client.stats().requests_sent
        );
    }
    if let Some(file) = &args.out {
        plan.spec_file = Some(relative_spec(&c.path, file)?);
        plan.spec_repo_file = repo_relative(&c.path);
    }
    show(&plan, c, args, out)?;
    // Everything that could be read has been shown; an unreadable resource fails the run
    // (and `--detailed-exitcode` must not say 0 or 2 about what nobody could see).
    if report_unreadable(
        c,
        &plan,
        "nothing can be applied until every resource reads",
    ) {
        if let Some(file) = &args.out {
            eprintln!("the plan was not saved to {}", file.display());
        }
        return Ok(Status::Failed);
    }
    if let Some(file) = &args.out {
        std::fs::write(file, render::json(&plan))
            .with_context(|| format!("cannot write plan to `{}`", file.display()))?;
        out.status(&format!(
            "Saved the plan to {}; apply it with `moat apply {}`.",
            file.display(),
            file.display()
        ));
    }
    Ok(if args.detailed_exitcode && !plan.is_empty() {
        Status::Changes
    } else {
        Status::Ok
    })
}

fn show(plan: &Plan, c: &Checked, args: &PlanArgs, out: &Output) -> anyhow::Result<()> {
    let text = match args.format {
        _ if args.json => {
            let events = crate::progress::EventWriter::new();
            events.planned(plan);
            events.plan_summary("plan", plan);
            String::new()
        }
        PlanFormat::Text => render::text(
            plan,
            render::TextOptions {
                color: out.color_stdout(),
                show_unchanged: args.show_unchanged,
            },
        ),
        PlanFormat::Json => render::json(plan),
        PlanFormat::Markdown => {
            let findings = findings(c);
            let plan_file = args.out.as_ref().map(|f| f.display().to_string());
            render::markdown_with(
                plan,
                &render::MarkdownOptions {
                    findings: &findings,
                    full_plan_url: args.plan_url.as_deref(),
                    plan_file: plan_file.as_deref(),
                    ..Default::default()
                },
            )
        }
    };
    if !text.is_empty() {
        crate::output::data_line(&text)?;
    }
    Ok(())
}

/// The spec's warnings and notes (lint findings among them) for the markdown plan, each with
/// the key of the innermost resource it is in.
fn findings(c: &Checked) -> Vec<render::Finding> {
    let file = &c.loaded.file;
    c.loaded
        .diags
        .iter()
        .filter(|d| !d.is_error())
        .map(|d| {
            let at = d.primary.span.start;
            let key = c
                .model
                .resources
                .iter()
                .filter(|r| r.span.start <= at && at < r.span.end.max(r.span.start + 1))
                .min_by_key(|r| r.span.end - r.span.start)
                .map(|r| r.key.clone());
            let lc = file.line_col(at);
            render::Finding {
                key,
                code: d.code.clone(),
                severity: d.severity.as_str().to_string(),
                message: d.message.clone(),
                location: Some(format!("{}:{}:{}", file.name(), lc.line, lc.col)),
                hint: d.hint.clone(),
            }
        })
        .collect()
}

/// The spec's path relative to the directory the plan file is written to, so that `moat
/// apply PLANFILE` finds it from anywhere (the CI artifact keeps the checkout's layout).
fn relative_spec(spec: &Path, planfile: &Path) -> anyhow::Result<String> {
    let spec = std::fs::canonicalize(spec)
        .with_context(|| format!("cannot resolve `{}`", spec.display()))?;
    let dir = match planfile.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir = std::fs::canonicalize(&dir)
        .with_context(|| format!("cannot write a plan into `{}`", dir.display()))?;
    let rel = relative(&dir, &spec);
    rel.to_str()
        .map(|s| s.replace('\\', "/"))
        .with_context(|| format!("`{}` is not a UTF-8 path", spec.display()))
}

/// The spec's path relative to the root of the git repository holding it, if any.
fn repo_relative(spec: &Path) -> Option<String> {
    let spec = std::fs::canonicalize(spec).ok()?;
    let root = repo_root(spec.parent()?)?;
    relative(&root, &spec)
        .to_str()
        .map(|s| s.replace('\\', "/"))
}

/// The nearest directory at or above `dir` holding `.git` (a directory, or a file in a
/// worktree or submodule).
pub(crate) fn repo_root(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_path_buf)
}

/// `target` relative to `base` (both absolute): `../` for each of `base`'s components past
/// the common prefix; `target` itself when they share no root (another drive).
fn relative(base: &Path, target: &Path) -> PathBuf {
    let b: Vec<Component> = base.components().collect();
    let t: Vec<Component> = target.components().collect();
    let common = b.iter().zip(&t).take_while(|(x, y)| x == y).count();
    if common == 0 {
        return target.to_path_buf();
    }
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c.as_os_str());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::relative;
    use std::path::Path;

    #[test]
    fn relative_paths_climb_out_of_the_plan_directory() {
        let r = |b: &str, t: &str| relative(Path::new(b), Path::new(t));
        assert_eq!(
            r("/repo", "/repo/infra/moat.yaml"),
            Path::new("infra/moat.yaml")
        );
        assert_eq!(r("/repo/out", "/repo/moat.yaml"), Path::new("../moat.yaml"));
        assert_eq!(r("/a/b/c", "/a/x.yaml"), Path::new("../../x.yaml"));
    }
}
