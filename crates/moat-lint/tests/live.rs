//! The live-aware rules: a storage or key vault firewall subnet of an `existing:` network,
//! which offline lint can only note as unchecked (ML203), is checked at plan time against the
//! live network's body (ML201, ML202) — failing when the live subnet lacks the endpoint,
//! passing when it has it. The subnet of an `existing:` network an AmlCompute cluster joins is
//! checked against its live NSG (ML110–ML113) and route table (ML114, ML115), read by ID
//! (`live_reads`) unless the spec declares them.

use moat_spec::{SourceFile, VarOverrides};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const SPEC: &str = "\
stack: live-lint
location: westeurope
resources:
  rg: { type: resource_group }
  hub: { type: virtual_network, existing: { resource_group: net-rg, name: hub-vnet } }
  store:
    type: storage_account
    resource_group: rg
    name: livelintstore
    network_rules: { default_action: deny, bypass: [azure_services], subnets: [hub/ml-training] }
  vault:
    type: key_vault
    resource_group: rg
    name: live-lint-vault
    network_rules: { default_action: deny, bypass: [azure_services], subnets: [hub/ml-training] }
";

fn model() -> moat_model::Model {
    resolved(SPEC)
}

fn none() -> moat_lint::PolicyReads {
    BTreeMap::new()
}

fn resolved(text: &str) -> moat_model::Model {
    let file = SourceFile::new("live.yaml", text);
    let env = |_: &str| None;
    let (spec, diags) = moat_spec::load(&file, &VarOverrides::default(), &env);
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
    let (model, diags) = moat_model::resolve(&spec.unwrap(), &moat_model::Context::default());
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:?}");
    model.unwrap()
}

fn live(endpoints: &[&str]) -> BTreeMap<String, serde_json::Value> {
    let eps: Vec<_> = endpoints
        .iter()
        .map(|e| json!({"service": e, "locations": ["*"]}))
        .collect();
    BTreeMap::from([(
        "hub".to_string(),
        json!({"properties": {"addressSpace": {"addressPrefixes": ["10.20.0.0/16"]},
            "subnets": [{"name": "ml-training", "properties": {
                "addressPrefix": "10.20.1.0/24", "serviceEndpoints": eps}}]}}),
    )])
}

#[test]
fn firewall_subnets_of_existing_networks_are_checked_against_the_live_body() {
    let m = model();
    let offline = moat_lint::lint(&m);
    assert_eq!(
        offline.iter().filter(|d| d.code == "ML203").count(),
        2,
        "offline, both are only noted: {offline:?}"
    );
    // A plan checks them live, so it leaves the notes out.
    assert!(
        offline
            .iter()
            .filter(|d| d.code == "ML203")
            .all(|d| moat_lint::checked_live(&m, d))
    );
    assert!(
        offline
            .iter()
            .filter(|d| d.code != "ML203")
            .all(|d| !moat_lint::checked_live(&m, d))
    );

    let found = moat_lint::lint_live(&m, &live(&["Microsoft.KeyVault"]), &none());
    let codes: Vec<&str> = found.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(codes, ["ML201"], "{found:?}");
    assert!(found[0].is_error());
    assert!(
        found[0].message.contains("`hub-vnet/ml-training`")
            && found[0].message.contains("`Microsoft.Storage`"),
        "{}",
        found[0].message
    );
    // Located at the reference in the storage firewall.
    let at = SPEC.find("hub/ml-training").unwrap();
    assert_eq!(found[0].primary.span.start as usize, at);

    let found = moat_lint::lint_live(&m, &live(&[]), &none());
    let codes: Vec<&str> = found.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(codes, ["ML201", "ML202"]);

    assert!(
        moat_lint::lint_live(
            &m,
            &live(&["Microsoft.Storage", "Microsoft.KeyVault"]),
            &none()
        )
        .is_empty()
    );
    // A subnet named by ARM ID is not read live: its note stays.
    let by_id = resolved(&SPEC.replacen(
        "subnets: [hub/ml-training] }",
        "subnets: [/subscriptions/10ca1000-0000-4000-8000-000000000001/resourceGroups/net-rg/providers/Microsoft.Network/virtualNetworks/other/subnets/x] }",
        1,
    ));
    let notes: Vec<_> = moat_lint::lint(&by_id)
        .into_iter()
        .filter(|d| d.code == "ML203")
        .collect();
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert_eq!(
        notes
            .iter()
            .filter(|d| moat_lint::checked_live(&by_id, d))
            .count(),
        1,
        "only the `hub/…` one is checked live: {notes:?}"
    );
    // Without the network's body (not read, or absent) nothing is claimed.
    assert!(moat_lint::lint_live(&m, &BTreeMap::new(), &none()).is_empty());
}

