//! AKS computes of a workspace: an attached cluster or one the workspace creates; only the description changes in place.

use super::{Field, KindDef, ML_SECRETS, Scope, ScopeRef, Site, canon, refs};
use crate::arm::MapContext;
use crate::model::{Body, Kind, Resource};
use crate::resolve::Resolver;
use crate::{json, naming};
use moat_spec::ast::{self, KindSpec};
use moat_spec::{Diagnostic, Spanned, codes};
use serde_json::{Value, json};

pub(crate) static DEF: KindDef = KindDef {
    scope_ref: Some(ScopeRef {
        field: refs::WORKSPACE,
        get: scope_ref,
    }),
    delete_query: &[("underlyingResourceAction", "Delete")],
    // `Delete` deletes "the underlying compute" (the definition's `underlyingResourceAction`):
    // for an attached cluster, the user's AKS cluster. Only what Azure ML created is deleted.
    delete_query_of: Some(delete_query),
    // In-place changes: the only compute update of the definition is `Compute_Update`, whose
    // `ClusterUpdateParameters` carry AmlCompute scale settings alone (machineLearningServices.json
    // 2024-04-01); nothing of an `AKS` compute (`AKSSchema.properties`) changes through Azure ML
    // after creation. Replacing it deletes the cluster Azure ML created (`underlyingResourceAction=
    // Delete`) and every service deployed on it, so the routine changes (scale, node size, load
    // balancer) are refused with a hint instead; the networking ones still replace it.
    fields: &[
        Field::new("properties.description", canon::same),
        Field::new("properties.resourceId", canon::id_of).immutable(),
        Field::new("properties.properties.clusterPurpose", canon::lower).immutable(),
        // The cluster is scaled on the AKS cluster itself (`managedClusters/agentPools`
        // `count`, updatable in place in containerservice's `ManagedClusterAgentPoolProfile`).
        Field::new("properties.properties.agentCount", canon::same)
            .immutable()
            .refused(SCALE_HINT),
        Field::new("properties.properties.agentVmSize", canon::lower)
            .immutable()
            .refused(VM_SIZE_HINT),
        Field::new(
            "properties.properties.aksNetworkingConfiguration.subnetId",
            canon::id_of,
        )
        .immutable(),
        Field::new(
            "properties.properties.aksNetworkingConfiguration.serviceCidr",
            canon::same,
        )
        .immutable(),
        Field::new(
            "properties.properties.aksNetworkingConfiguration.dnsServiceIP",
            canon::same,
        )
        .immutable(),
        Field::new(
            "properties.properties.aksNetworkingConfiguration.dockerBridgeCidr",
            canon::same,
        )
        .immutable(),
        // An attached cluster's load balancer changes in place: Azure ML updates an attached
        // cluster with a PUT of the compute carrying the new `loadBalancerType` /
        // `loadBalancerSubnet` (the SDK v1 `AksCompute.update`); one it created does not
        // (`refused_for`).
        Field::new("properties.properties.loadBalancerType", canon::lower).default("\"publicip\""),
        Field::new("properties.properties.loadBalancerSubnet", canon::same),
    ],
    refused_for: Some(refused_for),
    immutable_unlisted: true,
    holds_data: Some(
        "the services deployed on it (and, for `create:`, the AKS cluster Azure ML built)",
    ),
    secrets: ML_SECRETS,
    replaced_with: &[refs::CLUSTER],
    ..KindDef::new(
        Kind::AksCompute,
        "aks_compute",
        "Microsoft.MachineLearningServices/workspaces/computes",
        "2024-04-01",
        Scope::Child {
            parent: Kind::MlWorkspace,
            segment: "computes",
        },
        naming::ML_COMPUTE,
        60,
        body,
        check,
    )
};

/// A load balancer change of a cluster Azure ML created is refused (`LOAD_BALANCER_HINT`); an
/// attached one's is an update.
fn refused_for(r: &Resource, path: &str) -> Option<&'static str> {
    let Body::Spec(KindSpec::AksCompute(c)) = &r.body else {
        return None;
    };
    let lb = matches!(
        path,
        "properties.properties.loadBalancerType" | "properties.properties.loadBalancerSubnet"
    );
    (lb && c.create.is_some()).then_some(LOAD_BALANCER_HINT)
}

