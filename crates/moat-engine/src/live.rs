//! Reading live state: every managed and `existing:` resource (and every resource the state
//! record owns) is read from ARM in parallel, bounded by the client's throttling. Kinds whose
//! list view carries every managed property are read with one paginated list per resource
//! group (the subscription for groups, the parent for children) instead of one GET each;
//! the rest by GET. Subnets come from their VNet's body, which holds them all, so a VNet
//! costs one read however many subnets it has.

use crate::state::StateRecord;
use futures_util::stream::{self, StreamExt};
use moat_arm::{Arm, ArmError};
use moat_model::kinds::Scope;
use moat_model::{Kind, Model, json};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashSet};

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
    read_live_with(arm, model, state, parallelism, true).await
}

/// [`read_live`], with list reads on or off (`lists: false` reads every resource by GET, as
/// moat did before; the bench compares the two).
pub async fn read_live_with(
    arm: &dyn Arm,
    model: &Model,
    state: &StateRecord,
    parallelism: usize,
    lists: bool,
) -> Result<Live, ArmError> {
    read_live_landing(arm, model, state, parallelism, lists, &mut |_| {}).await
}

/// [`read_live_with`], planning the spec's resources as their reads land
/// ([`crate::diff::EarlyPlanner`]; none for a destroy plan, which plans none of them): the
/// live state, and what [`crate::diff::plan_replacing_early`] takes to finish the plan with
/// the same `model`, `state` and `ctx`.
pub async fn read_live_planning(
    arm: &dyn Arm,
    model: &Model,
    state: &StateRecord,
    ctx: &moat_model::arm::MapContext,
    parallelism: usize,
    lists: bool,
    destroy: bool,
) -> Result<(Live, crate::diff::Early), ArmError> {
    if destroy {
        let live = read_live_with(arm, model, state, parallelism, lists).await?;
        return Ok((live, crate::diff::Early::default()));
    }
    let mut early = crate::diff::EarlyPlanner::new(model, state, ctx);
    let live = read_live_landing(arm, model, state, parallelism, lists, &mut |landed| {
        early.land(landed)
    })
    .await?;
    Ok((live, early.finish()))
}

/// What sees each read's states as it lands, before the rest of the read is in.
type Landing<'a> = &'a mut (dyn FnMut(&[(String, LiveState)]) + Send);