/// A team stack whose clusters join a subnet of the hub network another stack owns; the
/// team's own NSG and route table (`team-nsg`, `team-rt`) are attached to nothing in the spec.
const ML_SPEC: &str = "\
stack: live-ml
location: westeurope
resources:
  rg: { type: resource_group }
  hub: { type: virtual_network, existing: { resource_group: net-rg, name: hub-vnet } }
  team-nsg:
    type: network_security_group
    resource_group: rg
    rules:
      - { name: deny-all-in, priority: 300, direction: inbound, access: deny, protocol: any }
  team-rt:
    type: route_table
    resource_group: rg
    routes:
      - { name: default, address_prefix: 0.0.0.0/0, next_hop: virtual_appliance, next_hop_ip: 10.20.0.4 }
  store: { type: storage_account, resource_group: rg, name: liveml }
  vault: { type: key_vault, resource_group: rg, name: live-ml-vault }
  insights: { type: application_insights, resource_group: rg }
  ws: { type: ml_workspace, resource_group: rg, storage_account: store, key_vault: vault,
        application_insights: insights }
  cpu: { type: aml_compute, workspace: ws, vm_size: STANDARD_D2_V2, max_nodes: 4, subnet: hub/ml-training }
  gpu: { type: aml_compute, workspace: ws, vm_size: STANDARD_D2_V2, max_nodes: 2, subnet: hub/ml-training }
";

const NSG_ID: &str = "/subscriptions/10ca1000-0000-4000-8000-000000000001/resourceGroups/net-rg/providers/Microsoft.Network/networkSecurityGroups/hub-nsg";
const RT_ID: &str = "/subscriptions/10ca1000-0000-4000-8000-000000000001/resourceGroups/net-rg/providers/Microsoft.Network/routeTables/hub-rt";

/// The hub's live body: `ml-training` with the given NSG and route table IDs.
fn hub(nsg: Option<&str>, rt: Option<&str>) -> BTreeMap<String, Value> {
    let mut props = json!({"addressPrefix": "10.20.1.0/24"});
    if let Some(id) = nsg {
        props["networkSecurityGroup"] = json!({ "id": id });
    }
    if let Some(id) = rt {
        props["routeTable"] = json!({ "id": id });
    }
    BTreeMap::from([(
        "hub".to_string(),
        json!({"location": "westeurope", "properties": {
            "addressSpace": {"addressPrefixes": ["10.20.0.0/16"]},
            "subnets": [{"name": "ml-training", "properties": props}]}}),
    )])
}

/// A live security rule as ARM returns it.
fn rule(
    name: &str,
    priority: u32,
    dir: &str,
    access: &str,
    src: &str,
    dst: &str,
    ports: &str,
) -> Value {
    json!({"name": name, "properties": {
        "priority": priority, "direction": dir, "access": access, "protocol": "*",
        "sourceAddressPrefix": src, "sourcePortRange": "*",
        "destinationAddressPrefix": dst, "destinationPortRange": ports,
        "provisioningState": "Succeeded"}})
}

/// A live NSG body (with Azure's default rules, which the evaluator knows by itself).
fn nsg(rules: Vec<Value>) -> Value {
    json!({"id": NSG_ID, "name": "hub-nsg", "properties": {
        "securityRules": rules,
        "defaultSecurityRules": [rule("DenyAllInBound", 65500, "Inbound", "Deny", "*", "*", "*")]}})
}

fn route(name: &str, prefix: &str, hop: &str) -> Value {
    json!({"name": name, "properties": {"addressPrefix": prefix, "nextHopType": hop}})
}

fn table(routes: Vec<Value>) -> Value {
    json!({"id": RT_ID, "name": "hub-rt", "properties": {"routes": routes}})
}

fn reads(items: &[(&str, Result<Value, String>)]) -> moat_lint::PolicyReads {
    items
        .iter()
        .map(|(id, v)| (id.to_ascii_lowercase(), v.clone()))
        .collect()
}

fn batch_allowed() -> Value {
    rule(
        "allow-batch",
        100,
        "Inbound",
        "Allow",
        "BatchNodeManagement",
        "*",
        "29876-29877",
    )
}

fn codes(found: &[moat_spec::Diagnostic]) -> Vec<&str> {
    found.iter().map(|d| d.code.as_str()).collect()
}

