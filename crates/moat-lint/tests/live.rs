//! The live-aware rules: a storage or key vault firewall subnet of an `existing:` network,
//! which offline lint can only note as unchecked (ML203), is checked at plan time against the
//! live network's body (ML201, ML202) — failing when the live subnet lacks the endpoint,
//! passing when it has it.

use moat_spec::{SourceFile, VarOverrides};
use serde_json::json;
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
    let file = SourceFile::new("live.yaml", SPEC);
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

    let found = moat_lint::lint_live(&m, &live(&["Microsoft.KeyVault"]));
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

    let found = moat_lint::lint_live(&m, &live(&[]));
    let codes: Vec<&str> = found.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(codes, ["ML201", "ML202"]);

    assert!(
        moat_lint::lint_live(&m, &live(&["Microsoft.Storage", "Microsoft.KeyVault"])).is_empty()
    );
    // Without the network's body (not read, or absent) nothing is claimed.
    assert!(moat_lint::lint_live(&m, &BTreeMap::new()).is_empty());
}
