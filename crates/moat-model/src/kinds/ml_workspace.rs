//! Azure ML workspaces: their dependent resources (fixed at creation) and settings; computes are children.

use super::user_assigned_identity as uai;
use super::{Field, KindDef, ML_SECRETS, Scope, ScopeRef, Site, canon, refs, words};
use crate::arm::{MapContext, toggle};
use crate::model::{Body, Kind, Resource};
use crate::resolve::Resolver;
use crate::{json, naming};
use moat_spec::ast::{IsolationMode, KindSpec};
use moat_spec::{Diagnostic, Spanned, codes};
use serde_json::{Value, json};

// `deletes_children`: Azure hard-deletes a workspace's compute clusters with it (the "hard
// deleted" column of Azure ML's workspace soft-delete documentation; moat-sim deletes a
// parent's children with it), so the plan lists each AmlCompute as destroyed with the
// workspace and sends no DELETE of its own. AKS computes are not in the list: the plan still
// deletes each before the workspace with `underlyingResourceAction=Delete`, because a
// workspace's delete only drops the attachment and would leave a cluster Azure ML created.
pub(crate) static DEF: KindDef = KindDef {
    deletes_children: &[Kind::AmlCompute, Kind::MlOutboundRule],
    live_check: Some(check_live),
    outputs,
    scope_ref: Some(ScopeRef {
        field: refs::RESOURCE_GROUP,
        get: scope_ref,
    }),
    holds_data: Some("its run history, registered models and data assets, and endpoints"),
    // Sources: machineLearningServices.json (2024-04-01). In place: what
    // `WorkspacePropertiesUpdateParameters` carries (`description`, `friendlyName`,
    // `imageBuildCompute`, `publicNetworkAccess`, `applicationInsights`,
    // `containerRegistry`). `storageAccount`, `keyVault` and `hbiWorkspace` are not in it:
    // they replace the workspace (and its computes).
    fields: &[
        Field::new("properties.storageAccount", canon::id_of)
            .immutable()
            .spec("storage_account"),
        Field::new("properties.keyVault", canon::id_of)
            .immutable()
            .spec("key_vault"),
        Field::new("properties.applicationInsights", canon::id_of).spec("application_insights"),
        Field::new("properties.containerRegistry", canon::id_of).spec("container_registry"),
        Field::new("properties.friendlyName", canon::same)
            .default(r#""""#)
            .spec("friendly_name"),
        Field::new("properties.description", canon::same)
            .default(r#""""#)
            .spec("description"),
        Field::new("properties.publicNetworkAccess", canon::lower)
            .default(r#""enabled""#)
            .spec_words("public_network_access", words::toggle),
        Field::new("properties.hbiWorkspace", canon::same)
            .default("false")
            .immutable()
            .spec("hbi_workspace"),
        Field::new("properties.imageBuildCompute", canon::same).spec("image_build_compute"),
        // Only the isolation: `outboundRules` holds the rules Azure adds besides the spec's,
        // which are written and compared as children (`ml_outbound_rule.rs`).
        Field::new("properties.managedNetwork.isolationMode", canon::lower)
            .default(r#""disabled""#)
            .spec("managed_network.isolation"),
        Field::new("identity.type", uai::identity_type).default(r#""systemassigned""#),
        Field::new("identity.userAssignedIdentities", uai::user_assigned_ids).default("[]"),
    ],
    server_outputs: &[("principal_id", "identity.principalId")],
    secrets: ML_SECRETS,
    ..KindDef::new(
        Kind::MlWorkspace,
        "ml_workspace",
        "Microsoft.MachineLearningServices/workspaces",
        "2024-04-01",
        Scope::ResourceGroup,
        naming::ML_WORKSPACE,
        60,
        body,
        check,
    )
};

fn body(r: &Resource, b: &mut Value, _ctx: &MapContext) {
    let Body::Spec(KindSpec::MlWorkspace(w)) = &r.body else {
        return;
    };
    let reference = |field: &str| super::ref_id(r, field);
    let system = uai::system(w.identity.as_ref(), true);
    uai::set_body(r, b, system, "SystemAssigned,UserAssigned");
    // A workspace with only user-assigned identities names the one it acts as.
    if let (false, Some(first)) = (system, uai::user_ids(r).first()) {
        json::set(b, "properties.primaryUserAssignedIdentity", json!(first));
    }
    for (field, prop) in [
        (refs::STORAGE_ACCOUNT, "storageAccount"),
        (refs::KEY_VAULT, "keyVault"),
        (refs::APPLICATION_INSIGHTS, "applicationInsights"),
        (refs::CONTAINER_REGISTRY, "containerRegistry"),
    ] {
        if let Some(id) = reference(field) {
            json::set(b, &format!("properties.{prop}"), json!(id));
        }
    }
    if let Some(x) = &w.friendly_name {
        json::set(b, "properties.friendlyName", json!(x.value));
    }
    if let Some(x) = &w.description {
        json::set(b, "properties.description", json!(x.value));
    }
    if let Some(x) = &w.public_network_access {
        json::set(b, "properties.publicNetworkAccess", json!(toggle(x.value)));
    }
    if let Some(x) = &w.hbi_workspace {
        json::set(b, "properties.hbiWorkspace", json!(x.value));
    }
    if let Some(x) = &w.image_build_compute {
        json::set(b, "properties.imageBuildCompute", json!(x.value));
    }
    if let Some(i) = w
        .managed_network
        .as_ref()
        .and_then(|m| m.value.isolation.as_ref())
    {
        json::set(
            b,
            "properties.managedNetwork.isolationMode",
            json!(isolation_word(i.value)),
        );
    }
}

/// Azure's spelling of an isolation mode.
fn isolation_word(i: IsolationMode) -> &'static str {
    match i {
        IsolationMode::Disabled => "Disabled",
        IsolationMode::AllowInternetOutbound => "AllowInternetOutbound",
        IsolationMode::AllowOnlyApprovedOutbound => "AllowOnlyApprovedOutbound",
    }
}

/// The isolation a workspace's spec asks for (`disabled` when it says none), and where.
fn desired_isolation(w: &moat_spec::ast::MlWorkspace) -> (IsolationMode, Option<moat_spec::Span>) {
    match &w.managed_network {
        Some(m) => match &m.value.isolation {
            Some(i) => (i.value, Some(i.span)),
            None => (IsolationMode::Disabled, Some(m.span)),
        },
        None => (IsolationMode::Disabled, None),
    }
}

/// Plan-time checks of the managed network's one-way door, against the live workspace:
/// isolation that is on cannot be turned off (E0114, an error), and turning it on — on a new
/// workspace or an existing one — is a warning (W0302), because it cannot be undone.
pub(crate) fn check_live(
    model: &crate::model::Model,
    live: &std::collections::BTreeMap<String, Value>,
) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for r in model.of_kind(Kind::MlWorkspace) {
        let Body::Spec(KindSpec::MlWorkspace(w)) = &r.body else {
            continue;
        };
        let (want, at) = desired_isolation(w);
        let now = live
            .get(&r.key)
            .and_then(|b| json::get(b, "properties.managedNetwork.isolationMode"))
            .and_then(Value::as_str)
            .unwrap_or("Disabled");
        let on = !now.eq_ignore_ascii_case("disabled");
        if on && want == IsolationMode::Disabled {
            let span = at.unwrap_or(r.key_span);
            out.push(
                Diagnostic::error(
                    codes::E0114,
                    format!(
                        "workspace `{}` has managed network isolation `{now}`, which cannot be turned off",
                        r.key
                    ),
                    span,
                )
                .label(if at.is_some() {
                    "asks for `disabled`"
                } else {
                    "no `managed_network` here means `disabled`"
                })
                .hint(format!(
                    "keep `managed_network: {{ isolation: {} }}`; only a new workspace can be without one",
                    match now.to_ascii_lowercase().as_str() {
                        "allowonlyapprovedoutbound" => "allow_only_approved_outbound",
                        _ => "allow_internet_outbound",
                    }
                )),
            );
        } else if !on
            && want != IsolationMode::Disabled
            && let Some(span) = at
        {
            out.push(
                Diagnostic::warning(
                    codes::W0302,
                    format!(
                        "this plan turns on managed network isolation of workspace `{}`: it cannot be turned off again",
                        r.key
                    ),
                    span,
                )
                .label(format!("`{}` from here on", isolation_word(want)))
                .note("Azure refuses to return a workspace's managed network to `Disabled`; only deleting the workspace undoes it"),
            );
        }
    }
    out
}

/// Offline checks of one `ml_workspace`: what Azure would reject that can be known from the spec.
pub(crate) fn check(rs: &mut Resolver<'_>, spec: &KindSpec, site: Site<'_>) {
    let Site {
        key,
        refs,
        children,
        ..
    } = site;
    let KindSpec::MlWorkspace(w) = spec else {
        return;
    };
    refs.extend(rs.bind(
        &w.storage_account,
        refs::STORAGE_ACCOUNT,
        &[Kind::StorageAccount],
    ));
    refs.extend(rs.bind(&w.key_vault, refs::KEY_VAULT, &[Kind::KeyVault]));
    uai::bind(rs, w.identity.as_ref(), refs);
    refs.extend(rs.bind(
        &w.application_insights,
        refs::APPLICATION_INSIGHTS,
        &[Kind::ApplicationInsights],
    ));
    if let Some(c) = &w.container_registry {
        refs.extend(rs.bind(c, refs::CONTAINER_REGISTRY, &[Kind::ContainerRegistry]));
    }
    super::ml_outbound_rule::children(rs, key, spec, desired_isolation(w).0, children);
    if let Some(b) = &w.image_build_compute {
        let exists = rs.spec.resources.iter().any(|r| match &r.body {
            Some(KindSpec::AmlCompute(c)) => {
                c.workspace.value == key && rs.azure_name(r).value == b.value
            }
            _ => false,
        });
        if !exists {
            rs.push(
                    Diagnostic::warning(codes::E0203, format!("no `aml_compute` named `{}` in this workspace", b.value), b.span)
                        .hint("name an AmlCompute cluster of this workspace; image builds fail without one when the registry is behind a VNet"),
                );
        }
    }
}

/// The `resource_group:` naming its scope.
fn scope_ref(spec: &KindSpec) -> Option<&Spanned<String>> {
    match spec {
        KindSpec::MlWorkspace(x) => Some(&x.resource_group),
        _ => None,
    }
}

/// The workspace's discovery URL, from the region it was applied in.
fn outputs(_: &str, applied: &Value) -> Vec<(&'static str, String)> {
    applied
        .get("location")
        .and_then(Value::as_str)
        .map(|loc| {
            (
                "discovery_url",
                format!("https://{loc}.api.azureml.ms/discovery"),
            )
        })
        .into_iter()
        .collect()
}
