//! ML6xx: private endpoints and private DNS. A workspace isolated with private endpoints
//! breaks in known ways: the notebooks zone forgotten, storage reached on blob but not file,
//! zones not linked to the networks that resolve through them, zones of another cloud, a
//! resource closed to the public with no private way in, an ACR below Premium; and the compute
//! settings that only work in such a workspace (no public node IPs, SSH through an NSG).

use crate::catalogue::ids;
use crate::cx::Cx;
use crate::nsg::{self, Endpoint, Probe};
use moat_model::kinds::refs;
use moat_model::{Body, Kind, Model, Resource};
use moat_spec::ast::{Direction, KindSpec, RegistrySku, RemoteLogin, Toggle};
use moat_spec::{Span, Spanned};

/// The clouds whose privatelink zone names differ.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Cloud {
    Public,
    UsGov,
    China,
}

impl Cloud {
    fn of_region(region: &str) -> Cloud {
        let r = region.to_ascii_lowercase();
        if r.starts_with("usgov") || r.starts_with("usdod") {
            Cloud::UsGov
        } else if r.starts_with("china") {
            Cloud::China
        } else {
            Cloud::Public
        }
    }

    fn name(self) -> &'static str {
        match self {
            Cloud::Public => "Azure public cloud",
            Cloud::UsGov => "Azure US Government",
            Cloud::China => "Azure China",
        }
    }
}

/// The privatelink zones a group resolves through, per cloud (public, US Gov, China): one
/// family per name the group's FQDNs take (a workspace has two).
fn families(group: &str) -> Vec<[String; 3]> {
    let storage = |svc: &str| {
        [
            format!("privatelink.{svc}.core.windows.net"),
            format!("privatelink.{svc}.core.usgovcloudapi.net"),
            format!("privatelink.{svc}.core.chinacloudapi.cn"),
        ]
    };
    let s = |a: &str, b: &str, c: &str| [a.to_string(), b.to_string(), c.to_string()];
    match group {
        "amlworkspace" => vec![
            s(
                "privatelink.api.azureml.ms",
                "privatelink.api.ml.azure.us",
                "privatelink.api.ml.azure.cn",
            ),
            s(
                "privatelink.notebooks.azure.net",
                "privatelink.notebooks.usgovcloudapi.net",
                "privatelink.notebooks.chinacloudapi.cn",
            ),
        ],
        "vault" => vec![s(
            "privatelink.vaultcore.azure.net",
            "privatelink.vaultcore.usgovcloudapi.net",
            "privatelink.vaultcore.azure.cn",
        )],
        "registry" => vec![s(
            "privatelink.azurecr.io",
            "privatelink.azurecr.us",
            "privatelink.azurecr.cn",
        )],
        g => {
            let svc = g.trim_end_matches("_secondary");
            if ["blob", "file", "queue", "table", "web", "dfs"].contains(&svc) {
                vec![storage(svc)]
            } else {
                Vec::new()
            }
        }
    }
}

fn index(c: Cloud) -> usize {
    match c {
        Cloud::Public => 0,
        Cloud::UsGov => 1,
        Cloud::China => 2,
    }
}

/// Every privatelink zone name of any group and cloud, with the group it serves.
fn any_family(zone: &str) -> Option<(&'static str, Cloud)> {
    const GROUPS: [&str; 9] = [
        "amlworkspace",
        "vault",
        "registry",
        "blob",
        "file",
        "queue",
        "table",
        "web",
        "dfs",
    ];
    for g in GROUPS {
        for f in families(g) {
            for c in [Cloud::Public, Cloud::UsGov, Cloud::China] {
                if f[index(c)].eq_ignore_ascii_case(zone) {
                    return Some((g, c));
                }
            }
        }
    }
    None
}

/// A private endpoint of the spec with what lint needs of it.
struct Pe<'m> {
    res: &'m Resource,
    spec: &'m moat_spec::ast::PrivateEndpoint,
    target: Option<&'m Resource>,
    target_kind: Option<Kind>,
    group: Option<String>,
    /// The zones named (key, resource when in this spec, the reference's span).
    zones: Vec<(Option<&'m Resource>, String, Span)>,
}

