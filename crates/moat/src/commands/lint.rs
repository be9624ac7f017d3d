//! `moat lint`: the Azure ML network rule catalogue, as text, JSON or SARIF.

use crate::Status;
use crate::cli::{Global, LintArgs, LintFormat};
use crate::load::{load, spec_path};
use crate::output::Output;

/// Runs the command.
pub fn run(g: &Global, args: &LintArgs, out: &Output) -> anyhow::Result<Status> {
    let loaded = load(&spec_path(args.spec.as_deref()), &args.vars, g.local)?;
    match args.format {
        LintFormat::Text => out.diagnostics(&loaded.file, &loaded.diags),
        LintFormat::Json => {
            let v: Vec<_> = loaded
                .diags
                .iter()
                .map(|d| d.to_json(&loaded.file))
                .collect();
            println!("{}", serde_json::to_string_pretty(&v)?);
        }
        LintFormat::Sarif => println!(
            "{}",
            serde_json::to_string_pretty(&moat_lint::sarif(&loaded.file, &loaded.diags))?
        ),
    }
    Ok(if loaded.has_errors() {
        Status::Failed
    } else {
        Status::Ok
    })
}