#[test]
fn the_live_nsg_and_route_table_of_an_existing_subnet_are_read_once_each() {
    let m = resolved(ML_SPEC);
    // Offline, the existing subnet's NSG is unknown: nothing is claimed for it.
    let offline = moat_lint::lint(&m);
    assert!(
        !offline.iter().any(|d| d.code.starts_with("ML11")),
        "{offline:?}"
    );
    let wanted = moat_lint::live_reads(&m, &hub(Some(NSG_ID), Some(RT_ID)), &none());
    assert_eq!(
        wanted,
        [
            moat_lint::PolicyRead {
                id: NSG_ID.to_string(),
                kind: moat_model::Kind::NetworkSecurityGroup
            },
            moat_lint::PolicyRead {
                id: RT_ID.to_string(),
                kind: moat_model::Kind::RouteTable
            },
        ],
        "two clusters on one subnet: one read each"
    );
    // No NSG, no route table: nothing to read, Batch ports are open, nothing to report.
    assert!(moat_lint::live_reads(&m, &hub(None, None), &none()).is_empty());
    assert!(moat_lint::lint_live(&m, &hub(None, None), &none()).is_empty());
    // The spec's own NSG and route table are not read: the spec says what they hold.
    let team_nsg = m.get("team-nsg").unwrap().id.to_uppercase();
    let team_rt = m.get("team-rt").unwrap().id.clone();
    assert!(moat_lint::live_reads(&m, &hub(Some(&team_nsg), Some(&team_rt)), &none()).is_empty());
}

#[test]
fn ml110_a_live_deny_of_batch_ports_is_located_at_the_subnet_reference() {
    let m = resolved(ML_SPEC);
    let live = hub(Some(NSG_ID), None);
    let deny = rule("deny-all-in", 200, "Inbound", "Deny", "*", "*", "*");
    let found = moat_lint::lint_live(&m, &live, &reads(&[(NSG_ID, Ok(nsg(vec![deny.clone()])))]));
    assert_eq!(codes(&found), ["ML110"], "{found:?}");
    let d = &found[0];
    assert!(d.is_error());
    assert!(
        d.message
            == "live NSG `hub-nsg` of subnet `hub-vnet/ml-training` blocks Azure Batch management (TCP 29876 from `BatchNodeManagement`)",
        "{}",
        d.message
    );
    let at = ML_SPEC.find("hub/ml-training").unwrap();
    assert_eq!(d.primary.span.start as usize, at);
    assert_eq!(
        d.primary.text.as_str(),
        "live NSG `hub-nsg`: rule `deny-all-in` (priority 200) denies it"
    );
    let hint = d.hint.as_deref().unwrap_or_default();
    assert!(
        hint.starts_with("ask the network's owners to add an inbound rule to NSG `hub-nsg`: `{ name: batch-node-management, priority: 190,")
            && hint.contains("source: BatchNodeManagement, destination_ports: [\"29876-29877\"]"),
        "{hint}"
    );
    // The second cluster on the subnet is named too.
    let second = ML_SPEC.rfind("hub/ml-training").unwrap();
    assert!(
        d.secondary.iter().any(|s| s.span.start as usize == second),
        "{d:?}"
    );

    // A later allow is shadowed by the deny: the hint says to reorder.
    let late = rule(
        "allow-batch",
        300,
        "Inbound",
        "Allow",
        "BatchNodeManagement",
        "*",
        "29876-29877",
    );
    let found = moat_lint::lint_live(
        &m,
        &live,
        &reads(&[(NSG_ID, Ok(nsg(vec![deny.clone(), late])))]),
    );
    assert_eq!(codes(&found), ["ML110"]);
    assert!(
        found[0].hint.as_deref().unwrap_or_default().starts_with(
            "ask the network's owners to give rule `allow-batch` of NSG `hub-nsg` a priority below 200"
        ),
        "{:?}",
        found[0].hint
    );

    // No rule at all: Azure's default deny decides.
    let found = moat_lint::lint_live(&m, &live, &reads(&[(NSG_ID, Ok(nsg(vec![])))]));
    assert_eq!(codes(&found), ["ML110"]);
    assert_eq!(
        found[0].primary.text.as_str(),
        "live NSG `hub-nsg`: no rule allows it, so Azure's `DenyAllInBound` denies it"
    );

    // Passes: the allow comes first (the ID's case does not matter).
    let ok = reads(&[(&NSG_ID.to_uppercase(), Ok(nsg(vec![batch_allowed(), deny])))]);
    assert!(moat_lint::lint_live(&m, &live, &ok).is_empty());
}

