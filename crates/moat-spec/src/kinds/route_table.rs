//! The `route_table` kind and its routes. Its spec declaration: the fields, their docs and decoders.

use crate::span::Spanned;
use crate::{spec_enum, spec_struct};

spec_enum! {
    /// Next hop of a route.
    NextHop {
        /// The VNet's gateway.
        VirtualNetworkGateway = "virtual_network_gateway",
        /// Stay inside the VNet.
        VnetLocal = "vnet_local",
        /// Azure's internet edge.
        Internet = "internet",
        /// A network virtual appliance (firewall); needs `next_hop_ip`.
        VirtualAppliance = "virtual_appliance",
        /// Drop the traffic.
        None = "none",
    }
}

spec_struct! {
    /// A route table and its routes.
    RouteTable ("a route_table") {
        /// The resource group: the key of a `resource_group` in this spec, or its ARM ID.
        resource_group: req String,
        /// Stop BGP routes from reaching associated subnets.
        disable_bgp_route_propagation: opt bool,
        /// Routes.
        routes: opt Vec<Spanned<Route>>,
    }
}

spec_struct! {
    /// One route.
    Route ("a route") {
        /// Route name, unique in the table.
        name: req String,
        /// Destination: a CIDR or a service tag such as `BatchNodeManagement.eastus2`.
        address_prefix: req String,
        /// Where the traffic goes.
        next_hop: req NextHop,
        /// The appliance's IP address; required with `virtual_appliance`, forbidden otherwise.
        next_hop_ip: opt String,
    }
}
