//! Subnets: children of a VNet, declared inside it or on their own (`type: subnet`, in a VNet
//! another stack may own), read from its body and written one at a time under it. A subnet of
//! its own is checked twice: offline against the network when the spec declares it, and at
//! plan time ([`check_live`]) against the live network when the spec only reads it.

use super::{Field, KindDef, LockGroup, Scope, ScopeRef, Site, canon, refs, words};
use crate::arm::{MapContext, Projection, id_obj, toggle};
use crate::cidr::Cidr;
use crate::model::{Body, Kind, Model, Ref, Resource};
use crate::resolve::{Resolver, SERVICE_ENDPOINTS};
use crate::{armid, json, naming};
use moat_spec::ast::{self, KindSpec};
use moat_spec::suggest::did_you_mean;
use moat_spec::{Diagnostic, Span, Spanned, codes};
use serde_json::{Value, json};
use std::collections::BTreeMap;

pub(crate) static DEF: KindDef = KindDef {
    // A subnet outlives its NSG and route table: the association is dropped in place.
    droppable_ref,
    scope_ref: Some(ScopeRef {
        field: refs::VIRTUAL_NETWORK,
        get: scope_ref,
    }),
    lock_group: LockGroup::Parent,
    has_location: false,
    taggable: false,
    // Sources: virtualNetwork.json (2024-03-01) `Subnets_CreateOrUpdate`: every property
    // changes in place (an address prefix in use is refused by Azure at apply, `InUseSubnet…`;
    // BEHAVIOR.md §5.6 for what a PUT must carry over).
    fields: &[
        Field::new("properties.addressPrefix", canon::same).spec("address_prefix"),
        Field::new("properties.networkSecurityGroup", canon::id_of)
            .default("null")
            .carried()
            .spec("network_security_group"),
        Field::new("properties.routeTable", canon::id_of)
            .default("null")
            .carried()
            .spec("route_table"),
        Field::new("properties.serviceEndpoints", canon::service_names)
            .default("[]")
            .carried()
            .spec("service_endpoints"),
        Field::new("properties.delegations", canon::delegation_names)
            .default("[]")
            .carried()
            .spec("delegations"),
        Field::new("properties.privateEndpointNetworkPolicies", canon::lower)
            .default(r#""disabled""#)
            .carried()
            .spec_words("private_endpoint_network_policies", words::toggle),
        Field::new("properties.privateLinkServiceNetworkPolicies", canon::lower)
            .default(r#""enabled""#)
            .carried()
            .spec_words("private_link_service_network_policies", words::toggle),
        Field::new("properties.defaultOutboundAccess", canon::same)
            .carried()
            .spec("default_outbound_access"),
    ],
    carry_over: &["properties.natGateway"],
    read_in_parent: true,
    // A VNet PUT carries its subnets (`properties.subnets`, BEHAVIOR.md §5.1: the list is the
    // full set), NSG and route-table associations included; the azure-cli recordings create
    // subnets that way (`test_network_vnet_with_subnet_nsg.yaml`).
    written_in_parent: true,
    live_check: Some(check_live),
    // Azure refuses a subnet whose range overlaps a sibling's (`NetcfgSubnetRangesOverlap`),
    // so a renamed subnet that keeps (part of) its range can only follow the old one.
    conflicts: Some(overlapping_ranges),
    ..KindDef::new(
        Kind::Subnet,
        "subnet",
        "Microsoft.Network/virtualNetworks/subnets",
        "2024-03-01",
        Scope::Child {
            parent: Kind::VirtualNetwork,
            segment: "subnets",
        },
        naming::NETWORK_CHILD,
        5,
        body,
        check,
    )
};

/// Two subnets of one network whose address ranges overlap (see `KindDef::conflicts`).
fn overlapping_ranges(new: &Projection, old: &Projection) -> Option<String> {
    let range = |p: &Projection| {
        p.get("properties.addressPrefix")
            .and_then(Value::as_str)
            .and_then(|s| Cidr::parse_strict(s).ok().map(|c| (c, s.to_string())))
    };
    let ((n, ns), (o, os)) = (range(new)?, range(old)?);
    n.overlaps(o).then(|| {
        format!(
            "the address ranges overlap ({ns}, and {os} before), and Azure refuses overlapping subnets in one network"
        )
    })
}

/// The NSG and route table associations (see `KindDef::droppable_ref`).
fn droppable_ref(field: &str) -> bool {
    field == refs::NETWORK_SECURITY_GROUP || field == refs::ROUTE_TABLE
}

fn body(r: &Resource, b: &mut Value, _ctx: &MapContext) {
    let Body::Subnet(s) = &r.body else { return };
    let reference = |field: &str| super::ref_id(r, field);
    json::set(b, "properties.addressPrefix", json!(s.address_prefix.value));
    if let Some(id) = reference(refs::NETWORK_SECURITY_GROUP) {
        json::set(b, "properties.networkSecurityGroup", id_obj(&id));
    }
    if let Some(id) = reference(refs::ROUTE_TABLE) {
        json::set(b, "properties.routeTable", id_obj(&id));
    }
    if let Some(e) = &s.service_endpoints {
        let v: Vec<Value> = e
            .value
            .iter()
            .map(|s| json!({ "service": s.value }))
            .collect();
        json::set(b, "properties.serviceEndpoints", Value::Array(v));
    }
    if let Some(d) = &s.delegations {
        let v: Vec<Value> = d
                .value
                .iter()
                .map(|s| json!({ "name": s.value.replace('/', "."), "properties": { "serviceName": s.value } }))
                .collect();
        json::set(b, "properties.delegations", Value::Array(v));
    }
    if let Some(p) = &s.private_endpoint_network_policies {
        json::set(
            b,
            "properties.privateEndpointNetworkPolicies",
            json!(toggle(p.value)),
        );
    }
    if let Some(p) = &s.private_link_service_network_policies {
        json::set(
            b,
            "properties.privateLinkServiceNetworkPolicies",
            json!(toggle(p.value)),
        );
    }
    if let Some(d) = &s.default_outbound_access {
        json::set(b, "properties.defaultOutboundAccess", json!(d.value));
    }
}

/// The address space a subnet must fit in, and where the spec wrote it (none for a live one).
pub(crate) struct Within<'a> {
    pub(crate) space: &'a [(Cidr, Span)],
    pub(crate) space_span: Option<Span>,
}

/// The checks every subnet gets, inline or on its own: its range (a CIDR, at least a /29,
/// inside `within`, clear of the subnets in `seen`, clear of Azure's reserved ranges), its
/// service endpoints, and its NSG and route table references, which it returns bound.
pub(crate) fn check_fields(
    rs: &mut Resolver<'_>,
    name: &str,
    s: &ast::Subnet,
    within: &Within<'_>,
    seen: &mut Vec<(Cidr, Span, String)>,
) -> Vec<Ref> {
    let space = within.space;
    match Cidr::parse_strict(&s.address_prefix.value) {
        Ok(c) => {
            if c.len() > 29 {
                rs.push(
                    Diagnostic::error(
                        codes::E0303,
                        format!("subnet `{name}` is smaller than /29"),
                        s.address_prefix.span,
                    )
                    .label(format!("{c} holds {} addresses", c.size()))
                    .hint("Azure's smallest subnet is a /29 (it reserves 5 addresses in each)"),
                );
            }
            if !space.is_empty() && !space.iter().any(|(v, _)| v.contains(c)) {
                rs.push(outside(
                    name,
                    c,
                    space,
                    within.space_span,
                    s.address_prefix.span,
                ));
            }
            if let Some((other, span, other_name)) = seen.iter().find(|(o, _, _)| o.overlaps(c)) {
                rs.push(
                    Diagnostic::error(
                        codes::E0304,
                        format!("subnet `{name}` ({c}) overlaps subnet `{other_name}` ({other})"),
                        s.address_prefix.span,
                    )
                    .label(format!("overlaps {other}"))
                    .with_secondary(*span, format!("`{other_name}`"))
                    .hint("subnets of one network must not share addresses"),
                );
            }
            // Inside a range of the address space already refused, it is said once.
            if !space
                .iter()
                .any(|(v, _)| v.contains(c) && v.azure_refuses().is_some())
            {
                rs.check_azure_reserved(c, s.address_prefix.span, "subnet range");
            }
            seen.push((c, s.address_prefix.span, name.to_string()));
        }
        Err(e) => rs.cidr_error(&s.address_prefix, e),
    }
    let mut refs = Vec::new();
    if let Some(n) = &s.network_security_group {
        refs.extend(rs.bind(
            n,
            refs::NETWORK_SECURITY_GROUP,
            &[Kind::NetworkSecurityGroup],
        ));
    }
    if let Some(t) = &s.route_table {
        refs.extend(rs.bind(t, refs::ROUTE_TABLE, &[Kind::RouteTable]));
    }
    for e in s.service_endpoints.iter().flat_map(|l| l.value.iter()) {
        if !SERVICE_ENDPOINTS.contains(&e.value.as_str()) {
            let hint = did_you_mean(&e.value, SERVICE_ENDPOINTS.iter().copied())
                .map(|s| format!("did you mean `{s}`?"))
                .unwrap_or_else(|| format!("known endpoints: {}", SERVICE_ENDPOINTS.join(", ")));
            rs.push(
                Diagnostic::error(
                    codes::E0113,
                    format!("unknown service endpoint `{}`", e.value),
                    e.span,
                )
                .hint(hint),
            );
        }
    }
    refs
}

/// E0303: `c` lies outside every range of `space`.
fn outside(
    name: &str,
    c: Cidr,
    space: &[(Cidr, Span)],
    space_span: Option<Span>,
    at: Span,
) -> Diagnostic {
    let ranges = space
        .iter()
        .map(|(v, _)| v.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let d = Diagnostic::error(
        codes::E0303,
        format!("subnet `{name}` ({c}) is outside the virtual network"),
        at,
    )
    .label(format!("not inside {ranges}"));
    match space_span {
        Some(sp) => d
            .with_secondary(sp, "the network's address space")
            .hint("pick a range inside `address_space`, or add a range that contains it"),
        None => d.hint(format!(
            "the network's live address space is {ranges}; pick a range inside it, or ask the network's owners to add one"
        )),
    }
}

/// Offline checks of a subnet of its own (`type: subnet`); a subnet declared inside its VNet
/// is checked with it (`virtual_network.rs`). When the spec declares the network (not
/// `existing:`), the range is checked against its address space and inline subnets here; an
/// `existing:` network is checked at plan time against its live body ([`check_live`]).
pub(crate) fn check(rs: &mut Resolver<'_>, spec: &KindSpec, site: Site<'_>) {
    let KindSpec::StandaloneSubnet(x) = spec else {
        return;
    };
    let s = x.subnet();
    let mut space: Vec<(Cidr, Span)> = Vec::new();
    let mut space_span = None;
    let mut seen: Vec<(Cidr, Span, String)> = Vec::new();
    if let Some(sym) = rs.syms.get(x.virtual_network.value.as_str())
        && let Some(KindSpec::VirtualNetwork(v)) = &sym.res.body
    {
        space_span = Some(v.address_space.span);
        space = v
            .address_space
            .value
            .iter()
            .filter_map(|p| Cidr::parse_strict(&p.value).ok().map(|c| (c, p.span)))
            .collect();
        for (n, sub) in v.subnets.iter().flat_map(|m| m.value.iter()) {
            if let Ok(c) = Cidr::parse_strict(&sub.value.address_prefix.value) {
                seen.push((c, sub.value.address_prefix.span, n.value.clone()));
            }
        }
        // Other subnets of their own in the same network.
        let me = site.key;
        for (k, other) in &rs.syms {
            if *k == me {
                continue;
            }
            if let Some(KindSpec::StandaloneSubnet(o)) = &other.res.body
                && o.virtual_network.value == x.virtual_network.value
                && let Ok(c) = Cidr::parse_strict(&o.address_prefix.value)
                && o.address_prefix.span.start < x.address_prefix.span.start
            {
                seen.push((c, o.address_prefix.span, (*k).to_string()));
            }
        }
    }
    let within = Within {
        space: &space,
        space_span,
    };
    let name = rs
        .syms
        .get(site.key)
        .map(|sym| rs.azure_name(sym.res).value)
        .unwrap_or_else(|| site.key.to_string());
    let bound = check_fields(rs, &name, &s, &within, &mut seen);
    site.refs.extend(bound);
}

/// The `virtual_network:` naming a subnet's network.
fn scope_ref(spec: &KindSpec) -> Option<&Spanned<String>> {
    match spec {
        KindSpec::StandaloneSubnet(x) => Some(&x.virtual_network),
        _ => None,
    }
}

/// Plan-time checks against what the live networks hold, for what offline checks cannot see:
/// a subnet of its own inside an `existing:` network must fit its live address space and
/// overlap none of its live subnets (E0303, E0304), and a reference to a subnet of an
/// `existing:` network (`hub/training`) must name one that exists or that this spec creates
/// (E0203). `live` holds the bodies read, by resource key.
pub(crate) fn check_live(model: &Model, live: &BTreeMap<String, Value>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for r in model.resources.iter().filter(|r| r.kind == Kind::Subnet) {
        let Body::Subnet(s) = &r.body else { continue };
        let Some(parent) = r.parent.as_deref().and_then(|p| model.get(p)) else {
            continue;
        };
        if !parent.is_existing() {
            continue; // checked offline with the network's spec
        }
        let Some(vnet) = live.get(&parent.key) else {
            continue; // an absent `existing:` network is the planner's error
        };
        let Ok(c) = Cidr::parse_strict(&s.address_prefix.value) else {
            continue;
        };
        let space: Vec<(Cidr, Span)> = strings(vnet, "properties.addressSpace.addressPrefixes")
            .iter()
            .filter_map(|p| Cidr::parse_strict(p).ok())
            .map(|c| (c, Span::new(0, 0)))
            .collect();
        if !space.is_empty() && !space.iter().any(|(v, _)| v.contains(c)) {
            out.push(outside(
                &r.name.value,
                c,
                &space,
                None,
                s.address_prefix.span,
            ));
        }
        for (other, prefixes) in live_subnets(vnet) {
            if other.eq_ignore_ascii_case(&r.name.value) {
                continue; // itself, applied before
            }
            if let Some(o) = prefixes
                .iter()
                .filter_map(|p| Cidr::parse_strict(p).ok())
                .find(|o| o.overlaps(c))
            {
                out.push(
                    Diagnostic::error(
                        codes::E0304,
                        format!(
                            "subnet `{}` ({c}) overlaps subnet `{other}` ({o}) of `{}`",
                            r.name.value, parent.key
                        ),
                        s.address_prefix.span,
                    )
                    .label(format!("overlaps {o}, which the live network holds"))
                    .hint("pick a range no subnet of the network uses"),
                );
            }
        }
    }
    // References into `existing:` networks bind to the network; the subnet must exist.
    for r in &model.resources {
        for rf in r.refs.iter().filter(|f| f.kind == Kind::Subnet) {
            let Some(vnet) = rf.target.as_deref().and_then(|t| model.get(t)) else {
                continue;
            };
            if vnet.kind != Kind::VirtualNetwork || !vnet.is_existing() {
                continue;
            }
            let Some(body) = live.get(&vnet.key) else {
                continue;
            };
            let name = rf.id.rsplit('/').next().unwrap_or_default();
            let names: Vec<String> = live_subnets(body).into_iter().map(|(n, _)| n).collect();
            let created = model
                .resources
                .iter()
                .any(|m| m.kind == Kind::Subnet && armid::same_id(&m.id, &rf.id));
            if created || names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                continue;
            }
            let hint = did_you_mean(name, names.iter().map(String::as_str))
                .map(|s| format!("did you mean `{}/{s}`?", vnet.key))
                .unwrap_or_else(|| {
                    if names.is_empty() {
                        "the live network has no subnets".to_string()
                    } else {
                        format!("its subnets: {}", names.join(", "))
                    }
                });
            out.push(
                Diagnostic::error(
                    codes::E0203,
                    format!(
                        "virtual network `{}` ({}) has no subnet `{name}`",
                        vnet.key, vnet.name.value
                    ),
                    rf.span,
                )
                .label("no such subnet in the live network")
                .hint(hint),
            );
        }
    }
    out
}

fn strings(v: &Value, path: &str) -> Vec<String> {
    json::get(v, path)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The live subnets of a VNet body: name and prefixes (`addressPrefix` and `addressPrefixes`).
fn live_subnets(vnet: &Value) -> Vec<(String, Vec<String>)> {
    json::get(vnet, "properties.subnets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| {
            let name = s.get("name")?.as_str()?.to_string();
            let mut p = strings(s, "properties.addressPrefixes");
            if let Some(one) = json::get(s, "properties.addressPrefix").and_then(Value::as_str) {
                p.push(one.to_string());
            }
            Some((name, p))
        })
        .collect()
}