fn endpoints<'m>(cx: &Cx<'m>) -> Vec<Pe<'m>> {
    let model: &'m Model = cx.model;
    let mut out = Vec::new();
    for r in model.of_kind(Kind::PrivateEndpoint) {
        let Body::Spec(KindSpec::PrivateEndpoint(p)) = &r.body else {
            continue;
        };
        let t = r.reference(refs::TARGET);
        // The zones are bound on the endpoint's DNS zone group, its child.
        let zones = model
            .resources
            .iter()
            .filter(|g| {
                g.kind == Kind::PrivateDnsZoneGroup && g.parent.as_deref() == Some(r.key.as_str())
            })
            .flat_map(|g| g.refs.iter())
            .filter(|x| x.kind == Kind::PrivateDnsZone)
            .map(|x| {
                let res = x.target.as_deref().and_then(|k| model.get(k));
                let name = res.map_or_else(
                    || x.id.rsplit('/').next().unwrap_or_default().to_string(),
                    |z| z.name.value.clone(),
                );
                (res, name, x.span)
            })
            .collect();
        out.push(Pe {
            res: r,
            spec: p,
            target: t
                .and_then(|t| t.target.as_deref())
                .and_then(|k| model.get(k)),
            target_kind: t.map(|t| t.kind),
            group: moat_model::kinds::private_endpoint_group(r),
            zones,
        });
    }
    out
}

/// The network ID of a subnet ID.
fn vnet_of(subnet_id: &str) -> String {
    subnet_id
        .rsplit_once("/subnets/")
        .map_or(subnet_id, |(v, _)| v)
        .to_ascii_lowercase()
}

pub fn check(cx: &mut Cx<'_>) {
    let pes = endpoints(cx);
    for pe in &pes {
        zone_names(cx, pe);
        zone_links(cx, pe, &pes);
        registry_sku(cx, pe);
    }
    storage_groups(cx, &pes);
    closed_without_endpoint(cx, &pes);
    both_paths(cx, &pes);
    computes(cx, &pes);
    shared_key_store(cx);
}

/// ML601 (a workspace endpoint names both the api and the notebooks zone) and ML604 (each
/// zone is the privatelink zone of the endpoint's group in the stack's cloud).
fn zone_names(cx: &mut Cx<'_>, pe: &Pe<'_>) {
    let Some(group) = &pe.group else { return };
    let cloud = pe
        .res
        .location
        .as_ref()
        .map_or(Cloud::Public, |l| Cloud::of_region(&l.value));
    let fams = families(group);
    if fams.is_empty() {
        return;
    }
    let dns = pe.spec.dns_zones.as_ref();
    if group == "amlworkspace"
        && let Some(list) = dns
    {
        for (i, f) in fams.iter().enumerate() {
            let has = pe
                .zones
                .iter()
                .any(|(_, z, _)| f.iter().any(|x| x.eq_ignore_ascii_case(z)));
            if !has {
                let what = if i == 0 { "api" } else { "notebooks" };
                cx.push(
                    Cx::diag(
                        ids::ML601,
                        format!(
                            "workspace endpoint `{}` registers in no {what} zone (`{}`)",
                            pe.res.key,
                            f[index(cloud)]
                        ),
                        list.span,
                    )
                    .label(format!("no `{}` here", f[index(cloud)]))
                    .hint(format!(
                        "declare a `private_dns_zone` named `{}` linked to the network and add it to `dns_zones`",
                        f[index(cloud)]
                    )),
                );
            }
        }
    }
    for (_, zone, span) in &pe.zones {
        let Some((served, zcloud)) = any_family(zone) else {
            continue; // a zone of the user's own naming: not ours to judge
        };
        let fits = fams
            .iter()
            .any(|f| f.iter().any(|x| x.eq_ignore_ascii_case(zone)));
        if fits && zcloud == cloud {
            continue;
        }
        let want: Vec<String> = fams
            .iter()
            .map(|f| format!("`{}`", f[index(cloud)]))
            .collect();
        let msg = if fits {
            format!(
                "zone `{zone}` is the {} name; `{}` is in the {}",
                zcloud.name(),
                pe.res.key,
                cloud.name()
            )
        } else {
            format!(
                "zone `{zone}` serves `{served}` endpoints, not `{group}` ones like `{}`",
                pe.res.key
            )
        };
        cx.push(
            Cx::diag(ids::ML604, msg, *span)
                .label("no record of this endpoint goes in this zone")
                .hint(format!("use {}", want.join(" and "))),
        );
    }
}

