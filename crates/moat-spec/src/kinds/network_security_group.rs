//! The `network_security_group` kind and its security rules. Its spec declaration: the fields, their docs and decoders.

use crate::ast::{Access, OneOrMany};
use crate::span::Spanned;
use crate::{spec_enum, spec_struct};

spec_enum! {
    /// Traffic direction of a security rule.
    Direction { Inbound = "inbound", Outbound = "outbound" }
}

spec_enum! {
    /// Protocol of a security rule.
    Protocol { Tcp = "tcp", Udp = "udp", Icmp = "icmp", Esp = "esp", Ah = "ah", Any = "any" }
}

spec_struct! {
    /// A network security group and its rules.
    NetworkSecurityGroup ("a network_security_group") {
        /// The resource group: the key of a `resource_group` in this spec, or its ARM ID.
        resource_group: req String,
        /// Security rules; Azure's default rules are always there and need not be listed.
        rules: opt Vec<Spanned<SecurityRule>>,
    }
}

spec_struct! {
    /// One security rule.
    SecurityRule ("a security rule") {
        /// Rule name, unique in the NSG.
        name: req String,
        /// 100–4096; lower numbers are evaluated first; unique per direction.
        priority: req u32,
        /// `inbound` or `outbound`.
        direction: req Direction,
        /// `allow` or `deny`.
        access: req Access,
        /// `tcp`, `udp`, `icmp`, `esp`, `ah` or `any`.
        protocol: req Protocol,
        /// Source: `*`, a CIDR, an IP, or a service tag such as `BatchNodeManagement`; or a list of CIDRs/IPs. Default `*`.
        source: opt OneOrMany,
        /// Source ports (`*`, `443`, `1024-65535`). Default `*`.
        source_ports: opt OneOrMany,
        /// Destination, as for `source`. Default `*`.
        destination: opt OneOrMany,
        /// Destination ports. Default `*`.
        destination_ports: opt OneOrMany,
        /// Free text.
        description: opt String,
    }
}
