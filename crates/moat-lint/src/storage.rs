//! ML2xx: storage accounts and key vaults behind firewalls. Subnet rules need service
//! endpoints, a workspace needs its trusted-service bypass, AKS inference needs to read the
//! default store, and moat itself needs to reach a firewalled state backend.

use crate::catalogue::ids;
use crate::cx::Cx;
use moat_model::kinds::refs;
use moat_model::{Body, Kind, Resource};
use moat_spec::ast::{Access, KindSpec, StorageBypass, Toggle, VaultBypass};
use moat_spec::{Span, Spanned};

/// What the lint needs of either firewall.
struct Firewall<'m> {
    /// `default_action` is deny (written, or defaulted because `network_rules` is present).
    denies: bool,
    /// Where `network_rules` is written.
    span: Span,
    /// `bypass`, when written: whether it lists `azure_services`, and where.
    bypass: Option<(bool, Span)>,
    subnets: Option<&'m Spanned<Vec<Spanned<String>>>>,
    ip_rules: bool,
    public_disabled: bool,
}

fn storage_firewall(res: &Resource) -> Option<Firewall<'_>> {
    let Body::Spec(KindSpec::StorageAccount(s)) = &res.body else {
        return None;
    };
    let rules = s.network_rules.as_ref()?;
    let r = &rules.value;
    Some(Firewall {
        denies: r
            .default_action
            .as_ref()
            .is_none_or(|a| a.value == Access::Deny),
        span: rules.span,
        bypass: r.bypass.as_ref().map(|b| {
            (
                b.value
                    .iter()
                    .any(|x| x.value == StorageBypass::AzureServices),
                b.span,
            )
        }),
        subnets: r.subnets.as_ref(),
        ip_rules: r.ip_rules.as_ref().is_some_and(|l| !l.value.is_empty()),
        public_disabled: s
            .public_network_access
            .as_ref()
            .is_some_and(|p| p.value == Toggle::Disabled),
    })
}

fn vault_firewall(res: &Resource) -> Option<Firewall<'_>> {
    let Body::Spec(KindSpec::KeyVault(v)) = &res.body else {
        return None;
    };
    let rules = v.network_rules.as_ref()?;
    let r = &rules.value;
    Some(Firewall {
        denies: r
            .default_action
            .as_ref()
            .is_none_or(|a| a.value == Access::Deny),
        span: rules.span,
        bypass: r.bypass.as_ref().map(|b| {
            (
                b.value
                    .iter()
                    .any(|x| x.value == VaultBypass::AzureServices),
                b.span,
            )
        }),
        subnets: r.subnets.as_ref(),
        ip_rules: r.ip_rules.as_ref().is_some_and(|l| !l.value.is_empty()),
        public_disabled: v
            .public_network_access
            .as_ref()
            .is_some_and(|p| p.value == Toggle::Disabled),
    })
}

/// Kinds whose firewall names subnets: the rule, the service endpoint the subnet needs, and
/// the endpoint names Azure accepts for it.
pub(crate) const FIREWALLS: &[(Kind, &str, &str, &[&str])] = &[
    (
        Kind::StorageAccount,
        ids::ML201,
        "Microsoft.Storage",
        &["Microsoft.Storage", "Microsoft.Storage.Global"],
    ),
    (
        Kind::KeyVault,
        ids::ML202,
        "Microsoft.KeyVault",
        &["Microsoft.KeyVault"],
    ),
];

pub fn check(cx: &mut Cx<'_>) {
    for res in cx.model.resources.iter() {
        if let Some((_, id, endpoint, accepted)) =
            FIREWALLS.iter().find(|(k, _, _, _)| *k == res.kind)
        {
            endpoints(cx, res, id, endpoint, accepted);
        }
    }
    for (ws, _) in cx.specs(Kind::MlWorkspace) {
        trusted(cx, ws);
        inference_store(cx, ws);
    }
    backend(cx);
}

