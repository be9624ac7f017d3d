//! AKS computes of a workspace: an attached cluster or one the workspace creates; only the description changes in place.

use super::ML_SECRETS;
use super::{Field, KindDef, LockGroup, Replace, Scope, canon, refs};
use crate::arm::MapContext;
use crate::json;
use crate::model::{Body, Kind, Resource};
use crate::naming;
use moat_spec::ast::{self, KindSpec};
use serde_json::{Value, json};

pub(crate) static DEF: KindDef = KindDef {
    kind: Kind::AksCompute,
    word: "aks_compute",
    arm_type: "Microsoft.MachineLearningServices/workspaces/computes",
    api_version: "2024-04-01",
    scope: Scope::Child {
        parent: Kind::MlWorkspace,
        segment: "computes",
    },
    name_rule: naming::ML_COMPUTE,
    typical_seconds: 60,
    replace: Replace::Allowed,
    delete_query: &[("underlyingResourceAction", "Delete")],
    lock_group: LockGroup::None,
    has_location: true,
    taggable: true,
    fields: &[
        Field::new("properties.description", canon::same),
        Field::new("properties.resourceId", canon::id_of).immutable(),
        Field::new("properties.properties.clusterPurpose", canon::lower).immutable(),
        Field::new("properties.properties.agentCount", canon::same).immutable(),
        Field::new("properties.properties.agentVmSize", canon::lower).immutable(),
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
        Field::new("properties.properties.loadBalancerType", canon::lower).immutable(),
        Field::new("properties.properties.loadBalancerSubnet", canon::same).immutable(),
    ],
    immutable_unlisted: true,
    carry_over: &[],
    secrets: ML_SECRETS,
    body,
    read_in_parent: false,
    deletes_children: &[],
    guards_contents: None,
    soft_delete: None,
    replaced_with: &[refs::CLUSTER],
};

fn body(
    r: &Resource,
    b: &mut Value,
    _ctx: &MapContext,
    reference: &dyn Fn(&str) -> Option<String>,
) {
    let Body::Spec(KindSpec::AksCompute(c)) = &r.body else {
        return;
    };
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
        if let Some(l) = &cr.load_balancer_type {
            let t = if l.value == ast::LoadBalancerType::InternalLoadBalancer {
                "InternalLoadBalancer"
            } else {
                "PublicIp"
            };
            p(b, "loadBalancerType", json!(t));
        }
        if let Some(s) = &cr.load_balancer_subnet {
            p(b, "loadBalancerSubnet", json!(s.value));
        }
    }
}
