//! The human plan: what changed outside moat, then one block per resource, then the summary.

use super::{
    Names, action_color, changes_lines, listed, loss_line, paint, resource_lines, summary_line,
    verb,
};
use crate::plan::{Action, Drift, Plan, ResourcePlan};
use std::fmt::Write as _;

/// Rendering switches.
#[derive(Clone, Copy, Debug, Default)]
pub struct TextOptions {
    /// ANSI colours.
    pub color: bool,
    /// Also list resources with no changes.
    pub show_unchanged: bool,
}

/// The heading of the drift section, in text and markdown.
pub(crate) const DRIFT_HEADING: &str = "Objects have changed outside of moat";

/// What the drift section says under its heading.
pub(crate) const DRIFT_NOTE: &str = "moat found these changes made in Azure since it last applied; the actions below compare the spec with what is there now.";

/// The header of one drifted resource (`# store (storage_account) changed outside moat`).
pub(crate) fn drift_header(d: &Drift) -> String {
    format!(
        "{} ({}) {}",
        d.key,
        d.kind,
        if d.deleted {
            "was deleted outside moat"
        } else {
            "changed outside moat"
        }
    )
}

/// The lines of one drifted resource: last applied → live.
pub(crate) fn drift_lines(d: &Drift, names: &Names, color: bool) -> Vec<String> {
    changes_lines(d.kind, &d.changes, names, color, false)
}

fn drift_section(plan: &Plan, names: &Names, color: bool, out: &mut String) {
    if plan.drift.is_empty() {
        return;
    }
    let _ = writeln!(out, "{}\n", paint(color, "1", &format!("{DRIFT_HEADING}:")));
    let _ = writeln!(out, "  {}\n", paint(color, "2", DRIFT_NOTE));
    for d in &plan.drift {
        let _ = writeln!(
            out,
            "  {} {}",
            paint(color, "1", "#"),
            paint(color, "1", &drift_header(d))
        );
        for line in drift_lines(d, names, color) {
            let _ = writeln!(out, "        {line}");
        }
        out.push('\n');
    }
}

fn resource_block(r: &ResourcePlan, names: &Names, opts: TextOptions, out: &mut String) {
    let color = opts.color;
    match (&r.moved_from, r.action) {
        // Terraform's words for a move: `# ws has moved to workspace`.
        (Some(from), Action::Move) => {
            let _ = writeln!(
                out,
                "  {} {} has moved to {}",
                paint(color, "1", "#"),
                paint(color, "1", from),
                paint(color, "1", &r.key)
            );
        }
        (from, _) => {
            let _ = writeln!(
                out,
                "  {} {} ({}) {}",
                paint(color, "1", "#"),
                paint(color, "1", &r.key),
                r.kind,
                verb(r.action)
            );
            if let Some(from) = from {
                let moved = format!("# {from} has moved to {}", r.key);
                let _ = writeln!(out, "    {}", paint(color, "2", &moved));
            }
        }
    }
    // A delete or replacement that loses data must not look like a route: a `!` line right
    // under the header says what is lost. The header keeps its `#`, so that what reads the
    // text plan line by line (scripts, the contract harness) still finds every resource.
    if r.destructive
        && let Some(line) = loss_line(r)
    {
        let _ = writeln!(out, "    {}", paint(color, "1;31", &format!("! {line}")));
    }
    for reason in &r.reasons {
        // Reasons quote ARM's messages: escaped, so that each stays on its line.
        let reason = moat_spec::diag::escape_text(reason);
        let _ = writeln!(out, "    {}", paint(color, "2", &format!("# {reason}")));
    }
    let sym = format!("{:>3}", r.action.symbol());
    let _ = writeln!(
        out,
        "  {} {}",
        paint(color, action_color(r.action), &sym),
        r.id
    );
    for line in resource_lines(r, names, color) {
        let _ = writeln!(out, "        {line}");
    }
    out.push('\n');
}

/// The human plan.
pub fn text(plan: &Plan, opts: TextOptions) -> String {
    let mut out = String::new();
    let names = Names::of(plan);
    drift_section(plan, &names, opts.color, &mut out);
    let shown: Vec<&ResourcePlan> = plan
        .resources
        .iter()
        .filter(|r| opts.show_unchanged || listed(r))
        .collect();
    if !shown.is_empty() {
        let _ = writeln!(
            out,
            "moat will perform these actions on stack `{}` (subscription {}):\n",
            plan.stack, plan.subscription
        );
        for r in shown {
            resource_block(r, &names, opts, &mut out);
        }
    }
    let _ = writeln!(out, "{}", paint(opts.color, "1", &summary_line(plan)));
    out
}
