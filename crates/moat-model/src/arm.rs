//! Each kind's ARM mapping: the request body moat sends (with moat's defaults filled in), and
//! the *projection* of any ARM body — desired or live — onto the properties moat manages, in a
//! canonical form (IDs and enum casing folded, sets sorted, server defaults made explicit) so
//! that comparing two projections finds real changes only (BEHAVIOR.md §2).
//!
//! A projection maps dotted paths to values. Sets that moat owns whole (security rules, routes,
//! firewall rules, service endpoints) are one path whose value is an object keyed by member
//! name; tags are one path per tag, because other actors (policies) add tags of their own.

use crate::json;
use crate::model::{Body, Kind, Model, Resource};
use crate::regions;
use crate::resolve::{STACK_TAG, parse_duration};
use moat_spec::ast::{self, KindSpec, OneOrMany, Toggle};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// What the mapping needs besides the model.
#[derive(Clone, Debug)]
pub struct MapContext {
    /// Tenant for key vaults that name none.
    pub tenant: String,
}

/// A projection: managed path → canonical value.
pub type Projection = BTreeMap<String, Value>;

fn toggle(t: Toggle) -> &'static str {
    match t {
        Toggle::Enabled => "Enabled",
        Toggle::Disabled => "Disabled",
    }
}

fn id_obj(id: &str) -> Value {
    json!({ "id": id })
}

fn strs(list: &[moat_spec::Spanned<String>]) -> Vec<String> {
    list.iter().map(|s| s.value.clone()).collect()
}

/// The full request body to create `r` (PUT), moat's defaults filled in.
pub fn request_body(model: &Model, r: &Resource, ctx: &MapContext) -> Value {
    let mut b = json!({});
    if r.kind.has_location()
        && let Some(l) = &r.location
    {
        json::set(&mut b, "location", json!(l.value));
    }
    if r.kind.taggable() {
        let mut tags: Map<String, Value> =
            r.tags.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        tags.insert(STACK_TAG.to_string(), json!(model.stack.value));
        json::set(&mut b, "tags", Value::Object(tags));
    }
    let reference = |field: &str| r.reference(field).map(|x| x.id.clone());
    match &r.body {
        Body::Existing => {}
        Body::Subnet(s) => {
            json::set(
                &mut b,
                "properties.addressPrefix",
                json!(s.address_prefix.value),
            );
            if let Some(id) = reference("network_security_group") {
                json::set(&mut b, "properties.networkSecurityGroup", id_obj(&id));
            }
            if let Some(id) = reference("route_table") {
                json::set(&mut b, "properties.routeTable", id_obj(&id));
            }
            if let Some(e) = &s.service_endpoints {
                let v: Vec<Value> = e
                    .value
                    .iter()
                    .map(|s| json!({ "service": s.value }))
                    .collect();
                json::set(&mut b, "properties.serviceEndpoints", Value::Array(v));
            }
            if let Some(d) = &s.delegations {
                let v: Vec<Value> = d
                    .value
                    .iter()
                    .map(|s| json!({ "name": s.value.replace('/', "."), "properties": { "serviceName": s.value } }))
                    .collect();
                json::set(&mut b, "properties.delegations", Value::Array(v));
            }
            if let Some(p) = &s.private_endpoint_network_policies {
                json::set(
                    &mut b,
                    "properties.privateEndpointNetworkPolicies",
                    json!(toggle(p.value)),
                );
            }
            if let Some(p) = &s.private_link_service_network_policies {
                json::set(
                    &mut b,
                    "properties.privateLinkServiceNetworkPolicies",
                    json!(toggle(p.value)),
                );
            }
            if let Some(d) = &s.default_outbound_access {
                json::set(&mut b, "properties.defaultOutboundAccess", json!(d.value));
            }
        }
        Body::Spec(spec) => body_of(spec, r, &mut b, ctx, &reference),
    }
    b
}

