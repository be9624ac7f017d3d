//! What every Microsoft.Network kind shares: the Network resource provider's LRO style, the
//! "another operation in progress" 429 on a VNet, CIDR parsing, the common rendering (etag,
//! provisioning state), and the shape of PUT and DELETE.

use super::{check_tags, require_location, with_identity};
use crate::ctx::Ctx;
use crate::errors::{ArmError, ArmResult};
use crate::kind::{Kind, ResPath};
use crate::lro::{self, LroStyle};
use crate::reply::Reply;
use crate::store::{Record, State};
use crate::util::{self, Cidr, CidrError};
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet};

const NETWORK_SECS_RETRY: f64 = 10.0;

/// Sets the etag (children show their parent's) and the provisioning state.
pub fn render_common(st: &State, rec: &Record, v: &mut Value, now: f64) {
    let state = rec.state(now).to_string();
    let parent_etag = |st: &State| {
        let pid = &rec.id[..rec
            .id
            .rfind('/')
            .and_then(|i| rec.id[..i].rfind('/'))
            .unwrap_or(0)];
        st.get(pid)
            .map(|p| p.etag.clone())
            .unwrap_or_else(|| rec.etag.clone())
    };
    if rec.kind.parent().is_some() {
        util::set_at(v, "", "etag", json!(parent_etag(st)));
    } else {
        util::set_at(v, "", "etag", json!(rec.etag));
    }
    util::set_at(v, "/properties", "provisioningState", json!(state));
}

/// A back-reference the Network provider renders: what points at a resource, listed in the
/// resource's own body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackRef {
    /// An NSG's `subnets`: the subnets whose `networkSecurityGroup.id` is the NSG.
    NsgSubnets,
    /// A route table's `subnets`: the subnets whose `routeTable.id` is the table.
    RouteTableSubnets,
    /// A subnet's `privateEndpoints`: the endpoints whose `subnet.id` is the subnet.
    SubnetEndpoints,
    /// A subnet's `ipConfigurations`: the NIC IP configurations whose `subnet.id` is it.
    SubnetIpConfigs,
}

impl BackRef {
    /// The back-references a render of `kind` asks about.
    fn asked_by(kind: Kind) -> &'static [BackRef] {
        match kind {
            Kind::NetworkSecurityGroup => &[BackRef::NsgSubnets],
            Kind::RouteTable => &[BackRef::RouteTableSubnets],
            Kind::VirtualNetwork | Kind::Subnet => {
                &[BackRef::SubnetEndpoints, BackRef::SubnetIpConfigs]
            }
            _ => &[],
        }
    }

    /// For the back-references made of subnets, the pointer in a subnet's body to what it
    /// names.
    fn subnet_ptr(self) -> Option<&'static str> {
        match self {
            BackRef::NsgSubnets => Some("/properties/networkSecurityGroup/id"),
            BackRef::RouteTableSubnets => Some("/properties/routeTable/id"),
            BackRef::SubnetEndpoints | BackRef::SubnetIpConfigs => None,
        }
    }

    /// Every `(lower-cased target, {"id": …})` that `rec` contributes to this back-reference
    /// at `now`.
    fn of(self, rec: &Record, now: f64) -> Vec<(String, Value)> {
        let pair = |target: &str, id: Value| (target.to_ascii_lowercase(), json!({ "id": id }));
        match self {
            BackRef::NsgSubnets | BackRef::RouteTableSubnets => {
                let Some(ptr) = self.subnet_ptr() else {
                    return Vec::new();
                };
                if rec.kind != Kind::Subnet || rec.deleting_until.is_some() {
                    return Vec::new();
                }
                util::str_at(&rec.body, ptr)
                    .map(|t| pair(t, json!(rec.id)))
                    .into_iter()
                    .collect()
            }
            BackRef::SubnetEndpoints => {
                if rec.kind != Kind::PrivateEndpoint || !live_at(rec, now) {
                    return Vec::new();
                }
                util::str_at(&rec.body, "/properties/subnet/id")
                    .map(|t| pair(t, json!(rec.id)))
                    .into_iter()
                    .collect()
            }
            BackRef::SubnetIpConfigs => {
                if rec.kind != Kind::NetworkInterface || !live_at(rec, now) {
                    return Vec::new();
                }
                rec.body
                    .pointer("/properties/ipConfigurations")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|c| {
                        let target = util::str_at(c, "/properties/subnet/id")?;
                        Some(pair(target, c.get("id")?.clone()))
                    })
                    .collect()
            }
        }
    }

    /// Whether `rec` may point at one of `wanted` (lower-cased ids) through `self`; cheap (no
    /// allocation for the usual lower-case ids), so that [`BackRef::of`] runs only for the
    /// records that do. Endpoints and NICs are few: for those it is always true.
    fn may_point_at_any(self, rec: &Record, wanted: &HashSet<String>) -> bool {
        let Some(ptr) = self.subnet_ptr() else {
            return true;
        };
        if rec.kind != Kind::Subnet {
            return false;
        }
        util::str_at(&rec.body, ptr).is_some_and(|t| {
            if wanted.contains(t) {
                return true;
            }
            t.bytes().any(|b| b.is_ascii_uppercase()) && wanted.contains(&t.to_ascii_lowercase())
        })
    }
}

