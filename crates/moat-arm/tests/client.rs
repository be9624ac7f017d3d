//! The client against a scripted loopback server: headers, errors, retries, the
//! write-outcome check, long-running operations, throttling, the HTTP log and credentials.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{FakeServer, Reply, client, fast_config, rg_id};
use moat_arm::{
    Arm, ArmClient, ArmError, BucketLimit, ClientLimits, Credentials, DEV_TOKEN, Method, Operation,
    Poll, WriteRequest,
};
use serde_json::json;

const VNET: &str = "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v1";

#[tokio::test]
async fn get_sends_arm_headers_and_returns_the_body() {
    let server = FakeServer::scripted(vec![
        Reply::json(
            200,
            json!({"name": "rg", "properties": {"provisioningState": "Succeeded"}}),
        )
        .header("x-ms-request-id", "r-1"),
    ])
    .await;
    let arm = client(&server.url()).await;
    let body = arm.get(&rg_id("rg"), "2024-07-01").await.expect("get");
    assert_eq!(body.expect("present")["name"], "rg");
    let seen = &server.seen()[0];
    assert_eq!(seen.method, "GET");
    assert_eq!(
        seen.target,
        format!("{}?api-version=2024-07-01", rg_id("rg"))
    );
    assert_eq!(
        seen.header("authorization"),
        Some(format!("Bearer {DEV_TOKEN}").as_str())
    );
    assert_eq!(
        seen.header("user-agent"),
        Some(format!("moat/{}", env!("CARGO_PKG_VERSION")).as_str())
    );
    let request_id = seen
        .header("x-ms-client-request-id")
        .expect("client request id");
    assert_eq!(request_id.len(), 36, "{request_id}");
    assert_eq!(arm.stats().requests_sent, 1);
}

#[tokio::test]
async fn not_found_shapes_read_as_absent() {
    let server = FakeServer::scripted(vec![
        Reply::json(404, json!({"error": {"code": "ResourceNotFound", "message": "gone"}})),
        Reply::json(404, json!({"error": {"code": "ResourceGroupNotFound", "message": "no rg"}})),
        Reply::json(404, json!({"code": "NotFound", "message": "aks says no", "subcode": "GetManagedCluster_NotFound"})),
        Reply::status(404),
    ])
    .await;
    let arm = client(&server.url()).await;
    for _ in 0..4 {
        assert_eq!(arm.get(VNET, "2024-03-01").await.expect("absent"), None);
    }
}

