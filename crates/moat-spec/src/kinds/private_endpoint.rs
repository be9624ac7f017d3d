//! The `private_endpoint` kind: a private endpoint in a subnet for one sub-resource (group) of
//! a storage account, key vault, registry or workspace, and its DNS zone group. Its spec
//! declaration: the fields, their docs and decoders.

use crate::ast::List;
use crate::spec_struct;

spec_struct! {
    /// A private endpoint (`Microsoft.Network/privateEndpoints`): a NIC in `subnet` that
    /// reaches one group of `target` privately; with `dns_zones:` its addresses are written
    /// into those zones (child `privateDnsZoneGroups/default`).
    PrivateEndpoint ("a private_endpoint") {
        /// The resource group: the key of a `resource_group` in this spec, or its ARM ID.
        resource_group: req String,
        /// The subnet: `vnet/subnet`, a `subnet` key, or an ARM ID (immutable).
        subnet: req String,
        /// What the endpoint reaches: the key of a `storage_account`, `key_vault`,
        /// `container_registry` or `ml_workspace`, or an ARM ID (immutable).
        target: req String,
        /// The target's sub-resource (`groupIds`): default from the target's kind — `blob` for
        /// storage (one endpoint per group: `file` needs an endpoint of its own), `vault`,
        /// `registry`, `amlworkspace` (immutable).
        group: opt String,
        /// `private_dns_zone` keys (or ARM IDs) the endpoint registers its addresses in.
        dns_zones: opt List,
        /// Name of the NIC Azure creates (default `<endpoint>.nic.<guid>`; immutable).
        nic_name: opt String,
    }
}

spec_struct! {
    /// Private endpoints of this resource, one per group, each an ordinary `private_endpoint`
    /// keyed `<key>/pe-<group>` (named `<name>-pe-<group>` after this resource's Azure name)
    /// in plans and state.
    PrivateEndpoints ("a private_endpoints entry") {
        /// The subnet of the endpoints: `vnet/subnet`, a `subnet` key, or an ARM ID (immutable).
        subnet: req String,
        /// The groups (sub-resources) reached, one endpoint each (default: the kind's default
        /// group — `blob`, `vault`, `registry`, `amlworkspace`).
        groups: opt List,
        /// `private_dns_zone` keys (or ARM IDs) the endpoints register in: with one group, all
        /// of them; with several, one per group, in the order of `groups`.
        dns_zones: opt List,
        /// The endpoints' resource group (default: this resource's).
        resource_group: opt String,
    }
}
