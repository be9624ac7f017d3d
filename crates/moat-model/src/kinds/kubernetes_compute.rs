//! Kubernetes computes of a workspace: an AKS cluster with the Azure ML extension, attached
//! (computeType `Kubernetes`). Destroying one detaches it and leaves the cluster alone.

use super::{Field, KindDef, ML_SECRETS, Scope, ScopeRef, Site, canon, refs};
use crate::arm::MapContext;
use crate::model::{Body, Kind, Resource};
use crate::resolve::Resolver;
use crate::{json, naming};
use moat_spec::ast::{self, KindSpec};
use moat_spec::{Diagnostic, Spanned, codes, suggest::did_you_mean};
use serde_json::{Map, Value, json};

pub(crate) static DEF: KindDef = KindDef {
    scope_ref: Some(ScopeRef {
        field: refs::WORKSPACE,
        get: scope_ref,
    }),
    // Detach: the cluster belongs to the `aks_cluster` resource, not to the workspace.
    delete_query: &[("underlyingResourceAction", "Detach")],
    fields: &[
        Field::new("properties.description", canon::same),
        Field::new("properties.resourceId", canon::id_of).immutable(),
        Field::new("properties.properties.namespace", canon::same)
            .default("\"default\"")
            .immutable(),
        Field::new("properties.properties.instanceTypes", canon::same).immutable(),
        Field::new("properties.properties.defaultInstanceType", canon::same).immutable(),
    ],
    immutable_unlisted: true,
    secrets: ML_SECRETS,
    replaced_with: &[refs::CLUSTER],
    ..KindDef::new(
        Kind::KubernetesCompute,
        "kubernetes_compute",
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

fn quantities(q: &ast::InstanceQuantities) -> Value {
    let mut m = Map::new();
    // The compute's instance types spell the GPU key as Kubernetes does.
    for (k, v) in [
        ("cpu", &q.cpu),
        ("memory", &q.memory),
        ("nvidia.com/gpu", &q.gpu),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), json!(v.value));
        }
    }
    Value::Object(m)
}

fn body(r: &Resource, b: &mut Value, _ctx: &MapContext) {
    let Body::Spec(KindSpec::KubernetesCompute(c)) = &r.body else {
        return;
    };
    json::set(b, "properties.computeType", json!("Kubernetes"));
    if let Some(id) = super::ref_id(r, refs::CLUSTER) {
        json::set(b, "properties.resourceId", json!(id));
    }
    if let Some(d) = &c.description {
        json::set(b, "properties.description", json!(d.value));
    }
    let ns = c.namespace.as_ref().map_or("default", |n| n.value.as_str());
    json::set(b, "properties.properties.namespace", json!(ns));
    if let Some(types) = &c.instance_types {
        let mut m = Map::new();
        for (name, t) in types.value.iter() {
            let t = &t.value;
            let mut res = Map::new();
            if let Some(q) = &t.requests {
                res.insert("requests".into(), quantities(&q.value));
            }
            if let Some(q) = &t.limits {
                res.insert("limits".into(), quantities(&q.value));
            }
            let sel = t.node_selector.as_ref().map_or(Value::Null, |s| {
                Value::Object(
                    s.value
                        .iter()
                        .map(|(k, v)| (k.value.clone(), json!(v.value)))
                        .collect(),
                )
            });
            m.insert(
                name.value.clone(),
                json!({"nodeSelector": sel, "resources": Value::Object(res)}),
            );
        }
        json::set(b, "properties.properties.instanceTypes", Value::Object(m));
    }
    if let Some(d) = &c.default_instance_type {
        json::set(
            b,
            "properties.properties.defaultInstanceType",
            json!(d.value),
        );
    }
}

/// Binds the cluster; the default instance type must be one of `instance_types`.
fn check(rs: &mut Resolver<'_>, spec: &KindSpec, site: Site<'_>) {
    let Site { refs, .. } = site;
    let KindSpec::KubernetesCompute(c) = spec else {
        return;
    };
    let cluster = rs.bind(&c.cluster, refs::CLUSTER, &[Kind::AksCluster]);
    // Attaching needs the cluster's Azure ML extension installed first.
    if let Some(ext) = cluster.as_ref().and_then(|r| extension_of(rs, r)) {
        refs.push(ext);
    }
    refs.extend(cluster);
    if let (Some(d), Some(types)) = (&c.default_instance_type, &c.instance_types)
        && types.value.get(&d.value).is_none()
    {
        let hint = did_you_mean(&d.value, types.value.iter().map(|(k, _)| k.value.as_str()))
            .map_or_else(
                || "name one of `instance_types`".to_string(),
                |s| format!("did you mean `{s}`?"),
            );
        rs.push(
            Diagnostic::error(
                codes::E0203,
                format!("`{}` is not one of `instance_types`", d.value),
                d.span,
            )
            .label("no such instance type")
            .hint(hint),
        );
    }
}

/// A reference to the ML extension of the bound cluster `cluster`, when the cluster is in this
/// spec and declares one (lint ML5xx reports a cluster without one).
fn extension_of(rs: &Resolver<'_>, cluster: &crate::model::Ref) -> Option<crate::model::Ref> {
    let key = cluster.target.as_deref()?;
    let Some(KindSpec::AksCluster(a)) = rs.syms.get(key)?.res.body.as_ref() else {
        return None;
    };
    let name = a
        .ml_extension
        .as_ref()?
        .value
        .name
        .as_ref()
        .map_or(super::ml_extension::DEFAULT_NAME, |n| n.value.as_str());
    Some(crate::model::Ref {
        field: refs::CLUSTER_EXTENSION.to_string(),
        span: cluster.span,
        target: Some(super::ml_extension::child_key(key)),
        id: format!("{}/{}/{name}", cluster.id, super::ml_extension::SEGMENT),
        kind: Kind::MlExtension,
    })
}

fn scope_ref(spec: &KindSpec) -> Option<&Spanned<String>> {
    match spec {
        KindSpec::KubernetesCompute(x) => Some(&x.workspace),
        _ => None,
    }
}