#[tokio::test]
async fn errors_carry_status_code_and_ids() {
    let server = FakeServer::scripted(vec![
        Reply::json(
            403,
            json!({"error": {"code": "AuthorizationFailed", "message": "No access.", "target": "vnet"}}),
        )
        .header("x-ms-request-id", "req-9")
        .header("x-ms-correlation-request-id", "corr-9"),
    ])
    .await;
    let arm = client(&server.url()).await;
    let err = arm.get(VNET, "2024-03-01").await.expect_err("403");
    let ArmError::Http {
        status,
        code,
        target,
        request_id,
        correlation_id,
        ..
    } = &err
    else {
        panic!("expected Http, got {err:?}");
    };
    assert_eq!(*status, 403);
    assert_eq!(code, "AuthorizationFailed");
    assert_eq!(target.as_deref(), Some("vnet"));
    assert_eq!(request_id.as_deref(), Some("req-9"));
    assert_eq!(correlation_id.as_deref(), Some("corr-9"));
    assert_eq!(
        err.to_string(),
        format!(
            "AuthorizationFailed (403): No access — GET {VNET} (request id req-9, correlation id corr-9)"
        )
    );
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn html_5xx_is_retried_up_to_the_cap() {
    let html = "<html><head><title>Service Unavailable</title></head><body>busy</body></html>";
    let server = FakeServer::start(move |_| Reply::text(503, html, "text/html")).await;
    let arm = client(&server.url()).await;
    let err = arm.get(VNET, "2024-03-01").await.expect_err("503");
    assert_eq!(err.status(), Some(503));
    assert_eq!(err.code(), Some("ServiceUnavailable"));
    assert!(err.to_string().contains("Service Unavailable"), "{err}");
    // One try plus three capped retries.
    assert_eq!(server.seen().len(), 4);
    assert_eq!(arm.stats().retries, 3);
    assert_eq!(arm.stats().server_errors, 4);
}

#[tokio::test]
async fn throttling_honours_retry_after_then_succeeds() {
    let server = FakeServer::scripted(vec![
        Reply::json(
            429,
            json!({"error": {"code": "TooManyRequests", "message": "slow down"}}),
        )
        .header("retry-after", "1"),
        Reply::json(200, json!({"name": "v1"})),
    ])
    .await;
    let arm = client(&server.url()).await;
    let started = Instant::now();
    assert!(arm.get(VNET, "2024-03-01").await.expect("ok").is_some());
    assert!(
        started.elapsed() >= Duration::from_millis(950),
        "{:?}",
        started.elapsed()
    );
    let stats = arm.stats();
    assert_eq!(
        (stats.throttled, stats.retries, stats.requests_sent),
        (1, 1, 2)
    );
}

#[tokio::test]
async fn network_busy_429_waits_for_the_time_in_the_message() {
    let busy = json!({"error": {"code": "RetryableError", "message": "A retryable error occurred.",
        "details": [{"code": "RetryableErrorDueToAnotherOperation",
                     "message": "Operation PutVirtualNetworkOperation is updating resource v1. The call can be retried in 1 seconds."}]}});
    let server = FakeServer::scripted(vec![
        Reply::json(429, busy),
        Reply::json(
            201,
            json!({"name": "v1", "properties": {"provisioningState": "Succeeded"}}),
        ),
    ])
    .await;
    let arm = client(&server.url()).await;
    let started = Instant::now();
    let s = arm
        .begin(WriteRequest::put(
            VNET,
            "2024-03-01",
            json!({"location": "eastus"}),
        ))
        .await
        .expect("accepted after the wait");
    assert_eq!(s.status, 201);
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen[1].at - seen[0].at >= Duration::from_millis(950));
    assert!(started.elapsed() >= Duration::from_millis(950));
}

#[tokio::test]
async fn gateway_timeout_on_put_reads_before_retrying() {
    // The PUT timed out at the gateway, but the resource shows it is being created: the
    // client must wait for that operation, not send the PUT again.
    let server = FakeServer::start(|seen| match (seen.method.as_str(), seen.path()) {
        ("PUT", _) => Reply::json(
            504,
            json!({"error": {"code": "GatewayTimeout", "message": "no answer"}}),
        ),
        ("GET", _) => Reply::json(
            200,
            json!({"name": "v1", "properties": {"provisioningState": "Updating"}}),
        ),
        _ => Reply::status(599),
    })
    .await;
    let arm = client(&server.url()).await;
    let started = arm
        .begin(WriteRequest::put(VNET, "2024-03-01", json!({})))
        .await
        .expect("treated as accepted");
    assert_eq!(started.operation.poll, Poll::ProvisioningState);
    let methods: Vec<String> = server.seen().iter().map(|s| s.method.clone()).collect();
    assert_eq!(methods, ["PUT", "GET"]);
}

#[tokio::test]
async fn dropped_put_is_reissued_when_the_resource_is_absent() {
    let server = FakeServer::scripted(vec![
        Reply::dropped(),
        Reply::json(
            404,
            json!({"error": {"code": "ResourceNotFound", "message": "none"}}),
        ),
        Reply::json(
            201,
            json!({"name": "v1", "properties": {"provisioningState": "Succeeded"}}),
        ),
    ])
    .await;
    let arm = client(&server.url()).await;
    let started = arm
        .begin(WriteRequest::put(
            VNET,
            "2024-03-01",
            json!({"location": "x"}),
        ))
        .await
        .expect("second PUT accepted");
    assert_eq!(started.status, 201);
    let methods: Vec<String> = server.seen().iter().map(|s| s.method.clone()).collect();
    assert_eq!(methods, ["PUT", "GET", "PUT"]);
    assert_eq!(server.seen()[2].json(), json!({"location": "x"}));
}