/// Not yet gone at `now` (a resource being deleted still shows until its delete ends).
fn live_at(rec: &Record, now: f64) -> bool {
    rec.deleting_until.is_none_or(|t| t > now)
}

/// What points at `id` through `what`, as `{"id": …}` objects in the store's order: from the
/// store's index when it is current, else by a scan for `id` alone.
pub fn back_refs(st: &State, id: &str, what: BackRef, now: f64) -> Vec<Value> {
    let target = id.to_ascii_lowercase();
    let indexed = st.back_refs.read().as_ref().and_then(|ix| {
        ix.current(st, now)
            .then(|| ix.refs.get(&(what, target.clone())).cloned())
    });
    match indexed {
        Some(refs) => refs.unwrap_or_default(),
        None => {
            let wanted = HashSet::from([target.clone()]);
            index_refs(st, &[what], Some(&wanted), now)
                .remove(&(what, target))
                .unwrap_or_default()
        }
    }
}

/// `(back-reference, lower-cased target)` → `{"id": …}` of what points at the target.
type RefMap = HashMap<(BackRef, String), Vec<Value>>;

/// Every back-reference the Network provider renders.
const ALL_BACK_REFS: [BackRef; 4] = [
    BackRef::NsgSubnets,
    BackRef::RouteTableSubnets,
    BackRef::SubnetEndpoints,
    BackRef::SubnetIpConfigs,
];

/// The back-references `covers` of the whole store at `now`, in the store's order, in one
/// pass; with `wanted`, only those pointing at one of its (lower-cased) ids.
fn index_refs(
    st: &State,
    covers: &[BackRef],
    wanted: Option<&HashSet<String>>,
    now: f64,
) -> RefMap {
    let mut refs = RefMap::new();
    for r in st.resources().values() {
        for &what in covers {
            if wanted.is_some_and(|w| !what.may_point_at_any(r, w)) {
                continue;
            }
            for (target, v) in what.of(r, now) {
                refs.entry((what, target)).or_default().push(v);
            }
        }
    }
    refs
}

/// Every back-reference of a store, as of one [`State::generation`].
#[derive(Debug, Clone)]
struct BackRefIndex {
    generation: u64,
    /// When the first resource being deleted stops showing: from then on the index is stale
    /// even if nothing else changed.
    valid_until: f64,
    refs: RefMap,
}

impl BackRefIndex {
    fn current(&self, st: &State, now: f64) -> bool {
        self.generation == st.generation() && now < self.valid_until
    }
}

/// The store's back-reference index, built by the first list page or VNet render after a
/// change and kept until the next: without it each NSG, route table or subnet of a list scans
/// the whole cloud (quadratic in lists of thousands), and k plans reading one cloud would
/// build the same index again for every page. Kept in the [`State`] it describes; behind a
/// lock of its own, since list pages render under a shared lock of the state (two readers
/// that find it stale may both build it: the same index, once each).
#[derive(Debug, Default)]
pub struct BackRefCache(std::sync::RwLock<Option<BackRefIndex>>);

