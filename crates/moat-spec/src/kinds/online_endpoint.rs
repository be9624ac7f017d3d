//! The `online_endpoint` and `online_deployment` kinds: a scoring endpoint of a workspace and its deployments. Their spec declarations: the fields, their docs and decoders.

use super::ManagedIdentities;
use crate::decode::Map;
use crate::{spec_enum, spec_struct};

spec_enum! {
    /// How callers of an online endpoint authenticate.
    EndpointAuthMode { Key = "key", AmlToken = "aml_token", AadToken = "aad_token" }
}

spec_enum! {
    /// Whether an endpoint is reachable from the public internet.
    PublicNetworkAccess { Enabled = "enabled", Disabled = "disabled" }
}

spec_struct! {
    /// A scoring endpoint of a workspace, on a Kubernetes compute or Azure-managed compute.
    OnlineEndpoint ("an online_endpoint") {
        /// The `ml_workspace` it belongs to.
        workspace: req String,
        /// A `kubernetes_compute` (key or ARM ID); omit for Azure-managed compute.
        compute: opt String,
        /// `key` (default), `aml_token` or `aad_token`.
        auth_mode: opt EndpointAuthMode,
        /// `enabled` (default) or `disabled`.
        public_network_access: opt PublicNetworkAccess,
        /// Percent of live traffic per deployment (names of this endpoint's deployments); sums to 100, or all 0. Written after the deployments exist.
        traffic: opt Map<u32>,
        /// Percent of live traffic copied to a deployment (a shadow); at most 50 in total.
        mirror_traffic: opt Map<u32>,
        /// Managed identities: `{ system_assigned: true, user_assigned: [key] }`.
        identity: opt ManagedIdentities,
        /// Description.
        description: opt String,
    }
}
