//! The ML rules against the live NSG of a hub subnet another stack owns: a team's cluster joins
//! `hub-vnet/ml-training` of an `existing:` network, and the hub's NSG (read by ID at plan
//! time, never written) denies Azure Batch management. The plan stops with ML110 located at
//! the cluster's `subnet:` (file:line:col, caret, the live NSG and rule named, a hint for the
//! network's owners); once the hub team adds the allow rule, the same plan is clean.

mod common;

use common::{Moat, copy_example, path_str, repo, scratch, seed_spec};

const HUB_NSG: &str = "  hub-nsg:
    type: network_security_group
    resource_group: network-rg
    rules:
";
const DENY: &str = "      - { name: deny-all-in, priority: 200, direction: inbound, access: deny, protocol: any }\n";
const ALLOW: &str =
    "      - { name: batch-node-management, priority: 100, direction: inbound, access: allow,
          protocol: tcp, source: BatchNodeManagement, destination_ports: [\"29876-29877\"] }\n";

/// The example's hub seed with `ml-training` behind `hub-nsg` holding `rules`.
fn hub(rules: &[&str]) -> String {
    let example = repo().join("examples/shared-vnet-training.yaml");
    let seed = seed_spec(&example).expect("a hub seed");
    let from = "ml-training: { address_prefix: 10.200.1.0/24,";
    assert!(
        seed.contains(from),
        "the seed's ml-training changed:\n{seed}"
    );
    let mut text = seed.replace(
        from,
        "ml-training: { address_prefix: 10.200.1.0/24, network_security_group: hub-nsg,",
    );
    text.push_str(HUB_NSG);
    for r in rules {
        text.push_str(r);
    }
    text
}

#[test]
fn a_live_hub_nsg_that_denies_batch_is_a_located_plan_error() {
    let dir = scratch("live-hub-nsg");
    let spec = copy_example(&repo().join("examples/shared-vnet-training.yaml"), &dir);
    let moat = Moat::local(&dir.join("state"));
    let hub_spec = dir.join("hub.yaml");
    std::fs::write(&hub_spec, hub(&[DENY])).unwrap();
    moat.apply(&hub_spec).expect(0, "apply of the hub");
    let hub_ids = common::cloud_ids(&moat.local_cloud());

    let out = moat.run(&["plan", path_str(&spec)]);
    out.expect(1, "plan against a hub NSG that denies Batch");
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
    assert!(err.contains("nothing was sent to Azure"), "{err}");
    // The firewall subnets of the hub are checked live (ML201/ML202), so they are not also
    // noted as unchecked.
    assert!(!err.contains("ML203"), "{err}");
    // Reads only: the cloud holds exactly the hub, and the team's stack has no state.
    assert_eq!(common::cloud_ids(&moat.local_cloud()), hub_ids);
    assert!(
        moat.state("team-vision")
            .is_none_or(|r| r.resources.is_empty())
    );

    // The hub team fixes its NSG: the same plan is clean of ML110.
    std::fs::write(&hub_spec, hub(&[ALLOW, DENY])).unwrap();
    moat.apply(&hub_spec).expect(0, "apply of the fixed hub");
    let out = moat.run(&["plan", path_str(&spec)]);
    out.expect(0, "plan against the fixed hub NSG");
    assert!(!out.stderr.contains("ML11"), "{}", out.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}
