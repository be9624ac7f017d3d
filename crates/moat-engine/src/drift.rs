//! Drift: what changed in Azure outside moat since moat last applied it (Terraform's "objects
//! have changed outside"). The state record's last-applied projection of each resource against
//! its live read, managed paths only: a tag or property moat never set is not drift. Pure, like
//! the planner; the plan carries the result in [`Plan::drift`](crate::plan::Plan::drift).

use crate::live::{Live, LiveState};
use crate::plan::{Change, Drift};
use crate::state::{ResourceState, StateRecord};
use moat_model::arm::Projection;
use moat_model::{Model, Resource, arm};
use serde_json::{Value, json};

/// Every resource of `state` whose live read differs from what moat last applied, or that is
/// gone; in key order (the planner puts them in plan order). A resource that could not be read,
/// or was not read, is not judged; nor is one the spec gave another ARM ID (a new name: what
/// was read is the new resource, not the one moat applied).
pub fn find(model: &Model, state: &StateRecord, live: &Live) -> Vec<Drift> {
    find_among(model, state, live, |_| true)
}

/// [`find`] over the resources of `state` whose key passes `judge` (the planner judges the
/// spec's own resources as it plans them, with the live projection it has already made:
/// [`judged`]).
pub(crate) fn find_among(
    model: &Model,
    state: &StateRecord,
    live: &Live,
    judge: impl Fn(&str) -> bool + Sync,
) -> Vec<Drift> {
    // Each resource's drift reads only its own records: a large stack's are found on every
    // core, in key order as on one thread.
    let entries: Vec<(&String, &ResourceState)> = state
        .resources
        .iter()
        .filter(|(key, _)| judge(key))
        .collect();
    crate::par::map(&entries, |(key, rs)| drift_of(model, key, rs, live))
        .into_iter()
        .flatten()
        .collect()
}

/// The drift of the resource `key`, recorded as `rs`, if any.
fn drift_of(model: &Model, key: &str, rs: &ResourceState, live: &Live) -> Option<Drift> {
    judged(model.get(key), key, rs, live.resources.get(key)?, None)
}

/// The drift of the resource `key`, recorded as `rs` and read as `live`, whose live
/// projection is `now` when the caller has it already (it is made here otherwise); `spec` is
/// the spec's resource of that key, if any (an `existing:` one, or one under another ARM ID,
/// is not judged).
pub(crate) fn judged(
    spec: Option<&Resource>,
    key: &str,
    rs: &ResourceState,
    live: &LiveState,
    now: Option<&Projection>,
) -> Option<Drift> {
    if spec.is_some_and(|r| !r.id.eq_ignore_ascii_case(&rs.id) || r.is_existing()) {
        return None;
    }
    let kind = rs.kind;
    match live {
        LiveState::Absent => Some(Drift {
            key: key.to_string(),
            kind,
            deleted: true,
            changes: Vec::new(),
        }),
        LiveState::Present(body) => {
            let applied = rs.applied.as_object()?;
            let made;
            let now = match now {
                Some(p) => p,
                None => {
                    made = arm::project(kind, body);
                    &made
                }
            };
            let mut changes = Vec::new();
            for (path, was) in applied {
                let write_only = kind.def().field(path).is_some_and(|f| f.write_only);
                let default;
                let have = match now.get(path) {
                    Some(v) => v,
                    // Azure does not return it: nothing is known to have changed.
                    None if write_only => continue,
                    None => match arm::default_of(kind, path) {
                        Some(d) => {
                            default = d;
                            &default
                        }
                        None => continue,
                    },
                };
                if have == was {
                    continue;
                }
                let sensitive = arm::is_sensitive(kind, path);
                let hide = |v: &Value| {
                    if sensitive && !v.is_null() {
                        json!("(sensitive)")
                    } else {
                        v.clone()
                    }
                };
                changes.push(Change {
                    path: path.clone(),
                    old: hide(was),
                    new: hide(have),
                    forces_replacement: false,
                    sensitive,
                    reset: false,
                });
            }
            (!changes.is_empty()).then(|| Drift {
                key: key.to_string(),
                kind,
                deleted: false,
                changes,
            })
        }
        LiveState::Unreadable(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_model::Kind;

    fn model(text: &str) -> Model {
        let file = moat_spec::source_from_bytes("spec.yaml", text.as_bytes().to_vec())
            .unwrap_or_else(|_| panic!("a spec"));
        let (spec, _) = moat_spec::load(&file, &moat_spec::VarOverrides::default(), &|_| None);
        let (model, diags) = moat_model::resolve(&spec.unwrap(), &moat_model::Context::default());
        assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
        model.unwrap()
    }

    fn record(kind: Kind, id: &str, applied: Value) -> ResourceState {
        ResourceState {
            id: id.into(),
            kind,
            api_version: kind.api_version().into(),
            applied,
            etag: None,
            updated_at: "2025-01-01T00:00:00Z".into(),
            depends_on: Vec::new(),
            outputs: Default::default(),
        }
    }

    #[test]
    fn drift_is_managed_paths_that_moved_and_deletes_never_secrets_or_foreign_tags() {
        let model = model(
            "stack: s\nlocation: eastus2\nresources:\n  rg: { type: resource_group, name: s-rg }\n",
        );
        let compute = "/subscriptions/x/resourceGroups/s-rg/providers/Microsoft.MachineLearningServices/workspaces/w/computes/c";
        let table =
            "/subscriptions/x/resourceGroups/s-rg/providers/Microsoft.Network/routeTables/t";
        let mut state = StateRecord::new("s");
        state.resources.insert(
            "c".into(),
            record(
                Kind::AmlCompute,
                compute,
                json!({
                    "location": "eastus2",
                    "properties.properties.scaleSettings.maxNodeCount": 4,
                    "properties.properties.userAccountCredentials.adminUserPassword": "hunter2-old",
                    "tags.team": "ml"
                }),
            ),
        );
        state.resources.insert(
            "t".into(),
            record(Kind::RouteTable, table, json!({"location": "eastus2"})),
        );
        let mut live = Live {
            resources: Default::default(),
            soft_deleted: Default::default(),
            requests: 0,
        };
        live.resources.insert(
            "c".into(),
            LiveState::Present(json!({
                "location": "eastus2",
                "tags": { "team": "ml", "added-by-policy": "yes" },
                "properties": { "properties": {
                    "scaleSettings": { "maxNodeCount": 8 },
                    "userAccountCredentials": { "adminUserPassword": "hunter2-new" }
                } }
            })),
        );
        live.resources.insert("t".into(), LiveState::Absent);
        let drift = find(&model, &state, &live);
        assert_eq!(drift.len(), 2, "{drift:?}");
        assert_eq!(drift[0].key, "c");
        let paths: Vec<&str> = drift[0].changes.iter().map(|c| c.path.as_str()).collect();
        assert_eq!(paths, ["properties.properties.scaleSettings.maxNodeCount"]);
        assert_eq!(
            (&drift[0].changes[0].old, &drift[0].changes[0].new),
            (&json!(4), &json!(8))
        );
        assert!(drift[1].deleted && drift[1].key == "t");
        let text = serde_json::to_string(&drift).unwrap();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!text.contains("added-by-policy"), "{text}");
    }
}
