//! The `ml_workspace` kind: an Azure ML workspace and the resources it depends on. Its spec declaration: the fields, their docs and decoders.

use super::{ManagedIdentities, PrivateEndpoints};
use crate::ast::Toggle;
use crate::decode::Map;
use crate::span::Spanned;
use crate::{spec_enum, spec_struct};

spec_enum! {
    /// Isolation of a workspace's managed network (one way: once enabled it cannot return to `disabled`).
    IsolationMode {
        Disabled = "disabled",
        AllowInternetOutbound = "allow_internet_outbound",
        AllowOnlyApprovedOutbound = "allow_only_approved_outbound",
    }
}

spec_struct! {
    /// One outbound rule of a managed network: exactly one of `fqdn`, `service_tag` (with
    /// `protocol` and `ports`) or `private_endpoint` (with `subresource`).
    OutboundRule ("an outbound rule") {
        /// A host name the network may reach (`pypi.org`, `*.anaconda.com`); needs `allow_only_approved_outbound`.
        fqdn: opt String,
        /// A service tag the network may reach, e.g. `AzureMonitor`.
        service_tag: opt String,
        /// Protocol of a service tag rule: `TCP`, `UDP`, `ICMP` or `*` (default `TCP`).
        protocol: opt String,
        /// Ports of a service tag rule, e.g. `443` or `80,443` (default `443`).
        ports: opt String,
        /// A resource reached through a managed private endpoint: a key of this spec or an ARM ID.
        private_endpoint: opt String,
        /// The private endpoint's group (`blob`, `file`, `vault`, `registry`, `amlworkspace`; default from the target's kind).
        subresource: opt String,
    }
}

spec_struct! {
    /// The workspace's managed virtual network.
    ManagedNetwork ("a managed_network") {
        /// `disabled` (default), `allow_internet_outbound` or `allow_only_approved_outbound`; cannot return to `disabled`.
        isolation: opt IsolationMode,
        /// User-defined outbound rules by name (each its own child `outboundRules/<name>`); the rules Azure adds itself are not moat's.
        outbound_rules: opt Map<OutboundRule>,
    }
}

spec_struct! {
    /// An Azure Machine Learning workspace.
    MlWorkspace ("an ml_workspace") {
        /// The resource group: the key of a `resource_group` in this spec, or its ARM ID.
        resource_group: req String,
        /// The workspace's default storage: a `storage_account` (immutable).
        storage_account: req String,
        /// The workspace's `key_vault` (immutable).
        key_vault: req String,
        /// The workspace's `application_insights`.
        application_insights: req String,
        /// A `container_registry` for environment images (created on demand by Azure when absent).
        container_registry: opt String,
        /// Display name.
        friendly_name: opt String,
        /// Description.
        description: opt String,
        /// Public network access to the workspace (default `enabled`).
        public_network_access: opt Toggle,
        /// High business impact: less diagnostic data collected (default false; immutable).
        hbi_workspace: opt bool,
        /// Name of a compute cluster that builds images when the registry is behind a VNet.
        image_build_compute: opt String,
        /// Managed identities: `{ system_assigned: true, user_assigned: [key] }`.
        identity: opt ManagedIdentities,
        /// The workspace's managed network: isolation and outbound rules.
        managed_network: opt ManagedNetwork,
        /// Private endpoints of this resource in a subnet, one per group (shorthand for
        /// `private_endpoint` resources keyed `<key>/pe-<group>`).
        private_endpoints: opt Vec<Spanned<PrivateEndpoints>>,
    }
}
