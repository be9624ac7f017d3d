//! Microsoft.KubernetesConfiguration extensions on an AKS cluster, as the emulator answers
//! them: the PUT's LRO below the extension itself, protected settings never read back, the
//! Azure ML extension's settings taken exactly as sent (its casing trap), the recorded DELETE,
//! and the extension going with its cluster.

mod common;

use common::*;
use serde_json::{Value, json};

const EXT: &str = "2023-05-01";

/// A resource group with a cluster of `nodes` nodes; returns the cluster's path.
async fn cluster(arm: &Arm, nodes: u32) -> String {
    let r = arm
        .put(&rg_path("rg"), RES, json!({"location": "eastus2"}))
        .await;
    assert!(r.status < 300, "{}", r.body);
    let aks = res("rg", "Microsoft.ContainerService/managedClusters/k");
    arm.put_wait(&aks, AKS, json!({"location": "eastus2", "identity": {"type": "SystemAssigned"}, "properties": {"dnsPrefix": "k",
        "agentPoolProfiles": [{"name": "sys", "mode": "System", "count": nodes, "vmSize": "Standard_D4s_v3"}],
        "networkProfile": {"networkPlugin": "azure"}}}))
        .await;
    aks
}

fn azureml(settings: Value, protected: Value) -> Value {
    json!({"properties": {"extensionType": "microsoft.azureml.kubernetes", "autoUpgradeMinorVersion": true,
        "releaseTrain": "stable", "scope": {"cluster": {"releaseNamespace": "azureml"}},
        "configurationSettings": settings, "configurationProtectedSettings": protected}})
}

#[tokio::test]
async fn the_azureml_extension_installs_as_an_lro_and_hides_its_protected_settings() {
    // Slow enough to see it `Creating` (its 240 s install in 0.5 s).
    let (_sim, arm) = start(moat_sim::SimConfig {
        time_scale: 0.002,
        ..fast()
    })
    .await;
    let aks = cluster(&arm, 3).await;
    let ext = format!("{aks}/providers/Microsoft.KubernetesConfiguration/extensions/azureml");

    let r = arm.get(&ext, EXT).await;
    assert_eq!(r.status, 404, "{}", r.body);
    let settings = json!({"enableInference": "True", "inferenceRouterServiceType": "LoadBalancer",
        "internalLoadBalancerProvider": "azure", "inferenceRouterHA": "False", "allowInsecureConnections": "True"});
    let r = arm
        .put(
            &ext,
            EXT,
            azureml(settings.clone(), json!({"sslKeyPemFile": "KEY-MATERIAL"})),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.str("/properties/provisioningState"), "Creating");
    let ao = r.header("azure-asyncoperation").expect("poll URL");
    assert!(
        ao.contains("/extensions/azureml/operations/"),
        "the definition's OperationStatus_Get: {ao}"
    );
    assert!(!r.body.to_string().contains("KEY-MATERIAL"));
    let done = arm.wait(&r).await.expect("polled");
    assert_eq!(done.str("/status"), "Succeeded", "{}", done.body);
    assert!(
        done.body["id"]
            .as_str()
            .unwrap()
            .ends_with(&done.body["name"].as_str().unwrap().to_string())
    );

    let g = arm.get(&ext, EXT).await;
    assert_eq!(g.str("/properties/provisioningState"), "Succeeded");
    assert_eq!(g.body["properties"]["configurationSettings"], settings);
    assert!(
        g.body["properties"]
            .get("configurationProtectedSettings")
            .is_none(),
        "x-ms-secret: never returned: {}",
        g.body
    );
    assert!(!g.body.to_string().contains("KEY-MATERIAL"));
    assert!(g.body["properties"]["currentVersion"].is_string());
    let list = arm
        .get(
            &format!("{aks}/providers/Microsoft.KubernetesConfiguration/extensions"),
            EXT,
        )
        .await;
    assert_eq!(list.body["value"].as_array().map(Vec::len), Some(1));

    // The extension type cannot change; another api-version is refused.
    let r = arm
        .put(
            &ext,
            EXT,
            json!({"properties": {"extensionType": "microsoft.dapr"}}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = arm.get(&ext, "2022-11-01").await;
    assert_eq!(r.code(), "NoRegisteredProviderFound");

    // DELETE: 200 at once with the recorded body; a second one 204.
    let r = arm.delete(&ext, EXT).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["isSuccessStatusCode"], json!(true));
    assert_eq!(arm.get(&ext, EXT).await.status, 404);
    assert_eq!(arm.delete(&ext, EXT).await.status, 204);
}

#[tokio::test]
async fn the_azureml_extension_takes_its_setting_keys_exactly() {
    let (_sim, arm) = start(fast()).await;
    let aks = cluster(&arm, 1).await;
    let ext = format!("{aks}/providers/Microsoft.KubernetesConfiguration/extensions/azureml");

    // Inference without a router service type is refused.
    let r = arm
        .put(
            &ext,
            EXT,
            azureml(json!({"enableInference": "True"}), json!({})),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "InvalidConfigurationSettings"),
        "{}",
        r.body
    );

    // `InferenceRouterHA` is not `inferenceRouterHA`: the default of three replicas stays and
    // the install fails on one node.
    let r = arm
        .put(
            &ext,
            EXT,
            azureml(
                json!({"enableInference": "True", "inferenceRouterServiceType": "LoadBalancer", "InferenceRouterHA": "False"}),
                json!({}),
            ),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let done = arm.wait(&r).await.expect("polled");
    assert_eq!(done.str("/status"), "Failed", "{}", done.body);
    assert!(
        done.body.to_string().contains("inferenceRouterHA"),
        "{}",
        done.body
    );
    let g = arm.get(&ext, EXT).await;
    assert_eq!(g.str("/properties/provisioningState"), "Failed");
    assert_eq!(
        g.str("/properties/errorInfo/code"),
        "ExtensionOperationFailed"
    );

    // Spelled as the extension reads it, the same install succeeds.
    let r = arm
        .put(
            &ext,
            EXT,
            azureml(
                json!({"enableInference": "True", "inferenceRouterServiceType": "LoadBalancer", "inferenceRouterHA": "False"}),
                json!({}),
            ),
        )
        .await;
    assert_eq!(r.status, 200, "an update: {}", r.body);
    let done = arm.wait(&r).await.expect("polled");
    assert_eq!(done.str("/status"), "Succeeded", "{}", done.body);
}

#[tokio::test]
async fn an_extension_needs_its_cluster_and_goes_with_it() {
    let (_sim, arm) = start(fast()).await;
    let r = arm
        .put(&rg_path("rg"), RES, json!({"location": "eastus2"}))
        .await;
    assert!(r.status < 300);
    let missing = res("rg", "Microsoft.ContainerService/managedClusters/nope")
        + "/providers/Microsoft.KubernetesConfiguration/extensions/azureml";
    let r = arm.put(&missing, EXT, azureml(json!({}), json!({}))).await;
    assert_eq!(
        (r.status, r.code()),
        (404, "ResourceNotFound"),
        "{}",
        r.body
    );

    let aks = cluster(&arm, 3).await;
    let ext = format!("{aks}/providers/Microsoft.KubernetesConfiguration/extensions/azureml");
    arm.put_wait(
        &ext,
        EXT,
        azureml(json!({"enableInference": "False"}), json!({})),
    )
    .await;
    let r = arm.delete(&aks, AKS).await;
    assert_eq!(r.status, 202);
    arm.wait(&r).await;
    assert_eq!(arm.get(&ext, EXT).await.status, 404);
}
