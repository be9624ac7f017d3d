//! The spec fields that hold references, one constant each: resolution binds a reference under
//! this name and the body builders, lint and the engine look it up by the same constant, so a
//! renamed field cannot leave a lookup behind.

/// `resource_group:` of any kind in a group.
pub const RESOURCE_GROUP: &str = "resource_group";
/// `workspace:` of an ML compute.
pub const WORKSPACE: &str = "workspace";
/// A subnet's `virtual_network:` (a subnet of its own).
pub const VIRTUAL_NETWORK: &str = "virtual_network";
/// A subnet's `network_security_group:`.
pub const NETWORK_SECURITY_GROUP: &str = "network_security_group";
/// A subnet's `route_table:`.
pub const ROUTE_TABLE: &str = "route_table";
/// A workspace's `storage_account:`.
pub const STORAGE_ACCOUNT: &str = "storage_account";
/// A workspace's `key_vault:`.
pub const KEY_VAULT: &str = "key_vault";
/// A workspace's `application_insights:`.
pub const APPLICATION_INSIGHTS: &str = "application_insights";
/// A workspace's `container_registry:`.
pub const CONTAINER_REGISTRY: &str = "container_registry";
/// An AML compute's `subnet:`.
pub const SUBNET: &str = "subnet";
/// An AKS cluster's `network.subnet:`.
pub const NETWORK_SUBNET: &str = "network.subnet";
/// An AKS compute's `cluster:` (attach).
pub const CLUSTER: &str = "cluster";
/// A Kubernetes compute's dependency on its cluster's `ml_extension` (bound with `cluster:`).
pub const CLUSTER_EXTENSION: &str = "cluster.ml_extension";
/// An AKS compute's `create.subnet:`.
pub const CREATE_SUBNET: &str = "create.subnet";

/// A firewall's `network_rules.subnets[i]` (storage accounts, key vaults).
pub fn firewall_subnet(i: usize) -> String {
    format!("network_rules.subnets[{i}]")
}

/// True for a field written by [`firewall_subnet`].
pub fn is_firewall_subnet(field: &str) -> bool {
    field.starts_with("network_rules.subnets[")
}

/// A private endpoint's `target:`.
pub const TARGET: &str = "target";

/// A private endpoint's `dns_zones[i]`.
pub fn dns_zone(i: usize) -> String {
    format!("dns_zones[{i}]")
}

/// A private DNS zone's `links[i]` (on the link child it writes).
pub fn link(i: usize) -> String {
    format!("links[{i}]")
}

/// An online deployment's `endpoint:`.
pub const ENDPOINT: &str = "endpoint";
/// An online endpoint's `compute:`.
pub const COMPUTE: &str = "compute";
/// A deployment's `model:`.
pub const MODEL: &str = "model";
/// A deployment's `environment:`.
pub const ENVIRONMENT: &str = "environment";
/// A deployment's `code.code:`.
pub const CODE: &str = "code.code";

/// An endpoint's `traffic.<deployment>` (or `mirror_traffic.<deployment>`).
pub fn traffic(map: &str, deployment: &str) -> String {
    format!("{map}.{deployment}")
}
