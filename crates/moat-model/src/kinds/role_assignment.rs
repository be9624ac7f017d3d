//! Role assignments (Authorization 2022-04-01): an extension resource of its scope
//! (`<scope>/providers/Microsoft.Authorization/roleAssignments/<UUID>`). The UUID is derived
//! from scope, principal and role, so a re-apply PUTs the same assignment instead of adding a
//! second one. A principal created in the same apply (an identity) has no object ID yet: the
//! body carries a deferred value ([`crate::deferred`]) that apply reads from the identity.

use super::{Field, KindDef, Scope, Site, canon};
use crate::arm::MapContext;
use crate::model::{Body, Kind, Resource};
use crate::resolve::Resolver;
use crate::{json, naming};
use moat_spec::ast::{KindSpec, PrincipalType};
use moat_spec::{Diagnostic, codes};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// The reference field of `scope:`.
const SCOPE: &str = "scope";
/// The reference field of `principal:`.
const PRINCIPAL: &str = "principal";

pub(crate) static DEF: KindDef = KindDef {
    has_location: false,
    taggable: false,
    fields: &[
        Field::new("properties.roleDefinitionId", canon::lower).immutable(),
        Field::new("properties.principalType", canon::lower).immutable(),
        Field::new("properties.description", canon::same).default("null"),
    ],
    // Scope, principal and role are in the name; the service refuses to change them
    // (`RoleAssignmentUpdateNotPermitted`), so anything else unlisted is fixed too.
    immutable_unlisted: true,
    extension_id: Some(extension_id),
    ..KindDef::new(
        Kind::RoleAssignment,
        "role_assignment",
        "Microsoft.Authorization/roleAssignments",
        "2022-04-01",
        Scope::Extension,
        naming::ROLE_ASSIGNMENT,
        2,
        body,
        check,
    )
};

