//! Every example converges with the real binary and the embedded emulator: apply, then a
//! plan that says "No changes", then destroy leaves nothing of the stack behind (and leaves
//! what the stack only reads alone).

mod common;

use common::{Moat, assert_cloud_is, copy_example, examples, owned_ids, scratch, seed};
use std::collections::BTreeMap;

#[test]
fn every_example_applies_converges_and_destroys() {
    let all = examples();
    assert!(all.len() >= 3, "examples/ lost its specs: {all:?}");
    for example in all {
        let name = example.file_name().unwrap().to_string_lossy().into_owned();
        let dir = scratch("converge");
        let spec = copy_example(&example, &dir);
        let moat = Moat::local(&dir.join("state"));
        let cloud = moat.local_cloud();
        let baseline = seed(&moat, &example, &cloud, &dir);

        let plan = moat.plan_json(&spec);
        let owned = owned_ids(&plan);
        assert!(!owned.is_empty(), "{name}: the plan owns nothing");

        let out = moat.apply(&spec);
        out.expect(0, &format!("apply of {name}"));
        assert!(
            out.stderr.contains("Apply complete"),
            "{name}: no summary:\n{}",
            out.stderr
        );
        moat.assert_no_changes(&spec, &format!("applying {name}"));
        assert_cloud_is(&cloud, &baseline, &owned, &format!("{name} after apply"));
        let stack = common::stack_of(&plan);
        let record = moat.state(&stack).expect("a state record after apply");
        assert!(
            record.journal.is_empty(),
            "{name}: journal left: {:?}",
            record.journal
        );
        let recorded: Vec<&String> = record.resources.keys().collect();
        // By key: an endpoint and its traffic share one ID.
        let keys = common::owned_keys(&plan);
        let planned: Vec<&String> = keys.iter().collect();
        assert_eq!(
            recorded, planned,
            "{name}: the state record owns what the plan owns"
        );

        let out = moat.run(&["destroy", common::path_str(&spec), "--auto-approve"]);
        out.expect(0, &format!("destroy of {name}"));
        assert_cloud_is(
            &cloud,
            &baseline,
            &BTreeMap::new(),
            &format!("{name} after destroy"),
        );
        let record = moat.state(&stack).expect("a state record after destroy");
        assert!(
            record.resources.is_empty() && record.journal.is_empty(),
            "{name}: destroy left state behind: {record:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
