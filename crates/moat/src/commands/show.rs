//! `moat show PLANFILE`: a plan saved with `moat plan --out`, in any plan format, without
//! talking to Azure (review an artifact of CI, or turn it into a pull-request comment); a
//! narrowed plan says which `--target`/`--exclude` made it.

use crate::Status;
use crate::cli::{PlanFormat, ShowArgs};
use crate::output::{Output, data_line};
use anyhow::Context as _;
use moat_engine::plan::Plan;
use moat_engine::render;

/// Runs the command.
pub fn run(args: &ShowArgs, out: &Output) -> anyhow::Result<Status> {
    let path = &args.planfile;
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read plan `{}`", path.display()))?;
    let plan: Plan = serde_json::from_slice(&bytes).with_context(|| {
        format!(
            "`{}` is not a plan saved by `moat plan --out`",
            path.display()
        )
    })?;
    let text = match args.format {
        PlanFormat::Text => render::text(
            &plan,
            render::TextOptions {
                color: out.color_stdout(),
                show_unchanged: args.show_unchanged,
            },
        ),
        PlanFormat::Json => render::json(&plan),
        PlanFormat::Markdown => {
            let file = path.display().to_string();
            render::markdown_with(
                &plan,
                &render::MarkdownOptions {
                    full_plan_url: args.plan_url.as_deref(),
                    plan_file: Some(&file),
                    ..Default::default()
                },
            )
        }
    };
    data_line(&text)?;
    // What a narrowed plan leaves out is not in its resources: say how it was made.
    let mut made = Vec::new();
    made.extend(plan.targets.iter().map(|k| format!("--target {k}")));
    made.extend(plan.excludes.iter().map(|k| format!("--exclude {k}")));
    if !made.is_empty() {
        let what = if plan.destroy { "destroy plan" } else { "plan" };
        out.status(&format!(
            "note: a {what} narrowed with {}",
            moat_spec::diag::escape_text(&made.join(" "))
        ));
    }
    Ok(Status::Ok)
}
