//! The `private_dns_zone` kind: a private DNS zone (`privatelink.blob.core.windows.net`) and
//! its links to virtual networks. Its spec declaration: the fields, their docs and decoders.

use crate::ast::List;
use crate::spec_struct;

spec_struct! {
    /// A private DNS zone (`Microsoft.Network/privateDnsZones`, location `global`) and the
    /// virtual networks it is linked to; private endpoints register their addresses in it
    /// through their `dns_zones:`.
    PrivateDnsZone ("a private_dns_zone") {
        /// The resource group: the key of a `resource_group` in this spec, or its ARM ID.
        resource_group: req String,
        /// Virtual networks that resolve through the zone: `virtual_network` keys (managed or
        /// `existing:`) or ARM IDs. Each becomes a link (child `virtualNetworkLinks/<network name>`).
        links: opt List,
        /// Auto-registration of the linked networks' VM records (default false; a network
        /// can register in one zone only).
        registration: opt bool,
    }
}
