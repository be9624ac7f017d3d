//! Private endpoints and private DNS in the emulator: an endpoint gets a NIC with the next
//! free address of its subnet (refused in a delegated subnet), its zone group writes one A
//! record per target name into the matching privatelink zone only, and deleting the group or
//! the endpoint removes them (the NIC goes with the endpoint); zones and links answer the
//! Private DNS way (202, resource-group poll URLs, failures in the operation): a second link
//! of one network is a `Conflict`, `If-None-Match: *` on an existing zone `PreconditionFailed`,
//! and a zone with links cannot be deleted.

mod common;

use common::*;
use serde_json::{Value, json};

const DNS: &str = "2024-06-01";

async fn setup(arm: &Arm) -> (String, String, String) {
    arm.put(&rg_path("rg"), RES, json!({"location": "eastus"}))
        .await;
    let vnet = res("rg", "Microsoft.Network/virtualNetworks/vnet");
    let r = arm
        .put_wait(
            &vnet,
            NET,
            json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.1.0.0/16"]}}}),
        )
        .await;
    assert!(r.status < 300, "{}", r.body);
    let subnet = format!("{vnet}/subnets/pe");
    let r = arm
        .put_wait(
            &subnet,
            NET,
            json!({"properties": {"addressPrefix": "10.1.2.0/24"}}),
        )
        .await;
    assert!(r.status < 300, "{}", r.body);
    let store = res("rg", "Microsoft.Storage/storageAccounts/pestore");
    let r = arm
        .put(
            &store,
            STORAGE,
            json!({"location": "eastus", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"}),
        )
        .await;
    assert!(r.status < 300, "{}", r.body);
    arm.wait(&r).await;
    (vnet, subnet, store)
}

fn pe_body(subnet: &str, target: &str, group: &str) -> Value {
    json!({"location": "eastus", "properties": {
        "subnet": {"id": subnet},
        "privateLinkServiceConnections": [{"name": "c", "properties": {
            "privateLinkServiceId": target, "groupIds": [group]}}]}})
}

/// PUT that answers 202 and whose operation then ends; returns the final status body.
async fn dns_put(arm: &Arm, path: &str, body: Value) -> Resp {
    let r = arm.put(path, DNS, body).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert!(
        r.header("azure-asyncoperation").is_some_and(|u| u.contains(
            "/resourceGroups/rg/providers/Microsoft.Network/privateDnsOperationStatuses/"
        )),
        "{:?}",
        r.headers
    );
    arm.wait(&r).await.expect("an operation")
}

#[tokio::test]
async fn endpoints_get_nics_and_zone_groups_write_records() {
    let (_sim, arm) = start(fast()).await;
    let (vnet, subnet, store) = setup(&arm).await;
    let blob_zone = res(
        "rg",
        "Microsoft.Network/privateDnsZones/privatelink.blob.core.windows.net",
    );
    let other_zone = res("rg", "Microsoft.Network/privateDnsZones/example.com");
    for z in [&blob_zone, &other_zone] {
        let done = dns_put(&arm, z, json!({"location": "global"})).await;
        assert_eq!(done.str("/status"), "Succeeded", "{}", done.body);
    }
    let done = dns_put(
        &arm,
        &format!("{blob_zone}/virtualNetworkLinks/vnet"),
        json!({"location": "global", "properties": {"virtualNetwork": {"id": vnet}, "registrationEnabled": false}}),
    )
    .await;
    assert_eq!(done.str("/status"), "Succeeded");

    let pe = res("rg", "Microsoft.Network/privateEndpoints/blob-pe");
    let r = arm
        .put_wait(&pe, NET, pe_body(&subnet, &store, "blob"))
        .await;
    assert!(r.status < 300, "{}", r.body);
    let got = arm.get(&pe, NET).await;
    assert_eq!(
        got.str("/properties/customDnsConfigs/0/fqdn"),
        "pestore.blob.core.windows.net"
    );
    assert_eq!(
        got.str("/properties/customDnsConfigs/0/ipAddresses/0"),
        "10.1.2.4"
    );
    let nic = got.str("/properties/networkInterfaces/0/id").to_string();
    assert!(nic.contains("/networkInterfaces/blob-pe.nic."), "{nic}");
    assert_eq!(arm.get(&nic, NET).await.status, 200);
    // A second endpoint takes the next address, under the NIC name it asks for.
    let pe2 = res("rg", "Microsoft.Network/privateEndpoints/file-pe");
    let mut b = pe_body(&subnet, &store, "file");
    b["properties"]["customNetworkInterfaceName"] = json!("file-nic");
    let r = arm.put_wait(&pe2, NET, b).await;
    assert!(r.status < 300, "{}", r.body);
    let got2 = arm.get(&pe2, NET).await;
    assert_eq!(
        got2.str("/properties/customDnsConfigs/0/ipAddresses/0"),
        "10.1.2.5"
    );
    assert!(
        got2.str("/properties/networkInterfaces/0/id")
            .ends_with("/networkInterfaces/file-nic")
    );
    // A group the target does not offer is refused.
    let r = arm
        .put(
            &res("rg", "Microsoft.Network/privateEndpoints/bad"),
            NET,
            pe_body(&subnet, &store, "vault"),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "PrivateEndpointBadRequest"),
        "{}",
        r.body
    );

    // The zone group writes the record into the blob zone only.
    let group = format!("{pe}/privateDnsZoneGroups/default");
    let r = arm
        .put_wait(
            &group,
            NET,
            json!({"properties": {"privateDnsZoneConfigs": [
                {"name": "blob", "properties": {"privateDnsZoneId": blob_zone}},
                {"name": "other", "properties": {"privateDnsZoneId": other_zone}}]}}),
        )
        .await;
    assert!(r.status < 300, "{}", r.body);
    let g = arm.get(&group, NET).await;
    assert_eq!(
        g.str("/properties/privateDnsZoneConfigs/0/properties/recordSets/0/fqdn"),
        "pestore.privatelink.blob.core.windows.net"
    );
    assert_eq!(
        g.body
            .pointer("/properties/privateDnsZoneConfigs/1/properties/recordSets")
            .and_then(Value::as_array)
            .map(Vec::len),
        Some(0),
        "a zone of another name gets no record, as in the recordings"
    );
    let record = format!("{blob_zone}/A/pestore");
    let a = arm.get(&record, DNS).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.str("/properties/aRecords/0/ipv4Address"), "10.1.2.4");
    assert_eq!(
        arm.get(&blob_zone, DNS).await.body["properties"]["numberOfRecordSets"],
        json!(2)
    );

    // Deleting the endpoint takes its group, its records and its NIC along.
    let d = arm.delete(&pe, NET).await;
    assert_eq!(d.status, 202, "{}", d.body);
    arm.wait(&d).await;
    assert_eq!(arm.get(&pe, NET).await.status, 404);
    assert_eq!(arm.get(&record, DNS).await.status, 404);
    assert_eq!(arm.get(&nic, NET).await.status, 404);
    // The other endpoint keeps its NIC.
    assert_eq!(
        arm.get(got2.str("/properties/networkInterfaces/0/id"), NET)
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_subnet_shows_its_endpoints_and_their_nics_until_they_go() {
    let (_sim, arm) = start(fast()).await;
    let (vnet, subnet, store) = setup(&arm).await;
    let pe = res("rg", "Microsoft.Network/privateEndpoints/blob-pe");
    let r = arm
        .put_wait(&pe, NET, pe_body(&subnet, &store, "blob"))
        .await;
    assert!(r.status < 300, "{}", r.body);
    let nic = arm
        .get(&pe, NET)
        .await
        .str("/properties/networkInterfaces/0/id")
        .to_string();
    let config = arm
        .get(&nic, NET)
        .await
        .str("/properties/ipConfigurations/0/id")
        .to_string();
    // The configuration's ID ends in its name, as in the recordings.
    assert!(
        config.contains("/ipConfigurations/privateEndpointIpConfig."),
        "{config}"
    );
    // Azure's back-references (network/test_network_vnet.yaml), on the subnet's own GET and
    // inline in its VNet's, and the same in both lists (rendered with an index, not a scan).
    let vnets = res("rg", "Microsoft.Network/virtualNetworks");
    for (body, at) in [
        (arm.get(&subnet, NET).await.body, "/properties".to_string()),
        (
            arm.get(&vnet, NET).await.body,
            "/properties/subnets/0/properties".to_string(),
        ),
        (
            arm.get(&vnets, NET).await.body,
            "/value/0/properties/subnets/0/properties".to_string(),
        ),
        (
            arm.get(&format!("{vnet}/subnets"), NET).await.body,
            "/value/0/properties".to_string(),
        ),
    ] {
        let p = body.pointer(&at).cloned().unwrap_or_default();
        assert_eq!(p["privateEndpoints"], json!([{ "id": pe }]), "{body}");
        assert_eq!(p["ipConfigurations"], json!([{ "id": config }]), "{body}");
        assert_eq!(p["purpose"], json!("PrivateEndpoints"), "{body}");
    }
    let d = arm.delete(&pe, NET).await;
    arm.wait(&d).await;
    let p = arm.get(&subnet, NET).await.body["properties"].clone();
    assert!(
        p.get("privateEndpoints").is_none()
            && p.get("ipConfigurations").is_none()
            && p.get("purpose").is_none(),
        "the endpoint and its NIC are gone: {p}"
    );
}

#[tokio::test]
async fn delegated_subnets_refuse_endpoints() {
    let (_sim, arm) = start(fast()).await;
    let (vnet, _subnet, store) = setup(&arm).await;
    let delegated = format!("{vnet}/subnets/aci");
    let r = arm
        .put_wait(
            &delegated,
            NET,
            json!({"properties": {"addressPrefix": "10.1.3.0/24", "delegations": [
                {"name": "aci", "properties": {"serviceName": "Microsoft.ContainerInstance/containerGroups"}}]}}),
        )
        .await;
    assert!(r.status < 300, "{}", r.body);
    let r = arm
        .put(
            &res("rg", "Microsoft.Network/privateEndpoints/pe"),
            NET,
            pe_body(&delegated, &store, "blob"),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (400, "PrivateEndpointCreationNotAllowedAsSubnetIsDelegated"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn zones_and_links_follow_the_private_dns_rules() {
    let (_sim, arm) = start(fast()).await;
    let (vnet, _subnet, _store) = setup(&arm).await;
    let zone = res(
        "rg",
        "Microsoft.Network/privateDnsZones/privatelink.vaultcore.azure.net",
    );
    let done = dns_put(&arm, &zone, json!({"location": "global"})).await;
    assert_eq!(done.str("/status"), "Succeeded");
    // A zone's location is `global`.
    let r = arm
        .put(
            &res("rg", "Microsoft.Network/privateDnsZones/x.example.com"),
            DNS,
            json!({"location": "eastus"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.body);

    // `If-None-Match: *` on an existing zone fails in the operation, as recorded
    // (privatedns/test_PutZone_ZoneExistsIfNoneMatchFailure_ExpectError.yaml #8).
    let url = format!("{}{zone}?api-version={DNS}", arm.base);
    let r = arm
        .client
        .put(&url)
        .bearer_auth("dev-token")
        .header("content-type", "application/json")
        .header("if-none-match", "*")
        .body(r#"{"location":"global"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let poll = r
        .headers()
        .get("azure-asyncoperation")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let p = arm.call_url("GET", &poll, None).await;
    assert_eq!(p.status, 200);
    assert_eq!(p.str("/status"), "Failed");
    assert_eq!(p.str("/error/code"), "PreconditionFailed", "{}", p.body);

    let link = |n: &str| format!("{zone}/virtualNetworkLinks/{n}");
    let body = |reg: bool| json!({"location": "global", "properties": {"virtualNetwork": {"id": vnet}, "registrationEnabled": reg}});
    let done = dns_put(&arm, &link("one"), body(false)).await;
    assert_eq!(done.str("/status"), "Succeeded");
    let l = arm.get(&link("one"), DNS).await;
    assert_eq!(l.str("/properties/virtualNetworkLinkState"), "Completed");
    assert_eq!(
        arm.get(&zone, DNS).await.body["properties"]["numberOfVirtualNetworkLinks"],
        json!(1)
    );
    // The same network linked again under another name: the operation fails with Conflict.
    let done = dns_put(&arm, &link("two"), body(false)).await;
    assert_eq!(done.str("/status"), "Failed");
    assert_eq!(done.str("/error/code"), "Conflict", "{}", done.body);
    assert_eq!(arm.get(&link("two"), DNS).await.status, 404);
    // The same link again is an update, not a conflict.
    let done = dns_put(&arm, &link("one"), body(true)).await;
    assert_eq!(done.str("/status"), "Succeeded", "{}", done.body);

    // A zone with links cannot be deleted; without them it can.
    let d = arm.delete(&zone, DNS).await;
    assert_eq!(d.status, 400, "{}", d.body);
    let d = arm.delete(&link("one"), DNS).await;
    assert_eq!(d.status, 202);
    arm.wait(&d).await;
    let d = arm.delete(&zone, DNS).await;
    assert_eq!(d.status, 202, "{}", d.body);
    arm.wait(&d).await;
    assert_eq!(arm.get(&zone, DNS).await.status, 404);
}
