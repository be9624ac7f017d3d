//! Drives a create/read/update/delete cycle of every kind with a plain HTTP client, records
//! it, and checks the recording against the real API definitions with `validate-traffic`.

mod common;

use common::*;
use serde_json::json;

/// KubernetesConfiguration's api-version.
const EXT: &str = "2023-05-01";

async fn lifecycle(arm: &Arm) {
    let rg = "rg-ml";
    let id = |rest: &str| res(rg, rest);
    // Resource group.
    let r = arm
        .put(
            &rg_path(rg),
            RES,
            json!({"location": "West Europe", "tags": {"managed-by": "moat"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(r.str("/location"), "westeurope");
    assert_eq!(
        arm.put(
            &rg_path(rg),
            RES,
            json!({"location": "westeurope", "tags": {"managed-by": "moat"}})
        )
        .await
        .status,
        200
    );
    assert_eq!(arm.get(&rg_path(rg), RES).await.status, 200);
    assert_eq!(
        arm.patch(
            &rg_path(rg),
            RES,
            json!({"tags": {"managed-by": "moat", "env": "test"}})
        )
        .await
        .status,
        200
    );
    assert_eq!(
        arm.get(&format!("/subscriptions/{SUB}/resourcegroups"), RES)
            .await
            .status,
        200
    );

    // NSG with an inline rule, then a child rule.
    let nsg = id("Microsoft.Network/networkSecurityGroups/training-nsg");
    let r = arm
        .put_wait(&nsg, NET, json!({"location": "westeurope", "tags": {"managed-by": "moat"}, "properties": {"securityRules": [
            {"name": "batch", "properties": {"priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
             "sourceAddressPrefix": "BatchNodeManagement", "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRanges": ["29876-29877"]}}
        ]}}))
        .await;
    assert_eq!(r.status, 201);
    let g = arm.get(&nsg, NET).await;
    assert_eq!(
        g.body["properties"]["defaultSecurityRules"]
            .as_array()
            .map(Vec::len),
        Some(6)
    );
    assert_eq!(
        g.body["properties"]["securityRules"][0]["properties"]["sourcePortRanges"],
        json!([])
    );
    arm.put_wait(&format!("{nsg}/securityRules/aml"), NET, json!({"properties": {"priority": 110, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
        "sourceAddressPrefix": "AzureMachineLearning", "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRange": "44224"}})).await;
    assert_eq!(
        arm.get(&format!("{nsg}/securityRules/aml"), NET)
            .await
            .status,
        200
    );
    assert_eq!(
        arm.get(&format!("{nsg}/securityRules"), NET).await.body["value"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        arm.patch(&nsg, NET, json!({"tags": {"a": "b"}}))
            .await
            .status,
        200
    );

    // Route table with an inline route, then a child route.
    let rt = id("Microsoft.Network/routeTables/egress");
    arm.put_wait(&rt, NET, json!({"location": "westeurope", "properties": {"routes": [
        {"name": "batch", "properties": {"addressPrefix": "BatchNodeManagement.westeurope", "nextHopType": "Internet"}}]}})).await;
    arm.put_wait(&format!("{rt}/routes/default"), NET, json!({"properties": {"addressPrefix": "0.0.0.0/0", "nextHopType": "VirtualAppliance", "nextHopIpAddress": "10.0.0.4"}})).await;
    assert_eq!(
        arm.get(&format!("{rt}/routes/default"), NET)
            .await
            .str("/properties/nextHopIpAddress"),
        "10.0.0.4"
    );
    assert_eq!(
        arm.get(&rt, NET).await.body["properties"]["routes"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    // VNet with an inline subnet, a child subnet, an update without `subnets`.
    let vnet = id("Microsoft.Network/virtualNetworks/vnet-ml");
    let training = format!("{vnet}/subnets/training");
    let aks_subnet = format!("{vnet}/subnets/aks");
    let r = arm
        .put_wait(&vnet, NET, json!({"location": "westeurope", "tags": {"managed-by": "moat"}, "properties": {
            "addressSpace": {"addressPrefixes": ["10.0.0.0/16"]},
            "subnets": [{"name": "training", "properties": {"addressPrefix": "10.0.1.0/24",
                "networkSecurityGroup": {"id": nsg}, "routeTable": {"id": rt},
                "serviceEndpoints": [{"service": "Microsoft.Storage"}, {"service": "Microsoft.KeyVault"}]}}]}}))
        .await;
    assert_eq!(r.status, 201);
    arm.put_wait(
        &aks_subnet,
        NET,
        json!({"properties": {"addressPrefix": "10.0.16.0/20"}}),
    )
    .await;
    let g = arm.get(&vnet, NET).await;
    assert_eq!(
        g.body["properties"]["subnets"].as_array().map(Vec::len),
        Some(2)
    );
    assert_eq!(g.str("/properties/provisioningState"), "Succeeded");
    assert_eq!(
        arm.get(&training, NET)
            .await
            .str("/properties/serviceEndpoints/0/locations/0"),
        "*"
    );
    assert_eq!(
        arm.get(&format!("{vnet}/subnets"), NET).await.body["value"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    arm.put_wait(&vnet, NET, json!({"location": "westeurope", "tags": {"managed-by": "moat", "v": "2"}, "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/16"]}}})).await;
    assert_eq!(
        arm.get(&vnet, NET).await.body["properties"]["subnets"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "omitted subnets are kept"
    );
    assert_eq!(
        arm.patch(&vnet, NET, json!({"tags": {"managed-by": "moat"}}))
            .await
            .status,
        200
    );
    assert_eq!(
        arm.get(&nsg, NET).await.body["properties"]["subnets"][0]["id"],
        json!(training)
    );

    // Storage account: 202 + Location, then PATCH of networkAcls.
    let st = id("Microsoft.Storage/storageAccounts/mlstore01");
    let r = arm.put(&st, STORAGE, json!({"location": "westeurope", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2", "tags": {"managed-by": "moat"},
        "properties": {"minimumTlsVersion": "TLS1_2", "allowBlobPublicAccess": false}})).await;
    assert_eq!(r.status, 202);
    assert!(r.header("location").is_some());
    let done = arm.wait(&r).await.unwrap();
    assert_eq!(done.status, 200);
    assert_eq!(done.str("/properties/provisioningState"), "Succeeded");
    let g = arm.get(&st, STORAGE).await;
    assert_eq!(
        g.body["properties"]["networkAcls"]["defaultAction"],
        "Allow"
    );
    let p = arm.patch(&st, STORAGE, json!({"properties": {"networkAcls": {"bypass": "AzureServices", "defaultAction": "Deny",
        "ipRules": [{"value": "203.0.113.0/28"}], "virtualNetworkRules": [{"id": training}]}}})).await;
    assert_eq!(p.status, 200, "{}", p.body);
    assert_eq!(p.str("/properties/networkAcls/defaultAction"), "Deny");
    assert_eq!(
        arm.put(
            &st,
            STORAGE,
            json!({"location": "westeurope", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"})
        )
        .await
        .status,
        200
    );
    assert_eq!(arm.get(&format!("/subscriptions/{SUB}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts"), STORAGE).await.status, 200);

    // Key vault: synchronous 200 with RegisteringDns, vnet rule, PATCH.
    let kv = id("Microsoft.KeyVault/vaults/ml-vault-01");
    let r = arm.put(&kv, KV, json!({"location": "westeurope", "properties": {"tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "sku": {"family": "A", "name": "standard"}, "accessPolicies": [],
        "networkAcls": {"bypass": "AzureServices", "defaultAction": "Deny", "ipRules": [{"value": "203.0.113.7"}], "virtualNetworkRules": [{"id": training}]}}})).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let g = arm.get(&kv, KV).await;
    assert_eq!(
        g.str("/properties/networkAcls/ipRules/0/value"),
        "203.0.113.7/32"
    );
    assert_eq!(
        g.str("/properties/networkAcls/virtualNetworkRules/0/id"),
        training.to_ascii_lowercase()
    );
    assert_eq!(
        arm.patch(
            &kv,
            KV,
            json!({"tags": {"managed-by": "moat"}, "properties": {"enabledForDeployment": true}})
        )
        .await
        .status,
        200
    );

    // Application Insights and container registry.
    let ai = id("Microsoft.Insights/components/ml-insights");
    assert_eq!(arm.put(&ai, INSIGHTS, json!({"location": "westeurope", "kind": "web", "properties": {"Application_Type": "web"}})).await.status, 200);
    assert_eq!(arm.get(&ai, INSIGHTS).await.status, 200);
    assert_eq!(
        arm.patch(&ai, INSIGHTS, json!({"tags": {"managed-by": "moat"}}))
            .await
            .status,
        200
    );
    let acr = id("Microsoft.ContainerRegistry/registries/mlacr01");
    arm.put_wait(&acr, ACR, json!({"location": "westeurope", "sku": {"name": "Premium"}, "properties": {"adminUserEnabled": false}})).await;
    assert_eq!(
        arm.get(&acr, ACR).await.str("/properties/loginServer"),
        "mlacr01.azurecr.io"
    );
    assert_eq!(
        arm.patch(&acr, ACR, json!({"tags": {"managed-by": "moat"}}))
            .await
            .status,
        200
    );

    // ML workspace: 202 with Location and Azure-AsyncOperation.
    let ws = id("Microsoft.MachineLearningServices/workspaces/mlw");
    let r = arm.put(&ws, ML, json!({"location": "westeurope", "identity": {"type": "SystemAssigned"}, "properties": {
        "storageAccount": st, "keyVault": kv, "applicationInsights": ai, "containerRegistry": acr, "friendlyName": "ML"}})).await;
    assert_eq!(r.status, 202, "{}", r.body);
    assert!(r.header("location").is_some() && r.header("azure-asyncoperation").is_some());
    arm.wait(&r).await;
    let g = arm.get(&ws, ML).await;
    assert!(
        g.str("/properties/keyVault")
            .contains("/Microsoft.Keyvault/"),
        "{}",
        g.body
    );
    assert_eq!(
        arm.patch(&ws, ML, json!({"properties": {"description": "training"}}))
            .await
            .status,
        200
    );

    // AKS cluster on the aks subnet.
    let aks = id("Microsoft.ContainerService/managedClusters/aks-ml");
    let r = arm
        .put_wait(&aks, AKS, json!({"location": "westeurope", "identity": {"type": "SystemAssigned"}, "properties": {
            "dnsPrefix": "aksml", "agentPoolProfiles": [{"name": "system", "count": 3, "vmSize": "Standard_D3_v2", "mode": "System", "vnetSubnetID": aks_subnet}],
            "networkProfile": {"networkPlugin": "azure", "serviceCidr": "10.1.0.0/16", "dnsServiceIP": "10.1.0.10"}}}))
        .await;
    assert_eq!(r.status, 201);
    let g = arm.get(&aks, AKS).await;
    assert!(g.str("/id").contains("/resourcegroups/"));
    assert_eq!(g.body["properties"]["agentPoolProfiles"][0]["maxPods"], 30);
    assert_eq!(
        arm.patch(&aks, AKS, json!({"tags": {"managed-by": "moat"}}))
            .await
            .status,
        200
    );

    // The Azure ML extension on it (KubernetesConfiguration 2023-05-01): create with a
    // protected setting, poll, read, list, update, delete, create again.
    let ext = format!("{aks}/providers/Microsoft.KubernetesConfiguration/extensions/azureml");
    let ext_body = |ha: &str| {
        json!({"properties": {"extensionType": "microsoft.azureml.kubernetes", "autoUpgradeMinorVersion": true,
            "releaseTrain": "stable", "scope": {"cluster": {"releaseNamespace": "azureml"}},
            "configurationSettings": {"enableInference": "True", "inferenceRouterServiceType": "LoadBalancer",
                "internalLoadBalancerProvider": "azure", "inferenceRouterHA": ha, "allowInsecureConnections": "True"},
            "configurationProtectedSettings": {"sslKeyPemFile": "KEY-MATERIAL"}}})
    };
    let r = arm.put_wait(&ext, EXT, ext_body("False")).await;
    assert_eq!(r.status, 201);
    assert!(
        arm.get(&ext, EXT).await.body["properties"]
            .get("configurationProtectedSettings")
            .is_none()
    );
    assert_eq!(
        arm.get(
            &format!("{aks}/providers/Microsoft.KubernetesConfiguration/extensions"),
            EXT
        )
        .await
        .status,
        200
    );
    assert_eq!(arm.put_wait(&ext, EXT, ext_body("True")).await.status, 200);
    assert_eq!(arm.delete(&ext, EXT).await.status, 200);
    arm.put_wait(&ext, EXT, ext_body("False")).await;

    // ML computes: AmlCompute in the training subnet, AKS attach, AKS created by Azure ML.
    let cpu = format!("{ws}/computes/cpu-cluster");
    arm.put_wait(&cpu, ML, json!({"location": "westeurope", "properties": {"computeType": "AmlCompute", "properties": {
        "vmSize": "STANDARD_D2_V2", "scaleSettings": {"minNodeCount": 0, "maxNodeCount": 4, "nodeIdleTimeBeforeScaleDown": "PT120S"},
        "subnet": {"id": training}, "remoteLoginPortPublicAccess": "NotSpecified"}}})).await;
    let g = arm.get(&cpu, ML).await;
    assert_eq!(
        g.str("/properties/properties/scaleSettings/nodeIdleTimeBeforeScaleDown"),
        "PT2M"
    );
    assert_eq!(
        g.str("/properties/properties/remoteLoginPortPublicAccess"),
        "Enabled"
    );
    assert_eq!(arm.patch(&cpu, ML, json!({"properties": {"properties": {"scaleSettings": {"maxNodeCount": 8, "minNodeCount": 0}}}})).await.status, 200);
    let inference = format!("{ws}/computes/inference");
    arm.put_wait(&inference, ML, json!({"location": "westeurope", "properties": {"computeType": "AKS", "resourceId": aks, "properties": {"clusterPurpose": "FastProd"}}})).await;
    assert_eq!(
        arm.get(&inference, ML).await.body["properties"]["isAttachedCompute"],
        true
    );
    let scoring = format!("{ws}/computes/scoring");
    arm.put_wait(&scoring, ML, json!({"location": "westeurope", "properties": {"computeType": "AKS", "properties": {
        "agentCount": 3, "agentVmSize": "Standard_D3_v2", "clusterPurpose": "FastProd",
        "aksNetworkingConfiguration": {"subnetId": aks_subnet, "serviceCidr": "10.2.0.0/16", "dnsServiceIP": "10.2.0.10", "dockerBridgeCidr": "172.17.0.1/16"}}}})).await;
    assert_eq!(
        arm.get(&format!("{ws}/computes"), ML).await.body["value"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );

    // Lists and service tags.
    let tags = arm
        .get(&format!("/subscriptions/{SUB}/resources?$filter=tagName%20eq%20'managed-by'%20and%20tagValue%20eq%20'moat'"), RES)
        .await;
    assert!(
        tags.body["value"].as_array().is_some_and(|v| v.len() >= 5),
        "{}",
        tags.body
    );
    assert_eq!(
        arm.get(
            &format!("/subscriptions/{SUB}/resourceGroups/{rg}/resources"),
            RES
        )
        .await
        .status,
        200
    );
    let t = arm
        .get(
            &format!(
                "/subscriptions/{SUB}/providers/Microsoft.Network/locations/westeurope/serviceTags"
            ),
            NET,
        )
        .await;
    assert!(
        t.body["values"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["name"] == "BatchNodeManagement.westeurope")
    );
    for (p, api) in [
        (
            format!("/subscriptions/{SUB}/providers/Microsoft.Network/virtualNetworks"),
            NET,
        ),
        (
            format!("/subscriptions/{SUB}/providers/Microsoft.KeyVault/vaults"),
            KV,
        ),
        (
            format!("/subscriptions/{SUB}/providers/Microsoft.ContainerService/managedClusters"),
            AKS,
        ),
        (
            format!("/subscriptions/{SUB}/providers/Microsoft.MachineLearningServices/workspaces"),
            ML,
        ),
    ] {
        assert_eq!(arm.get(&p, api).await.status, 200, "{p}");
    }

    // Deletes, in dependency order; the attached cluster is detached (`Delete` would delete
    // "the underlying compute", the cluster itself).
    for (c, action) in [
        (&cpu, "Delete"),
        (&inference, "Detach"),
        (&scoring, "Delete"),
    ] {
        let d = arm
            .delete(&format!("{c}?underlyingResourceAction={action}"), ML)
            .await;
        assert_eq!(d.status, 202, "{}", d.body);
        arm.wait(&d).await;
    }
    let d = arm.delete(&ws, ML).await;
    assert_eq!(d.status, 202);
    arm.wait(&d).await;
    let d = arm.delete(&aks, AKS).await;
    assert_eq!(d.status, 202);
    arm.wait(&d).await;
    let d = arm.delete(&acr, ACR).await;
    arm.wait(&d).await;
    assert_eq!(arm.delete(&ai, INSIGHTS).await.status, 200);
    assert_eq!(arm.delete(&kv, KV).await.status, 200);
    let dv = arm.get(&format!("/subscriptions/{SUB}/providers/Microsoft.KeyVault/locations/westeurope/deletedVaults/ml-vault-01"), KV).await;
    assert_eq!(dv.status, 200, "{}", dv.body);
    assert_eq!(
        arm.get(
            &format!("/subscriptions/{SUB}/providers/Microsoft.KeyVault/deletedVaults"),
            KV
        )
        .await
        .status,
        200
    );
    let p = arm.call("POST", &format!("/subscriptions/{SUB}/providers/Microsoft.KeyVault/locations/westeurope/deletedVaults/ml-vault-01/purge"), KV, None).await;
    assert_eq!(p.status, 202);
    arm.wait(&p).await;
    assert_eq!(arm.delete(&st, STORAGE).await.status, 200);
    for (path, api) in [
        (&format!("{rt}/routes/default"), NET),
        (&format!("{nsg}/securityRules/aml"), NET),
        (&aks_subnet, NET),
        (&vnet, NET),
        (&nsg, NET),
        (&rt, NET),
    ] {
        let d = arm.delete(path, api).await;
        assert_eq!(d.status, 202, "{path}: {}", d.body);
        arm.wait(&d).await;
    }
    let gone = arm.get(&vnet, NET).await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.code(), "ResourceNotFound");
    let d = arm.delete(&rg_path(rg), RES).await;
    assert_eq!(d.status, 202);
    arm.wait(&d).await;
    assert_eq!(arm.get(&rg_path(rg), RES).await.status, 404);
}

#[tokio::test]
async fn lifecycle_of_every_kind_passes_oav() {
    let dir = tempfile::tempdir().unwrap();
    let rec = dir.path().join("traffic");
    // Once instantly, once with real (scaled) durations so that transitional states and
    // Retry-After headers show up in the recording too.
    for (sub, scale) in [("instant", 0.0), ("scaled", 0.002)] {
        let (sim, arm) = start(moat_sim::SimConfig {
            record_dir: Some(rec.join(sub)),
            time_scale: scale,
            ..fast()
        })
        .await;
        lifecycle(&arm).await;
        sim.shutdown().await;
        let files = std::fs::read_dir(rec.join(sub)).unwrap().count();
        assert!(files > 70, "recorded {files} exchanges");
        let text = std::fs::read_to_string(
            std::fs::read_dir(rec.join(sub))
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .path(),
        )
        .unwrap();
        assert!(!text.contains("dev-token"), "authorization is redacted");
        // The extension's protected settings never reach a recording (x-ms-secret map).
        for f in std::fs::read_dir(rec.join(sub)).unwrap() {
            let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
            assert!(!text.contains("KEY-MATERIAL"), "{text}");
        }
    }

    // The recording is checked above without the kit; only its validation needs it.
    let Some(kit) = moat_testkit::kit_with_node("moat-sim/oav_lifecycle") else {
        return;
    };
    let out = kit
        .validate_traffic()
        .arg(&rec)
        .output()
        .expect("validate-traffic runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "validate-traffic failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains(" 0 failed"), "{stdout}");
}
