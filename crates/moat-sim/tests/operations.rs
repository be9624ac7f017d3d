//! Throttling, fault injection, persistence and recording.

mod common;

use common::*;
use moat_sim::{Bucket, Fault, FaultPlan, FaultRule, Limits, SimConfig, SimError};
use serde_json::json;

fn rule(method: Option<&str>, path: &str, fault: Fault, count: Option<u32>) -> FaultRule {
    FaultRule {
        method: method.map(str::to_string),
        path: path.into(),
        fault,
        skip: 0,
        count,
        probability: None,
    }
}

#[tokio::test]
async fn reads_are_throttled_per_subscription_with_headers() {
    let limits = Limits {
        reads: Some(Bucket {
            burst: 3.0,
            per_second: 0.5,
        }),
        ..Limits::default()
    };
    let (sim, arm) = start(SimConfig {
        time_scale: 0.0,
        limits,
        ..SimConfig::default()
    })
    .await;
    let w = arm
        .put(&rg_path("rg"), RES, json!({"location": "eastus"}))
        .await;
    assert_eq!(
        w.header("x-ms-ratelimit-remaining-subscription-writes")
            .as_deref(),
        Some("199")
    );
    let mut remaining = Vec::new();
    for _ in 0..3 {
        let r = arm.get(&rg_path("rg"), RES).await;
        assert_eq!(r.status, 200);
        remaining.push(
            r.header("x-ms-ratelimit-remaining-subscription-reads")
                .unwrap(),
        );
    }
    assert_eq!(remaining, vec!["2", "1", "0"]);
    let r = arm.get(&rg_path("rg"), RES).await;
    assert_eq!((r.status, r.code()), (429, "SubscriptionRequestsThrottled"));
    assert_eq!(r.header("retry-after").as_deref(), Some("2"));
    let other = "/subscriptions/99999999-1111-2222-3333-444444444444/resourcegroups/rg";
    assert_eq!(
        arm.get(other, RES).await.status,
        404,
        "another subscription has its own bucket"
    );
    let d = arm.delete(&rg_path("rg"), RES).await;
    assert_eq!(
        d.header("x-ms-ratelimit-remaining-subscription-deletes")
            .as_deref(),
        Some("199")
    );
    assert_eq!(sim.stats().throttled, 1);
}

#[tokio::test]
async fn faults_fire_as_planned() {
    let (sim, arm) = start(fast()).await;
    arm.put(&rg_path("rg"), RES, json!({"location": "eastus"}))
        .await;
    let vnet = res("rg", "Microsoft.Network/virtualNetworks/v");
    sim.set_faults(FaultPlan {
        seed: 1,
        rules: vec![
            rule(
                Some("GET"),
                "/resourcegroups/rg",
                Fault::Status {
                    status: 503,
                    html: true,
                    code: None,
                    message: None,
                },
                Some(1),
            ),
            rule(
                Some("GET"),
                "/resourcegroups/rg",
                Fault::Status {
                    status: 500,
                    html: false,
                    code: None,
                    message: None,
                },
                Some(1),
            ),
            rule(
                Some("GET"),
                "/resourcegroups/rg",
                Fault::Throttle { retry_after: 3 },
                Some(2),
            ),
            rule(
                Some("PUT"),
                "*/virtualNetworks/*",
                Fault::FailLro {
                    code: Some("InternalServerError".into()),
                    message: None,
                },
                Some(1),
            ),
            rule(Some("DELETE"), "/virtualnetworks/", Fault::Drop, Some(1)),
            rule(
                Some("HEAD"),
                "/resourcegroups/",
                Fault::Slow { delay_ms: 300 },
                Some(1),
            ),
        ],
    });
    let r = arm.get(&rg_path("rg"), RES).await;
    assert_eq!(r.status, 503);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let r = arm.get(&rg_path("rg"), RES).await;
    assert_eq!((r.status, r.code()), (500, "InternalServerError"));
    for _ in 0..2 {
        let r = arm.get(&rg_path("rg"), RES).await;
        assert_eq!(
            (r.status, r.header("retry-after").as_deref()),
            (429, Some("3"))
        );
    }
    assert_eq!(
        arm.get(&rg_path("rg"), RES).await.status,
        200,
        "the storm is over"
    );
    let r = arm.put(&vnet, NET, json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}})).await;
    assert_eq!(r.status, 201);
    let p = arm.wait(&r).await.unwrap();
    assert_eq!(p.str("/status"), "Failed");
    assert_eq!(p.str("/error/code"), "InternalServerError");
    assert_eq!(
        arm.get(&vnet, NET)
            .await
            .str("/properties/provisioningState"),
        "Failed"
    );
    let url = format!("{}{vnet}?api-version={NET}", arm.base);
    let err = arm.client.delete(&url).bearer_auth("t").send().await;
    assert!(err.is_err(), "dropped connection: {err:?}");
    let t = std::time::Instant::now();
    let h = arm.call("HEAD", &rg_path("rg"), RES, None).await;
    assert_eq!(h.status, 204);
    assert!(t.elapsed() >= std::time::Duration::from_millis(300));
    let stats = sim.stats();
    assert_eq!(stats.faults_injected, 7);
    assert_eq!(stats.throttled, 2);
    assert!(stats.requests["GET"] >= 5);
}

