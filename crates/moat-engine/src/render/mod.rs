//! Plan renderers: human text (like the best of Terraform: one block per resource, symbols,
//! old → new, the reason for each replace, what changed outside moat in its own section),
//! markdown for pull-request comments (one collapsible block per resource, lint findings, a
//! Mermaid diagram, within GitHub's size limit), and stable JSON. All three read the same
//! [`Plan`] value.
//!
//! Text and markdown speak the spec's vocabulary where the kind registry's field table says
//! how ([`moat_model::kinds::Shown`]): `rule allow-batch: inbound allow tcp 29876-29877 from
//! BatchNodeManagement priority 100` rather than ARM's JSON, references by their spec key
//! (`vnet/training`) rather than by ARM ID. The JSON plan keeps ARM's paths, values and IDs.

mod json;
mod markdown;
mod mermaid;
mod text;

pub use json::json;
pub use markdown::{DEFAULT_MARKDOWN_LIMIT, Finding, MarkdownOptions, markdown, markdown_with};
pub use mermaid::mermaid;
pub use text::{TextOptions, text};

use crate::plan::{Action, Change, Plan, ResourcePlan};
use moat_model::Kind;
use serde_json::Value;
use std::collections::BTreeMap;

pub(crate) fn paint(on: bool, code: &str, s: &str) -> String {
    if on {
        format!("\x1b[{code}m{s}\x1b[0m")
    } else {
        s.to_string()
    }
}

pub(crate) fn action_color(a: Action) -> &'static str {
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

pub(crate) fn verb(a: Action) -> &'static str {
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

