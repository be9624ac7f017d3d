//! The `aks_compute` kind: an AKS inference compute of a workspace (attach or create). Its spec declaration: the fields, their docs and decoders.

use crate::{spec_enum, spec_struct};

spec_enum! {
    /// What an AKS cluster attached to Azure ML is for; sets its minimum size.
    ClusterPurpose { FastProd = "fast_prod", DevTest = "dev_test" }
}

spec_enum! {
    /// How the scoring endpoint of an AKS compute is exposed.
    LoadBalancerType { PublicIp = "public_ip", InternalLoadBalancer = "internal_load_balancer" }
}

spec_struct! {
    /// An AKS cluster that Azure ML creates for inference.
    AksComputeCreate ("aks_compute create") {
        /// Nodes, 1–100 (default 3).
        agent_count: opt u32,
        /// Node VM size (default `Standard_D3_v2`).
        vm_size: opt String,
        /// `fast_prod` (default) or `dev_test`.
        cluster_purpose: opt ClusterPurpose,
        /// Node subnet.
        subnet: opt String,
        /// Service range.
        service_cidr: opt String,
        /// DNS address inside `service_cidr`.
        dns_service_ip: opt String,
        /// Docker bridge range.
        docker_bridge_cidr: opt String,
        /// Scoring endpoint exposure (default `public_ip`).
        load_balancer_type: opt LoadBalancerType,
        /// Subnet of the internal load balancer: a subnet of the node `subnet`'s VNet, by name or as `vnet/name`; needs `load_balancer_type: internal_load_balancer`.
        load_balancer_subnet: opt String,
    }
}

spec_struct! {
    /// An AKS inference compute of a workspace: attach `cluster:` or `create:` a new one.
    AksCompute ("an aks_compute") {
        /// The `ml_workspace` it belongs to.
        workspace: req String,
        /// An `aks_cluster` (or ARM ID) to attach.
        cluster: opt String,
        /// Purpose of the attached cluster (default `fast_prod`).
        cluster_purpose: opt ClusterPurpose,
        /// Scoring endpoint exposure of the attached cluster (default `public_ip`); changes in place.
        load_balancer_type: opt LoadBalancerType,
        /// Subnet of the attached cluster's internal load balancer (a subnet of the cluster's VNet, by name or as `vnet/name`); needs `load_balancer_type: internal_load_balancer`.
        load_balancer_subnet: opt String,
        /// Let Azure ML create the cluster.
        create: opt AksComputeCreate,
        /// Description.
        description: opt String,
    }
}
