//! `moat lint`: the Azure ML network rule catalogue, as text, JSON or SARIF.

use crate::Status;
use crate::cli::{Global, LintArgs, LintFormat};
use crate::load::Loaded;
use crate::load::{load, spec_path};
use crate::output::{Output, data_line};
use moat_spec::Severity;

/// Runs the command.
pub fn run(g: &Global, args: &LintArgs, out: &Output) -> anyhow::Result<Status> {
    let loaded = load(&spec_path(args.spec.as_deref()), &args.vars, g.local)?;
    match args.format {
        LintFormat::Text => {
            out.diagnostics(&loaded.file, &loaded.diags);
            out.status(&summary(&loaded));
        }
        LintFormat::Json => {
            let v: Vec<_> = loaded
                .diags
                .iter()
                .map(|d| d.to_json(&loaded.file))
                .collect();
            data_line(&serde_json::to_string_pretty(&v)?)?;
        }
        LintFormat::Sarif => data_line(&serde_json::to_string_pretty(&moat_lint::sarif(
            &loaded.file,
            &loaded.diags,
        ))?)?,
    }
    Ok(if loaded.has_errors() {
        Status::Failed
    } else {
        Status::Ok
    })
}

/// One line after the findings, as `validate` prints, so a clean run says so instead of
/// printing nothing.
fn summary(loaded: &Loaded) -> String {
    let count = |sev: Severity| loaded.diags.iter().filter(|d| d.severity == sev).count();
    let (errors, warnings, notes) = (
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Note),
    );
    let name = loaded.file.name();
    if errors > 0 {
        format!("{name}: {errors} error(s), {warnings} warning(s), {notes} note(s)")
    } else if warnings + notes == 0 {
        let n = loaded.model.as_ref().map_or(0, |m| m.resources.len());
        format!("{name}: no findings ({n} resources checked)")
    } else {
        format!("{name}: {warnings} warning(s), {notes} note(s)")
    }
}
