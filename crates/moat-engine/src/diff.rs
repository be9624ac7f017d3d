//! The planner: desired (model), live (ARM) and last applied (state record) → [`Plan`].
//! Pure: no IO, so every rule is testable from a `Model` and a `Live` snapshot.
//!
//! The 3-way rules: a property the spec sets is compared with its live value (or Azure's
//! default when the live body leaves it out); a property the spec set last time and no longer
//! sets goes back to Azure's default; a property the spec never set is never a change. Values
//! are compared in the canonical form of [`moat_model::arm::project`].

use crate::identity;
use crate::live::{Live, LiveState};
use crate::plan::{
    Action, Change, Drift, Method, PLAN_FORMAT_VERSION, Plan, Request, ResourcePlan,
};
use crate::state::StateRecord;
use moat_model::arm::{self, MapContext, Projection};
use moat_model::kinds::Replace;
use moat_model::{Kind, Model, Resource, STACK_TAG, json, secret};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// A problem that stops the plan (the resources involved are named).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// An `existing:` resource is not there.
    #[error("`{key}` is declared `existing:` but {id} does not exist")]
    ExistingMissing {
        /// Resource key.
        key: String,
        /// ARM ID read.
        id: String,
    },
    /// The resource carries another stack's ownership tag.
    #[error("`{key}` ({id}) belongs to stack `{owner}`; moat will not change it")]
    OwnedByOtherStack {
        /// Resource key.
        key: String,
        /// ARM ID.
        id: String,
        /// The owning stack.
        owner: String,
    },
    /// A field that cannot change in place changed on a kind that cannot be replaced.
    #[error("`{key}` cannot be replaced ({why}), but {} cannot change after creation; put the old value back, or give the resource a new name", fields.iter().map(|f| format!("`{f}`")).collect::<Vec<_>>().join(", "))]
    CannotReplace {
        /// Resource key.
        key: String,
        /// The immutable paths that changed.
        fields: Vec<String>,
        /// Why replacing is impossible.
        why: String,
    },
    /// A field changed that the resource's API cannot change in place, where replacing the
    /// resource would lose more than the user asked for (a cluster Azure ML created).
    #[error(
        "`{key}`: `{path}` cannot change in place, and moat will not replace the resource for it"
    )]
    NotInPlace {
        /// Resource key.
        key: String,
        /// The changed path.
        path: String,
        /// What can make the change instead.
        hint: String,
    },
    /// The ARM ID changes (a new group or parent) but not the name, which Azure keeps for the
    /// old resource after its delete (a soft-deleted key vault): the new one cannot be created.
    #[error(
        "`{key}` cannot be re-created under {id} as its name `{name}` stays taken after the old one is deleted ({why})"
    )]
    NameHeld {
        /// Resource key.
        key: String,
        /// Its name, unchanged.
        name: String,
        /// Its new ARM ID.
        id: String,
        /// Why the name stays taken (the kind's replace policy).
        why: String,
    },
    /// `--replace` names a resource moat cannot replace.
    #[error("`{key}` cannot be replaced with `--replace`: {why}")]
    ReplaceRefused {
        /// Resource key.
        key: String,
        /// Why not.
        why: String,
        /// What to do instead.
        hint: String,
    },
    /// The resource exists and no stack owns it.
    #[error(
        "`{key}` already exists ({id}) and this stack does not own it; adopt it with `moat import SPEC {key} {id}`"
    )]
    Unowned {
        /// Resource key.
        key: String,
        /// ARM ID.
        id: String,
    },
}

impl PlanError {
    /// The key of the resource the error is about (the CLI points at its line).
    pub fn key(&self) -> &str {
        match self {
            PlanError::ExistingMissing { key, .. }
            | PlanError::OwnedByOtherStack { key, .. }
            | PlanError::CannotReplace { key, .. }
            | PlanError::NotInPlace { key, .. }
            | PlanError::ReplaceRefused { key, .. }
            | PlanError::NameHeld { key, .. }
            | PlanError::Unowned { key, .. } => key,
        }
    }

    /// What to do about it, when there is more to say than the message.
    pub fn hint(&self) -> Option<&str> {
        match self {
            PlanError::NotInPlace { hint, .. } | PlanError::ReplaceRefused { hint, .. } => {
                Some(hint)
            }
            PlanError::NameHeld { .. } => Some(
                "give it a new `name:` (a new, empty one is created and the old one deleted, recoverable until purged), or keep it where it is: put its old resource group or parent back",
            ),
            _ => None,
        }
    }
}

/// Everything the planner reads.
#[derive(Clone)]
pub struct PlanInput<'a> {
    /// Desired state.
    pub model: &'a Model,
    /// Live state.
    pub live: &'a Live,
    /// The state record (empty on a first run).
    pub state: &'a StateRecord,
    /// Mapping context (tenant).
    pub ctx: &'a MapContext,
    /// Hash of the spec and variables.
    pub spec_hash: String,
    /// Plan the deletion of everything the stack owns.
    pub destroy: bool,
}

/// `destroy --target`/`--exclude`: which of the stack's resources a destroy plan deletes
/// (DESIGN.md "The plan contract"). Empty means everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DestroyScope {
    /// Destroy these and what cannot exist without them (empty: everything).
    pub targets: Vec<String>,
    /// Leave these alone, with what needs them and what those need.
    pub excludes: Vec<String>,
}

impl DestroyScope {
    /// True when the scope is the whole stack.
    pub fn is_whole(&self) -> bool {
        self.targets.is_empty() && self.excludes.is_empty()
    }
}

/// Builds the plan, or every reason it cannot be built.
pub fn plan(input: &PlanInput<'_>) -> Result<Plan, Vec<PlanError>> {
    plan_scoped(input, &DestroyScope::default())
}

/// [`plan`], with a destroy plan restricted to `scope` (ignored unless `input.destroy`):
/// the targets and what cannot exist without them are deleted, a survivor that only refers
/// to a deleted resource is updated in place without the reference, and nothing a target
/// needs (its parent) is touched. Keys of `scope` the stack does not own select nothing.
pub fn plan_scoped(input: &PlanInput<'_>, scope: &DestroyScope) -> Result<Plan, Vec<PlanError>> {
    plan_replacing(input, scope, &[])
}

/// The reason a replacement asked for with `--replace` shows in every plan format.
pub const REPLACE_REQUESTED: &str = "requested with --replace";

/// [`plan_scoped`], with the resources keyed `replace` replaced even where nothing forces it
/// (`moat plan --replace KEY`, Terraform's `-replace`), and with them what their replacement
/// takes along (a workspace's computes, an attachment to a replaced cluster). A key the plan
/// creates anyway is just created. Keys must be the spec's (the CLI checks them first); a
/// destroy plan ignores them.
pub fn plan_replacing(
    input: &PlanInput<'_>,
    scope: &DestroyScope,
    replace: &[String],
) -> Result<Plan, Vec<PlanError>> {
    plan_replacing_early(input, scope, replace, Early::default())
}

