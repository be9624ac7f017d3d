//! Real recorded ARM traffic (`shared/arm/recordings`) fed to the error parser and, through a
//! loopback replay server, to the long-running-operation poller.

mod common;

use std::sync::Mutex;
use std::time::Duration;

use common::{FakeServer, Interaction, Reply, client, load_cassette, recordings_dir};
use moat_arm::{Arm, ArmError, Method, Poll, WriteRequest, parse_error_body, retry_hint_from_text};

const CASSETTES: &[&str] = &[
    "network/test_network_vnet.yaml",
    "network/test_network_vnet_with_subnet_nsg.yaml",
    "network/test_network_subnet_set.yaml",
    "network/test_network_service_endpoints.yaml",
    "network/test_network_nsg.yaml",
    "network/test_network_route_table_operation.yaml",
    "network/test_network_vpn_connection_nat_rule.yaml",
    "storage/test_storage_account_service_endpoints.yaml",
    "storage/test_create_storage_account.yaml",
    "keyvault/test_keyvault_network_rule.yaml",
    "keyvault/test_keyvault_softdelete.yaml",
    "acs/test_aks_create_default_service_with_skip_role_assignment.yaml",
    "acs/test_aks_abort.yaml",
    "resource/test_resource_group.yaml",
];

#[test]
fn every_recorded_error_body_parses() {
    let Some(recordings) = recordings_dir() else {
        return;
    };
    let mut found = Vec::new();
    for file in CASSETTES {
        for it in load_cassette(&recordings, file).interactions {
            let status = it.response.status.code;
            if status < 400 {
                continue;
            }
            let body = it.response.body.string.clone().unwrap_or_default();
            let header_code = it
                .response
                .headers
                .get("x-ms-error-code")
                .and_then(|v| v.first())
                .map(String::as_str);
            let parsed = parse_error_body(status, header_code, body.as_bytes());
            assert!(!parsed.code.is_empty(), "{file}: {status} {body}");
            assert!(!parsed.message.is_empty(), "{file}: {status} {body}");
            found.push((file.to_string(), status, parsed));
        }
    }
    assert!(found.len() >= 10, "{found:?}");
    let busy = found
        .iter()
        .find(|(f, s, _)| f.contains("vpn_connection_nat_rule") && *s == 429)
        .map(|(_, _, p)| p)
        .expect("the recorded Network 429");
    assert_eq!(busy.code, "RetryableError");
    assert_eq!(busy.details[0].code, "RetryableErrorDueToAnotherOperation");
    assert_eq!(
        retry_hint_from_text(&busy.message, &busy.details),
        Some(Duration::from_secs(12))
    );
    let not_found: Vec<&str> = found
        .iter()
        .filter(|(_, s, _)| *s == 404)
        .map(|(_, _, p)| p.code.as_str())
        .collect();
    assert!(not_found.contains(&"ResourceNotFound"), "{not_found:?}");
    assert!(
        not_found
            .iter()
            .all(|c| ["ResourceNotFound", "ResourceGroupNotFound", "NotFound"].contains(c)),
        "{not_found:?}"
    );
}

/// Replays a cassette from the write at `index`: each request the client sends is answered
/// with the next recorded interaction of the same method and path. `None` without the kit.
async fn replay(
    file: &str,
    index: usize,
) -> Option<(
    Result<Option<serde_json::Value>, ArmError>,
    Vec<common::Seen>,
    Poll,
)> {
    let interactions = load_cassette(&recordings_dir()?, file).interactions;
    let write: Interaction = interactions[index].clone();
    let cursor = Mutex::new(index);
    let server = FakeServer::start(move |seen| {
        let mut at = cursor.lock().expect("lock");
        let found = (*at..interactions.len()).find(|&i| {
            let it = &interactions[i];
            it.request.method == seen.method && it.path().eq_ignore_ascii_case(seen.path())
        });
        match found {
            Some(i) => {
                *at = i + 1;
                interactions[i].reply()
            }
            None => Reply::text(599, "no recorded interaction matches", "text/plain"),
        }
    })
    .await;
    let uri = &write.request.uri;
    let api_version = uri
        .split("api-version=")
        .nth(1)
        .and_then(|v| v.split('&').next())
        .expect("api-version")
        .to_owned();
    let method = match write.request.method.as_str() {
        "PUT" => Method::Put,
        "PATCH" => Method::Patch,
        "DELETE" => Method::Delete,
        "POST" => Method::Post,
        other => panic!("not a write: {other}"),
    };
    let body = write
        .request
        .body
        .as_deref()
        .and_then(|b| serde_json::from_str(b).ok());
    let arm = client(&server.url()).await;
    let started = arm
        .begin(WriteRequest {
            method,
            id: write.path(),
            api_version,
            body,
            query: Vec::new(),
        })
        .await
        .expect("begin");
    let poll = started.operation.poll.clone();
    let result = arm.wait(&started.operation).await;
    Some((result, server.seen(), poll))
}

