//! `moat plan`: what apply would change, as text, JSON or markdown; `--out` saves it for
//! `moat apply PLANFILE`; `--detailed-exitcode` for CI.

use crate::Status;
use crate::cli::{Global, PlanArgs, PlanFormat};
use crate::load::spec_path;
use crate::output::Output;
use crate::pipeline::{check, groups_are_ours, make_plan, open, read_state, report_unreadable};
use anyhow::Context as _;
use moat_engine::render;

/// Runs the command.
pub fn run(g: &Global, args: &PlanArgs, out: &Output) -> anyhow::Result<Status> {
    let path = spec_path(args.spec.as_deref());
    let Some(c) = check(g, &path, &args.vars, out)? else {
        return Ok(Status::Failed);
    };
    crate::runtime()?.block_on(async {
        let s = open(g, &c).await?;
        let record = read_state(s.backend.as_ref(), &c.model.stack.value).await?;
        let result = match make_plan(&s, &c, &record, false).await {
            Ok(Some((plan, _))) if !crate::pipeline::unprotected(&c, &plan) => Ok(None),
            Ok(Some((plan, live))) => match groups_are_ours(&s, &c, &plan).await {
                Ok(true) => Ok(Some((plan, live))),
                Ok(false) => Ok(None),
                Err(e) => Err(e),
            },
            other => other,
        };
        let requests = s.remote.client.stats().requests_sent;
        s.remote.close().await;
        let Some((plan, _live)) = result? else {
            return Ok(Status::Failed);
        };
        if out.verbose > 0 {
            eprintln!(
                "read {} resources with {requests} ARM requests",
                c.model.resources.len()
            );
        }
        let text = match args.format {
            _ if args.json => {
                let events = crate::progress::EventWriter::new();
                events.planned(&plan);
                events.plan_summary("plan", &plan);
                String::new()
            }
            PlanFormat::Text => render::text(
                &plan,
                render::TextOptions {
                    color: out.color_stdout(),
                    show_unchanged: args.show_unchanged,
                },
            ),
            PlanFormat::Json => render::json(&plan),
            PlanFormat::Markdown => render::markdown(&plan),
        };
        if !text.is_empty() {
            crate::output::data_line(&text)?;
        }
        // Everything that could be read has been shown; an unreadable resource fails the run
        // (and `--detailed-exitcode` must not say 0 or 2 about what nobody could see).
        if report_unreadable(
            &c,
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
    })
}