/// [`read_live_with`], handing `landed` the states of each GET or list as it lands (the
/// planner plans them while later pages are in flight: [`crate::diff::EarlyPlanner`]). A
/// state handed over is final; subnets, read from their network's body, and the
/// soft-delete probes of absent resources come only in the result.
async fn read_live_landing(
    arm: &dyn Arm,
    model: &Model,
    state: &StateRecord,
    parallelism: usize,
    lists: bool,
    landed: Landing<'_>,
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
    // The spec's children, by key: the record's resources are looked up here one by one.
    let spec_children: HashSet<&str> = model
        .resources
        .iter()
        .filter(|r| in_parent(r.kind).is_some())
        .map(|r| r.key.as_str())
        .collect();
    for (key, rs) in &state.resources {
        if targets.contains_key(key) || spec_children.contains(key.as_str()) {
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
    let owned = |k: &str| state.resources.contains_key(k);
    let (resources, requests) =
        read_targets(arm, targets.values(), &owned, parallelism, lists, landed).await;
    let mut live = Live {
        resources,
        requests,
        ..Live::default()
    };
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

/// One unit of the read: a GET of one resource, or one list of a scope's resources of a kind
/// (see [`list_scope`]) standing for the GETs of every target in it.
enum Job<'t> {
    Get(&'t Target),
    List {
        path: String,
        api_version: &'static str,
        targets: Vec<&'t Target>,
    },
}

/// What a job found: each target's state, or (a list that failed, or a resource the state
/// record owns that its list did not show) targets to GET after all; and the requests sent.
type Found<'t> = (Vec<(String, LiveState)>, Vec<&'t Target>, usize);

/// Reads `targets`: the kinds whose list view is complete (`KindDef::list_view_complete`)
/// with one paginated list per scope holding two or more of them, the rest with one GET
/// each, all in one stream of at most `parallelism` requests in flight (the client's read
/// budget paces them all). A resource missing from a successful list is absent — unless
/// the state record owns it (`owned`), when a GET makes sure, since a list may lag a write
/// that has just finished; a list that fails is replaced by the GETs of its targets.
/// Returns the states by key and the requests sent (each page counts).
async fn read_targets<'t>(
    arm: &dyn Arm,
    targets: impl Iterator<Item = &'t Target>,
    owned: &dyn Fn(&str) -> bool,
    parallelism: usize,
    lists: bool,
    landed: Landing<'_>,
) -> (BTreeMap<String, LiveState>, usize) {
    // By lower-cased scope and api-version: the first spelling of the path, and the targets.
    type Scopes<'t> = BTreeMap<(String, &'static str), (String, Vec<&'t Target>)>;
    let mut scopes: Scopes<'_> = BTreeMap::new();
    let mut jobs: Vec<Job<'_>> = Vec::new();
    for t in targets {
        match list_scope(t.kind, &t.id).filter(|_| lists) {
            Some(path) => scopes
                .entry((path.to_ascii_lowercase(), t.kind.api_version()))
                .or_insert_with(|| (path, Vec::new()))
                .1
                .push(t),
            None => jobs.push(Job::Get(t)),
        }
    }
    let mut lists = Vec::new();
    for ((_, api_version), (path, ts)) in scopes {
        if ts.len() < 2 {
            jobs.extend(ts.into_iter().map(Job::Get));
        } else {
            lists.push((path, api_version, ts));
        }
    }
    // The longest chains first: a list of many resources takes several pages one after
    // another, and started first, its later pages overlap the other reads instead of
    // trailing them.
    lists.sort_by_key(|(_, _, ts)| std::cmp::Reverse(ts.len()));
    let jobs: Vec<Job<'_>> = lists
        .into_iter()
        .map(|(path, api_version, targets)| Job::List {
            path,
            api_version,
            targets,
        })
        .chain(jobs)
        .collect();
    let get = |t: &'t Target| async move {
        let state = match arm.get(&t.id, t.kind.api_version()).await {
            Ok(Some(body)) => LiveState::Present(body),
            Ok(None) => LiveState::Absent,
            Err(e) => LiveState::Unreadable(e.to_string()),
        };
        (t.key.clone(), state)
    };
    let mut found = stream::iter(jobs)
        .map(|job| async move {
            match job {
                Job::Get(t) => (vec![get(t).await], Vec::new(), 1),
                Job::List {
                    path,
                    api_version,
                    targets,
                } => match arm.list(&path, api_version).await {
                    Ok(listing) => {
                        let pages = listing.as_ref().map_or(1, |l| l.pages);
                        let mut by_id: BTreeMap<String, Value> = listing
                            .map(|l| l.items)
                            .unwrap_or_default()
                            .into_iter()
                            .filter_map(|v| {
                                let id = v.get("id")?.as_str()?.to_ascii_lowercase();
                                Some((id, v))
                            })
                            .collect();
                        // Each body moves to the target that reads it; only an ID two
                        // targets read (one of them keeps a copy) is cloned.
                        let mut readers: BTreeMap<String, usize> = BTreeMap::new();
                        for t in &targets {
                            *readers.entry(t.id.to_ascii_lowercase()).or_default() += 1;
                        }
                        let mut states = Vec::new();
                        let mut again = Vec::new();
                        for t in targets {
                            let id = t.id.to_ascii_lowercase();
                            let left = readers.get_mut(&id).map_or(0, |n| {
                                *n -= 1;
                                *n
                            });
                            let body = if left == 0 {
                                by_id.remove(&id)
                            } else {
                                by_id.get(&id).cloned()
                            };
                            match body {
                                Some(v) => states.push((t.key.clone(), LiveState::Present(v))),
                                None if owned(&t.key) => again.push(t),
                                None => states.push((t.key.clone(), LiveState::Absent)),
                            }
                        }
                        (states, again, pages)
                    }
                    // The pages it did read are not known here; one request is the least.
                    Err(_) => (Vec::new(), targets, 1),
                },
            }
        })
        .buffer_unordered(parallelism.max(1));
    let mut out = BTreeMap::new();
    let mut requests = 0;
    let mut again = Vec::new();
    // Each job's states go to `landed` as they come: the other jobs stay in flight meanwhile
    // (a list asks for its next page before it parses the one it has).
    while let Some(job) = found.next().await {
        let (states, retry, n): Found<'_> = job;
        landed(&states);
        out.extend(states);
        again.extend(retry);
        requests += n;
    }
    requests += again.len();
    let second: Vec<(String, LiveState)> = stream::iter(again)
        .map(get)
        .buffer_unordered(parallelism.max(1))
        .collect()
        .await;
    landed(&second);
    out.extend(second);
    (out, requests)
}

