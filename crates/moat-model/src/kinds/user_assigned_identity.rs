//! User-assigned managed identities (ManagedIdentity 2023-01-31), and what every kind that
//! takes an `identity:` block shares: binding its identities, building the `identity` body and
//! projecting it (live bodies key `userAssignedIdentities` by ARM ID, in the service's casing).

use super::{KindDef, Scope, ScopeRef, Site, refs};
use crate::arm::MapContext;
use crate::model::{Kind, Ref, Resource};
use crate::resolve::Resolver;
use crate::{json, naming};
use moat_spec::ast::{KindSpec, ManagedIdentities};
use moat_spec::{Spanned, codes};
use serde_json::{Map, Value, json};

pub(crate) static DEF: KindDef = KindDef {
    scope_ref: Some(ScopeRef {
        field: refs::RESOURCE_GROUP,
        get: scope_ref,
    }),
    // `tenantId`, `principalId` and `clientId` are the service's; the create body is only
    // location and tags (azure-cli identity/test_identity_management.yaml #3).
    server_outputs: &[
        ("principal_id", "properties.principalId"),
        ("client_id", "properties.clientId"),
        ("tenant_id", "properties.tenantId"),
    ],
    ..KindDef::new(
        Kind::UserAssignedIdentity,
        "user_assigned_identity",
        "Microsoft.ManagedIdentity/userAssignedIdentities",
        "2023-01-31",
        Scope::ResourceGroup,
        naming::MANAGED_IDENTITY,
        3,
        body,
        check,
    )
};

fn body(_r: &Resource, _b: &mut Value, _ctx: &MapContext) {}

/// Nothing to check offline beyond the common fields and the name rule.
fn check(_rs: &mut Resolver<'_>, _spec: &KindSpec, _site: Site<'_>) {}

/// The `resource_group:` naming its scope.
fn scope_ref(spec: &KindSpec) -> Option<&Spanned<String>> {
    match spec {
        KindSpec::UserAssignedIdentity(x) => Some(&x.resource_group),
        _ => None,
    }
}

/// The reference field of the `i`-th `identity.user_assigned` entry.
pub(crate) fn user_assigned_field(i: usize) -> String {
    format!("identity.user_assigned[{i}]")
}

/// `SystemAssigned, UserAssigned` (registries) and `SystemAssigned,UserAssigned` (ML) are one
/// value; casing is the service's.
pub(crate) fn identity_type(v: &Value) -> Option<Value> {
    v.as_str()
        .map(|s| json!(s.replace(' ', "").to_ascii_lowercase()))
}

/// The keys of `userAssignedIdentities` (ARM IDs), lowercased and sorted; the values are the
/// service's (principal and client IDs).
pub(crate) fn user_assigned_ids(v: &Value) -> Option<Value> {
    let mut ids: Vec<String> = v
        .as_object()
        .map(|m| {
            m.keys()
                .map(|k| k.trim_end_matches('/').to_lowercase())
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids.dedup();
    Some(json!(ids))
}

/// Binds each `identity.user_assigned` entry to a `user_assigned_identity`.
pub(crate) fn bind(
    rs: &mut Resolver<'_>,
    id: Option<&Spanned<ManagedIdentities>>,
    out: &mut Vec<Ref>,
) {
    let Some(id) = id else { return };
    for (i, u) in id
        .value
        .user_assigned
        .iter()
        .flat_map(|l| l.value.iter())
        .enumerate()
    {
        out.extend(rs.bind(u, &user_assigned_field(i), &[Kind::UserAssignedIdentity]));
    }
}

/// Whether the block asks for a system-assigned identity (`default` when it does not say).
pub(crate) fn system(id: Option<&Spanned<ManagedIdentities>>, default: bool) -> bool {
    id.and_then(|i| i.value.system_assigned.as_ref())
        .map_or(default, |s| s.value)
}

/// The IDs of the user-assigned identities `r` bound.
pub(crate) fn user_ids(r: &Resource) -> Vec<String> {
    r.refs
        .iter()
        .filter(|x| x.field.starts_with("identity.user_assigned["))
        .map(|x| x.id.clone())
        .collect()
}

/// Sets `identity` on `b`: `both` is the service's spelling of both types together.
pub(crate) fn set_body(r: &Resource, b: &mut Value, system: bool, both: &str) {
    let users = user_ids(r);
    let ty = match (system, users.is_empty()) {
        (true, true) => "SystemAssigned",
        (true, false) => both,
        (false, false) => "UserAssigned",
        (false, true) => "None",
    };
    let mut ident = json!({ "type": ty });
    if !users.is_empty() {
        let m: Map<String, Value> = users.into_iter().map(|u| (u, json!({}))).collect();
        ident["userAssignedIdentities"] = Value::Object(m);
    }
    json::set(b, "identity", ident);
}

/// AKS takes one kind of identity, and at most one user-assigned one.
pub(crate) fn check_single(rs: &mut Resolver<'_>, id: Option<&Spanned<ManagedIdentities>>) {
    let Some(id) = id else { return };
    let users = id.value.user_assigned.as_ref().map_or(0, |l| l.value.len());
    let system = id.value.system_assigned.as_ref().is_some_and(|s| s.value);
    if users > 1 || (users == 1 && system) || (users == 0 && !system) {
        rs.push(
            moat_spec::Diagnostic::error(
                codes::E0114,
                "an AKS cluster has exactly one identity: system-assigned or one user-assigned",
                id.span,
            )
            .hint("give `system_assigned: true`, or one `user_assigned` identity and `system_assigned: false`"),
        );
    }
}
