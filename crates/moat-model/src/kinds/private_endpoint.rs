//! Private endpoints (Network 2024-03-01) and their DNS zone group. An endpoint reaches one
//! group (sub-resource) of its target; the group defaults from the target's kind. Its
//! `dns_zones:` become the child `privateDnsZoneGroups/default` (keyed `<endpoint>/dns_zones`),
//! through which Azure writes the endpoint's A records into the zones. Azure creates the
//! endpoint's NIC itself and deletes it with the endpoint (`made_with`).

use super::{Field, KindDef, Scope, ScopeRef, Site, canon, refs};
use crate::arm::{MapContext, id_obj};
use crate::model::{Body, Kind, Resource};
use crate::resolve::Resolver;
use crate::{json, naming};
use moat_spec::ast::KindSpec;
use moat_spec::suggest::did_you_mean;
use moat_spec::{Diagnostic, Spanned, codes};
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub(crate) static DEF: KindDef = KindDef {
    scope_ref: Some(ScopeRef {
        field: refs::RESOURCE_GROUP,
        get: scope_ref,
    }),
    // privateEndpoint.json (2024-03-01) `PrivateEndpoints_CreateOrUpdate`. The subnet, the
    // connection and the NIC name are fixed once the endpoint exists (the NIC is made in the
    // subnet, under that name, for that connection): a change replaces the endpoint.
    fields: &[
        Field::new("properties.subnet", canon::id_of).immutable(),
        Field::new(
            "properties.privateLinkServiceConnections",
            canon::link_connections,
        )
        .immutable(),
        Field::new("properties.customNetworkInterfaceName", canon::same)
            .default(r#""""#)
            .immutable(),
    ],
    // A full PUT without them would drop them.
    carry_over: &[
        "properties.manualPrivateLinkServiceConnections",
        "properties.applicationSecurityGroups",
        "properties.ipConfigurations",
    ],
    deletes_children: &[Kind::PrivateDnsZoneGroup],
    made_with: &["properties.networkInterfaces"],
    ..KindDef::new(
        Kind::PrivateEndpoint,
        "private_endpoint",
        "Microsoft.Network/privateEndpoints",
        "2024-03-01",
        Scope::ResourceGroup,
        naming::NETWORK_CHILD,
        // Recordings (network/test_network_private_endpoint*.yaml): 3–4 polls, ~30 s.
        30,
        body,
        check,
    )
};

pub(crate) static ZONE_GROUP_DEF: KindDef = KindDef {
    has_location: false,
    taggable: false,
    fields: &[Field::new(
        "properties.privateDnsZoneConfigs",
        canon::zone_configs,
    )],
    ..KindDef::new(
        Kind::PrivateDnsZoneGroup,
        "private_dns_zone_group",
        "Microsoft.Network/privateEndpoints/privateDnsZoneGroups",
        "2024-03-01",
        Scope::Child {
            parent: Kind::PrivateEndpoint,
            segment: "privateDnsZoneGroups",
        },
        naming::NETWORK_CHILD,
        // Recordings: a zone group PUT is done at the first poll, ~10 s.
        10,
        zone_group_body,
        no_check,
    )
};

/// The groups (sub-resources) each target kind offers, the default first. Storage has one
/// endpoint per group: `file` (or `dfs`, …) needs an endpoint of its own.
pub const GROUPS: &[(Kind, &[&str])] = &[
    (
        Kind::StorageAccount,
        &[
            "blob",
            "file",
            "queue",
            "table",
            "web",
            "dfs",
            "blob_secondary",
            "file_secondary",
            "queue_secondary",
            "table_secondary",
            "web_secondary",
            "dfs_secondary",
        ],
    ),
    (Kind::KeyVault, &["vault"]),
    (Kind::ContainerRegistry, &["registry"]),
    (Kind::MlWorkspace, &["amlworkspace"]),
];

/// The kinds an endpoint can target.
const TARGETS: &[Kind] = &[
    Kind::StorageAccount,
    Kind::KeyVault,
    Kind::ContainerRegistry,
    Kind::MlWorkspace,
];

/// The endpoint's group: the spec's `group:`, else the default of its target's kind.
pub fn group_of(r: &Resource) -> Option<String> {
    let Body::Spec(KindSpec::PrivateEndpoint(p)) = &r.body else {
        return None;
    };
    if let Some(g) = &p.group {
        return Some(g.value.to_ascii_lowercase());
    }
    let target = r.reference(refs::TARGET)?;
    GROUPS
        .iter()
        .find(|(k, _)| *k == target.kind)
        .and_then(|(_, g)| g.first())
        .map(|g| (*g).to_string())
}

fn body(r: &Resource, b: &mut Value, _ctx: &MapContext) {
    let Body::Spec(KindSpec::PrivateEndpoint(p)) = &r.body else {
        return;
    };
    if let Some(id) = super::ref_id(r, refs::SUBNET) {
        json::set(b, "properties.subnet", id_obj(&id));
    }
    if let Some(id) = super::ref_id(r, refs::TARGET) {
        let groups: Vec<String> = group_of(r).into_iter().collect();
        json::set(
            b,
            "properties.privateLinkServiceConnections",
            json!([{ "name": r.name.value, "properties": {
                "privateLinkServiceId": id, "groupIds": groups } }]),
        );
    }
    if let Some(n) = &p.nic_name {
        json::set(b, "properties.customNetworkInterfaceName", json!(n.value));
    }
}

/// The zone configs, one per zone, named after the zone (`privatelink-blob-core-windows-net`).
fn zone_group_body(r: &Resource, b: &mut Value, _ctx: &MapContext) {
    let configs: Vec<Value> = r
        .refs
        .iter()
        .filter(|x| x.kind == Kind::PrivateDnsZone)
        .map(|x| {
            let zone = x.id.rsplit('/').next().unwrap_or_default();
            json!({ "name": zone.replace('.', "-"),
                    "properties": { "privateDnsZoneId": x.id } })
        })
        .collect();
    json::set(b, "properties.privateDnsZoneConfigs", Value::Array(configs));
}

/// Checked by its endpoint, which builds it.
fn no_check(_rs: &mut Resolver<'_>, _spec: &KindSpec, _site: Site<'_>) {}

/// Binds the subnet, the target and the zones; checks the group against the target's kind;
/// adds the DNS zone group child when the endpoint names zones.
pub(crate) fn check(rs: &mut Resolver<'_>, spec: &KindSpec, site: Site<'_>) {
    let Site {
        key,
        refs: bound,
        children,
        ..
    } = site;
    let KindSpec::PrivateEndpoint(p) = spec else {
        return;
    };
    bound.extend(rs.bind(&p.subnet, refs::SUBNET, &[Kind::Subnet]));
    let target = rs.bind(&p.target, refs::TARGET, TARGETS);
    if let (Some(t), Some(g)) = (&target, &p.group)
        && let Some((_, groups)) = GROUPS.iter().find(|(k, _)| *k == t.kind)
        && !groups.iter().any(|x| x.eq_ignore_ascii_case(&g.value))
    {
        let hint = did_you_mean(&g.value, groups.iter().copied())
            .map(|s| format!("did you mean `{s}`?"))
            .unwrap_or_else(|| format!("a `{}` offers: {}", t.kind.word(), groups.join(", ")));
        rs.push(
            Diagnostic::error(
                codes::E0113,
                format!(
                    "a `{}` has no private endpoint group `{}`",
                    t.kind.word(),
                    g.value
                ),
                g.span,
            )
            .label("unknown group for this target")
            .hint(hint),
        );
    }
    bound.extend(target);
    if let Some(n) = &p.nic_name
        && let Err(why) = naming::NETWORK_CHILD.check(&n.value)
    {
        rs.push(
            Diagnostic::error(
                codes::E0301,
                format!("invalid network interface name `{}`", n.value),
                n.span,
            )
            .label(why),
        );
    }
    let mut zone_refs = Vec::new();
    for (i, z) in p.dns_zones.iter().flat_map(|l| l.value.iter()).enumerate() {
        if let Some(r) = rs.bind(z, &refs::dns_zone(i), &[Kind::PrivateDnsZone]) {
            if zone_refs
                .iter()
                .any(|o: &crate::model::Ref| crate::armid::same_id(&o.id, &r.id))
            {
                rs.push(
                    Diagnostic::error(
                        codes::E0114,
                        format!("`{key}` names the zone `{}` twice", z.value),
                        z.span,
                    )
                    .hint("a zone group holds each zone once; remove the second"),
                );
                continue;
            }
            zone_refs.push(r);
        }
    }
    if zone_refs.is_empty() {
        return;
    }
    let Some(id) = rs.ids.get(key).cloned() else {
        return;
    };
    let Some(sym) = rs.syms.get(key) else { return };
    let (key_span, span) = (sym.res.key.span, sym.res.span);
    let at = p.dns_zones.as_ref().map_or(key_span, |d| d.span);
    children.push(Resource {
        key: format!("{key}/dns_zones"),
        key_span: at,
        kind: Kind::PrivateDnsZoneGroup,
        name: Spanned::new("default".to_string(), at),
        location: None,
        tags: BTreeMap::new(),
        id: format!("{id}/privateDnsZoneGroups/default"),
        parent: Some(key.to_string()),
        body: Body::Spec(spec.clone()),
        refs: zone_refs,
        depends_on: Vec::new(),
        // The endpoint's `protect:` guards the endpoint; its zone group holds no data.
        protect: None,
        span,
    });
}

/// The `resource_group:` naming its scope.
fn scope_ref(spec: &KindSpec) -> Option<&Spanned<String>> {
    match spec {
        KindSpec::PrivateEndpoint(x) => Some(&x.resource_group),
        _ => None,
    }
}