/// The networks that resolve through an endpoint's zones: the endpoint's own, and those of
/// the ML computes of the workspace the endpoint serves (the workspace itself, or one whose
/// storage, vault or registry it reaches).
fn resolving_networks(cx: &Cx<'_>, pe: &Pe<'_>) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    if let Some(s) = pe.res.reference(refs::SUBNET) {
        out.push((vnet_of(&s.id), format!("endpoint `{}`", pe.res.key)));
    }
    let Some(t) = pe.target else { return out };
    let workspaces: Vec<&Resource> = cx
        .model
        .of_kind(Kind::MlWorkspace)
        .filter(|w| {
            w.key == t.key
                || [
                    refs::STORAGE_ACCOUNT,
                    refs::KEY_VAULT,
                    refs::CONTAINER_REGISTRY,
                ]
                .iter()
                .any(|f| {
                    w.reference(f)
                        .and_then(|x| x.target.as_deref())
                        .is_some_and(|k| k == t.key)
                })
        })
        .collect();
    for w in workspaces {
        for c in cx
            .model
            .resources
            .iter()
            .filter(|c| c.parent.as_deref() == Some(w.key.as_str()))
        {
            if let Some(s) = c.reference(refs::SUBNET) {
                out.push((vnet_of(&s.id), format!("compute `{}`", c.key)));
            }
        }
    }
    out.sort();
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

