//! ML4xx: checks of NSGs and route tables that hold whatever they are attached to: service
//! tag spellings and unique rule priorities.

use crate::catalogue::ids;
use crate::cx::{Cx, nsg_rules};
use crate::tags;
use moat_model::Kind;
use moat_spec::ast::{Direction, KindSpec};
use moat_spec::{Span, Spanned};
use std::collections::BTreeMap;

pub fn check(cx: &mut Cx<'_>) {
    for (res, spec) in cx.specs(Kind::NetworkSecurityGroup) {
        let KindSpec::NetworkSecurityGroup(n) = spec else {
            continue;
        };
        let mut seen: BTreeMap<(Direction, u32), (&Spanned<String>, Span)> = BTreeMap::new();
        for rule in nsg_rules(n) {
            let r = &rule.value;
            for addr in [&r.source, &r.destination]
                .into_iter()
                .flatten()
                .flat_map(|a| a.value.0.iter())
            {
                tag(cx, &addr.value, addr.span, "an NSG rule");
            }
            match seen.get(&(r.direction.value, r.priority.value)) {
                Some((first, at)) => cx.push(
                    Cx::diag(
                        ids::ML402,
                        format!(
                            "rules `{}` and `{}` of NSG `{}` both have {} priority {}",
                            first.value, r.name.value, res.key, r.direction.value, r.priority.value
                        ),
                        r.priority.span,
                    )
                    .label("same priority")
                    .with_secondary(*at, format!("`{}` has it already", first.value))
                    .hint("give each rule of one direction its own priority"),
                ),
                None => {
                    seen.insert(
                        (r.direction.value, r.priority.value),
                        (&r.name, r.priority.span),
                    );
                }
            }
        }
    }
    for (_, spec) in cx.specs(Kind::RouteTable) {
        let KindSpec::RouteTable(t) = spec else {
            continue;
        };
        for route in t.routes.iter().flat_map(|r| r.value.iter()) {
            let p = &route.value.address_prefix;
            tag(cx, &p.value, p.span, "a route");
        }
    }
}

/// ML401 for one address that has the shape of a service tag.
fn tag(cx: &mut Cx<'_>, value: &str, span: Span, what: &str) {
    if !tags::looks_like_tag(value) || tags::is_known(value) {
        return;
    }
    let hint = match tags::suggest(value) {
        Some(s) => format!("did you mean `{s}`?"),
        None => "see Azure's list of service tags; regional tags are written `<Tag>.<region>`, e.g. `Storage.eastus2`".to_string(),
    };
    cx.push(
        Cx::diag(
            ids::ML401,
            format!("unknown service tag `{value}` in {what}"),
            span,
        )
        .label("not an Azure service tag")
        .hint(hint),
    );
}
