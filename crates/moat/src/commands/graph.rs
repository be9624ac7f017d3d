//! `moat graph`: the dependency graph of a spec as DOT, Mermaid or sorted text.

use crate::Status;
use crate::cli::{Global, GraphArgs, GraphFormat};
use crate::load::{load, spec_path};
use crate::output::Output;

/// Runs the command.
pub fn run(g: &Global, args: &GraphArgs, out: &Output) -> anyhow::Result<Status> {
    let loaded = load(&spec_path(args.spec.as_deref()), &args.vars, g.local)?;
    out.diagnostics(&loaded.file, &loaded.diags);
    let (Some(model), false) = (&loaded.model, loaded.has_errors()) else {
        return Ok(Status::Failed);
    };
    let graph = model.graph();
    let label = |key: &str, kind: &moat_model::Kind| Some(format!("{key}\n{}", kind.word()));
    let text = match args.format {
        GraphFormat::Dot => graph.to_dot_with(label),
        GraphFormat::Mermaid => graph.to_mermaid_with(label),
        GraphFormat::Text => graph.to_text(),
    };
    crate::output::data_line(&text)?;
    Ok(Status::Ok)
}
