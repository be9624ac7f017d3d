//! Sends every create/update request example of the real API definitions that belongs to a
//! supported kind to the emulator and expects it to be accepted. Resources an example refers
//! to (parents, subnets, vaults, …) are created first with minimal bodies.

mod common;

use common::*;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

const OPERATIONS: &[&str] = &[
    "ResourceGroups_CreateOrUpdate",
    "ResourceGroups_Update",
    "VirtualNetworks_CreateOrUpdate",
    "VirtualNetworks_UpdateTags",
    "Subnets_CreateOrUpdate",
    "NetworkSecurityGroups_CreateOrUpdate",
    "NetworkSecurityGroups_UpdateTags",
    "SecurityRules_CreateOrUpdate",
    "RouteTables_CreateOrUpdate",
    "RouteTables_UpdateTags",
    "Routes_CreateOrUpdate",
    "StorageAccounts_Create",
    "StorageAccounts_Update",
    "Vaults_CreateOrUpdate",
    "Vaults_Update",
    "Components_CreateOrUpdate",
    "Components_UpdateTags",
    "Registries_Create",
    "Registries_Update",
    "Workspaces_CreateOrUpdate",
    "Workspaces_Update",
    "Compute_CreateOrUpdate",
    "Compute_Update",
    "ManagedClusters_CreateOrUpdate",
    "ManagedClusters_UpdateTags",
    // Private DNS zones; the link operations (`VirtualNetworkLinks_*`) cannot be matched by
    // oav (shared/arm/README.md, "Known failures"), and every private endpoint example
    // targets a private link service, which the emulator does not have.
    "PrivateZones_CreateOrUpdate",
    "PrivateZones_Update",
];

const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";

struct Example {
    op: String,
    file: PathBuf,
    method: String,
    path: String,
    api: String,
    body: Option<Value>,
}

fn spec_files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name()
                    .is_some_and(|n| n != "examples" && n != "common-types")
                {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn read_json(p: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(p).ok()?;
    serde_json::from_str(text.trim_start_matches('\u{feff}')).ok()
}

/// Rewrites any `/subscriptions/<x>/` to the test subscription.
fn fix_subs(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(fix_sub_str(s)),
        Value::Array(a) => Value::Array(a.iter().map(fix_subs).collect()),
        Value::Object(o) => {
            Value::Object(o.iter().map(|(k, v)| (k.clone(), fix_subs(v))).collect())
        }
        other => other.clone(),
    }
}

fn fix_sub_str(s: &str) -> String {
    let lower = s.to_ascii_lowercase();
    match lower.find("/subscriptions/") {
        Some(i) => {
            let start = i + "/subscriptions/".len();
            let end = s[start..].find('/').map_or(s.len(), |j| start + j);
            format!("{}{SUB}{}", &s[..start], fix_sub_str(&s[end..]))
        }
        None => s.to_string(),
    }
}

fn examples(root: &Path) -> Vec<Example> {
    let mut out = Vec::new();
    for f in spec_files(root) {
        let Some(doc) = read_json(&f) else { continue };
        let Some(paths) = doc.get("paths").and_then(Value::as_object) else {
            continue;
        };
        for (tmpl, item) in paths {
            for (method, op) in item.as_object().into_iter().flatten() {
                let Some(op_id) = op.get("operationId").and_then(Value::as_str) else {
                    continue;
                };
                if !OPERATIONS.contains(&op_id) {
                    continue;
                }
                for ex in op
                    .get("x-ms-examples")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                    .map(|(_, v)| v)
                {
                    let Some(r) = ex.get("$ref").and_then(Value::as_str) else {
                        continue;
                    };
                    let file = f.parent().unwrap().join(r);
                    let Some(exd) = read_json(&file) else {
                        continue;
                    };
                    let params = exd.get("parameters").cloned().unwrap_or(Value::Null);
                    let mut path = tmpl.clone();
                    let mut body = None;
                    let mut api = String::new();
                    for (k, v) in params.as_object().into_iter().flatten() {
                        let val = match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        if k == "api-version" {
                            api = val;
                        } else if path.contains(&format!("{{{k}}}")) {
                            path = path.replace(&format!("{{{k}}}"), &val);
                        } else if v.is_object() {
                            body = Some(fix_subs(v));
                        }
                    }
                    out.push(Example {
                        op: op_id.to_string(),
                        file,
                        method: method.to_ascii_uppercase(),
                        path: fix_sub_str(&path),
                        api,
                        body,
                    });
                }
            }
        }
    }
    out
}

fn api_of(ns_type: &str) -> &'static str {
    let t = ns_type.to_ascii_lowercase();
    if t.starts_with("microsoft.network/privatednszones") {
        "2024-06-01"
    } else if t.starts_with("microsoft.network") {
        NET
    } else if t.starts_with("microsoft.storage") {
        STORAGE
    } else if t.starts_with("microsoft.keyvault") {
        KV
    } else if t.starts_with("microsoft.insights") {
        INSIGHTS
    } else if t.starts_with("microsoft.containerregistry") {
        ACR
    } else if t.starts_with("microsoft.machinelearningservices") {
        ML
    } else if t.starts_with("microsoft.containerservice") {
        AKS
    } else {
        ""
    }
}