fn body_of(
    spec: &KindSpec,
    r: &Resource,
    b: &mut Value,
    ctx: &MapContext,
    reference: &dyn Fn(&str) -> Option<String>,
) {
    match spec {
        KindSpec::ResourceGroup(_) => {}
        KindSpec::VirtualNetwork(v) => {
            // `subnets` is left out on purpose: at 2024-03-01 an absent property keeps the
            // subnets, which moat manages as children (BEHAVIOR.md §5.1).
            json::set(
                b,
                "properties.addressSpace.addressPrefixes",
                json!(strs(&v.address_space.value)),
            );
            if let Some(d) = &v.dns_servers {
                json::set(
                    b,
                    "properties.dhcpOptions.dnsServers",
                    json!(strs(&d.value)),
                );
            }
        }
        KindSpec::NetworkSecurityGroup(n) => {
            let rules: Vec<Value> = n
                .rules
                .iter()
                .flat_map(|r| r.value.iter())
                .map(|r| security_rule(&r.value))
                .collect();
            json::set(b, "properties.securityRules", Value::Array(rules));
        }
        KindSpec::RouteTable(t) => {
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
        KindSpec::StorageAccount(s) => {
            let sku = s.sku.as_ref().map_or("Standard_LRS", |x| x.value.as_str());
            json::set(b, "sku.name", json!(sku));
            let kind = match s.kind.as_ref().map(|k| k.value) {
                Some(ast::StorageKind::BlockBlobStorage) => "BlockBlobStorage",
                Some(ast::StorageKind::FileStorage) => "FileStorage",
                _ => "StorageV2",
            };
            json::set(b, "kind", json!(kind));
            let p = |b: &mut Value, k: &str, v: Value| json::set(b, &format!("properties.{k}"), v);
            if kind == "StorageV2" {
                let tier = match s.access_tier.as_ref().map(|t| t.value) {
                    Some(ast::AccessTier::Cool) => "Cool",
                    Some(ast::AccessTier::Cold) => "Cold",
                    _ => "Hot",
                };
                p(b, "accessTier", json!(tier));
            }
            p(
                b,
                "supportsHttpsTrafficOnly",
                json!(s.https_only.as_ref().is_none_or(|x| x.value)),
            );
            let tls = match s.min_tls_version.as_ref().map(|t| t.value) {
                Some(ast::TlsVersion::Tls1_0) => "TLS1_0",
                Some(ast::TlsVersion::Tls1_1) => "TLS1_1",
                _ => "TLS1_2",
            };
            p(b, "minimumTlsVersion", json!(tls));
            p(
                b,
                "allowBlobPublicAccess",
                json!(s.allow_blob_public_access.as_ref().is_some_and(|x| x.value)),
            );
            if let Some(k) = &s.allow_shared_key_access {
                p(b, "allowSharedKeyAccess", json!(k.value));
            }
            if let Some(a) = &s.public_network_access {
                p(b, "publicNetworkAccess", json!(toggle(a.value)));
            }
            if let Some(h) = &s.hierarchical_namespace {
                p(b, "isHnsEnabled", json!(h.value));
            }
            if let Some(rules) = &s.network_rules {
                let nr = &rules.value;
                let bypass = nr.bypass.as_ref().map_or_else(
                    || "AzureServices".to_string(),
                    |l| {
                        let words: Vec<&str> = l
                            .value
                            .iter()
                            .map(|x| match x.value {
                                ast::StorageBypass::AzureServices => "AzureServices",
                                ast::StorageBypass::Logging => "Logging",
                                ast::StorageBypass::Metrics => "Metrics",
                                ast::StorageBypass::None => "None",
                            })
                            .collect();
                        words.join(", ")
                    },
                );
                let subnets: Vec<Value> = (0..nr.subnets.as_ref().map_or(0, |l| l.value.len()))
                    .filter_map(|i| reference(&format!("network_rules.subnets[{i}]")))
                    .map(|id| json!({ "id": id }))
                    .collect();
                let ips: Vec<Value> = nr
                    .ip_rules
                    .iter()
                    .flat_map(|l| l.value.iter())
                    .map(|ip| json!({ "value": ip.value, "action": "Allow" }))
                    .collect();
                p(
                    b,
                    "networkAcls",
                    json!({
                        "defaultAction": access(nr.default_action.as_ref().map(|a| a.value)),
                        "bypass": bypass,
                        "virtualNetworkRules": subnets,
                        "ipRules": ips,
                    }),
                );
            }
        }
        KindSpec::KeyVault(v) => {
            let tenant = v
                .tenant_id
                .as_ref()
                .map_or_else(|| ctx.tenant.clone(), |t| t.value.clone());
            json::set(b, "properties.tenantId", json!(tenant));
            let sku = if v
                .sku
                .as_ref()
                .is_some_and(|s| s.value == ast::VaultSku::Premium)
            {
                "premium"
            } else {
                "standard"
            };
            json::set(b, "properties.sku", json!({ "family": "A", "name": sku }));
            json::set(
                b,
                "properties.enableRbacAuthorization",
                json!(v.rbac_authorization.as_ref().is_none_or(|x| x.value)),
            );
            json::set(
                b,
                "properties.softDeleteRetentionInDays",
                json!(
                    v.soft_delete_retention_days
                        .as_ref()
                        .map_or(90, |x| x.value)
                ),
            );
            if v.purge_protection.as_ref().is_some_and(|x| x.value) {
                // Azure refuses `false` once it is on, and `false` is the default: only send `true`.
                json::set(b, "properties.enablePurgeProtection", json!(true));
            }
            if let Some(a) = &v.public_network_access {
                json::set(b, "properties.publicNetworkAccess", json!(toggle(a.value)));
            }
            for (field, prop) in [
                (&v.enabled_for_deployment, "enabledForDeployment"),
                (&v.enabled_for_disk_encryption, "enabledForDiskEncryption"),
                (
                    &v.enabled_for_template_deployment,
                    "enabledForTemplateDeployment",
                ),
            ] {
                if let Some(x) = field {
                    json::set(b, &format!("properties.{prop}"), json!(x.value));
                }
            }
            if let Some(rules) = &v.network_rules {
                let nr = &rules.value;
                let bypass = if nr
                    .bypass
                    .as_ref()
                    .is_some_and(|l| l.value.iter().all(|x| x.value == ast::VaultBypass::None))
                {
                    "None"
                } else {
                    "AzureServices"
                };
                let subnets: Vec<Value> = (0..nr.subnets.as_ref().map_or(0, |l| l.value.len()))
                    .filter_map(|i| reference(&format!("network_rules.subnets[{i}]")))
                    .map(|id| json!({ "id": id }))
                    .collect();
                let ips: Vec<Value> = nr
                    .ip_rules
                    .iter()
                    .flat_map(|l| l.value.iter())
                    .map(|ip| json!({ "value": ip.value }))
                    .collect();
                json::set(
                    b,
                    "properties.networkAcls",
                    json!({ "defaultAction": access(nr.default_action.as_ref().map(|a| a.value)), "bypass": bypass, "virtualNetworkRules": subnets, "ipRules": ips }),
                );
            }
        }
        KindSpec::ApplicationInsights(a) => {
            let t = if a
                .application_type
                .as_ref()
                .is_some_and(|t| t.value == ast::ApplicationType::Other)
            {
                "other"
            } else {
                "web"
            };
            json::set(b, "kind", json!(t));
            json::set(b, "properties.Application_Type", json!(t));
            if let Some(w) = &a.log_analytics_workspace {
                json::set(b, "properties.WorkspaceResourceId", json!(w.value));
            }
            if let Some(d) = &a.retention_days {
                json::set(b, "properties.RetentionInDays", json!(d.value));
            }
            if let Some(x) = &a.public_network_access_for_ingestion {
                json::set(
                    b,
                    "properties.publicNetworkAccessForIngestion",
                    json!(toggle(x.value)),
                );
            }
            if let Some(x) = &a.public_network_access_for_query {
                json::set(
                    b,
                    "properties.publicNetworkAccessForQuery",
                    json!(toggle(x.value)),
                );
            }
            if let Some(x) = &a.disable_local_auth {
                json::set(b, "properties.DisableLocalAuth", json!(x.value));
            }
        }
        KindSpec::ContainerRegistry(c) => {
            let sku = match c.sku.as_ref().map(|s| s.value) {
                Some(ast::RegistrySku::Basic) => "Basic",
                Some(ast::RegistrySku::Standard) => "Standard",
                _ => "Premium",
            };
            json::set(b, "sku.name", json!(sku));
            json::set(
                b,
                "properties.adminUserEnabled",
                json!(c.admin_user_enabled.as_ref().is_some_and(|x| x.value)),
            );
            if let Some(x) = &c.public_network_access {
                json::set(b, "properties.publicNetworkAccess", json!(toggle(x.value)));
            }
            if let Some(x) = &c.zone_redundancy {
                json::set(b, "properties.zoneRedundancy", json!(toggle(x.value)));
            }
            if let Some(x) = &c.anonymous_pull {
                json::set(b, "properties.anonymousPullEnabled", json!(x.value));
            }
            if let Some(rules) = &c.network_rules {
                let ips: Vec<Value> = rules
                    .value
                    .ip_rules
                    .iter()
                    .flat_map(|l| l.value.iter())
                    .map(|ip| json!({ "value": ip.value, "action": "Allow" }))
                    .collect();
                json::set(
                    b,
                    "properties.networkRuleSet",
                    json!({ "defaultAction": access(rules.value.default_action.as_ref().map(|a| a.value)), "ipRules": ips }),
                );
            }
        }
        KindSpec::MlWorkspace(w) => {
            json::set(b, "identity", json!({ "type": "SystemAssigned" }));
            for (field, prop) in [
                ("storage_account", "storageAccount"),
                ("key_vault", "keyVault"),
                ("application_insights", "applicationInsights"),
                ("container_registry", "containerRegistry"),
            ] {
                if let Some(id) = reference(field) {
                    json::set(b, &format!("properties.{prop}"), json!(id));
                }
            }
            if let Some(x) = &w.friendly_name {
                json::set(b, "properties.friendlyName", json!(x.value));
            }
            if let Some(x) = &w.description {
                json::set(b, "properties.description", json!(x.value));
            }
            if let Some(x) = &w.public_network_access {
                json::set(b, "properties.publicNetworkAccess", json!(toggle(x.value)));
            }
            if let Some(x) = &w.hbi_workspace {
                json::set(b, "properties.hbiWorkspace", json!(x.value));
            }
            if let Some(x) = &w.image_build_compute {
                json::set(b, "properties.imageBuildCompute", json!(x.value));
            }
        }
        KindSpec::AmlCompute(c) => {
            json::set(b, "properties.computeType", json!("AmlCompute"));
            if let Some(d) = &c.description {
                json::set(b, "properties.description", json!(d.value));
            }
            let p = |b: &mut Value, k: &str, v: Value| {
                json::set(b, &format!("properties.properties.{k}"), v)
            };
            p(b, "vmSize", json!(c.vm_size.value));
            let prio = if c
                .vm_priority
                .as_ref()
                .is_some_and(|x| x.value == ast::VmPriority::LowPriority)
            {
                "LowPriority"
            } else {
                "Dedicated"
            };
            p(b, "vmPriority", json!(prio));
            let idle = c
                .idle_time_before_scale_down
                .as_ref()
                .and_then(|t| parse_duration(&t.value).ok())
                .unwrap_or(120);
            p(
                b,
                "scaleSettings",
                json!({
                    "minNodeCount": c.min_nodes.as_ref().map_or(0, |x| x.value),
                    "maxNodeCount": c.max_nodes.value,
                    "nodeIdleTimeBeforeScaleDown": iso_duration(idle),
                }),
            );
            if let Some(id) = reference("subnet") {
                p(b, "subnet", id_obj(&id));
            }
            let login = match c.remote_login_port_public_access.as_ref().map(|x| x.value) {
                Some(ast::RemoteLogin::Enabled) => "Enabled",
                Some(ast::RemoteLogin::NotSpecified) => "NotSpecified",
                _ => "Disabled",
            };
            p(b, "remoteLoginPortPublicAccess", json!(login));
            if let Some(ssh) = &c.ssh {
                p(
                    b,
                    "userAccountCredentials",
                    json!({ "adminUserName": ssh.value.admin_username.value, "adminUserSshPublicKey": ssh.value.admin_public_key.value }),
                );
            }
            if let Some(x) = &c.enable_node_public_ip {
                p(b, "enableNodePublicIp", json!(x.value));
            }
            let os = if c
                .os_type
                .as_ref()
                .is_some_and(|x| x.value == ast::OsType::Windows)
            {
                "Windows"
            } else {
                "Linux"
            };
            p(b, "osType", json!(os));
        }
        KindSpec::AksCluster(a) => {
            json::set(b, "identity", json!({ "type": "SystemAssigned" }));
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
            if let Some(id) = reference("network.subnet") {
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
        KindSpec::AksCompute(c) => {
            json::set(b, "properties.computeType", json!("AKS"));
            if let Some(d) = &c.description {
                json::set(b, "properties.description", json!(d.value));
            }
            let purpose = |p: Option<ast::ClusterPurpose>| {
                if p == Some(ast::ClusterPurpose::DevTest) {
                    "DevTest"
                } else {
                    "FastProd"
                }
            };
            if let Some(id) = reference("cluster") {
                json::set(b, "properties.resourceId", json!(id));
                json::set(
                    b,
                    "properties.properties.clusterPurpose",
                    json!(purpose(c.cluster_purpose.as_ref().map(|p| p.value))),
                );
            }
            if let Some(cr) = &c.create {
                let cr = &cr.value;
                let p = |b: &mut Value, k: &str, v: Value| {
                    json::set(b, &format!("properties.properties.{k}"), v)
                };
                p(
                    b,
                    "agentCount",
                    json!(cr.agent_count.as_ref().map_or(3, |x| x.value)),
                );
                p(
                    b,
                    "agentVmSize",
                    json!(
                        cr.vm_size
                            .as_ref()
                            .map_or("Standard_D3_v2", |x| x.value.as_str())
                    ),
                );
                p(
                    b,
                    "clusterPurpose",
                    json!(purpose(cr.cluster_purpose.as_ref().map(|p| p.value))),
                );
                let mut netcfg = json!({});
                if let Some(id) = reference("create.subnet") {
                    json::set(&mut netcfg, "subnetId", json!(id));
                }
                for (field, prop) in [
                    (&cr.service_cidr, "serviceCidr"),
                    (&cr.dns_service_ip, "dnsServiceIP"),
                    (&cr.docker_bridge_cidr, "dockerBridgeCidr"),
                ] {
                    if let Some(x) = field {
                        json::set(&mut netcfg, prop, json!(x.value));
                    }
                }
                if netcfg.as_object().is_some_and(|m| !m.is_empty()) {
                    p(b, "aksNetworkingConfiguration", netcfg);
                }
                if let Some(l) = &cr.load_balancer_type {
                    let t = if l.value == ast::LoadBalancerType::InternalLoadBalancer {
                        "InternalLoadBalancer"
                    } else {
                        "PublicIp"
                    };
                    p(b, "loadBalancerType", json!(t));
                }
                if let Some(s) = &cr.load_balancer_subnet {
                    p(b, "loadBalancerSubnet", json!(s.value));
                }
            }
        }
    }
}

fn access(a: Option<ast::Access>) -> &'static str {
    if a == Some(ast::Access::Allow) {
        "Allow"
    } else {
        "Deny"
    }
}

fn next_hop(h: ast::NextHop) -> &'static str {
    match h {
        ast::NextHop::VirtualNetworkGateway => "VirtualNetworkGateway",
        ast::NextHop::VnetLocal => "VnetLocal",
        ast::NextHop::Internet => "Internet",
        ast::NextHop::VirtualAppliance => "VirtualAppliance",
        ast::NextHop::None => "None",
    }
}

fn security_rule(r: &ast::SecurityRule) -> Value {
    let protocol = match r.protocol.value {
        ast::Protocol::Tcp => "Tcp",
        ast::Protocol::Udp => "Udp",
        ast::Protocol::Icmp => "Icmp",
        ast::Protocol::Esp => "Esp",
        ast::Protocol::Ah => "Ah",
        ast::Protocol::Any => "*",
    };
    let mut p = json!({
        "priority": r.priority.value,
        "direction": if r.direction.value == ast::Direction::Inbound { "Inbound" } else { "Outbound" },
        "access": if r.access.value == ast::Access::Allow { "Allow" } else { "Deny" },
        "protocol": protocol,
    });
    let mut put = |single: &str, plural: &str, v: &Option<moat_spec::Spanned<OneOrMany>>| {
        let list: Vec<String> = v
            .as_ref()
            .map_or_else(|| vec!["*".to_string()], |x| strs(&x.value.0));
        if list.len() == 1 {
            json::set(&mut p, single, json!(list[0]));
        } else {
            json::set(&mut p, plural, json!(list));
        }
    };
    put("sourceAddressPrefix", "sourceAddressPrefixes", &r.source);
    put("sourcePortRange", "sourcePortRanges", &r.source_ports);
    put(
        "destinationAddressPrefix",
        "destinationAddressPrefixes",
        &r.destination,
    );
    put(
        "destinationPortRange",
        "destinationPortRanges",
        &r.destination_ports,
    );
    if let Some(d) = &r.description {
        json::set(&mut p, "description", json!(d.value));
    }
    json!({ "name": r.name.value, "properties": p })
}

/// Seconds as an ISO 8601 duration (`PT2M`, `PT1M40S`), the way Azure ML writes them.
pub fn iso_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::from("PT");
    if h > 0 {
        out.push_str(&format!("{h}H"));
    }
    if m > 0 {
        out.push_str(&format!("{m}M"));
    }
    if s > 0 || secs == 0 {
        out.push_str(&format!("{s}S"));
    }
    out
}