#[test]
fn ml111_ml112_ml113_outbound_and_ssh_rules_of_a_live_nsg() {
    let m = resolved(ML_SPEC);
    let live = hub(Some(NSG_ID), None);
    let check = |rules: Vec<Value>| {
        let mut all = vec![batch_allowed()];
        all.extend(rules);
        moat_lint::lint_live(&m, &live, &reads(&[(NSG_ID, Ok(nsg(all)))]))
    };
    let deny_internet = rule(
        "deny-internet-out",
        4000,
        "Outbound",
        "Deny",
        "*",
        "Internet",
        "*",
    );
    let found = check(vec![
        rule(
            "storage-out",
            200,
            "Outbound",
            "Allow",
            "*",
            "Storage.westeurope",
            "443",
        ),
        deny_internet.clone(),
    ]);
    assert_eq!(codes(&found), ["ML113"], "{found:?}");
    assert!(
        found[0].message.contains(
            "does not allow `AzureContainerRegistry.westeurope`, `AzureMachineLearning` on TCP 443"
        ),
        "{}",
        found[0].message
    );
    assert_eq!(
        found[0].primary.text.as_str(),
        "live NSG `hub-nsg`: rule `deny-internet-out` (priority 4000) denies the internet"
    );
    let found = check(vec![
        rule(
            "storage-out",
            200,
            "Outbound",
            "Allow",
            "*",
            "Storage",
            "443",
        ),
        rule(
            "acr-out",
            210,
            "Outbound",
            "Allow",
            "*",
            "AzureContainerRegistry",
            "443",
        ),
        rule(
            "aml-out",
            220,
            "Outbound",
            "Allow",
            "*",
            "AzureMachineLearning",
            "443",
        ),
        deny_internet,
    ]);
    assert!(found.is_empty(), "{found:?}");

    let found = check(vec![rule(
        "no-vnet-out",
        200,
        "Outbound",
        "Deny",
        "*",
        "VirtualNetwork",
        "*",
    )]);
    assert_eq!(codes(&found), ["ML112"], "{found:?}");
    let found = check(vec![rule(
        "no-jumpbox",
        200,
        "Outbound",
        "Deny",
        "*",
        "10.20.200.0/24",
        "*",
    )]);
    assert!(found.is_empty(), "{found:?}");

    let found = check(vec![rule("ssh", 200, "Inbound", "Allow", "*", "*", "22")]);
    assert_eq!(codes(&found), ["ML111"], "{found:?}");
    assert!(!found[0].is_error());
    let found = check(vec![rule(
        "ssh",
        200,
        "Inbound",
        "Allow",
        "10.1.0.0/16",
        "*",
        "22",
    )]);
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn ml114_ml115_forced_tunnelling_in_a_live_route_table() {
    let m = resolved(ML_SPEC);
    let live = hub(None, Some(RT_ID));
    let check =
        |routes: Vec<Value>| moat_lint::lint_live(&m, &live, &reads(&[(RT_ID, Ok(table(routes)))]));
    let default = route("to-firewall", "0.0.0.0/0", "VirtualAppliance");
    let found = check(vec![default.clone()]);
    assert_eq!(codes(&found), ["ML114", "ML115"], "{found:?}");
    assert!(found[0].is_error() && !found[1].is_error());
    assert_eq!(
        found[0].message,
        "live route table `hub-rt` of subnet `hub-vnet/ml-training` tunnels all traffic but has no `BatchNodeManagement` route to the internet"
    );
    assert_eq!(
        found[0].primary.text.as_str(),
        "live route table `hub-rt`: route `to-firewall` sends `0.0.0.0/0` to `virtual_appliance`"
    );
    assert_eq!(
        found[0].hint.as_deref(),
        Some(
            "ask the network's owners to add a route to route table `hub-rt`: `{ name: batch-node-management, address_prefix: BatchNodeManagement.westeurope, next_hop: internet }`"
        )
    );
    assert_eq!(
        found[0].primary.span.start as usize,
        ML_SPEC.find("hub/ml-training").unwrap()
    );

    // A Batch route that goes to the appliance too.
    let found = check(vec![
        default.clone(),
        route(
            "batch",
            "BatchNodeManagement.westeurope",
            "VirtualAppliance",
        ),
        route("aml", "AzureMachineLearning", "Internet"),
    ]);
    assert_eq!(codes(&found), ["ML114"], "{found:?}");
    assert!(
        found[0].message.contains(
            "route `batch` sends `BatchNodeManagement.westeurope` to `virtual_appliance`"
        )
    );

    // Passes: both tags go to the internet; a table without a default route is no tunnel.
    assert!(
        check(vec![
            default,
            route("batch", "BatchNodeManagement", "Internet"),
            route("aml", "AzureMachineLearning", "Internet"),
        ])
        .is_empty()
    );
    assert!(
        check(vec![route(
            "onprem",
            "192.168.0.0/16",
            "VirtualNetworkGateway"
        )])
        .is_empty()
    );
}

#[test]
fn an_unreadable_nsg_or_route_table_is_a_not_checked_warning() {
    let m = resolved(ML_SPEC);
    let live = hub(Some(NSG_ID), Some(RT_ID));
    let why = "AuthorizationFailed (403): no read access".to_string();
    let found = moat_lint::lint_live(
        &m,
        &live,
        &reads(&[(NSG_ID, Err(why.clone())), (RT_ID, Err("not found".into()))]),
    );
    assert_eq!(codes(&found), ["ML110", "ML114"], "{found:?}");
    assert!(
        found
            .iter()
            .all(|d| d.severity == moat_spec::Severity::Warning)
    );
    assert_eq!(
        found[0].message,
        format!(
            "ML110–ML113 are not checked for subnet `hub-vnet/ml-training`: cannot read its live NSG `hub-nsg`: {why}"
        )
    );
    assert!(
        found[1]
            .message
            .contains("cannot read its live route table `hub-rt`: not found")
    );
    // Not read at all (the caller read nothing): nothing is claimed.
    assert!(moat_lint::lint_live(&m, &live, &none()).is_empty());
}

#[test]
fn an_nsg_and_route_table_of_the_spec_attached_to_an_existing_subnet_are_checked_as_written() {
    let m = resolved(ML_SPEC);
    let team_nsg = m.get("team-nsg").unwrap().id.clone();
    let team_rt = m.get("team-rt").unwrap().id.clone();
    let found = moat_lint::lint_live(&m, &hub(Some(&team_nsg), Some(&team_rt)), &none());
    assert_eq!(codes(&found), ["ML110", "ML114", "ML115"], "{found:?}");
    let d = &found[0];
    assert_eq!(
        d.primary.text.as_str(),
        "NSG `team-nsg`: rule `deny-all-in` (priority 300) denies it"
    );
    // The spec's rule is pointed at, and the fix is the spec's own (no "ask the owners").
    let rule_at = ML_SPEC.find("priority: 300").unwrap() + "priority: ".len();
    assert!(
        d.secondary.iter().any(|s| s.span.start as usize == rule_at),
        "{d:?}"
    );
    assert!(
        d.hint
            .as_deref()
            .unwrap_or_default()
            .starts_with("add an inbound rule to NSG `team-nsg`"),
        "{:?}",
        d.hint
    );
}

/// AKS inference nodes in subnets outside the spec: `scoring` (an AKS compute Azure ML
/// creates) in `hub/ml-inference` of an `existing:` network, and the nodes of `aks` (attached
/// as Kubernetes compute) and the cluster `train` in subnets named only by ARM ID.
const AKS_SPEC: &str = "\
stack: live-aks
location: westeurope
resources:
  rg: { type: resource_group }
  hub: { type: virtual_network, existing: { resource_group: net-rg, name: hub-vnet } }
  store: { type: storage_account, resource_group: rg, name: liveaks }
  vault: { type: key_vault, resource_group: rg, name: live-aks-vault }
  insights: { type: application_insights, resource_group: rg }
  ws: { type: ml_workspace, resource_group: rg, storage_account: store, key_vault: vault,
        application_insights: insights }
  scoring:
    type: aks_compute
    workspace: ws
    create: { agent_count: 2, vm_size: Standard_D3_v2, cluster_purpose: dev_test, subnet: hub/ml-inference,
              service_cidr: 10.250.0.0/16, dns_service_ip: 10.250.0.10 }
  aks:
    type: aks_cluster
    resource_group: rg
    node_count: 3
    vm_size: Standard_D3_v2
    network: { plugin: azure, subnet: /subscriptions/10ca1000-0000-4000-8000-000000000001/resourceGroups/net-rg/providers/Microsoft.Network/virtualNetworks/spoke-vnet/subnets/aks-nodes,
               service_cidr: 10.1.0.0/16, dns_service_ip: 10.1.0.10 }
  k8s: { type: kubernetes_compute, workspace: ws, cluster: aks }
  train: { type: aml_compute, workspace: ws, vm_size: STANDARD_D2_V2, max_nodes: 2,
           subnet: /subscriptions/10ca1000-0000-4000-8000-000000000001/resourceGroups/net-rg/providers/Microsoft.Network/virtualNetworks/spoke-vnet/subnets/training }
";

const AKS_NSG_ID: &str = "/subscriptions/10ca1000-0000-4000-8000-000000000001/resourceGroups/net-rg/providers/Microsoft.Network/networkSecurityGroups/aks-nsg";
const NODES_ID: &str = "/subscriptions/10ca1000-0000-4000-8000-000000000001/resourceGroups/net-rg/providers/Microsoft.Network/virtualNetworks/spoke-vnet/subnets/aks-nodes";
const TRAINING_ID: &str = "/subscriptions/10ca1000-0000-4000-8000-000000000001/resourceGroups/net-rg/providers/Microsoft.Network/virtualNetworks/spoke-vnet/subnets/training";
const SPOKE_NSG_ID: &str = "/subscriptions/10ca1000-0000-4000-8000-000000000001/resourceGroups/net-rg/providers/Microsoft.Network/networkSecurityGroups/spoke-nsg";

/// The hub's live body: `ml-inference` behind `aks-nsg`.
fn aks_hub() -> BTreeMap<String, Value> {
    BTreeMap::from([(
        "hub".to_string(),
        json!({"location": "westeurope", "properties": {
            "addressSpace": {"addressPrefixes": ["10.20.0.0/16"]},
            "subnets": [{"name": "ml-inference", "properties": {
                "addressPrefix": "10.20.16.0/20",
                "networkSecurityGroup": {"id": AKS_NSG_ID}}}]}}),
    )])
}

/// A subnet as a GET by its ID returns it, behind `spoke-nsg`.
fn spoke_subnet(name: &str, prefix: &str) -> Value {
    json!({"id": format!("/subscriptions/10ca1000-0000-4000-8000-000000000001/resourceGroups/net-rg/providers/Microsoft.Network/virtualNetworks/spoke-vnet/subnets/{name}"),
        "name": name, "properties": {"addressPrefix": prefix,
        "networkSecurityGroup": {"id": SPOKE_NSG_ID}}})
}

fn named_nsg(id: &str, rules: Vec<Value>) -> Value {
    let name = id.rsplit('/').next().unwrap();
    json!({"id": id, "name": name, "properties": {"securityRules": rules}})
}

fn deny_in() -> Value {
    rule("deny-all-in", 300, "Inbound", "Deny", "*", "*", "*")
}

fn aml_in() -> Value {
    rule(
        "azure-ml",
        100,
        "Inbound",
        "Allow",
        "AzureMachineLearning",
        "*",
        "443",
    )
}

fn callers_in() -> Value {
    rule(
        "scoring",
        110,
        "Inbound",
        "Allow",
        "VirtualNetwork",
        "*",
        "443",
    )
}

#[test]
fn subnets_by_arm_id_then_their_nsgs_are_read_in_rounds_once_each() {
    let m = resolved(AKS_SPEC);
    let live = aks_hub();
    let first = moat_lint::live_reads(&m, &live, &none());
    let read = |id: &str, kind| moat_lint::PolicyRead {
        id: id.to_string(),
        kind,
    };
    use moat_model::Kind;
    assert_eq!(
        first,
        [
            read(TRAINING_ID, Kind::Subnet),
            read(NODES_ID, Kind::Subnet),
            read(AKS_NSG_ID, Kind::NetworkSecurityGroup),
        ],
        "the subnets by ID and the hub subnet's NSG"
    );
    // Once the subnets are read, their (shared) NSG is asked for, once.
    let mut got = reads(&[
        (TRAINING_ID, Ok(spoke_subnet("training", "10.30.1.0/24"))),
        (NODES_ID, Ok(spoke_subnet("aks-nodes", "10.30.16.0/20"))),
        (AKS_NSG_ID, Ok(named_nsg(AKS_NSG_ID, vec![aml_in()]))),
    ]);
    assert_eq!(
        moat_lint::live_reads(&m, &live, &got),
        [read(SPOKE_NSG_ID, Kind::NetworkSecurityGroup)]
    );
    got.insert(
        SPOKE_NSG_ID.to_ascii_lowercase(),
        Ok(named_nsg(SPOKE_NSG_ID, vec![batch_allowed()])),
    );
    assert!(moat_lint::live_reads(&m, &live, &got).is_empty());
    // Everything open (Azure's defaults admit the network; the allow rules Azure ML and
    // Batch): clean.
    assert!(
        moat_lint::lint_live(&m, &live, &got).is_empty(),
        "{:?}",
        moat_lint::lint_live(&m, &live, &got)
    );
}

/// The reads for [`AKS_SPEC`] with `aks-nsg` holding `hub_rules` and `spoke-nsg` `spoke_rules`.
fn aks_reads(hub_rules: Vec<Value>, spoke_rules: Vec<Value>) -> moat_lint::PolicyReads {
    reads(&[
        (TRAINING_ID, Ok(spoke_subnet("training", "10.30.1.0/24"))),
        (NODES_ID, Ok(spoke_subnet("aks-nodes", "10.30.16.0/20"))),
        (AKS_NSG_ID, Ok(named_nsg(AKS_NSG_ID, hub_rules))),
        (SPOKE_NSG_ID, Ok(named_nsg(SPOKE_NSG_ID, spoke_rules))),
    ])
}

#[test]
fn ml308_ml309_a_live_hub_nsg_keeping_azure_ml_and_callers_out_of_an_aks_subnet() {
    let m = resolved(AKS_SPEC);
    // Offline the hub subnet's NSG is unknown: nothing is claimed for it.
    assert!(
        !moat_lint::lint(&m)
            .iter()
            .any(|d| d.code == "ML308" || d.code == "ML309")
    );
    let spoke_ok = || vec![batch_allowed(), callers_in()];
    let deny_aml = rule(
        "deny-aml",
        200,
        "Inbound",
        "Deny",
        "AzureMachineLearning",
        "*",
        "443",
    );
    let found = moat_lint::lint_live(&m, &aks_hub(), &aks_reads(vec![deny_aml], spoke_ok()));
    assert_eq!(codes(&found), ["ML308"], "{found:?}");
    let d = &found[0];
    assert_eq!(d.severity, moat_spec::Severity::Warning);
    assert_eq!(
        d.message,
        "live NSG `aks-nsg` keeps `AzureMachineLearning` (TCP 443) out of AKS subnet `hub-vnet/ml-inference`"
    );
    // Located at the compute's `create.subnet`.
    assert_eq!(
        d.primary.span.start as usize,
        AKS_SPEC.find("hub/ml-inference").unwrap()
    );
    assert_eq!(
        d.primary.text.as_str(),
        "live NSG `aks-nsg`: rule `deny-aml` (priority 200) denies it"
    );
    assert!(
        d.hint.as_deref().unwrap_or_default().starts_with(
            "ask the network's owners to add an inbound rule to NSG `aks-nsg`: `{ name: azure-ml,"
        ),
        "{:?}",
        d.hint
    );

    // Everything inbound denied: Azure ML and every caller are kept out.
    let found = moat_lint::lint_live(&m, &aks_hub(), &aks_reads(vec![deny_in()], spoke_ok()));
    assert_eq!(codes(&found), ["ML308", "ML309"], "{found:?}");
    assert_eq!(
        found[1].message,
        "live NSG `aks-nsg` lets no caller reach the scoring endpoint (TCP 80 or 443) in AKS subnet `hub-vnet/ml-inference`"
    );
    assert!(
        found[1].hint.as_deref().unwrap_or_default().starts_with(
            "ask the network's owners to add an inbound allow rule on TCP 80/443 to NSG `aks-nsg`"
        ),
        "{:?}",
        found[1].hint
    );

    // Fixed: Azure ML and the network's callers allowed before the deny.
    let fixed = aks_reads(vec![aml_in(), callers_in(), deny_in()], spoke_ok());
    assert!(moat_lint::lint_live(&m, &aks_hub(), &fixed).is_empty());
}

#[test]
fn subnets_named_by_arm_id_are_checked_against_their_live_nsg() {
    let m = resolved(AKS_SPEC);
    let hub_ok = || vec![aml_in(), callers_in()];
    // `spoke-nsg` denies everything inbound: Batch is kept from `train` (ML110) and callers
    // from the Kubernetes compute's nodes (ML309; ML308 is the v1 AKS compute's only).
    let found = moat_lint::lint_live(&m, &aks_hub(), &aks_reads(hub_ok(), vec![deny_in()]));
    assert_eq!(codes(&found), ["ML309", "ML110"], "{found:?}");
    let nodes = &found[0];
    assert_eq!(
        nodes.message,
        "live NSG `spoke-nsg` lets no caller reach the scoring endpoint (TCP 80 or 443) in AKS subnet `spoke-vnet/aks-nodes`"
    );
    assert_eq!(
        nodes.primary.span.start as usize,
        AKS_SPEC.find(NODES_ID).unwrap()
    );
    // The compute that serves from the cluster's subnet is named where it names the cluster.
    let cluster_at = AKS_SPEC.find("cluster: aks").unwrap() + "cluster: ".len();
    assert!(
        nodes
            .secondary
            .iter()
            .any(|s| s.span.start as usize == cluster_at && s.text.contains("`k8s` serves models")),
        "{nodes:?}"
    );
    let batch = &found[1];
    assert!(batch.is_error());
    assert_eq!(
        batch.message,
        "live NSG `spoke-nsg` of subnet `spoke-vnet/training` blocks Azure Batch management (TCP 29876 from `BatchNodeManagement`)"
    );
    assert_eq!(
        batch.primary.span.start as usize,
        AKS_SPEC.find(TRAINING_ID).unwrap()
    );
    assert!(
        batch
            .hint
            .as_deref()
            .unwrap_or_default()
            .starts_with("ask the network's owners to add an inbound rule to NSG `spoke-nsg`"),
        "{:?}",
        batch.hint
    );
    // Passes: Batch and the callers allowed.
    let ok = aks_reads(hub_ok(), vec![batch_allowed(), callers_in(), deny_in()]);
    assert!(moat_lint::lint_live(&m, &aks_hub(), &ok).is_empty());
}

#[test]
fn a_missing_subnet_by_arm_id_is_a_located_error_and_an_unreadable_one_a_warning() {
    let m = resolved(AKS_SPEC);
    let hub_ok = || Ok(named_nsg(AKS_NSG_ID, vec![aml_in(), callers_in()]));
    let gone = reads(&[
        (TRAINING_ID, Err(moat_lint::NOT_FOUND.to_string())),
        (NODES_ID, Err(moat_lint::NOT_FOUND.to_string())),
        (AKS_NSG_ID, hub_ok()),
    ]);
    let found = moat_lint::lint_live(&m, &aks_hub(), &gone);
    assert_eq!(codes(&found), ["E0203", "E0203"], "{found:?}");
    assert!(found.iter().all(|d| d.is_error()));
    assert_eq!(
        found[0].message,
        "subnet `spoke-vnet/aks-nodes` does not exist"
    );
    assert_eq!(
        found[0].primary.span.start as usize,
        AKS_SPEC.find(NODES_ID).unwrap()
    );
    assert_eq!(
        found[1].message,
        "subnet `spoke-vnet/training` does not exist"
    );
    assert_eq!(
        found[1].primary.span.start as usize,
        AKS_SPEC.find(TRAINING_ID).unwrap()
    );
    // Nothing further is asked for a subnet that is not there.
    assert!(moat_lint::live_reads(&m, &aks_hub(), &gone).is_empty());

    let why = "AuthorizationFailed (403): no read access".to_string();
    let denied = reads(&[
        (TRAINING_ID, Err(why.clone())),
        (NODES_ID, Err(why.clone())),
        (AKS_NSG_ID, Err(why.clone())),
    ]);
    let found = moat_lint::lint_live(&m, &aks_hub(), &denied);
    assert_eq!(codes(&found), ["ML308", "ML308", "ML110"], "{found:?}");
    assert!(
        found
            .iter()
            .all(|d| d.severity == moat_spec::Severity::Warning)
    );
    assert_eq!(
        found[0].message,
        format!(
            "ML308/ML309 are not checked for AKS subnet `hub-vnet/ml-inference`: cannot read its live NSG `aks-nsg`: {why}"
        )
    );
    assert_eq!(
        found[1].message,
        format!(
            "ML308/ML309 are not checked for AKS subnet `spoke-vnet/aks-nodes`: cannot read its subnet: {why}"
        )
    );
    assert_eq!(
        found[2].message,
        format!(
            "ML110–ML115 are not checked for subnet `spoke-vnet/training`: cannot read its subnet: {why}"
        )
    );
    // A subnet by ID in a network the spec creates is not read: it may not exist yet.
    let with_spoke = AKS_SPEC.replace(
        "  k8s:",
        "  spoke: { type: virtual_network, resource_group: rg, name: spoke-vnet, address_space: [10.30.0.0/16],\n           subnets: { other: { address_prefix: 10.30.16.0/20 } } }\n  k8s:",
    );
    let spoke_id = resolved(&with_spoke).get("spoke").unwrap().id.clone();
    let own = resolved(&with_spoke.replace(
        "/subscriptions/10ca1000-0000-4000-8000-000000000001/resourceGroups/net-rg/providers/Microsoft.Network/virtualNetworks/spoke-vnet/",
        &format!("{spoke_id}/"),
    ));
    assert!(
        own.get("train")
            .unwrap()
            .reference("subnet")
            .unwrap()
            .target
            .is_none(),
        "not one of the spec's subnets"
    );
    let wanted = moat_lint::live_reads(&own, &aks_hub(), &none());
    assert!(
        wanted.iter().all(|r| r.kind != moat_model::Kind::Subnet),
        "{wanted:?}"
    );
}