/// Creates the resource named by `id` (and its parents) with a minimal body when missing.
async fn ensure(arm: &Arm, id: &str, counter: &mut u32) {
    let segs: Vec<&str> = id.trim_matches('/').split('/').collect();
    if segs.len() < 4 || !segs[2].eq_ignore_ascii_case("resourcegroups") {
        return;
    }
    let rg = segs[3];
    if arm.get(&rg_path(rg), RES).await.status == 404 {
        arm.put(&rg_path(rg), RES, json!({"location": "eastus"}))
            .await;
    }
    if segs.len() < 8 || !segs[4].eq_ignore_ascii_case("providers") {
        return;
    }
    let ns = segs[5];
    let rest = &segs[6..];
    if !rest.len().is_multiple_of(2) {
        return;
    }
    if rest.len() == 4 {
        let parent = format!("/{}", segs[..segs.len() - 2].join("/"));
        Box::pin(ensure(arm, &parent, counter)).await;
    }
    let full = format!(
        "{ns}/{}",
        rest.iter()
            .step_by(2)
            .copied()
            .collect::<Vec<_>>()
            .join("/")
    );
    let api = api_of(&full);
    if api.is_empty() || arm.get(id, api).await.status != 404 {
        return;
    }
    *counter += 1;
    let n = *counter;
    let name = rest[rest.len() - 1];
    let body = match full.to_ascii_lowercase().as_str() {
        "microsoft.network/virtualnetworks" => {
            json!({"location": "eastus", "properties": {"addressSpace": {"addressPrefixes": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]}}})
        }
        "microsoft.network/virtualnetworks/subnets" => {
            json!({"properties": {"addressPrefix": format!("192.168.{}.0/24", n % 250),
            "serviceEndpoints": [{"service": "Microsoft.Storage"}, {"service": "Microsoft.KeyVault"}]}})
        }
        "microsoft.network/privatednszones" => json!({"location": "global"}),
        "microsoft.network/networksecuritygroups" | "microsoft.network/routetables" => {
            json!({"location": "eastus"})
        }
        "microsoft.network/networksecuritygroups/securityrules" => {
            json!({"properties": {"priority": 4000 - n, "direction": "Inbound", "access": "Allow", "protocol": "*",
            "sourceAddressPrefix": "*", "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRange": "*"}})
        }
        "microsoft.network/routetables/routes" => {
            json!({"properties": {"addressPrefix": "10.9.0.0/16", "nextHopType": "VnetLocal"}})
        }
        "microsoft.storage/storageaccounts" => {
            json!({"location": "eastus", "sku": {"name": "Standard_LRS"}, "kind": "StorageV2"})
        }
        "microsoft.keyvault/vaults" => {
            json!({"location": "eastus", "properties": {"tenantId": TENANT, "sku": {"family": "A", "name": "standard"}}})
        }
        "microsoft.insights/components" => {
            json!({"location": "eastus", "kind": "web", "properties": {"Application_Type": "web"}})
        }
        "microsoft.containerregistry/registries" => {
            json!({"location": "eastus", "sku": {"name": "Standard"}})
        }
        "microsoft.machinelearningservices/workspaces" => {
            let st = res(rg, &format!("Microsoft.Storage/storageAccounts/exdep{n}"));
            let kv = res(rg, &format!("Microsoft.KeyVault/vaults/exdep-kv{n}"));
            Box::pin(ensure(arm, &st, counter)).await;
            Box::pin(ensure(arm, &kv, counter)).await;
            json!({"location": "eastus", "properties": {"storageAccount": st, "keyVault": kv}})
        }
        "microsoft.machinelearningservices/workspaces/computes" => {
            json!({"properties": {"computeType": "AmlCompute", "properties": {"vmSize": "STANDARD_D2_V2", "scaleSettings": {"maxNodeCount": 1}}}})
        }
        "microsoft.containerservice/managedclusters" => {
            json!({"location": "eastus", "identity": {"type": "SystemAssigned"}, "properties": {"dnsPrefix": format!("ex{n}"),
            "agentPoolProfiles": [{"name": "sys", "mode": "System", "count": 1}]}})
        }
        _ => return,
    };
    let _ = name;
    arm.put(id, api, body).await;
    // A cluster an example attaches as Kubernetes compute carries the Azure ML extension.
    if full.eq_ignore_ascii_case("Microsoft.ContainerService/managedClusters") {
        let ext = format!("{id}/providers/Microsoft.KubernetesConfiguration/extensions/azureml");
        arm.put(&ext, "2023-05-01", json!({"properties": {"extensionType": "microsoft.azureml.kubernetes",
            "configurationSettings": {"enableInference": "True", "inferenceRouterServiceType": "LoadBalancer", "inferenceRouterHA": "False"}}}))
            .await;
    }
}

