//! Role assignments in the emulator: a principal created moments ago is `PrincipalNotFound`
//! until its replication delay passes, the same grant under another name is
//! `RoleAssignmentExists`, a repeated PUT of the same name is no second assignment, and the
//! principal or role of an assignment cannot change.

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;

const READER: &str = "/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Authorization/roleDefinitions/acdd72a7-3385-48ef-bd42-f606fba81ae7";
const ACR_PULL: &str = "/subscriptions/00000000-0000-0000-0000-000000000000/providers/Microsoft.Authorization/roleDefinitions/7f951dda-4ed3-4680-a7ca-43fe172d538d";

#[tokio::test]
async fn grants_wait_for_replication_and_follow_the_conflict_rules() {
    // 10 s of replication at scale 0.05: half a second.
    let (_sim, arm) = start(moat_sim::SimConfig {
        time_scale: 0.05,
        ..fast()
    })
    .await;
    let r = arm
        .put(&rg_path("rg"), "2024-07-01", json!({"location": "westus"}))
        .await;
    assert!(r.status < 300, "{}", r.body);
    let ident = res(
        "rg",
        "Microsoft.ManagedIdentity/userAssignedIdentities/ml-identity",
    );
    let r = arm
        .put(&ident, "2023-01-31", json!({"location": "westus"}))
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let principal = r.str("/properties/principalId").to_string();
    assert_eq!(principal.len(), 36);
    assert_eq!(r.str("/properties/clientId").len(), 36);

    let scope = rg_path("rg");
    let ra =
        |name: &str| format!("{scope}/providers/Microsoft.Authorization/roleAssignments/{name}");
    let a = "0f8fad5b-d9cb-469f-a165-70867728950e";
    let body = |role: &str| json!({"properties": {"roleDefinitionId": role, "principalId": principal, "principalType": "ServicePrincipal"}});
    let r = arm.put(&ra(a), "2022-04-01", body(READER)).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "PrincipalNotFound"),
        "{}",
        r.body
    );

    tokio::time::sleep(Duration::from_millis(700)).await;
    let r = arm.put(&ra(a), "2022-04-01", body(READER)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.str("/properties/scope"), scope);
    // The same PUT again is the same assignment.
    let r = arm.put(&ra(a), "2022-04-01", body(READER)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    // The same grant under another name conflicts; another role does not.
    let b = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
    let r = arm.put(&ra(b), "2022-04-01", body(READER)).await;
    assert_eq!(
        (r.status, r.code()),
        (409, "RoleAssignmentExists"),
        "{}",
        r.body
    );
    let r = arm.put(&ra(b), "2022-04-01", body(ACR_PULL)).await;
    assert_eq!(r.status, 201, "{}", r.body);
    // An assignment's role cannot change.
    let r = arm.put(&ra(a), "2022-04-01", body(ACR_PULL)).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "RoleAssignmentUpdateNotPermitted")
    );

    assert_eq!(arm.get(&ra(a), "2022-04-01").await.status, 200);
    assert_eq!(arm.delete(&ra(a), "2022-04-01").await.status, 200);
    let r = arm.get(&ra(a), "2022-04-01").await;
    assert_eq!((r.status, r.code()), (404, "RoleAssignmentNotFound"));
    assert_eq!(arm.delete(&ra(a), "2022-04-01").await.status, 204);
}