/// The action's word in the JSON plan (`create`, `no_op`).
pub(crate) fn action_word(a: Action) -> String {
    serde_json::to_value(a)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// True for the resources a plan lists: those apply does something about, or cannot read.
pub(crate) fn listed(r: &ResourcePlan) -> bool {
    !matches!(r.action, Action::NoOp | Action::Read)
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

/// The line that makes a destructive change stand out: what deleting the resource loses.
pub(crate) fn loss_line(r: &ResourcePlan) -> Option<String> {
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

/// The plan's resources by ARM ID, so that a value naming one of them shows its spec key.
pub(crate) struct Names {
    by_id: BTreeMap<String, String>,
}

impl Names {
    pub(crate) fn of(plan: &Plan) -> Names {
        let mut by_id: BTreeMap<String, String> = plan
            .keys
            .iter()
            .map(|(k, id)| (fold_id(id), k.clone()))
            .collect();
        for r in &plan.resources {
            by_id.insert(fold_id(&r.id), r.key.clone());
            // What a replacement under a new ID replaces: the old one, by the same key.
            if let Some(old) = &r.replaces {
                by_id
                    .entry(fold_id(old))
                    .or_insert_with(|| format!("{} (replaced)", r.key));
            }
        }
        Names { by_id }
    }

    fn key(&self, s: &str) -> Option<&str> {
        if !s.starts_with('/') {
            return None;
        }
        self.by_id.get(&fold_id(s)).map(String::as_str)
    }

    /// A value as a plan shows it: an ARM ID of a resource of the plan as its key
    /// (`vnet/training`), a list of them as `[a, b]`, anything else as JSON.
    pub(crate) fn value(&self, v: &Value) -> String {
        match v {
            Value::Null => "(none)".to_string(),
            Value::String(s) => self.key(s).map_or_else(|| v.to_string(), str::to_string),
            Value::Array(items)
                if items
                    .iter()
                    .any(|x| x.as_str().is_some_and(|s| self.key(s).is_some())) =>
            {
                let shown: Vec<String> = items.iter().map(|x| self.value(x)).collect();
                format!("[{}]", shown.join(", "))
            }
            other => other.to_string(),
        }
    }
}

fn fold_id(id: &str) -> String {
    id.trim_end_matches('/').to_ascii_lowercase()
}

/// Nothing worth a line in a create: absent, `""`, `[]` or `{}`.
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// One line of a change: what it is called, and its old and new value as shown (`None` when
/// absent on that side).
struct Line {
    label: String,
    old: Option<String>,
    new: Option<String>,
    /// A member of a set (`rule NAME: …`) rather than a field (`name = …`).
    member: bool,
    /// The new value is absent or empty (`""`, `[]`, `{}`): noise in a create.
    empty: bool,
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
        // A whole set appearing or going: one line per member.
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

fn present(v: &Value) -> Option<&Value> {
    (!v.is_null()).then_some(v)
}

/// The lines of one change of a `kind` resource, in the spec's words where the registry's
/// field table gives them. `creating`: a create, where empty values are noise.
fn lines(kind: Kind, c: &Change, names: &Names, creating: bool) -> Vec<Line> {
    let shown = kind.def().field(&c.path).and_then(|f| f.shown);
    let label = shown.map_or(c.path.as_str(), |s| s.name);
    if c.sensitive {
        // Never a value, whatever the field table says about showing it.
        return vec![Line {
            label: label.to_string(),
            old: Some("(sensitive)".into()),
            new: Some("(sensitive)".into()),
            member: false,
            empty: false,
        }];
    }
    let mut out = Vec::new();
    match shown {
        Some(s) if s.member.is_some() => {
            let noun = s.member.unwrap_or_default();
            let words = |v: &Value| s.words.map_or_else(|| names.value(v), |w| w(v));
            let empty = serde_json::Map::new();
            let (a, b) = (
                c.old.as_object().unwrap_or(&empty),
                c.new.as_object().unwrap_or(&empty),
            );
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let (x, y) = (a.get(k), b.get(k));
                if x == y {
                    continue;
                }
                out.push(Line {
                    label: format!("{noun} {k}"),
                    old: x.map(words),
                    new: y.map(words),
                    member: true,
                    empty: false,
                });
            }
        }
        Some(s) => {
            let show = |v: &Value| s.words.map_or_else(|| names.value(v), |w| w(v));
            out.push(Line {
                label: label.to_string(),
                old: present(&c.old).map(show),
                new: present(&c.new).map(show),
                member: false,
                empty: is_empty(&c.new),
            });
        }
        None => {
            let mut flat = Vec::new();
            leaves(&c.path, &c.old, &c.new, &mut flat);
            for (path, old, new) in flat {
                out.push(Line {
                    label: path,
                    old: present(&old).map(|v| names.value(v)),
                    new: present(&new).map(|v| names.value(v)),
                    member: false,
                    empty: is_empty(&new),
                });
            }
        }
    }
    if creating {
        // A create lists what it sets; an empty list or a null says nothing.
        out.retain(|l| !l.empty);
    }
    out.retain(|l| l.old.is_some() || l.new.is_some());
    out
}

/// The rendered lines of one change (`+ a = 1`, `~ b: 1 → 2`, `- rule x: …`), with the
/// change's notes (forces replacement, reset).
#[cfg(test)]
pub(crate) fn change_lines(
    kind: Kind,
    c: &Change,
    names: &Names,
    color: bool,
    creating: bool,
) -> Vec<String> {
    labelled(kind, c, names, color, creating)
        .into_iter()
        .map(|(_, line)| line)
        .collect()
}

/// The lines of several changes, ordered by what they are called (the spec's names and ARM's
/// paths sort together, not by the ARM path behind a spec name).
pub(crate) fn changes_lines(
    kind: Kind,
    changes: &[Change],
    names: &Names,
    color: bool,
    creating: bool,
) -> Vec<String> {
    let mut all: Vec<(String, String)> = changes
        .iter()
        .flat_map(|c| labelled(kind, c, names, color, creating))
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all.into_iter().map(|(_, line)| line).collect()
}

/// The lines of one change, each with its label.
fn labelled(
    kind: Kind,
    c: &Change,
    names: &Names,
    color: bool,
    creating: bool,
) -> Vec<(String, String)> {
    lines(kind, c, names, creating)
        .into_iter()
        .map(|l| {
            let (sym, body) = match (&l.old, &l.new) {
                (_, Some(n)) if c.sensitive => ("33", format!("{} = {n}", l.label)),
                (None, Some(n)) if l.member => ("32", format!("{}: {n}", l.label)),
                (None, Some(n)) => ("32", format!("{} = {n}", l.label)),
                (Some(o), None) if l.member => ("31", format!("{}: {o}", l.label)),
                (Some(o), None) => ("31", format!("{} = {o}", l.label)),
                // A member's words have arrows of their own (`0.0.0.0/0 → internet`).
                (Some(o), Some(n)) if l.member => ("33", format!("{}: {n} (was {o})", l.label)),
                (Some(o), Some(n)) => ("33", format!("{}: {o} → {n}", l.label)),
                (None, None) => ("2", l.label.clone()),
            };
            let mark = match sym {
                "32" => "+",
                "31" => "-",
                _ => "~",
            };
            // Values quote ARM's text and the spec's: escaped, so each stays on its line.
            let body = moat_spec::diag::escape_text(&body);
            let mut line = format!("{} {body}", paint(color, sym, mark));
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
            (l.label, line)
        })
        .collect()
}

/// The lines a resource's block lists: its changes, for the actions that write them.
pub(crate) fn resource_lines(r: &ResourcePlan, names: &Names, color: bool) -> Vec<String> {
    if !matches!(r.action, Action::Create | Action::Update | Action::Replace) {
        return Vec::new();
    }
    changes_lines(r.kind, &r.changes, names, color, r.action == Action::Create)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names() -> Names {
        let mut by_id = BTreeMap::new();
        by_id.insert(
            fold_id("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/vnet/subnets/training"),
            "vnet/training".to_string(),
        );
        Names { by_id }
    }

    fn change(path: &str, old: Value, new: Value) -> Change {
        Change {
            path: path.into(),
            old,
            new,
            forces_replacement: false,
            sensitive: false,
            reset: false,
        }
    }

    #[test]
    fn references_show_as_keys_and_foreign_ids_as_they_are() {
        let n = names();
        let id = "/subscriptions/S/resourcegroups/RG/providers/microsoft.network/virtualNetworks/vnet/subnets/training";
        assert_eq!(n.value(&json!(id)), "vnet/training");
        assert_eq!(
            n.value(&json!([id, "/subscriptions/s/other"])),
            "[vnet/training, \"/subscriptions/s/other\"]"
        );
        assert_eq!(n.value(&json!("eastus2")), "\"eastus2\"");
    }

    #[test]
    fn set_members_are_lines_in_the_spec_words() {
        let c = change(
            "properties.routes",
            json!({"default": {"address_prefix":"0.0.0.0/0","next_hop":"internet","next_hop_ip":null}}),
            json!({"default": {"address_prefix":"0.0.0.0/0","next_hop":"virtualappliance","next_hop_ip":"10.0.0.4"},
                   "batch": {"address_prefix":"BatchNodeManagement","next_hop":"internet","next_hop_ip":null}}),
        );
        let got = change_lines(Kind::RouteTable, &c, &names(), false, false);
        assert_eq!(
            got,
            [
                "+ route batch: BatchNodeManagement → internet",
                "~ route default: 0.0.0.0/0 → virtual_appliance 10.0.0.4 (was 0.0.0.0/0 → internet)",
            ]
        );
    }

    #[test]
    fn creates_leave_out_empty_values_and_secrets_stay_hidden() {
        let empty = change("properties.networkAcls.ipRules", Value::Null, json!([]));
        assert!(change_lines(Kind::KeyVault, &empty, &names(), false, true).is_empty());
        let mut secret = change(
            "properties.administratorAccount.adminUserPassword",
            json!("(sensitive)"),
            json!("(sensitive)"),
        );
        secret.sensitive = true;
        let got = change_lines(Kind::AmlCompute, &secret, &names(), false, false);
        assert_eq!(
            got,
            ["~ properties.administratorAccount.adminUserPassword = (sensitive)"]
        );
    }
}