impl BackRefCache {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Option<BackRefIndex>> {
        self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Option<BackRefIndex>> {
        self.0.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// A copy of a state starts with an empty cache: it is rebuilt when first needed.
impl Clone for BackRefCache {
    fn clone(&self) -> Self {
        BackRefCache::default()
    }
}

/// Makes the index [`back_refs`] reads current, before many records of `kind` in `st` are
/// rendered at `now` (a page of a list, a VNet's subnets); nothing when `kind` asks about no
/// back-reference.
pub fn index_back_refs(st: &State, kind: Kind, now: f64) {
    let current = st
        .back_refs
        .read()
        .as_ref()
        .is_some_and(|ix| ix.current(st, now));
    if current || BackRef::asked_by(kind).is_empty() {
        return;
    }
    let valid_until = st.first_delete_end(now);
    let refs = index_refs(st, &ALL_BACK_REFS, None, now);
    *st.back_refs.write() = Some(BackRefIndex {
        generation: st.generation(),
        valid_until,
        refs,
    });
}

/// How one Network kind's writes go, declared in its file.
pub struct NetOps {
    /// The operation name of a PUT in the "another operation" 429.
    pub put_name: &'static str,
    /// The VNet its writes are serialised on (`None`: not serialised).
    pub vnet: fn(&ResPath) -> Option<String>,
    /// Stores the resource of a PUT taking `secs` and says whether it was created.
    pub write: fn(&mut Ctx, &ResPath, Value, f64) -> ArmResult<bool>,
    /// Refuses a DELETE while other resources still point at it.
    pub in_use: fn(&Ctx, &ResPath) -> ArmResult<()>,
}

/// For kinds whose writes are not serialised on a VNet.
pub fn no_vnet(_rp: &ResPath) -> Option<String> {
    None
}

/// 429 `RetryableError` when another operation on the VNet or its subnets is running.
fn check_vnet_busy(ctx: &Ctx, rp: &ResPath, ops: &NetOps, op_name: &str) -> ArmResult<()> {
    let Some(vnet_id) = (ops.vnet)(rp) else {
        return Ok(());
    };
    let mut until: f64 = 0.0;
    let mut busy_id = String::new();
    if let Some(v) = ctx.st.get(&vnet_id)
        && v.busy(ctx.now)
    {
        until = v.busy_until.max(v.deleting_until.unwrap_or(0.0));
        busy_id = v.id.clone();
    }
    for s in ctx.st.children(&vnet_id, Kind::Subnet) {
        if s.busy(ctx.now) {
            let u = s.busy_until.max(s.deleting_until.unwrap_or(0.0));
            if u > until {
                until = u;
                busy_id = s.id.clone();
            }
        }
    }
    if until <= ctx.now {
        return Ok(());
    }
    let wait = ((until - ctx.now).ceil() as u64).max(1);
    let retry = ctx.cadence(NETWORK_SECS_RETRY);
    let msg = format!(
        "Operation '{op_name}' (on resource '{}') was canceled because another operation on the same or dependent resource '{busy_id}' is in progress. The call can be retried in {wait} seconds.",
        rp.id()
    );
    Err(ArmError::new(429, "RetryableError", msg.clone())
        .detail("RetryableErrorDueToAnotherOperation", msg)
        .retry_after(retry.secs())
        .header("retry-after-ms", retry.ms.to_string()))
}

pub fn parse_prefix(p: &str, owner: &str) -> ArmResult<Cidr> {
    Cidr::parse(p).map_err(|e| match e {
        CidrError::Syntax => ArmError::bad_request(
            "InvalidAddressPrefixFormat",
            format!("Address prefix {p} of resource {owner} is not formatted correctly. It should follow CIDR notation, for example 10.0.0.0/24."),
        ),
        CidrError::NotAligned(good) => ArmError::bad_request(
            "InvalidCIDRNotation",
            format!("The address prefix {p} in resource {owner} has an invalid CIDR notation. For the given prefix length, the address prefix should be {good}."),
        ),
    })
}

pub fn string_list(v: Option<&Value>, field: &str) -> ArmResult<Vec<String>> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| {
                x.as_str().map(str::to_string).ok_or_else(|| {
                    ArmError::invalid_content(format!(
                        "Property '{field}' must be an array of strings"
                    ))
                })
            })
            .collect(),
        Some(_) => Err(ArmError::invalid_content(format!(
            "Property '{field}' must be an array"
        ))),
    }
}

