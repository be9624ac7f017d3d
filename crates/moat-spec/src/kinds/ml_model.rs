//! The `ml_model` kind: one version of a registered model of a workspace. Its spec declaration: the fields, their docs and decoders.

use crate::{spec_enum, spec_struct};

spec_enum! {
    /// The format of a registered model.
    ModelType { CustomModel = "custom_model", MlflowModel = "mlflow_model", TritonModel = "triton_model" }
}

spec_struct! {
    /// One version of a registered model (versions are immutable: change `version` to change it).
    MlModel ("an ml_model") {
        /// The `ml_workspace` it belongs to.
        workspace: req String,
        /// The version, e.g. `"3"`; its content never changes in Azure.
        version: req String,
        /// Where the model files are: `azureml://datastores/<store>/paths/<path>` (expanded to the workspace's full form) or a full `azureml://` / `https://` URI.
        path: req String,
        /// `custom_model` (default), `mlflow_model` or `triton_model`.
        model_type: opt ModelType,
        /// Description.
        description: opt String,
    }
}
