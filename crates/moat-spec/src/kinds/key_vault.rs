//! The `key_vault` kind: SKU, access model, soft delete and firewall. Its spec declaration: the fields, their docs and decoders.

use super::PrivateEndpoints;
use crate::ast::{Access, List, Toggle};
use crate::span::Spanned;
use crate::{spec_enum, spec_struct};

spec_enum! {
    /// Services that may pass a key vault firewall.
    VaultBypass { AzureServices = "azure_services", None = "none" }
}

spec_enum! {
    /// Key vault SKUs.
    VaultSku { Standard = "standard", Premium = "premium" }
}

spec_struct! {
    /// Firewall of a key vault.
    VaultNetworkRules ("key vault network_rules") {
        /// What happens to traffic no rule matches (default `deny`).
        default_action: opt Access,
        /// Trusted services that pass the firewall (default `[azure_services]`).
        bypass: opt Vec<Spanned<VaultBypass>>,
        /// Subnets allowed in; each needs the `Microsoft.KeyVault` service endpoint.
        subnets: opt List,
        /// Public IPs or CIDRs allowed in.
        ip_rules: opt List,
    }
}

spec_struct! {
    /// A key vault.
    KeyVault ("a key_vault") {
        /// The resource group: the key of a `resource_group` in this spec, or its ARM ID.
        resource_group: req String,
        /// SKU (default `standard`).
        sku: opt VaultSku,
        /// Entra tenant (default: the credential's tenant).
        tenant_id: opt String,
        /// Use Azure RBAC instead of access policies (default true).
        rbac_authorization: opt bool,
        /// Days a deleted vault is kept, 7–90 (default 90); immutable after creation.
        soft_delete_retention_days: opt u32,
        /// Forbid purging a deleted vault before its retention ends (default false; cannot be turned off again).
        purge_protection: opt bool,
        /// Public network access (default `enabled`, filtered by `network_rules`).
        public_network_access: opt Toggle,
        /// Let VMs read certificates stored as secrets (default false).
        enabled_for_deployment: opt bool,
        /// Let Azure Disk Encryption read secrets (default false).
        enabled_for_disk_encryption: opt bool,
        /// Let ARM templates read secrets (default false).
        enabled_for_template_deployment: opt bool,
        /// The firewall.
        network_rules: opt VaultNetworkRules,
        /// Private endpoints of this resource in a subnet, one per group (shorthand for
        /// `private_endpoint` resources keyed `<key>/pe-<group>`).
        private_endpoints: opt Vec<Spanned<PrivateEndpoints>>,
    }
}
