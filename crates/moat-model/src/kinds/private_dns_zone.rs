//! Private DNS zones (Private DNS 2024-06-01, location `global`) and their links to virtual
//! networks. A zone's `links:` become children of their own (`virtualNetworkLinks/<network
//! name>`, keyed `<zone>/<network key>`), each written and read at its own URL, so a link
//! added or removed is one PUT or DELETE and the zone itself is never rewritten for it.
//! Azure refuses to delete a zone that still has links: they are deleted first (they depend
//! on the zone), never implied by the zone's delete.

use super::{Field, KindDef, Scope, ScopeRef, Site, canon, refs};
use crate::arm::{MapContext, id_obj};
use crate::model::{Body, Kind, Resource};
use crate::resolve::Resolver;
use crate::{json, naming};
use moat_spec::ast::KindSpec;
use moat_spec::{Diagnostic, Spanned, codes};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The api-version of every private DNS kind (shared/arm/README.md).
const API: &str = "2024-06-01";

pub(crate) static DEF: KindDef = KindDef {
    scope_ref: Some(ScopeRef {
        field: refs::RESOURCE_GROUP,
        get: scope_ref,
    }),
    // The location is always `global`: the body sets it, and it is not compared.
    has_location: false,
    // privatedns.json (2024-06-01) `PrivateZones_CreateOrUpdate`: a zone has no writable
    // properties besides tags (the counts and limits are the service's).
    ..KindDef::new(
        Kind::PrivateDnsZone,
        "private_dns_zone",
        "Microsoft.Network/privateDnsZones",
        API,
        Scope::ResourceGroup,
        naming::PRIVATE_DNS_ZONE,
        // Recordings (azure-cli privatedns/*.yaml): a zone PUT is done after 2–3 polls, ~30 s.
        30,
        body,
        check,
    )
};

pub(crate) static LINK_DEF: KindDef = KindDef {
    scope_ref: None,
    has_location: false,
    fields: &[
        // `VirtualNetworkLinks_Update` cannot move a link to another network.
        Field::new("properties.virtualNetwork", canon::id_of).immutable(),
        Field::new("properties.registrationEnabled", canon::same).default("false"),
    ],
    ..KindDef::new(
        Kind::PrivateDnsZoneLink,
        "private_dns_zone_link",
        "Microsoft.Network/privateDnsZones/virtualNetworkLinks",
        API,
        Scope::Child {
            parent: Kind::PrivateDnsZone,
            segment: "virtualNetworkLinks",
        },
        naming::NETWORK_CHILD,
        // Recordings: a link PUT is done after 2–3 polls, ~30 s.
        30,
        link_body,
        no_check,
    )
};

fn body(_r: &Resource, b: &mut Value, _ctx: &MapContext) {
    json::set(b, "location", json!("global"));
}

fn link_body(r: &Resource, b: &mut Value, _ctx: &MapContext) {
    json::set(b, "location", json!("global"));
    let Body::Spec(KindSpec::PrivateDnsZone(z)) = &r.body else {
        return;
    };
    if let Some(id) = r
        .refs
        .iter()
        .find(|x| x.kind == Kind::VirtualNetwork)
        .map(|x| x.id.clone())
    {
        json::set(b, "properties.virtualNetwork", id_obj(&id));
    }
    let registration = z.registration.as_ref().is_some_and(|r| r.value);
    json::set(b, "properties.registrationEnabled", json!(registration));
}

/// Checked by its zone, which builds it.
fn no_check(_rs: &mut Resolver<'_>, _spec: &KindSpec, _site: Site<'_>) {}

/// The zone's name is a DNS name of two labels or more; each link becomes a child named by
/// its network, and a network linked twice (or two networks of one name) is refused here,
/// before Azure answers `Conflict`.
pub(crate) fn check(rs: &mut Resolver<'_>, spec: &KindSpec, site: Site<'_>) {
    let Site { key, children, .. } = site;
    let KindSpec::PrivateDnsZone(z) = spec else {
        return;
    };
    let Some(sym) = rs.syms.get(key) else { return };
    let res = sym.res;
    let name = rs.azure_name(res);
    let labels: Vec<&str> = name.value.split('.').collect();
    if labels.len() < 2 || labels.iter().any(|l| l.is_empty() || l.len() > 63) {
        rs.push(
            Diagnostic::error(
                codes::E0301,
                format!("invalid private DNS zone name `{}`", name.value),
                name.span,
            )
            .label("a zone name is a DNS name of at least two labels of 1–63 characters")
            .hint(if res.name.is_none() {
                "the name defaults to the key; set `name:` to the zone, e.g. `name: privatelink.blob.core.windows.net`"
            } else {
                "e.g. `privatelink.blob.core.windows.net`"
            }),
        );
    }
    let Some(zone_id) = rs.ids.get(key).cloned() else {
        return;
    };
    let mut seen: BTreeMap<String, (String, moat_spec::Span)> = BTreeMap::new();
    for (i, l) in z.links.iter().flat_map(|l| l.value.iter()).enumerate() {
        let Some(r) = rs.bind(l, &refs::link(i), &[Kind::VirtualNetwork]) else {
            continue;
        };
        let vnet_name = r.id.rsplit('/').next().unwrap_or_default().to_string();
        let folded = vnet_name.to_ascii_lowercase();
        if let Some((other_id, span)) = seen.get(&folded) {
            let same = crate::armid::same_id(other_id, &r.id);
            rs.push(
                Diagnostic::error(
                    if same { codes::E0114 } else { codes::E0307 },
                    if same {
                        format!("`{key}` links `{}` twice", l.value)
                    } else {
                        format!(
                            "`{key}` links two networks named `{vnet_name}`: their links would share a name"
                        )
                    },
                    l.span,
                )
                .with_secondary(*span, "first linked here")
                .hint(if same {
                    "remove one of them: Azure refuses a second link to the same network"
                } else {
                    "link them from two zones, or rename one network"
                }),
            );
            continue;
        }
        seen.insert(folded, (r.id.clone(), l.span));
        let link_key = match &r.target {
            Some(t) => format!("{key}/{t}"),
            None => format!("{key}/{vnet_name}"),
        };
        children.push(Resource {
            key: link_key,
            key_span: l.span,
            kind: Kind::PrivateDnsZoneLink,
            name: Spanned::new(vnet_name.clone(), l.span),
            location: None,
            tags: BTreeMap::new(),
            id: format!("{zone_id}/virtualNetworkLinks/{vnet_name}"),
            parent: Some(key.to_string()),
            body: Body::Spec(spec.clone()),
            refs: vec![r],
            depends_on: Vec::new(),
            // The zone's `protect:` guards the zone; a link holds no data.
            protect: None,
            span: l.span,
        });
    }
}

/// The `resource_group:` naming its scope.
fn scope_ref(spec: &KindSpec) -> Option<&Spanned<String>> {
    match spec {
        KindSpec::PrivateDnsZone(x) => Some(&x.resource_group),
        _ => None,
    }
}
