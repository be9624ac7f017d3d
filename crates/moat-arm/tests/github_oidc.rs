//! The CI OIDC assertions against fake token endpoints on loopback: GitHub Actions' and Azure
//! Pipelines' (a service connection with workload identity federation).

mod common;

use azure_core::credentials::Secret;
use azure_identity::ClientAssertion;
use common::{FakeServer, Reply};
use moat_arm::{AzurePipelinesAssertion, GithubOidcAssertion};
use serde_json::json;

#[tokio::test]
async fn fetches_the_token_for_the_entra_audience() {
    let server = FakeServer::start(|seen| {
        let audience_ok = seen
            .target
            .contains("audience=api%3A%2F%2FAzureADTokenExchange");
        let version_kept = seen.target.contains("api-version=2.0");
        let auth_ok = seen.header("authorization") == Some("Bearer runner-request-token");
        if audience_ok && version_kept && auth_ok {
            Reply::json(200, json!({"count": 1, "value": "gh-oidc-jwt"}))
        } else {
            Reply::json(401, json!({"message": "bad request"}))
        }
    })
    .await;
    moat_arm::install_crypto_provider();
    let assertion = GithubOidcAssertion::new(
        &format!(
            "{}/_apis/distributedtask/token?api-version=2.0",
            server.url()
        ),
        Secret::new("runner-request-token"),
    )
    .expect("assertion");
    assert_eq!(assertion.fetch().await.expect("token"), "gh-oidc-jwt");
    // Through the azure_identity trait, as ClientAssertionCredential calls it.
    assert_eq!(assertion.secret(None).await.expect("secret"), "gh-oidc-jwt");
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn reports_a_refusal() {
    let server = FakeServer::start(|_| Reply::json(403, json!({"message": "no"}))).await;
    moat_arm::install_crypto_provider();
    let assertion = GithubOidcAssertion::new(
        &format!("{}/token?api-version=2.0", server.url()),
        Secret::new("wrong"),
    )
    .expect("assertion");
    let err = assertion.fetch().await.expect_err("refused");
    assert!(err.contains("HTTP 403"), "{err}");
    let server = FakeServer::start(|_| Reply::json(200, json!({"count": 0}))).await;
    let assertion = GithubOidcAssertion::new(&format!("{}/t", server.url()), Secret::new("t"))
        .expect("assertion");
    let err = assertion.fetch().await.expect_err("no value");
    assert!(err.contains("no `value`"), "{err}");
}

#[tokio::test]
async fn fetches_the_pipelines_token_for_the_service_connection() {
    let server = FakeServer::start(|seen| {
        let ok = seen.method == "POST"
            && seen.path() == "/org/_apis/distributedtask/hubs/build/plans/p1/jobs/j1/oidctoken"
            && seen.target.contains("api-version=7.1")
            && seen.target.contains("serviceConnectionId=conn-1")
            && seen.header("authorization") == Some("Bearer job-access-token")
            && seen.header("x-tfs-fedauthredirect") == Some("Suppress")
            && seen.body.is_empty();
        if ok {
            Reply::json(200, json!({"oidcToken": "ado-oidc-jwt"}))
        } else {
            Reply::json(
                400,
                json!({"message": format!("unexpected {} {}", seen.method, seen.target)}),
            )
        }
    })
    .await;
    moat_arm::install_crypto_provider();
    let assertion = AzurePipelinesAssertion::new(
        &format!(
            "{}/org/_apis/distributedtask/hubs/build/plans/p1/jobs/j1/oidctoken",
            server.url()
        ),
        "conn-1",
        Secret::new("job-access-token"),
    )
    .expect("assertion");
    assert_eq!(assertion.fetch().await.expect("token"), "ado-oidc-jwt");
    assert_eq!(
        assertion.secret(None).await.expect("secret"),
        "ado-oidc-jwt"
    );
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn reports_a_pipelines_refusal_with_its_reference() {
    let server = FakeServer::start(|_| {
        Reply::json(401, json!({"message": "no"})).header("x-vss-e2eid", "e2e-42")
    })
    .await;
    moat_arm::install_crypto_provider();
    let assertion = AzurePipelinesAssertion::new(
        &format!("{}/oidctoken", server.url()),
        "conn-1",
        Secret::new("expired"),
    )
    .expect("assertion");
    let err = assertion.fetch().await.expect_err("refused");
    assert!(err.contains("HTTP 401, x-vss-e2eid e2e-42"), "{err}");
    assert!(
        !err.contains("expired"),
        "the access token never shows: {err}"
    );
    let server = FakeServer::start(|_| Reply::json(200, json!({"token": "x"}))).await;
    let assertion = AzurePipelinesAssertion::new(
        &format!("{}/oidctoken", server.url()),
        "conn-1",
        Secret::new("t"),
    )
    .expect("assertion");
    let err = assertion.fetch().await.expect_err("no oidcToken");
    assert!(err.contains("no `oidcToken`"), "{err}");
}
