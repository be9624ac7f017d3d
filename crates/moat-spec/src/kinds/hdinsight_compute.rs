//! The `hdinsight_compute` kind: an HDInsight cluster the user owns, attached to a workspace as
//! compute over SSH to its head node. Its spec declaration: the fields, their docs and decoders.

use super::vm_compute::SshLogin;
use crate::spec_struct;

spec_struct! {
    /// An HDInsight cluster attached to a workspace as compute; destroying it detaches it and leaves the cluster alone.
    HdinsightCompute ("an hdinsight_compute") {
        /// The `ml_workspace` it belongs to.
        workspace: req String,
        /// The cluster's ARM ID (`Microsoft.HDInsight/clusters`).
        resource_id: req String,
        /// The head node's SSH host (`<cluster>-ssh.azurehdinsight.net` or an IP).
        address: opt String,
        /// SSH login.
        ssh: req SshLogin,
        /// The head node's subnet (`vnet/subnet` or a `subnet` key), for the lint rules on its network security group and region.
        subnet: opt String,
        /// Description.
        description: opt String,
    }
}
