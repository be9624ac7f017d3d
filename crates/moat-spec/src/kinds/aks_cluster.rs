//! The `aks_cluster` kind: node pool, network profile and API server access. Its spec declaration: the fields, their docs and decoders.

use super::ManagedIdentities;
use crate::ast::List;
use crate::decode::Map;
use crate::{spec_enum, spec_struct};

spec_enum! {
    /// AKS network plugins.
    NetworkPlugin { Azure = "azure", Kubenet = "kubenet", None = "none" }
}

spec_enum! {
    /// AKS network plugin modes.
    NetworkPluginMode { Overlay = "overlay" }
}

spec_enum! {
    /// AKS network policies.
    NetworkPolicy { Azure = "azure", Calico = "calico", Cilium = "cilium" }
}

spec_enum! {
    /// AKS outbound routing.
    OutboundType {
        LoadBalancer = "load_balancer", UserDefinedRouting = "user_defined_routing",
        ManagedNatGateway = "managed_nat_gateway", UserAssignedNatGateway = "user_assigned_nat_gateway",
    }
}

spec_enum! {
    /// AKS control-plane tiers.
    AksTier { Free = "free", Standard = "standard", Premium = "premium" }
}

spec_struct! {
    /// Autoscaling of an AKS node pool.
    AutoScaling ("auto_scaling") {
        /// Fewest nodes, at most `max_count`.
        min_count: req u32,
        /// Most nodes.
        max_count: req u32,
    }
}

spec_struct! {
    /// Networking of an AKS cluster.
    AksNetwork ("an aks network") {
        /// `azure` (CNI, default) or `kubenet`.
        plugin: opt NetworkPlugin,
        /// `overlay` for Azure CNI overlay.
        plugin_mode: opt NetworkPluginMode,
        /// Network policy engine.
        policy: opt NetworkPolicy,
        /// Node subnet: `vnet/subnet` or an ARM ID.
        subnet: opt String,
        /// Kubernetes service range (default `10.0.0.0/16`); must not overlap any subnet.
        service_cidr: opt String,
        /// Cluster DNS address inside `service_cidr` (default `10.0.0.10`).
        dns_service_ip: opt String,
        /// Pod range (kubenet / overlay).
        pod_cidr: opt String,
        /// Docker bridge (deprecated by AKS; accepted and checked for overlaps).
        docker_bridge_cidr: opt String,
        /// Egress (default `load_balancer`).
        outbound_type: opt OutboundType,
    }
}

spec_enum! {
    /// How the Azure ML extension's inference router is reached.
    InferenceRouter {
        LoadBalancer = "load_balancer", InternalLoadBalancer = "internal_load_balancer",
        NodePort = "node_port", ClusterIp = "cluster_ip",
    }
}

spec_enum! {
    /// Release trains of a cluster extension.
    ReleaseTrain { Stable = "stable", Preview = "preview" }
}

spec_struct! {
    /// The Azure ML extension on an AKS cluster (`microsoft.azureml.kubernetes`), which lets a
    /// `kubernetes_compute` run online endpoints on it.
    MlExtension ("ml_extension") {
        /// Extension name (default `azureml`).
        name: opt String,
        /// How the inference router is reached: `load_balancer` (default), `internal_load_balancer` (a private IP in the cluster's subnet), `node_port` or `cluster_ip`.
        inference_router: opt InferenceRouter,
        /// Three router replicas instead of one (default true; needs at least 3 nodes).
        high_availability: opt bool,
        /// Serve online endpoints (default true).
        inference: opt bool,
        /// Run training jobs (default false).
        training: opt bool,
        /// Node labels the extension's pods must match.
        node_selector: opt Map<String>,
        /// Accept plain HTTP scoring (default true: TLS needs a certificate in the protected settings).
        allow_insecure_connections: opt bool,
        /// Release train (default `stable`).
        release_train: opt ReleaseTrain,
        /// Pin this extension version (turns minor-version auto-upgrade off).
        version: opt String,
    }
}

spec_struct! {
    /// An AKS managed cluster.
    AksCluster ("an aks_cluster") {
        /// The resource group: the key of a `resource_group` in this spec, or its ARM ID.
        resource_group: req String,
        /// Kubernetes version (default: Azure's current default).
        kubernetes_version: opt String,
        /// DNS prefix of the API server (default: the cluster name).
        dns_prefix: opt String,
        /// Nodes in the system pool, 1–1000 (default 3).
        node_count: opt u32,
        /// Node VM size (default `Standard_D4s_v3`).
        vm_size: opt String,
        /// System pool name (default `system`).
        node_pool_name: opt String,
        /// Pods per node, 10–250 (Azure's default: 30 with Azure CNI, 110 with kubenet).
        max_pods: opt u32,
        /// OS disk size in GB (default: Azure's, 128).
        os_disk_size_gb: opt u32,
        /// Autoscaling of the system pool.
        auto_scaling: opt AutoScaling,
        /// Networking.
        network: opt AksNetwork,
        /// Private API server (default false).
        private_cluster: opt bool,
        /// CIDRs allowed to reach a public API server.
        authorized_ip_ranges: opt List,
        /// Control-plane tier (default `free`).
        sku_tier: opt AksTier,
        /// Keep local accounts (default true; false requires Entra integration).
        local_accounts: opt bool,
        /// Managed identities: `{ system_assigned: true, user_assigned: [key] }`.
        identity: opt ManagedIdentities,
        /// The Azure ML extension (for `kubernetes_compute` inference).
        ml_extension: opt MlExtension,
    }
}
