//! The GitHub Actions OIDC assertion against a fake Actions token endpoint on loopback.

mod common;

use azure_core::credentials::Secret;
use azure_identity::ClientAssertion;
use common::{FakeServer, Reply};
use moat_arm::GithubOidcAssertion;
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
