//! Plan renderers: human text (like the best of Terraform: one block per resource, symbols,
//! property paths, old → new, the reason for each replace), markdown for pull-request comments,
//! and stable JSON. All three read the same [`Plan`] value.

use crate::plan::{Action, Change, Plan, ResourcePlan};
use serde_json::Value;
use std::fmt::Write as _;

/// Rendering switches.
#[derive(Clone, Copy, Debug, Default)]
pub struct TextOptions {
    /// ANSI colours.
    pub color: bool,
    /// Also list resources with no changes.
    pub show_unchanged: bool,
}

fn paint(on: bool, code: &str, s: &str) -> String {
    if on {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

fn action_color(a: Action) -> &'static str {
    match a {
        Action::Create => "32",
        Action::Update => "33",
        Action::Replace => "35",
        Action::Delete => "31",
        Action::Read => "36",
        Action::Unreadable => "1;31",
        Action::NoOp => "2",
        Action::Move => "34",
    }
}

fn verb(a: Action) -> &'static str {
    match a {
        Action::Create => "will be created",
        Action::Update => "will be updated in place",
        Action::Replace => "must be replaced",
        Action::Delete => "will be destroyed",
        Action::Read => "will be read",
        Action::Unreadable => "could not be read",
        Action::NoOp => "is up to date",
        Action::Move => "has moved",
    }
}

/// `Plan: 3 to add, 1 to change, 0 to replace, 1 to destroy.` or `No changes.`; resources
/// that could not be read are always counted, since nothing is known of them.
pub fn summary_line(plan: &Plan) -> String {
    let s = plan.summary;
    let unreadable = match s.unreadable {
        0 => String::new(),
        1 => "1 resource could not be read".to_string(),
        n => format!("{n} resources could not be read"),
    };
    if s.is_empty() {
        if s.unreadable > 0 {
            // "Matches the spec" would be a claim about resources nobody could see.
            return format!("No changes to the resources that could be read; {unreadable}.");
        }
        return String::from("No changes. Your infrastructure matches the spec.");
    }
    let mut line = format!(
        "Plan: {} to add, {} to change, {} to replace, {} to destroy",
        s.add, s.change, s.replace, s.destroy
    );
    if s.moved > 0 {
        line.push_str(&format!(", {} to move", s.moved));
    }
    if s.unreadable > 0 {
        line.push_str(&format!("; {unreadable}"));
    }
    line.push('.');
    line
}

fn value_text(v: &Value) -> String {
    match v {
        Value::Null => "(none)".to_string(),
        other => other.to_string(),
    }
}

/// Flattens a change whose values are objects into one line per differing leaf.
fn leaves(path: &str, old: &Value, new: &Value, out: &mut Vec<(String, Value, Value)>) {
    match (old, new) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let (x, y) = (
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                );
                if x != y {
                    leaves(&format!("{path}.{k}"), x, y, out);
                }
            }
        }
        // A whole set appearing or going (the rules of a new NSG): one line per member.
        (Value::Null, Value::Object(b)) if !b.is_empty() => {
            for (k, v) in b {
                out.push((format!("{path}.{k}"), Value::Null, v.clone()));
            }
        }
        (Value::Object(a), Value::Null) if !a.is_empty() => {
            for (k, v) in a {
                out.push((format!("{path}.{k}"), v.clone(), Value::Null));
            }
        }
        _ => out.push((path.to_string(), old.clone(), new.clone())),
    }
}

fn change_lines(c: &Change, color: bool) -> Vec<String> {
    if c.sensitive {
        return vec![format!(
            "{} {} = (sensitive)",
            paint(color, "33", "~"),
            c.path
        )];
    }
    let mut flat = Vec::new();
    leaves(&c.path, &c.old, &c.new, &mut flat);
    flat.into_iter()
        .map(|(path, old, new)| {
            let (sym, body) = match (&old, &new) {
                (Value::Null, n) => (
                    paint(color, "32", "+"),
                    format!("{path} = {}", value_text(n)),
                ),
                (o, Value::Null) => (
                    paint(color, "31", "-"),
                    format!("{path} = {}", value_text(o)),
                ),
                (o, n) => (
                    paint(color, "33", "~"),
                    format!("{path}: {} → {}", value_text(o), value_text(n)),
                ),
            };
            let mut line = format!("{sym} {body}");
            if c.forces_replacement {
                line.push_str(&paint(color, "35", "  # forces replacement"));
            }
            if c.reset {
                line.push_str(&paint(
                    color,
                    "2",
                    "  # no longer in the spec: back to Azure's default",
                ));
            }
            line
        })
        .collect()
}

