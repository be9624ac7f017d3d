//! The emulated kinds' behaviour, one file per kind (a parent and the child kind it holds
//! inline share one, like a security group and its rules), and the dispatch from a request to
//! the kind's [`KindDef`]. The kinds' static facts and path parsing live in the leaf
//! [`crate::kind`] module.
//!
//! Adding a kind: a row in `kind.rs`'s `kind_table!`, a file here with its `DEF`, and the arm
//! of [`def`] that the compiler then asks for.

mod aks;
mod app_insights;
pub mod cluster_extension;
mod identity;
pub mod keyvault;
mod ml_asset;
mod ml_compute;
mod ml_endpoint;
mod ml_outbound_rule;
mod ml_workspace;
pub(crate) mod network;
mod nsg;
mod private_dns;
mod private_endpoint;
mod registry;
pub mod resource_group;
pub mod role_assignment;
mod route_table;
mod storage;
mod subnet;
mod vnet;

use crate::ctx::{Ctx, Span};
use crate::errors::{ArmError, ArmResult};
use crate::kind::{Kind, ResPath};
use crate::lro::{self, LroStyle};
use crate::reply::Reply;
use crate::store::{Record, State};
use crate::util;
use serde_json::{Value, json};

/// A PUT or PATCH handler.
pub type WriteFn = fn(&mut Ctx, &ResPath, Value) -> ArmResult<Reply>;

/// Everything that differs between kinds, declared in the kind's own file.
pub struct KindDef {
    /// The kind.
    pub kind: Kind,
    /// PUT (create or replace); the resource group and the parent exist.
    pub put: WriteFn,
    /// PATCH of an existing resource.
    pub patch: WriteFn,
    /// DELETE (the resource may be absent).
    pub delete: fn(&mut Ctx, &ResPath) -> ArmResult<Reply>,
    /// Fills in the computed parts of a stored body for a GET at a time.
    pub render: fn(&State, &Record, &mut Value, f64),
    /// Ids of the resources a record of this kind points at, so that deleting one of them
    /// can fail "in use".
    pub refs: fn(&Record) -> Vec<String>,
    /// How its provider runs long-running operations (`None`: it never starts one).
    pub lro: Option<LroStyle>,
    /// How long a create takes.
    pub create: Span,
    /// Create durations by variant (ML compute types), keyed `type:variant` by
    /// [`provisioning_seconds`].
    pub variants: &'static [(&'static str, Span)],
    /// How long a delete takes, in seconds before `--time-scale`.
    pub delete_secs: f64,
}

/// The definition of a kind. An exhaustive `match`, so a kind without one does not compile.
pub fn def(kind: Kind) -> &'static KindDef {
    let d = match kind {
        Kind::ResourceGroup => &resource_group::DEF,
        Kind::VirtualNetwork => &vnet::DEF,
        Kind::Subnet => &subnet::DEF,
        Kind::NetworkSecurityGroup => &nsg::DEF,
        Kind::SecurityRule => &nsg::RULE_DEF,
        Kind::RouteTable => &route_table::DEF,
        Kind::Route => &route_table::ROUTE_DEF,
        Kind::StorageAccount => &storage::DEF,
        Kind::KeyVault => &keyvault::DEF,
        Kind::AppInsights => &app_insights::DEF,
        Kind::ContainerRegistry => &registry::DEF,
        Kind::MlWorkspace => &ml_workspace::DEF,
        Kind::MlCompute => &ml_compute::DEF,
        Kind::ManagedCluster => &aks::DEF,
        Kind::MlModelVersion => &ml_asset::MODEL_DEF,
        Kind::MlEnvironmentVersion => &ml_asset::ENVIRONMENT_DEF,
        Kind::MlCodeVersion => &ml_asset::CODE_DEF,
        Kind::OnlineEndpoint => &ml_endpoint::ENDPOINT_DEF,
        Kind::OnlineDeployment => &ml_endpoint::DEPLOYMENT_DEF,
        Kind::UserAssignedIdentity => &identity::DEF,
        Kind::RoleAssignment => &role_assignment::DEF,
        Kind::ClusterExtension => &cluster_extension::DEF,
        Kind::PrivateDnsZone => &private_dns::ZONE_DEF,
        Kind::VirtualNetworkLink => &private_dns::LINK_DEF,
        Kind::PrivateDnsARecord => &private_dns::A_RECORD_DEF,
        Kind::PrivateEndpoint => &private_endpoint::DEF,
        Kind::PrivateDnsZoneGroup => &private_endpoint::ZONE_GROUP_DEF,
        Kind::NetworkInterface => &private_endpoint::NIC_DEF,
        Kind::MlOutboundRule => &ml_outbound_rule::DEF,
    };
    debug_assert_eq!(d.kind, kind, "a kind's arm names another kind's definition");
    d
}

