//! The `ml_workspace` kind: an Azure ML workspace and the resources it depends on. Its spec declaration: the fields, their docs and decoders.

use super::ManagedIdentities;
use crate::ast::Toggle;
use crate::spec_struct;

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
    }
}