/// The resources of a plan planned while the live read was still in flight
/// ([`EarlyPlanner`]), by key.
#[derive(Default)]
pub struct Early {
    planned: HashMap<String, Planned>,
}

impl Early {
    /// Resources planned early.
    pub fn len(&self) -> usize {
        self.planned.len()
    }

    /// True when nothing was planned early.
    pub fn is_empty(&self) -> bool {
        self.planned.is_empty()
    }
}

/// Plans each resource of the spec as its live read lands ([`crate::live::read_live_planning`]),
/// so the planner's work overlaps the reads still in flight (a list's later pages) instead of
/// following the whole read. Only a resource read as present is planned early: its state is
/// final once its read lands, and its plan reads nothing else of the live cloud (an absent
/// one may still learn that a soft-deleted resource holds its name). [`plan_replacing_early`]
/// plans the rest and checks nothing: the result is the plan [`plan_replacing`] makes.
pub struct EarlyPlanner<'a> {
    model: &'a Model,
    state: std::borrow::Cow<'a, StateRecord>,
    ctx: &'a MapContext,
    none: Live,
    early: Early,
}

impl<'a> EarlyPlanner<'a> {
    /// A planner for the plan of `model` against `state` (not for destroy plans, which plan
    /// no resource of the spec).
    pub fn new(model: &'a Model, state: &'a StateRecord, ctx: &'a MapContext) -> Self {
        // The state as the plan sees it: re-keyed by the moves the plan finds.
        let moves = identity::find_moves(model, state);
        EarlyPlanner {
            model,
            state: identity::rekeyed(state, &moves),
            ctx,
            none: Live::default(),
            early: Early::default(),
        }
    }

    /// Plans the spec's resources among `landed` that are present.
    pub fn land(&mut self, landed: &[(String, LiveState)]) {
        let input = PlanInput {
            model: self.model,
            live: &self.none,
            state: &self.state,
            ctx: self.ctx,
            spec_hash: String::new(),
            destroy: false,
        };
        for (key, live) in landed {
            let Some(r) = self.model.get(key) else {
                continue;
            };
            if matches!(live, LiveState::Present(_)) {
                self.early
                    .planned
                    .insert(key.clone(), planned_as(&input, r, live));
            }
        }
    }

    /// What was planned, for [`plan_replacing_early`].
    pub fn finish(self) -> Early {
        self.early
    }
}