/// A PUT of a Network kind: the VNet busy check, `ops.write`, then 201/200 + `Azure-AsyncOperation` with the stored body.
pub fn put(ctx: &mut Ctx, rp: &ResPath, body: Value, ops: &NetOps) -> ArmResult<Reply> {
    check_vnet_busy(ctx, rp, ops, ops.put_name)?;
    let secs = ctx.secs(super::def(rp.kind).create, rp, "put");
    let created = (ops.write)(ctx, rp, body, secs)?;
    let rec = ctx
        .st
        .get(&rp.id())
        .cloned()
        .ok_or_else(|| ArmError::new(500, "InternalServerError", "An error occurred."))?;
    let op = lro::start_op(ctx, &rec.id, secs, false);
    let location = location_of(ctx.st, &rec);
    let reply = Reply::json(
        if created { 201 } else { 200 },
        super::render(ctx.st, &rec, ctx.now),
    );
    Ok(lro::with_async_headers(
        ctx,
        reply,
        &LroStyle::NETWORK,
        &rp.sub,
        &location,
        &op,
        false,
    ))
}

/// PUT of a child kept inline by its parent (security rule, route): `validate` turns the
/// request's properties into the stored ones, given the siblings' (name, properties).
pub fn put_child(
    ctx: &mut Ctx,
    rp: &ResPath,
    body: Value,
    secs: f64,
    validate: ChildValidator,
) -> ArmResult<bool> {
    let parent_id = rp.parent_id().unwrap_or_default();
    let props = body.get("properties").cloned().unwrap_or(Value::Null);
    let siblings: Vec<(String, Value)> = ctx
        .st
        .children(&parent_id, rp.kind)
        .iter()
        .map(|r| {
            (
                r.name().to_string(),
                r.body.get("properties").cloned().unwrap_or(Value::Null),
            )
        })
        .collect();
    let validated = validate(rp.name(), &props, &siblings)?;
    let stored = with_identity(rp, json!({"properties": validated}));
    let created = ctx.commit(rp, stored, secs, "Updating");
    ctx.touch_parent(rp);
    Ok(created)
}

fn location_of(st: &State, rec: &Record) -> String {
    if !rec.location().is_empty() {
        return rec.location().to_string();
    }
    crate::kind::parse_id(&rec.id)
        .and_then(|p| p.parent_id())
        .and_then(|pid| st.get(&pid).map(|p| p.location().to_string()))
        .unwrap_or_else(|| "westus".into())
}

pub fn top_level_body(
    rp: &ResPath,
    body: &mut Value,
    existing: Option<&Record>,
) -> ArmResult<Value> {
    require_location(body)?;
    check_tags(body)?;
    if let Some(old) = existing
        && !old
            .location()
            .eq_ignore_ascii_case(body.get("location").and_then(Value::as_str).unwrap_or(""))
    {
        return Err(ArmError::new(
            409,
            "InvalidResourceLocation",
            format!(
                "The resource '{}' already exists in location '{}' in resource group '{}'. A resource with the same name cannot be created in location '{}'. Please select a new resource name.",
                rp.name(),
                old.location(),
                rp.rg,
                body.get("location").and_then(Value::as_str).unwrap_or("")
            ),
        ));
    }
    let mut stored = super::keep_fields(body, &["location", "tags", "extendedLocation"]);
    let guid = existing
        .and_then(|r| r.body.pointer("/properties/resourceGuid").cloned())
        .unwrap_or_else(|| json!(util::guid()));
    util::set_at(&mut stored, "/properties", "resourceGuid", guid);
    Ok(with_identity(rp, stored))
}

/// The 400 for deleting a security group or route table that subnets still use.
pub fn in_use_by_subnets(ctx: &Ctx, id: &str, code: &str, what: &str, link: &str) -> ArmResult<()> {
    let users = super::referrers(ctx.st, id, ctx.now);
    if users.is_empty() {
        return Ok(());
    }
    Err(ArmError::bad_request(
        code,
        format!(
            "{what} {id} cannot be deleted because it is in use by the following resources: {}. In order to delete the {what}, remove the association with the resource(s). To learn how to do this, see {link}.",
            users.join(", ")
        ),
    ))
}

