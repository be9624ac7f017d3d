//! The Azure ML online endpoint behaviours the API definitions cannot say, as the emulator
//! reproduces them: traffic naming a missing deployment, a PUT without `traffic` resetting it,
//! PATCH limited to tags and identity / sku, a deployment with traffic refusing its delete,
//! the `mfeOperationsStatus` poll URL, DELETE 202 with a `null` body, server-added
//! `properties.properties` keys, and immutable asset versions.

mod common;

use common::*;
use serde_json::{Value, json};

/// A resource group with a workspace in it; returns the workspace's path.
async fn workspace(arm: &Arm) -> String {
    let r = arm
        .put(&rg_path("rg"), RES, json!({"location": "eastus2"}))
        .await;
    assert!(r.status < 300, "{}", r.body);
    let st = res("rg", "Microsoft.Storage/storageAccounts/mlstore01");
    let r = arm
        .put(
            &st,
            STORAGE,
            json!({"location": "eastus2", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}),
        )
        .await;
    arm.wait(&r).await;
    let kv = res("rg", "Microsoft.KeyVault/vaults/ml-vault-01");
    let r = arm.put(&kv, KV, json!({"location": "eastus2", "properties": {"tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "sku": {"family": "A", "name": "standard"}, "accessPolicies": []}})).await;
    assert!(r.status < 300, "{}", r.body);
    let ws = res("rg", "Microsoft.MachineLearningServices/workspaces/ws");
    let r = arm
        .put(
            &ws,
            ML,
            json!({"location": "eastus2", "properties": {"storageAccount": st, "keyVault": kv}}),
        )
        .await;
    assert!(r.status < 300, "{}", r.body);
    arm.wait(&r).await;
    ws
}

fn endpoint_body(traffic: Option<Value>) -> Value {
    let mut b = json!({"location": "eastus2", "properties": {"authMode": "Key"}});
    if let Some(t) = traffic {
        b["properties"]["traffic"] = t;
    }
    b
}

fn deployment_body() -> Value {
    json!({"location": "eastus2", "sku": {"name": "Default", "capacity": 1},
           "properties": {"endpointComputeType": "Managed", "instanceType": "Standard_DS3_v2"}})
}

#[tokio::test]
async fn traffic_rules_of_online_endpoints() {
    let (_sim, arm) = start(fast()).await;
    let ws = workspace(&arm).await;
    let ep = format!("{ws}/onlineEndpoints/scoring");

    // Traffic cannot name a deployment that does not exist yet (contoso-chat#139).
    let r = arm
        .put(&ep, ML, endpoint_body(Some(json!({"blue": 100}))))
        .await;
    assert_eq!((r.status, r.code()), (404, "UserError"), "{}", r.body);
    assert!(r.body.to_string().contains("Deployment blue not found"));

    let r = arm.put(&ep, ML, endpoint_body(None)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let ao = r.header("azure-asyncoperation").expect("poll header");
    assert!(ao.contains("/mfeOperationsStatus/"), "{ao}");
    arm.wait(&r).await;
    let g = arm.get(&ep, ML).await;
    assert_eq!(g.body["properties"]["traffic"], json!({}));
    assert!(
        g.body["properties"]["properties"]
            .get("azureml.onlineendpointid")
            .is_some(),
        "{}",
        g.body
    );

    let blue = format!("{ep}/deployments/blue");
    let r = arm.put_wait(&blue, ML, deployment_body()).await;
    // Azure ML's own bucket for deployment writes (the recording: 24 left after one PUT),
    // not ARM's writes bucket.
    assert_eq!(
        r.header("x-ms-ratelimit-remaining-subscription-resource-requests")
            .as_deref(),
        Some("24")
    );
    assert!(
        r.header("x-ms-ratelimit-remaining-subscription-writes")
            .is_none()
    );
    let r = arm
        .put(&ep, ML, endpoint_body(Some(json!({"blue": 100}))))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    arm.wait(&r).await;
    assert_eq!(
        arm.get(&ep, ML).await.body["properties"]["traffic"]["blue"],
        100
    );

    // A deployment that carries traffic cannot be deleted: 202 with a `null` body, then the
    // operation fails (the recording test_online_endpoint_k8s_deployment_cpu) and it stays.
    let r = arm.delete(&blue, ML).await;
    assert_eq!((r.status, &r.body), (202, &Value::Null));
    let done = arm.wait(&r).await.expect("polled");
    assert_eq!(done.str("/status"), "Failed", "{}", done.body);
    assert_eq!(done.str("/error/code"), "InferencingClientCallFailed");
    assert!(done.body.to_string().contains("non-zero traffic weight"));
    assert_eq!(arm.get(&blue, ML).await.status, 200);

    // PATCH takes tags and identity only; traffic needs a PUT.
    let r = arm
        .patch(&ep, ML, json!({"properties": {"traffic": {"blue": 0}}}))
        .await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = arm.patch(&ep, ML, json!({"tags": {"a": "b"}})).await;
    assert_eq!(r.status, 202, "{}", r.body);

    // A PUT without `traffic` resets it (genaiops-promptflow-template#182).
    let r = arm.put(&ep, ML, endpoint_body(None)).await;
    arm.wait(&r).await;
    assert_eq!(
        arm.get(&ep, ML).await.body["properties"]["traffic"],
        json!({})
    );
    let r = arm.delete(&blue, ML).await;
    assert_eq!((r.status, &r.body), (202, &Value::Null));
    let done = arm.wait(&r).await.expect("polled");
    assert_eq!(done.str("/status"), "Succeeded", "{}", done.body);

    // Endpoint DELETE: 202 whose body is `null`.
    let r = arm.delete(&ep, ML).await;
    assert_eq!(r.status, 202);
    assert_eq!(r.body, Value::Null);
}

#[tokio::test]
async fn asset_versions_are_immutable() {
    let (_sim, arm) = start(fast()).await;
    let ws = workspace(&arm).await;
    let v = format!("{ws}/models/fraud/versions/3");
    let body = |uri: &str| json!({"properties": {"modelUri": uri}});
    let r = arm
        .put(&v, ML, body("azureml://datastores/d/paths/a"))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.str("/properties/modelType"), "custom_model");
    let r = arm
        .put(&v, ML, body("azureml://datastores/d/paths/a"))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let r = arm
        .put(&v, ML, body("azureml://datastores/d/paths/b"))
        .await;
    assert_eq!((r.status, r.code()), (400, "UserError"), "{}", r.body);
}

#[tokio::test]
async fn endpoint_polls_say_updating_until_succeeded() {
    // Slow enough to poll an endpoint create (90 s) while it runs.
    let (_sim, arm) = start(moat_sim::SimConfig {
        time_scale: 0.01,
        ..fast()
    })
    .await;
    let ws = workspace(&arm).await;
    let ep = format!("{ws}/onlineEndpoints/scoring");
    let r = arm.put(&ep, ML, endpoint_body(None)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let ao = r.header("azure-asyncoperation").expect("poll header");
    let p = arm.call_url("GET", &ao, None).await;
    // The recordings: `Updating` (never `InProgress`), `percentComplete` 0.0, the op's name.
    assert_eq!(p.str("/status"), "Updating", "{}", p.body);
    assert_eq!(p.body["percentComplete"], json!(0.0));
    assert!(p.body["name"].is_string() && p.body["startTime"].is_string());
    let done = arm.wait(&r).await.expect("polled");
    assert_eq!(done.str("/status"), "Succeeded");
    assert_eq!(done.body["percentComplete"], json!(100.0));
    assert!(done.body["endTime"].is_string());
}
