//! Virtual networks: address space and DNS servers; their subnets are children (`subnet.rs`).

use super::{Field, KindDef, LockGroup, Replace, Scope, canon};
use crate::arm::MapContext;
use crate::arm::strs;
use crate::json;
use crate::model::{Body, Kind, Resource};
use crate::naming;
use moat_spec::ast::KindSpec;
use serde_json::{Value, json};

pub(crate) static DEF: KindDef = KindDef {
    kind: Kind::VirtualNetwork,
    word: "virtual_network",
    arm_type: "Microsoft.Network/virtualNetworks",
    api_version: "2024-03-01",
    scope: Scope::ResourceGroup,
    name_rule: naming::VIRTUAL_NETWORK,
    typical_seconds: 5,
    replace: Replace::Allowed,
    delete_query: &[],
    lock_group: LockGroup::Own,
    has_location: true,
    taggable: true,
    fields: &[
        Field::new("properties.addressSpace.addressPrefixes", canon::str_set),
        Field::new("properties.dhcpOptions.dnsServers", canon::str_set).default(r#"[]"#),
    ],
    immutable_unlisted: false,
    carry_over: &["properties.dhcpOptions"],
    secrets: &[],
    body,
    read_in_parent: false,
    deletes_children: &[Kind::Subnet],
    guards_contents: None,
    soft_delete: None,
    replaced_with: &[],
};

fn body(
    r: &Resource,
    b: &mut Value,
    _ctx: &MapContext,
    _reference: &dyn Fn(&str) -> Option<String>,
) {
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
