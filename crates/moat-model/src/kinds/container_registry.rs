//! Container registries: SKU, admin user, network access and the firewall.

use super::user_assigned_identity as uai;
use super::{Field, KindDef, Scope, ScopeRef, Site, canon, refs};
use crate::arm::{MapContext, access, toggle};
use crate::cidr::Cidr;
use crate::model::{Body, Kind, Resource};
use crate::resolve::Resolver;
use crate::{json, naming};
use moat_spec::ast::{self, KindSpec};
use moat_spec::{Diagnostic, Spanned, codes};
use serde_json::{Value, json};

pub(crate) static DEF: KindDef = KindDef {
    outputs,
    scope_ref: Some(ScopeRef {
        field: refs::RESOURCE_GROUP,
        get: scope_ref,
    }),
    holds_data: Some("its images"),
    // Sources: containerregistry.json (2023-07-01). In place: `sku` and what
    // `RegistryPropertiesUpdateParameters` carries (`adminUserEnabled`, `networkRuleSet`,
    // `publicNetworkAccess`). `zoneRedundancy` is create-only (not in the update
    // parameters): it replaces the registry. `anonymousPullEnabled` is sent in the full PUT
    // moat updates with [unverified: not in this version's update parameters].
    fields: &[
        Field::new("sku.name", canon::lower),
        Field::new("properties.adminUserEnabled", canon::same),
        Field::new("properties.publicNetworkAccess", canon::lower).default(r#""enabled""#),
        Field::new("properties.zoneRedundancy", canon::lower)
            .default(r#""disabled""#)
            .immutable(),
        Field::new("properties.anonymousPullEnabled", canon::same).default("false"),
        Field::new("properties.networkRuleSet.defaultAction", canon::lower).default(r#""allow""#),
        Field::new("properties.networkRuleSet.ipRules", canon::ip_rules_bare).default("[]"),
        Field::new("identity.type", uai::identity_type).default(r#""none""#),
        Field::new("identity.userAssignedIdentities", uai::user_assigned_ids).default("[]"),
    ],
    server_outputs: &[("principal_id", "identity.principalId")],
    secrets: &["customHeaders", "serviceUri"],
    ..KindDef::new(
        Kind::ContainerRegistry,
        "container_registry",
        "Microsoft.ContainerRegistry/registries",
        "2023-07-01",
        Scope::ResourceGroup,
        naming::CONTAINER_REGISTRY,
        20,
        body,
        check,
    )
};

fn body(r: &Resource, b: &mut Value, _ctx: &MapContext) {
    let Body::Spec(KindSpec::ContainerRegistry(c)) = &r.body else {
        return;
    };
    let sku = match c.sku.as_ref().map(|s| s.value) {
        Some(ast::RegistrySku::Basic) => "Basic",
        Some(ast::RegistrySku::Standard) => "Standard",
        _ => "Premium",
    };
    json::set(b, "sku.name", json!(sku));
    json::set(
        b,
        "properties.adminUserEnabled",
        json!(c.admin_user_enabled.as_ref().is_some_and(|x| x.value)),
    );
    if let Some(x) = &c.public_network_access {
        json::set(b, "properties.publicNetworkAccess", json!(toggle(x.value)));
    }
    if let Some(x) = &c.zone_redundancy {
        json::set(b, "properties.zoneRedundancy", json!(toggle(x.value)));
    }
    if let Some(x) = &c.anonymous_pull {
        json::set(b, "properties.anonymousPullEnabled", json!(x.value));
    }
    if let Some(i) = &c.identity {
        let system = uai::system(Some(i), false);
        uai::set_body(r, b, system, "SystemAssigned, UserAssigned");
    }
    if let Some(rules) = &c.network_rules {
        let ips: Vec<Value> = rules
            .value
            .ip_rules
            .iter()
            .flat_map(|l| l.value.iter())
            .map(|ip| json!({ "value": ip.value, "action": "Allow" }))
            .collect();
        json::set(
            b,
            "properties.networkRuleSet",
            json!({ "defaultAction": access(rules.value.default_action.as_ref().map(|a| a.value)), "ipRules": ips }),
        );
    }
}

/// Offline checks of one `container_registry`: what Azure would reject that can be known from the spec.
pub(crate) fn check(rs: &mut Resolver<'_>, spec: &KindSpec, site: Site<'_>) {
    let KindSpec::ContainerRegistry(c) = spec else {
        return;
    };
    uai::bind(rs, c.identity.as_ref(), site.refs);
    let premium = c
        .sku
        .as_ref()
        .is_none_or(|s| s.value == ast::RegistrySku::Premium);
    if let (Some(rules), false) = (&c.network_rules, premium) {
        rs.push(
            Diagnostic::error(
                codes::E0114,
                "registry network rules need the `premium` SKU",
                rules.span,
            )
            .hint("set `sku: premium`, or remove `network_rules`"),
        );
    }
    if let (Some(z), false) = (&c.zone_redundancy, premium)
        && z.value == ast::Toggle::Enabled
    {
        rs.err(
            codes::E0114,
            "zone redundancy needs the `premium` SKU",
            z.span,
        );
    }
    for ip in c
        .network_rules
        .iter()
        .flat_map(|r| r.value.ip_rules.iter())
        .flat_map(|l| l.value.iter())
    {
        if let Err(e) = Cidr::parse_ip_or_cidr(&ip.value) {
            rs.cidr_error(ip, e);
        }
    }
}

/// The `resource_group:` naming its scope.
fn scope_ref(spec: &KindSpec) -> Option<&Spanned<String>> {
    match spec {
        KindSpec::ContainerRegistry(x) => Some(&x.resource_group),
        _ => None,
    }
}

/// The registry's login server in the public cloud.
fn outputs(name: &str, _: &Value) -> Vec<(&'static str, String)> {
    vec![("login_server", format!("{name}.azurecr.io"))]
}
