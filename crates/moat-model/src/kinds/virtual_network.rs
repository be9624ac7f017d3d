//! Virtual networks: address space and DNS servers; their subnets are children (`subnet.rs`).

use super::{Field, KindDef, LockGroup, Scope, ScopeRef, Site, canon, refs};
use crate::arm::{MapContext, strs};
use crate::cidr::Cidr;
use crate::model::{Body, Kind, Resource};
use crate::resolve::Resolver;
use crate::{cidr, json, naming};
use moat_spec::ast::{self, KindSpec};
use moat_spec::{Diagnostic, Span, Spanned, codes};
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub(crate) static DEF: KindDef = KindDef {
    // `VirtualNetworks_List` (virtualNetwork.json 2024-03-01) returns the `VirtualNetwork`
    // schema of `VirtualNetworks_Get`, subnets included; recorded in azure-cli
    // `network/test_network_vnet.yaml` (`network vnet list -g`) with full bodies.
    list_view_complete: true,
    scope_ref: Some(ScopeRef {
        field: refs::RESOURCE_GROUP,
        get: scope_ref,
    }),
    lock_group: LockGroup::Own,
    // Sources: virtualNetwork.json (2024-03-01): `VirtualNetworks_CreateOrUpdate` is the
    // update; the address space and DNS servers change in place (BEHAVIOR.md §5.2 for what a
    // full PUT must carry over).
    fields: &[
        Field::new("properties.addressSpace.addressPrefixes", canon::str_set).spec("address_space"),
        Field::new("properties.dhcpOptions.dnsServers", canon::str_set)
            .default("[]")
            .spec("dns_servers"),
    ],
    carry_over: &["properties.dhcpOptions"],
    deletes_children: &[Kind::Subnet],
    ..KindDef::new(
        Kind::VirtualNetwork,
        "virtual_network",
        "Microsoft.Network/virtualNetworks",
        "2024-03-01",
        Scope::ResourceGroup,
        naming::VIRTUAL_NETWORK,
        5,
        body,
        check,
    )
};

fn body(r: &Resource, b: &mut Value, _ctx: &MapContext) {
    let Body::Spec(KindSpec::VirtualNetwork(v)) = &r.body else {
        return;
    };
    // `subnets` is left out on purpose: at 2024-03-01 an absent property keeps the
    // subnets, which moat manages as children (BEHAVIOR.md §5.1).
    json::set(
        b,
        "properties.addressSpace.addressPrefixes",
        json!(strs(&v.address_space.value)),
    );
    if let Some(d) = &v.dns_servers {
        json::set(
            b,
            "properties.dhcpOptions.dnsServers",
            json!(strs(&d.value)),
        );
    }
}

/// Offline checks of one `virtual_network`: what Azure would reject that can be known from the spec.
pub(crate) fn check(rs: &mut Resolver<'_>, spec: &KindSpec, site: Site<'_>) {
    let Site { key, children, .. } = site;
    let KindSpec::VirtualNetwork(v) = spec else {
        return;
    };
    check_vnet(rs, key, v, children);
}

fn check_vnet(
    rs: &mut Resolver<'_>,
    key: &str,
    v: &ast::VirtualNetwork,
    children: &mut Vec<Resource>,
) {
    let mut space = Vec::new();
    for p in &v.address_space.value {
        match Cidr::parse_strict(&p.value) {
            Ok(c) => {
                if let Some((prev, prev_span)) =
                    space.iter().find(|(x, _): &&(Cidr, Span)| x.overlaps(c))
                {
                    let prev: &Cidr = prev;
                    rs.push(
                        Diagnostic::error(
                            codes::E0304,
                            format!("address range `{c}` overlaps `{prev}`"),
                            p.span,
                        )
                        .with_secondary(*prev_span, "overlapped range"),
                    );
                }
                rs.check_azure_reserved(c, p.span, "address range");
                space.push((c, p.span));
            }
            Err(e) => rs.cidr_error(p, e),
        }
    }
    if v.address_space.value.is_empty() {
        rs.err(
            codes::E0114,
            "`address_space` needs at least one range",
            v.address_space.span,
        );
    }
    for ip in v.dns_servers.iter().flat_map(|l| l.value.iter()) {
        if cidr::parse_ip(&ip.value).is_none() {
            rs.err(
                codes::E0302,
                format!("`{}` is not an IPv4 address", ip.value),
                ip.span,
            );
        }
    }
    let vnet_id = rs.ids.get(key).cloned().unwrap_or_default();
    let mut seen: Vec<(Cidr, Span, String)> = Vec::new();
    for (name, sub) in v.subnets.iter().flat_map(|s| s.value.iter()) {
        if let Err(why) = naming::NETWORK_CHILD.check(&name.value) {
            rs.push(
                Diagnostic::error(
                    codes::E0301,
                    format!("invalid subnet name `{}`", name.value),
                    name.span,
                )
                .label(why),
            );
        }
        let s = &sub.value;
        let site = super::subnet::Within {
            space: &space,
            space_span: Some(v.address_space.span),
        };
        let refs = super::subnet::check_fields(rs, &name.value, s, &site, &mut seen);
        let child_key = format!("{key}/{}", name.value);
        children.push(Resource {
            key: child_key,
            key_span: name.span,
            kind: Kind::Subnet,
            name: name.clone(),
            location: None,
            tags: BTreeMap::new(),
            id: format!("{vnet_id}/subnets/{}", name.value),
            parent: Some(key.to_string()),
            body: Body::Subnet(s.clone()),
            refs,
            depends_on: Vec::new(),
            // A subnet has no common fields of its own; its VNet's protection covers the
            // VNet, and deleting the VNet is what removes the subnet.
            protect: None,
            span: sub.span,
        });
    }
}

/// The `resource_group:` naming its scope.
fn scope_ref(spec: &KindSpec) -> Option<&Spanned<String>> {
    match spec {
        KindSpec::VirtualNetwork(x) => Some(&x.resource_group),
        _ => None,
    }
}