/// `Detach` for a cluster Azure ML did not create: the live `isAttachedCompute` says so, or,
/// with no live body, the last applied body named a cluster (`cluster:` sets `resourceId`,
/// `create:` does not). `Delete` for what Azure ML built.
fn delete_query(
    live: Option<&Value>,
    applied: Option<&Value>,
) -> &'static [(&'static str, &'static str)] {
    let attached = match live.and_then(|l| json::get(l, "properties.isAttachedCompute")) {
        Some(v) => v.as_bool() == Some(true),
        None => applied
            .and_then(|a| a.get("properties.resourceId"))
            .is_some_and(|v| !v.is_null()),
    };
    if attached {
        &[("underlyingResourceAction", "Detach")]
    } else {
        &[("underlyingResourceAction", "Delete")]
    }
}

/// Why a new `agent_count` is refused, and what can make the change.
const SCALE_HINT: &str = "Azure ML cannot scale an AKS cluster after creating it (its compute update takes AmlCompute scale settings only); scale the cluster itself (`az aks scale` on the cluster named by the compute's `resourceId`, or its node pool's `count`) and keep `create.agent_count` at the value Azure ML created, or manage the cluster as an `aks_cluster` and attach it with `cluster:`; to build a new cluster instead, give the compute a new `name:`";

/// Why a new `vm_size` is refused.
const VM_SIZE_HINT: &str = "Azure ML cannot change the node size of an AKS cluster it created; add a node pool of the new size on the AKS cluster itself and keep `create.vm_size`, or give the compute a new `name:` to build a new cluster (its services are not moved)";

/// Why a new load balancer setting is refused.
const LOAD_BALANCER_HINT: &str = "Azure ML sets the scoring load balancer only when it creates the cluster, and no other Azure API changes it; keep the old value, or give the compute a new `name:` to build a new cluster with the new setting (its services are not moved)";

fn body(r: &Resource, b: &mut Value, _ctx: &MapContext) {
    let Body::Spec(KindSpec::AksCompute(c)) = &r.body else {
        return;
    };
    let reference = |field: &str| super::ref_id(r, field);
    json::set(b, "properties.computeType", json!("AKS"));
    if let Some(d) = &c.description {
        json::set(b, "properties.description", json!(d.value));
    }
    let purpose = |p: Option<ast::ClusterPurpose>| {
        if p == Some(ast::ClusterPurpose::DevTest) {
            "DevTest"
        } else {
            "FastProd"
        }
    };
    if let Some(id) = reference(refs::CLUSTER) {
        json::set(b, "properties.resourceId", json!(id));
        json::set(
            b,
            "properties.properties.clusterPurpose",
            json!(purpose(c.cluster_purpose.as_ref().map(|p| p.value))),
        );
        set_load_balancer(
            b,
            c.load_balancer_type.as_ref(),
            c.load_balancer_subnet.as_ref(),
        );
    }
    if let Some(cr) = &c.create {
        let cr = &cr.value;
        let p = |b: &mut Value, k: &str, v: Value| {
            json::set(b, &format!("properties.properties.{k}"), v)
        };
        p(
            b,
            "agentCount",
            json!(cr.agent_count.as_ref().map_or(3, |x| x.value)),
        );
        p(
            b,
            "agentVmSize",
            json!(
                cr.vm_size
                    .as_ref()
                    .map_or("Standard_D3_v2", |x| x.value.as_str())
            ),
        );
        p(
            b,
            "clusterPurpose",
            json!(purpose(cr.cluster_purpose.as_ref().map(|p| p.value))),
        );
        let mut netcfg = json!({});
        if let Some(id) = reference(refs::CREATE_SUBNET) {
            json::set(&mut netcfg, "subnetId", json!(id));
        }
        for (field, prop) in [
            (&cr.service_cidr, "serviceCidr"),
            (&cr.dns_service_ip, "dnsServiceIP"),
            (&cr.docker_bridge_cidr, "dockerBridgeCidr"),
        ] {
            if let Some(x) = field {
                json::set(&mut netcfg, prop, json!(x.value));
            }
        }
        if netcfg.as_object().is_some_and(|m| !m.is_empty()) {
            p(b, "aksNetworkingConfiguration", netcfg);
        }
        set_load_balancer(
            b,
            cr.load_balancer_type.as_ref(),
            cr.load_balancer_subnet.as_ref(),
        );
    }
}

