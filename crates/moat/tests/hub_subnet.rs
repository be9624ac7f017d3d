//! A team's subnet of its own inside a hub VNet another stack applies: what only the live
//! network can tell is a located plan-time error (a typo in a hub subnet's name, a range that
//! overlaps a hub subnet or lies outside the hub), nothing is written, and the hub keeps its
//! subnets through the team's apply and destroy.

mod common;

use common::{Moat, copy_example, path_str, repo, scratch, seed_spec};

#[test]
fn live_network_checks_are_located_plan_errors() {
    let dir = scratch("hub-subnet");
    let example = repo().join("examples/team-subnet-in-hub.yaml");
    let spec = copy_example(&example, &dir);
    let moat = Moat::local(&dir.join("state"));
    let hub = dir.join("hub.yaml");
    std::fs::write(&hub, seed_spec(&example).expect("a hub seed")).unwrap();
    moat.apply(&hub).expect(0, "apply of the hub");

    let text = std::fs::read_to_string(&spec).unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        text.replace("hub-vnet/ml-training", "hub-vnet/ml-trainng")
            .replace("10.20.8.0/24", "10.20.2.0/25"),
    )
    .unwrap();
    let out = moat.run(&["plan", path_str(&bad)]);
    out.expect(1, "plan of a spec the live hub refuses");
    let err = &out.stderr;
    assert!(
        err.contains(
            "error[E0203]: virtual network `hub-vnet` (hub-vnet) has no subnet `ml-trainng`"
        ) && err.contains("did you mean `hub-vnet/ml-training`?"),
        "{err}"
    );
    assert!(
        err.contains("error[E0304]: subnet `forecast-training` (10.20.2.0/25) overlaps subnet `shared-services` (10.20.2.0/24)"),
        "{err}"
    );
    // Located at the offending text, line and column.
    let line = text
        .lines()
        .position(|l| l.contains("address_prefix: 10.20.8.0/24"))
        .unwrap()
        + 1;
    assert!(err.contains(&format!("bad.yaml:{line}:21")), "{err}");

    let outside = dir.join("outside.yaml");
    std::fs::write(&outside, text.replace("10.20.8.0/24", "10.30.8.0/24")).unwrap();
    let out = moat.run(&["apply", path_str(&outside), "--auto-approve"]);
    out.expect(1, "apply of a subnet outside the hub");
    assert!(
        out.stderr.contains(
            "error[E0303]: subnet `forecast-training` (10.30.8.0/24) is outside the virtual network"
        ) && out.stderr.contains("live address space is 10.20.0.0/16"),
        "{}",
        out.stderr
    );
    assert!(
        moat.state("team-forecast")
            .is_none_or(|r| r.resources.is_empty())
    );

    // The good spec applies and the hub keeps its subnets, never re-written.
    moat.apply(&spec).expect(0, "apply of the team stack");
    moat.assert_no_changes(&hub, "the hub after the team's apply");
    moat.run(&["destroy", path_str(&spec), "--auto-approve"])
        .expect(0, "destroy of the team stack");
    moat.assert_no_changes(&hub, "the hub after the team's destroy");
    let _ = std::fs::remove_dir_all(&dir);
}