/// [`plan_replacing`], with the resources of `early` planned already (by an
/// [`EarlyPlanner`] of the same model, state and context, fed the same live states).
pub fn plan_replacing_early(
    input: &PlanInput<'_>,
    scope: &DestroyScope,
    replace: &[String],
    mut early: Early,
) -> Result<Plan, Vec<PlanError>> {
    // The ARM ID is the identity: a key rename that kept it is planned against the state
    // re-keyed to the spec's keys (a move), never as a delete and a create.
    let moves = if input.destroy {
        BTreeMap::new()
    } else {
        identity::find_moves(input.model, input.state)
    };
    let rekeyed = identity::rekeyed(input.state, &moves);
    let view = PlanInput {
        state: &rekeyed,
        ..input.clone()
    };
    let input = &view;
    let model = input.model;
    let mut errors = Vec::new();
    let mut out: Vec<ResourcePlan> = Vec::with_capacity(model.resources.len());
    // The drift of the spec's resources, judged as they are planned.
    let mut judged: Vec<Drift> = Vec::new();
    let graph = model.graph();
    let order: Vec<String> = graph
        .topo_order()
        .map(|o| o.into_iter().map(str::to_string).collect())
        .unwrap_or_else(|_| model.resources.iter().map(|r| r.key.clone()).collect());
    let in_model: BTreeSet<&str> = model.resources.iter().map(|r| r.key.as_str()).collect();

    if !input.destroy {
        let resources: Vec<&Resource> = order.iter().filter_map(|k| model.get(k)).collect();
        // What was not planned early is planned now, on every core.
        let rest: Vec<&Resource> = resources
            .iter()
            .copied()
            .filter(|r| !early.planned.contains_key(&r.key))
            .collect();
        let mut rest = plan_each(input, &rest).into_iter();
        let each = resources
            .iter()
            .map(|r| match early.planned.remove(&r.key) {
                Some(p) => p,
                // The rest holds exactly the others, in this order.
                None => rest.next().unwrap_or_else(|| planned(input, r)),
            });
        let each: Vec<Planned> = each.collect();
        for (r, (planned, drift)) in resources.iter().zip(each) {
            judged.extend(drift);
            match planned {
                Ok(mut p) => {
                    if replace.contains(&r.key)
                        && let Err(e) = force_replacement(input, r, &mut p)
                    {
                        errors.push(e);
                    }
                    out.push(p)
                }
                Err(e) => errors.push(e),
            }
        }
        errors.extend(identity::plan_id_changes(
            model,
            input.state,
            input.ctx,
            &mut out,
        ));
        cascade_replacements(input, &mut out);
        identity::mark_moves(&moves, &mut out);
    }
    // Deletes: owned resources that left the spec (or everything, for destroy), dependents
    // first.
    let mut deletes: Vec<ResourcePlan> = Vec::new();
    let mut owned: BTreeMap<String, (String, Kind, Vec<String>)> = BTreeMap::new();
    for (key, rs) in &input.state.resources {
        owned.insert(key.clone(), (rs.id.clone(), rs.kind, rs.depends_on.clone()));
    }
    if input.destroy {
        // Resources of this spec that exist with our tag but never reached the state record
        // (a crash between the write and the record) are ours to delete too.
        for r in &model.resources {
            if r.is_existing() || owned.contains_key(&r.key) {
                continue;
            }
            if let Some(LiveState::Unreadable(e)) = input.live.resources.get(&r.key) {
                // It may be ours (a crash before the record): unknown is not "not ours".
                deletes.push(unreadable_delete(&r.key, &r.id, r.kind, e));
                continue;
            }
            let ours = match input.live.resources.get(&r.key) {
                Some(LiveState::Present(b)) if r.kind.taggable() => {
                    stack_tag(b) == Some(model.stack.value.as_str())
                }
                Some(LiveState::Present(_)) => {
                    r.parent.as_ref().is_some_and(|p| owned.contains_key(p))
                }
                _ => false,
            };
            if ours {
                let deps = r
                    .dependencies()
                    .into_iter()
                    .map(|(k, _)| k.to_string())
                    .collect();
                owned.insert(r.key.clone(), (r.id.clone(), r.kind, deps));
            }
        }
    }
    let selection =
        (input.destroy && !scope.is_whole()).then(|| destroy_selection(input, &owned, scope));
    let leaving: BTreeSet<String> = owned
        .keys()
        .filter(|k| match &selection {
            Some(sel) => sel.delete.contains(k.as_str()),
            None => input.destroy || !in_model.contains(k.as_str()),
        })
        .cloned()
        .collect();
    // Survivors that refer to a deleted resource drop the reference first (apply writes
    // every create and update before any delete).
    if let Some(sel) = &selection {
        for key in &order {
            let (Some(gone), Some(r)) = (sel.drop_refs.get(key), model.get(key)) else {
                continue;
            };
            match plan_survivor(input, r, gone) {
                Ok(Some(p)) => out.push(p),
                Ok(None) => {}
                Err(e) => errors.push(e),
            }
        }
    }
    for key in &leaving {
        let (id, kind, _) = &owned[key];
        if let Some(LiveState::Unreadable(e)) = input.live.resources.get(key) {
            // Nothing is known of it: a delete planned blind would hide the read failure.
            deletes.push(unreadable_delete(key, id, *kind, e));
            continue;
        }
        if matches!(input.live.resources.get(key), Some(LiveState::Absent)) {
            // Already gone: the record entry is dropped by apply without a request.
            deletes.push(delete_plan(key, id, *kind, Vec::new(), true, Vec::new()));
            continue;
        }
        // Delete before anything it depends on: its dependents among the leaving go first.
        let first: Vec<String> = leaving
            .iter()
            .filter(|other| *other != key && owned[*other].2.iter().any(|d| d == key))
            .cloned()
            .collect();
        let live = match input.live.resources.get(key) {
            Some(LiveState::Present(b)) => Some(b),
            _ => None,
        };
        let applied = input.state.resources.get(key).map(|s| &s.applied);
        let query = delete_query(*kind, live, applied);
        deletes.push(delete_plan(key, id, *kind, first, false, query));
    }
    // Children of a parent that is deleted too, when the parent's delete takes them along (a
    // VNet's subnets), need no request of their own.
    let parents_deleted: BTreeMap<String, (Kind, String)> = deletes
        .iter()
        .filter(|d| !d.kind.def().deletes_children.is_empty())
        .map(|d| (d.key.clone(), (d.kind, d.id.to_ascii_lowercase())))
        .collect();
    // Such a child is gone only once its parent's delete finishes, so it comes after the
    // parent (and whatever the child used — an NSG, a route table — after the child).
    // What had to go before such a child (an AKS cluster in a subnet) now has to go before
    // its parent.
    let mut moot: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in &mut deletes {
        // The parent is found by ARM ID (a compute's key says nothing of its workspace).
        let id = d.id.to_ascii_lowercase();
        if let Some((parent, (parent_kind, _))) = parents_deleted.iter().find(|(_, (k, pid))| {
            id.strip_prefix(pid.as_str())
                .is_some_and(|rest| rest.starts_with('/'))
                && k.def().deletes_children.contains(&d.kind)
        }) {
            d.request = None;
            d.reasons.push(format!(
                "deleted with its {} `{parent}`",
                noun(*parent_kind)
            ));
            let before = std::mem::replace(&mut d.depends_on, vec![parent.clone()]);
            moot.insert(d.key.clone(), before);
        }
    }
    for d in &mut deletes {
        if parents_deleted.contains_key(&d.key) {
            let inherited: Vec<String> = d
                .depends_on
                .iter()
                .filter_map(|k| moot.get(k))
                .flatten()
                .filter(|k| !moot.contains_key(*k))
                .cloned()
                .collect();
            d.depends_on.retain(|k| !moot.contains_key(k));
            for k in inherited {
                if !d.depends_on.contains(&k) {
                    d.depends_on.push(k);
                }
            }
        }
    }
    if !input.destroy {
        order_conflicts(input, &mut out, &mut deletes);
    }
    order_deletes(&mut deletes);
    out.extend(deletes);
    for r in &mut out {
        r.destructive = r.loses().is_some();
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let summary = Plan::summarize(&out);
    let unreadable = Plan::unreadable_of(&out);
    // Drift in plan order (what is not in the plan, after it, by key).
    let mut drift = if input.destroy {
        crate::drift::find(model, input.state, input.live)
    } else {
        // The rest: what the record holds that the spec no longer names.
        let mut rest =
            crate::drift::find_among(model, input.state, input.live, |k| !in_model.contains(k));
        rest.append(&mut judged);
        rest.sort_by(|a, b| a.key.cmp(&b.key));
        rest
    };
    let mut position: HashMap<&str, usize> = HashMap::with_capacity(out.len());
    for (i, r) in out.iter().enumerate() {
        position.entry(r.key.as_str()).or_insert(i);
    }
    drift.sort_by_key(|d| position.get(d.key.as_str()).copied().unwrap_or(usize::MAX));
    Ok(Plan {
        format_version: PLAN_FORMAT_VERSION,
        moat_version: env!("CARGO_PKG_VERSION").to_string(),
        stack: model.stack.value.clone(),
        subscription: model.subscription.clone(),
        spec_hash: input.spec_hash.clone(),
        spec_path: None,
        spec_file: None,
        spec_repo_file: None,
        variables: BTreeMap::new(),
        targets: if input.destroy {
            scope.targets.clone()
        } else {
            Vec::new()
        },
        excludes: if input.destroy {
            scope.excludes.clone()
        } else {
            Vec::new()
        },
        replace: if input.destroy {
            Vec::new()
        } else {
            replace.to_vec()
        },
        state_serial: input.state.serial,
        state_lineage: input.state.lineage.clone(),
        destroy: input.destroy,
        resources: out,
        summary,
        unreadable,
        drift,
        keys: model
            .resources
            .iter()
            .map(|r| (r.key.clone(), r.id.clone()))
            .chain(
                input
                    .state
                    .resources
                    .iter()
                    .map(|(k, r)| (k.clone(), r.id.clone())),
            )
            .fold(BTreeMap::new(), |mut m, (k, id)| {
                m.entry(k).or_insert(id);
                m
            }),
    })
}

/// The targeted destroy over the resources the stack owns: an edge is the owner's
/// dependency (the spec's, or the state record's for a resource that left the spec), soft
/// when every reference behind it is one the kind can drop in place
/// (`KindDef::droppable_ref`) and it is neither the parent nor an explicit `depends_on`.
fn destroy_selection(
    input: &PlanInput<'_>,
    owned: &BTreeMap<String, (String, Kind, Vec<String>)>,
    scope: &DestroyScope,
) -> moat_graph::DestroySelection {
    let mut g = moat_graph::Graph::new();
    for key in owned.keys() {
        let _ = g.add_node(key.clone(), ());
    }
    let mut soft: BTreeSet<(String, String)> = BTreeSet::new();
    let mut member: BTreeSet<(String, String)> = BTreeSet::new();
    for (key, (_, _, state_deps)) in owned {
        let from_spec = input.model.get(key).filter(|r| !r.is_existing());
        let deps: Vec<String> = match from_spec {
            Some(r) => r
                .dependencies()
                .into_iter()
                .map(|(k, _)| k.to_string())
                .collect(),
            None => state_deps.clone(),
        };
        for dep in deps.iter().filter(|d| owned.contains_key(*d)) {
            let _ = g.add_edge(key, dep);
            if let Some(r) = from_spec
                && droppable(r, dep)
            {
                soft.insert((key.clone(), dep.clone()));
            }
            if let Some(r) = from_spec
                && in_group(r, dep)
            {
                member.insert((key.clone(), dep.clone()));
            }
        }
    }
    let known = |keys: &[String]| -> Vec<String> {
        keys.iter().filter(|k| g.contains(k)).cloned().collect()
    };
    let (targets, excludes) = (known(&scope.targets), known(&scope.excludes));
    if !scope.targets.is_empty() && targets.is_empty() {
        // Only keys the stack does not own: nothing to destroy.
        return moat_graph::DestroySelection::default();
    }
    let t: Vec<&str> = targets.iter().map(String::as_str).collect();
    let x: Vec<&str> = excludes.iter().map(String::as_str).collect();
    let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
    g.select_for_targeted_destroy(
        &t,
        &x,
        |a, b| soft.contains(&pair(a, b)),
        |a, b| member.contains(&pair(a, b)),
    )
    .unwrap_or_default()
}

/// True when `dep` is only the resource group `r` sits in (its scope reference, and nothing
/// else of `r` names it): keeping the group with `--exclude` does not keep `r`.
fn in_group(r: &Resource, dep: &str) -> bool {
    let def = r.kind.def();
    let Some(scope) = def
        .scope_ref
        .filter(|_| def.scope == moat_model::kinds::Scope::ResourceGroup)
    else {
        return false;
    };
    r.refs
        .iter()
        .filter(|x| x.target.as_deref() == Some(dep))
        .all(|x| x.field == scope.field)
        && r.reference(scope.field)
            .is_some_and(|x| x.target.as_deref() == Some(dep))
        && !r.depends_on.iter().any(|d| d.value == dep)
}

/// True when `r` only refers to `dep`: every reference to it is droppable in place, and it
/// is neither `r`'s parent nor named in its `depends_on`.
fn droppable(r: &Resource, dep: &str) -> bool {
    let def = r.kind.def();
    let mut refs = r
        .refs
        .iter()
        .filter(|x| x.target.as_deref() == Some(dep))
        .peekable();
    refs.peek().is_some()
        && refs.all(|x| (def.droppable_ref)(&x.field))
        && r.parent.as_deref() != Some(dep)
        && !r.depends_on.iter().any(|d| d.value == dep)
}

/// The in-place update of a survivor of a targeted destroy that drops its references to
/// the deleted `gone`: the spec's resource without those references, planned as usual.
/// `None` when that changes nothing (the reference is not there any more, or the resource
/// is not either).
fn plan_survivor(
    input: &PlanInput<'_>,
    r: &Resource,
    gone: &BTreeSet<String>,
) -> Result<Option<ResourcePlan>, PlanError> {
    let mut without = r.clone();
    without
        .refs
        .retain(|x| !x.target.as_ref().is_some_and(|t| gone.contains(t)));
    let mut p = plan_resource(input, &without)?;
    match p.action {
        Action::Update | Action::Replace | Action::Unreadable => {}
        // A destroy plan finds no moves; a survivor that writes nothing is not listed.
        Action::NoOp | Action::Move | Action::Create | Action::Read | Action::Delete => {
            return Ok(None);
        }
    }
    p.depends_on.retain(|d| !gone.contains(d));
    let names: Vec<String> = gone.iter().map(|k| format!("`{k}`")).collect();
    p.reasons.push(format!(
        "drops its reference to {}, which is destroyed",
        names.join(", ")
    ));
    Ok(Some(p))
}

/// Turns `p` into the replacement `--replace` asked for: a full PUT of the desired body after
/// the delete. A resource the plan creates (or could not read) stays as planned; one moat
/// only reads, or whose kind is never replaced (a key vault keeps its name while deleted), is
/// an error.
fn force_replacement(
    input: &PlanInput<'_>,
    r: &Resource,
    p: &mut ResourcePlan,
) -> Result<(), PlanError> {
    if r.is_existing() {
        return Err(PlanError::ReplaceRefused {
            key: r.key.clone(),
            why: "it is declared `existing:`, so moat only reads it".into(),
            hint: format!("drop `--replace {}`", r.key),
        });
    }
    if let Replace::Refused(why) = r.kind.def().replace {
        return Err(PlanError::ReplaceRefused {
            key: r.key.clone(),
            why: why.into(),
            hint: format!(
                "drop `--replace {}`; to start over with a new one, give it a new `name:`",
                r.key
            ),
        });
    }
    match p.action {
        Action::NoOp | Action::Update | Action::Replace | Action::Move => {}
        Action::Create | Action::Unreadable | Action::Read | Action::Delete => return Ok(()),
    }
    if p.action != Action::Replace {
        p.action = Action::Replace;
        let live = match input.live.resources.get(&r.key) {
            Some(LiveState::Present(b)) => Some(b),
            _ => None,
        };
        let applied = input.state.resources.get(&r.key).map(|s| &s.applied);
        p.request = Some(Request {
            method: Method::Put,
            body: Some(arm::request_body(input.model, r, input.ctx)),
            // The DELETE it implies detaches an attached AKS compute.
            query: replace_query(r.kind, live, applied),
        });
    }
    p.reasons.push(REPLACE_REQUESTED.into());
    Ok(())
}

/// A replaced resource takes along what cannot outlive it: its children (computes of a
/// workspace) and the AKS computes attached to a replaced cluster, whose attachment would
/// otherwise point at a cluster that no longer exists. `order` is topological, so one pass
/// reaches every level.
fn cascade_replacements(input: &PlanInput<'_>, out: &mut [ResourcePlan]) {
    let mut replaced: BTreeSet<String> = out
        .iter()
        .filter(|p| p.action == Action::Replace)
        .map(|p| p.key.clone())
        .collect();
    for p in out.iter_mut() {
        if !matches!(p.action, Action::NoOp | Action::Update) {
            continue;
        }
        let Some(r) = input.model.get(&p.key) else {
            continue;
        };
        let cause = r
            .parent
            .as_ref()
            .filter(|k| replaced.contains(*k))
            .cloned()
            .or_else(|| {
                r.kind
                    .def()
                    .replaced_with
                    .iter()
                    .filter_map(|field| r.reference(field).and_then(|c| c.target.clone()))
                    .find(|k| replaced.contains(k))
            });
        let Some(cause) = cause else { continue };
        p.action = Action::Replace;
        p.reasons.push(format!("`{cause}` is replaced"));
        let body = arm::request_body(input.model, r, input.ctx);
        let live = match input.live.resources.get(&p.key) {
            Some(LiveState::Present(b)) => Some(b),
            _ => None,
        };
        let applied = input.state.resources.get(&p.key).map(|s| &s.applied);
        p.request = Some(Request {
            method: Method::Put,
            body: Some(body),
            query: replace_query(r.kind, live, applied),
        });
        replaced.insert(p.key.clone());
    }
}

/// The parent part of an ARM ID (everything but the last `type/name` pair), lower-cased.
fn parent_of(id: &str) -> String {
    let lower = id.to_ascii_lowercase();
    let mut parts = lower.rsplitn(3, '/');
    let _ = (parts.next(), parts.next());
    parts.next().unwrap_or_default().to_string()
}

/// Creates that Azure cannot hold beside a resource the plan deletes — a renamed subnet whose
/// range overlaps the old one's (the kind's `conflicts`), a name unique across Azure taken by
/// the old one under another key — follow that delete instead of preceding it: the old one is
/// deleted first (`delete_first`: apply deletes it before the creates, not after them), and
/// before it whatever still uses it: a replacement of a user (an AKS cluster in the subnet)
/// deletes its old self first, and a user that leaves the spec is deleted first too. A user
/// that only refers to it (a firewall entry) is updated in place afterwards, as before.
fn order_conflicts(input: &PlanInput<'_>, out: &mut [ResourcePlan], deletes: &mut [ResourcePlan]) {
    let applied_of = |key: &str| -> Projection {
        input
            .state
            .resources
            .get(key)
            .and_then(|s| s.applied.as_object())
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    };
    let mut early: Vec<usize> = Vec::new();
    for c in out.iter_mut().filter(|c| c.action == Action::Create) {
        let def = c.kind.def();
        let desired: Projection = c.applied.clone().unwrap_or_default();
        for (i, d) in deletes.iter_mut().enumerate() {
            if d.kind != c.kind || d.request.is_none() || d.action != Action::Delete {
                continue;
            }
            let (old_name, new_name) =
                (identity::last_segment(&d.id), identity::last_segment(&c.id));
            let why = if def.name_rule.global && old_name.eq_ignore_ascii_case(new_name) {
                Some(format!(
                    "its name `{new_name}` is unique across Azure and `{}` holds it",
                    d.key
                ))
            } else if parent_of(&d.id) == parent_of(&c.id) {
                def.conflicts.and_then(|f| f(&desired, &applied_of(&d.key)))
            } else {
                None
            };
            let Some(why) = why else { continue };
            c.reasons
                .push(format!("created once `{}` is deleted: {why}", d.key));
            if !c.depends_on.contains(&d.key) {
                c.depends_on.push(d.key.clone());
            }
            if !d.delete_first {
                d.delete_first = true;
                d.reasons.push(format!(
                    "deleted before `{}` is created, not after: {why}",
                    c.key
                ));
                early.push(i);
            }
        }
    }
    // What uses an early delete must be gone before it.
    while let Some(i) = early.pop() {
        let gone = deletes[i].key.clone();
        let uses = |key: &str| {
            input
                .state
                .resources
                .get(key)
                .is_some_and(|s| s.depends_on.contains(&gone))
        };
        let mut first: Vec<String> = Vec::new();
        for u in out
            .iter_mut()
            .filter(|u| u.action == Action::Replace && uses(&u.key))
        {
            if !u.delete_first {
                u.delete_first = true;
                u.reasons.push(format!(
                    "it uses `{gone}`: its old self is deleted before `{gone}` is, and the new one created after what it needs now"
                ));
            }
            first.push(u.key.clone());
        }
        for (j, d) in deletes.iter_mut().enumerate() {
            if d.key != gone && d.action == Action::Delete && uses(&d.key) {
                if !d.delete_first && d.request.is_some() {
                    d.delete_first = true;
                    d.reasons
                        .push(format!("deleted before `{gone}`, which it uses"));
                    early.push(j);
                }
                first.push(d.key.clone());
            }
        }
        let d = &mut deletes[i];
        for k in first {
            if !d.depends_on.contains(&k) {
                d.depends_on.push(k);
            }
        }
    }
}

fn delete_plan(
    key: &str,
    id: &str,
    kind: Kind,
    depends_on: Vec<String>,
    gone: bool,
    query: Vec<(String, String)>,
) -> ResourcePlan {
    let mut reasons = Vec::new();
    if gone {
        reasons.push("already deleted outside moat; only the state record changes".to_string());
    }
    ResourcePlan {
        key: key.to_string(),
        kind,
        id: id.to_string(),
        api_version: kind.api_version().to_string(),
        action: Action::Delete,
        reasons,
        changes: Vec::new(),
        depends_on,
        lock_group: kind.lock_group(key),
        request: (!gone).then(|| Request {
            method: Method::Delete,
            body: None,
            query,
        }),
        live_etag: None,
        applied: None,
        destructive: false,
        moved_from: None,
        replaces: None,
        delete_first: false,
    }
}

/// An owned resource that should be deleted but could not be read: listed, never written.
fn unreadable_delete(key: &str, id: &str, kind: Kind, error: &str) -> ResourcePlan {
    let mut p = delete_plan(key, id, kind, Vec::new(), true, Vec::new());
    p.action = Action::Unreadable;
    p.reasons = vec![error.to_string()];
    p.request = None;
    p
}

/// Orders deletes dependents first, ties by key: a delete's `depends_on` are the deletes that
/// must go before it, which in graph terms are its dependents, so this is the graph's
/// reverse order. (A cycle cannot come from acyclic records; should one appear, the order is
/// left as it is and the apply walker reports the cycle.)
fn order_deletes(deletes: &mut Vec<ResourcePlan>) {
    let mut g = moat_graph::Graph::new();
    for d in deletes.iter() {
        let _ = g.add_node(d.key.clone(), ());
    }
    for d in deletes.iter() {
        for first in &d.depends_on {
            // `first` goes before `d`: it depends on `d` in the graph's sense.
            let _ = g.add_edge(first, &d.key);
        }
    }
    let Ok(order) = g.reverse_order() else { return };
    let rank: BTreeMap<&str, usize> = order.iter().enumerate().map(|(i, k)| (*k, i)).collect();
    let mut sorted = std::mem::take(deletes);
    sorted.sort_by_key(|d| rank.get(d.key.as_str()).copied().unwrap_or(usize::MAX));
    *deletes = sorted;
}

/// The query a kind's DELETE carries (an ML compute must say what happens to what it runs
/// on: detach would leave the cluster behind), given what is known of the resource: its live
/// body and its last applied projection.
pub(crate) fn delete_query(
    kind: Kind,
    live: Option<&Value>,
    applied: Option<&Value>,
) -> Vec<(String, String)> {
    kind.def()
        .delete_query_for(live, applied)
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A replacement's PUT request carries the query of its implied DELETE when that depends on
/// the resource (an attached AKS compute is detached): apply sends exactly it. Empty for the
/// kinds whose DELETE query is always the same.
pub(crate) fn replace_query(
    kind: Kind,
    live: Option<&Value>,
    applied: Option<&Value>,
) -> Vec<(String, String)> {
    if kind.def().delete_query_of.is_some() {
        delete_query(kind, live, applied)
    } else {
        Vec::new()
    }
}

/// The query of the DELETE a replacement implies: the one its plan carries, else the kind's.
pub(crate) fn implied_delete_query(r: &ResourcePlan) -> Vec<(String, String)> {
    match r.request.as_ref().map(|q| &q.query) {
        Some(q) if !q.is_empty() => q.clone(),
        _ => delete_query(r.kind, None, None),
    }
}

/// `virtual network` for `virtual_network`, `workspace` for `ml_workspace`, for reasons
/// written in words.
fn noun(kind: Kind) -> String {
    kind.word().trim_start_matches("ml_").replace('_', " ")
}

fn stack_tag(body: &Value) -> Option<&str> {
    body.get("tags")
        .and_then(|t| t.get(STACK_TAG))
        .and_then(Value::as_str)
}

fn etag(body: &Value) -> Option<String> {
    body.get("etag").and_then(Value::as_str).map(str::to_string)
}

/// [`planned`] of each of `resources`, in their order, on every core for a large stack
/// (each resource's plan reads only the input): the same result as one thread's.
fn plan_each(input: &PlanInput<'_>, resources: &[&Resource]) -> Vec<Planned> {
    plan_on(input, resources, crate::par::threads_for(resources.len()))
}

/// [`plan_each`] on `threads` threads.
fn plan_on(input: &PlanInput<'_>, resources: &[&Resource], threads: usize) -> Vec<Planned> {
    crate::par::map_on(resources, threads, |r| planned(input, r))
}

/// The plan of the resource `r` (without its drift).
fn plan_resource(input: &PlanInput<'_>, r: &Resource) -> Result<ResourcePlan, PlanError> {
    planned(input, r).0
}

/// The plan of the resource `r` and its drift ([`crate::drift`]), judged with the live
/// projection the plan made (a drift pass of its own would project every live body twice).
fn planned(input: &PlanInput<'_>, r: &Resource) -> Planned {
    // Borrowed, never cloned: a live body is the largest value a plan reads.
    let live = input
        .live
        .resources
        .get(&r.key)
        .unwrap_or(&LiveState::Absent);
    planned_as(input, r, live)
}

/// [`planned`], with `r` read as `live`.
fn planned_as(input: &PlanInput<'_>, r: &Resource, live: &LiveState) -> Planned {
    let mut now = None;
    let plan = plan_projecting(input, r, live, &mut now);
    let drift = input
        .state
        .resources
        .get(&r.key)
        .and_then(|rs| crate::drift::judged(Some(r), &r.key, rs, live, now.as_ref()));
    (plan, drift)
}

/// A resource's plan and its drift.
type Planned = (Result<ResourcePlan, PlanError>, Option<Drift>);

/// The plan of the resource `r`, read as `live`; the live projection it made is left in
/// `now`.
fn plan_projecting(
    input: &PlanInput<'_>,
    r: &Resource,
    live: &LiveState,
    now: &mut Option<Projection>,
) -> Result<ResourcePlan, PlanError> {
    let model = input.model;
    let depends_on: Vec<String> = r
        .dependencies()
        .into_iter()
        .map(|(k, _)| k.to_string())
        .collect();
    let mut p = ResourcePlan {
        key: r.key.clone(),
        kind: r.kind,
        id: r.id.clone(),
        api_version: r.kind.api_version().to_string(),
        action: Action::NoOp,
        reasons: Vec::new(),
        changes: Vec::new(),
        depends_on,
        lock_group: r.kind.lock_group(&r.key),
        request: None,
        live_etag: live.body().and_then(etag),
        applied: None,
        destructive: false,
        moved_from: None,
        replaces: None,
        delete_first: false,
    };
    if r.is_existing() {
        return match live {
            LiveState::Absent => Err(PlanError::ExistingMissing {
                key: r.key.clone(),
                id: r.id.clone(),
            }),
            LiveState::Unreadable(e) => {
                p.action = Action::Unreadable;
                p.reasons.push(e.clone());
                Ok(p)
            }
            LiveState::Present(_) => {
                p.action = Action::Read;
                Ok(p)
            }
        };
    }
    let body = arm::request_body(model, r, input.ctx);
    // Secrets compare by fingerprint: the body holds their markers, the projection (and so
    // the plan's changes and the state's last-applied record) their keyed fingerprints.
    let desired = secret::fingerprinted(arm::project(r.kind, &body), &input.ctx.fingerprints);
    let last: Option<Projection> = input
        .state
        .resources
        .get(&r.key)
        .and_then(|s| s.applied.as_object())
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect());
    match live {
        LiveState::Unreadable(e) => {
            p.action = Action::Unreadable;
            p.reasons.push(e.clone());
        }
        LiveState::Absent => {
            p.action = Action::Create;
            p.changes = desired
                .iter()
                .map(|(k, v)| Change {
                    path: k.clone(),
                    old: Value::Null,
                    new: shown(v, json::get(&body, k)),
                    forces_replacement: false,
                    sensitive: arm::is_sensitive(r.kind, k),
                    reset: false,
                })
                .collect();
            let mut body = body;
            if let Some(sd) = &r.kind.def().soft_delete
                && input.live.soft_deleted.contains(&r.key)
            {
                json::set(&mut body, sd.recover.0, json!(sd.recover.1));
                p.reasons.push(sd.reason.into());
            }
            p.request = Some(Request {
                method: Method::Put,
                body: Some(body),
                query: Vec::new(),
            });
        }
        LiveState::Present(live_body) => {
            if r.kind.taggable() {
                match stack_tag(live_body) {
                    Some(owner) if owner != model.stack.value => {
                        return Err(PlanError::OwnedByOtherStack {
                            key: r.key.clone(),
                            id: r.id.clone(),
                            owner: owner.to_string(),
                        });
                    }
                    None if !input.state.resources.contains_key(&r.key) => {
                        return Err(PlanError::Unowned {
                            key: r.key.clone(),
                            id: r.id.clone(),
                        });
                    }
                    _ => {}
                }
            }
            let live_proj = now.insert(arm::project(r.kind, live_body));
            p.changes = diff(r.kind, &desired, live_proj, last.as_ref());
            for c in &mut p.changes {
                c.old = shown(&c.old, json::get(live_body, &c.path));
                c.new = shown(&c.new, json::get(&body, &c.path));
            }
            // A resource whose last operation failed matches the spec on paper but is not
            // usable; ARM's remedy is to PUT it again, so the plan does (a perpetual no-op
            // would leave a failed apply unfinishable).
            let failed = json::get(live_body, "properties.provisioningState")
                .and_then(Value::as_str)
                .is_some_and(|s| s.eq_ignore_ascii_case("Failed"));
            if p.changes.is_empty() && failed {
                p.action = Action::Update;
                p.reasons.push(
                    "its last operation failed (provisioningState `Failed`): it is written again"
                        .into(),
                );
                let update = update_body(r.kind, body, live_body, &p.changes);
                p.request = Some(Request {
                    method: Method::Put,
                    body: Some(update),
                    query: Vec::new(),
                });
            } else if p.changes.is_empty() {
                p.action = Action::NoOp;
            } else if let Some((c, hint)) = p.changes.iter().find_map(|c| {
                r.kind
                    .def()
                    .field(&c.path)
                    .and_then(|f| f.refused)
                    .or_else(|| r.kind.def().refused_for.and_then(|f| f(r, &c.path)))
                    .map(|h| (c, h))
            }) {
                // The change is real, but neither an in-place write nor a replacement makes
                // it the way the user means: say what can (the plan must not claim "No
                // changes", nor drop a cluster and its services for a scale-out).
                return Err(PlanError::NotInPlace {
                    key: r.key.clone(),
                    path: c.path.clone(),
                    hint: hint.into(),
                });
            } else if p.changes.iter().any(|c| c.forces_replacement) {
                if let Replace::Refused(why) = r.kind.def().replace {
                    // A replacement that can never converge (a deleted vault keeps its name):
                    // refuse it while nothing is touched.
                    let fields: Vec<String> = p
                        .changes
                        .iter()
                        .filter(|c| c.forces_replacement)
                        .map(|c| c.path.clone())
                        .collect();
                    return Err(PlanError::CannotReplace {
                        key: r.key.clone(),
                        fields,
                        why: why.into(),
                    });
                }
                p.action = Action::Replace;
                for c in p.changes.iter().filter(|c| c.forces_replacement) {
                    p.reasons
                        .push(format!("`{}` cannot change in place", c.path));
                }
                let applied = input.state.resources.get(&r.key).map(|s| &s.applied);
                p.request = Some(Request {
                    method: Method::Put,
                    body: Some(body),
                    query: replace_query(r.kind, Some(live_body), applied),
                });
            } else {
                p.action = Action::Update;
                let update = update_body(r.kind, body, live_body, &p.changes);
                // A reset shows the value the PUT sends (`Enabled`), not its canonical form.
                for c in p.changes.iter_mut().filter(|c| c.reset && !c.sensitive) {
                    c.new = shown(&c.new, json::get(&update, &c.path));
                }
                p.request = Some(Request {
                    method: Method::Put,
                    body: Some(update),
                    query: Vec::new(),
                });
            }
        }
    }
    // What the state records once the write lands: the desired projection, moved (not
    // copied) now that the changes are drawn from it, without a secret that has no
    // fingerprint to compare by.
    if !matches!(p.action, Action::Unreadable) {
        p.applied = Some(
            desired
                .into_iter()
                .filter(|(k, v)| !arm::is_sensitive(r.kind, k) || secret::is_fingerprint(v))
                .collect(),
        );
    }
    // A rotated secret: its fingerprint moved (the plan says so, and never shows a value).
    if matches!(p.action, Action::Update | Action::Replace) {
        for c in p.changes.iter().filter(|c| c.sensitive && !c.reset) {
            p.reasons
                .push(format!("secret changed: `{}` (value not shown)", c.path));
        }
    }
    // Secrets never reach a rendered plan, the JSON one included (Change::old's contract).
    for c in p.changes.iter_mut().filter(|c| c.sensitive) {
        for v in [&mut c.old, &mut c.new] {
            if !v.is_null() {
                *v = json!("(sensitive)");
            }
        }
    }
    Ok(p)
}

/// What a plan shows for a value: the body's own spelling (`Standard_LRS`, IDs in their
/// casing) where it is a plain value, the canonical form where it is a folded set or object.
/// A folded set of names (service endpoints, firewall subnets) shows each member as the body
/// spells it, so the plan never shows `microsoft.storage` for what the spec wrote
/// `Microsoft.Storage`.
fn shown(canonical: &Value, raw: Option<&Value>) -> Value {
    match (canonical, raw) {
        (Value::Object(_), _) | (_, None) => canonical.clone(),
        (_, Some(Value::Object(o))) if o.contains_key("id") => {
            o.get("id").cloned().unwrap_or(Value::Null)
        }
        (_, Some(Value::Object(_))) => canonical.clone(),
        (Value::Array(members), Some(Value::Array(items)))
            if items.iter().any(Value::is_object) =>
        {
            let mut spellings = Vec::new();
            strings_in(&Value::Array(items.clone()), &mut spellings);
            Value::Array(
                members
                    .iter()
                    .map(|m| match m.as_str() {
                        Some(c) => spellings
                            .iter()
                            .find(|s| s.eq_ignore_ascii_case(c))
                            .map_or_else(|| m.clone(), |s| Value::String(s.clone())),
                        None => m.clone(),
                    })
                    .collect(),
            )
        }
        (_, Some(raw)) => raw.clone(),
    }
}

fn strings_in(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|x| strings_in(x, out)),
        Value::Object(m) => m.values().for_each(|x| strings_in(x, out)),
        _ => {}
    }
}

