//! Reading live state: every managed and `existing:` resource (and every resource the state
//! record owns) is read from ARM in parallel, bounded by the client's throttling. Subnets come
//! from their VNet's body, which holds them all, so a VNet costs one read however many subnets
//! it has.

use crate::state::StateRecord;
use futures_util::stream::{self, StreamExt};
use moat_arm::{Arm, ArmError};
use moat_model::kinds::Scope;
use moat_model::{Kind, Model, json};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// What ARM says about one resource.
#[derive(Clone, Debug, PartialEq)]
pub enum LiveState {
    /// 404.
    Absent,
    /// The resource as ARM returned it.
    Present(Value),
    /// Reading failed after retries (a 403 behind a firewall, a 5xx or 429 that did not
    /// clear, a transport error); the message names ARM's status, code, message and request
    /// id, or the transport error. A plan holding one is incomplete and cannot be applied.
    Unreadable(String),
}

impl LiveState {
    /// The body, when present.
    pub fn body(&self) -> Option<&Value> {
        match self {
            LiveState::Present(v) => Some(v),
            _ => None,
        }
    }
}

/// Live state by resource key.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Live {
    /// By key.
    pub resources: BTreeMap<String, LiveState>,
    /// Keys of absent resources whose name is held by a soft-deleted one (key vaults: the
    /// kind's `soft_delete` in the registry).
    pub soft_deleted: BTreeSet<String>,
    /// GET requests sent.
    pub requests: usize,
}

struct Target {
    key: String,
    id: String,
    kind: Kind,
    location: Option<String>,
}