fn iso_seconds(v: &Value) -> Option<u64> {
    v.as_str().and_then(|s| parse_duration(s).ok())
}

// ---------------------------------------------------------------------------------------------
// Projection

fn lower(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.to_lowercase()),
        other => other.clone(),
    }
}

fn id_of(v: &Value) -> Value {
    match v.get("id").or(Some(v)).and_then(Value::as_str) {
        Some(s) => Value::String(s.trim_end_matches('/').to_lowercase()),
        None => Value::Null,
    }
}

fn str_set(v: &Value, fold: bool) -> Value {
    let mut items: Vec<String> = v
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str())
                .map(|s| {
                    if fold {
                        s.to_lowercase()
                    } else {
                        s.to_string()
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    items.sort();
    items.dedup();
    json!(items)
}

/// `"AzureServices, Logging"` → `["azureservices","logging"]`.
fn comma_set(v: &Value) -> Value {
    let mut items: Vec<String> = v
        .as_str()
        .unwrap_or("")
        .split(',')
        .map(|s| s.trim().to_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    items.sort();
    items.dedup();
    json!(items)
}

fn both(p: &Value, single: &str, plural: &str) -> Value {
    let mut items: Vec<String> = Vec::new();
    if let Some(s) = p.get(single).and_then(Value::as_str)
        && !s.is_empty()
    {
        items.push(s.to_string());
    }
    if let Some(a) = p.get(plural).and_then(Value::as_array) {
        items.extend(a.iter().filter_map(|x| x.as_str()).map(str::to_string));
    }
    items.sort();
    items.dedup();
    json!(items)
}

fn keyed(v: &Value, key: &str, canon: impl Fn(&Value) -> Value) -> Value {
    let mut out = Map::new();
    for item in v.as_array().into_iter().flatten() {
        if let Some(k) = item.get(key).and_then(Value::as_str) {
            out.insert(k.to_lowercase(), canon(item));
        }
    }
    // serde_json with preserve_order keeps insertion order; sort for a canonical form.
    let mut entries: Vec<(String, Value)> = out.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Value::Object(entries.into_iter().collect())
}

fn canon_rule(item: &Value) -> Value {
    let p = item.get("properties").cloned().unwrap_or(Value::Null);
    let proto = p
        .get("protocol")
        .and_then(Value::as_str)
        .unwrap_or("*")
        .to_lowercase();
    json!({
        "priority": p.get("priority").cloned().unwrap_or(Value::Null),
        "direction": lower(p.get("direction").unwrap_or(&Value::Null)),
        "access": lower(p.get("access").unwrap_or(&Value::Null)),
        "protocol": if proto == "*" { "any".to_string() } else { proto },
        "source": both(&p, "sourceAddressPrefix", "sourceAddressPrefixes"),
        "source_ports": both(&p, "sourcePortRange", "sourcePortRanges"),
        "destination": both(&p, "destinationAddressPrefix", "destinationAddressPrefixes"),
        "destination_ports": both(&p, "destinationPortRange", "destinationPortRanges"),
        "description": p.get("description").and_then(Value::as_str).unwrap_or(""),
    })
}

fn canon_route(item: &Value) -> Value {
    let p = item.get("properties").cloned().unwrap_or(Value::Null);
    json!({
        "address_prefix": p.get("addressPrefix").cloned().unwrap_or(Value::Null),
        "next_hop": lower(p.get("nextHopType").unwrap_or(&Value::Null)),
        "next_hop_ip": p.get("nextHopIpAddress").cloned().unwrap_or(Value::Null),
    })
}

fn ip_rules(v: &Value, strip_32: bool) -> Value {
    let mut items: Vec<String> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("value").and_then(Value::as_str))
        .map(|s| {
            if strip_32 {
                s.trim_end_matches("/32").to_string()
            } else if s.contains('/') {
                s.to_string()
            } else {
                // Key Vault stores a bare address as `/32` (BEHAVIOR.md §2.8).
                format!("{s}/32")
            }
        })
        .collect();
    items.sort();
    items.dedup();
    json!(items)
}

fn vnet_rules(v: &Value) -> Value {
    let mut items: Vec<String> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r.get("id").and_then(Value::as_str))
        .map(|s| s.to_lowercase())
        .collect();
    items.sort();
    items.dedup();
    json!(items)
}

/// Projects an ARM body of `kind` onto the managed paths, canonically. Paths absent from the
/// body are absent from the projection; [`default_of`] says what Azure assumes for them.
pub fn project(kind: Kind, body: &Value) -> Projection {
    let mut out = Projection::new();
    let mut put = |path: &str, v: Value| {
        out.insert(path.to_string(), v);
    };
    let at = |path: &str| json::get(body, path).filter(|v| !v.is_null());
    if kind.has_location()
        && let Some(l) = at("location").and_then(Value::as_str)
    {
        put("location", json!(regions::normalize(l)));
    }
    if kind.taggable()
        && let Some(tags) = at("tags").and_then(Value::as_object)
    {
        for (k, v) in tags {
            put(&format!("tags.{k}"), v.clone());
        }
    }
    macro_rules! field {
        ($path:expr, $f:expr) => {
            if let Some(v) = at($path) {
                let f: &dyn Fn(&Value) -> Value = &$f;
                put($path, f(v));
            }
        };
    }
    let same = |v: &Value| v.clone();
    match kind {
        Kind::ResourceGroup => {}
        Kind::VirtualNetwork => {
            field!("properties.addressSpace.addressPrefixes", |v| str_set(
                v, false
            ));
            field!("properties.dhcpOptions.dnsServers", |v| str_set(v, false));
        }
        Kind::Subnet => {
            field!("properties.addressPrefix", same);
            field!("properties.networkSecurityGroup", id_of);
            field!("properties.routeTable", id_of);
            field!("properties.serviceEndpoints", |v| {
                let names: Vec<Value> = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| e.get("service").cloned())
                    .collect();
                str_set(&Value::Array(names), true)
            });
            field!("properties.delegations", |v| {
                let names: Vec<Value> = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|e| json::get(e, "properties.serviceName").cloned())
                    .collect();
                str_set(&Value::Array(names), true)
            });
            field!("properties.privateEndpointNetworkPolicies", lower);
            field!("properties.privateLinkServiceNetworkPolicies", lower);
            field!("properties.defaultOutboundAccess", same);
        }
        Kind::NetworkSecurityGroup => {
            field!("properties.securityRules", |v| keyed(v, "name", canon_rule));
        }
        Kind::RouteTable => {
            field!("properties.routes", |v| keyed(v, "name", canon_route));
            field!("properties.disableBgpRoutePropagation", same);
        }
        Kind::StorageAccount => {
            field!("sku.name", lower);
            field!("kind", lower);
            field!("properties.accessTier", lower);
            field!("properties.supportsHttpsTrafficOnly", same);
            field!("properties.minimumTlsVersion", lower);
            field!("properties.allowBlobPublicAccess", same);
            field!("properties.allowSharedKeyAccess", same);
            field!("properties.publicNetworkAccess", lower);
            field!("properties.isHnsEnabled", same);
            field!("properties.networkAcls.defaultAction", lower);
            field!("properties.networkAcls.bypass", comma_set);
            field!("properties.networkAcls.virtualNetworkRules", vnet_rules);
            field!("properties.networkAcls.ipRules", |v| ip_rules(v, true));
        }
        Kind::KeyVault => {
            field!("properties.tenantId", lower);
            field!("properties.sku.name", lower);
            field!("properties.enableRbacAuthorization", same);
            field!("properties.softDeleteRetentionInDays", same);
            field!("properties.enablePurgeProtection", same);
            field!("properties.publicNetworkAccess", lower);
            field!("properties.enabledForDeployment", same);
            field!("properties.enabledForDiskEncryption", same);
            field!("properties.enabledForTemplateDeployment", same);
            field!("properties.networkAcls.defaultAction", lower);
            field!("properties.networkAcls.bypass", comma_set);
            field!("properties.networkAcls.virtualNetworkRules", vnet_rules);
            field!("properties.networkAcls.ipRules", |v| ip_rules(v, false));
        }
        Kind::ApplicationInsights => {
            field!("kind", lower);
            field!("properties.Application_Type", lower);
            field!("properties.WorkspaceResourceId", id_of);
            field!("properties.RetentionInDays", same);
            field!("properties.publicNetworkAccessForIngestion", lower);
            field!("properties.publicNetworkAccessForQuery", lower);
            field!("properties.DisableLocalAuth", same);
        }
        Kind::ContainerRegistry => {
            field!("sku.name", lower);
            field!("properties.adminUserEnabled", same);
            field!("properties.publicNetworkAccess", lower);
            field!("properties.zoneRedundancy", lower);
            field!("properties.anonymousPullEnabled", same);
            field!("properties.networkRuleSet.defaultAction", lower);
            field!("properties.networkRuleSet.ipRules", |v| ip_rules(v, true));
        }
        Kind::MlWorkspace => {
            field!("properties.storageAccount", id_of);
            field!("properties.keyVault", id_of);
            field!("properties.applicationInsights", id_of);
            field!("properties.containerRegistry", id_of);
            field!("properties.friendlyName", same);
            field!("properties.description", same);
            field!("properties.publicNetworkAccess", lower);
            field!("properties.hbiWorkspace", same);
            field!("properties.imageBuildCompute", same);
        }
        Kind::AmlCompute => {
            field!("properties.description", same);
            field!("properties.properties.vmSize", lower);
            field!("properties.properties.vmPriority", lower);
            field!("properties.properties.scaleSettings.minNodeCount", same);
            field!("properties.properties.scaleSettings.maxNodeCount", same);
            field!(
                "properties.properties.scaleSettings.nodeIdleTimeBeforeScaleDown",
                |v| iso_seconds(v).map_or(Value::Null, |s| json!(s))
            );
            field!("properties.properties.subnet", id_of);
            field!("properties.properties.remoteLoginPortPublicAccess", |v| {
                // Azure turns `NotSpecified` into `Enabled` (BEHAVIOR.md §2.10).
                let s = v.as_str().unwrap_or("").to_lowercase();
                json!(if s == "notspecified" {
                    "enabled".to_string()
                } else {
                    s
                })
            });
            field!(
                "properties.properties.userAccountCredentials.adminUserName",
                same
            );
            field!("properties.properties.enableNodePublicIp", same);
            field!("properties.properties.osType", lower);
        }
        Kind::AksCluster => {
            field!("sku.tier", lower);
            // An empty version means "the default" and comes back as the version chosen
            // (`""` → `"1.25.6"`, azure-cli acs/test_aks_abort.yaml #2 and
            // test_aks_create_default_service_with_skip_role_assignment.yaml #6): unset.
            if let Some(v) = at("properties.kubernetesVersion").filter(|v| v.as_str() != Some("")) {
                put("properties.kubernetesVersion", v.clone());
            }
            field!("properties.dnsPrefix", same);
            if let Some(pool) = at("properties.agentPoolProfiles")
                .and_then(Value::as_array)
                .and_then(|a| a.first())
            {
                for (k, f) in [
                    ("name", false),
                    ("count", false),
                    ("vmSize", true),
                    ("maxPods", false),
                    ("osDiskSizeGB", false),
                    ("enableAutoScaling", false),
                    ("minCount", false),
                    ("maxCount", false),
                    ("vnetSubnetID", true),
                ] {
                    // `osDiskSizeGB: 0` asks for the default and comes back as `128` (same
                    // recordings, BEHAVIOR.md §2.9): 0 is unset.
                    let unset =
                        |v: &&Value| v.is_null() || (k == "osDiskSizeGB" && v.as_u64() == Some(0));
                    if let Some(v) = pool.get(k).filter(|v| !unset(v)) {
                        put(
                            &format!("properties.agentPoolProfiles[0].{k}"),
                            if f { lower(v) } else { v.clone() },
                        );
                    }
                }
            }
            field!("properties.networkProfile.networkPlugin", lower);
            field!("properties.networkProfile.networkPluginMode", lower);
            field!("properties.networkProfile.networkPolicy", lower);
            field!("properties.networkProfile.serviceCidr", same);
            field!("properties.networkProfile.dnsServiceIP", same);
            field!("properties.networkProfile.podCidr", same);
            field!("properties.networkProfile.outboundType", lower);
            field!("properties.networkProfile.loadBalancerSku", lower);
            field!(
                "properties.apiServerAccessProfile.enablePrivateCluster",
                same
            );
            field!(
                "properties.apiServerAccessProfile.authorizedIPRanges",
                |v| str_set(v, false)
            );
            field!("properties.enableRBAC", same);
            field!("properties.disableLocalAccounts", same);
        }
        Kind::AksCompute => {
            field!("properties.description", same);
            field!("properties.resourceId", id_of);
            field!("properties.properties.clusterPurpose", lower);
            field!("properties.properties.agentCount", same);
            field!("properties.properties.agentVmSize", lower);
            field!(
                "properties.properties.aksNetworkingConfiguration.subnetId",
                id_of
            );
            field!(
                "properties.properties.aksNetworkingConfiguration.serviceCidr",
                same
            );
            field!(
                "properties.properties.aksNetworkingConfiguration.dnsServiceIP",
                same
            );
            field!(
                "properties.properties.aksNetworkingConfiguration.dockerBridgeCidr",
                same
            );
            field!("properties.properties.loadBalancerType", lower);
            field!("properties.properties.loadBalancerSubnet", same);
        }
    }
    out
}

