//! ML403: the grants the graph implies. An identity that Azure ML uses to reach a resource
//! needs a role on it, and moat can see which: a workspace's *user-assigned* identity (Azure
//! ML grants the system-assigned one itself) needs `AcrPull` on the workspace's registry,
//! `Key Vault Secrets User` on an RBAC vault and `Storage Blob Data Contributor` on its
//! storage; the identity of an AmlCompute cluster or an online endpoint needs `AcrPull` on the
//! workspace's registry (image pulls) and `Storage Blob Data Reader` on its storage (data and
//! models). Each missing one is a note whose hint is the `role_assignment` to paste.

use crate::catalogue::ids;
use crate::cx::Cx;
use moat_model::kinds::{refs, role_guid};
use moat_model::{Body, Kind, Resource};
use moat_spec::Span;
use moat_spec::ast::{KindSpec, ManagedIdentities};
use moat_spec::{Diagnostic, Spanned};

/// One implied grant.
struct Grant<'m> {
    /// The identity's key (a `user_assigned_identity`, or the resource with the system one).
    principal: String,
    /// Who acts with it, for the message.
    who: &'m str,
    role: &'static str,
    /// The key of the resource the role is on.
    scope: String,
    /// Where the need comes from (the reference to the scope).
    at: Span,
    why: &'static str,
}

/// The identity a resource acts as: its first user-assigned identity (a key of this spec),
/// else itself when it has a system-assigned one. `user_only` skips the system one (Azure ML
/// grants a workspace's own).
fn acting_identity(
    res: &Resource,
    id: Option<&Spanned<ManagedIdentities>>,
    system_default: bool,
    user_only: bool,
) -> Option<String> {
    let users = id
        .and_then(|i| i.value.user_assigned.as_ref())
        .map(|l| l.value.clone())
        .unwrap_or_default();
    if let Some(first) = users.first() {
        return (!first.value.starts_with('/')).then(|| first.value.clone());
    }
    let system = id
        .and_then(|i| i.value.system_assigned.as_ref())
        .map_or(system_default, |s| s.value);
    (system && !user_only && id.is_some()).then(|| res.key.clone())
}

/// The workspace of a compute or an endpoint, with its typed spec.
fn workspace_of<'m>(
    cx: &Cx<'m>,
    res: &'m Resource,
) -> Option<(&'m Resource, &'m moat_spec::ast::MlWorkspace)> {
    let ws = cx.model.get(res.parent.as_deref()?)?;
    match &ws.body {
        Body::Spec(KindSpec::MlWorkspace(w)) => Some((ws, w)),
        _ => None,
    }
}

/// True when the spec already has a `role_assignment` of `role` on `scope` for `principal`.
fn granted(cx: &Cx<'_>, g: &Grant<'_>) -> bool {
    let want = role_guid(g.role);
    cx.specs(Kind::RoleAssignment).any(|(res, spec)| {
        let KindSpec::RoleAssignment(a) = spec else {
            return false;
        };
        let scope = cx.target(res, "scope").map(|r| r.key.as_str());
        let principal = cx.target(res, "principal").map(|r| r.key.as_str());
        scope == Some(g.scope.as_str())
            && principal == Some(g.principal.as_str())
            && role_guid(&a.role.value) == want
    })
}

/// A key for the suggested assignment: `<principal>-<role>`.
fn suggested_key(g: &Grant<'_>) -> String {
    let role: String = g
        .role
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("{}-{role}", g.principal)
}

pub fn check(cx: &mut Cx<'_>) {
    let mut grants: Vec<Grant<'_>> = Vec::new();
    for (ws, spec) in cx.specs(Kind::MlWorkspace) {
        let KindSpec::MlWorkspace(w) = spec else {
            continue;
        };
        let Some(principal) = acting_identity(ws, w.identity.as_ref(), true, true) else {
            continue;
        };
        if let Some(acr) = &w.container_registry
            && let Some(t) = cx.target(ws, refs::CONTAINER_REGISTRY)
        {
            grants.push(Grant {
                principal: principal.clone(),
                who: &ws.key,
                role: "AcrPull",
                scope: t.key.clone(),
                at: acr.span,
                why: "image builds and pulls",
            });
        }
        if let Some(t) = cx.target(ws, refs::KEY_VAULT)
            && let Body::Spec(KindSpec::KeyVault(v)) = &t.body
            && v.rbac_authorization.as_ref().is_some_and(|x| x.value)
        {
            grants.push(Grant {
                principal: principal.clone(),
                who: &ws.key,
                role: "Key Vault Secrets User",
                scope: t.key.clone(),
                at: w.key_vault.span,
                why: "the workspace's secrets (the vault uses RBAC)",
            });
        }
        if let Some(t) = cx.target(ws, refs::STORAGE_ACCOUNT) {
            grants.push(Grant {
                principal,
                who: &ws.key,
                role: "Storage Blob Data Contributor",
                scope: t.key.clone(),
                at: w.storage_account.span,
                why: "the workspace's datastores",
            });
        }
    }
    let users = [Kind::AmlCompute, Kind::OnlineEndpoint];
    for kind in users {
        for (res, spec) in cx.specs(kind) {
            let id = match spec {
                KindSpec::AmlCompute(c) => c.identity.as_ref(),
                KindSpec::OnlineEndpoint(e) => e.identity.as_ref(),
                _ => None,
            };
            let Some(principal) = acting_identity(res, id, false, false) else {
                continue;
            };
            let Some((ws, w)) = workspace_of(cx, res) else {
                continue;
            };
            let at = id.map_or(res.key_span, |i| i.span);
            if w.container_registry.is_some()
                && let Some(t) = cx.target(ws, refs::CONTAINER_REGISTRY)
            {
                grants.push(Grant {
                    principal: principal.clone(),
                    who: &res.key,
                    role: "AcrPull",
                    scope: t.key.clone(),
                    at,
                    why: "its images",
                });
            }
            if let Some(t) = cx.target(ws, refs::STORAGE_ACCOUNT) {
                grants.push(Grant {
                    principal,
                    who: &res.key,
                    role: "Storage Blob Data Reader",
                    scope: t.key.clone(),
                    at,
                    why: "its data and models",
                });
            }
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut out: Vec<Diagnostic> = Vec::new();
    for g in &grants {
        if granted(cx, g) || !seen.insert((g.principal.clone(), g.role, g.scope.clone())) {
            continue;
        }
        let identity = if g.principal == g.who {
            format!("`{}`'s system-assigned identity", g.who)
        } else {
            format!("`{}` (the identity `{}` acts as)", g.principal, g.who)
        };
        out.push(
            Cx::diag(
                ids::ML403,
                format!(
                    "{identity} needs `{}` on `{}` for {}, and no role_assignment grants it",
                    g.role, g.scope, g.why
                ),
                g.at,
            )
            .label("implies a grant")
            .hint(format!(
                "add to `resources:`  {}: {{ type: role_assignment, scope: {}, role: {}, principal: {} }}",
                suggested_key(g),
                g.scope,
                g.role,
                g.principal
            )),
        );
    }
    for d in out {
        cx.push(d);
    }
}
