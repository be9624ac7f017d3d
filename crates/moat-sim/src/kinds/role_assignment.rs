//! Microsoft.Authorization role assignments, an extension resource of any scope
//! (`<scope>/providers/Microsoft.Authorization/roleAssignments/<GUID>`), with the service's
//! conflict rules: the same scope, principal and role under another name is 409
//! `RoleAssignmentExists`; a changed principal or role is 400
//! `RoleAssignmentUpdateNotPermitted`; and a principal the emulator created moments ago is
//! 400 `PrincipalNotFound` until its replication delay has passed (azure-cli
//! container/test_container_create_with_msi_scope.yaml, acs/…virtual_node_addon.yaml).

use super::{KindDef, Span, not_routed};
use crate::ctx::Ctx;
use crate::errors::{ArmError, ArmResult};
use crate::kind::Kind;
use crate::reply::Reply;
use crate::store::Record;
use crate::util;
use serde_json::{Value, json};

/// Role assignments; the router sends their requests to [`handle`], never to `put`.
pub const DEF: KindDef = KindDef {
    kind: Kind::RoleAssignment,
    put: not_routed,
    patch: not_routed,
    delete: |_, _| Err(ArmError::bad_request("InvalidResourceType", "unexpected")),
    render: |_, _, _, _| {},
    refs: |_| Vec::new(),
    lro: None,
    create: Span::new(1.0, 0.5, 2.0),
    variants: &[],
    delete_secs: 0.0,
};

/// Seconds (before `--time-scale`) a new principal stays invisible to role assignments by
/// default: Entra ID's replication, which the recorded `PrincipalNotFound` answers show
/// (`SimConfig::replication_secs` changes it).
pub const REPLICATION_SECS: f64 = 10.0;

/// Splits `…/providers/Microsoft.Authorization/roleAssignments/<name>` into scope and name.
pub fn split(path: &str) -> Option<(String, String)> {
    let p = path.trim_end_matches('/');
    let lower = p.to_ascii_lowercase();
    let marker = "/providers/microsoft.authorization/roleassignments/";
    let at = lower.rfind(marker)?;
    let name = &p[at + marker.len()..];
    (!name.is_empty() && !name.contains('/')).then(|| (p[..at].to_string(), name.to_string()))
}

fn principal_of(rec: &Record) -> Option<&str> {
    util::str_at(&rec.body, "/properties/principalId")
        .filter(|_| rec.kind == Kind::UserAssignedIdentity)
        .or_else(|| util::str_at(&rec.body, "/identity/principalId"))
}