#[tokio::test]
async fn network_put_polls_async_operation_then_gets() {
    let Some((result, seen, poll)) = replay("network/test_network_vnet.yaml", 1).await else {
        return;
    };
    assert!(matches!(poll, Poll::AsyncOperation { .. }));
    let body = result.expect("succeeded").expect("body");
    assert_eq!(body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(seen.len(), 4, "PUT, two polls, GET");
}

#[tokio::test]
async fn network_delete_polls_async_operation() {
    let Some((result, seen, poll)) = replay("network/test_network_vnet.yaml", 28).await else {
        return;
    };
    assert!(matches!(
        poll,
        Poll::AsyncOperation {
            location: Some(_),
            ..
        }
    ));
    assert_eq!(result.expect("deleted"), None);
    assert_eq!(seen.len(), 2);
}

#[tokio::test]
async fn resource_group_delete_polls_location_until_200() {
    let Some((result, seen, poll)) = replay("resource/test_resource_group.yaml", 0).await else {
        return;
    };
    assert!(matches!(poll, Poll::Location { .. }));
    assert_eq!(result.expect("deleted"), None);
    assert_eq!(seen.len(), 6, "DELETE and five operationresults polls");
}

#[tokio::test]
async fn resource_group_sync_create_reads_the_group() {
    let Some((result, seen, poll)) = replay("resource/test_resource_group.yaml", 7).await else {
        return;
    };
    assert_eq!(poll, Poll::ProvisioningState);
    let body = result.expect("created").expect("body");
    assert_eq!(body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(seen.len(), 2);
}

#[tokio::test]
async fn storage_create_polls_location_then_gets() {
    let Some((result, seen, poll)) = replay("storage/test_create_storage_account.yaml", 1).await
    else {
        return;
    };
    assert!(matches!(poll, Poll::Location { .. }));
    let body = result.expect("created").expect("body");
    assert_eq!(body["type"], "Microsoft.Storage/storageAccounts");
    assert_eq!(seen.len(), 4, "PUT, 202 poll, 200 poll, GET");
}

#[tokio::test]
async fn key_vault_sync_put_waits_for_succeeded() {
    let Some((result, seen, poll)) = replay("keyvault/test_keyvault_network_rule.yaml", 11).await
    else {
        return;
    };
    assert_eq!(poll, Poll::ProvisioningState);
    let body = result.expect("created").expect("body");
    assert_eq!(body["properties"]["provisioningState"], "Succeeded");
    assert!(seen.len() >= 2);
}

#[tokio::test]
async fn aks_create_polls_ten_times_then_gets() {
    let Some((result, seen, poll)) = replay(
        "acs/test_aks_create_default_service_with_skip_role_assignment.yaml",
        6,
    )
    .await
    else {
        return;
    };
    assert!(matches!(poll, Poll::AsyncOperation { .. }));
    let body = result.expect("created").expect("body");
    assert_eq!(body["properties"]["provisioningState"], "Succeeded");
    assert_eq!(seen.len(), 12, "PUT, ten polls, GET");
    // AKS polls with its own api-version (2016-03-30): the URL is used as given.
    assert!(
        seen[1].target.contains("api-version=2016-03-30"),
        "{}",
        seen[1].target
    );
}

#[tokio::test]
async fn aks_abort_post_polls_then_reads_the_location() {
    let Some((result, seen, poll)) = replay("acs/test_aks_abort.yaml", 4).await else {
        return;
    };
    assert!(matches!(
        poll,
        Poll::AsyncOperation {
            location: Some(_),
            ..
        }
    ));
    assert_eq!(result.expect("aborted"), None);
    assert_eq!(seen.len(), 4, "POST, two polls, the 204 result");
}
