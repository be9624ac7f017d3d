//! The `subnet` kind: a subnet declared on its own, inside a virtual network this spec may not
//! own (the hub VNet of a network team). Its spec declaration: the fields, their docs and decoders.

use crate::ast::{List, Subnet, Toggle};
use crate::spec_struct;

spec_struct! {
    /// A subnet of its own inside a virtual network, often one another stack owns: moat writes
    /// only the subnet (a child PUT), never the network.
    StandaloneSubnet ("a subnet") {
        /// The virtual network: the key of a `virtual_network` in this spec (typically an
        /// `existing:` one), or its ARM ID.
        virtual_network: req String,
        /// The subnet's range (CIDR), inside the VNet's address space and clear of its other subnets.
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

impl StandaloneSubnet {
    /// The subnet's own fields, in the shape of a subnet declared inside its network, so that
    /// both forms build the same request body and meet the same rules.
    pub fn subnet(&self) -> Subnet {
        Subnet {
            address_prefix: self.address_prefix.clone(),
            network_security_group: self.network_security_group.clone(),
            route_table: self.route_table.clone(),
            service_endpoints: self.service_endpoints.clone(),
            delegations: self.delegations.clone(),
            private_endpoint_network_policies: self.private_endpoint_network_policies.clone(),
            private_link_service_network_policies: self
                .private_link_service_network_policies
                .clone(),
            default_outbound_access: self.default_outbound_access.clone(),
        }
    }
}
