//! Identity in the planner: the ARM resource ID is what a resource *is*, the spec key only
//! what it is called. A key rename that keeps the ID is a move (no write, the state is
//! re-keyed); a changed ID under a kept key (a new Azure name, group or parent) is a
//! replacement that deletes the old ID. Pure, like the rest of the planner.

use crate::diff::PlanError;
use crate::plan::{Action, Change, Method, Request, ResourcePlan};
use crate::state::StateRecord;
use moat_model::kinds::Replace;
use moat_model::{Model, arm};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// The key suffix under which apply keeps a renamed resource's old ID in the state record
/// until its delete is done, so that a failed or interrupted delete is retried by the next
/// plan instead of leaving the old resource orphaned.
pub const OLD_SUFFIX: &str = "~old";

/// Key renames with an unchanged ARM ID: new key → old key. A state entry whose key left
/// the spec and whose ID (compared case-insensitively, as ARM does) and kind are those of a
/// spec resource the state does not know by its own key.
pub fn find_moves(model: &Model, state: &StateRecord) -> BTreeMap<String, String> {
    let in_model: BTreeSet<&str> = model.resources.iter().map(|r| r.key.as_str()).collect();
    let mut by_id: BTreeMap<String, &str> = state
        .resources
        .iter()
        .filter(|(k, _)| !in_model.contains(k.as_str()))
        .map(|(k, rs)| (rs.id.to_ascii_lowercase(), k.as_str()))
        .collect();
    let mut moves = BTreeMap::new();
    for r in &model.resources {
        if r.is_existing() || state.resources.contains_key(&r.key) {
            continue;
        }
        let id = r.id.to_ascii_lowercase();
        if let Some(old) = by_id.get(&id).copied()
            && state.resources[old].kind == r.kind
        {
            by_id.remove(&id);
            moves.insert(r.key.clone(), old.to_string());
        }
    }
    moves
}

/// The state record as the spec's keys name it: every move applied. The planner compares
/// against this view, so a moved resource keeps its last-applied properties and ownership.
pub fn rekeyed<'s>(
    state: &'s StateRecord,
    moves: &BTreeMap<String, String>,
) -> std::borrow::Cow<'s, StateRecord> {
    if moves.is_empty() {
        // Nothing moved (the common case): the record as it is, not a copy of it.
        return std::borrow::Cow::Borrowed(state);
    }
    let mut view = state.clone();
    for (to, from) in moves {
        view.rekey(from, to);
    }
    std::borrow::Cow::Owned(view)
}

/// Marks the moved resources of a plan: `from` names the old key, and one with nothing else
/// to do is a move.
pub fn mark_moves(moves: &BTreeMap<String, String>, out: &mut [ResourcePlan]) {
    for p in out.iter_mut() {
        let Some(from) = moves.get(&p.key) else {
            continue;
        };
        p.moved_from = Some(from.clone());
        if p.action == Action::NoOp {
            p.action = Action::Move;
        }
    }
}

/// Resources whose ARM ID is not the one the state records under their key (the Azure name,
/// group or parent changed): a replacement that deletes the old ID. By default the new one is
/// created first and the old one deleted after everything that referred to it moved to the
/// new one; a kind whose name is global keeps its name only if the old one goes first, and a
/// kind that is never replaced because a deleted one keeps its name (a key vault) cannot keep
/// its name under a new ID at all: that is an error.
pub fn plan_id_changes(
    model: &Model,
    state: &StateRecord,
    ctx: &arm::MapContext,
    out: &mut [ResourcePlan],
) -> Vec<PlanError> {
    let mut errors = Vec::new();
    for p in out.iter_mut() {
        let Some(rs) = state.resources.get(&p.key) else {
            continue;
        };
        if rs.id.eq_ignore_ascii_case(&p.id)
            || !matches!(
                p.action,
                Action::Create | Action::NoOp | Action::Update | Action::Replace
            )
        {
            continue;
        }
        let Some(r) = model.get(&p.key) else { continue };
        let (old_name, new_name) = (last_segment(&rs.id), last_segment(&p.id));
        let global = p.kind.def().name_rule.global;
        p.delete_first = global && old_name.eq_ignore_ascii_case(new_name);
        if let (true, Replace::Refused(why)) = (p.delete_first, p.kind.def().replace) {
            errors.push(PlanError::NameHeld {
                key: p.key.clone(),
                name: new_name.to_string(),
                id: p.id.clone(),
                why: why.to_string(),
            });
            continue;
        }
        let (path, old, new) = if old_name.eq_ignore_ascii_case(new_name) {
            ("id", rs.id.as_str(), p.id.as_str())
        } else {
            ("name", old_name, new_name)
        };
        p.changes.retain(|c| c.path != path);
        p.changes.insert(
            0,
            Change {
                path: path.to_string(),
                old: json!(old),
                new: json!(new),
                forces_replacement: true,
                sensitive: false,
                reset: false,
            },
        );
        p.reasons.push(if p.delete_first {
            format!(
                "its ARM ID changes and its name `{new_name}` is unique across Azure: the old one ({}) is deleted before the new one is created",
                rs.id
            )
        } else {
            format!(
                "its ARM ID changes: the new one is created, then the old one ({}) is deleted once nothing refers to it",
                rs.id
            )
        });
        p.action = Action::Replace;
        p.replaces = Some(rs.id.clone());
        if p.request.as_ref().is_none_or(|q| q.method != Method::Put) {
            p.request = Some(Request {
                method: Method::Put,
                body: Some(arm::request_body(model, r, ctx)),
                query: Vec::new(),
            });
        }
        // The old ID's DELETE: what is known of the old resource is its last applied body.
        if let Some(q) = p.request.as_mut() {
            q.query = crate::diff::replace_query(p.kind, None, Some(&rs.applied));
        }
    }
    errors
}