/// What Azure assumes for a managed path the body leaves out: compared against when the live
/// body omits the path, and written back when a field leaves the spec (3-way reset).
/// `Some(Value::Null)` means "absent"; `None` means moat knows no default (the field is then
/// left alone when it leaves the spec).
pub fn default_of(kind: Kind, path: &str) -> Option<Value> {
    if path.starts_with("tags.") {
        return Some(Value::Null);
    }
    let v = match (kind, path) {
        (Kind::VirtualNetwork, "properties.dhcpOptions.dnsServers") => json!([]),
        (Kind::Subnet, "properties.networkSecurityGroup" | "properties.routeTable") => Value::Null,
        (Kind::Subnet, "properties.serviceEndpoints" | "properties.delegations") => json!([]),
        (Kind::Subnet, "properties.privateEndpointNetworkPolicies") => json!("disabled"),
        (Kind::Subnet, "properties.privateLinkServiceNetworkPolicies") => json!("enabled"),
        (Kind::NetworkSecurityGroup, "properties.securityRules") => json!({}),
        (Kind::RouteTable, "properties.routes") => json!({}),
        (Kind::RouteTable, "properties.disableBgpRoutePropagation") => json!(false),
        (Kind::StorageAccount, "properties.allowSharedKeyAccess") => json!(true),
        (Kind::StorageAccount, "properties.publicNetworkAccess") => json!("enabled"),
        (Kind::StorageAccount, "properties.isHnsEnabled") => json!(false),
        (Kind::StorageAccount, "properties.networkAcls.defaultAction") => json!("allow"),
        (Kind::StorageAccount, "properties.networkAcls.bypass") => json!(["azureservices"]),
        (
            Kind::StorageAccount | Kind::KeyVault,
            "properties.networkAcls.virtualNetworkRules" | "properties.networkAcls.ipRules",
        ) => json!([]),
        (Kind::KeyVault, "properties.networkAcls.defaultAction") => json!("allow"),
        (Kind::KeyVault, "properties.networkAcls.bypass") => json!(["azureservices"]),
        (Kind::KeyVault, "properties.publicNetworkAccess") => json!("enabled"),
        (Kind::KeyVault, "properties.enablePurgeProtection") => Value::Null,
        (
            Kind::KeyVault,
            "properties.enabledForDeployment"
            | "properties.enabledForDiskEncryption"
            | "properties.enabledForTemplateDeployment",
        ) => json!(false),
        (
            Kind::ApplicationInsights,
            "properties.publicNetworkAccessForIngestion" | "properties.publicNetworkAccessForQuery",
        ) => {
            json!("enabled")
        }
        (Kind::ApplicationInsights, "properties.DisableLocalAuth") => json!(false),
        (Kind::ApplicationInsights, "properties.RetentionInDays") => json!(90),
        (Kind::ContainerRegistry, "properties.publicNetworkAccess") => json!("enabled"),
        (Kind::ContainerRegistry, "properties.zoneRedundancy") => json!("disabled"),
        (Kind::ContainerRegistry, "properties.anonymousPullEnabled") => json!(false),
        (Kind::ContainerRegistry, "properties.networkRuleSet.defaultAction") => json!("allow"),
        (Kind::ContainerRegistry, "properties.networkRuleSet.ipRules") => json!([]),
        (Kind::MlWorkspace, "properties.friendlyName" | "properties.description") => json!(""),
        (Kind::MlWorkspace, "properties.publicNetworkAccess") => json!("enabled"),
        (Kind::MlWorkspace, "properties.hbiWorkspace") => json!(false),
        (Kind::AmlCompute, "properties.description") => Value::Null,
        (Kind::AmlCompute, "properties.properties.subnet") => Value::Null,
        (Kind::AmlCompute, "properties.properties.enableNodePublicIp") => json!(true),
        (Kind::AksCluster, "properties.apiServerAccessProfile.enablePrivateCluster") => {
            json!(false)
        }
        (Kind::AksCluster, "properties.apiServerAccessProfile.authorizedIPRanges") => json!([]),
        (Kind::AksCluster, "properties.disableLocalAccounts") => json!(false),
        _ => return None,
    };
    Some(v)
}