/// GET, PUT and DELETE of one role assignment.
pub fn handle(
    ctx: &mut Ctx,
    method: &str,
    sub: &str,
    scope: &str,
    name: &str,
    body: Option<Value>,
) -> ArmResult<Reply> {
    let id = format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}");
    let key = id.to_ascii_lowercase();
    match method {
        "GET" => match ctx.st.resources().get(&key) {
            Some(r) => Ok(Reply::json(200, r.body.clone())),
            None => Err(ArmError::new(
                404,
                "RoleAssignmentNotFound",
                format!("The role assignment '{name}' is not found."),
            )),
        },
        "DELETE" => match ctx.st.resources_mut().remove(&key) {
            Some(r) => Ok(Reply::json(200, r.body)),
            None => Ok(Reply::empty(204)),
        },
        "PUT" => {
            let body = body.unwrap_or(Value::Null);
            let role = util::str_at(&body, "/properties/roleDefinitionId")
                .ok_or_else(|| {
                    ArmError::invalid_content(
                        "Required property 'roleDefinitionId' not found in JSON",
                    )
                })?
                .to_string();
            let principal = util::str_at(&body, "/properties/principalId")
                .ok_or_else(|| {
                    ArmError::invalid_content("Required property 'principalId' not found in JSON")
                })?
                .to_string();
            if !util::is_guid(&principal) {
                return Err(ArmError::bad_request(
                    "InvalidPrincipalId",
                    "A valid principal ID must be provided for role assignment.",
                ));
            }
            if scope.to_ascii_lowercase().contains("/resourcegroups/")
                && ctx.st.get(scope).is_none()
            {
                return Err(ArmError::new(
                    404,
                    "ResourceNotFound",
                    format!("The scope '{scope}' does not exist."),
                ));
            }
            let delay = ctx.scaled(ctx.replication_secs);
            let young = ctx.st.resources().values().any(|r| {
                principal_of(r).is_some_and(|p| p.eq_ignore_ascii_case(&principal))
                    && ctx.now < r.created + delay
            });
            if young {
                return Err(ArmError::bad_request(
                    "PrincipalNotFound",
                    format!(
                        "Principal {} does not exist in the directory 72f988bf-86f1-41af-91ab-2d7cd011db47. Check that you have the correct principal ID. If you are creating this principal and then immediately assigning a role, this error might be related to a replication delay.",
                        principal.replace('-', "")
                    ),
                ));
            }
            let same = |r: &Record| {
                util::str_at(&r.body, "/properties/principalId")
                    .is_some_and(|p| p.eq_ignore_ascii_case(&principal))
                    && util::str_at(&r.body, "/properties/roleDefinitionId")
                        .is_some_and(|x| x.eq_ignore_ascii_case(&role))
            };
            if let Some(old) = ctx.st.resources().get(&key) {
                if !same(old) {
                    return Err(ArmError::bad_request(
                        "RoleAssignmentUpdateNotPermitted",
                        "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
                    ));
                }
            } else if ctx.st.resources().iter().any(|(k, r)| {
                r.kind == Kind::RoleAssignment
                    && k != &key
                    && split(&r.id).is_some_and(|(s, _)| s.eq_ignore_ascii_case(scope))
                    && same(r)
            }) {
                return Err(ArmError::new(
                    409,
                    "RoleAssignmentExists",
                    "The role assignment already exists.",
                ));
            }
            let props = body.get("properties").cloned().unwrap_or(json!({}));
            let mut p = json!({
                "roleDefinitionId": role,
                "principalId": principal,
                "principalType": props.get("principalType").cloned().unwrap_or(json!("User")),
                "scope": scope,
                "condition": null,
                "conditionVersion": null,
                "createdOn": util::timestamp(ctx.now),
                "updatedOn": util::timestamp(ctx.now),
                "createdBy": null,
                "updatedBy": "6d97229a-391f-473a-893f-f0608b592d7b",
                "delegatedManagedIdentityResourceId": null,
                "description": props.get("description").cloned().unwrap_or(Value::Null),
            });
            let existed = ctx.st.resources().get(&key).map(|r| r.created);
            if let Some(c) = existed {
                util::set_at(&mut p, "", "createdOn", json!(util::timestamp(c)));
            }
            let stored = json!({
                "properties": p,
                "id": id,
                "type": "Microsoft.Authorization/roleAssignments",
                "name": name,
            });
            let rg = scope.split('/').nth(4).unwrap_or_default().to_string();
            ctx.st.resources_mut().insert(
                key,
                Record {
                    id: id.clone(),
                    kind: Kind::RoleAssignment,
                    sub: sub.to_string(),
                    rg,
                    body: stored.clone(),
                    created: existed.unwrap_or(ctx.now),
                    modified: ctx.now,
                    busy_until: ctx.now,
                    transitional: String::new(),
                    failed: false,
                    deleting_until: None,
                    etag: util::weak_etag(),
                },
            );
            // The recordings answer 201 to a first PUT and to a repeated one alike.
            Ok(Reply::json(201, stored))
        }
        _ => Err(ArmError::new(
            405,
            "MethodNotAllowed",
            format!("The requested method '{method}' is not allowed for this resource."),
        )),
    }
}