/// Typical provisioning time of a resource type in seconds, before `--time-scale`.
///
/// `resource_type` is a full ARM type (`Microsoft.Network/virtualNetworks`, case-insensitive);
/// ML computes may be suffixed with their compute type (`…/computes:AKS`). Unknown types are 0.
pub fn provisioning_seconds(resource_type: &str) -> f64 {
    span_of(resource_type).map_or(0.0, |s| s.typical)
}

/// The duration of the create of the resource `id` (type as for [`provisioning_seconds`]),
/// in seconds before `--time-scale`, exactly as an emulator started with `seed` draws it (its
/// typical time without a seed). Kinds whose handler picks another span for special cases
/// (an online endpoint's first deployment) are given their declared span.
pub fn operation_seconds(resource_type: &str, id: &str, seed: Option<u64>) -> f64 {
    let Some(span) = span_of(resource_type) else {
        return 0.0;
    };
    match seed {
        None => span.typical,
        Some(seed) => span.draw(seed, &format!("{}#put", id.to_ascii_lowercase())),
    }
}

/// The polling interval the provider of `resource_type` advises (`Retry-After` on Azure),
/// seconds before `--time-scale`; 0 for kinds without a long-running operation.
pub fn poll_cadence_seconds(resource_type: &str) -> f64 {
    let ty = resource_type.split(':').next().unwrap_or(resource_type);
    crate::kind::KINDS
        .iter()
        .find(|k| k.type_name.eq_ignore_ascii_case(ty))
        .and_then(|info| def(info.kind).lro)
        .map_or(0.0, |l| l.retry_after)
}

fn span_of(resource_type: &str) -> Option<Span> {
    let (ty, variant) = match resource_type.split_once(':') {
        Some((t, v)) => (t, Some(v)),
        None => (resource_type, None),
    };
    let info = crate::kind::KINDS
        .iter()
        .find(|k| k.type_name.eq_ignore_ascii_case(ty))?;
    let d = def(info.kind);
    match variant {
        None => Some(d.create),
        Some(v) => d
            .variants
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(v))
            .map(|(_, s)| *s),
    }
}

/// Answers a poll endpoint: the operation's resource decides the provider's style.
pub fn poll(ctx: &mut Ctx, what: &str, op_id: &str) -> ArmResult<Reply> {
    let not_found = || {
        ArmError::new(
            404,
            "OperationNotFound",
            format!("The operation '{op_id}' could not be found."),
        )
    };
    let op = ctx
        .st
        .operations
        .get(op_id)
        .cloned()
        .ok_or_else(not_found)?;
    let style = crate::kind::kind_of_id(&op.resource_key)
        .and_then(|k| def(k).lro)
        .ok_or_else(not_found)?;
    lro::poll(ctx, &style, what, op_id, &op, render)
}

/// The body a GET returns for a record.
pub fn render(st: &State, rec: &Record, now: f64) -> Value {
    let mut v = rec.body.clone();
    (def(rec.kind).render)(st, rec, &mut v, now);
    if rec.kind.has_system_data() {
        let sd = json!({
            "createdBy": "moat-sim@example.com",
            "createdByType": "User",
            "createdAt": util::timestamp(rec.created),
            "lastModifiedBy": "moat-sim@example.com",
            "lastModifiedByType": "User",
            "lastModifiedAt": util::timestamp(rec.modified),
        });
        util::set_at(&mut v, "", "systemData", sd);
    }
    v
}

/// Sets `properties.provisioningState` to the record's state: the rendering of most kinds.
fn render_state(_st: &State, rec: &Record, v: &mut Value, now: f64) {
    util::set_at(v, "/properties", "provisioningState", json!(rec.state(now)));
}

/// For kinds that point at nothing.
fn no_refs(_rec: &Record) -> Vec<String> {
    Vec::new()
}