/// Reads everything `model` and `state` name. Only transport-level failures of the whole read
/// are `Err`; a resource that cannot be read is [`LiveState::Unreadable`].
pub async fn read_live(
    arm: &dyn Arm,
    model: &Model,
    state: &StateRecord,
    parallelism: usize,
) -> Result<Live, ArmError> {
    let mut targets: BTreeMap<String, Target> = BTreeMap::new();
    // Children read from their parent's body: (key, parent key, name, URL segment).
    let mut subnets: Vec<(String, String, String, &'static str)> = Vec::new();
    for r in &model.resources {
        if let Some((parent_kind, segment)) = in_parent(r.kind) {
            let parent = match r.parent.clone() {
                Some(p) => p,
                // A subnet of its own in a network named by ID: read the network under a key
                // of its own.
                None => parent_target(&mut targets, &r.key, &r.id, parent_kind, segment),
            };
            subnets.push((r.key.clone(), parent, r.name.value.clone(), segment));
            continue;
        }
        targets.insert(
            r.key.clone(),
            Target {
                key: r.key.clone(),
                id: r.id.clone(),
                kind: r.kind,
                location: r.location.as_ref().map(|l| l.value.clone()),
            },
        );
    }
    for (key, rs) in &state.resources {
        if targets.contains_key(key) || subnets.iter().any(|(k, _, _, _)| k == key) {
            continue;
        }
        if let Some((parent_kind, segment)) = in_parent(rs.kind) {
            if !key.contains('/') {
                // A subnet of its own (`type: subnet`) that left the spec: its network is
                // known only by the subnet's ID.
                let name = rs.id.rsplit('/').next().unwrap_or_default().to_string();
                let parent = parent_target(&mut targets, key, &rs.id, parent_kind, segment);
                subnets.push((key.clone(), parent, name, segment));
                continue;
            }
            if let Some((parent, name)) = key.split_once('/') {
                subnets.push((key.clone(), parent.to_string(), name.to_string(), segment));
                if !targets.contains_key(parent)
                    && let Some(parent_id) = rs
                        .id
                        .rsplit_once(&format!("/{segment}/"))
                        .map(|(p, _)| p.to_string())
                {
                    targets.insert(
                        parent.to_string(),
                        Target {
                            key: parent.to_string(),
                            id: parent_id,
                            kind: parent_kind,
                            location: None,
                        },
                    );
                }
            }
            continue;
        }
        targets.insert(
            key.clone(),
            Target {
                key: key.clone(),
                id: rs.id.clone(),
                kind: rs.kind,
                location: None,
            },
        );
    }
    let reads = stream::iter(targets.values())
        .map(|t| async move { (t.key.clone(), arm.get(&t.id, t.kind.api_version()).await) })
        .buffer_unordered(parallelism.max(1))
        .collect::<Vec<_>>()
        .await;
    let mut live = Live {
        requests: reads.len(),
        ..Live::default()
    };
    for (key, result) in reads {
        let state = match result {
            Ok(Some(body)) => LiveState::Present(body),
            Ok(None) => LiveState::Absent,
            Err(e) => LiveState::Unreadable(e.to_string()),
        };
        live.resources.insert(key, state);
    }
    for (key, vnet, name, segment) in subnets {
        let state = match live.resources.get(&vnet) {
            Some(LiveState::Present(body)) => json::get(body, &format!("properties.{segment}"))
                .and_then(Value::as_array)
                .and_then(|a| {
                    a.iter().find(|s| {
                        s.get("name")
                            .and_then(Value::as_str)
                            .is_some_and(|n| n.eq_ignore_ascii_case(&name))
                    })
                })
                .map_or(LiveState::Absent, |s| LiveState::Present(s.clone())),
            Some(LiveState::Unreadable(e)) => LiveState::Unreadable(e.clone()),
            _ => LiveState::Absent,
        };
        live.resources.insert(key, state);
    }
    // A name can stay taken while a soft-deleted resource holds it (a key vault, BEHAVIOR.md
    // §5.11). These reads depend on the first round, so they are a second parallel round.
    let probes: Vec<(String, String, &'static str)> = targets
        .values()
        .filter(|t| matches!(live.resources.get(&t.key), Some(LiveState::Absent)))
        .filter_map(|t| {
            let sd = t.kind.def().soft_delete.as_ref()?;
            let loc = t.location.as_ref()?;
            let name = t.id.rsplit('/').next()?;
            let sub = t.id.split('/').nth(2)?;
            Some((
                t.key.clone(),
                (sd.probe_id)(sub, loc, name),
                t.kind.api_version(),
            ))
        })
        .collect();
    live.requests += probes.len();
    let found = stream::iter(probes)
        .map(|(key, id, api)| async move { (key, arm.get(&id, api).await) })
        .buffer_unordered(parallelism.max(1))
        .collect::<Vec<_>>()
        .await;
    for (key, result) in found {
        match result {
            Ok(Some(_)) => {
                live.soft_deleted.insert(key);
            }
            Ok(None) => {}
            // Unknown is not "free": a create without `recover` would fail on Azure's side.
            Err(e) => {
                live.resources.insert(
                    key,
                    LiveState::Unreadable(format!(
                        "cannot tell whether a soft-deleted resource holds its name: {e}"
                    )),
                );
            }
        }
    }
    Ok(live)
}

/// Adds a read of the parent of the child `id` (unless a target already reads that ID) and
/// returns the key its body is found under.
fn parent_target(
    targets: &mut BTreeMap<String, Target>,
    child_key: &str,
    id: &str,
    kind: Kind,
    segment: &str,
) -> String {
    let parent_id = id
        .rsplit_once(&format!("/{segment}/"))
        .map_or_else(String::new, |(p, _)| p.to_string());
    if let Some(t) = targets
        .values()
        .find(|t| t.id.eq_ignore_ascii_case(&parent_id))
    {
        return t.key.clone();
    }
    // Not a valid resource key (keys have no spaces), so it meets no resource's.
    let key = format!("{child_key} (network)");
    targets.insert(
        key.clone(),
        Target {
            key: key.clone(),
            id: parent_id,
            kind,
            location: None,
        },
    );
    key
}

/// For a kind read from its parent's body (a subnet), the parent's kind and the URL segment
/// that holds it (`properties.subnets`).
fn in_parent(kind: Kind) -> Option<(Kind, &'static str)> {
    match kind.def().scope {
        Scope::Child { parent, segment } if kind.def().read_in_parent => Some((parent, segment)),
        _ => None,
    }
}

/// Keys a plan must read, for tests and request accounting.
pub fn keys_read(model: &Model) -> BTreeSet<String> {
    model
        .resources
        .iter()
        .filter(|r| in_parent(r.kind).is_none())
        .map(|r| r.key.clone())
        .collect()
}

/// For every resource group the plan deletes, the IDs of what it holds that the plan does not
/// account for. Deleting a group deletes everything in it, so a resource another team put
/// there — or one Azure created on the side — must stop the plan instead of vanishing.
pub async fn foreign_in_deleted_groups(
    arm: &dyn Arm,
    plan: &crate::plan::Plan,
) -> Result<Vec<(String, Vec<String>)>, ArmError> {
    let mut known: BTreeSet<String> = plan
        .resources
        .iter()
        .map(|r| r.id.to_ascii_lowercase())
        .collect();
    let deletes_group = plan
        .resources
        .iter()
        .any(|r| r.action == crate::plan::Action::Delete && r.kind.def().guards_contents.is_some());
    // What Azure made for a resource the plan deletes (a private endpoint's NIC) goes with it.
    for r in plan.resources.iter().filter(|r| {
        deletes_group
            && r.action == crate::plan::Action::Delete
            && !r.kind.def().made_with.is_empty()
    }) {
        let Some(body) = arm.get(&r.id, &r.api_version).await? else {
            continue;
        };
        for path in r.kind.def().made_with {
            for item in json::get(&body, path)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(id) = item.get("id").and_then(Value::as_str) {
                    known.insert(id.to_ascii_lowercase());
                }
            }
        }
    }
    let mut out = Vec::new();
    for g in plan
        .resources
        .iter()
        .filter(|r| r.action == crate::plan::Action::Delete)
    {
        let Some(listing) = g.kind.def().guards_contents else {
            continue;
        };
        if g.request.is_none() {
            continue; // already gone
        }
        let Some(body) = arm
            .get(&format!("{}/{listing}", g.id), &g.api_version)
            .await?
        else {
            continue;
        };
        let foreign: Vec<String> = body
            .get("value")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| r.get("id").and_then(Value::as_str))
            .filter(|id| !known.contains(&id.to_ascii_lowercase()))
            .map(str::to_string)
            .collect();
        if !foreign.is_empty() {
            out.push((g.key.clone(), foreign));
        }
    }
    Ok(out)
}
