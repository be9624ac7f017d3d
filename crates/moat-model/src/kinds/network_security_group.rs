//! Network security groups: the rule set, owned whole.

use super::{Field, KindDef, Scope, ScopeRef, Site, canon, refs, words};
use crate::arm::{MapContext, security_rule};
use crate::cidr::Cidr;
use crate::model::{Body, Kind, Resource};
use crate::resolve::{Resolver, check_port_range, is_service_tag_shape};
use crate::{json, naming};
use moat_spec::ast::{self, KindSpec, OneOrMany};
use moat_spec::{Diagnostic, Spanned, codes};
use serde_json::Value;

pub(crate) static DEF: KindDef = KindDef {
    // `NetworkSecurityGroups_List` (networkSecurityGroup.json 2024-03-01) returns the
    // `NetworkSecurityGroup` schema of its GET, rules included.
    list_view_complete: true,
    scope_ref: Some(ScopeRef {
        field: refs::RESOURCE_GROUP,
        get: scope_ref,
    }),
    // Sources: networkSecurityGroup.json (2024-03-01): the rules change in place.
    fields: &[
        Field::new("properties.securityRules", canon::security_rules)
            .default("{}")
            .members("rules", "rule", words::security_rule),
    ],
    ..KindDef::new(
        Kind::NetworkSecurityGroup,
        "network_security_group",
        "Microsoft.Network/networkSecurityGroups",
        "2024-03-01",
        Scope::ResourceGroup,
        naming::NETWORK_CHILD,
        5,
        body,
        check,
    )
};

fn body(r: &Resource, b: &mut Value, _ctx: &MapContext) {
    let Body::Spec(KindSpec::NetworkSecurityGroup(n)) = &r.body else {
        return;
    };
    let rules: Vec<Value> = n
        .rules
        .iter()
        .flat_map(|r| r.value.iter())
        .map(|r| security_rule(&r.value))
        .collect();
    json::set(b, "properties.securityRules", Value::Array(rules));
}

/// Offline checks of one `network_security_group`: what Azure would reject that can be known from the spec.
pub(crate) fn check(rs: &mut Resolver<'_>, spec: &KindSpec, _site: Site<'_>) {
    let KindSpec::NetworkSecurityGroup(n) = spec else {
        return;
    };
    for rule in n.rules.iter().flat_map(|r| r.value.iter()) {
        check_security_rule(rs, &rule.value);
    }
}

fn check_security_rule(rs: &mut Resolver<'_>, r: &ast::SecurityRule) {
    if let Err(why) = naming::NETWORK_CHILD.check(&r.name.value) {
        rs.push(
            Diagnostic::error(
                codes::E0301,
                format!("invalid rule name `{}`", r.name.value),
                r.name.span,
            )
            .label(why),
        );
    }
    rs.range(&r.priority, 100, 4096, "priority");
    for addrs in [&r.source, &r.destination].into_iter().flatten() {
        check_addresses(rs, addrs);
    }
    for ports in [&r.source_ports, &r.destination_ports]
        .into_iter()
        .flatten()
    {
        for p in &ports.value.0 {
            if let Err(why) = check_port_range(&p.value) {
                rs.push(
                    Diagnostic::error(
                        codes::E0114,
                        format!("invalid port range `{}`", p.value),
                        p.span,
                    )
                    .label(why)
                    .hint("write `*`, a port like `443`, or a range like `29876-29877`"),
                );
            }
        }
    }
}

fn check_addresses(rs: &mut Resolver<'_>, addrs: &Spanned<OneOrMany>) {
    let many = addrs.value.0.len() > 1;
    for a in &addrs.value.0 {
        let v = a.value.as_str();
        if v == "*" {
            continue;
        }
        if v.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            if let Err(e) = Cidr::parse_ip_or_cidr(v) {
                rs.cidr_error(a, e);
            }
        } else if !is_service_tag_shape(v) {
            rs.push(
                Diagnostic::error(
                    codes::E0302,
                    format!("`{v}` is neither an address nor a service tag"),
                    a.span,
                )
                .hint("write `*`, an IP, a CIDR, or a service tag such as `VirtualNetwork`"),
            );
        } else if many {
            rs.push(
                Diagnostic::error(
                    codes::E0114,
                    format!("service tag `{v}` cannot be combined with other addresses"),
                    a.span,
                )
                .hint(
                    "a rule takes one service tag, or a list of IPs/CIDRs: split it into two rules",
                ),
            );
        }
    }
}

/// The `resource_group:` naming its scope.
fn scope_ref(spec: &KindSpec) -> Option<&Spanned<String>> {
    match spec {
        KindSpec::NetworkSecurityGroup(x) => Some(&x.resource_group),
        _ => None,
    }
}
