//! The `storage_account` kind: SKU, transport, access settings and firewall. Its spec declaration: the fields, their docs and decoders.

use super::PrivateEndpoints;
use crate::ast::{Access, List, Toggle};
use crate::span::Spanned;
use crate::{spec_enum, spec_struct};

spec_enum! {
    /// Services that may pass a storage account firewall.
    StorageBypass { AzureServices = "azure_services", Logging = "logging", Metrics = "metrics", None = "none" }
}

spec_enum! {
    /// Storage account SKUs (Azure's names).
    StorageSku {
        StandardLrs = "Standard_LRS", StandardGrs = "Standard_GRS", StandardRagrs = "Standard_RAGRS",
        StandardZrs = "Standard_ZRS", StandardGzrs = "Standard_GZRS", StandardRagzrs = "Standard_RAGZRS",
        PremiumLrs = "Premium_LRS", PremiumZrs = "Premium_ZRS",
    }
}

spec_enum! {
    /// Storage account kinds.
    StorageKind { StorageV2 = "storage_v2", BlockBlobStorage = "block_blob_storage", FileStorage = "file_storage" }
}

spec_enum! {
    /// Blob access tiers.
    AccessTier { Hot = "hot", Cool = "cool", Cold = "cold" }
}

spec_enum! {
    /// Minimum TLS versions.
    TlsVersion { Tls1_0 = "tls1_0", Tls1_1 = "tls1_1", Tls1_2 = "tls1_2" }
}

spec_struct! {
    /// Firewall of a storage account.
    StorageNetworkRules ("storage network_rules") {
        /// What happens to traffic no rule matches (default `deny`).
        default_action: opt Access,
        /// Trusted services that pass the firewall (default `[azure_services]`).
        bypass: opt Vec<Spanned<StorageBypass>>,
        /// Subnets allowed in (`vnet/subnet` or ARM IDs); each needs the `Microsoft.Storage` service endpoint.
        subnets: opt List,
        /// Public IPs or CIDRs allowed in (no private ranges, no /31 or /32).
        ip_rules: opt List,
    }
}

spec_struct! {
    /// A storage account.
    StorageAccount ("a storage_account") {
        /// The resource group: the key of a `resource_group` in this spec, or its ARM ID.
        resource_group: req String,
        /// SKU (default `Standard_LRS`).
        sku: opt StorageSku,
        /// Kind (default `storage_v2`).
        kind: opt StorageKind,
        /// Default blob access tier (default `hot`).
        access_tier: opt AccessTier,
        /// Refuse plain HTTP (default true).
        https_only: opt bool,
        /// Minimum TLS version (default `tls1_2`).
        min_tls_version: opt TlsVersion,
        /// Allow anonymous blob access (default false).
        allow_blob_public_access: opt bool,
        /// Allow account-key (shared key) access (default true: Azure ML's default datastores use it).
        allow_shared_key_access: opt bool,
        /// Public network access (default `enabled`, filtered by `network_rules`).
        public_network_access: opt Toggle,
        /// Hierarchical namespace (Data Lake Gen2); immutable after creation.
        hierarchical_namespace: opt bool,
        /// The firewall.
        network_rules: opt StorageNetworkRules,
        /// Private endpoints of this resource in a subnet, one per group (shorthand for
        /// `private_endpoint` resources keyed `<key>/pe-<group>`).
        private_endpoints: opt Vec<Spanned<PrivateEndpoints>>,
    }
}