/// The collection a resource of `kind` with ARM ID `id` is listed in, when the kind's list
/// view is complete: the subscription's groups, the group's resources of the type, or the
/// parent's children of the segment.
pub fn list_scope(kind: Kind, id: &str) -> Option<String> {
    let def = kind.def();
    if !def.list_view_complete {
        return None;
    }
    let lower = id.to_ascii_lowercase();
    match def.scope {
        Scope::Subscription => {
            let at = lower.find("/resourcegroups/")?;
            Some(format!("{}/resourcegroups", &id[..at]))
        }
        Scope::ResourceGroup => {
            let at = lower.find("/providers/")?;
            Some(format!("{}/providers/{}", &id[..at], def.arm_type))
        }
        Scope::Child { segment, .. } => {
            let (parent, _) = id.rsplit_once(&format!("/{segment}/"))?;
            Some(format!("{parent}/{segment}"))
        }
        Scope::Extension => None,
    }
}

/// One resource to read again with [`read_ids`].
#[derive(Clone, Debug)]
pub struct ReadAgain {
    /// Its key (the answer's key).
    pub key: String,
    /// Its ARM ID.
    pub id: String,
    /// Its kind.
    pub kind: Kind,
    /// It existed when the plan was made: a list that does not show it is confirmed by a GET.
    pub existed: bool,
}

