//! The outbound rules of a workspace's managed network (`managed_network.outbound_rules`),
//! each written through its own child endpoint `workspaces/{ws}/outboundRules/{rule}`
//! (machineLearningServices.json 2024-04-01, `ManagedNetworkSettingsRule_*`), keyed
//! `<workspace>/outbound_rules/<name>`. Only the rules the spec names are moat's: the ones
//! Azure adds itself (category `Required` or `Dependency`) are in no state record, so they
//! are never planned, and the workspace's own projection leaves `outboundRules` out, so they
//! never show as drift.

use super::{Field, KindDef, Scope, Site, canon};
use crate::arm::MapContext;
use crate::model::{Body, Kind, Resource};
use crate::resolve::Resolver;
use crate::{json, naming};
use moat_spec::ast::{KindSpec, OutboundRule};
use moat_spec::{Diagnostic, Spanned, codes};
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub(crate) static DEF: KindDef = KindDef {
    has_location: false,
    taggable: false,
    fields: &[
        Field::new("properties.type", canon::lower).immutable(),
        Field::new("properties.category", canon::lower).default(r#""userdefined""#),
        Field::new("properties.destination", destination),
    ],
    ..KindDef::new(
        Kind::MlOutboundRule,
        "ml_outbound_rule",
        "Microsoft.MachineLearningServices/workspaces/outboundRules",
        "2024-04-01",
        Scope::Child {
            parent: Kind::MlWorkspace,
            segment: "outboundRules",
        },
        naming::ML_ASSET,
        // No recording; a rule change reprovisions the managed network's firewall, minutes.
        60,
        body,
        no_check,
    )
};

/// A destination with its strings lowercased; the service's read-only parts (a service tag's
/// resolved `addressPrefixes`, a private endpoint's `sparkStatus`) left out.
fn destination(v: &Value) -> Option<Value> {
    fn fold(v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(s.to_lowercase()),
            Value::Object(m) => Value::Object(
                m.iter()
                    .filter(|(k, _)| !matches!(k.as_str(), "addressPrefixes" | "sparkStatus"))
                    .map(|(k, v)| (k.clone(), fold(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
    Some(fold(v))
}

/// The spec field of rule `name` (its reference field, for a private endpoint rule).
pub(crate) fn field(name: &str) -> String {
    format!("managed_network.outbound_rules.{name}")
}

/// The rule this child writes, from its workspace's spec.
fn rule(r: &Resource) -> Option<&OutboundRule> {
    let Body::Spec(KindSpec::MlWorkspace(w)) = &r.body else {
        return None;
    };
    let rules = w.managed_network.as_ref()?.value.outbound_rules.as_ref()?;
    rules
        .value
        .0
        .iter()
        .find(|(n, _)| n.value == r.name.value)
        .map(|(_, x)| &x.value)
}

fn body(r: &Resource, b: &mut Value, _ctx: &MapContext) {
    let Some(x) = rule(r) else { return };
    let mut p = json!({ "category": "UserDefined" });
    if let Some(f) = &x.fqdn {
        p["type"] = json!("FQDN");
        p["destination"] = json!(f.value);
    } else if let Some(t) = &x.service_tag {
        p["type"] = json!("ServiceTag");
        p["destination"] = json!({
            "serviceTag": t.value,
            "protocol": x.protocol.as_ref().map_or("TCP", |p| p.value.as_str()),
            "portRanges": x.ports.as_ref().map_or("443", |p| p.value.as_str()),
            "action": "Allow",
        });
    } else if let Some(target) = r.reference(&field(&r.name.value)) {
        p["type"] = json!("PrivateEndpoint");
        let group = x
            .subresource
            .as_ref()
            .map(|s| s.value.clone())
            .or_else(|| {
                super::private_endpoint::GROUPS
                    .iter()
                    .find(|(k, _)| *k == target.kind)
                    .and_then(|(_, g)| g.first())
                    .map(|g| (*g).to_string())
            })
            .unwrap_or_default();
        p["destination"] = json!({
            "serviceResourceId": target.id,
            "subresourceTarget": group,
            "sparkEnabled": false,
        });
    }
    json::set(b, "properties", p);
}

/// Checked by its workspace, which builds it.
fn no_check(_rs: &mut Resolver<'_>, _spec: &KindSpec, _site: Site<'_>) {}

/// Adds one child per rule of the workspace's `managed_network`, checking each has exactly
/// one destination and binding a private endpoint rule's target.
pub(crate) fn children(
    rs: &mut Resolver<'_>,
    key: &str,
    spec: &KindSpec,
    isolation: moat_spec::ast::IsolationMode,
    out: &mut Vec<Resource>,
) {
    let KindSpec::MlWorkspace(w) = spec else {
        return;
    };
    let Some(rules) = w
        .managed_network
        .as_ref()
        .and_then(|m| m.value.outbound_rules.as_ref())
    else {
        return;
    };
    let Some(ws_id) = rs.ids.get(key).cloned() else {
        return;
    };
    for (name, x) in &rules.value.0 {
        let r = &x.value;
        let kinds = [
            r.fqdn.is_some(),
            r.service_tag.is_some(),
            r.private_endpoint.is_some(),
        ];
        if kinds.iter().filter(|b| **b).count() != 1 {
            rs.push(
                Diagnostic::error(
                    codes::E0114,
                    format!(
                        "outbound rule `{}` needs exactly one destination",
                        name.value
                    ),
                    x.span,
                )
                .hint("give one of `fqdn`, `service_tag` or `private_endpoint`"),
            );
            continue;
        }
        if r.fqdn.is_some() && isolation != moat_spec::ast::IsolationMode::AllowOnlyApprovedOutbound
        {
            rs.push(
                Diagnostic::error(
                    codes::E0114,
                    format!(
                        "FQDN rule `{}` needs `isolation: allow_only_approved_outbound`",
                        name.value
                    ),
                    x.span,
                )
                .hint("Azure takes FQDN rules only when outbound traffic is limited to approved destinations"),
            );
            continue;
        }
        if isolation == moat_spec::ast::IsolationMode::Disabled {
            rs.push(
                Diagnostic::error(
                    codes::E0114,
                    format!(
                        "outbound rule `{}` on a workspace without managed network isolation",
                        name.value
                    ),
                    x.span,
                )
                .hint("set `managed_network.isolation`, or remove the rule"),
            );
            continue;
        }
        let mut bound = Vec::new();
        if let Some(t) = &r.private_endpoint {
            match rs.bind(
                t,
                &field(&name.value),
                &[
                    Kind::StorageAccount,
                    Kind::KeyVault,
                    Kind::ContainerRegistry,
                    Kind::MlWorkspace,
                ],
            ) {
                Some(b) => bound.push(b),
                None => continue,
            }
        }
        out.push(Resource {
            key: format!("{key}/outbound_rules/{}", name.value),
            key_span: name.span,
            kind: Kind::MlOutboundRule,
            name: Spanned::new(name.value.clone(), name.span),
            location: None,
            tags: BTreeMap::new(),
            id: format!("{ws_id}/outboundRules/{}", name.value),
            parent: Some(key.to_string()),
            body: Body::Spec(spec.clone()),
            refs: bound,
            depends_on: Vec::new(),
            // The workspace's `protect:` guards the workspace; a rule holds no data.
            protect: None,
            span: x.span,
        });
    }
}