#[tokio::test]
async fn dropped_delete_is_done_when_the_resource_is_gone() {
    let server = FakeServer::scripted(vec![
        Reply::dropped(),
        Reply::json(
            404,
            json!({"error": {"code": "ResourceNotFound", "message": "none"}}),
        ),
    ])
    .await;
    let arm = client(&server.url()).await;
    let started = arm
        .begin(WriteRequest::delete(VNET, "2024-03-01"))
        .await
        .expect("done");
    assert_eq!(started.operation.poll, Poll::Done);
    assert_eq!(arm.wait(&started.operation).await.expect("wait"), None);
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn dropped_post_is_not_repeated() {
    let server = FakeServer::scripted(vec![Reply::dropped()]).await;
    let arm = client(&server.url()).await;
    let err = arm
        .begin(WriteRequest::post(
            format!("{VNET}/someAction"),
            "2024-03-01",
            None,
        ))
        .await
        .expect_err("unknown outcome");
    assert!(
        matches!(
            err,
            ArmError::Transport {
                outcome_unknown: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("may have reached ARM"), "{err}");
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn client_timeout_is_an_unknown_outcome_for_writes() {
    let server = FakeServer::start(|seen| match seen.method.as_str() {
        "PUT" => Reply::json(201, json!({})).delayed(Duration::from_secs(3)),
        _ => Reply::json(
            200,
            json!({"name": "v1", "properties": {"provisioningState": "Creating"}}),
        ),
    })
    .await;
    let mut config = fast_config(&server.url());
    config.request_timeout = Duration::from_millis(300);
    let arm = ArmClient::new(config).await.expect("client");
    let started = arm
        .begin(WriteRequest::put(VNET, "2024-03-01", json!({})))
        .await
        .expect("the GET shows the write took effect");
    assert_eq!(started.operation.poll, Poll::ProvisioningState);
}

#[tokio::test]
async fn connection_refused_is_retried_then_reported() {
    // Bind and drop to get a port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let arm = client(&format!("http://127.0.0.1:{port}")).await;
    let err = arm
        .begin(WriteRequest::put(VNET, "2024-03-01", json!({})))
        .await
        .expect_err("nobody listens");
    assert!(
        matches!(
            err,
            ArmError::Transport {
                outcome_unknown: false,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
    let stats = arm.stats();
    assert_eq!(stats.retries, 4);
    assert_eq!(stats.transport_errors, 5);
}

#[tokio::test]
async fn async_operation_then_final_get() {
    let server = FakeServer::scripted(vec![
        Reply::json(201, json!({"name": "v1", "properties": {"provisioningState": "Updating"}}))
            .header("azure-asyncoperation", "{base}/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Network/locations/eastus/operations/op1?api-version=2024-03-01&t=sig")
            .header("retry-after", "0"),
        Reply::json(200, json!({"status": "InProgress"})).header("retry-after", "0"),
        Reply::json(200, json!({"status": "Succeeded"})),
        Reply::json(200, json!({"name": "v1", "etag": "fresh", "properties": {"provisioningState": "Succeeded"}})),
    ])
    .await;
    let mut config = fast_config(&server.url());
    config.min_poll_interval = Duration::from_millis(50);
    let arm = ArmClient::new(config).await.expect("client");
    let started = arm
        .begin(WriteRequest::put(
            VNET,
            "2024-03-01",
            json!({"location": "eastus"}),
        ))
        .await
        .expect("begin");
    assert!(matches!(
        started.operation.poll,
        Poll::AsyncOperation { .. }
    ));
    let body = arm.wait(&started.operation).await.expect("wait");
    assert_eq!(body.expect("final")["etag"], "fresh");
    let seen = server.seen();
    // The poll URL is used verbatim (opaque, its own api-version and signature).
    assert_eq!(
        seen[1].target,
        "/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Network/locations/eastus/operations/op1?api-version=2024-03-01&t=sig"
    );
    // Retry-After: 0 is raised to the minimum poll interval.
    assert!(seen[2].at - seen[1].at >= Duration::from_millis(45));
    assert_eq!(seen[3].target, format!("{VNET}?api-version=2024-03-01"));
    assert_eq!(arm.stats().polls, 2);
}

#[tokio::test]
async fn failed_operation_surfaces_its_error() {
    let server = FakeServer::scripted(vec![
        Reply::json(201, json!({})).header("azure-asyncoperation", "{base}/ops/1"),
        Reply::json(200, json!({"status": "Failed", "error": {"code": "InUseSubnetCannotBeDeleted", "message": "Subnet in use.", "details": []}}))
            .header("x-ms-request-id", "poll-req"),
    ])
    .await;
    let arm = client(&server.url()).await;
    let started = arm
        .begin(WriteRequest::put(VNET, "2024-03-01", json!({})))
        .await
        .expect("begin");
    let err = arm.wait(&started.operation).await.expect_err("failed");
    let ArmError::OperationFailed {
        status,
        code,
        request_id,
        ..
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(status, "Failed");
    assert_eq!(code, "InUseSubnetCannotBeDeleted");
    assert_eq!(request_id.as_deref(), Some("poll-req"));
    assert!(err.to_string().contains("ended Failed"), "{err}");
}

#[tokio::test]
async fn canceled_operation_is_an_error() {
    let server = FakeServer::scripted(vec![
        Reply::json(201, json!({})).header("azure-asyncoperation", "{base}/ops/1"),
        Reply::json(200, json!({"status": "Canceled"})),
    ])
    .await;
    let arm = client(&server.url()).await;
    let started = arm
        .begin(WriteRequest::put(VNET, "2024-03-01", json!({})))
        .await
        .expect("begin");
    let err = arm.wait(&started.operation).await.expect_err("canceled");
    assert!(matches!(err, ArmError::OperationFailed { ref status, .. } if status == "Canceled"));
}

#[tokio::test]
async fn location_polling_follows_the_newest_location() {
    let server = FakeServer::scripted(vec![
        Reply::status(202).header("location", "{base}/loc/1"),
        Reply::status(202).header("location", "{base}/loc/2"),
        Reply::json(
            200,
            json!({"name": "store", "properties": {"provisioningState": "Succeeded"}}),
        ),
        Reply::json(200, json!({"name": "store", "final": true})),
    ])
    .await;
    let arm = client(&server.url()).await;
    let started = arm
        .begin(WriteRequest::put(VNET, "2023-05-01", json!({})))
        .await
        .expect("begin");
    assert_eq!(started.response, None);
    let body = arm.wait(&started.operation).await.expect("wait");
    assert_eq!(body.expect("final")["final"], true);
    let paths: Vec<String> = server.seen().iter().map(|s| s.path().to_owned()).collect();
    assert_eq!(paths[1..3], ["/loc/1", "/loc/2"]);
}

#[tokio::test]
async fn synchronous_put_waits_for_a_terminal_provisioning_state() {
    // Key vault: a 200 PUT that says RegisteringDns.
    let server = FakeServer::scripted(vec![
        Reply::json(
            200,
            json!({"name": "kv", "properties": {"provisioningState": "RegisteringDns"}}),
        ),
        Reply::json(
            200,
            json!({"name": "kv", "properties": {"provisioningState": "RegisteringDns"}}),
        ),
        Reply::json(
            200,
            json!({"name": "kv", "properties": {"provisioningState": "Succeeded"}}),
        ),
    ])
    .await;
    let arm = client(&server.url()).await;
    let started = arm
        .begin(WriteRequest::put(VNET, "2023-07-01", json!({})))
        .await
        .expect("begin");
    assert_eq!(started.operation.poll, Poll::ProvisioningState);
    let body = arm
        .wait(&started.operation)
        .await
        .expect("wait")
        .expect("body");
    assert_eq!(body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(server.seen().len(), 3);
}

#[tokio::test]
async fn delete_paths() {
    let server = FakeServer::scripted(vec![
        // Network style: AO and Location.
        Reply::status(202)
            .header("azure-asyncoperation", "{base}/ops/d1")
            .header("location", "{base}/results/d1"),
        Reply::json(200, json!({"status": "Succeeded"})),
        // Already gone.
        Reply::json(
            404,
            json!({"error": {"code": "ResourceNotFound", "message": "none"}}),
        ),
        // 202 without headers: wait until the GET says 404.
        Reply::status(202),
        Reply::json(
            200,
            json!({"properties": {"provisioningState": "Deleting"}}),
        ),
        Reply::json(
            404,
            json!({"error": {"code": "ResourceNotFound", "message": "none"}}),
        ),
    ])
    .await;
    let arm = client(&server.url()).await;
    let a = arm
        .begin(WriteRequest::delete(VNET, "2024-03-01"))
        .await
        .expect("a");
    assert_eq!(arm.wait(&a.operation).await.expect("a done"), None);
    let b = arm
        .begin(WriteRequest::delete(VNET, "2024-03-01"))
        .await
        .expect("b");
    assert_eq!((b.status, &b.operation.poll), (404, &Poll::Done));
    assert_eq!(arm.wait(&b.operation).await.expect("b done"), None);
    let c = arm
        .begin(WriteRequest::delete(VNET, "2024-03-01"))
        .await
        .expect("c");
    assert_eq!(c.operation.poll, Poll::ResourceGone);
    assert_eq!(arm.wait(&c.operation).await.expect("c done"), None);
    assert_eq!(server.seen().len(), 6);
}

#[tokio::test]
async fn query_parameters_are_sent() {
    let server = FakeServer::scripted(vec![Reply::status(200)]).await;
    let arm = client(&server.url()).await;
    let compute = format!("{VNET}/computes/c1");
    arm.begin(
        WriteRequest::delete(&compute, "2024-04-01")
            .with_query("underlyingResourceAction", "Delete"),
    )
    .await
    .expect("delete");
    assert_eq!(
        server.seen()[0].target,
        format!("{compute}?api-version=2024-04-01&underlyingResourceAction=Delete")
    );
}

#[tokio::test]
async fn operations_time_out_and_retry_after_extends_the_limit() {
    let server = FakeServer::start(|_| Reply::json(200, json!({"status": "InProgress"}))).await;
    let mut config = fast_config(&server.url());
    config.timeouts.default = Duration::from_millis(300);
    let arm = ArmClient::new(config.clone()).await.expect("client");
    let op = Operation {
        method: Method::Put,
        id: format!("{}/providers/Microsoft.KeyVault/vaults/kv", rg_id("rg")),
        api_version: "2023-07-01".into(),
        poll: Poll::AsyncOperation {
            url: format!("{}/ops/forever", server.url()),
            location: None,
        },
        started_at_unix_ms: now_ms(),
        resource_type: "Microsoft.KeyVault/vaults".into(),
    };
    let started = Instant::now();
    let err = arm.wait(&op).await.expect_err("times out");
    assert!(matches!(err, ArmError::Timeout { .. }), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(err.to_string().contains("timed out"), "{err}");

    // Same limit, but the server asks for 1 s between polls: the client waits it out.
    let polls = std::sync::atomic::AtomicUsize::new(0);
    let server = FakeServer::start(move |_| {
        if polls.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
            Reply::json(200, json!({"status": "InProgress"})).header("retry-after", "1")
        } else {
            Reply::json(200, json!({"status": "Succeeded"}))
        }
    })
    .await;
    let mut config = fast_config(&server.url());
    config.timeouts.default = Duration::from_millis(300);
    let arm2 = ArmClient::new(config).await.expect("client");
    let op = Operation {
        method: Method::Delete,
        poll: Poll::AsyncOperation {
            url: format!("{}/ops/slow", server.url()),
            location: None,
        },
        started_at_unix_ms: now_ms(),
        ..op
    };
    let started = Instant::now();
    assert_eq!(arm2.wait(&op).await.expect("extended"), None);
    assert!(started.elapsed() >= Duration::from_millis(950));
}

fn now_ms() -> u64 {
    u64::try_from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis(),
    )
    .expect("fits")
}

#[tokio::test]
async fn resume_token_survives_a_new_client() {
    let server = FakeServer::scripted(vec![
        Reply::json(201, json!({})).header("azure-asyncoperation", "{base}/ops/r1"),
        Reply::json(200, json!({"status": "Succeeded"})),
        Reply::json(200, json!({"name": "v1"})),
    ])
    .await;
    let token = {
        let arm = client(&server.url()).await;
        let started = arm
            .begin(WriteRequest::put(VNET, "2024-03-01", json!({})))
            .await
            .expect("begin");
        serde_json::to_string(&started.operation).expect("serialize")
    };
    // "Crash": a new client picks up from the recorded token.
    let op: Operation = serde_json::from_str(&token).expect("deserialize");
    let arm = client(&server.url()).await;
    assert_eq!(
        arm.wait(&op).await.expect("wait").expect("body")["name"],
        "v1"
    );
}

#[tokio::test]
async fn poll_urls_on_other_hosts_are_refused() {
    let server = FakeServer::scripted(vec![
        Reply::json(201, json!({})).header("azure-asyncoperation", "https://evil.example.com/op"),
    ])
    .await;
    let arm = client(&server.url()).await;
    let started = arm
        .begin(WriteRequest::put(VNET, "2024-03-01", json!({})))
        .await
        .expect("begin");
    let err = arm.wait(&started.operation).await.expect_err("refused");
    assert!(matches!(err, ArmError::Config { .. }), "{err:?}");
    assert_eq!(server.seen().len(), 1);
}

#[tokio::test]
async fn plain_http_to_a_remote_host_is_refused() {
    moat_arm::install_crypto_provider();
    let mut config = fast_config("http://127.0.0.1:1");
    config.endpoint =
        moat_arm::Endpoint::Custom(moat_arm::Url::parse("http://arm.example.com").expect("url"));
    let err = ArmClient::new(config).await.expect_err("http");
    assert!(err.to_string().contains("must use https"), "{err}");
}

#[tokio::test]
async fn rate_limit_headers_slow_the_client_down() {
    let server = FakeServer::start(|_| {
        Reply::json(200, json!({})).header("x-ms-ratelimit-remaining-subscription-reads", "0")
    })
    .await;
    let mut config = fast_config(&server.url());
    config.limits = ClientLimits {
        reads: BucketLimit {
            burst: 100,
            refill_per_sec: 10.0,
        },
        ..ClientLimits::default()
    };
    let arm = ArmClient::new(config).await.expect("client");
    arm.get(VNET, "v").await.expect("first");
    let started = Instant::now();
    arm.get(VNET, "v").await.expect("second");
    // ARM said nothing is left: the next read waits for one refill (100 ms).
    assert!(
        started.elapsed() >= Duration::from_millis(80),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn list_follows_next_links() {
    let server = FakeServer::scripted(vec![
        Reply::json(
            200,
            json!({"value": [{"n": 1}, {"n": 2}], "nextLink": "{base}/page2?x=1"}),
        ),
        Reply::json(200, json!({"value": [{"n": 3}]})),
    ])
    .await;
    let arm = client(&server.url()).await;
    let items = arm
        .list(&format!("{}/resources", common::SUB), "2024-07-01")
        .await
        .expect("list");
    assert_eq!(items.len(), 3);
    assert_eq!(server.seen()[1].target, "/page2?x=1");
}

#[tokio::test]
async fn http_log_is_redacted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("http.log");
    let server = FakeServer::scripted(vec![
        Reply::json(
            200,
            json!({"name": "st", "properties": {"primaryKey": "KEY-SHOULD-NOT-LEAK"}}),
        )
        .header("x-ms-request-id", "req-log")
        .header("x-ms-correlation-request-id", "corr-log"),
    ])
    .await;
    let mut config = fast_config(&server.url());
    config.log_http = Some(path.clone());
    let arm = ArmClient::new(config).await.expect("client");
    arm.begin(WriteRequest::put(
        VNET,
        "2024-03-01",
        json!({"properties": {"adminPassword": "PASSWORD-SHOULD-NOT-LEAK", "clientSecret": "S", "size": 3}}),
    ))
    .await
    .expect("put");
    let log = std::fs::read_to_string(&path).expect("log");
    for secret in [
        "KEY-SHOULD-NOT-LEAK",
        "PASSWORD-SHOULD-NOT-LEAK",
        DEV_TOKEN,
        "Bearer",
    ] {
        assert!(!log.contains(secret), "{secret} leaked into {log}");
    }
    let line: serde_json::Value =
        serde_json::from_str(log.lines().next().expect("line")).expect("json");
    assert_eq!(line["method"], "PUT");
    assert_eq!(line["status"], 200);
    assert_eq!(line["request_id"], "req-log");
    assert_eq!(line["correlation_id"], "corr-log");
    assert_eq!(line["request_body"]["properties"]["size"], 3);
    assert_eq!(
        line["request_body"]["properties"]["adminPassword"],
        "[REDACTED]"
    );
    assert!(line["duration_ms"].is_u64());
    assert!(
        line["url"]
            .as_str()
            .expect("url")
            .contains("api-version=2024-03-01")
    );
}

#[derive(Debug)]
struct Refusing;

#[async_trait::async_trait]
impl azure_core::credentials::TokenCredential for Refusing {
    async fn get_token(
        &self,
        _scopes: &[&str],
        _o: Option<azure_core::credentials::TokenRequestOptions<'_>>,
    ) -> azure_core::Result<azure_core::credentials::AccessToken> {
        Err(azure_core::Error::with_message(
            azure_core::error::ErrorKind::Credential,
            "AADSTS7000215: invalid client secret",
        ))
    }
}

#[tokio::test]
async fn credential_failures_list_what_was_tried() {
    let server = FakeServer::scripted(vec![]).await;
    moat_arm::install_crypto_provider();
    let credentials = Credentials::chain(
        "https://management.azure.com/.default",
        vec![
            (
                "env (service principal)",
                Err("AZURE_CLIENT_SECRET is not set".into()),
            ),
            (
                "workload-identity",
                Ok(Arc::new(Refusing) as Arc<dyn azure_core::credentials::TokenCredential>),
            ),
        ],
    );
    // An https endpoint the user named: real credentials may go there, so the chain is asked.
    let named = server.url().replacen("http://", "https://", 1);
    let arm = ArmClient::with_credentials(fast_config(&named), Some(Arc::new(credentials)))
        .expect("client");
    let err = arm.get(VNET, "v").await.expect_err("no credential");
    let ArmError::Credential { tried } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(tried.len(), 2);
    assert!(tried[1].1.contains("AADSTS7000215"), "{tried:?}");
    assert!(
        server.seen().is_empty(),
        "nothing may be sent without a token"
    );
}

#[tokio::test]
async fn a_real_token_is_never_sent_over_plain_http_even_to_loopback() {
    let server = FakeServer::scripted(vec![]).await;
    moat_arm::install_crypto_provider();
    let real = Credentials::fixed("https://management.azure.com/.default", "real-token-marker");
    assert!(!real.is_development());
    let arm = ArmClient::with_credentials(fast_config(&server.url()), Some(Arc::new(real)))
        .expect("client");
    let err = arm.get(VNET, "v").await.expect_err("refused");
    let text = err.to_string();
    assert!(
        text.contains("refusing to send an ARM token to `http://127.0.0.1:"),
        "{text}"
    );
    assert!(!text.contains("real-token-marker"), "{text}");
    assert!(server.seen().is_empty(), "nothing may be sent");
    // The development token goes there, as always.
    let dev = Credentials::fixed("s", moat_arm::DEV_TOKEN);
    assert!(dev.is_development());
}