/// ML603: each zone of this spec an endpoint names is linked to every network that resolves
/// through it.
fn zone_links(cx: &mut Cx<'_>, pe: &Pe<'_>, _all: &[Pe<'_>]) {
    let nets = resolving_networks(cx, pe);
    for (zone, name, span) in &pe.zones {
        let Some(zone) = zone else { continue };
        let Body::Spec(KindSpec::PrivateDnsZone(z)) = &zone.body else {
            continue;
        };
        let linked: Vec<String> = cx
            .model
            .resources
            .iter()
            .filter(|l| {
                l.kind == Kind::PrivateDnsZoneLink && l.parent.as_deref() == Some(zone.key.as_str())
            })
            .flat_map(|l| l.refs.iter().map(|r| r.id.to_ascii_lowercase()))
            .collect();
        for (net, who) in &nets {
            if linked.contains(net) {
                continue;
            }
            let net_name = net.rsplit('/').next().unwrap_or_default();
            let at = z.links.as_ref().map_or(zone.key_span, |l| l.span);
            cx.push(
                Cx::diag(
                    ids::ML603,
                    format!("zone `{name}` is not linked to network `{net_name}` of {who}"),
                    at,
                )
                .label(format!("`{net_name}` missing"))
                .with_secondary(*span, format!("`{}` registers here", pe.res.key))
                .hint(format!(
                    "add the network to `links:` of `{}`, or names resolve to public addresses from it",
                    zone.key
                )),
            );
        }
    }
}

/// ML607: a registry reached by a private endpoint is Premium.
fn registry_sku(cx: &mut Cx<'_>, pe: &Pe<'_>) {
    let Some(t) = pe.target else { return };
    let Body::Spec(KindSpec::ContainerRegistry(r)) = &t.body else {
        return;
    };
    let Some(sku) = &r.sku else { return }; // Premium by default
    if sku.value == RegistrySku::Premium {
        return;
    }
    cx.push(
        Cx::diag(
            ids::ML607,
            format!(
                "registry `{}` is `{}`, but private endpoints need Premium",
                t.key, sku.value
            ),
            pe.spec.target.span,
        )
        .label("private endpoint to a non-Premium registry")
        .with_secondary(sku.span, "the registry's SKU")
        .hint(format!("set `sku: premium` on `{}`", t.key)),
    );
}

/// ML602: a workspace's storage reached privately has endpoints for both blob and file.
fn storage_groups(cx: &mut Cx<'_>, pes: &[Pe<'_>]) {
    for (ws, _) in cx.specs(Kind::MlWorkspace).collect::<Vec<_>>() {
        let Some(store) = cx.target(ws, refs::STORAGE_ACCOUNT) else {
            continue;
        };
        let groups: Vec<(&str, &Pe<'_>)> = pes
            .iter()
            .filter(|p| p.target.is_some_and(|t| t.key == store.key))
            .filter_map(|p| p.group.as_deref().map(|g| (g, p)))
            .collect();
        let Some((_, first)) = groups.first() else {
            continue;
        };
        for need in ["blob", "file"] {
            if groups.iter().any(|(g, _)| *g == need) {
                continue;
            }
            cx.push(
                Cx::diag(
                    ids::ML602,
                    format!(
                        "storage `{}` of workspace `{}` has private endpoints but none for `{need}`",
                        store.key, ws.key
                    ),
                    first.spec.target.span,
                )
                .label(format!("`{}` reaches another group", first.res.key))
                .hint(format!(
                    "add a `private_endpoint` with `target: {}` and `group: {need}` (Azure ML uses both blob and file)",
                    store.key
                )),
            );
        }
    }
}

/// The `public_network_access:` of a kind that has one.
fn public_access(res: &Resource) -> Option<&Spanned<Toggle>> {
    match &res.body {
        Body::Spec(KindSpec::StorageAccount(s)) => s.public_network_access.as_ref(),
        Body::Spec(KindSpec::KeyVault(s)) => s.public_network_access.as_ref(),
        Body::Spec(KindSpec::ContainerRegistry(s)) => s.public_network_access.as_ref(),
        Body::Spec(KindSpec::MlWorkspace(s)) => s.public_network_access.as_ref(),
        _ => None,
    }
}

/// ML605: public access disabled and no private endpoint in.
fn closed_without_endpoint(cx: &mut Cx<'_>, pes: &[Pe<'_>]) {
    for r in &cx.model.resources {
        let Some(p) = public_access(r) else { continue };
        if p.value != Toggle::Disabled {
            continue;
        }
        if pes
            .iter()
            .any(|pe| pe.target.is_some_and(|t| t.key == r.key))
        {
            continue;
        }
        cx.push(
            Cx::diag(
                ids::ML605,
                format!(
                    "`{}` refuses public network access and no private endpoint reaches it",
                    r.key
                ),
                p.span,
            )
            .label("closed to every network")
            .note("nothing can reach its data plane, including the machine applying this spec")
            .hint(format!(
                "add a `private_endpoint` with `target: {}`, or keep public access enabled behind a firewall",
                r.key
            )),
        );
    }
}

/// ML606: a storage account or vault reached both through service-endpoint firewall rules
/// and a private endpoint.
fn both_paths(cx: &mut Cx<'_>, pes: &[Pe<'_>]) {
    for r in &cx.model.resources {
        let subnets = match &r.body {
            Body::Spec(KindSpec::StorageAccount(s)) => s
                .network_rules
                .as_ref()
                .and_then(|n| n.value.subnets.as_ref()),
            Body::Spec(KindSpec::KeyVault(s)) => s
                .network_rules
                .as_ref()
                .and_then(|n| n.value.subnets.as_ref()),
            _ => None,
        };
        let Some(subnets) = subnets.filter(|s| !s.value.is_empty()) else {
            continue;
        };
        let Some(pe) = pes
            .iter()
            .find(|pe| pe.target.is_some_and(|t| t.key == r.key))
        else {
            continue;
        };
        cx.push(
            Cx::diag(
                ids::ML606,
                format!(
                    "`{}` is reached through service endpoints and through private endpoint `{}`",
                    r.key, pe.res.key
                ),
                subnets.span,
            )
            .label("service-endpoint firewall rules")
            .with_secondary(pe.spec.target.span, "and a private endpoint")
            .note("clients in these subnets keep using the public endpoint over the service endpoint once the private DNS zone is in place only where it is linked; which path is taken depends on each network's DNS")
            .hint("choose one path: drop the subnets from `network_rules`, or the private endpoint"),
        );
    }
}

