//! `moat show PLANFILE`: a plan saved with `moat plan --out`, in any plan format, without
//! talking to Azure (review an artifact of CI, or turn it into a pull-request comment).

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
        PlanFormat::Markdown => render::markdown(&plan),
    };
    data_line(&text)?;
    Ok(Status::Ok)
}
