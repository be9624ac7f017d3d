//! Route tables: the route set, owned whole.

use super::{Field, KindDef, LockGroup, Replace, Scope, canon};
use crate::arm::MapContext;
use crate::arm::next_hop;
use crate::json;
use crate::model::{Body, Kind, Resource};
use crate::naming;
use moat_spec::ast::KindSpec;
use serde_json::{Value, json};

pub(crate) static DEF: KindDef = KindDef {
    kind: Kind::RouteTable,
    word: "route_table",
    arm_type: "Microsoft.Network/routeTables",
    api_version: "2024-03-01",
    scope: Scope::ResourceGroup,
    name_rule: naming::NETWORK_CHILD,
    typical_seconds: 5,
    replace: Replace::Allowed,
    delete_query: &[],
    lock_group: LockGroup::None,
    has_location: true,
    taggable: true,
    fields: &[
        Field::new("properties.routes", canon::routes).default(r#"{}"#),
        Field::new("properties.disableBgpRoutePropagation", canon::same).default(r#"false"#),
    ],
    immutable_unlisted: false,
    carry_over: &[],
    secrets: &[],
    body,
    read_in_parent: false,
    deletes_children: &[],
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
    let Body::Spec(KindSpec::RouteTable(t)) = &r.body else {
        return;
    };
    let routes: Vec<Value> = t
            .routes
            .iter()
            .flat_map(|r| r.value.iter())
            .map(|r| {
                let r = &r.value;
                let mut p = json!({ "addressPrefix": r.address_prefix.value, "nextHopType": next_hop(r.next_hop.value) });
                if let Some(ip) = &r.next_hop_ip {
                    json::set(&mut p, "nextHopIpAddress", json!(ip.value));
                }
                json!({ "name": r.name.value, "properties": p })
            })
            .collect();
    json::set(b, "properties.routes", Value::Array(routes));
    if let Some(d) = &t.disable_bgp_route_propagation {
        json::set(b, "properties.disableBgpRoutePropagation", json!(d.value));
    }
}