/// `loadBalancerType` and `loadBalancerSubnet`, the same for an attached cluster and one
/// Azure ML creates.
fn set_load_balancer(
    b: &mut Value,
    kind: Option<&Spanned<ast::LoadBalancerType>>,
    subnet: Option<&Spanned<String>>,
) {
    if let Some(l) = kind {
        let t = if l.value == ast::LoadBalancerType::InternalLoadBalancer {
            "InternalLoadBalancer"
        } else {
            "PublicIp"
        };
        json::set(b, "properties.properties.loadBalancerType", json!(t));
    }
    if let Some(s) = subnet {
        // Azure wants the bare subnet name; the spec also accepts `vnet/name`.
        let name = s
            .value
            .rsplit_once('/')
            .map_or(s.value.as_str(), |(_, n)| n);
        json::set(b, "properties.properties.loadBalancerSubnet", json!(name));
    }
}

/// Offline checks of one `aks_compute`: what Azure would reject that can be known from the spec.
pub(crate) fn check(rs: &mut Resolver<'_>, spec: &KindSpec, site: Site<'_>) {
    let Site {
        key,
        location,
        refs,
        ..
    } = site;
    let KindSpec::AksCompute(c) = spec else {
        return;
    };
    match (&c.cluster, &c.create) {
        (Some(cl), Some(cr)) => {
            rs.push(
                    Diagnostic::error(codes::E0114, "give `cluster:` (attach) or `create:`, not both", cl.span)
                        .with_secondary(cr.span, "create")
                        .hint("attach an existing `aks_cluster` with `cluster:`, or let Azure ML build one with `create:`"),
                );
        }
        (None, None) => {
            rs.push(
                    Diagnostic::error(codes::E0112, format!("`{key}` needs `cluster:` or `create:`"), rs.syms[key].res.key.span)
                        .hint("attach an `aks_cluster` with `cluster: <key>`, or add `create: { agent_count: 3, … }`"),
                );
        }
        _ => {}
    }
    if let Some(cl) = &c.cluster {
        refs.extend(rs.bind(cl, refs::CLUSTER, &[Kind::AksCluster]));
    }
    for (f, what) in [
        (
            c.load_balancer_type.as_ref().map(|x| x.span),
            "load_balancer_type",
        ),
        (
            c.load_balancer_subnet.as_ref().map(|x| x.span),
            "load_balancer_subnet",
        ),
    ] {
        if let (Some(span), Some(_)) = (f, &c.create) {
            rs.push(
                Diagnostic::error(
                    codes::E0111,
                    format!("`{what}` belongs inside `create:` here"),
                    span,
                )
                .hint(format!("move it to `create.{what}`")),
            );
        }
    }
    if let (Some(lb), None) = (&c.load_balancer_subnet, &c.create) {
        let internal = c
            .load_balancer_type
            .as_ref()
            .is_some_and(|t| t.value == ast::LoadBalancerType::InternalLoadBalancer);
        if !internal {
            let mut d = Diagnostic::error(
                codes::E0114,
                "`load_balancer_subnet` needs an internal load balancer",
                lb.span,
            )
            .label("only an internal load balancer sits in a subnet")
            .hint("add `load_balancer_type: internal_load_balancer`, or remove `load_balancer_subnet`");
            if let Some(t) = &c.load_balancer_type {
                d = d.with_secondary(t.span, "a public endpoint");
            }
            rs.push(d);
        }
    }
    if let (Some(p), Some(_)) = (&c.cluster_purpose, &c.create) {
        rs.push(
            Diagnostic::error(
                codes::E0111,
                "`cluster_purpose` belongs inside `create:` here",
                p.span,
            )
            .hint("move it to `create.cluster_purpose`"),
        );
    }
    if let Some(cr) = &c.create {
        let cr = &cr.value;
        if let Some(n) = &cr.agent_count {
            rs.range(n, 1, 100, "agent_count");
        }
        let mut node_subnet_bound = false;
        if let Some(sn) = &cr.subnet
            && let Some(r) = rs.bind(sn, refs::CREATE_SUBNET, &[Kind::Subnet])
        {
            rs.check_same_region(key, location, &r, "an AKS compute");
            refs.push(r);
            node_subnet_bound = true;
        }
        if let Some(lb) = &cr.load_balancer_subnet {
            check_load_balancer_subnet(rs, cr, lb, node_subnet_bound);
        }
        rs.check_aks_ranges(
            cr.service_cidr.as_ref(),
            cr.dns_service_ip.as_ref(),
            cr.docker_bridge_cidr.as_ref(),
        );
    }
}