#[tokio::test]
async fn faults_file_loads_and_reports_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("faults.json");
    std::fs::write(&good, r#"{"seed": 3, "rules": [{"method": "PUT", "path": "*/storageAccounts/*", "fault": {"kind": "status", "status": 500}, "probability": 0.5}]}"#).unwrap();
    let plan = moat_sim::load_faults(&good).unwrap();
    assert_eq!(plan.rules.len(), 1);
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"rules": [{"path": "x", "fault": {"kind": "explode"}}]}"#,
    )
    .unwrap();
    let err = moat_sim::load_faults(&bad).unwrap_err();
    assert!(matches!(err, SimError::FaultsInvalid { .. }), "{err}");
    assert!(err.to_string().starts_with("faults file `"), "{err}");
}

#[tokio::test]
async fn state_survives_restarts_and_corruption_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("cloud").join("state.json");
    let config = || SimConfig {
        state_file: Some(file.clone()),
        ..fast()
    };
    let (sim, arm) = start(config()).await;
    arm.put(&rg_path("rg"), RES, json!({"location": "eastus"}))
        .await;
    arm.put_wait(
        &res("rg", "Microsoft.Network/networkSecurityGroups/n"),
        NET,
        json!({"location": "eastus"}),
    )
    .await;
    sim.shutdown().await;
    assert!(file.exists());
    let leftovers: Vec<_> = std::fs::read_dir(file.parent().unwrap())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name() != "state.json")
        .collect();
    assert!(leftovers.is_empty(), "no temporary files left behind");
    let (sim, arm) = start(config()).await;
    assert_eq!(
        arm.get(&res("rg", "Microsoft.Network/networkSecurityGroups/n"), NET)
            .await
            .status,
        200
    );
    sim.shutdown().await;
    std::fs::write(&file, "{ not json").unwrap();
    let err = moat_sim::start("127.0.0.1:0".parse().unwrap(), config())
        .await
        .unwrap_err();
    assert!(matches!(err, SimError::StateCorrupt { .. }));
    assert!(err.to_string().contains("is corrupted"), "{err}");
}

#[tokio::test]
async fn recordings_skip_polls_and_keep_the_traffic_format() {
    let dir = tempfile::tempdir().unwrap();
    let (sim, arm) = start(SimConfig {
        record_dir: Some(dir.path().to_path_buf()),
        ..fast()
    })
    .await;
    arm.put(&rg_path("rg"), RES, json!({"location": "eastus"}))
        .await;
    let r = arm
        .put(
            &res("rg", "Microsoft.Network/routeTables/rt"),
            NET,
            json!({"location": "eastus"}),
        )
        .await;
    arm.wait(&r).await;
    sim.shutdown().await;
    let mut files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&files[1]).unwrap()).unwrap();
    assert_eq!(doc["liveResponse"]["statusCode"], "201");
    assert_eq!(
        doc["liveRequest"]["headers"]["authorization"],
        "Bearer <redacted>"
    );
    assert!(
        doc["liveResponse"]["headers"]["content-type"]
            .as_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert!(doc["liveResponse"]["headers"]["azure-asyncoperation"].is_string());
}
