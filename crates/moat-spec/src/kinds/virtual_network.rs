//! The `virtual_network` kind and its inline subnets. Its spec declaration: the fields, their docs and decoders.

use crate::ast::{List, Toggle};
use crate::decode::Map;
use crate::spec_struct;

spec_struct! {
    /// A virtual network and its subnets.
    VirtualNetwork ("a virtual_network") {
        /// The resource group: the key of a `resource_group` in this spec, or its ARM ID.
        resource_group: req String,
        /// The VNet's address ranges (CIDR).
        address_space: req List,
        /// Custom DNS servers (IP addresses); Azure DNS when absent.
        dns_servers: opt List,
        /// Subnets by name.
        subnets: opt Map<Subnet>,
    }
}

spec_struct! {
    /// A subnet, declared inside its virtual network.
    Subnet ("a subnet") {
        /// The subnet's range (CIDR), inside the VNet's address space.
        address_prefix: req String,
        /// A `network_security_group` to associate.
        network_security_group: opt String,
        /// A `route_table` to associate.
        route_table: opt String,
        /// Service endpoints, e.g. `Microsoft.Storage`, `Microsoft.KeyVault`.
        service_endpoints: opt List,
        /// Services the subnet is delegated to, e.g. `Microsoft.ContainerInstance/containerGroups`.
        delegations: opt List,
        /// Network policies for private endpoints (default `disabled`).
        private_endpoint_network_policies: opt Toggle,
        /// Network policies for private link services (default `enabled`).
        private_link_service_network_policies: opt Toggle,
        /// Whether VMs get default outbound internet access (Azure's default is true).
        default_outbound_access: opt bool,
    }
}
