//! The Azure ML extension of an AKS cluster (`ml_extension:` on an `aks_cluster`): a child
//! `Microsoft.KubernetesConfiguration/extensions` resource of the cluster, of extension type
//! `microsoft.azureml.kubernetes`, that a `kubernetes_compute` needs before Azure ML can run
//! online endpoints on the cluster.
//!
//! Azure takes the extension's settings as a flat map of strings whose keys are Helm values:
//! a misspelled key is silently ignored (`InferenceRouterHA` instead of `inferenceRouterHA`
//! leaves the default of three router replicas, which fails on a small cluster: MicrosoftDocs
//! azure-ai-docs PR #458), and `internalLoadBalancerProvider: azure` is what makes the router's
//! load balancer internal (MicrosoftDocs azure-docs PR #107910). The spec types them
//! (`inference_router: internal_load_balancer`, `high_availability: false`) and this file is
//! the only place that spells the keys.
//!
//! `configurationProtectedSettings` is `x-ms-secret` in `extensions.json` (2023-05-01): it is
//! sent, never read back (a GET leaves its values out), never shown and never stored.

use super::{Field, KindDef, Scope, canon};
use crate::arm::MapContext;
use crate::model::{Body, Kind, Resource};
use crate::resolve::Resolver;
use crate::{json, naming};
use moat_spec::ast::{InferenceRouter, KindSpec, MlExtension, ReleaseTrain};
use moat_spec::{Diagnostic, Spanned, codes};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The extension type Azure ML registers with Microsoft.KubernetesConfiguration.
pub const EXTENSION_TYPE: &str = "microsoft.azureml.kubernetes";

/// The URL segment between a cluster's ID and its extensions' names.
pub(crate) const SEGMENT: &str = "providers/Microsoft.KubernetesConfiguration/extensions";

/// The extension's name when the spec gives none.
pub const DEFAULT_NAME: &str = "azureml";

/// The namespace the extension installs into (Azure ML's own; the extension creates it).
const RELEASE_NAMESPACE: &str = "azureml";

pub(crate) static DEF: KindDef = KindDef {
    fields: &[
        Field::new("properties.extensionType", canon::lower).immutable(),
        Field::new("properties.scope.cluster.releaseNamespace", canon::same).immutable(),
        Field::new("properties.autoUpgradeMinorVersion", canon::same).default("true"),
        Field::new("properties.releaseTrain", canon::lower).default("\"stable\""),
        Field::new("properties.version", canon::same).default("null"),
        Field::new("properties.configurationSettings", settings).default("{}"),
        // Secret (the kind's `secrets`) and never returned: an absent live value compares as
        // the last applied one, which is never stored either, so it never shows as drift.
        Field::new("properties.configurationProtectedSettings", protected).write_only(),
    ],
    secrets: &["configurationProtectedSettings"],
    has_location: false,
    taggable: false,
    holds_data: Some("the Azure ML workloads on the cluster (its endpoints stop serving)"),
    ..KindDef::new(
        Kind::MlExtension,
        "ml_extension",
        "Microsoft.KubernetesConfiguration/extensions",
        "2023-05-01",
        Scope::Child {
            parent: Kind::AksCluster,
            segment: SEGMENT,
        },
        naming::CLUSTER_EXTENSION,
        // The extension's Helm install: several minutes (no recording of this type; the dapr
        // one in the kit's k8s-extension recording was still `Creating` after its GETs).
        300,
        body,
        check,
    )
};

/// Setting keys whose values are words Azure compares without case (`True`, `LoadBalancer`).
const WORD_KEYS: &[&str] = &[
    "enableTraining",
    "enableInference",
    "inferenceRouterServiceType",
    "inferenceRouterHA",
    "allowInsecureConnections",
    "internalLoadBalancerProvider",
];

/// The settings map with its word values folded (`True` = `true`); node selector values and
/// every key keep their case, which Helm does not fold.
fn settings(v: &Value) -> Option<Value> {
    let m = v.as_object()?;
    let out: Map<String, Value> = m
        .iter()
        .map(|(k, x)| {
            let x = if WORD_KEYS.contains(&k.as_str()) {
                canon::lower_value(x)
            } else {
                x.clone()
            };
            (k.clone(), x)
        })
        .collect();
    Some(Value::Object(out))
}

