//! The `user_assigned_identity` kind, and `identity:`, the managed-identity block of the kinds
//! that take one. Its spec declaration: the fields, their docs and decoders.

use crate::ast::List;
use crate::spec_struct;

spec_struct! {
    /// The managed identities of a resource (`identity:` on a workspace, a registry or an AKS
    /// cluster).
    ManagedIdentities ("an identity") {
        /// Give the resource its own system-assigned identity (default true for workspaces and
        /// AKS clusters, which need one, false elsewhere).
        system_assigned: opt bool,
        /// `user_assigned_identity` keys (or ARM IDs) the resource acts as.
        user_assigned: opt List,
    }
}

spec_struct! {
    /// A user-assigned managed identity (`Microsoft.ManagedIdentity/userAssignedIdentities`).
    UserAssignedIdentity ("a user_assigned_identity") {
        /// The resource group: the key of a `resource_group` in this spec, or its ARM ID.
        resource_group: req String,
    }
}
