//! The ML rules against the live NSG and route table of a hub subnet another stack owns: a
//! team's cluster joins `hub-vnet/ml-training` of an `existing:` network, whose NSG denies Azure
//! Batch management and whose route table tunnels everything to a firewall (both read by ID at
//! plan time, never written). The plan stops with ML110 and ML114 located at the cluster's
//! `subnet:` (file:line:col, caret, the live NSG and rule named, a hint for the network's
//! owners); once the hub team adds the allow rule and the routes, the same plan is clean.
//! Likewise the AKS cluster Azure ML creates in `hub-vnet/ml-inference`: a hub NSG keeping
//! `AzureMachineLearning` out on TCP 443 is a located ML308 warning at its `create.subnet`. A
//! subnet named by full ARM ID is read by ID and checked the same way; a typo in the ID is a
//! located E0203 before any plan.

mod common;

use common::{Moat, copy_example, path_str, repo, scratch, seed_spec};

const HUB_NSG: &str = "  hub-nsg:
    type: network_security_group
    resource_group: network-rg
    rules:
";
const HUB_RT: &str = "  hub-rt:
    type: route_table
    resource_group: network-rg
    routes:
      - { name: to-firewall, address_prefix: 0.0.0.0/0, next_hop: virtual_appliance, next_hop_ip: 10.200.0.4 }
";
const ROUTES: &str =
    "      - { name: batch, address_prefix: BatchNodeManagement.westeurope, next_hop: internet }
      - { name: azure-ml, address_prefix: AzureMachineLearning, next_hop: internet }
