//! The recording (`--record DIR`) never holds a secret: App Insights keys and connection
//! strings, and secrets sent in request bodies, are written as `<redacted>`.

mod common;

use common::*;
use serde_json::{Value, json};

#[tokio::test]
async fn recordings_redact_keys_and_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, arm) = start(moat_sim::SimConfig {
        record_dir: Some(dir.path().to_path_buf()),
        ..fast()
    })
    .await;
    assert_eq!(
        arm.put(&rg_path("rg"), RES, json!({"location": "westus"}))
            .await
            .status,
        201
    );
    let ai = res("rg", "Microsoft.Insights/components/ai");
    let r = arm
        .put(
            &ai,
            INSIGHTS,
            json!({"location": "westus", "kind": "web", "properties": {"Application_Type": "web"}}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let ikey = r.str("/properties/InstrumentationKey").to_string();
    let conn = r.str("/properties/ConnectionString").to_string();
    assert!(!ikey.is_empty() && conn.contains(&ikey), "{}", r.body);
    let got = arm.get(&ai, INSIGHTS).await;
    assert_eq!(got.str("/properties/InstrumentationKey"), ikey);
    // A secret in a request body (here one the service rejects) is not written either.
    let aks = res("rg", "Microsoft.ContainerService/managedClusters/k");
    arm.put(
        &aks,
        AKS,
        json!({"location": "westus", "properties": {
            "servicePrincipalProfile": {"clientId": "app", "secret": "sp-secret-value"},
            "agentPoolProfiles": []
        }}),
    )
    .await;
    sim.shutdown().await;

    let mut files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut put_ai = None;
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        assert!(!text.contains(&ikey), "{} holds the key", f.display());
        assert!(
            !text.contains("sp-secret-value"),
            "{} holds a secret",
            f.display()
        );
        let doc: Value = serde_json::from_str(&text).unwrap();
        if doc["liveRequest"]["method"] == "PUT"
            && doc["liveRequest"]["url"]
                .as_str()
                .is_some_and(|u| u.contains("/components/ai"))
        {
            put_ai = Some(doc);
        }
    }
    assert!(files.len() >= 4, "{files:?}");
    let doc = put_ai.expect("the component PUT is recorded");
    let props = &doc["liveResponse"]["body"]["properties"];
    assert_eq!(props["InstrumentationKey"], "<redacted>");
    assert_eq!(props["ConnectionString"], "<redacted>");
    assert_eq!(props["Application_Type"], "web", "other fields are kept");
}