/// Compares desired with live under the 3-way rules.
pub fn diff(
    kind: Kind,
    desired: &Projection,
    live: &Projection,
    last: Option<&Projection>,
) -> Vec<Change> {
    let mut changes = Vec::new();
    for (path, want) in desired {
        let write_only = kind.def().field(path).is_some_and(|f| f.write_only);
        let have = match live.get(path) {
            Some(v) => v.clone(),
            // Azure does not return it: the last applied value is the best knowledge of it,
            // and with none (a record from before moat managed it) nothing is known to differ.
            None if write_only => match last.and_then(|l| l.get(path)) {
                Some(v) => v.clone(),
                None => continue,
            },
            None => arm::default_of(kind, path).unwrap_or(Value::Null),
        };
        if &have != want {
            changes.push(Change {
                path: path.clone(),
                old: have,
                new: want.clone(),
                forces_replacement: arm::is_immutable(kind, path),
                sensitive: arm::is_sensitive(kind, path),
                reset: false,
            });
        }
    }
    if let Some(last) = last {
        for path in last.keys().filter(|p| !desired.contains_key(*p)) {
            let Some(default) = arm::default_of(kind, path) else {
                continue;
            };
            let have = live.get(path).cloned().unwrap_or_else(|| default.clone());
            if have != default {
                changes.push(Change {
                    path: path.clone(),
                    old: have,
                    new: default,
                    forces_replacement: arm::is_immutable(kind, path),
                    sensitive: arm::is_sensitive(kind, path),
                    reset: true,
                });
            }
        }
    }
    changes.sort_by(|a, b| a.path.cmp(&b.path));
    changes
}

