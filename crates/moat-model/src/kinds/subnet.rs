//! Subnets: children of a VNet, declared inside it, read from its body and written one at a time under it.

use super::{Field, KindDef, LockGroup, Scope, Site, canon, refs};
use crate::arm::{MapContext, id_obj, toggle};
use crate::model::{Body, Kind, Resource};
use crate::resolve::Resolver;
use crate::{json, naming};
use moat_spec::ast::KindSpec;
use serde_json::{Value, json};

pub(crate) static DEF: KindDef = KindDef {
    // A subnet outlives its NSG and route table: the association is dropped in place.
    droppable_ref,
    lock_group: LockGroup::Parent,
    has_location: false,
    taggable: false,
    // Sources: virtualNetwork.json (2024-03-01) `Subnets_CreateOrUpdate`: every property
    // changes in place (an address prefix in use is refused by Azure at apply, `InUseSubnet…`;
    // BEHAVIOR.md §5.6 for what a PUT must carry over).
    fields: &[
        Field::new("properties.addressPrefix", canon::same),
        Field::new("properties.networkSecurityGroup", canon::id_of)
            .default("null")
            .carried(),
        Field::new("properties.routeTable", canon::id_of)
            .default("null")
            .carried(),
        Field::new("properties.serviceEndpoints", canon::service_names)
            .default("[]")
            .carried(),
        Field::new("properties.delegations", canon::delegation_names)
            .default("[]")
            .carried(),
        Field::new("properties.privateEndpointNetworkPolicies", canon::lower)
            .default(r#""disabled""#)
            .carried(),
        Field::new("properties.privateLinkServiceNetworkPolicies", canon::lower)
            .default(r#""enabled""#)
            .carried(),
        Field::new("properties.defaultOutboundAccess", canon::same).carried(),
    ],
    carry_over: &["properties.natGateway"],
    read_in_parent: true,
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

/// Subnets are checked with their VNet (`virtual_network.rs`); they have no spec of their own.
pub(crate) fn check(_rs: &mut Resolver<'_>, _spec: &KindSpec, _site: Site<'_>) {}