/// True when changing `path` needs the resource deleted and created again.
pub fn is_immutable(kind: Kind, path: &str) -> bool {
    if path == "location" {
        return true;
    }
    match kind {
        Kind::StorageAccount => matches!(path, "properties.isHnsEnabled" | "kind"),
        Kind::KeyVault => matches!(path, "properties.softDeleteRetentionInDays"),
        Kind::ContainerRegistry => matches!(path, "properties.zoneRedundancy"),
        Kind::MlWorkspace => matches!(
            path,
            "properties.storageAccount" | "properties.keyVault" | "properties.hbiWorkspace"
        ),
        Kind::AmlCompute => {
            !path.starts_with("properties.properties.scaleSettings")
                && !path.starts_with("tags.")
                && path != "properties.description"
        }
        Kind::AksCluster => {
            path.starts_with("properties.networkProfile.")
                || matches!(
                    path,
                    "properties.dnsPrefix"
                        | "properties.agentPoolProfiles[0].vmSize"
                        | "properties.agentPoolProfiles[0].vnetSubnetID"
                        | "properties.agentPoolProfiles[0].name"
                        | "properties.agentPoolProfiles[0].maxPods"
                        | "properties.apiServerAccessProfile.enablePrivateCluster"
                )
        }
        Kind::AksCompute => !path.starts_with("tags.") && path != "properties.description",
        _ => false,
    }
}