";
const DENY: &str = "      - { name: deny-all-in, priority: 200, direction: inbound, access: deny, protocol: any }\n";
const ALLOW: &str =
    "      - { name: batch-node-management, priority: 100, direction: inbound, access: allow,
          protocol: tcp, source: BatchNodeManagement, destination_ports: [\"29876-29877\"] }\n";

/// The example's hub seed with `ml-training` behind `hub-nsg` holding `rules` and `hub-rt`
/// tunnelling to a firewall, with `routes` besides.
fn hub(rules: &[&str], routes: &str) -> String {
    let example = repo().join("examples/shared-vnet-training.yaml");
    let seed = seed_spec(&example).expect("a hub seed");
    let from = "ml-training: { address_prefix: 10.200.1.0/24,";
    assert!(
        seed.contains(from),
        "the seed's ml-training changed:\n{seed}"
    );
    let mut text = seed.replace(
        from,
        "ml-training: { address_prefix: 10.200.1.0/24, network_security_group: hub-nsg, route_table: hub-rt,",
    );
    text.push_str(HUB_NSG);
    for r in rules {
        text.push_str(r);
    }
    text.push_str(HUB_RT);
    text.push_str(routes);
    text
}

#[test]
fn a_live_hub_nsg_and_route_table_that_break_batch_are_located_plan_errors() {
    let dir = scratch("live-hub-nsg");
    let spec = copy_example(&repo().join("examples/shared-vnet-training.yaml"), &dir);
    let moat = Moat::local(&dir.join("state"));
    let hub_spec = dir.join("hub.yaml");
    std::fs::write(&hub_spec, hub(&[DENY], "")).unwrap();
    moat.apply(&hub_spec).expect(0, "apply of the hub");
    let hub_ids = common::cloud_ids(&moat.local_cloud());

    let out = moat.run(&["plan", path_str(&spec)]);
    out.expect(
        1,
        "plan against a hub NSG that denies Batch and a tunnelling route table",
    );
    let err = &out.stderr;
    assert!(
        err.contains("error[ML110]: live NSG `hub-nsg` of subnet `hub-vnet/ml-training` blocks Azure Batch management (TCP 29876 from `BatchNodeManagement`)"),
        "{err}"
    );
    // Located at the cluster's `subnet:` value, with a caret under it and the live rule named.
    let text = std::fs::read_to_string(&spec).unwrap();
    let (line, source) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.trim() == "subnet: hub-vnet/ml-training")
        .map(|(i, l)| (i + 1, l))
        .expect("the cluster's subnet line");
    let col = source.find("hub-vnet").unwrap() + 1;
    assert!(
        err.contains(&format!("shared-vnet-training.yaml:{line}:{col}")),
        "{err}"
    );
    let caret = format!(
        "{}{} live NSG `hub-nsg`: rule `deny-all-in` (priority 200) denies it",
        " ".repeat(col - 1),
        "^".repeat("hub-vnet/ml-training".len())
    );
    assert!(
        err.lines().any(|l| l.ends_with(&caret)),
        "no caret line ending `{caret}`:\n{err}"
    );
    assert!(
        err.contains("ask the network's owners to add an inbound rule to NSG `hub-nsg`"),
        "{err}"
    );
    assert!(
        err.contains("error[ML114]: live route table `hub-rt` of subnet `hub-vnet/ml-training` tunnels all traffic but has no `BatchNodeManagement` route to the internet")
            && err.contains("warning[ML115]: live route table `hub-rt`")
            && err.contains("ask the network's owners to add a route to route table `hub-rt`: `{ name: batch-node-management, address_prefix: BatchNodeManagement.westeurope, next_hop: internet }`"),
        "{err}"
    );
    assert!(
        err.contains("the live cloud refuses 2 part(s) of the spec; nothing was sent to Azure"),
        "{err}"
    );
    // The firewall subnets of the hub are checked live (ML201/ML202), so they are not also
    // noted as unchecked.
    assert!(!err.contains("ML203"), "{err}");
    // Reads only: the cloud holds exactly the hub, and the team's stack has no state.
    assert_eq!(common::cloud_ids(&moat.local_cloud()), hub_ids);
    assert!(
        moat.state("team-vision")
            .is_none_or(|r| r.resources.is_empty())
    );

    // The hub team fixes its NSG and routes: the same plan is clean of ML110–ML115.
    std::fs::write(&hub_spec, hub(&[ALLOW, DENY], ROUTES)).unwrap();
    moat.apply(&hub_spec).expect(0, "apply of the fixed hub");
    let out = moat.run(&["plan", path_str(&spec)]);
    out.expect(0, "plan against the fixed hub");
    assert!(!out.stderr.contains("ML11"), "{}", out.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}

const AKS_NSG: &str = "  aks-nsg:
    type: network_security_group
    resource_group: network-rg
    rules:
";
const DENY_AML: &str =
    "      - { name: deny-azure-ml, priority: 200, direction: inbound, access: deny,
          protocol: tcp, source: AzureMachineLearning, destination_ports: [\"443\"] }\n";
const ALLOW_AML: &str =
    "      - { name: azure-ml, priority: 100, direction: inbound, access: allow,
          protocol: tcp, source: AzureMachineLearning, destination_ports: [\"443\"] }\n";

/// The example's hub seed with `ml-inference` (where Azure ML creates the `scoring` AKS
/// cluster) behind `aks-nsg` holding `rules`.
fn aks_hub(rules: &[&str]) -> String {
    let example = repo().join("examples/shared-vnet-training.yaml");
    let seed = seed_spec(&example).expect("a hub seed");
    let from = "ml-inference: { address_prefix: 10.200.16.0/20,";
    assert!(
        seed.contains(from),
        "the seed's ml-inference changed:\n{seed}"
    );
    let mut text = seed.replace(
        from,
        "ml-inference: { address_prefix: 10.200.16.0/20, network_security_group: aks-nsg,",
    );
    text.push_str(AKS_NSG);
    for r in rules {
        text.push_str(r);
    }
    text
}

/// Line and column (1-based) of `needle` in the first line of `text` whose trimmed form is
/// `line`.
fn locate(text: &str, line: &str, needle: &str) -> (usize, usize) {
    text.lines()
        .enumerate()
        .find(|(_, l)| l.trim() == line)
        .map(|(i, l)| (i + 1, l.find(needle).expect("needle in line") + 1))
        .unwrap_or_else(|| panic!("no line `{line}` in:\n{text}"))
}

#[test]
fn a_live_hub_nsg_keeping_azure_ml_out_of_the_aks_subnet_is_a_located_ml308() {
    let dir = scratch("live-hub-aks-nsg");
    let spec = copy_example(&repo().join("examples/shared-vnet-training.yaml"), &dir);
    let moat = Moat::local(&dir.join("state"));
    let hub_spec = dir.join("hub.yaml");
    std::fs::write(&hub_spec, aks_hub(&[DENY_AML])).unwrap();
    moat.apply(&hub_spec).expect(0, "apply of the hub");
    let hub_ids = common::cloud_ids(&moat.local_cloud());

    // A warning: the plan goes on (nothing is applied by a plan anyway).
    let out = moat.run(&["plan", path_str(&spec)]);
    out.expect(0, "plan against a hub NSG that keeps Azure ML out");
    let err = &out.stderr;
    assert!(
        err.contains("warning[ML308]: live NSG `aks-nsg` keeps `AzureMachineLearning` (TCP 443) out of AKS subnet `hub-vnet/ml-inference`"),
        "{err}"
    );
    // Located at the compute's `create.subnet`, caret under it, the live rule named.
    let text = std::fs::read_to_string(&spec).unwrap();
    let (line, col) = locate(&text, "subnet: hub-vnet/ml-inference", "hub-vnet");
    assert!(
        err.contains(&format!("shared-vnet-training.yaml:{line}:{col}")),
        "{err}"
    );
    let caret = format!(
        "{}{} live NSG `aks-nsg`: rule `deny-azure-ml` (priority 200) denies it",
        " ".repeat(col - 1),
        "^".repeat("hub-vnet/ml-inference".len())
    );
    assert!(
        err.lines().any(|l| l.ends_with(&caret)),
        "no caret line ending `{caret}`:\n{err}"
    );
    assert!(
        err.contains("ask the network's owners to add an inbound rule to NSG `aks-nsg`"),
        "{err}"
    );
    // The network's callers still reach the scoring port (Azure's `AllowVnetInBound`).
    assert!(!err.contains("ML309"), "{err}");
    // Reads only: the cloud holds exactly the hub, and the team's stack has no state.
    assert_eq!(common::cloud_ids(&moat.local_cloud()), hub_ids);
    assert!(
        moat.state("team-vision")
            .is_none_or(|r| r.resources.is_empty())
    );

    // The hub team allows Azure ML first: the same plan is clean of ML308.
    std::fs::write(&hub_spec, aks_hub(&[ALLOW_AML, DENY_AML])).unwrap();
    moat.apply(&hub_spec).expect(0, "apply of the fixed hub");
    let out = moat.run(&["plan", path_str(&spec)]);
    out.expect(0, "plan against the fixed hub");
    assert!(!out.stderr.contains("ML30"), "{}", out.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_subnet_named_by_arm_id_is_read_live_and_a_typo_is_a_located_e0203() {
    let dir = scratch("live-hub-by-id");
    let example = repo().join("examples/shared-vnet-training.yaml");
    let spec = copy_example(&example, &dir);
    let moat = Moat::local(&dir.join("state"));
    let hub_spec = dir.join("hub.yaml");
    // The hub's training subnet behind an NSG that denies Batch.
    std::fs::write(&hub_spec, hub(&[DENY], ROUTES)).unwrap();
    moat.apply(&hub_spec).expect(0, "apply of the hub");
    let hub_ids = common::cloud_ids(&moat.local_cloud());
    let vnet = hub_ids
        .iter()
        .find(|id| id.ends_with("/virtualnetworks/hub-vnet"))
        .expect("the hub network's ID")
        .clone();
    let original = std::fs::read_to_string(&spec).unwrap();
    let by_id = |subnet: &str| {
        let text = original.replacen(
            "subnet: hub-vnet/ml-training",
            &format!("subnet: {vnet}/subnets/{subnet}"),
            1,
        );
        assert_ne!(text, original);
        std::fs::write(&spec, &text).unwrap();
        text
    };

    // The cluster names the hub subnet by ID: read by ID, its live NSG checked.
    let text = by_id("ml-training");
    let out = moat.run(&["plan", path_str(&spec)]);
    out.expect(
        1,
        "plan with a subnet by ID behind an NSG that denies Batch",
    );
    let err = &out.stderr;
    assert!(
        err.contains("error[ML110]: live NSG `hub-nsg` of subnet `hub-vnet/ml-training` blocks Azure Batch management"),
        "{err}"
    );
    let id_line = format!("subnet: {vnet}/subnets/ml-training");
    let (line, col) = locate(&text, &id_line, "/subscriptions/");
    assert!(
        err.contains(&format!("shared-vnet-training.yaml:{line}:{col}")),
        "{err}"
    );

    // A typo in the ID: a located error before any plan.
    let text = by_id("ml-trainng");
    let out = moat.run(&["plan", path_str(&spec)]);
    out.expect(1, "plan with a subnet ID that does not exist");
    let err = &out.stderr;
    assert!(
        err.contains("error[E0203]: subnet `hub-vnet/ml-trainng` does not exist"),
        "{err}"
    );
    let (line, col) = locate(
        &text,
        &format!("subnet: {vnet}/subnets/ml-trainng"),
        "/subscriptions/",
    );
    assert!(
        err.contains(&format!("shared-vnet-training.yaml:{line}:{col}")),
        "{err}"
    );
    assert!(!err.contains("ML110"), "{err}");
    // Reads only.
    assert_eq!(common::cloud_ids(&moat.local_cloud()), hub_ids);

    // The hub team fixes its NSG: the subnet by ID plans clean.
    std::fs::write(&hub_spec, hub(&[ALLOW, DENY], ROUTES)).unwrap();
    moat.apply(&hub_spec).expect(0, "apply of the fixed hub");
    by_id("ml-training");
    let out = moat.run(&["plan", path_str(&spec)]);
    out.expect(0, "plan with the subnet by ID against the fixed hub");
    assert!(!out.stderr.contains("ML11"), "{}", out.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}