/// Protected settings: an empty map (what a GET returns) is unset.
fn protected(v: &Value) -> Option<Value> {
    v.as_object().filter(|m| !m.is_empty()).map(|_| v.clone())
}

fn word(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// The `configurationSettings` of an extension spec, keys spelled as the extension reads them.
pub fn configuration_settings(x: &MlExtension) -> Map<String, Value> {
    let flag = |f: &Option<Spanned<bool>>, default: bool| f.as_ref().map_or(default, |b| b.value);
    let mut m = Map::new();
    let inference = flag(&x.inference, true);
    m.insert(
        "enableTraining".into(),
        json!(word(flag(&x.training, false))),
    );
    m.insert("enableInference".into(), json!(word(inference)));
    if inference {
        let router = x
            .inference_router
            .as_ref()
            .map_or(InferenceRouter::LoadBalancer, |r| r.value);
        let service = match router {
            InferenceRouter::LoadBalancer | InferenceRouter::InternalLoadBalancer => "LoadBalancer",
            InferenceRouter::NodePort => "NodePort",
            InferenceRouter::ClusterIp => "ClusterIP",
        };
        m.insert("inferenceRouterServiceType".into(), json!(service));
        if router == InferenceRouter::InternalLoadBalancer {
            m.insert("internalLoadBalancerProvider".into(), json!("azure"));
        }
        m.insert(
            "inferenceRouterHA".into(),
            json!(word(flag(&x.high_availability, true))),
        );
        m.insert(
            "allowInsecureConnections".into(),
            json!(word(flag(&x.allow_insecure_connections, true))),
        );
    }
    for (k, v) in x.node_selector.iter().flat_map(|s| s.value.iter()) {
        m.insert(format!("nodeSelector.{}", k.value), json!(v.value));
    }
    m
}

fn body(r: &Resource, b: &mut Value, _ctx: &MapContext) {
    let Body::Spec(KindSpec::AksCluster(a)) = &r.body else {
        return;
    };
    let Some(x) = &a.ml_extension else {
        return;
    };
    let x = &x.value;
    json::set(b, "properties.extensionType", json!(EXTENSION_TYPE));
    json::set(
        b,
        "properties.scope",
        json!({ "cluster": { "releaseNamespace": RELEASE_NAMESPACE } }),
    );
    let train = match x.release_train.as_ref().map(|t| t.value) {
        Some(ReleaseTrain::Preview) => "preview",
        _ => "stable",
    };
    json::set(b, "properties.releaseTrain", json!(train));
    match &x.version {
        Some(v) => {
            // A pinned version needs auto-upgrade off (the definition's `version` text).
            json::set(b, "properties.autoUpgradeMinorVersion", json!(false));
            json::set(b, "properties.version", json!(v.value));
        }
        None => json::set(b, "properties.autoUpgradeMinorVersion", json!(true)),
    }
    json::set(
        b,
        "properties.configurationSettings",
        Value::Object(configuration_settings(x)),
    );
    // As the Azure CLI sends it when no protected setting is given (the kit's recording).
    json::set(b, "properties.configurationProtectedSettings", json!({}));
}

/// Checked by its cluster, which builds it.
fn check(_rs: &mut Resolver<'_>, _spec: &KindSpec, _site: super::Site<'_>) {}

/// The extension child of the cluster `key` (ID `cluster_id`), when its spec has one.
pub(crate) fn child(
    rs: &mut Resolver<'_>,
    key: &str,
    spec: &KindSpec,
    cluster_id: &str,
) -> Option<Resource> {
    let KindSpec::AksCluster(a) = spec else {
        return None;
    };
    let x = a.ml_extension.as_ref()?;
    let key_span = rs.syms[key].res.key.span;
    let name = match &x.value.name {
        Some(n) => {
            if let Err(why) = naming::CLUSTER_EXTENSION.check(&n.value) {
                rs.push(
                    Diagnostic::error(
                        codes::E0301,
                        format!("invalid cluster extension name `{}`", n.value),
                        n.span,
                    )
                    .label(why)
                    .maybe_hint(
                        naming::CLUSTER_EXTENSION
                            .suggest(&n.value)
                            .map(|s| format!("try `{s}`")),
                    ),
                );
            }
            n.clone()
        }
        None => Spanned::new(DEFAULT_NAME.to_string(), x.span),
    };
    Some(Resource {
        key: child_key(key),
        key_span,
        kind: Kind::MlExtension,
        id: format!("{cluster_id}/{SEGMENT}/{}", name.value),
        name,
        location: None,
        tags: BTreeMap::new(),
        parent: Some(key.to_string()),
        body: Body::Spec(spec.clone()),
        refs: Vec::new(),
        depends_on: Vec::new(),
        protect: None,
        span: x.span,
    })
}

/// The key of a cluster's extension child.
pub fn child_key(cluster: &str) -> String {
    format!("{cluster}/ml_extension")
}

#[cfg(test)]
mod tests {
    use crate::arm::{MapContext, project, request_body};
    use crate::model::Kind;
    use moat_spec::{SourceFile, VarOverrides};
    use serde_json::json;

    fn model(ext: &str) -> (crate::model::Model, Vec<moat_spec::Diagnostic>) {
        let text = format!(
            "stack: t\nlocation: eastus2\nresources:\n  rg: {{ type: resource_group }}\n  aks:\n    type: aks_cluster\n    resource_group: rg\n    ml_extension: {ext}\n"
        );
        let file = SourceFile::new("t.yaml", &text);
        let (spec, diags) = moat_spec::load(&file, &VarOverrides::default(), &|_: &str| None);
        assert!(diags.is_empty(), "{diags:?}");
        let (m, diags) = crate::resolve(&spec.unwrap(), &crate::Context::default());
        (m.unwrap(), diags)
    }

    #[test]
    fn settings_are_spelled_as_the_extension_reads_them() {
        let (m, diags) = model(
            "{ name: ml, inference_router: cluster_ip, node_selector: { pool: gpu }, version: 1.1.64 }",
        );
        assert!(diags.is_empty(), "{diags:?}");
        let r = m.get("aks/ml_extension").expect("child");
        assert_eq!(r.kind, Kind::MlExtension);
        assert!(r.id.ends_with(
            "/managedClusters/aks/providers/Microsoft.KubernetesConfiguration/extensions/ml"
        ));
        let b = request_body(&m, r, &MapContext::default());
        assert_eq!(
            b,
            json!({"properties": {
                "extensionType": "microsoft.azureml.kubernetes",
                "scope": {"cluster": {"releaseNamespace": "azureml"}},
                "releaseTrain": "stable", "autoUpgradeMinorVersion": false, "version": "1.1.64",
                "configurationSettings": {"enableTraining": "False", "enableInference": "True",
                    "inferenceRouterServiceType": "ClusterIP", "inferenceRouterHA": "True",
                    "allowInsecureConnections": "True", "nodeSelector.pool": "gpu"},
                "configurationProtectedSettings": {}}}),
            "no location, no tags: an extension is a proxy resource"
        );
        // `True` and `true` are one value; keys keep their case.
        let live = json!({"properties": {"configurationSettings": {"enableTraining": "false",
            "enableInference": "true", "inferenceRouterServiceType": "clusterip", "inferenceRouterHA": "TRUE",
            "allowInsecureConnections": "True", "nodeSelector.pool": "gpu"}}});
        let (want, have) = (project(r.kind, &b), project(r.kind, &live));
        assert_eq!(
            want.get("properties.configurationSettings"),
            have.get("properties.configurationSettings")
        );
        let misspelled =
            json!({"properties": {"configurationSettings": {"InferenceRouterHA": "False"}}});
        assert_ne!(
            project(r.kind, &misspelled).get("properties.configurationSettings"),
            want.get("properties.configurationSettings")
        );
        // The protected settings are a secret that is never read back.
        assert!(crate::arm::is_sensitive(
            r.kind,
            "properties.configurationProtectedSettings"
        ));
        assert!(!have.contains_key("properties.configurationProtectedSettings"));
        // The cluster depends on nothing of it; a Kubernetes compute would.
        assert_eq!(r.parent.as_deref(), Some("aks"));
    }

    #[test]
    fn without_inference_no_router_is_configured_and_bad_names_are_located() {
        let (m, _) = model("{ inference: false, training: true }");
        let r = m.get("aks/ml_extension").unwrap();
        let b = request_body(&m, r, &MapContext::default());
        assert_eq!(
            b["properties"]["configurationSettings"],
            json!({"enableTraining": "True", "enableInference": "False"})
        );
        let (_, diags) = model("{ name: Azure_ML }");
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert_eq!(diags[0].code, moat_spec::codes::E0301);
    }
}