/// ML201/ML202/ML203: each subnet a firewall names has the service's endpoint.
fn endpoints(cx: &mut Cx<'_>, res: &Resource, id: &str, endpoint: &str, accepted: &[&str]) {
    for r in res
        .refs
        .iter()
        .filter(|r| refs::is_firewall_subnet(&r.field))
    {
        let sub = r.target.as_deref().and_then(|t| cx.subnet(t));
        let Some(sub) = sub else {
            cx.push(
                Cx::diag(ids::ML203, format!("the `{endpoint}` service endpoint of `{}` is not checked: the subnet is not declared in this spec", short(&r.id)), r.span)
                    .label("subnet of an `existing:` network or another stack")
                    .hint(format!("make sure the subnet has the `{endpoint}` service endpoint before applying")),
            );
            continue;
        };
        let has = sub.spec.service_endpoints.as_ref().is_some_and(|l| {
            l.value
                .iter()
                .any(|e| accepted.iter().any(|a| a.eq_ignore_ascii_case(&e.value)))
        });
        if has {
            continue;
        }
        let what = res.kind.word().replace('_', " ");
        let mut d = Cx::diag(id, format!("subnet `{}` has no `{endpoint}` service endpoint, which the firewall of {what} `{}` requires", sub.res.key, res.key), r.span)
            .label(format!("needs `{endpoint}` on the subnet"));
        d = match &sub.spec.service_endpoints {
            Some(l) => d
                .with_secondary(l.span, "the subnet's service endpoints")
                .hint(format!(
                    "add `{endpoint}` to `service_endpoints` of subnet `{}`",
                    sub.res.key
                )),
            None => d
                .with_secondary(sub.res.key_span, "declared here")
                .hint(format!(
                    "add `service_endpoints: [{endpoint}]` to subnet `{}`",
                    sub.res.key
                )),
        };
        cx.push(d);
    }
}

/// `vnet/subnet` of a subnet ID, as a reference would name it.
pub(crate) fn short(id: &str) -> String {
    let lower = id.to_ascii_lowercase();
    match (lower.find("/virtualnetworks/"), lower.find("/subnets/")) {
        (Some(v), Some(s)) if v < s => format!("{}/{}", &id[v + 17..s], &id[s + 9..]),
        _ => id.to_string(),
    }
}

/// ML204/ML205: the workspace's storage account and key vault let trusted services through.
fn trusted(cx: &mut Cx<'_>, ws: &Resource) {
    for (field, id, what) in [
        (refs::STORAGE_ACCOUNT, ids::ML204, "storage account"),
        (refs::KEY_VAULT, ids::ML205, "key vault"),
    ] {
        let Some(target) = cx.target(ws, field) else {
            continue;
        };
        let fw = if id == ids::ML204 {
            storage_firewall(target)
        } else {
            vault_firewall(target)
        };
        let Some(fw) = fw else { continue };
        let Some((false, at)) = fw.bypass else {
            continue;
        };
        if !fw.denies {
            continue;
        }
        let r = ws.reference(field).map_or(ws.key_span, |r| r.span);
        cx.push(
            Cx::diag(id, format!("the firewall of {what} `{}` keeps out trusted Azure services, so workspace `{}` cannot use it", target.key, ws.key), at)
                .label("no `azure_services` here")
                .with_secondary(r, format!("the workspace's {what}"))
                .note(if id == ids::ML204 {
                    "Azure ML reads and writes its default storage as a trusted Microsoft service"
                } else {
                    "Azure ML reads its secrets as a trusted Microsoft service"
                })
                .hint("add `azure_services` to `bypass`"),
        );
    }
}

/// A subnet reference as `(lowercase ARM ID, how to name it in a message)`.
type SubnetName = (String, String);

fn subnet_of(r: &moat_model::Ref) -> SubnetName {
    let name = match &r.target {
        Some(t) if t.contains('/') => t.clone(),
        _ => short(&r.id),
    };
    (r.id.to_ascii_lowercase(), name)
}

/// The node subnet of an AKS compute's cluster, where the compute names its cluster, and the
/// cluster's key (or the compute's, for `create:`).
fn inference_subnet<'m>(
    cx: &Cx<'m>,
    compute: &'m Resource,
) -> Option<(Option<SubnetName>, Span, String)> {
    let Body::Spec(KindSpec::AksCompute(c)) = &compute.body else {
        return None;
    };
    if c.create.is_some() {
        let r = compute.reference(refs::CREATE_SUBNET);
        return Some((
            r.map(subnet_of),
            r.map_or(compute.key_span, |r| r.span),
            compute.key.clone(),
        ));
    }
    let cluster = cx.target(compute, refs::CLUSTER)?;
    let Body::Spec(KindSpec::AksCluster(_)) = &cluster.body else {
        return None;
    };
    let r = cluster.reference(refs::NETWORK_SUBNET);
    let at = compute
        .reference(refs::CLUSTER)
        .map_or(compute.key_span, |r| r.span);
    Some((r.map(subnet_of), at, cluster.key.clone()))
}

