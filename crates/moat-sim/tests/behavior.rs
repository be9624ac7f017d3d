//! Server-side rules of ARM the emulator enforces: auth, api-versions, parents, ranges,
//! in-use checks, global names, soft delete, network rules, AKS ranges and LRO timing.

mod common;

use common::*;
use serde_json::{Value, json};

async fn rg(arm: &Arm, name: &str) {
    let r = arm
        .put(&rg_path(name), RES, json!({"location": "eastus2"}))
        .await;
    assert!(r.status == 201 || r.status == 200, "{}", r.body);
}

fn vnet_body(subnets: Value) -> Value {
    json!({"location": "eastus2", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}, "subnets": subnets}})
}

#[tokio::test]
async fn requests_without_a_bearer_token_are_refused() {
    let (_sim, mut arm) = start(fast()).await;
    arm.token = None;
    let r = arm.get(&rg_path("x"), RES).await;
    assert_eq!(r.status, 401);
    assert_eq!(r.code(), "AuthenticationFailed");
    assert!(r.header("www-authenticate").is_some());
}

#[tokio::test]
async fn api_versions_namespaces_and_types_are_checked() {
    let (_sim, arm) = start(fast()).await;
    rg(&arm, "rg").await;
    let vnet = res("rg", "Microsoft.Network/virtualNetworks/v");
    assert_eq!(
        arm.get(&vnet, "2023-09-01").await.code(),
        "NoRegisteredProviderFound"
    );
    assert_eq!(
        arm.get(&vnet, "").await.code(),
        "MissingApiVersionParameter"
    );
    assert_eq!(
        arm.get(&rg_path("rg"), "2021-04-01").await.code(),
        "InvalidApiVersionParameter"
    );
    assert_eq!(
        arm.get(&res("rg", "Microsoft.Network/virtualHubs/h"), NET)
            .await
            .code(),
        "InvalidResourceType"
    );
    assert_eq!(
        arm.get(&res("rg", "Microsoft.Nope/things/t"), NET)
            .await
            .code(),
        "InvalidResourceNamespace"
    );
    let r = arm.get(&vnet, NET).await;
    assert_eq!((r.status, r.code()), (404, "ResourceNotFound"));
    let r = arm
        .get("/subscriptions/not-a-guid/resourcegroups/rg", RES)
        .await;
    assert_eq!(r.code(), "InvalidSubscriptionId");
}

#[tokio::test]
async fn missing_parents_and_references_are_reported() {
    let (_sim, arm) = start(fast()).await;
    let r = arm
        .put(
            &res("nope", "Microsoft.Network/virtualNetworks/v"),
            NET,
            vnet_body(json!([])),
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "ResourceGroupNotFound"));
    rg(&arm, "rg").await;
    let r = arm
        .put(
            &res("rg", "Microsoft.Network/virtualNetworks/v/subnets/s"),
            NET,
            json!({"properties": {"addressPrefix": "10.0.0.0/24"}}),
        )
        .await;
    assert_eq!((r.status, r.code()), (404, "ParentResourceNotFound"));
    let missing_nsg = res("rg", "Microsoft.Network/networkSecurityGroups/ghost");
    let r = arm
        .put(&res("rg", "Microsoft.Network/virtualNetworks/v"), NET, vnet_body(json!([{"name": "a", "properties": {"addressPrefix": "10.0.0.0/24", "networkSecurityGroup": {"id": missing_nsg}}}])))
        .await;
    assert_eq!(r.code(), "InvalidResourceReference");
    let r = arm.put(&res("rg", "Microsoft.MachineLearningServices/workspaces/w"), ML, json!({"location": "eastus2", "properties": {
        "storageAccount": res("rg", "Microsoft.Storage/storageAccounts/ghost"), "keyVault": res("rg", "Microsoft.KeyVault/vaults/ghost")}})).await;
    assert_eq!((r.status, r.code()), (400, "ValidationError"));
    let r = arm
        .put(
            &res("rg", "Microsoft.Network/virtualNetworks/v"),
            NET,
            json!({"properties": {}}),
        )
        .await;
    assert_eq!(r.code(), "LocationRequired");
}