/// The line that makes a destructive change stand out: what deleting the resource loses.
fn loss_line(r: &ResourcePlan) -> Option<String> {
    let lost = r.loses()?;
    Some(format!(
        "DESTRUCTIVE: {} loses {lost}",
        if r.action == Action::Replace {
            "replacing it"
        } else {
            "deleting it"
        }
    ))
}

fn resource_block(r: &ResourcePlan, opts: TextOptions, out: &mut String) {
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
    if matches!(r.action, Action::Create | Action::Update | Action::Replace) {
        for c in &r.changes {
            for line in change_lines(c, color) {
                let _ = writeln!(out, "        {line}");
            }
        }
    }
    out.push('\n');
}

/// The human plan.
pub fn text(plan: &Plan, opts: TextOptions) -> String {
    let mut out = String::new();
    let shown: Vec<&ResourcePlan> = plan
        .resources
        .iter()
        .filter(|r| opts.show_unchanged || !matches!(r.action, Action::NoOp | Action::Read))
        .collect();
    if !shown.is_empty() {
        let _ = writeln!(
            out,
            "moat will perform these actions on stack `{}` (subscription {}):\n",
            plan.stack, plan.subscription
        );
        for r in shown {
            resource_block(r, opts, &mut out);
        }
    }
    let _ = writeln!(out, "{}", paint(opts.color, "1", &summary_line(plan)));
    out
}

/// The plan as a pull-request comment.
pub fn markdown(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### moat plan for stack `{}`\n", plan.stack);
    let _ = writeln!(out, "**{}**\n", summary_line(plan));
    let destructive: Vec<&ResourcePlan> = plan.resources.iter().filter(|r| r.destructive).collect();
    if !destructive.is_empty() {
        // A blockquote warning above the table: a reviewer skimming the comment sees it.
        let _ = writeln!(
            out,
            "> [!WARNING]\n> This plan deletes or replaces {} resource(s) that hold data:",
            destructive.len()
        );
        for r in &destructive {
            let _ = writeln!(
                out,
                "> - `{}` ({}): {}",
                r.key,
                r.kind,
                loss_line(r).unwrap_or_default()
            );
        }
        out.push('\n');
    }
    let changed: Vec<&ResourcePlan> = plan
        .resources
        .iter()
        .filter(|r| !matches!(r.action, Action::NoOp | Action::Read))
        .collect();
    if changed.is_empty() {
        return out;
    }
    let _ = writeln!(out, "| | resource | kind | action | why |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    for r in &changed {
        let icon = match r.action {
            _ if r.destructive => "⚠️",
            Action::Create => "🟢",
            Action::Update => "🟡",
            Action::Replace => "🟣",
            Action::Delete => "🔴",
            Action::Move => "🔵",
            _ => "⚪",
        };
        let mut why: Vec<String> = r.reasons.clone();
        if let Some(from) = &r.moved_from {
            why.insert(0, format!("moved from `{from}`"));
        }
        if r.destructive {
            why.extend(loss_line(r).map(|l| format!("**{l}**")));
        }
        let why = moat_spec::diag::escape_text(&why.join("; ")).replace('|', "\\|");
        let _ = writeln!(
            out,
            "| {icon} | `{}` | {} | {} | {} |",
            r.key,
            r.kind,
            serde_json::to_value(r.action)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            why
        );
    }
    let _ = writeln!(
        out,
        "\n<details><summary>Property changes</summary>\n\n```diff"
    );
    for r in &changed {
        let bang = if r.destructive { "! " } else { "" };
        let _ = writeln!(out, "{bang}{} {} ({})", r.action.symbol(), r.key, r.kind);
        if matches!(r.action, Action::Create | Action::Update | Action::Replace) {
            for c in &r.changes {
                for line in change_lines(c, false) {
                    let _ = writeln!(out, "{line}");
                }
            }
        }
    }
    let _ = writeln!(out, "```\n\n</details>");
    out
}

/// The stable JSON plan (pretty, final newline).
pub fn json(plan: &Plan) -> String {
    let mut s = serde_json::to_string_pretty(plan).unwrap_or_default();
    s.push('\n');
    s
}