/// The strings at `ptrs` of a record's body, for [`KindDef::refs`].
fn refs_at(rec: &Record, ptrs: &[&str]) -> Vec<String> {
    ptrs.iter()
        .filter_map(|p| util::str_at(&rec.body, p).map(str::to_string))
        .collect()
}

/// For kinds whose PUT the router never sends here.
fn not_routed(_ctx: &mut Ctx, _rp: &ResPath, _body: Value) -> ArmResult<Reply> {
    Err(ArmError::bad_request("InvalidResourceType", "unexpected"))
}

/// Common checks of a PUT body: a JSON object with a location, normalised.
pub fn require_location(body: &mut Value) -> ArmResult<String> {
    let loc = body
        .get("location")
        .and_then(Value::as_str)
        .map(util::normalize_location)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| {
            ArmError::bad_request(
                "LocationRequired",
                "The location property is required for this definition.",
            )
        })?;
    util::set_at(body, "", "location", json!(loc));
    Ok(loc)
}

/// Rejects a value outside a closed enum (case-insensitive), returning the canonical casing.
pub fn check_enum(value: &Value, field: &str, allowed: &[&str]) -> ArmResult<Option<String>> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => allowed
            .iter()
            .find(|a| a.eq_ignore_ascii_case(s))
            .map(|a| Some((*a).to_string()))
            .ok_or_else(|| {
                ArmError::invalid_content(format!(
                    "Error converting value \"{s}\" to type for property '{field}'. Allowed values are: {}",
                    allowed.join(", ")
                ))
            }),
        other => Err(ArmError::invalid_content(format!(
            "Unexpected value {other} for property '{field}'"
        ))),
    }
}

/// Requires a string at a pointer.
pub fn require_str<'a>(body: &'a Value, ptr: &str, field: &str) -> ArmResult<&'a str> {
    util::str_at(body, ptr).ok_or_else(|| {
        ArmError::invalid_content(format!("Required property '{field}' not found in JSON"))
    })
}

/// Tags must be an object of strings when present; `null` is stored as absent.
pub fn check_tags(body: &mut Value) -> ArmResult<()> {
    match body.get("tags") {
        None => Ok(()),
        Some(Value::Null) => {
            if let Some(o) = body.as_object_mut() {
                o.remove("tags");
            }
            Ok(())
        }
        Some(Value::Object(m)) => {
            if m.values().all(Value::is_string) {
                Ok(())
            } else {
                Err(ArmError::bad_request(
                    "InvalidTagValue",
                    "Tag values must be strings.",
                ))
            }
        }
        Some(_) => Err(ArmError::invalid_content("tags must be an object")),
    }
}

/// Keeps only the listed top-level fields of a request (ARM drops unknown ones).
pub fn keep_fields(body: &Value, fields: &[&str]) -> Value {
    let mut out = serde_json::Map::new();
    if let Some(o) = body.as_object() {
        for f in fields {
            if let Some(v) = o.get(*f)
                && !v.is_null()
            {
                out.insert((*f).to_string(), v.clone());
            }
        }
    }
    Value::Object(out)
}

/// Puts `id`, `name`, `type` first, as the services do.
pub fn with_identity(rp: &ResPath, body: Value) -> Value {
    let mut out = serde_json::Map::new();
    out.insert("id".into(), json!(rp.id()));
    out.insert("name".into(), json!(rp.name()));
    out.insert("type".into(), json!(rp.kind.info().type_name));
    if let Value::Object(o) = body {
        for (k, v) in o {
            if !matches!(k.as_str(), "id" | "name" | "type") {
                out.insert(k, v);
            }
        }
    }
    Value::Object(out)
}