#[tokio::test]
async fn subnet_ranges_are_checked() {
    let (_sim, arm) = start(fast()).await;
    rg(&arm, "rg").await;
    let vnet = res("rg", "Microsoft.Network/virtualNetworks/v");
    let r = arm
        .put(
            &vnet,
            NET,
            vnet_body(json!([{"name": "a", "properties": {"addressPrefix": "10.1.0.0/24"}}])),
        )
        .await;
    assert_eq!(r.code(), "NetcfgSubnetRangeOutsideVnet");
    let r = arm
        .put(&vnet, NET, vnet_body(json!([{"name": "a", "properties": {"addressPrefix": "10.0.0.0/24"}}, {"name": "b", "properties": {"addressPrefix": "10.0.0.128/25"}}])))
        .await;
    assert_eq!(r.code(), "NetcfgSubnetRangesOverlap");
    arm.put_wait(
        &vnet,
        NET,
        vnet_body(json!([{"name": "a", "properties": {"addressPrefix": "10.0.0.0/24"}}])),
    )
    .await;
    let r = arm
        .put(
            &format!("{vnet}/subnets/b"),
            NET,
            json!({"properties": {"addressPrefix": "10.0.0.0/25"}}),
        )
        .await;
    assert_eq!(r.code(), "NetcfgSubnetRangesOverlap");
    let r = arm
        .put(
            &format!("{vnet}/subnets/b"),
            NET,
            json!({"properties": {"addressPrefix": "10.0.1.5/24"}}),
        )
        .await;
    assert_eq!(r.code(), "InvalidCIDRNotation");
}

#[tokio::test]
async fn in_use_subnets_and_nsgs_cannot_be_deleted_and_vnet_puts_replace_subnets() {
    let (_sim, arm) = start(fast()).await;
    rg(&arm, "rg").await;
    let nsg = res("rg", "Microsoft.Network/networkSecurityGroups/n");
    arm.put_wait(&nsg, NET, json!({"location": "eastus2"}))
        .await;
    let vnet = res("rg", "Microsoft.Network/virtualNetworks/v");
    arm.put_wait(&vnet, NET, vnet_body(json!([
        {"name": "a", "properties": {"addressPrefix": "10.0.0.0/24", "networkSecurityGroup": {"id": nsg}}},
        {"name": "b", "properties": {"addressPrefix": "10.0.1.0/24"}},
        {"name": "c", "properties": {"addressPrefix": "10.0.2.0/24"}}
    ]))).await;
    let r = arm.delete(&nsg, NET).await;
    assert_eq!(
        (r.status, r.code()),
        (400, "InUseNetworkSecurityGroupCannotBeDeleted")
    );
    let aks = res("rg", "Microsoft.ContainerService/managedClusters/k");
    arm.put_wait(&aks, AKS, json!({"location": "eastus2", "identity": {"type": "SystemAssigned"}, "properties": {"dnsPrefix": "k",
        "agentPoolProfiles": [{"name": "sys", "mode": "System", "count": 1, "vmSize": "Standard_D2_v2", "vnetSubnetID": format!("{vnet}/subnets/b")}],
        "networkProfile": {"networkPlugin": "azure", "serviceCidr": "10.1.0.0/16", "dnsServiceIP": "10.1.0.10"}}})).await;
    let r = arm.delete(&format!("{vnet}/subnets/b"), NET).await;
    assert_eq!((r.status, r.code()), (400, "InUseSubnetCannotBeDeleted"));
    // A VNet PUT that leaves out an in-use subnet fails; leaving out a free one deletes it.
    let r = arm
        .put(
            &vnet,
            NET,
            vnet_body(json!([{"name": "a", "properties": {"addressPrefix": "10.0.0.0/24"}}])),
        )
        .await;
    assert_eq!(r.code(), "InUseSubnetCannotBeDeleted");
    arm.put_wait(
        &vnet,
        NET,
        vnet_body(json!([
            {"name": "a", "properties": {"addressPrefix": "10.0.0.0/24"}},
            {"name": "b", "properties": {"addressPrefix": "10.0.1.0/24"}}
        ])),
    )
    .await;
    let subnets = arm.get(&format!("{vnet}/subnets"), NET).await;
    assert_eq!(subnets.body["value"].as_array().map(Vec::len), Some(2));
    assert_eq!(arm.get(&format!("{vnet}/subnets/c"), NET).await.status, 404);
    // The subnet PUT without networkSecurityGroup detached it, so the NSG can go now.
    let r = arm.delete(&nsg, NET).await;
    assert_eq!(r.status, 202, "{}", r.body);
}