/// ML608 (no node public IP needs a private workspace) and ML609 (SSH asked for but no NSG
/// rule admits TCP 22).
fn computes(cx: &mut Cx<'_>, pes: &[Pe<'_>]) {
    for (res, spec) in cx.specs(Kind::AmlCompute).collect::<Vec<_>>() {
        let KindSpec::AmlCompute(c) = spec else {
            continue;
        };
        let ws = res.parent.as_deref();
        if let Some(np) = &c.enable_node_public_ip
            && !np.value
            && let Some(ws) = ws
            && !pes.iter().any(|pe| {
                pe.target.is_some_and(|t| t.key == ws) && pe.target_kind == Some(Kind::MlWorkspace)
            })
        {
            cx.push(
                Cx::diag(
                    ids::ML608,
                    format!(
                        "cluster `{}` has no public node IPs, but workspace `{ws}` has no private endpoint",
                        res.key
                    ),
                    np.span,
                )
                .label("nodes without public IPs")
                .note("without public IPs the nodes reach the workspace only through its private endpoint")
                .hint(format!(
                    "add a `private_endpoint` with `target: {ws}` in the cluster's network, or keep `enable_node_public_ip: true`"
                )),
            );
        }
        let ssh_on = c.ssh.is_some()
            && c.remote_login_port_public_access
                .as_ref()
                .is_none_or(|r| r.value != RemoteLogin::Disabled);
        if !ssh_on {
            continue;
        }
        let Some(sub_key) = res
            .reference(refs::SUBNET)
            .and_then(|s| s.target.as_deref())
        else {
            continue;
        };
        let Some(sub) = cx.subnet(sub_key) else {
            continue;
        };
        let Some((nsg_res, n)) = cx.nsg_of(&sub) else {
            continue;
        };
        let Some(prefix) = sub.prefix() else { continue };
        let here = Endpoint::network(vec![prefix]);
        let vnet = cx.network_of(&sub, prefix);
        let internet = Endpoint::internet();
        let rules = crate::cx::nsg_rules(n);
        let admitted = [&internet, &vnet].iter().any(|from| {
            nsg::evaluate(
                rules,
                &Probe {
                    direction: Direction::Inbound,
                    port: 22,
                    from,
                    to: &here,
                },
            )
            .allowed
        });
        if admitted {
            continue;
        }
        let at = c.ssh.as_ref().map_or(res.key_span, |s| s.span);
        cx.push(
            Cx::diag(
                ids::ML609,
                format!(
                    "cluster `{}` enables SSH, but NSG `{}` of subnet `{}` admits no TCP 22",
                    res.key, nsg_res.key, sub.res.key
                ),
                at,
            )
            .label("SSH asked for here")
            .with_secondary(nsg_res.key_span, "no inbound rule allows TCP 22")
            .hint("add an inbound allow rule for TCP 22 from where you connect (e.g. `VirtualNetwork` or a bastion's range), or drop `ssh:`"),
        );
    }
}

/// ML610: a workspace's default store with shared keys off.
fn shared_key_store(cx: &mut Cx<'_>) {
    for (ws, spec) in cx.specs(Kind::MlWorkspace).collect::<Vec<_>>() {
        let KindSpec::MlWorkspace(w) = spec else {
            continue;
        };
        let Some(store) = cx.target(ws, refs::STORAGE_ACCOUNT) else {
            continue;
        };
        let Body::Spec(KindSpec::StorageAccount(s)) = &store.body else {
            continue;
        };
        let Some(k) = &s.allow_shared_key_access else {
            continue;
        };
        if k.value {
            continue;
        }
        cx.push(
            Cx::diag(
                ids::ML610,
                format!(
                    "storage `{}` disables shared keys but is the default store of workspace `{}`",
                    store.key, ws.key
                ),
                k.span,
            )
            .label("shared key access off")
            .with_secondary(w.storage_account.span, "the workspace's default store")
            .note("the workspace's default datastores authenticate with the account key unless switched to identity-based access")
            .hint("keep `allow_shared_key_access: true`, or grant the workspace identity `Storage Blob Data Contributor` and switch its datastores to identity-based access"),
        );
    }
}