fn ids_in(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s)
            if s.to_ascii_lowercase().starts_with("/subscriptions/")
                && s.to_ascii_lowercase().contains("/resourcegroups/") =>
        {
            out.push(s.clone())
        }
        Value::Array(a) => a.iter().for_each(|x| ids_in(x, out)),
        Value::Object(o) => o.values().for_each(|x| ids_in(x, out)),
        _ => {}
    }
}

#[tokio::test]
async fn request_examples_of_the_api_definitions_are_accepted() {
    let Some(kit) = moat_testkit::kit("moat-sim/spec_examples") else {
        return;
    };
    let all = examples(&kit.specs().join("specification"));
    assert!(all.len() > 80, "found {} examples", all.len());
    let rec = tempfile::tempdir().unwrap();
    let mut counter = 0;
    let mut accepted = 0;
    let mut rejected = Vec::new();
    let mut unsatisfiable = Vec::new();
    for ex in &all {
        // A fresh cloud per example: examples reuse names with different locations and ranges.
        let (_sim, arm) = start(moat_sim::SimConfig {
            record_dir: Some(rec.path().join(format!(
                "{:03}",
                accepted + rejected.len() + unsatisfiable.len()
            ))),
            ..fast()
        })
        .await;
        // The resource itself must exist before an update; parents and referenced ids always.
        let mut refs = Vec::new();
        if let Some(b) = &ex.body {
            ids_in(b, &mut refs);
        }
        let mut missing = None;
        for id in refs {
            ensure(&arm, &id, &mut counter).await;
            let api = api_of(id.split("/providers/").nth(1).unwrap_or(""));
            if !api.is_empty() && arm.get(&id, api).await.status == 404 {
                missing = Some(id);
            }
        }
        if let Some(id) = missing {
            // The example names a resource that Azure itself would refuse to create
            // (e.g. an upper-case storage account name), so no cloud can satisfy it.
            unsatisfiable.push(format!(
                "{} {}: cannot create referenced {id}",
                ex.op,
                ex.file.file_name().unwrap().to_string_lossy()
            ));
            continue;
        }
        let is_update = ex
            .file
            .file_name()
            .is_some_and(|n| n.to_string_lossy().to_ascii_lowercase().contains("update"));
        if ex.method == "PATCH" || is_update {
            ensure(&arm, &ex.path, &mut counter).await;
        } else {
            let segs: Vec<&str> = ex.path.trim_matches('/').split('/').collect();
            if segs.len() > 4 {
                let parent = format!("/{}", segs[..segs.len() - 2].join("/"));
                ensure(&arm, &parent, &mut counter).await;
            }
        }
        let r = arm
            .call(&ex.method, &ex.path, &ex.api, ex.body.clone())
            .await;
        if r.status < 300 {
            accepted += 1;
            if let Some(done) = arm.wait(&r).await
                && done.body.get("status").is_some()
            {
                assert_eq!(done.str("/status"), "Succeeded");
            }
        } else {
            rejected.push(format!(
                "{} {} ({}): {} {}",
                ex.op,
                ex.file.file_name().unwrap().to_string_lossy(),
                ex.method,
                r.status,
                r.body
            ));
        }
    }
    println!(
        "{accepted} of {} request examples accepted, {} not applicable",
        all.len(),
        unsatisfiable.len()
    );
    for u in &unsatisfiable {
        println!("  not applicable: {u}");
    }
    assert!(
        unsatisfiable.len() <= 3,
        "too many examples could not be set up"
    );
    for r in &rejected {
        println!("  rejected: {r}");
    }
    // Every successful answer, set-up included, must match the specs. Failed set-up probes
    // (404 on a GET whose operation declares no 404, unsupported types) are the test's own.
    for dir in std::fs::read_dir(rec.path()).unwrap().flatten() {
        for f in std::fs::read_dir(dir.path()).unwrap().flatten() {
            let doc = read_json(&f.path()).unwrap_or(Value::Null);
            let status: u16 = doc
                .pointer("/liveResponse/statusCode")
                .and_then(Value::as_str)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            if status >= 400 {
                std::fs::remove_file(f.path()).unwrap();
            }
        }
    }
    if moat_testkit::have_node() {
        let out = kit
            .validate_traffic()
            .arg(rec.path())
            .output()
            .expect("validate-traffic runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        println!("{stdout}");
        assert!(
            out.status.success(),
            "validate-traffic failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    } else {
        moat_testkit::skip(
            "moat-sim/spec_examples",
            "oav validation of the example responses: `node`/`npm` not found on PATH",
        );
    }
    assert!(
        rejected.is_empty(),
        "{} of {} examples rejected",
        rejected.len(),
        all.len()
    );
}
