//! The `kubernetes_compute` kind: an AKS cluster carrying the Azure ML extension, attached to a workspace as Kubernetes compute. Its spec declaration: the fields, their docs and decoders.

use crate::decode::Map;
use crate::spec_struct;

spec_struct! {
    /// Node resources of an instance type, as Kubernetes quantities.
    InstanceQuantities ("resources") {
        /// CPU, e.g. `"1"`.
        cpu: opt String,
        /// Memory, e.g. `4Gi`.
        memory: opt String,
        /// NVIDIA GPUs, e.g. `"1"`.
        gpu: opt String,
    }
}

spec_struct! {
    /// An instance type of a Kubernetes compute: where its pods run and what they get.
    InstanceType ("instance type") {
        /// Node labels the pods must match.
        node_selector: opt Map<String>,
        /// Guaranteed resources.
        requests: opt InstanceQuantities,
        /// Resource limits.
        limits: opt InstanceQuantities,
    }
}

spec_struct! {
    /// An AKS cluster attached to a workspace as Kubernetes compute (the v2 inference target).
    KubernetesCompute ("a kubernetes_compute") {
        /// The `ml_workspace` it belongs to.
        workspace: req String,
        /// The `aks_cluster` (key or ARM ID) to attach; it needs `ml_extension`.
        cluster: req String,
        /// The Kubernetes namespace of the workloads (default `default`).
        namespace: opt String,
        /// Instance types by name.
        instance_types: opt Map<InstanceType>,
        /// The instance type deployments get when they name none; a key of `instance_types`.
        default_instance_type: opt String,
        /// Description.
        description: opt String,
    }
}
