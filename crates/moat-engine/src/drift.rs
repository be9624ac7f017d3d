//! Drift: what changed in Azure outside moat since moat last applied it (Terraform's "objects
//! have changed outside"). The state record's last-applied projection of each resource against
//! its live read, managed paths only: a tag or property moat never set is not drift. Pure, like
//! the planner; the plan carries the result in [`Plan::drift`](crate::plan::Plan::drift).

use crate::live::{Live, LiveState};
use crate::plan::{Change, Drift};
use crate::state::StateRecord;
use moat_model::{Model, arm};
use serde_json::{Value, json};

/// Every resource of `state` whose live read differs from what moat last applied, or that is
/// gone; in key order (the planner puts them in plan order). A resource that could not be read,
/// or was not read, is not judged; nor is one the spec gave another ARM ID (a new name: what
/// was read is the new resource, not the one moat applied).
pub fn find(model: &Model, state: &StateRecord, live: &Live) -> Vec<Drift> {
    let mut out = Vec::new();
    for (key, rs) in &state.resources {
        let kind = rs.kind;
        if model
            .get(key)
            .is_some_and(|r| !r.id.eq_ignore_ascii_case(&rs.id) || r.is_existing())
        {
            continue;
        }
        match live.resources.get(key) {
            Some(LiveState::Absent) => out.push(Drift {
                key: key.clone(),
                kind,
                deleted: true,
                changes: Vec::new(),
            }),
            Some(LiveState::Present(body)) => {
                let Some(applied) = rs.applied.as_object() else {
                    continue;
                };
                let now = arm::project(kind, body);
                let mut changes = Vec::new();
                for (path, was) in applied {
                    let write_only = kind.def().field(path).is_some_and(|f| f.write_only);
                    let have = match now.get(path) {
                        Some(v) => v.clone(),
                        // Azure does not return it: nothing is known to have changed.
                        None if write_only => continue,
                        None => match arm::default_of(kind, path) {
                            Some(d) => d,
                            None => continue,
                        },
                    };
                    if &have == was {
                        continue;
                    }
                    let sensitive = arm::is_sensitive(kind, path);
                    let hide = |v: Value| {
                        if sensitive && !v.is_null() {
                            json!("(sensitive)")
                        } else {
                            v
                        }
                    };
                    changes.push(Change {
                        path: path.clone(),
                        old: hide(was.clone()),
                        new: hide(have),
                        forces_replacement: false,
                        sensitive,
                        reset: false,
                    });
                }
                if !changes.is_empty() {
                    out.push(Drift {
                        key: key.clone(),
                        kind,
                        deleted: false,
                        changes,
                    });
                }
            }
            Some(LiveState::Unreadable(_)) | None => {}
        }
    }
    out
}
