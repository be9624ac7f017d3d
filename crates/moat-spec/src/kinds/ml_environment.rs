//! The `ml_environment` kind: one version of an Azure ML environment (the container image of deployments). Its spec declaration: the fields, their docs and decoders.

use crate::spec_struct;

spec_struct! {
    /// One version of an environment: the container image deployments run in.
    MlEnvironment ("an ml_environment") {
        /// The `ml_workspace` it belongs to.
        workspace: req String,
        /// The version, e.g. `"1"`; its content never changes in Azure.
        version: req String,
        /// The container image, e.g. `mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu22.04:latest`.
        image: req String,
        /// A conda specification (YAML text) layered on the image.
        conda_file: opt String,
        /// Description.
        description: opt String,
    }
}
