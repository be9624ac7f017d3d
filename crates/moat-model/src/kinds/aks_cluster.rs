//! AKS clusters: the system node pool, the network profile (fixed at creation) and API server access.

use super::user_assigned_identity as uai;
use super::{Field, KindDef, Scope, ScopeRef, Site, canon, refs, words};
use crate::arm::{MapContext, strs};
use crate::cidr::Cidr;
use crate::model::{Body, Kind, Resource};
use crate::resolve::Resolver;
use crate::{json, naming};
use moat_spec::ast::{self, KindSpec};
use moat_spec::{Diagnostic, Spanned, codes};
use serde_json::{Value, json};

pub(crate) static DEF: KindDef = KindDef {
    scope_ref: Some(ScopeRef {
        field: refs::RESOURCE_GROUP,
        get: scope_ref,
    }),
    holds_data: Some("every workload deployed on it and its persistent volumes"),
    // Its extensions are resources below its ID: deleting the cluster deletes them.
    deletes_children: &[Kind::MlExtension],
    // Sources: managedClusters.json (2024-08-01). `dnsPrefix`: "This cannot be updated once
    // the Managed Cluster has been created". The pool's `count`, autoscaler bounds and OS
    // disk size, `sku.tier`, `kubernetesVersion`, authorized IP ranges, `enableRBAC` and
    // `disableLocalAccounts` change through the same PUT. The pool's name, `vmSize`,
    // `maxPods`, `vnetSubnetID`, the network profile and `enablePrivateCluster` carry no
    // mutability marker in the definition; AKS refuses them on an existing cluster (a new
    // pool or a new cluster is AKS's own remedy) [service rule, no recording].
    server_outputs: &[("principal_id", "identity.principalId")],
    fields: &[
        Field::new("identity.type", uai::identity_type).default(r#""systemassigned""#),
        Field::new("identity.userAssignedIdentities", uai::user_assigned_ids).default("[]"),
        Field::new("sku.tier", canon::lower).spec_words("sku_tier", words::aks_tier),
        Field::new("properties.kubernetesVersion", kubernetes_version)
            .carried()
            .spec("kubernetes_version"),
        Field::new("properties.dnsPrefix", canon::same)
            .immutable()
            .spec("dns_prefix"),
        Field::new("properties.agentPoolProfiles[0].name", canon::same)
            .immutable()
            .spec("node_pool_name"),
        Field::new("properties.agentPoolProfiles[0].count", canon::same).spec("node_count"),
        Field::new("properties.agentPoolProfiles[0].vmSize", canon::lower)
            .immutable()
            .spec("vm_size"),
        Field::new("properties.agentPoolProfiles[0].maxPods", canon::same)
            .immutable()
            .spec("max_pods"),
        Field::new("properties.agentPoolProfiles[0].osDiskSizeGB", os_disk_size)
            .spec("os_disk_size_gb"),
        Field::new(
            "properties.agentPoolProfiles[0].enableAutoScaling",
            canon::same,
        ),
        Field::new("properties.agentPoolProfiles[0].minCount", canon::same)
            .spec("auto_scaling.min_count"),
        Field::new("properties.agentPoolProfiles[0].maxCount", canon::same)
            .spec("auto_scaling.max_count"),
        Field::new("properties.agentPoolProfiles[0].vnetSubnetID", canon::lower)
            .immutable()
            .spec("network.subnet"),
        Field::new("properties.networkProfile.networkPlugin", canon::lower)
            .immutable()
            .spec_words("network.plugin", words::network_plugin),
        Field::new("properties.networkProfile.networkPluginMode", canon::lower)
            .immutable()
            .spec_words("network.plugin_mode", words::network_plugin_mode),
        Field::new("properties.networkProfile.networkPolicy", canon::lower)
            .immutable()
            .spec_words("network.policy", words::network_policy),
        Field::new("properties.networkProfile.serviceCidr", canon::same)
            .immutable()
            .spec("network.service_cidr"),
        Field::new("properties.networkProfile.dnsServiceIP", canon::same)
            .immutable()
            .spec("network.dns_service_ip"),
        Field::new("properties.networkProfile.podCidr", canon::same)
            .immutable()
            .spec("network.pod_cidr"),
        Field::new("properties.networkProfile.outboundType", canon::lower)
            .immutable()
            .spec_words("network.outbound_type", words::outbound_type),
        Field::new("properties.networkProfile.loadBalancerSku", canon::lower).immutable(),
        Field::new(
            "properties.apiServerAccessProfile.enablePrivateCluster",
            canon::same,
        )
        .default("false")
        .immutable()
        .spec("private_cluster"),
        Field::new(
            "properties.apiServerAccessProfile.authorizedIPRanges",
            canon::str_set,
        )
        .default("[]")
        .spec("authorized_ip_ranges"),
        Field::new("properties.enableRBAC", canon::same),
        Field::new("properties.disableLocalAccounts", canon::same).default("false"),
    ],
    ..KindDef::new(
        Kind::AksCluster,
        "aks_cluster",
        "Microsoft.ContainerService/managedClusters",
        "2024-08-01",
        Scope::ResourceGroup,
        naming::AKS_CLUSTER,
        300,
        body,
        check,
    )
};

/// An empty version means "the default" and comes back as the version chosen (`""` →
/// `"1.25.6"`, azure-cli acs/test_aks_abort.yaml #2 and
/// test_aks_create_default_service_with_skip_role_assignment.yaml #6): unset.
fn kubernetes_version(v: &Value) -> Option<Value> {
    (v.as_str() != Some("")).then(|| v.clone())
}

/// `osDiskSizeGB: 0` asks for the default and comes back as `128` (same recordings,
/// BEHAVIOR.md §2.9): 0 is unset.
fn os_disk_size(v: &Value) -> Option<Value> {
    (v.as_u64() != Some(0)).then(|| v.clone())
}

fn body(r: &Resource, b: &mut Value, _ctx: &MapContext) {
    let Body::Spec(KindSpec::AksCluster(a)) = &r.body else {
        return;
    };
    let reference = |field: &str| super::ref_id(r, field);
    uai::set_body(
        r,
        b,
        uai::system(a.identity.as_ref(), true),
        "SystemAssigned",
    );
    let tier = match a.sku_tier.as_ref().map(|t| t.value) {
        Some(ast::AksTier::Standard) => "Standard",
        Some(ast::AksTier::Premium) => "Premium",
        _ => "Free",
    };
    json::set(b, "sku", json!({ "name": "Base", "tier": tier }));
    if let Some(v) = &a.kubernetes_version {
        json::set(b, "properties.kubernetesVersion", json!(v.value));
    }
    json::set(
        b,
        "properties.dnsPrefix",
        json!(
            a.dns_prefix
                .as_ref()
                .map_or(r.name.value.as_str(), |d| d.value.as_str())
        ),
    );
    let mut pool = json!({
        "name": a.node_pool_name.as_ref().map_or("system", |n| n.value.as_str()),
        "count": a.node_count.as_ref().map_or(3, |n| n.value),
        "vmSize": a.vm_size.as_ref().map_or("Standard_D4s_v3", |n| n.value.as_str()),
        "mode": "System",
        "osType": "Linux",
        "type": "VirtualMachineScaleSets",
    });
    if let Some(m) = &a.max_pods {
        json::set(&mut pool, "maxPods", json!(m.value));
    }
    if let Some(d) = &a.os_disk_size_gb {
        json::set(&mut pool, "osDiskSizeGB", json!(d.value));
    }
    if let Some(s) = &a.auto_scaling {
        json::set(&mut pool, "enableAutoScaling", json!(true));
        json::set(&mut pool, "minCount", json!(s.value.min_count.value));
        json::set(&mut pool, "maxCount", json!(s.value.max_count.value));
    }
    if let Some(id) = reference(refs::NETWORK_SUBNET) {
        json::set(&mut pool, "vnetSubnetID", json!(id));
    }
    json::set(b, "properties.agentPoolProfiles", json!([pool]));
    let net = a.network.as_ref().map(|n| &n.value);
    let plugin = match net.and_then(|n| n.plugin.as_ref()).map(|p| p.value) {
        Some(ast::NetworkPlugin::Kubenet) => "kubenet",
        Some(ast::NetworkPlugin::None) => "none",
        _ => "azure",
    };
    let mut np = json!({ "networkPlugin": plugin, "loadBalancerSku": "standard" });
    if let Some(n) = net {
        if n.plugin_mode.is_some() {
            json::set(&mut np, "networkPluginMode", json!("overlay"));
        }
        if let Some(p) = &n.policy {
            json::set(&mut np, "networkPolicy", json!(p.value.as_str()));
        }
        for (field, prop) in [
            (&n.service_cidr, "serviceCidr"),
            (&n.dns_service_ip, "dnsServiceIP"),
            (&n.pod_cidr, "podCidr"),
        ] {
            if let Some(x) = field {
                json::set(&mut np, prop, json!(x.value));
            }
        }
        if let Some(o) = &n.outbound_type {
            let t = match o.value {
                ast::OutboundType::LoadBalancer => "loadBalancer",
                ast::OutboundType::UserDefinedRouting => "userDefinedRouting",
                ast::OutboundType::ManagedNatGateway => "managedNATGateway",
                ast::OutboundType::UserAssignedNatGateway => "userAssignedNATGateway",
            };
            json::set(&mut np, "outboundType", json!(t));
        }
    }
    json::set(b, "properties.networkProfile", np);
    if a.private_cluster.is_some() || a.authorized_ip_ranges.is_some() {
        let mut api = json!({});
        if let Some(p) = &a.private_cluster {
            json::set(&mut api, "enablePrivateCluster", json!(p.value));
        }
        if let Some(r) = &a.authorized_ip_ranges {
            json::set(&mut api, "authorizedIPRanges", json!(strs(&r.value)));
        }
        json::set(b, "properties.apiServerAccessProfile", api);
    }
    json::set(b, "properties.enableRBAC", json!(true));
    if let Some(l) = &a.local_accounts {
        json::set(b, "properties.disableLocalAccounts", json!(!l.value));
    }
}

/// Offline checks of one `aks_cluster`: what Azure would reject that can be known from the spec.
pub(crate) fn check(rs: &mut Resolver<'_>, spec: &KindSpec, site: Site<'_>) {
    let Site {
        key,
        location,
        refs,
        children,
    } = site;
    let KindSpec::AksCluster(a) = spec else {
        return;
    };
    if let Some(id) = rs.ids.get(key).cloned()
        && let Some(ext) = super::ml_extension::child(rs, key, spec, &id)
    {
        children.push(ext);
    }
    uai::check_single(rs, a.identity.as_ref());
    uai::bind(rs, a.identity.as_ref(), refs);
    if let Some(n) = &a.node_count {
        rs.range(n, 1, 1000, "node_count");
    }
    if let Some(p) = &a.node_pool_name
        && let Err(why) = naming::AKS_NODE_POOL.check(&p.value)
    {
        rs.push(
            Diagnostic::error(
                codes::E0301,
                format!("invalid node pool name `{}`", p.value),
                p.span,
            )
            .label(why),
        );
    }
    if let Some(p) = &a.dns_prefix
        && let Err(why) = naming::AKS_DNS_PREFIX.check(&p.value)
    {
        rs.push(
            Diagnostic::error(
                codes::E0301,
                format!("invalid DNS prefix `{}`", p.value),
                p.span,
            )
            .label(why),
        );
    }
    if let Some(m) = &a.max_pods {
        rs.range(m, 10, 250, "max_pods");
    }
    if let Some(s) = &a.auto_scaling
        && s.value.min_count.value > s.value.max_count.value
    {
        rs.push(
            Diagnostic::error(
                codes::E0114,
                format!(
                    "`min_count` ({}) is larger than `max_count` ({})",
                    s.value.min_count.value, s.value.max_count.value
                ),
                s.value.min_count.span,
            )
            .with_secondary(s.value.max_count.span, "the maximum")
            .hint("lower `min_count` or raise `max_count`"),
        );
    }
    for ip in a.authorized_ip_ranges.iter().flat_map(|l| l.value.iter()) {
        if let Err(e) = Cidr::parse_ip_or_cidr(&ip.value) {
            rs.cidr_error(ip, e);
        }
    }
    if let Some(net) = &a.network {
        let n = &net.value;
        if let Some(sn) = &n.subnet
            && let Some(r) = rs.bind(sn, refs::NETWORK_SUBNET, &[Kind::Subnet])
        {
            rs.check_same_region(key, location, &r, "an AKS cluster");
            rs.check_same_subscription(&r);
            refs.push(r);
        }
        rs.check_aks_ranges(
            n.service_cidr.as_ref(),
            n.dns_service_ip.as_ref(),
            n.docker_bridge_cidr.as_ref(),
        );
        if let Some(p) = &n.pod_cidr
            && let Err(e) = Cidr::parse_strict(&p.value)
        {
            rs.cidr_error(p, e);
        }
    }
}

/// The `resource_group:` naming its scope.
fn scope_ref(spec: &KindSpec) -> Option<&Spanned<String>> {
    match spec {
        KindSpec::AksCluster(x) => Some(&x.resource_group),
        _ => None,
    }
}