/// Paths of the live body a full-replacement PUT must carry over when the spec does not manage
/// them, or the PUT would silently remove them (BEHAVIOR.md §5.2, §5.6).
pub fn carry_over(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::Subnet => &[
            "properties.networkSecurityGroup",
            "properties.routeTable",
            "properties.natGateway",
            "properties.serviceEndpoints",
            "properties.delegations",
            "properties.privateEndpointNetworkPolicies",
            "properties.privateLinkServiceNetworkPolicies",
            "properties.defaultOutboundAccess",
        ],
        Kind::KeyVault => &["properties.accessPolicies", "properties.networkAcls"],
        Kind::VirtualNetwork => &["properties.dhcpOptions"],
        Kind::AksCluster => &["properties.kubernetesVersion"],
        _ => &[],
    }
}

/// Properties of `kind` whose values must never be shown or stored: passwords, secrets, keys
/// and tokens, judged by the last path segment (so `keyVault`, an ID, is not one).
pub fn is_sensitive(_kind: Kind, path: &str) -> bool {
    let last = path.rsplit('.').next().unwrap_or(path).to_ascii_lowercase();
    const WORDS: [&str; 9] = [
        "password",
        "adminuserpassword",
        "secret",
        "clientsecret",
        "token",
        "connectionstring",
        "instrumentationkey",
        "accountkey",
        "primarykey",
    ];
    WORDS.contains(&last.as_str()) || last.ends_with("password") || last.ends_with("secret")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_durations_round_trip() {
        assert_eq!(iso_duration(120), "PT2M");
        assert_eq!(iso_duration(100), "PT1M40S");
        assert_eq!(iso_duration(3600), "PT1H");
        assert_eq!(iso_seconds(&json!("PT1M40S")), Some(100));
    }

    #[test]
    fn rules_compare_singular_and_plural_forms_equal() {
        let desired = json!({ "properties": { "securityRules": [ { "name": "Batch", "properties": {
            "priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
            "sourceAddressPrefix": "BatchNodeManagement", "sourcePortRange": "*",
            "destinationAddressPrefix": "*", "destinationPortRange": "29876-29877" } } ] } });
        let live = json!({ "properties": { "securityRules": [ { "name": "batch", "id": "/x", "etag": "W/\"1\"", "properties": {
            "provisioningState": "Succeeded", "priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "TCP",
            "sourceAddressPrefix": "BatchNodeManagement", "sourceAddressPrefixes": [], "sourcePortRange": "*", "sourcePortRanges": [],
            "destinationAddressPrefix": "*", "destinationAddressPrefixes": [], "destinationPortRanges": ["29876-29877"] } } ],
            "defaultSecurityRules": [] } });
        assert_eq!(
            project(Kind::NetworkSecurityGroup, &desired),
            project(Kind::NetworkSecurityGroup, &live)
        );
    }

    #[test]
    fn storage_acls_fold_case_and_ids() {
        let desired = json!({ "properties": { "networkAcls": { "defaultAction": "Deny", "bypass": "AzureServices",
            "virtualNetworkRules": [ { "id": "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/v/subnets/a" } ],
            "ipRules": [ { "value": "203.0.113.0/28", "action": "Allow" } ] } } });
        let live = json!({ "properties": { "networkAcls": { "defaultAction": "Deny", "bypass": "AzureServices",
            "virtualNetworkRules": [ { "id": "/subscriptions/s/resourcegroups/rg/providers/microsoft.network/virtualnetworks/v/subnets/a", "action": "Allow", "state": "Succeeded" } ],
            "ipRules": [ { "value": "203.0.113.0/28", "action": "Allow" } ], "ipv6Rules": [] } } });
        assert_eq!(
            project(Kind::StorageAccount, &desired),
            project(Kind::StorageAccount, &live)
        );
    }
}
