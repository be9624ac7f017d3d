//! `moat validate`: every offline check on one or more specs; exit 1 when any has an error.

use crate::Status;
use crate::cli::{DiagFormat, Global, ValidateArgs};
use crate::load::{load, spec_path};
use crate::output::Output;
use moat_spec::Severity;

/// Runs the command.
pub fn run(g: &Global, args: &ValidateArgs, out: &Output) -> anyhow::Result<Status> {
    let paths = if args.specs.is_empty() {
        vec![spec_path(None)]
    } else {
        args.specs.clone()
    };
    let mut failed = false;
    let mut json = Vec::new();
    for path in &paths {
        let loaded = load(path, &args.vars, g.local)?;
        failed |= loaded.has_errors();
        match args.format {
            DiagFormat::Json => json.extend(loaded.diags.iter().map(|d| d.to_json(&loaded.file))),
            DiagFormat::Text => {
                out.diagnostics(&loaded.file, &loaded.diags);
                let count =
                    |sev: Severity| loaded.diags.iter().filter(|d| d.severity == sev).count();
                let (errors, warnings, notes) = (
                    count(Severity::Error),
                    count(Severity::Warning),
                    count(Severity::Note),
                );
                let tail = format!("{warnings} warning(s), {notes} note(s)");
                if errors > 0 {
                    out.status(&format!(
                        "{}: {errors} error(s), {tail}",
                        moat_spec::diag::escape_text(loaded.file.name())
                    ));
                } else {
                    let n = loaded.model.as_ref().map_or(0, |m| m.resources.len());
                    out.status(&format!(
                        "{}: valid ({n} resources, {tail})",
                        moat_spec::diag::escape_text(loaded.file.name())
                    ));
                }
            }
        }
    }
    if args.format == DiagFormat::Json {
        crate::output::data_line(&serde_json::to_string_pretty(&json)?)?;
    }
    Ok(if failed { Status::Failed } else { Status::Ok })
}
