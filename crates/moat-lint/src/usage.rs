//! Subnet capacity (ML103, ML305): the addresses every cluster that can scale into a subnet
//! may take, against what the subnet offers once Azure has kept its 5.

use crate::catalogue::ids;
use crate::cx::{Cx, plural};
use moat_model::Kind;
use moat_model::kinds::refs;
use moat_spec::Span;
use moat_spec::ast::{KindSpec, NetworkPlugin, NetworkPluginMode};
use std::collections::BTreeMap;

/// Addresses Azure keeps in every subnet.
pub const RESERVED: u64 = 5;
/// AKS's default pods per node with Azure CNI.
pub const CNI_MAX_PODS: u64 = 30;
/// AKS's default node count.
pub const AKS_NODES: u64 = 3;

/// One cluster that places nodes in a subnet.
pub struct User {
    key: String,
    /// Where the subnet is named.
    span: Span,
    addresses: u64,
    how: String,
    aml: bool,
}

/// Every cluster of the spec by the key of the declared subnet it joins.
pub fn users(cx: &Cx<'_>) -> BTreeMap<String, Vec<User>> {
    let mut by: BTreeMap<String, Vec<User>> = BTreeMap::new();
    let mut add =
        |res: &moat_model::Resource, field: &str, addresses: u64, how: String, aml: bool| {
            if let Some(r) = res.reference(field)
                && let Some(t) = &r.target
            {
                by.entry(t.clone()).or_default().push(User {
                    key: res.key.clone(),
                    span: r.span,
                    addresses,
                    how,
                    aml,
                });
            }
        };
    for (res, spec) in cx.specs(Kind::AmlCompute) {
        if let KindSpec::AmlCompute(c) = spec {
            let n = u64::from(c.max_nodes.value);
            add(
                res,
                refs::SUBNET,
                n,
                format!("up to {}", plural(n, "node", "nodes")),
                true,
            );
        }
    }
    for (res, spec) in cx.specs(Kind::AksCluster) {
        let KindSpec::AksCluster(a) = spec else {
            continue;
        };
        let Some(net) = &a.network else { continue };
        let nodes = a
            .auto_scaling
            .as_ref()
            .map(|s| u64::from(s.value.max_count.value))
            .or(a.node_count.as_ref().map(|n| u64::from(n.value)))
            .unwrap_or(AKS_NODES);
        let cni = net
            .value
            .plugin
            .as_ref()
            .is_none_or(|p| p.value == NetworkPlugin::Azure)
            && net
                .value
                .plugin_mode
                .as_ref()
                .is_none_or(|m| m.value != NetworkPluginMode::Overlay);
        let (addresses, how) = if cni {
            let pods = a
                .max_pods
                .as_ref()
                .map_or(CNI_MAX_PODS, |m| u64::from(m.value));
            (
                nodes * (pods + 1),
                format!(
                    "{} × ({pods} pods + 1) with Azure CNI",
                    plural(nodes, "node", "nodes")
                ),
            )
        } else {
            (nodes, plural(nodes, "node", "nodes"))
        };
        add(res, refs::NETWORK_SUBNET, addresses, how, false);
    }
    for (res, spec) in cx.specs(Kind::AksCompute) {
        let KindSpec::AksCompute(c) = spec else {
            continue;
        };
        let Some(cr) = &c.create else { continue };
        let nodes = cr
            .value
            .agent_count
            .as_ref()
            .map_or(AKS_NODES, |n| u64::from(n.value));
        // Azure ML builds clusters in a virtual network with Azure CNI and AKS's default pods.
        add(
            res,
            refs::CREATE_SUBNET,
            nodes * (CNI_MAX_PODS + 1),
            format!(
                "{} × ({CNI_MAX_PODS} pods + 1) with Azure CNI",
                plural(nodes, "node", "nodes")
            ),
            false,
        );
    }
    by
}

/// The longest prefix whose subnet holds `need` addresses besides Azure's 5.
fn prefix_for(need: u64) -> u8 {
    (0..=29u8)
        .rev()
        .find(|len| (1u64 << (32 - u32::from(*len))) >= need + RESERVED)
        .unwrap_or(0)
}

pub fn check(cx: &mut Cx<'_>) {
    for (key, users) in users(cx) {
        let Some(sub) = cx.subnet(&key) else { continue };
        let Some(prefix) = sub.prefix() else { continue };
        let free = prefix.size().saturating_sub(RESERVED);
        let need: u64 = users.iter().map(|u| u.addresses).sum();
        if need <= free {
            continue;
        }
        let aml = users.iter().any(|u| u.aml);
        let id = if aml { ids::ML103 } else { ids::ML305 };
        let mut d = Cx::diag(
            id,
            format!("subnet `{key}` has {free} usable addresses but its clusters can take {need}"),
            sub.spec.address_prefix.span,
        )
        .label(format!(
            "{prefix} holds {} addresses; Azure keeps {RESERVED}",
            prefix.size()
        ));
        for u in &users {
            d = d.with_secondary(
                u.span,
                format!("`{}`: {} ({} addresses)", u.key, u.how, u.addresses),
            );
        }
        let len = prefix_for(need);
        d = d.hint(if aml {
            format!("use a /{len} or larger `address_prefix`, lower `max_nodes`, or give a cluster its own subnet")
        } else {
            format!("use a /{len} or larger `address_prefix`, lower `max_pods` or the node count, or set `plugin_mode: overlay`")
        });
        if !aml {
            d = d.note("an upgrade adds a surge node: leave room for one more node's addresses");
        }
        cx.push(d);
    }
}

#[cfg(test)]
mod tests {
    use super::prefix_for;

    #[test]
    fn prefix_fits_need_plus_reserved() {
        assert_eq!(prefix_for(3), 29);
        assert_eq!(prefix_for(4), 28);
        assert_eq!(prefix_for(251), 24);
        assert_eq!(prefix_for(252), 23);
    }
}
