//! Private endpoints (Network 2024-03-01) and their DNS zone group. An endpoint reaches one
//! group (sub-resource) of its target; the group defaults from the target's kind. Its
//! `dns_zones:` become the child `privateDnsZoneGroups/default` (keyed `<endpoint>/dns_zones`),
//! through which Azure writes the endpoint's A records into the zones. Azure creates the
//! endpoint's NIC itself and deletes it with the endpoint (`made_with`).

use super::{Field, KindDef, Scope, ScopeRef, Site, canon, refs};
use crate::arm::{MapContext, id_obj};
use crate::model::{Body, Kind, Resource};
use crate::resolve::Resolver;
use crate::{json, naming};
use moat_spec::ast::{self, KindSpec, PrivateEndpoints};
use moat_spec::suggest::did_you_mean;
use moat_spec::{Diagnostic, Spanned, codes};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

pub(crate) static DEF: KindDef = KindDef {
    scope_ref: Some(ScopeRef {
        field: refs::RESOURCE_GROUP,
        get: scope_ref,
    }),
    // privateEndpoint.json (2024-03-01) `PrivateEndpoints_CreateOrUpdate`. The subnet, the
    // connection and the NIC name are fixed once the endpoint exists (the NIC is made in the
    // subnet, under that name, for that connection): a change replaces the endpoint.
    fields: &[
        Field::new("properties.subnet", canon::id_of).immutable(),
        Field::new(
            "properties.privateLinkServiceConnections",
            canon::link_connections,
        )
        .immutable(),
        Field::new("properties.customNetworkInterfaceName", canon::same)
            .default(r#""""#)
            .immutable(),
    ],
    // A full PUT without them would drop them.
    carry_over: &[
        "properties.manualPrivateLinkServiceConnections",
        "properties.applicationSecurityGroups",
        "properties.ipConfigurations",
    ],
    deletes_children: &[Kind::PrivateDnsZoneGroup],
    made_with: &["properties.networkInterfaces"],
    ..KindDef::new(
        Kind::PrivateEndpoint,
        "private_endpoint",
        "Microsoft.Network/privateEndpoints",
        "2024-03-01",
        Scope::ResourceGroup,
        naming::NETWORK_CHILD,
        // Recordings (network/test_network_private_endpoint*.yaml): 3–4 polls, ~30 s.
        30,
        body,
        check,
    )
};

pub(crate) static ZONE_GROUP_DEF: KindDef = KindDef {
    has_location: false,
    taggable: false,
    fields: &[Field::new(
        "properties.privateDnsZoneConfigs",
        canon::zone_configs,
    )],
    ..KindDef::new(
        Kind::PrivateDnsZoneGroup,
        "private_dns_zone_group",
        "Microsoft.Network/privateEndpoints/privateDnsZoneGroups",
        "2024-03-01",
        Scope::Child {
            parent: Kind::PrivateEndpoint,
            segment: "privateDnsZoneGroups",
        },
        naming::NETWORK_CHILD,
        // Recordings: a zone group PUT is done at the first poll, ~10 s.
        10,
        zone_group_body,
        no_check,
    )
};

/// The groups (sub-resources) each target kind offers, the default first. Storage has one
/// endpoint per group: `file` (or `dfs`, …) needs an endpoint of its own.
pub const GROUPS: &[(Kind, &[&str])] = &[
    (
        Kind::StorageAccount,
        &[
            "blob",
            "file",
            "queue",
            "table",
            "web",
            "dfs",
            "blob_secondary",
            "file_secondary",
            "queue_secondary",
            "table_secondary",
            "web_secondary",
            "dfs_secondary",
        ],
    ),
    (Kind::KeyVault, &["vault"]),
    (Kind::ContainerRegistry, &["registry"]),
    (Kind::MlWorkspace, &["amlworkspace"]),
];

/// The kinds an endpoint can target.
const TARGETS: &[Kind] = &[
    Kind::StorageAccount,
    Kind::KeyVault,
    Kind::ContainerRegistry,
    Kind::MlWorkspace,
];

/// The endpoint's group: the spec's `group:`, else the default of its target's kind.
pub fn group_of(r: &Resource) -> Option<String> {
    let Body::Spec(KindSpec::PrivateEndpoint(p)) = &r.body else {
        return None;
    };
    if let Some(g) = &p.group {
        return Some(g.value.to_ascii_lowercase());
    }
    let target = r.reference(refs::TARGET)?;
    GROUPS
        .iter()
        .find(|(k, _)| *k == target.kind)
        .and_then(|(_, g)| g.first())
        .map(|g| (*g).to_string())
}

fn body(r: &Resource, b: &mut Value, _ctx: &MapContext) {
    let Body::Spec(KindSpec::PrivateEndpoint(p)) = &r.body else {
        return;
    };
    if let Some(id) = super::ref_id(r, refs::SUBNET) {
        json::set(b, "properties.subnet", id_obj(&id));
    }
    if let Some(id) = super::ref_id(r, refs::TARGET) {
        let groups: Vec<String> = group_of(r).into_iter().collect();
        json::set(
            b,
            "properties.privateLinkServiceConnections",
            json!([{ "name": r.name.value, "properties": {
                "privateLinkServiceId": id, "groupIds": groups } }]),
        );
    }
    if let Some(n) = &p.nic_name {
        json::set(b, "properties.customNetworkInterfaceName", json!(n.value));
    }
}

/// The zone configs, one per zone, named after the zone (`privatelink-blob-core-windows-net`).
fn zone_group_body(r: &Resource, b: &mut Value, _ctx: &MapContext) {
    let configs: Vec<Value> = r
        .refs
        .iter()
        .filter(|x| x.kind == Kind::PrivateDnsZone)
        .map(|x| {
            let zone = x.id.rsplit('/').next().unwrap_or_default();
            json!({ "name": zone.replace('.', "-"),
                    "properties": { "privateDnsZoneId": x.id } })
        })
        .collect();
    json::set(b, "properties.privateDnsZoneConfigs", Value::Array(configs));
}

/// Checked by its endpoint, which builds it.
fn no_check(_rs: &mut Resolver<'_>, _spec: &KindSpec, _site: Site<'_>) {}

/// Binds the subnet, the target and the zones; checks the group against the target's kind;
/// adds the DNS zone group child when the endpoint names zones.
pub(crate) fn check(rs: &mut Resolver<'_>, spec: &KindSpec, site: Site<'_>) {
    let Site {
        key,
        refs: bound,
        children,
        ..
    } = site;
    let KindSpec::PrivateEndpoint(p) = spec else {
        return;
    };
    bound.extend(rs.bind(&p.subnet, refs::SUBNET, &[Kind::Subnet]));
    let target = rs.bind(&p.target, refs::TARGET, TARGETS);
    if let (Some(t), Some(g)) = (&target, &p.group)
        && let Some((_, groups)) = GROUPS.iter().find(|(k, _)| *k == t.kind)
        && !groups.iter().any(|x| x.eq_ignore_ascii_case(&g.value))
    {
        let hint = did_you_mean(&g.value, groups.iter().copied())
            .map(|s| format!("did you mean `{s}`?"))
            .unwrap_or_else(|| format!("a `{}` offers: {}", t.kind.word(), groups.join(", ")));
        rs.push(
            Diagnostic::error(
                codes::E0113,
                format!(
                    "a `{}` has no private endpoint group `{}`",
                    t.kind.word(),
                    g.value
                ),
                g.span,
            )
            .label("unknown group for this target")
            .hint(hint),
        );
    }
    bound.extend(target);
    if let Some(n) = &p.nic_name
        && let Err(why) = naming::NETWORK_CHILD.check(&n.value)
    {
        rs.push(
            Diagnostic::error(
                codes::E0301,
                format!("invalid network interface name `{}`", n.value),
                n.span,
            )
            .label(why),
        );
    }
    let mut zone_refs = Vec::new();
    for (i, z) in p.dns_zones.iter().flat_map(|l| l.value.iter()).enumerate() {
        if let Some(r) = rs.bind(z, &refs::dns_zone(i), &[Kind::PrivateDnsZone]) {
            if zone_refs
                .iter()
                .any(|o: &crate::model::Ref| crate::armid::same_id(&o.id, &r.id))
            {
                rs.push(
                    Diagnostic::error(
                        codes::E0114,
                        format!("`{key}` names the zone `{}` twice", z.value),
                        z.span,
                    )
                    .hint("a zone group holds each zone once; remove the second"),
                );
                continue;
            }
            zone_refs.push(r);
        }
    }
    if zone_refs.is_empty() {
        return;
    }
    let Some(id) = rs.ids.get(key).cloned() else {
        return;
    };
    let Some(sym) = rs.syms.get(key) else { return };
    let (key_span, span) = (sym.res.key.span, sym.res.span);
    let at = p.dns_zones.as_ref().map_or(key_span, |d| d.span);
    children.push(Resource {
        key: format!("{key}/dns_zones"),
        key_span: at,
        kind: Kind::PrivateDnsZoneGroup,
        name: Spanned::new("default".to_string(), at),
        location: None,
        tags: BTreeMap::new(),
        id: format!("{id}/privateDnsZoneGroups/default"),
        parent: Some(key.to_string()),
        body: Body::Spec(spec.clone()),
        refs: zone_refs,
        depends_on: Vec::new(),
        // The endpoint's `protect:` guards the endpoint; its zone group holds no data.
        protect: None,
        span,
    });
}

/// The `resource_group:` naming its scope.
fn scope_ref(spec: &KindSpec) -> Option<&Spanned<String>> {
    match spec {
        KindSpec::PrivateEndpoint(x) => Some(&x.resource_group),
        _ => None,
    }
}

/// A `private_endpoints:` list as the spec holds it.
type Shorthand = Spanned<Vec<Spanned<PrivateEndpoints>>>;

/// A resource's `private_endpoints:` shorthand and its resource group, for the kinds that
/// take one (the kinds an endpoint can target).
fn shorthand(spec: &KindSpec) -> Option<(&Shorthand, &Spanned<String>, Kind)> {
    match spec {
        KindSpec::StorageAccount(x) => Some((
            x.private_endpoints.as_ref()?,
            &x.resource_group,
            Kind::StorageAccount,
        )),
        KindSpec::KeyVault(x) => Some((
            x.private_endpoints.as_ref()?,
            &x.resource_group,
            Kind::KeyVault,
        )),
        KindSpec::ContainerRegistry(x) => Some((
            x.private_endpoints.as_ref()?,
            &x.resource_group,
            Kind::ContainerRegistry,
        )),
        KindSpec::MlWorkspace(x) => Some((
            x.private_endpoints.as_ref()?,
            &x.resource_group,
            Kind::MlWorkspace,
        )),
        _ => None,
    }
}

/// Expands every `private_endpoints:` shorthand into ordinary `private_endpoint` resources,
/// added to the spec after their target: one per group, keyed `<target>/pe-<group>` and named
/// after the target's Azure name, `<name>-pe-<group>` (so that a key rename of the target
/// moves them, and a new name replaces them with it), with the entry's subnet and zones (with one group, all of them;
/// with several, one per group in order). Their fields carry the spans of the entry, so
/// every later diagnostic about them (an unknown group, a subnet that does not exist) points
/// into it. Returns `None` when no resource uses the shorthand, the keys it made, and the
/// problems of the shorthand itself.
pub(crate) fn expand(spec: &ast::Spec) -> (Option<ast::Spec>, BTreeSet<String>, Vec<Diagnostic>) {
    let mut made = BTreeSet::new();
    let mut diags = Vec::new();
    if !spec
        .resources
        .iter()
        .any(|r| r.body.as_ref().and_then(shorthand).is_some())
    {
        return (None, made, diags);
    }
    let mut out = spec.clone();
    out.resources.clear();
    for res in &spec.resources {
        out.resources.push(res.clone());
        let Some((entries, rg, kind)) = res.body.as_ref().and_then(shorthand) else {
            continue;
        };
        let target_name = res.name.as_ref().map_or_else(
            || crate::resolve::default_name(kind, &spec.stack.value, &res.key.value),
            |n| n.value.clone(),
        );
        let default = GROUPS
            .iter()
            .find(|(k, _)| *k == kind)
            .and_then(|(_, g)| g.first())
            .copied()
            .unwrap_or_default();
        for entry in &entries.value {
            let e = &entry.value;
            // `None`: the kind's default group, left for the endpoint to default.
            let groups: Vec<Option<&Spanned<String>>> = match &e.groups {
                Some(g) if !g.value.is_empty() => g.value.iter().map(Some).collect(),
                _ => vec![None],
            };
            let zones: Vec<Spanned<String>> =
                e.dns_zones.iter().flat_map(|z| z.value.clone()).collect();
            if groups.len() > 1
                && !zones.is_empty()
                && zones.len() != groups.len()
                && let Some(z) = &e.dns_zones
            {
                diags.push(
                    Diagnostic::error(
                        codes::E0114,
                        format!(
                            "`{}` names {} private endpoint groups and {} DNS zones",
                            res.key.value,
                            groups.len(),
                            zones.len()
                        ),
                        z.span,
                    )
                    .label("one zone per group, in the order of `groups`")
                    .hint("with several groups, give one zone per group; or write one entry per group"),
                );
                continue;
            }
            for (i, g) in groups.iter().enumerate() {
                let word = g.map_or(default.to_string(), |g| g.value.to_ascii_lowercase());
                let at = g.map_or(entry.span, |g| g.span);
                let key = format!("{}/pe-{word}", res.key.value);
                if !made.insert(key.clone()) {
                    diags.push(
                        Diagnostic::error(
                            codes::E0114,
                            format!(
                                "`{}` has two private endpoints for the group `{word}`",
                                res.key.value
                            ),
                            at,
                        )
                        .label("a second endpoint of this group")
                        .hint("one endpoint per group reaches the resource from every network linked to its zones; remove the second"),
                    );
                    continue;
                }
                let dns: Vec<Spanned<String>> = if groups.len() == 1 {
                    zones.clone()
                } else {
                    zones.get(i).cloned().into_iter().collect()
                };
                let dns_span = e.dns_zones.as_ref().map_or(entry.span, |z| z.span);
                out.resources.push(ast::Resource {
                    key: Spanned::new(key, at),
                    ty: Spanned::new(ast::ResourceType::PrivateEndpoint, entry.span),
                    name: Some(Spanned::new(format!("{target_name}-pe-{word}"), at)),
                    location: None,
                    tags: None,
                    depends_on: None,
                    existing: None,
                    protect: None,
                    body: Some(KindSpec::PrivateEndpoint(ast::PrivateEndpoint {
                        resource_group: e.resource_group.clone().unwrap_or_else(|| rg.clone()),
                        subnet: e.subnet.clone(),
                        target: Spanned::new(res.key.value.clone(), entry.span),
                        group: g.cloned(),
                        dns_zones: (!dns.is_empty()).then(|| Spanned::new(dns, dns_span)),
                        nic_name: None,
                    })),
                    span: entry.span,
                    broken: res.broken,
                });
            }
        }
    }
    (Some(out), made, diags)
}

#[cfg(test)]
mod tests {
    use crate::arm::{MapContext, request_body};
    use crate::model::{Kind, Model};
    use moat_spec::{Diagnostic, SourceFile, VarOverrides};

    const HEAD: &str = "stack: t\nlocation: eastus2\nresources:\n  rg: { type: resource_group }\n  vnet: { type: virtual_network, resource_group: rg, address_space: [10.0.0.0/16], subnets: { pe: { address_prefix: 10.0.1.0/24 } } }\n  blob-zone: { type: private_dns_zone, resource_group: rg, name: privatelink.blob.core.windows.net, links: [vnet] }\n  file-zone: { type: private_dns_zone, resource_group: rg, name: privatelink.file.core.windows.net, links: [vnet] }\n";

    fn load(resources: &str) -> (String, Option<Model>, Vec<Diagnostic>) {
        let text = format!("{HEAD}{resources}");
        let file = SourceFile::new("t.yaml", &text);
        let (spec, mut diags) = moat_spec::load(&file, &VarOverrides::default(), &|_: &str| None);
        let Some(spec) = spec else {
            return (text, None, diags);
        };
        let (m, more) = crate::resolve(&spec, &crate::Context::default());
        diags.extend(more);
        (text, m, diags)
    }

    fn model(resources: &str) -> Model {
        let (_, m, diags) = load(resources);
        assert!(!diags.iter().any(Diagnostic::is_error), "{diags:?}");
        m.expect("a model")
    }

    /// The one error of `resources`: its code, message, the text under its caret, its hint.
    fn error(resources: &str) -> (String, String, String, String) {
        let (text, _, diags) = load(resources);
        let errors: Vec<&Diagnostic> = diags.iter().filter(|d| d.is_error()).collect();
        assert_eq!(errors.len(), 1, "{diags:?}");
        let d = errors[0];
        let span = d.primary.span;
        (
            d.code.clone(),
            d.message.clone(),
            text[span.start as usize..span.end as usize].to_string(),
            d.hint.clone().unwrap_or_default(),
        )
    }

    #[test]
    fn the_shorthand_expands_into_the_endpoints_one_would_write() {
        let short = model(
            "  store:\n    type: storage_account\n    resource_group: rg\n    name: tstore\n    private_endpoints: [{ subnet: vnet/pe, groups: [blob, file], dns_zones: [blob-zone, file-zone] }]\n",
        );
        let long = model(
            "  store: { type: storage_account, resource_group: rg, name: tstore }\n  tstore-pe-blob: { type: private_endpoint, resource_group: rg, subnet: vnet/pe, target: store, group: blob, dns_zones: [blob-zone] }\n  tstore-pe-file: { type: private_endpoint, resource_group: rg, subnet: vnet/pe, target: store, group: file, dns_zones: [file-zone] }\n",
        );
        for (key, hand) in [
            ("store/pe-blob", "tstore-pe-blob"),
            ("store/pe-file", "tstore-pe-file"),
        ] {
            let r = short.get(key).unwrap_or_else(|| panic!("no `{key}`"));
            let h = long.get(hand).expect("the hand-written endpoint");
            assert_eq!(r.kind, Kind::PrivateEndpoint);
            assert_eq!((&r.name.value, &r.id), (&h.name.value, &h.id));
            assert_eq!(
                request_body(&short, r, &MapContext::default()),
                request_body(&long, h, &MapContext::default()),
                "{key}"
            );
            let zones = short
                .get(&format!("{key}/dns_zones"))
                .expect("the zone group");
            let hand_zones = long.get(&format!("{hand}/dns_zones")).unwrap();
            assert_eq!(zones.parent.as_deref(), Some(key));
            assert_eq!(
                request_body(&short, zones, &MapContext::default()),
                request_body(&long, hand_zones, &MapContext::default()),
                "{key}: one zone per group, in order"
            );
            // The references a hand-written endpoint has, so the graph orders it the same.
            let refs = |m: &Model, k: &str| {
                let mut v: Vec<String> = m
                    .get(k)
                    .unwrap()
                    .refs
                    .iter()
                    .map(|r| r.id.clone())
                    .collect();
                v.sort();
                v
            };
            assert_eq!(refs(&short, key), refs(&long, hand));
        }
    }

    #[test]
    fn one_group_takes_every_zone_and_defaults_from_the_kind() {
        let m = model(
            "  vault:\n    type: key_vault\n    resource_group: rg\n    name: team-vault\n    private_endpoints:\n      - { subnet: vnet/pe, dns_zones: [blob-zone, file-zone] }\n",
        );
        let r = m
            .get("vault/pe-vault")
            .expect("the default group's endpoint");
        assert_eq!(super::group_of(r).as_deref(), Some("vault"));
        let zones = m.get("vault/pe-vault/dns_zones").unwrap();
        assert_eq!(zones.refs.len(), 2);
        assert_eq!(
            m.get("vault/pe-vault").unwrap().name.value,
            "team-vault-pe-vault",
            "after the vault's Azure name, not its key"
        );
    }

    #[test]
    fn bad_shorthands_are_located_errors() {
        let (code, msg, at, hint) = error(
            "  store:\n    type: storage_account\n    resource_group: rg\n    private_endpoints: [{ subnet: vnet/pe, groups: [blob, files] }]\n",
        );
        assert_eq!(
            (code.as_str(), msg.as_str(), at.as_str(), hint.as_str()),
            (
                "E0113",
                "a `storage_account` has no private endpoint group `files`",
                "files",
                "did you mean `file`?"
            )
        );
        let (code, msg, at, _) = error(
            "  store:\n    type: storage_account\n    resource_group: rg\n    private_endpoints: [{ subnet: vnet/pe, groups: [blob, file], dns_zones: [blob-zone] }]\n",
        );
        assert_eq!(
            (code.as_str(), msg.as_str()),
            (
                "E0114",
                "`store` names 2 private endpoint groups and 1 DNS zones",
            )
        );
        assert!(at.starts_with("[blob-zone"), "at the zones: {at}");
        let (code, msg, at, _) = error(
            "  store:\n    type: storage_account\n    resource_group: rg\n    private_endpoints:\n      - { subnet: vnet/pe, groups: [blob] }\n      - { subnet: vnet/pe, groups: [blob] }\n",
        );
        assert_eq!(
            (code.as_str(), msg.as_str(), at.as_str()),
            (
                "E0114",
                "`store` has two private endpoints for the group `blob`",
                "blob"
            )
        );
        // A subnet that does not exist: reported at the entry's `subnet:` (its subnet part).
        let (_, _, at, _) = error(
            "  store:\n    type: storage_account\n    resource_group: rg\n    private_endpoints: [{ subnet: vnet/endpoints }]\n",
        );
        assert_eq!(at, "endpoints");
        // An unknown field of an entry, with its closest.
        let (code, _, at, hint) = error(
            "  store:\n    type: storage_account\n    resource_group: rg\n    private_endpoints: [{ subnet: vnet/pe, group: [blob] }]\n",
        );
        assert_eq!(
            (code.as_str(), at.as_str(), hint.as_str()),
            ("E0111", "group", "did you mean `groups`?")
        );
    }
}
