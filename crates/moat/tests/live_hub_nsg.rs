//! The ML rules against the live NSG and route table of a hub subnet another stack owns: a
//! team's cluster joins `hub-vnet/ml-training` of an `existing:` network, whose NSG denies Azure
//! Batch management and whose route table tunnels everything to a firewall (both read by ID at
//! plan time, never written). The plan stops with ML110 and ML114 located at the cluster's
//! `subnet:` (file:line:col, caret, the live NSG and rule named, a hint for the network's
//! owners); once the hub team adds the allow rule and the routes, the same plan is clean.

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
