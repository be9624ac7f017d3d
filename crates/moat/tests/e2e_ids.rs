//! Names and IDs from a spec are checked before they reach a URL: an `existing:` group with
//! a path step, a name with `?` or `#`, or an ID outside the stack's subscription stops the run
//! before any request; an ID the spec spells in another case is normalised once, so the state
//! records exactly the ID that requests were sent to.

mod common;

use common::{Moat, path_str, scratch};
use std::collections::BTreeMap;

const SUB: &str = "10ca1000-0000-4000-8000-000000000001";

/// `(method, path)` of every request in an HTTP trace, query strings dropped.
fn requests(trace: &std::path::Path) -> Vec<(String, String)> {
    std::fs::read_to_string(trace)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            let method = v["method"].as_str()?.to_string();
            let url = moat_arm::Url::parse(v["url"].as_str()?).ok()?;
            Some((method, url.path().to_string()))
        })
        .collect()
}

#[test]
fn spliced_existing_names_are_refused_before_any_request() {
    let cases = [
        (
            "resource_group: \"a-rg/../b-rg\", name: hub",
            "a-rg/../b-rg",
        ),
        (
            "resource_group: network-rg, name: \"hub?api-version=2015-01-01\"",
            "hub?api-version",
        ),
        (
            "resource_group: \"network-rg#x\", name: hub",
            "network-rg#x",
        ),
        (
            &format!(
                "id: \"/subscriptions/{SUB}/resourceGroups/a-rg/../b-rg/providers/Microsoft.Network/virtualNetworks/hub\""
            ),
            "path step",
        ),
    ];
    for (existing, shown) in cases {
        let dir = scratch("ids-spliced");
        let spec = dir.join("spec.yaml");
        std::fs::write(
            &spec,
            format!("stack: ids\nlocation: westeurope\nresources:\n  hub:\n    type: virtual_network\n    existing: {{ {existing} }}\n"),
        )
        .expect("spec");
        let trace = dir.join("http.jsonl");
        let moat = Moat::local(&dir.join("state")).with_env("MOAT_LOG_HTTP", &trace);
        for args in [
            vec!["plan", path_str(&spec)],
            vec!["apply", path_str(&spec), "--auto-approve"],
        ] {
            let out = moat.run(&args);
            out.expect(1, &format!("{args:?} with `existing: {{ {existing} }}`"));
            assert!(
                out.stderr.contains("spec.yaml:6:") && out.stderr.contains(shown),
                "{args:?}: the error is not located at the bad value:\n{}",
                out.stderr
            );
            assert!(
                out.stderr.contains("nothing was sent to Azure"),
                "{}",
                out.stderr
            );
            assert!(
                requests(&trace).is_empty(),
                "{args:?} sent requests: {:?}",
                requests(&trace)
            );
        }
    }
}

#[test]
fn ids_outside_the_stacks_subscription_are_refused_unless_existing() {
    let other = "0b0c1a2e-1111-2222-3333-444455556666";
    let dir = scratch("ids-subscription");
    let spec = dir.join("spec.yaml");
    std::fs::write(
        &spec,
        format!("stack: ids\nlocation: westeurope\nresources:\n  vnet:\n    type: virtual_network\n    resource_group: /subscriptions/{other}/resourceGroups/their-rg\n    address_space: [10.0.0.0/16]\n"),
    )
    .expect("spec");
    let out = Moat::local(&dir.join("state")).run(&["plan", path_str(&spec)]);
    out.expect(1, "a group ID in another subscription");
    assert!(
        out.stderr
            .contains("error[E0306]: the ID is in another subscription than the stack")
            && out.stderr.contains("spec.yaml:6:21"),
        "{}",
        out.stderr
    );
    // Through `existing:`, the other subscription is said on purpose: allowed offline.
    std::fs::write(
        &spec,
        format!("stack: ids\nlocation: westeurope\nresources:\n  hub:\n    type: virtual_network\n    existing: {{ id: /subscriptions/{other}/resourceGroups/their-rg/providers/Microsoft.Network/virtualNetworks/hub }}\n"),
    )
    .expect("spec");
    let out = Moat::local(&dir.join("state")).run(&["validate", path_str(&spec)]);
    out.expect(0, "an existing ID in another subscription");
}

#[test]
fn the_state_records_exactly_the_id_that_was_written() {
    let dir = scratch("ids-normalised");
    let state = dir.join("state");
    let seed = dir.join("seed.yaml");
    std::fs::write(
        &seed,
        "stack: seed\nlocation: westeurope\nresources:\n  rg: { type: resource_group, name: shared-rg }\n",
    )
    .expect("seed");
    Moat::local(&state).apply(&seed).expect(0, "seed apply");
    // The group by ID, in lower case where ARM's canonical form is not.
    let spec = dir.join("spec.yaml");
    std::fs::write(
        &spec,
        format!("stack: ids\nlocation: westeurope\nresources:\n  vnet:\n    type: virtual_network\n    resource_group: /SUBSCRIPTIONS/{SUB}/resourcegroups/shared-rg\n    address_space: [10.0.0.0/16]\n    subnets:\n      default: {{ address_prefix: 10.0.0.0/24 }}\n"),
    )
    .expect("spec");
    let trace = dir.join("http.jsonl");
    let moat = Moat::local(&state).with_env("MOAT_LOG_HTTP", &trace);
    moat.apply(&spec)
        .expect(0, "apply into a group given by ID");
    let record = moat.state("ids").expect("state record");
    let puts: Vec<String> = requests(&trace)
        .into_iter()
        .filter(|(m, _)| m == "PUT")
        .map(|(_, p)| p)
        .collect();
    let ids: BTreeMap<&str, &str> = record
        .resources
        .iter()
        .map(|(k, r)| (k.as_str(), r.id.as_str()))
        .collect();
    let want_vnet = format!(
        "/subscriptions/{SUB}/resourceGroups/shared-rg/providers/Microsoft.Network/virtualNetworks/vnet"
    );
    assert_eq!(ids.get("vnet"), Some(&want_vnet.as_str()), "{ids:?}");
    assert_eq!(
        ids.get("vnet/default").copied(),
        Some(format!("{want_vnet}/subnets/default").as_str()),
        "{ids:?}"
    );
    // A subnet rides in its VNet's PUT: its ID is that PUT's path, spelled as sent, and
    // its segment.
    for (key, id) in &ids {
        assert!(
            puts.iter().any(|p| p == id
                || id
                    .strip_prefix(p.as_str())
                    .is_some_and(|rest| rest.starts_with("/subnets/"))),
            "`{key}` is recorded as {id}, but no PUT went there: {puts:?}"
        );
    }
    moat.assert_no_changes(&spec, "the apply into a group given by ID");
}
