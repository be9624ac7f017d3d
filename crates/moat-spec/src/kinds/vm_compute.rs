//! The `vm_compute` kind: a virtual machine the user owns, attached to a workspace as compute
//! over SSH (the Azure ML network isolation guide's other compute targets), and the SSH login
//! it shares with `hdinsight_compute`. Its spec declaration: the fields, their docs and decoders.

use crate::secret::Secret;
use crate::spec_struct;

spec_struct! {
    /// How Azure ML logs in over SSH: a user and exactly one of `private_key` and `password`, each a secret reference.
    SshLogin ("ssh") {
        /// The admin user Azure ML logs in as.
        username: req String,
        /// SSH port (default 22).
        port: opt u16,
        /// The private key, as a secret reference: `{ env: NAME }` or `{ file: PATH }`; never shown or stored.
        private_key: opt Secret,
        /// The password, as a secret reference: `{ env: NAME }` or `{ file: PATH }`; never shown or stored.
        password: opt Secret,
    }
}

spec_struct! {
    /// A virtual machine attached to a workspace as compute; destroying it detaches it and leaves the VM alone.
    VmCompute ("a vm_compute") {
        /// The `ml_workspace` it belongs to.
        workspace: req String,
        /// The VM's ARM ID (`Microsoft.Compute/virtualMachines`).
        resource_id: req String,
        /// The address Azure ML reaches it at (an IP or a host name).
        address: opt String,
        /// SSH login.
        ssh: req SshLogin,
        /// The VM's subnet (`vnet/subnet` or a `subnet` key), for the lint rules on its network security group and region.
        subnet: opt String,
        /// The network security group on the VM's network interface (a key), checked by lint like the subnet's.
        network_security_group: opt String,
        /// Description.
        description: opt String,
    }
}