/// Handles a request on a resource instance.
pub fn instance(
    ctx: &mut Ctx,
    method: &str,
    rp: &ResPath,
    body: Option<Value>,
) -> ArmResult<Reply> {
    match ctx.st.get(&rp.rg_id()) {
        None => return Err(ArmError::rg_not_found(&rp.rg)),
        Some(g) if g.deleting_until.is_some() && method != "GET" => {
            return Err(ArmError::new(
                409,
                "ResourceGroupBeingDeleted",
                format!(
                    "The resource group '{}' is in deprovisioning state and cannot perform this operation.",
                    rp.rg
                ),
            ));
        }
        Some(_) => {}
    }
    if let Some(pid) = rp.parent_id() {
        let parent_ok = ctx.st.get(&pid).is_some_and(|p| p.deleting_until.is_none());
        if !parent_ok {
            let parent = rp.kind.parent().unwrap_or(rp.kind);
            let pname = &rp.names[rp.names.len() - 2];
            return Err(if method == "GET" {
                ArmError::resource_not_found(parent.info().type_name, pname, &rp.rg)
            } else {
                ArmError::parent_not_found(parent.info().type_name, pname, &rp.rg)
            });
        }
    }
    let d = def(rp.kind);
    match method {
        "GET" => {
            let rec = ctx.st.get(&rp.id()).ok_or_else(|| not_found(rp))?;
            Ok(Reply::json(200, render(ctx.st, rec, ctx.now)))
        }
        "PUT" => {
            let body =
                body.ok_or_else(|| ArmError::invalid_content("The request body is required"))?;
            if !body.is_object() {
                return Err(ArmError::invalid_content(
                    "The request body must be a JSON object",
                ));
            }
            if ctx
                .st
                .get(&rp.id())
                .is_some_and(|r| r.deleting_until.is_some())
            {
                return Err(ArmError::new(
                    409,
                    "Conflict",
                    format!("The resource '{}' is being deleted.", rp.id()),
                ));
            }
            (d.put)(ctx, rp, body)
        }
        "PATCH" => {
            let body = body.filter(Value::is_object).ok_or_else(|| {
                ArmError::invalid_content("The request body must be a JSON object")
            })?;
            if ctx.st.get(&rp.id()).is_none() {
                return Err(not_found(rp));
            }
            (d.patch)(ctx, rp, body)
        }
        "DELETE" => (d.delete)(ctx, rp),
        _ => Err(ArmError::new(
            405,
            "MethodNotAllowed",
            format!("The requested method '{method}' is not allowed for this resource."),
        )),
    }
}

/// 404 for a missing resource.
pub fn not_found(rp: &ResPath) -> ArmError {
    ArmError::resource_not_found(rp.kind.info().type_name, &rp.names.join("/"), &rp.rg)
}

/// A PATCH that only updates tags (`*_UpdateTags`): synchronous 200 with the resource.
pub fn patch_tags(ctx: &mut Ctx, rp: &ResPath, mut body: Value) -> ArmResult<Reply> {
    check_tags(&mut body)?;
    let etag = util::weak_etag();
    let now = ctx.now;
    let Some(rec) = ctx.st.get_mut(&rp.id()) else {
        return Err(not_found(rp));
    };
    if let Some(tags) = body.get("tags") {
        util::set_at(&mut rec.body, "", "tags", tags.clone());
    }
    rec.modified = now;
    rec.etag = etag;
    let rec = rec.clone();
    Ok(Reply::json(200, render(ctx.st, &rec, now)))
}

/// Synchronous delete: 200 when it existed, 204 when not.
pub fn sync_delete(ctx: &mut Ctx, rp: &ResPath) -> ArmResult<Reply> {
    match ctx.st.resources_mut().remove(&rp.id().to_ascii_lowercase()) {
        Some(_) => Ok(Reply::empty(200)),
        None => Ok(Reply::empty(204)),
    }
}

/// Resource ids that reference `target` from other resources, for in-use checks.
pub fn referrers(st: &State, target: &str, now: f64) -> Vec<String> {
    let mut out = Vec::new();
    for rec in st.resources().values() {
        if rec.deleting_until.is_some_and(|d| d <= now) {
            continue;
        }
        if (def(rec.kind).refs)(rec)
            .iter()
            .any(|r| r.eq_ignore_ascii_case(target))
        {
            out.push(rec.id.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_definition() {
        for k in Kind::all() {
            assert_eq!(def(k).kind, k);
            let d = def(k).create;
            assert!(d.min <= d.typical && d.typical <= d.max, "{k:?}: {d:?}");
        }
    }

    #[test]
    fn provisioning_seconds_reads_the_definitions() {
        assert_eq!(
            provisioning_seconds("microsoft.network/VIRTUALNETWORKS"),
            4.0
        );
        assert_eq!(
            provisioning_seconds("Microsoft.MachineLearningServices/workspaces/computes:aks"),
            600.0
        );
        assert_eq!(provisioning_seconds("Microsoft.Nope/things"), 0.0);
    }
}