#[tokio::test]
async fn network_rules_need_service_endpoints() {
    let (_sim, arm) = start(fast()).await;
    rg(&arm, "rg").await;
    let vnet = res("rg", "Microsoft.Network/virtualNetworks/v");
    arm.put_wait(
        &vnet,
        NET,
        vnet_body(json!([{"name": "plain", "properties": {"addressPrefix": "10.0.0.0/24"}}])),
    )
    .await;
    let subnet = format!("{vnet}/subnets/plain");
    let r = arm.put(&res("rg", "Microsoft.Storage/storageAccounts/stx01"), STORAGE, json!({"location": "eastus2", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2",
        "properties": {"networkAcls": {"defaultAction": "Deny", "virtualNetworkRules": [{"id": subnet}]}}})).await;
    assert_eq!(r.code(), "NetworkAclsValidationFailure");
    assert!(
        r.str("/error/message")
            .contains("SubnetsHaveNoServiceEndpointsConfigured")
    );
    let r = arm.put(&res("rg", "Microsoft.KeyVault/vaults/kvx01"), KV, json!({"location": "eastus2", "properties": {"tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "sku": {"family": "A", "name": "standard"}, "networkAcls": {"defaultAction": "Deny", "virtualNetworkRules": [{"id": subnet}]}}})).await;
    assert_eq!(r.code(), "SubnetsHaveNoServiceEndpointsConfigured");
}

#[tokio::test]
async fn aks_network_ranges_are_checked() {
    let (_sim, arm) = start(fast()).await;
    rg(&arm, "rg").await;
    let vnet = res("rg", "Microsoft.Network/virtualNetworks/v");
    arm.put_wait(
        &vnet,
        NET,
        vnet_body(json!([{"name": "aks", "properties": {"addressPrefix": "10.0.16.0/20"}}])),
    )
    .await;
    let body = |svc: &str, dns: &str| {
        json!({"location": "eastus2", "identity": {"type": "SystemAssigned"}, "properties": {"dnsPrefix": "k",
        "agentPoolProfiles": [{"name": "sys", "mode": "System", "count": 1, "vnetSubnetID": format!("{vnet}/subnets/aks")}],
        "networkProfile": {"networkPlugin": "azure", "serviceCidr": svc, "dnsServiceIP": dns}}})
    };
    let aks = res("rg", "Microsoft.ContainerService/managedClusters/k");
    let r = arm.put(&aks, AKS, body("10.0.0.0/16", "10.0.0.10")).await;
    assert_eq!(r.code(), "ServiceCidrOverlapExistingSubnetsCidr");
    let r = arm.put(&aks, AKS, body("10.1.0.0/16", "10.2.0.10")).await;
    assert_eq!(r.code(), "InvalidDNSServiceIP");
    let r = arm.put(&aks, AKS, body("10.1.0.0/16", "10.1.0.10")).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(r.str("/id").contains("/resourcegroups/"));
}

#[tokio::test]
async fn storage_and_vault_names_are_global_and_vaults_soft_delete() {
    let (_sim, arm) = start(fast()).await;
    rg(&arm, "a").await;
    rg(&arm, "b").await;
    let sa = json!({"location": "eastus2", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"});
    assert_eq!(
        arm.put(
            &res("a", "Microsoft.Storage/storageAccounts/shared01"),
            STORAGE,
            sa.clone()
        )
        .await
        .status,
        202
    );
    let r = arm
        .put(
            &res("b", "Microsoft.Storage/storageAccounts/shared01"),
            STORAGE,
            sa,
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "StorageAccountAlreadyTaken"));
    let kv = json!({"location": "eastus2", "properties": {"tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47", "sku": {"family": "A", "name": "standard"},
        "accessPolicies": [{"tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47", "objectId": "00000000-0000-0000-0000-000000000001", "permissions": {"secrets": ["get"]}}]}});
    let va = res("a", "Microsoft.KeyVault/vaults/shared-kv");
    assert_eq!(arm.put(&va, KV, kv.clone()).await.status, 200);
    let r = arm
        .put(
            &res("b", "Microsoft.KeyVault/vaults/shared-kv"),
            KV,
            kv.clone(),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "VaultAlreadyExists"));
    assert_eq!(arm.delete(&va, KV).await.status, 200);
    assert_eq!(arm.get(&va, KV).await.status, 404);
    let r = arm.put(&va, KV, kv.clone()).await;
    assert_eq!((r.status, r.code()), (409, "ConflictError"));
    let recover = json!({"location": "eastus2", "properties": {"tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47", "sku": {"family": "A", "name": "standard"}, "createMode": "recover"}});
    let r = arm.put(&va, KV, recover).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        r.body["properties"]["accessPolicies"]
            .as_array()
            .map(Vec::len),
        Some(1),
        "recover restores the old properties"
    );
    assert_eq!(arm.delete(&va, KV).await.status, 200);
    let p = arm.call("POST", &format!("/subscriptions/{SUB}/providers/Microsoft.KeyVault/locations/eastus2/deletedVaults/shared-kv/purge"), KV, None).await;
    assert_eq!(p.status, 202);
    arm.wait(&p).await;
    assert_eq!(
        arm.put(&res("b", "Microsoft.KeyVault/vaults/shared-kv"), KV, kv)
            .await
            .status,
        200,
        "purged names are free"
    );
}

#[tokio::test]
async fn lros_report_progress_with_scaled_durations() {
    let (_sim, arm) = start(moat_sim::SimConfig {
        time_scale: 0.1,
        ..fast()
    })
    .await;
    rg(&arm, "rg").await;
    let vnet = res("rg", "Microsoft.Network/virtualNetworks/v");
    let r = arm
        .put(
            &vnet,
            NET,
            vnet_body(json!([{"name": "a", "properties": {"addressPrefix": "10.0.0.0/24"}}])),
        )
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.str("/properties/provisioningState"), "Updating");
    assert_eq!(
        r.str("/properties/subnets/0/properties/provisioningState"),
        "Updating"
    );
    assert_eq!(r.header("retry-after").as_deref(), Some("1"));
    let ao = r.header("azure-asyncoperation").unwrap();
    assert_eq!(
        arm.call_url("GET", &ao, None).await.str("/status"),
        "InProgress"
    );
    // Another write on the same VNet while the first runs: the Network RP's 429.
    let busy = arm
        .put(
            &format!("{vnet}/subnets/b"),
            NET,
            json!({"properties": {"addressPrefix": "10.0.1.0/24"}}),
        )
        .await;
    assert_eq!((busy.status, busy.code()), (429, "RetryableError"));
    assert_eq!(
        busy.str("/error/details/0/code"),
        "RetryableErrorDueToAnotherOperation"
    );
    assert!(busy.str("/error/message").contains("retried in"));
    let first_etag = r.str("/etag").to_string();
    let done = arm.wait(&r).await.unwrap();
    assert_eq!(done.str("/status"), "Succeeded");
    let g = arm.get(&vnet, NET).await;
    assert_eq!(g.str("/properties/provisioningState"), "Succeeded");
    arm.put_wait(
        &format!("{vnet}/subnets/b"),
        NET,
        json!({"properties": {"addressPrefix": "10.0.1.0/24"}}),
    )
    .await;
    let g2 = arm.get(&vnet, NET).await;
    assert_ne!(g2.str("/etag"), first_etag, "etag changes on every write");
    assert_eq!(
        g2.str("/etag"),
        g2.str("/properties/subnets/1/etag"),
        "children share the parent's etag"
    );
    // Key vault: synchronous 200 with RegisteringDns, then Succeeded.
    let kv = res("rg", "Microsoft.KeyVault/vaults/kv-lro");
    let r = arm.put(&kv, KV, json!({"location": "East US 2", "properties": {"tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47", "sku": {"family": "A", "name": "standard"}}})).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.str("/properties/provisioningState"), "RegisteringDns");
    assert_eq!(r.str("/location"), "eastus2");
    assert!(r.header("azure-asyncoperation").is_none() && r.header("location").is_none());
    // Storage: 202, empty body, Location polled to a 200 with the account.
    let st = res("rg", "Microsoft.Storage/storageAccounts/lro01");
    let r = arm
        .put(
            &st,
            STORAGE,
            json!({"location": "eastus2", "sku": {"name": "Standard_GRS"}, "kind": "StorageV2"}),
        )
        .await;
    assert_eq!((r.status, r.body.clone()), (202, Value::Null));
    let loc = r.header("location").unwrap();
    assert_eq!(arm.call_url("GET", &loc, None).await.status, 202);
    // RG delete: 202 + Location that answers 202 until everything inside is gone.
    let d = arm.delete(&rg_path("rg"), RES).await;
    assert_eq!(d.status, 202);
    let l = d.header("location").unwrap();
    assert_eq!(arm.call_url("GET", &l, None).await.status, 202);
    assert_eq!(
        arm.get(&vnet, NET)
            .await
            .str("/properties/provisioningState"),
        "Deleting"
    );
    // A second delete while the first runs (a client resuming after a crash) is accepted, and
    // its operation ends with the first: not done while the group is still there.
    let again = arm.delete(&rg_path("rg"), RES).await;
    assert_eq!(again.status, 202);
    let l2 = again.header("location").unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(arm.call_url("GET", &l2, None).await.status, 202);
    assert_eq!(arm.get(&rg_path("rg"), RES).await.status, 200);
    arm.wait(&again).await.expect("the second delete ends");
    assert_eq!(arm.get(&rg_path("rg"), RES).await.status, 404);
    assert!(moat_sim::provisioning_seconds("Microsoft.ContainerService/managedClusters") >= 120.0);
    assert!(moat_sim::provisioning_seconds("microsoft.network/virtualnetworks") < 10.0);
}

#[tokio::test]
async fn lists_filter_by_tag() {
    let (sim, arm) = start(fast()).await;
    rg(&arm, "rg").await;
    for (name, tag) in [("n1", "moat"), ("n2", "other")] {
        arm.put_wait(
            &res(
                "rg",
                &format!("Microsoft.Network/networkSecurityGroups/{name}"),
            ),
            NET,
            json!({"location": "eastus2", "tags": {"owner": tag}}),
        )
        .await;
    }
    let r = arm
        .get(
            &format!(
                "/subscriptions/{SUB}/resources?$filter=tagName eq 'owner' and tagValue eq 'moat'"
            ),
            RES,
        )
        .await;
    let names: Vec<&str> = r.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(names, vec!["n1"]);
    let r = arm
        .get(
            &format!("/subscriptions/{SUB}/resources?$filter=tagName eq 'owner'"),
            RES,
        )
        .await;
    assert_eq!(r.body["value"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        arm.get(
            &format!("/subscriptions/{SUB}/resources?$filter=bogus"),
            RES
        )
        .await
        .code(),
        "InvalidFilterInQueryString"
    );
    assert_eq!(sim.resources().len(), 3);
}

#[tokio::test]
async fn typed_lists_are_paged_with_next_links() {
    let (_sim, arm) = start(fast()).await;
    rg(&arm, "rg").await;
    let n = moat_sim::LIST_PAGE + 5;
    for i in 0..n {
        let r = arm
            .put(
                &res("rg", &format!("Microsoft.Network/routeTables/rt{i:03}")),
                NET,
                json!({"location": "eastus2"}),
            )
            .await;
        assert!(r.status < 300, "{}", r.body);
    }
    let first = arm
        .get(&res("rg", "Microsoft.Network/routeTables"), NET)
        .await;
    assert_eq!(first.status, 200, "{}", first.body);
    let page = first.body["value"].as_array().unwrap();
    assert_eq!(page.len(), moat_sim::LIST_PAGE);
    let next = first.body["nextLink"].as_str().expect("a next link");
    assert!(
        next.contains("api-version=") && next.contains("skiptoken"),
        "{next}"
    );
    let second = arm.call_url("GET", next, None).await;
    let rest = second.body["value"].as_array().unwrap();
    assert_eq!(rest.len(), 5);
    assert!(second.body.get("nextLink").is_none(), "{}", second.body);
    let mut names: Vec<&str> = page
        .iter()
        .chain(rest)
        .filter_map(|v| v["name"].as_str())
        .collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), n, "every item once");
}

