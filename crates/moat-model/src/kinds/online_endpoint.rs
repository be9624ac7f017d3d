//! Online endpoints of a workspace. The endpoint's own PUT never manages `traffic` or
//! `mirrorTraffic`: it carries the live maps over (Azure resets traffic to 0 when a PUT omits
//! it), and the spec's maps are written by the endpoint's traffic child (`online_traffic.rs`)
//! after every deployment it names exists.

use super::user_assigned_identity as uai;
use super::{Field, KindDef, ML_SECRETS, Scope, ScopeRef, Site, canon, refs};
use crate::arm::MapContext;
use crate::model::{Body, Kind, Resource};
use crate::resolve::Resolver;
use crate::{json, naming};
use moat_spec::ast::{EndpointAuthMode, KindSpec, PublicNetworkAccess};
use moat_spec::{Spanned, codes};
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub(crate) static DEF: KindDef = KindDef {
    scope_ref: Some(ScopeRef {
        field: refs::WORKSPACE,
        get: scope_ref,
    }),
    fields: &[
        Field::new("properties.authMode", canon::lower),
        Field::new("properties.compute", canon::id_of)
            .default("null")
            .immutable(),
        Field::new("properties.publicNetworkAccess", canon::lower).default("\"enabled\""),
        Field::new("properties.description", canon::same),
        // Managed only when the spec says `identity:`; otherwise the live one is carried over.
        Field::new("identity.type", uai::identity_type).default(r#""none""#),
        Field::new("identity.userAssignedIdentities", uai::user_assigned_ids).default("[]"),
    ],
    server_outputs: &[("principal_id", "identity.principalId")],
    carry_over: &["properties.traffic", "properties.mirrorTraffic", "identity"],
    secrets: ML_SECRETS,
    deletes_children: &[Kind::OnlineDeployment, Kind::OnlineTraffic],
    outputs,
    ..KindDef::new(
        Kind::OnlineEndpoint,
        "online_endpoint",
        "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
        "2024-04-01",
        Scope::Child {
            parent: Kind::MlWorkspace,
            segment: "onlineEndpoints",
        },
        naming::ML_ENDPOINT,
        90,
        body,
        check,
    )
};

/// The endpoint's body without its traffic maps (shared with the traffic child, which adds
/// them).
pub(crate) fn body(r: &Resource, b: &mut Value, _ctx: &MapContext) {
    let Body::Spec(KindSpec::OnlineEndpoint(e)) = &r.body else {
        return;
    };
    let mode = match e.auth_mode.as_ref().map(|m| m.value) {
        Some(EndpointAuthMode::AmlToken) => "AMLToken",
        Some(EndpointAuthMode::AadToken) => "AADToken",
        _ => "Key",
    };
    json::set(b, "properties.authMode", json!(mode));
    if let Some(id) = super::ref_id(r, refs::COMPUTE) {
        json::set(b, "properties.compute", json!(id));
    }
    let access = match e.public_network_access.as_ref().map(|p| p.value) {
        Some(PublicNetworkAccess::Disabled) => "Disabled",
        _ => "Enabled",
    };
    json::set(b, "properties.publicNetworkAccess", json!(access));
    if let Some(i) = &e.identity {
        uai::set_body(
            r,
            b,
            uai::system(Some(i), false),
            "SystemAssigned,UserAssigned",
        );
    }
    if let Some(d) = &e.description {
        json::set(b, "properties.description", json!(d.value));
    }
}

/// Binds the compute and adds the traffic child, which comes after every deployment its
/// maps name.
fn check(rs: &mut Resolver<'_>, spec: &KindSpec, site: Site<'_>) {
    let Site {
        key,
        location,
        refs,
        children,
    } = site;
    let KindSpec::OnlineEndpoint(e) = spec else {
        return;
    };
    if let Some(c) = &e.compute {
        refs.extend(rs.bind(c, refs::COMPUTE, &[Kind::KubernetesCompute]));
    }
    uai::bind(rs, e.identity.as_ref(), refs);
    let Some(id) = rs.ids.get(key).cloned() else {
        return;
    };
    let mut child_refs: Vec<crate::model::Ref> = refs.clone();
    for (map, entries) in [
        ("traffic", &e.traffic),
        ("mirror_traffic", &e.mirror_traffic),
    ] {
        for (name, pct) in entries.iter().flat_map(|m| m.value.iter()) {
            if pct.value > 100 {
                rs.range(pct, 0, 100, &format!("{map}.{}", name.value));
            }
            let field = refs::traffic(map, &name.value);
            if child_refs.iter().any(|r| r.field == field) {
                continue;
            }
            if !rs.syms.contains_key(name.value.as_str()) {
                rs.push(
                    moat_spec::Diagnostic::error(
                        codes::E0201,
                        format!("`{key}` has no deployment `{}`", name.value),
                        name.span,
                    )
                    .label("no online_deployment with this key")
                    .hint("declare an `online_deployment` with this key and `endpoint:` set to this endpoint"),
                );
                continue;
            }
            child_refs.extend(rs.bind(name, &field, &[Kind::OnlineDeployment]));
        }
    }
    let name = id.rsplit('/').next().unwrap_or(key).to_string();
    children.push(Resource {
        key: format!("{key}/traffic"),
        key_span: rs.syms[key].res.key.span,
        kind: Kind::OnlineTraffic,
        name: Spanned::new(name, rs.syms[key].res.key.span),
        location: location.clone(),
        tags: BTreeMap::new(),
        id,
        parent: Some(key.to_string()),
        body: Body::Spec(spec.clone()),
        refs: child_refs,
        depends_on: Vec::new(),
        // The endpoint's own `protect:` guards it; its traffic is only a write of it.
        protect: None,
        span: rs.syms[key].res.span,
    });
}

/// A managed endpoint's scoring URI follows from its name and region; a Kubernetes one is
/// served by the cluster's inference router, whose address only the cluster knows.
fn outputs(name: &str, applied: &Value) -> Vec<(&'static str, String)> {
    let managed = applied.get("properties.compute").is_none_or(Value::is_null);
    match applied.get("location").and_then(Value::as_str) {
        Some(loc) if managed => vec![(
            "scoring_uri",
            format!("https://{name}.{loc}.inference.ml.azure.com/score"),
        )],
        _ => Vec::new(),
    }
}

fn scope_ref(spec: &KindSpec) -> Option<&Spanned<String>> {
    match spec {
        KindSpec::OnlineEndpoint(x) => Some(&x.workspace),
        _ => None,
    }
}