/// `create.load_balancer_subnet` names a subnet of the node subnet's network (Azure takes a
/// bare subnet name there and looks it up in that VNet) and only means something with an
/// internal load balancer: a public scoring endpoint has no subnet.
fn check_load_balancer_subnet(
    rs: &mut Resolver<'_>,
    cr: &ast::AksComputeCreate,
    lb: &Spanned<String>,
    node_subnet_bound: bool,
) {
    let internal = cr
        .load_balancer_type
        .as_ref()
        .is_some_and(|t| t.value == ast::LoadBalancerType::InternalLoadBalancer);
    if !internal {
        let mut d = Diagnostic::error(
            codes::E0114,
            "`load_balancer_subnet` needs an internal load balancer",
            lb.span,
        )
        .label("only an internal load balancer sits in a subnet")
        .hint("add `load_balancer_type: internal_load_balancer` to `create:`, or remove `load_balancer_subnet`");
        if let Some(t) = &cr.load_balancer_type {
            d = d.with_secondary(t.span, "a public endpoint");
        }
        rs.push(d);
        return;
    }
    let Some(node) = &cr.subnet else {
        rs.push(
            Diagnostic::error(
                codes::E0112,
                "`load_balancer_subnet` needs `create.subnet`",
                lb.span,
            )
            .label("a subnet of which network?")
            .hint("set `subnet:` (the node subnet, e.g. `vnet/aks`): the load balancer's subnet must be in the same VNet"),
        );
        return;
    };
    // The node subnet's own error (unknown network, …) was reported when it was bound; an ARM
    // ID or an `existing:` network has subnets moat does not know, so nothing more is checked.
    if !node_subnet_bound || node.value.starts_with('/') {
        return;
    }
    let Some((vnet, _)) = node.value.split_once('/') else {
        return;
    };
    let Some(sym) = rs.syms.get(vnet) else {
        return;
    };
    if sym.res.existing.is_some() || sym.res.broken {
        return;
    }
    // `vnet/lb` is accepted as well as the bare `lb`, as long as it is the node subnet's VNet.
    let name = match lb.value.split_once('/') {
        Some((other, name)) if other == vnet => name,
        Some((other, _)) => {
            let d = Diagnostic::error(
                codes::E0202,
                format!("the load balancer subnet must be in `{vnet}`, the node subnet's network, not `{other}`"),
                lb.span,
            )
            .label(format!("a subnet of `{other}`"))
            .with_secondary(node.span, "the node subnet")
            .hint(format!("name a subnet of `{vnet}`: Azure looks the name up in the cluster's VNet"));
            rs.push(d);
            return;
        }
        None => lb.value.as_str(),
    };
    let subnets: Vec<String> = sym.subnets.iter().map(|s| s.value.clone()).collect();
    if subnets.iter().any(|s| s == name) {
        return;
    }
    let hint = moat_spec::suggest::did_you_mean(name, subnets.iter().map(String::as_str))
        .map(|s| format!("did you mean `{s}`?"))
        .unwrap_or_else(|| {
            format!(
                "declare it under `{vnet}.subnets` (its subnets: {})",
                subnets.join(", ")
            )
        });
    rs.push(
        Diagnostic::error(
            codes::E0203,
            format!("virtual network `{vnet}` has no subnet `{name}`"),
            lb.span,
        )
        .label("no such subnet in the node subnet's network")
        .with_secondary(node.span, "the node subnet")
        .hint(hint),
    );
}

/// The `workspace:` naming its scope.
fn scope_ref(spec: &KindSpec) -> Option<&Spanned<String>> {
    match spec {
        KindSpec::AksCompute(x) => Some(&x.workspace),
        _ => None,
    }
}