/// Reads the given resources now, the way a plan does (lists where the registry allows, GETs
/// otherwise, `parallelism` requests in flight): for checking that a saved plan is still
/// current. Kinds read inside their parent's body are read through it: give the parent.
/// Returns the states by key and the requests sent.
pub async fn read_ids(
    arm: &dyn Arm,
    ids: &[ReadAgain],
    parallelism: usize,
) -> (BTreeMap<String, LiveState>, usize) {
    let targets: Vec<Target> = ids
        .iter()
        .map(|r| Target {
            key: r.key.clone(),
            id: r.id.clone(),
            kind: r.kind,
            location: None,
        })
        .collect();
    let existed: BTreeSet<&str> = ids
        .iter()
        .filter(|r| r.existed)
        .map(|r| r.key.as_str())
        .collect();
    read_targets(
        arm,
        targets.iter(),
        &|k| existed.contains(k),
        parallelism,
        true,
        &mut |_| {},
    )
    .await
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

#[cfg(test)]
mod tests {
    use super::*;
    use moat_arm::{Listing, Operation, Started, WriteRequest};
    use serde_json::json;
    use std::sync::Mutex;

    const G: &str = "/subscriptions/s/resourceGroups/g";

    /// Answers lists of NSGs from `held` (in pages of two) and GETs of anything in `held`.
    struct Lister {
        held: Vec<Value>,
        calls: Mutex<Vec<String>>,
        fail_lists: bool,
    }

    #[async_trait::async_trait]
    impl Arm for Lister {
        async fn get(&self, id: &str, _: &str) -> Result<Option<Value>, ArmError> {
            self.calls.lock().unwrap().push(format!("GET {id}"));
            Ok(self
                .held
                .iter()
                .find(|v| v["id"].as_str().is_some_and(|i| i.eq_ignore_ascii_case(id)))
                .cloned())
        }
        async fn begin(&self, _: WriteRequest) -> Result<Started, ArmError> {
            unreachable!("a read writes nothing")
        }
        async fn wait(&self, _: &Operation) -> Result<Option<Value>, ArmError> {
            unreachable!("a read waits for nothing")
        }
        async fn list(&self, path: &str, _: &str) -> Result<Option<Listing>, ArmError> {
            self.calls.lock().unwrap().push(format!("LIST {path}"));
            if self.fail_lists {
                return Err(ArmError::Config {
                    message: "no lists here".into(),
                });
            }
            let items: Vec<Value> = self
                .held
                .iter()
                .filter(|v| {
                    v["id"].as_str().is_some_and(|i| {
                        i.to_ascii_lowercase()
                            .starts_with(&format!("{}/", path.to_ascii_lowercase()))
                    })
                })
                .cloned()
                .collect();
            let pages = items.len().div_ceil(2).max(1);
            Ok(Some(Listing { items, pages }))
        }
    }

    fn target(key: &str, kind: Kind, id: String) -> Target {
        Target {
            key: key.into(),
            id,
            kind,
            location: None,
        }
    }

    fn nsg(n: &str) -> String {
        format!("{G}/providers/Microsoft.Network/networkSecurityGroups/{n}")
    }

    #[tokio::test]
    async fn a_scope_with_several_listable_resources_is_one_list_and_the_rest_are_gets() {
        let arm = Lister {
            held: ["a", "b", "c", "owned-late"]
                .iter()
                .map(|n| json!({"id": nsg(n), "name": n}))
                .chain([json!({"id": format!("{G}/providers/Microsoft.MachineLearningServices/workspaces/w")})])
                .collect(),
            calls: Mutex::new(Vec::new()),
            fail_lists: false,
        };
        // `owned-late` is left out of the list below, as a list lagging a write would.
        let mut arm = arm;
        let late = arm.held.remove(3);
        let targets = [
            target("a", Kind::NetworkSecurityGroup, nsg("a")),
            target("b", Kind::NetworkSecurityGroup, nsg("B")),
            target("gone", Kind::NetworkSecurityGroup, nsg("gone")),
            target("late", Kind::NetworkSecurityGroup, nsg("owned-late")),
            target(
                "ws",
                Kind::MlWorkspace,
                format!("{G}/providers/Microsoft.MachineLearningServices/workspaces/w"),
            ),
        ];
        let owned = |k: &str| k == "late";
        let (got, requests) =
            read_targets(&arm, targets.iter(), &owned, 8, true, &mut |_| {}).await;
        assert!(matches!(got["a"], LiveState::Present(_)));
        assert!(
            matches!(got["b"], LiveState::Present(_)),
            "IDs match case-insensitively"
        );
        assert_eq!(
            got["gone"],
            LiveState::Absent,
            "not listed, not owned: absent without a GET"
        );
        assert_eq!(got["late"], LiveState::Absent, "owned: confirmed by a GET");
        assert!(
            matches!(got["ws"], LiveState::Present(_)),
            "a kind without a complete list view is read by GET"
        );
        let calls = arm.calls.lock().unwrap().clone();
        let lists: Vec<&String> = calls.iter().filter(|c| c.starts_with("LIST")).collect();
        assert_eq!(lists.len(), 1, "{calls:?}");
        assert!(
            lists[0].ends_with("/providers/Microsoft.Network/networkSecurityGroups"),
            "{calls:?}"
        );
        let gets: Vec<&String> = calls.iter().filter(|c| c.starts_with("GET")).collect();
        assert_eq!(
            gets.len(),
            2,
            "the workspace and the owned NSG the list missed: {calls:?}"
        );
        // Pages of two: `a`, `b`, `c` are two pages, plus two GETs.
        assert_eq!(requests, 4);
        drop(late);
    }

    #[tokio::test]
    async fn a_failed_list_falls_back_to_gets() {
        let arm = Lister {
            held: vec![json!({"id": nsg("a")})],
            calls: Mutex::new(Vec::new()),
            fail_lists: true,
        };
        let targets = [
            target("a", Kind::NetworkSecurityGroup, nsg("a")),
            target("b", Kind::NetworkSecurityGroup, nsg("b")),
        ];
        let (got, requests) =
            read_targets(&arm, targets.iter(), &|_| false, 8, true, &mut |_| {}).await;
        assert!(matches!(got["a"], LiveState::Present(_)));
        assert_eq!(got["b"], LiveState::Absent);
        assert_eq!(requests, 3, "one list, then two GETs");
    }

    #[test]
    fn list_scopes_follow_the_registry() {
        assert_eq!(
            list_scope(Kind::ResourceGroup, "/subscriptions/s/resourceGroups/g").as_deref(),
            Some("/subscriptions/s/resourcegroups")
        );
        assert_eq!(
            list_scope(
                Kind::StorageAccount,
                &format!("{G}/providers/Microsoft.Storage/storageAccounts/x")
            ),
            Some(format!("{G}/providers/Microsoft.Storage/storageAccounts"))
        );
        assert_eq!(
            list_scope(
                Kind::MlWorkspace,
                &format!("{G}/providers/Microsoft.MachineLearningServices/workspaces/w")
            ),
            None
        );
    }
}