/// The last segment of an ARM ID: the resource's name.
pub(crate) fn last_segment(id: &str) -> &str {
    id.rsplit('/').next().unwrap_or(id)
}

/// The deletes of the old IDs that replacements under a new ID leave behind and delete after
/// the new ones exist: one delete entry each, keyed `KEY~old`. The old resource of a
/// dependent goes before the old resource it depended on (an old compute before its old
/// workspace), as the plan's dependencies say.
pub fn old_id_deletes(resources: &[ResourcePlan]) -> Vec<ResourcePlan> {
    let renamed: Vec<&ResourcePlan> = resources
        .iter()
        .filter(|r| r.action == Action::Replace && r.replaces.is_some() && !r.delete_first)
        .collect();
    renamed
        .iter()
        .map(|r| {
            let first: Vec<String> = renamed
                .iter()
                .filter(|o| o.depends_on.contains(&r.key))
                .map(|o| old_key(&o.key))
                .collect();
            ResourcePlan {
                key: old_key(&r.key),
                kind: r.kind,
                id: r.replaces.clone().unwrap_or_default(),
                api_version: r.api_version.clone(),
                action: Action::Delete,
                reasons: vec![format!("replaced by `{}` ({})", r.key, r.id)],
                changes: Vec::new(),
                depends_on: first,
                lock_group: r.lock_group.clone(),
                request: Some(Request {
                    method: Method::Delete,
                    body: None,
                    query: crate::diff::implied_delete_query(r),
                }),
                live_etag: None,
                applied: None,
                moved_from: None,
                replaces: None,
                delete_first: false,
                // Set with every other entry's once the plan is whole.
                destructive: false,
            }
        })
        .collect()
}

/// The state key of a renamed resource's old ID while its delete is pending.
pub fn old_key(key: &str) -> String {
    format!("{key}{OLD_SUFFIX}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_model::Kind;

    fn replaced(key: &str, kind: Kind, old: &str, depends_on: &[&str]) -> ResourcePlan {
        let mut p = ResourcePlan {
            key: key.into(),
            kind,
            id: format!("{old}2"),
            api_version: kind.api_version().into(),
            action: Action::Replace,
            reasons: Vec::new(),
            changes: Vec::new(),
            depends_on: depends_on.iter().map(|d| d.to_string()).collect(),
            lock_group: None,
            request: None,
            live_etag: None,
            applied: None,
            moved_from: None,
            replaces: Some(old.into()),
            delete_first: false,
            destructive: false,
        };
        if key == "first" {
            p.delete_first = true;
        }
        p
    }

    #[test]
    fn old_ids_are_deleted_dependents_first_and_delete_first_ones_not_again() {
        let plan = [
            replaced("ws", Kind::MlWorkspace, "/w", &[]),
            replaced("cpu", Kind::AmlCompute, "/w/computes/cpu", &["ws"]),
            replaced("first", Kind::StorageAccount, "/s", &[]),
        ];
        let old = old_id_deletes(&plan);
        let got: Vec<(&str, &str, &[String])> = old
            .iter()
            .map(|d| (d.key.as_str(), d.id.as_str(), d.depends_on.as_slice()))
            .collect();
        assert_eq!(
            got,
            [
                ("ws~old", "/w", &["cpu~old".to_string()][..]),
                ("cpu~old", "/w/computes/cpu", &[][..]),
            ]
        );
        assert!(old.iter().all(|d| {
            d.action == Action::Delete
                && d.request
                    .as_ref()
                    .is_some_and(|r| r.method == Method::Delete)
        }));
        // An ML compute's DELETE carries its kind's query.
        assert!(!old[1].request.as_ref().unwrap().query.is_empty());
    }
}
