//! Microsoft.Network route tables and their routes: routes given inline (the full set) or one
//! by one, next-hop rules, BGP propagation, and "in use" by subnets.

use super::network::{self, back_refs, parse_prefix};
use super::{KindDef, check_enum, no_refs, patch_tags};
use crate::ctx::{Ctx, Span};
use crate::errors::{ArmError, ArmResult};
use crate::kind::{Kind, ResPath};
use crate::lro::LroStyle;
use crate::reply::Reply;
use crate::store::{Record, State};
use crate::util;
use serde_json::{Value, json};

/// Route tables.
pub const DEF: KindDef = KindDef {
    kind: Kind::RouteTable,
    put,
    patch: patch_tags,
    delete,
    render,
    refs: no_refs,
    lro: Some(LroStyle::NETWORK),
    // Recordings (azure-cli network/test_network_route_table_operation.yaml, 2 PUTs): 2–3 s.
    create: Span::new(3.0, 2.0, 4.0),
    variants: &[],
    // Recordings: one delete, 2 s.
    delete_secs: 2.0,
};

/// Routes (children of a route table, also writable inline through it).
pub const ROUTE_DEF: KindDef = KindDef {
    kind: Kind::Route,
    put: put_route,
    patch: patch_tags,
    delete: delete_route,
    render: render_route,
    refs: no_refs,
    lro: Some(LroStyle::NETWORK),
    // Recordings (2 route PUTs): 2–3 s.
    create: Span::new(2.0, 1.0, 3.0),
    variants: &[],
    // Recordings: one delete, 2 s.
    delete_secs: 2.0,
};

/// Routes given inline under `routes`.
const INLINE: network::Inline = network::Inline {
    field: "routes",
    child: Kind::Route,
    validate: |name, p, _siblings| validate_route(name, p),
    fill: |props, sp| {
        sp.insert(
            "disableBgpRoutePropagation".into(),
            props
                .get("disableBgpRoutePropagation")
                .filter(|v| v.is_boolean())
                .cloned()
                .unwrap_or(json!(false)),
        );
    },
};

/// A PUT of the parent stores it with its inline children.
const OPS: network::NetOps = network::NetOps {
    put_name: "PutOperation",
    vnet: network::no_vnet,
    write: |ctx, rp, body, secs| network::put_parent_with_children(ctx, rp, body, secs, &INLINE),
    in_use: |ctx, rp| {
        network::in_use_by_subnets(
            ctx,
            &rp.id(),
            "InUseRouteTableCannotBeDeleted",
            "Route table",
            "aka.ms/deleteroutetable",
        )
    },
};

/// A PUT of one child stores it beside its siblings.
const ROUTE_OPS: network::NetOps = network::NetOps {
    put_name: "PutOperation",
    vnet: network::no_vnet,
    write: |ctx, rp, body, secs| network::put_child(ctx, rp, body, secs, INLINE.validate),
    in_use: network::never_in_use,
};

fn put(ctx: &mut Ctx, rp: &ResPath, body: Value) -> ArmResult<Reply> {
    network::put(ctx, rp, body, &OPS)
}

fn put_route(ctx: &mut Ctx, rp: &ResPath, body: Value) -> ArmResult<Reply> {
    network::put(ctx, rp, body, &ROUTE_OPS)
}

fn delete(ctx: &mut Ctx, rp: &ResPath) -> ArmResult<Reply> {
    network::delete(ctx, rp, &OPS)
}

fn delete_route(ctx: &mut Ctx, rp: &ResPath) -> ArmResult<Reply> {
    network::delete(ctx, rp, &ROUTE_OPS)
}

/// Fills in a route table body: its routes and the subnets using it.
fn render(st: &State, rec: &Record, v: &mut Value, now: f64) {
    network::render_common(st, rec, v, now);
    let props = util::obj_at(v, "/properties");
    let routes: Vec<Value> = st
        .children(&rec.id, Kind::Route)
        .into_iter()
        .map(|s| super::render(st, s, now))
        .collect();
    props.insert("routes".into(), Value::Array(routes));
    let subnets = back_refs(st, &rec.id, network::BackRef::RouteTableSubnets, now);
    if !subnets.is_empty() {
        props.insert("subnets".into(), Value::Array(subnets));
    }
}

fn render_route(st: &State, rec: &Record, v: &mut Value, now: f64) {
    network::render_common(st, rec, v, now);
}

pub fn validate_route(name: &str, p: &Value) -> ArmResult<Value> {
    let prefix = p
        .get("addressPrefix")
        .and_then(Value::as_str)
        .ok_or_else(|| {
            ArmError::invalid_content(format!(
                "Required property 'addressPrefix' not found in JSON for route {name}"
            ))
        })?;
    if prefix.contains('/') {
        parse_prefix(prefix, name)?;
    } else if !prefix
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '.')
    {
        return Err(ArmError::bad_request(
            "InvalidAddressPrefixFormat",
            format!("Address prefix {prefix} of route {name} is neither a CIDR nor a service tag."),
        ));
    }
    let hop = check_enum(
        p.get("nextHopType").unwrap_or(&Value::Null),
        "nextHopType",
        &[
            "VirtualNetworkGateway",
            "VnetLocal",
            "Internet",
            "VirtualAppliance",
            "None",
        ],
    )?
    .ok_or_else(|| {
        ArmError::invalid_content(format!(
            "Required property 'nextHopType' not found in JSON for route {name}"
        ))
    })?;
    let ip = p
        .get("nextHopIpAddress")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    match (hop.as_str(), ip) {
        ("VirtualAppliance", None) => {
            return Err(ArmError::bad_request(
                "NextHopIpAddressRequired",
                format!("Route {name} has next hop type VirtualAppliance but no nextHopIpAddress."),
            ));
        }
        ("VirtualAppliance", Some(ip)) if ip.parse::<std::net::IpAddr>().is_err() => {
            return Err(ArmError::bad_request(
                "InvalidNextHopIpAddress",
                format!("Route {name} has an invalid nextHopIpAddress {ip}."),
            ));
        }
        (h, Some(_)) if h != "VirtualAppliance" => {
            return Err(ArmError::bad_request(
                "NextHopIpAddressNotAllowed",
                format!(
                    "Route {name} has next hop type {h}; nextHopIpAddress is only allowed with VirtualAppliance."
                ),
            ));
        }
        _ => {}
    }
    let mut out = json!({"addressPrefix": prefix, "nextHopType": hop});
    if let Some(ip) = ip {
        util::set_at(&mut out, "", "nextHopIpAddress", json!(ip));
    }
    util::set_at(&mut out, "", "hasBgpOverride", json!(false));
    Ok(out)
}