/// The PUT body for an in-place update: the desired body, fields leaving the spec reset to
/// Azure's default, and what a full-replacement PUT would otherwise drop carried over from live.
fn update_body(kind: Kind, mut body: Value, live: &Value, changes: &[Change]) -> Value {
    let resets: BTreeSet<&str> = changes
        .iter()
        .filter(|c| c.reset)
        .map(|c| c.path.as_str())
        .collect();
    for c in changes.iter().filter(|c| c.reset) {
        if c.path.starts_with("tags.") {
            continue; // tags are replaced whole by the PUT
        }
        match arm_value(&c.path, &c.new) {
            Some(v) => json::set(&mut body, &c.path, v),
            None => {
                json::remove(&mut body, &c.path);
            }
        }
    }
    for path in arm::carry_over(kind) {
        if resets.contains(path) || json::get(&body, path).is_some() {
            continue;
        }
        if let Some(v) = json::get(live, path).filter(|v| !v.is_null()) {
            json::set(&mut body, path, strip_read_only(v.clone()));
        }
    }
    body
}

/// The ARM spelling of a canonical default (canonical values are lowercased).
fn arm_value(path: &str, canonical: &Value) -> Option<Value> {
    match canonical {
        Value::Null => None,
        Value::Object(m) if m.is_empty() => Some(json!([])),
        Value::Array(a) if path.ends_with(".bypass") => {
            let words: Vec<String> = a
                .iter()
                .filter_map(Value::as_str)
                .map(|s| {
                    if s == "azureservices" {
                        "AzureServices".to_string()
                    } else {
                        capitalize(s)
                    }
                })
                .collect();
            Some(json!(words.join(", ")))
        }
        Value::String(s) => Some(json!(capitalize(s))),
        other => Some(other.clone()),
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn strip_read_only(mut v: Value) -> Value {
    match &mut v {
        Value::Object(m) => {
            m.remove("provisioningState");
            m.remove("etag");
            for (_, x) in m.iter_mut() {
                *x = strip_read_only(x.take());
            }
        }
        Value::Array(a) => {
            for x in a.iter_mut() {
                *x = strip_read_only(x.take());
            }
        }
        _ => {}
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proj(pairs: &[(&str, Value)]) -> Projection {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn a_plan_on_several_threads_is_the_plan_on_one() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/secure-ml-workspace.yaml"
        ))
        .expect("the example");
        let file = moat_spec::source_from_bytes("spec.yaml", text.into_bytes())
            .unwrap_or_else(|_| panic!("a spec"));
        let (spec, _) = moat_spec::load(&file, &moat_spec::VarOverrides::default(), &|_| None);
        let (model, diags) =
            moat_model::resolve(&spec.expect("parsed"), &moat_model::Context::default());
        assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
        let model = model.expect("resolved");
        let (live, state) = (Live::default(), StateRecord::new("s".to_string()));
        let ctx = MapContext::default();
        let input = PlanInput {
            model: &model,
            live: &live,
            state: &state,
            ctx: &ctx,
            spec_hash: String::new(),
            destroy: false,
        };
        let resources: Vec<&Resource> = model.resources.iter().collect();
        assert!(resources.len() > 3);
        let show = |plans: Vec<Planned>| -> Vec<String> {
            plans
                .into_iter()
                .map(|(p, drift)| match p {
                    Ok(p) => serde_json::to_string(&(p, drift)).expect("a plan serialises"),
                    Err(e) => e.to_string(),
                })
                .collect()
        };
        let one = show(plan_on(&input, &resources, 1));
        assert_eq!(one.len(), resources.len());
        for threads in [2, 3, resources.len() + 1] {
            assert_eq!(show(plan_on(&input, &resources, threads)), one, "{threads}");
        }
    }

    #[test]
    fn unset_fields_are_never_changes_and_removed_fields_reset() {
        let desired = proj(&[("properties.allowBlobPublicAccess", json!(false))]);
        let live = proj(&[
            ("properties.allowBlobPublicAccess", json!(false)),
            ("properties.allowSharedKeyAccess", json!(false)),
        ]);
        // Never managed: no change even though live differs from Azure's default.
        assert!(diff(Kind::StorageAccount, &desired, &live, None).is_empty());
        // Managed last time, gone from the spec now: reset to the default (true).
        let last = proj(&[("properties.allowSharedKeyAccess", json!(false))]);
        let changes = diff(Kind::StorageAccount, &desired, &live, Some(&last));
        assert_eq!(changes.len(), 1);
        assert!(changes[0].reset);
        assert_eq!(changes[0].new, json!(true));
    }

    #[test]
    fn absent_live_fields_compare_with_azure_defaults() {
        let desired = proj(&[("properties.networkAcls.defaultAction", json!("allow"))]);
        assert!(diff(Kind::KeyVault, &desired, &Projection::new(), None).is_empty());
        let desired = proj(&[("properties.networkAcls.defaultAction", json!("deny"))]);
        assert_eq!(
            diff(Kind::KeyVault, &desired, &Projection::new(), None).len(),
            1
        );
    }

    #[test]
    fn immutable_changes_force_replacement() {
        let desired = proj(&[("location", json!("eastus2"))]);
        let live = proj(&[("location", json!("westeurope"))]);
        let c = diff(Kind::VirtualNetwork, &desired, &live, None);
        assert!(c[0].forces_replacement);
    }
}
