//! Deleting a resource group deletes everything in it: a destroy (or a group leaving the
//! spec) is refused while the group holds resources the stack does not own, and
//! `--exclude GROUP` keeps the group and deletes the rest.

mod common;

use common::{InProcessCloud, Moat, copy_example, path_str, repo, scratch};
use serde_json::json;

const SUB: &str = "10ca1000-0000-4000-8000-000000000001";

#[test]
fn destroy_keeps_a_group_that_holds_someone_elses_resources() {
    let cloud = InProcessCloud::start();
    let dir = scratch("destroy-guard");
    let spec = copy_example(&repo().join("examples/minimal.yaml"), &dir);
    let spec = path_str(&spec);
    let moat = Moat::remote(&dir.join(".moat"), &cloud.url());
    moat.apply(spec.as_ref()).expect(0, "apply");

    // Another team's NSG lands in the group.
    let nsg = format!(
        "/subscriptions/{SUB}/resourceGroups/minimal-rg/providers/Microsoft.Network/networkSecurityGroups/theirs"
    );
    cloud.put(&nsg, "2024-03-01", json!({ "location": "westeurope" }));

    let out = moat.run(&["destroy", spec, "--auto-approve"]);
    out.expect(1, "destroy of a shared group");
    let err = &out.stderr;
    assert!(
        err.contains(
            "deleting resource group `rg` would also delete 1 resource(s) this stack does not own"
        ),
        "{err}"
    );
    assert!(
        err.contains("networkSecurityGroups/theirs") && err.contains("minimal.yaml:8:3"),
        "{err}"
    );
    assert!(err.contains("--exclude rg"), "{err}");
    assert!(
        cloud.get(&nsg, "2024-03-01").is_some(),
        "the refused destroy must not touch anything"
    );
    assert!(
        cloud
            .ids()
            .iter()
            .any(|i| i.contains("/virtualnetworks/vnet")),
        "the refused destroy must not touch anything"
    );

    // Keeping the group deletes everything else the stack owns.
    moat.run(&["destroy", spec, "--auto-approve", "--exclude", "rg"])
        .expect(0, "destroy --exclude rg");
    let ids = cloud.ids();
    assert!(
        ids.iter()
            .any(|i| i.ends_with("/resourcegroups/minimal-rg")),
        "{ids:?}"
    );
    assert!(
        ids.iter()
            .any(|i| i.ends_with("/networksecuritygroups/theirs")),
        "{ids:?}"
    );
    assert!(
        !ids.iter().any(|i| i.contains("/virtualnetworks/")),
        "{ids:?}"
    );
}