/// ML206: AKS inference can read the workspace's firewalled default store.
fn inference_store(cx: &mut Cx<'_>, ws: &Resource) {
    let Some(store) = cx.target(ws, refs::STORAGE_ACCOUNT) else {
        return;
    };
    let Some(fw) = storage_firewall(store) else {
        return;
    };
    if !fw.denies && !fw.public_disabled {
        return;
    }
    // Compared by ARM ID: references into an `existing:` network bind to the network's key.
    let admitted: Vec<String> = store
        .refs
        .iter()
        .filter(|r| refs::is_firewall_subnet(&r.field))
        .map(|r| r.id.to_ascii_lowercase())
        .collect();
    let computes: Vec<&Resource> = cx
        .model
        .of_kind(Kind::AksCompute)
        .filter(|c| c.parent.as_deref() == Some(ws.key.as_str()))
        .collect();
    let mut seen: Vec<String> = Vec::new();
    for compute in computes {
        let Some((subnet, at, cluster)) = inference_subnet(cx, compute) else {
            continue;
        };
        if seen.contains(&cluster) {
            continue;
        }
        seen.push(cluster.clone());
        if subnet.as_ref().is_some_and(|(id, _)| admitted.contains(id)) {
            continue;
        }
        let subnet = subnet.map(|(_, name)| name);
        let blame = fw.subnets.map_or(fw.span, |s| s.span);
        let d = Cx::diag(ids::ML206, format!("the firewall of storage account `{}` does not admit inference cluster `{cluster}` of workspace `{}`", store.key, ws.key), blame)
            .label(match &subnet {
                Some(s) => format!("`{s}` is not listed"),
                None => "the cluster's nodes are in no subnet of this spec".to_string(),
            })
            .with_secondary(
                at,
                if cluster == compute.key {
                    format!("`{cluster}` creates its cluster here")
                } else {
                    format!("`{}` deploys models to `{cluster}`", compute.key)
                },
            )
            .note("deployments download models from the workspace's default storage account")
            .hint(match &subnet {
                Some(s) => format!("add `{s}` to `network_rules.subnets` of `{}` and `Microsoft.Storage` to that subnet's `service_endpoints`", store.key),
                None => format!("put the cluster's nodes in a subnet of this spec (`network.subnet`) and add that subnet to `network_rules.subnets` of `{}`", store.key),
            });
        cx.push(d);
    }
}

/// ML207: the state backend lives in a storage account this spec puts behind a firewall.
fn backend(cx: &mut Cx<'_>) {
    let Some(b) = &cx.model.backend else { return };
    let account = &b.value.account;
    let Some(store) = cx
        .model
        .of_kind(Kind::StorageAccount)
        .find(|s| s.name.value.eq_ignore_ascii_case(&account.value))
    else {
        return;
    };
    let Some(fw) = storage_firewall(store) else {
        return;
    };
    let locked = fw.public_disabled || (fw.denies && !fw.ip_rules);
    if !locked {
        return;
    }
    let why = if fw.public_disabled {
        "disables public network access"
    } else {
        "denies by default and has no `ip_rules`"
    };
    cx.push(
        Cx::diag(ids::ML207, format!("the state backend is in storage account `{}`, whose firewall {why}", store.key), account.span)
            .label("moat reads and writes its state here")
            .with_secondary(fw.span, "the firewall")
            .hint(if fw.public_disabled {
                format!("enable public network access on `{}` and admit the machine or CI runner that runs moat in `ip_rules`", store.key)
            } else {
                format!("add the public address of the machine or CI runner that runs moat to `ip_rules` of `{}`", store.key)
            })
            .note("moat reaches the state blob through the account's public endpoint; after the first apply it would lock itself out"),
    );
}
