//! The `ml_code` kind: one version of a scoring code snapshot of a workspace. Its spec declaration: the fields, their docs and decoders.

use crate::spec_struct;

spec_struct! {
    /// One version of a scoring code snapshot, already uploaded to a datastore.
    MlCode ("an ml_code") {
        /// The `ml_workspace` it belongs to.
        workspace: req String,
        /// The version, e.g. `"1"`; its content never changes in Azure.
        version: req String,
        /// Where the code is: `azureml://datastores/<store>/paths/<path>` (expanded to the workspace's full form) or a full URI.
        path: req String,
        /// Description.
        description: opt String,
    }
}