/// Built-in roles by name → role definition GUID. Source: Microsoft's "Azure built-in roles"
/// reference (learn.microsoft.com/azure/role-based-access-control/built-in-roles); Reader,
/// Contributor, Owner, Network Contributor, the Storage Blob Data and Key Vault roles also
/// appear with these IDs in `shared/arm/recordings/azure-cli/role` and `…/acs`.
pub const BUILT_IN_ROLES: &[(&str, &str)] = &[
    ("AcrPull", "7f951dda-4ed3-4680-a7ca-43fe172d538d"),
    ("AcrPush", "8311e382-0749-4cb8-b61a-304f252e45ec"),
    (
        "AzureML Data Scientist",
        "f6c7c914-8db3-469d-8ca1-694a8f32e121",
    ),
    ("Contributor", "b24988ac-6180-42a0-ab88-20f7382dd24c"),
    (
        "Key Vault Administrator",
        "00482a5a-887f-4fb3-b363-3b7fe8e74483",
    ),
    (
        "Key Vault Secrets Officer",
        "b86a8fe4-44ce-4948-aee5-eccb2c155cd7",
    ),
    (
        "Key Vault Secrets User",
        "4633458b-17de-408a-b874-0445c86b69e6",
    ),
    (
        "Managed Identity Operator",
        "f1a07417-d97a-45cb-824c-7a7467783830",
    ),
    (
        "Network Contributor",
        "4d97b98b-1d4f-4787-a291-c67834d212e7",
    ),
    ("Owner", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"),
    ("Reader", "acdd72a7-3385-48ef-bd42-f606fba81ae7"),
    (
        "Storage Blob Data Contributor",
        "ba92f5b4-2d11-453d-a403-e96b0029c9fe",
    ),
    (
        "Storage Blob Data Owner",
        "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    ),
    (
        "Storage Blob Data Reader",
        "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1",
    ),
];

/// Kinds whose key, as a principal, means the resource's system-assigned identity: those
/// whose principal the service assigns at
/// `identity.principalId` (their `server_outputs`).
fn system_identity_kinds() -> Vec<Kind> {
    super::ALL
        .iter()
        .copied()
        .filter(|k| {
            super::def(*k)
                .server_outputs
                .iter()
                .any(|(n, p)| *n == "principal_id" && *p == "identity.principalId")
        })
        .collect()
}

fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// The role definition GUID of a built-in role name (case-insensitive) or a definition ID.
pub fn role_guid(role: &str) -> Option<String> {
    if let Some((_, g)) = BUILT_IN_ROLES
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(role.trim()))
    {
        return Some((*g).to_string());
    }
    let last = role.trim_end_matches('/').rsplit('/').next()?;
    (role
        .to_ascii_lowercase()
        .contains("/providers/microsoft.authorization/roledefinitions/")
        && is_guid(last))
    .then(|| last.to_ascii_lowercase())
}

/// The assignment's name: a UUID (RFC 9562 version 8, SHA-256 based) of scope, principal and
/// role, case-folded so a re-cased ID names the same assignment.
pub fn assignment_name(scope: &str, principal: &str, role: &str) -> String {
    let mut h = Sha256::new();
    for part in [scope, principal, role] {
        h.update(part.trim_end_matches('/').to_ascii_lowercase().as_bytes());
        h.update([0]);
    }
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let x: String = b.iter().map(|v| format!("{v:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &x[0..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

/// A key (`key` or `vnet/subnet`), or an ID as written.
fn id_of(rs: &Resolver<'_>, r: &str) -> Option<String> {
    if r.starts_with('/') || is_guid(r) {
        return Some(r.trim_end_matches('/').to_string());
    }
    rs.ids.get(r).cloned()
}

/// `<scope>/providers/Microsoft.Authorization/roleAssignments/<UUID>`.
fn extension_id(rs: &mut Resolver<'_>, spec: &KindSpec) -> Option<String> {
    let KindSpec::RoleAssignment(a) = spec else {
        return None;
    };
    let scope = id_of(rs, &a.scope.value)?;
    let principal = id_of(rs, &a.principal.value)?;
    let role = role_guid(&a.role.value)?;
    let name = assignment_name(&scope, &principal, &role);
    Some(format!(
        "{scope}/providers/Microsoft.Authorization/roleAssignments/{name}"
    ))
}

fn body(r: &Resource, b: &mut Value, _ctx: &MapContext) {
    let Body::Spec(KindSpec::RoleAssignment(a)) = &r.body else {
        return;
    };
    let sub = r.id.split('/').nth(2).unwrap_or_default();
    if let Some(g) = role_guid(&a.role.value) {
        json::set(
            b,
            "properties.roleDefinitionId",
            json!(format!(
                "/subscriptions/{sub}/providers/Microsoft.Authorization/roleDefinitions/{g}"
            )),
        );
    }
    let principal = match r.reference(PRINCIPAL) {
        // Known once the identity exists: apply reads it just before the PUT.
        Some(p) if p.kind == Kind::UserAssignedIdentity => Some(crate::deferred::value(
            &p.id,
            p.kind.def().api_version,
            "properties.principalId",
        )),
        Some(p) => Some(crate::deferred::value(
            &p.id,
            p.kind.def().api_version,
            "identity.principalId",
        )),
        None => Some(a.principal.value.clone()),
    };
    json::set(b, "properties.principalId", json!(principal));
    // A principal type lets Azure skip the directory lookup that fails during replication
    // (the `PrincipalNotFound` message itself says so).
    let ty = match a.principal_type.as_ref().map(|t| t.value) {
        Some(PrincipalType::User) => Some("User"),
        Some(PrincipalType::Group) => Some("Group"),
        Some(PrincipalType::ServicePrincipal) => Some("ServicePrincipal"),
        None if r.reference(PRINCIPAL).is_some() => Some("ServicePrincipal"),
        None => None,
    };
    if let Some(t) = ty {
        json::set(b, "properties.principalType", json!(t));
    }
    if let Some(d) = &a.description {
        json::set(b, "properties.description", json!(d.value));
    }
}

/// Binds the scope and principal keys and checks the role.
fn check(rs: &mut Resolver<'_>, spec: &KindSpec, site: Site<'_>) {
    let KindSpec::RoleAssignment(a) = spec else {
        return;
    };
    if !a.scope.value.starts_with('/') {
        site.refs.extend(rs.bind(&a.scope, SCOPE, super::ALL));
    }
    let p = &a.principal.value;
    if !p.starts_with('/') && !is_guid(p) {
        let mut kinds = vec![Kind::UserAssignedIdentity];
        kinds.extend(system_identity_kinds());
        site.refs.extend(rs.bind(&a.principal, PRINCIPAL, &kinds));
    }
    if role_guid(&a.role.value).is_none() {
        let hint = moat_spec::suggest::did_you_mean(
            &a.role.value,
            BUILT_IN_ROLES.iter().map(|(n, _)| *n),
        )
        .map(|s| format!("did you mean `{s}`?"))
        .unwrap_or_else(|| {
            "give a built-in role's name (`AcrPull`, `Key Vault Secrets User`, `Storage Blob Data Contributor`, …) or a role definition ID".into()
        });
        rs.push(
            Diagnostic::error(
                codes::E0114,
                format!("unknown role `{}`", a.role.value),
                a.role.span,
            )
            .hint(hint),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_is_a_stable_uuid_of_the_triple() {
        let a = assignment_name("/subscriptions/s/resourceGroups/rg", "p", "r");
        assert!(is_guid(&a), "{a}");
        assert_eq!(
            a,
            assignment_name("/SUBSCRIPTIONS/s/resourcegroups/RG/", "P", "R")
        );
        assert_ne!(
            a,
            assignment_name("/subscriptions/s/resourceGroups/rg", "p", "r2")
        );
        assert_ne!(
            a,
            assignment_name("/subscriptions/s/resourceGroups/rg", "p2", "r")
        );
        assert_eq!(&a[14..15], "8");
    }

    #[test]
    fn roles_by_name_or_definition_id() {
        assert_eq!(
            role_guid("acrpull").as_deref(),
            Some("7f951dda-4ed3-4680-a7ca-43fe172d538d")
        );
        assert_eq!(
            role_guid("/subscriptions/s/providers/Microsoft.Authorization/roleDefinitions/ACDD72A7-3385-48EF-BD42-F606FBA81AE7").as_deref(),
            Some("acdd72a7-3385-48ef-bd42-f606fba81ae7")
        );
        assert_eq!(role_guid("Acr Puller"), None);
        assert_eq!(role_guid("/subscriptions/s/roleDefinitions/nope"), None);
    }
}
