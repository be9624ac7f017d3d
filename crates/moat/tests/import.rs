//! `moat import`: a resource that exists without this stack's tag is refused by plan, adopted
//! by import, then tagged by the next apply; another stack's resource is never adopted.

mod common;

use common::{InProcessCloud, Moat, copy_example, path_str, repo, scratch};
use serde_json::json;

const SUB: &str = "10ca1000-0000-4000-8000-000000000001";

#[test]
fn import_adopts_an_unowned_resource_and_refuses_a_foreign_one() {
    let cloud = InProcessCloud::start();
    let rg = format!("/subscriptions/{SUB}/resourceGroups/minimal-rg");
    cloud.put(&rg, "2024-07-01", json!({ "location": "westeurope" }));

    let dir = scratch("import");
    let spec = copy_example(&repo().join("examples/minimal.yaml"), &dir);
    let spec = path_str(&spec);
    let moat = Moat::remote(&dir.join(".moat"), &cloud.url());

    // Refused: the group exists and nobody owns it.
    let out = moat.run(&["plan", spec]);
    out.expect(1, "plan of an unowned group");
    assert!(
        out.stderr.contains("this stack does not own it") && out.stderr.contains("moat import"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("minimal.yaml:8:3"), "{}", out.stderr);

    // A wrong ID is refused before anything is written.
    let out = moat.run(&[
        "import",
        spec,
        "rg",
        "/subscriptions/x/resourceGroups/other",
    ]);
    out.expect(1, "import of a wrong ID");
    assert!(out.stderr.contains("resolves to"), "{}", out.stderr);

    let out = moat.run(&["import", spec, "rg", &rg]);
    out.expect(0, "import");
    assert!(out.stderr.contains("Imported"), "{}", out.stderr);

    // Adopted: the plan now updates the group (the ownership tag) and creates the rest.
    let out = moat.run(&["plan", spec, "--detailed-exitcode"]);
    out.expect(2, "plan after import");
    assert!(
        out.stdout
            .contains("Plan: 2 to add, 1 to change, 0 to replace, 0 to destroy."),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("+ tags.moat-stack = \"minimal\""),
        "{}",
        out.stdout
    );
    moat.apply(spec.as_ref()).expect(0, "apply after import");
    moat.assert_no_changes(spec.as_ref(), "apply after import");

    // Another stack's resource is never adopted.
    let other = format!("/subscriptions/{SUB}/resourceGroups/other-rg");
    cloud.put(
        &other,
        "2024-07-01",
        json!({ "location": "westeurope", "tags": { "moat-stack": "someone-else" } }),
    );
    let text = std::fs::read_to_string(spec)
        .expect("read")
        .replace("name: minimal-rg", "name: other-rg");
    let other_spec = dir.join("other.yaml");
    std::fs::write(&other_spec, text.replace("stack: minimal", "stack: third")).expect("write");
    let out = moat.run(&["import", path_str(&other_spec), "rg", &other]);
    out.expect(1, "import of another stack's group");
    assert!(
        out.stderr.contains("belongs to stack `someone-else`"),
        "{}",
        out.stderr
    );
}
