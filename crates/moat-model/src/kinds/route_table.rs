//! Route tables: the route set, owned whole.

use super::{Field, KindDef, Scope, ScopeRef, Site, canon, refs, words};
use crate::arm::{MapContext, next_hop};
use crate::cidr::Cidr;
use crate::model::{Body, Kind, Resource};
use crate::resolve::{Resolver, is_service_tag_shape};
use crate::{cidr, json, naming};
use moat_spec::ast::{self, KindSpec};
use moat_spec::{Diagnostic, Spanned, codes};
use serde_json::{Value, json};

pub(crate) static DEF: KindDef = KindDef {
    // `RouteTables_List` (routeTable.json 2024-03-01) returns the `RouteTable` schema of its
    // GET, routes included.
    list_view_complete: true,
    scope_ref: Some(ScopeRef {
        field: refs::RESOURCE_GROUP,
        get: scope_ref,
    }),
    // Sources: routeTable.json (2024-03-01): routes and BGP propagation change in place.
    fields: &[
        Field::new("properties.routes", canon::routes)
            .default("{}")
            .members("routes", "route", words::route),
        Field::new("properties.disableBgpRoutePropagation", canon::same)
            .default("false")
            .spec("disable_bgp_route_propagation"),
    ],
    ..KindDef::new(
        Kind::RouteTable,
        "route_table",
        "Microsoft.Network/routeTables",
        "2024-03-01",
        Scope::ResourceGroup,
        naming::NETWORK_CHILD,
        5,
        body,
        check,
    )
};

fn body(r: &Resource, b: &mut Value, _ctx: &MapContext) {
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

/// Offline checks of one `route_table`: what Azure would reject that can be known from the spec.
pub(crate) fn check(rs: &mut Resolver<'_>, spec: &KindSpec, _site: Site<'_>) {
    let KindSpec::RouteTable(t) = spec else {
        return;
    };
    for route in t.routes.iter().flat_map(|r| r.value.iter()) {
        check_route(rs, &route.value);
    }
}

fn check_route(rs: &mut Resolver<'_>, r: &ast::Route) {
    if let Err(why) = naming::NETWORK_CHILD.check(&r.name.value) {
        rs.push(
            Diagnostic::error(
                codes::E0301,
                format!("invalid route name `{}`", r.name.value),
                r.name.span,
            )
            .label(why),
        );
    }
    let p = &r.address_prefix;
    if p.value.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        if let Err(e) = Cidr::parse_strict(&p.value) {
            rs.cidr_error(p, e);
        }
    } else if !is_service_tag_shape(&p.value) {
        rs.push(Diagnostic::error(
            codes::E0302,
            format!("`{}` is neither a CIDR nor a service tag", p.value),
            p.span,
        ));
    }
    let appliance = r.next_hop.value == ast::NextHop::VirtualAppliance;
    match (&r.next_hop_ip, appliance) {
        (None, true) => {
            rs.push(
                Diagnostic::error(
                    codes::E0112,
                    "`virtual_appliance` needs `next_hop_ip`",
                    r.next_hop.span,
                )
                .label("no `next_hop_ip` in this route")
                .hint("add `next_hop_ip:` with the appliance's private IP"),
            );
        }
        (Some(ip), false) => {
            rs.push(
                Diagnostic::error(
                    codes::E0114,
                    format!(
                        "`next_hop_ip` only goes with `virtual_appliance`, not `{}`",
                        r.next_hop.value
                    ),
                    ip.span,
                )
                .hint("remove `next_hop_ip`"),
            );
        }
        (Some(ip), true) if cidr::parse_ip(&ip.value).is_none() => {
            rs.err(
                codes::E0302,
                format!("`{}` is not an IPv4 address", ip.value),
                ip.span,
            );
        }
        _ => {}
    }
}

/// The `resource_group:` naming its scope.
fn scope_ref(spec: &KindSpec) -> Option<&Spanned<String>> {
    match spec {
        KindSpec::RouteTable(x) => Some(&x.resource_group),
        _ => None,
    }
}