/// DELETE of any Network kind: 202 + Azure-AsyncOperation + Location, 204 when absent;
/// `in_use` refuses while other resources still point at it.
pub fn delete(ctx: &mut Ctx, rp: &ResPath, ops: &NetOps) -> ArmResult<Reply> {
    let id = rp.id();
    let Some(rec) = ctx.st.get(&id).cloned() else {
        return Ok(Reply::empty(204));
    };
    check_vnet_busy(ctx, rp, ops, "DeleteOperation")?;
    (ops.in_use)(ctx, rp)?;
    let secs = super::def(rp.kind).delete_secs;
    let fail = ctx.fail_lro.is_some();
    let op = lro::start_op(ctx, &id, secs, true);
    let until = ctx.now + ctx.scaled(secs);
    if !fail {
        if let Some(r) = ctx.st.get_mut(&id) {
            r.deleting_until = Some(until);
        }
        lro::mark_children_deleting(ctx, &id, until, false);
        ctx.touch_parent(rp);
    }
    let location = location_of(ctx.st, &rec);
    Ok(lro::with_async_headers(
        ctx,
        Reply::empty(202),
        &LroStyle::NETWORK,
        &rp.sub,
        &location,
        &op,
        true,
    ))
}

/// For Network kinds nothing can be "in use" of.
pub fn never_in_use(_ctx: &Ctx, _rp: &ResPath) -> ArmResult<()> {
    Ok(())
}

/// Turns a child's request properties into the stored ones, given its siblings'
/// (name, properties).
pub type ChildValidator = fn(&str, &Value, &[(String, Value)]) -> ArmResult<Value>;

/// How a parent holds its children inline (security group and rules, route table and routes).
pub struct Inline {
    /// The property holding the children's list: the full set of children.
    pub field: &'static str,
    /// The children's kind.
    pub child: Kind,
    /// Validates one child.
    pub validate: ChildValidator,
    /// Adds the parent's own properties from the request's.
    pub fill: fn(&Value, &mut Map<String, Value>),
}

/// PUT of a parent that holds its children inline.
pub fn put_parent_with_children(
    ctx: &mut Ctx,
    rp: &ResPath,
    mut body: Value,
    secs: f64,
    inline: &Inline,
) -> ArmResult<bool> {
    let Inline {
        field,
        child,
        validate,
        fill,
    } = *inline;
    let id = rp.id();
    let existing = ctx.st.get(&id).cloned();
    let mut stored = top_level_body(rp, &mut body, existing.as_ref())?;
    let props = body.get("properties").cloned().unwrap_or(Value::Null);
    let mut children: Vec<(String, Value)> = Vec::new();
    if let Some(list) = props.get(field).filter(|v| !v.is_null()) {
        let arr = list.as_array().ok_or_else(|| {
            ArmError::invalid_content(format!("Property '{field}' must be an array"))
        })?;
        let mut seen: Vec<(String, Value)> = Vec::new();
        for item in arr {
            let name = item.get("name").and_then(Value::as_str).ok_or_else(|| {
                ArmError::invalid_content(format!(
                    "Required property 'name' not found in JSON for an item of '{field}'"
                ))
            })?;
            let p = item.get("properties").cloned().unwrap_or(Value::Null);
            let v = validate(name, &p, &seen)?;
            seen.push((name.to_string(), v.clone()));
            children.push((name.to_string(), v));
        }
    }
    let sp = util::obj_at(&mut stored, "/properties");
    fill(&props, sp);
    let created = ctx.commit(rp, stored, secs, "Updating");
    // The collection in the body is the full set: rules or routes not listed go away.
    for old in ctx
        .st
        .children(&id, child)
        .into_iter()
        .map(|r| r.id.clone())
        .collect::<Vec<_>>()
    {
        ctx.st.resources_mut().remove(&old.to_ascii_lowercase());
    }
    for (name, props) in children {
        let mut names = rp.names.clone();
        names.push(name);
        let crp = ResPath {
            sub: rp.sub.clone(),
            rg: rp.rg.clone(),
            kind: child,
            names,
        };
        let stored = with_identity(&crp, json!({"properties": props}));
        ctx.commit(&crp, stored, secs, "Updating");
    }
    Ok(created)
}

/// The address space of a VNet body.
pub fn vnet_space(vnet_body: &Value, id: &str) -> ArmResult<Vec<Cidr>> {
    let list = string_list(
        vnet_body.pointer("/properties/addressSpace/addressPrefixes"),
        "addressSpace.addressPrefixes",
    )?;
    list.iter().map(|p| parse_prefix(p, id)).collect()
}