#[tokio::test]
async fn listed_nsgs_and_route_tables_name_their_subnets_as_a_get_does() {
    // A list renders a page's items with the subnets' back-references indexed once (not one
    // scan of the cloud per item): every item must still carry exactly the `subnets` its own
    // GET shows, on both pages, and an NSG no subnet uses carries none.
    let (_sim, arm) = start(fast()).await;
    rg(&arm, "rg").await;
    let n = moat_sim::LIST_PAGE + 3;
    for i in 0..n {
        let nsg = res(
            "rg",
            &format!("Microsoft.Network/networkSecurityGroups/n{i:03}"),
        );
        let r = arm.put(&nsg, NET, json!({"location": "eastus2"})).await;
        assert!(r.status < 300, "{}", r.body);
    }
    let rt = res("rg", "Microsoft.Network/routeTables/rt");
    arm.put_wait(&rt, NET, json!({"location": "eastus2"})).await;
    // n000 and n102 (first and second page) are used; n000 by two subnets.
    let nsg = |i: usize| {
        res(
            "rg",
            &format!("Microsoft.Network/networkSecurityGroups/n{i:03}"),
        )
    };
    let vnet = res("rg", "Microsoft.Network/virtualNetworks/v");
    arm.put_wait(&vnet, NET, vnet_body(json!([
        {"name": "a", "properties": {"addressPrefix": "10.0.0.0/24", "networkSecurityGroup": {"id": nsg(0)}, "routeTable": {"id": rt}}},
        {"name": "b", "properties": {"addressPrefix": "10.0.1.0/24", "networkSecurityGroup": {"id": nsg(0)}}},
        {"name": "c", "properties": {"addressPrefix": "10.0.2.0/24", "networkSecurityGroup": {"id": nsg(n - 1)}}}
    ]))).await;
    let first = arm
        .get(&res("rg", "Microsoft.Network/networkSecurityGroups"), NET)
        .await;
    let next = first.body["nextLink"].as_str().expect("a next link");
    let second = arm.call_url("GET", next, None).await;
    let items: Vec<Value> = first.body["value"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second.body["value"].as_array().unwrap())
        .cloned()
        .collect();
    assert_eq!(items.len(), n);
    let subnets_of = |v: &Value| -> Vec<String> {
        v["properties"]["subnets"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["id"].as_str().map(str::to_ascii_lowercase))
            .collect()
    };
    for item in &items {
        let id = item["id"].as_str().unwrap();
        let got = arm.get(id, NET).await;
        assert_eq!(subnets_of(item), subnets_of(&got.body), "{id}");
    }
    let by_name = |name: &str| {
        items
            .iter()
            .find(|v| v["name"] == name)
            .map(subnets_of)
            .unwrap()
    };
    assert_eq!(by_name("n000").len(), 2);
    assert_eq!(
        by_name(&format!("n{:03}", n - 1)),
        vec![format!("{vnet}/subnets/c").to_ascii_lowercase()]
    );
    assert!(by_name("n001").is_empty());
    let tables = arm
        .get(&res("rg", "Microsoft.Network/routeTables"), NET)
        .await;
    assert_eq!(
        subnets_of(&tables.body["value"][0]),
        vec![format!("{vnet}/subnets/a").to_ascii_lowercase()]
    );

    // The store keeps the index between requests: a change after the lists above (subnet b
    // moves from n000 to n001) must show in the next list, as in a GET.
    arm.put_wait(
        &format!("{vnet}/subnets/b"),
        NET,
        json!({"properties": {"addressPrefix": "10.0.1.0/24", "networkSecurityGroup": {"id": nsg(1)}}}),
    )
    .await;
    let again = arm
        .get(&res("rg", "Microsoft.Network/networkSecurityGroups"), NET)
        .await;
    let listed = |name: &str| {
        again.body["value"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .map(subnets_of)
            .unwrap()
    };
    assert_eq!(
        listed("n000"),
        vec![format!("{vnet}/subnets/a").to_ascii_lowercase()]
    );
    assert_eq!(
        listed("n001"),
        vec![format!("{vnet}/subnets/b").to_ascii_lowercase()]
    );
    for name in ["n000", "n001"] {
        let got = arm.get(&nsg(usize::from(name == "n001")), NET).await;
        assert_eq!(listed(name), subnets_of(&got.body), "{name}");
    }
}
