//! Deleting a resource group deletes everything in it: a destroy (or a group leaving the
//! spec) is refused while the group holds resources the stack does not own, and
//! `--exclude GROUP` keeps the group and deletes the rest; a targeted destroy (`plan --destroy
//! --target`, saved and applied from elsewhere) takes a subnet without its VNet.

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

/// Issue 12, repro 2 on the smallest stack: `plan --destroy --target` shows a targeted destroy
/// without doing it, never drags in the target's parent, and a saved one applies from another
/// directory; `plan --destroy --exclude rg` keeps the group only.
#[test]
fn plan_destroy_target_shows_the_subnet_alone_and_applies_from_anywhere() {
    let cloud = InProcessCloud::start();
    let dir = scratch("plan-destroy-target");
    let spec = copy_example(&repo().join("examples/minimal.yaml"), &dir);
    let spec = path_str(&spec);
    let moat = Moat::remote(&dir.join(".moat"), &cloud.url());
    moat.apply(spec.as_ref()).expect(0, "apply");
    let before = cloud.ids();

    let shown = moat.run(&["plan", spec, "--destroy", "--target", "vnet/default"]);
    shown.expect(0, "plan --destroy --target");
    assert!(
        shown
            .stdout
            .contains("# vnet/default (subnet) will be destroyed")
            && !shown.stdout.contains("# vnet (virtual_network)")
            && !shown.stdout.contains("# rg (")
            && shown
                .stdout
                .contains("0 to change, 0 to replace, 1 to destroy"),
        "{}",
        shown.stdout
    );
    assert_eq!(
        cloud.ids(),
        before,
        "`plan --destroy` must not change anything"
    );

    let kept = moat.run(&["plan", spec, "--destroy", "--exclude", "rg"]);
    kept.expect(0, "plan --destroy --exclude rg");
    assert!(
        kept.stdout
            .contains("# vnet (virtual_network) will be destroyed")
            && !kept.stdout.contains("# rg ("),
        "{}",
        kept.stdout
    );

    let plan_file = dir.join("subnet.json");
    moat.run(&[
        "plan",
        spec,
        "--destroy",
        "--target",
        "vnet/default",
        "--out",
        path_str(&plan_file),
    ])
    .expect(0, "plan --destroy --target --out");
    let shown = moat.run(&["show", path_str(&plan_file)]);
    shown.expect(0, "show of the saved targeted destroy");
    assert!(
        shown
            .stderr
            .contains("note: a destroy plan narrowed with --target vnet/default"),
        "{}",
        shown.stderr
    );
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir_all(&elsewhere).expect("mkdir");
    let out = moat
        .command(&["apply", path_str(&plan_file), "--auto-approve"])
        .current_dir(&elsewhere)
        .output()
        .expect("moat apply runs");
    assert!(
        out.status.success(),
        "apply of the saved targeted destroy from another directory: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ids = cloud.ids();
    assert!(
        !ids.iter().any(|i| i.ends_with("/subnets/default")),
        "{ids:?}"
    );
    assert!(
        ids.iter().any(|i| i.ends_with("/virtualnetworks/vnet")),
        "the parent VNet must survive: {ids:?}"
    );
    // An unknown key is an error naming the keys there are.
    let bad = moat.run(&["plan", spec, "--destroy", "--target", "vnet/nope"]);
    bad.expect(1, "an unknown target");
    assert!(
        bad.stderr.contains("`vnet/nope` is no resource"),
        "{}",
        bad.stderr
    );
}
