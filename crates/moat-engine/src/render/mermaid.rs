//! A Mermaid flowchart of a plan for the pull-request comment (GitHub renders ```mermaid
//! blocks): the resources the plan changes and what they depend on, coloured by action, an
//! arrow from what apply does first to what comes after.

use super::{action_word, listed};
use crate::plan::{Action, Plan};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// More nodes than this and the diagram says nothing a reader can take in (and Mermaid's own
/// limits come near): the comment leaves it out and says so.
pub const MAX_NODES: usize = 120;

/// `(fill, stroke, text colour)` of each class; GitHub's palette, readable in light and dark.
fn class_style(class: &str) -> &'static str {
    match class {
        "create" => "fill:#dafbe1,stroke:#1a7f37,color:#0d1117",
        "update" => "fill:#fff8c5,stroke:#9a6700,color:#0d1117",
        "replace" => "fill:#fbefff,stroke:#8250df,color:#0d1117",
        "delete" => "fill:#ffebe9,stroke:#cf222e,color:#0d1117",
        "move" => "fill:#ddf4ff,stroke:#0969da,color:#0d1117",
        "unreadable" => "fill:#ffebe9,stroke:#cf222e,stroke-dasharray:4 3,color:#0d1117",
        _ => "fill:#f6f8fa,stroke:#8c959f,color:#57606a",
    }
}

/// A node label: the key and kind, with what Mermaid would read as syntax escaped.
fn label(key: &str, kind: &str, destructive: bool) -> String {
    let esc = |s: &str| {
        s.replace('&', "#amp;")
            .replace('"', "#quot;")
            .replace('<', "#lt;")
            .replace('>', "#gt;")
    };
    let warn = if destructive { "⚠️ " } else { "" };
    format!("\"{warn}{}<br/>{}\"", esc(key), esc(kind))
}

/// The flowchart's text (without the fence), or `None` when the plan changes nothing or the
/// diagram would have more than `MAX_NODES` (120) nodes.
pub fn mermaid(plan: &Plan) -> Option<String> {
    let changed: Vec<_> = plan.resources.iter().filter(|r| listed(r)).collect();
    if changed.is_empty() {
        return None;
    }
    // Nodes: the changed resources, then what they depend on that the plan does not change.
    let mut ids: BTreeMap<String, String> = BTreeMap::new();
    let mut nodes: Vec<(String, String, &'static str)> = Vec::new();
    let mut add = |key: &str, line: String, class: &'static str| {
        let id = format!("n{}", nodes.len());
        nodes.push((id.clone(), line, class));
        ids.insert(key.to_string(), id);
    };
    for r in &changed {
        let class = match r.action {
            Action::Create => "create",
            Action::Update => "update",
            Action::Replace => "replace",
            Action::Delete => "delete",
            Action::Move => "move",
            Action::Unreadable => "unreadable",
            Action::NoOp | Action::Read => "unchanged",
        };
        add(&r.key, label(&r.key, r.kind.word(), r.destructive), class);
    }
    let mut outside: Vec<&str> = Vec::new();
    for r in &changed {
        for dep in &r.depends_on {
            if !changed.iter().any(|c| &c.key == dep) && !outside.contains(&dep.as_str()) {
                outside.push(dep);
            }
        }
    }
    for dep in outside {
        let kind = plan.get(dep).map_or("", |d| d.kind.word());
        add(dep, label(dep, kind, false), "unchanged");
    }
    if nodes.len() > MAX_NODES {
        return None;
    }
    let mut out = String::from("flowchart LR\n");
    for (id, line, _) in &nodes {
        let _ = writeln!(out, "  {id}[{line}]");
    }
    for r in &changed {
        for dep in &r.depends_on {
            if let (Some(a), Some(b)) = (ids.get(dep.as_str()), ids.get(r.key.as_str())) {
                let _ = writeln!(out, "  {a} --> {b}");
            }
        }
    }
    let mut classes: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (id, _, class) in &nodes {
        classes.entry(class).or_default().push(id);
    }
    for (class, members) in &classes {
        let _ = writeln!(out, "  classDef {class} {}", class_style(class));
        let _ = writeln!(out, "  class {} {class}", members.join(","));
    }
    Some(out)
}

/// The legend under the diagram: which colour is which action, for the classes it uses.
pub(crate) fn legend(plan: &Plan) -> String {
    let mut seen: Vec<String> = Vec::new();
    for r in plan.resources.iter().filter(|r| listed(r)) {
        let w = action_word(r.action);
        if !seen.contains(&w) {
            seen.push(w);
        }
    }
    let colour = |w: &str| match w {
        "create" => "green",
        "update" => "yellow",
        "replace" => "purple",
        "delete" => "red",
        "move" => "blue",
        "unreadable" => "dashed red",
        _ => "grey",
    };
    let parts: Vec<String> = seen
        .iter()
        .map(|w| format!("{w} {}", colour(w)))
        .chain(std::iter::once("unchanged grey".to_string()))
        .collect();
    format!(
        "Arrows go from what apply does first to what comes after; {}.",
        parts.join(", ")
    )
}
