//! The `online_deployment` kind: a model served behind an online endpoint. Its spec declaration: the fields, their docs and decoders.

use crate::decode::Map;
use crate::{spec_enum, spec_struct};

spec_struct! {
    /// The scoring code of a deployment.
    DeploymentCode ("code") {
        /// An `ml_code` (key or ARM ID).
        code: req String,
        /// The scoring script, relative to the code's root, e.g. `score.py`.
        scoring_script: req String,
    }
}

spec_struct! {
    /// Kubernetes CPU, memory and GPU quantities.
    K8sQuantities ("resources") {
        /// CPU, e.g. `"1"` or `"500m"`.
        cpu: opt String,
        /// Memory, e.g. `1Gi`.
        memory: opt String,
        /// GPUs, e.g. `"1"`.
        gpu: opt String,
    }
}

spec_struct! {
    /// Container resource requests and limits (Kubernetes deployments only).
    K8sResources ("resources") {
        /// What the container is guaranteed.
        requests: opt K8sQuantities,
        /// What the container may use at most.
        limits: opt K8sQuantities,
    }
}

spec_enum! {
    /// How a deployment scales.
    ScaleType { Default = "default", TargetUtilization = "target_utilization" }
}

spec_struct! {
    /// Scale settings of a deployment.
    DeploymentScale ("scale") {
        /// `default` (a fixed `instance_count`) or `target_utilization` (Kubernetes autoscale).
        scale_type: req ScaleType,
        /// Fewest instances (autoscale).
        min_instances: opt u32,
        /// Most instances (autoscale).
        max_instances: opt u32,
        /// Target CPU utilisation in percent (default 70).
        target_utilization_percentage: opt u32,
        /// How often to evaluate, e.g. `1s`.
        polling_interval: opt String,
    }
}

spec_struct! {
    /// Request handling of a deployment.
    RequestSettings ("request") {
        /// Scoring timeout, e.g. `5s` (default).
        request_timeout: opt String,
        /// Concurrent requests per instance (default 1).
        max_concurrent_requests_per_instance: opt u32,
        /// How long a request may wait in the queue, e.g. `500ms`.
        max_queue_wait: opt String,
    }
}

spec_struct! {
    /// A liveness or readiness probe.
    Probe ("probe") {
        /// Failures before the container is restarted or marked not ready (default 30).
        failure_threshold: opt u32,
        /// Successes before it is healthy again (default 1).
        success_threshold: opt u32,
        /// Probe timeout, e.g. `2s`.
        timeout: opt String,
        /// Time between probes, e.g. `10s`.
        period: opt String,
        /// Delay before the first probe, e.g. `10s`.
        initial_delay: opt String,
    }
}

spec_struct! {
    /// A deployment of a model behind an online endpoint.
    OnlineDeployment ("an online_deployment") {
        /// The `online_endpoint` it belongs to.
        endpoint: req String,
        /// An `ml_model` (key), a model version's ARM ID, or an `azureml://registries/…` URI.
        model: opt String,
        /// An `ml_environment` (key), an environment version's ARM ID, or an `azureml://` URI.
        environment: opt String,
        /// The scoring code and script (create-only).
        code: opt DeploymentCode,
        /// A Kubernetes instance type of the compute, or a VM SKU on managed compute (create-only).
        instance_type: opt String,
        /// Instances (default scale; default 1).
        instance_count: opt u32,
        /// Container requests and limits (Kubernetes only).
        resources: opt Box<K8sResources>,
        /// Scale settings.
        scale: opt Box<DeploymentScale>,
        /// Request settings.
        request: opt Box<RequestSettings>,
        /// Liveness probe.
        liveness_probe: opt Box<Probe>,
        /// Readiness probe.
        readiness_probe: opt Box<Probe>,
        /// Environment variables of the container.
        environment_variables: opt Box<Map<String>>,
        /// Send logs and metrics to the workspace's Application Insights (default false).
        app_insights: opt bool,
        /// Description.
        description: opt String,
    }
}
