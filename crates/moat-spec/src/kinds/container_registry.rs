//! The `container_registry` kind and its firewall. Its spec declaration: the fields, their docs and decoders.

use super::{ManagedIdentities, PrivateEndpoints};
use crate::ast::{Access, List, Toggle};
use crate::span::Spanned;
use crate::{spec_enum, spec_struct};

spec_enum! {
    /// Container registry SKUs (network rules need `premium`).
    RegistrySku { Basic = "basic", Standard = "standard", Premium = "premium" }
}

spec_struct! {
    /// Firewall of a container registry (Premium SKU only).
    RegistryNetworkRules ("registry network_rules") {
        /// What happens to traffic no rule matches (default `deny`).
        default_action: opt Access,
        /// Public IPs or CIDRs allowed in.
        ip_rules: opt List,
    }
}

spec_struct! {
    /// A container registry.
    ContainerRegistry ("a container_registry") {
        /// The resource group: the key of a `resource_group` in this spec, or its ARM ID.
        resource_group: req String,
        /// SKU (default `premium`, the only one with network rules and private endpoints).
        sku: opt RegistrySku,
        /// The admin user (default false).
        admin_user_enabled: opt bool,
        /// Public network access (default `enabled`).
        public_network_access: opt Toggle,
        /// Zone redundancy (Premium; default `disabled`); immutable after creation.
        zone_redundancy: opt Toggle,
        /// Anonymous pull (default false).
        anonymous_pull: opt bool,
        /// The firewall.
        network_rules: opt RegistryNetworkRules,
        /// Private endpoints of this resource in a subnet, one per group (shorthand for
        /// `private_endpoint` resources keyed `<key>/pe-<group>`).
        private_endpoints: opt Vec<Spanned<PrivateEndpoints>>,
        /// Managed identities: `{ system_assigned: true, user_assigned: [key] }`.
        identity: opt ManagedIdentities,
    }
}
