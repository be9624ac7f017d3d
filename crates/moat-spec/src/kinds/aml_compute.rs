//! The `aml_compute` kind: an AmlCompute training cluster of a workspace. Its spec declaration: the fields, their docs and decoders.

use super::ManagedIdentities;
use crate::{spec_enum, spec_struct};

spec_enum! {
    /// AmlCompute VM priority.
    VmPriority { Dedicated = "dedicated", LowPriority = "low_priority" }
}

spec_enum! {
    /// Whether the SSH port of compute nodes is reachable from the internet.
    RemoteLogin { Enabled = "enabled", Disabled = "disabled", NotSpecified = "not_specified" }
}

spec_enum! {
    /// Operating system of AmlCompute nodes.
    OsType { Linux = "linux", Windows = "windows" }
}

spec_struct! {
    /// SSH access to compute nodes (public key only: passwords never belong in a spec).
    SshAccess ("ssh") {
        /// Admin user name.
        admin_username: req String,
        /// OpenSSH public key.
        admin_public_key: req String,
    }
}

spec_struct! {
    /// An AmlCompute training cluster.
    AmlCompute ("an aml_compute") {
        /// The `ml_workspace` it belongs to.
        workspace: req String,
        /// VM size, e.g. `STANDARD_D2_V2`.
        vm_size: req String,
        /// `dedicated` (default) or `low_priority`.
        vm_priority: opt VmPriority,
        /// Minimum nodes (default 0); nodes kept running when idle.
        min_nodes: opt u32,
        /// Maximum nodes, at least 1 and at least `min_nodes`.
        max_nodes: req u32,
        /// Idle time before scale-down: `120s`, `2m`, `PT2M` (default 2 minutes).
        idle_time_before_scale_down: opt String,
        /// The subnet nodes join: `vnet/subnet` or an ARM ID.
        subnet: opt String,
        /// Public SSH access to the nodes (default `disabled`).
        remote_login_port_public_access: opt RemoteLogin,
        /// Admin SSH access (public key).
        ssh: opt SshAccess,
        /// Give nodes public IPs (default true; false needs a private workspace).
        enable_node_public_ip: opt bool,
        /// Node OS (default `linux`).
        os_type: opt OsType,
        /// Managed identities: `{ system_assigned: true, user_assigned: [key] }`.
        identity: opt ManagedIdentities,
        /// Description.
        description: opt String,
    }
}
