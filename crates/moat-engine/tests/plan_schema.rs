//! The JSON plan's schema: `schemas/plan.schema.json` must equal
//! `moat_engine::plan::json_schema_text()` (`UPDATE_SCHEMAS=1` rewrites it), and every golden
//! scenario's `plan.json` must validate against the checked-in file.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn plan_schema_is_up_to_date() {
    let path = repo().join("schemas/plan.schema.json");
    let fresh = moat_engine::plan::json_schema_text();
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &fresh).expect("write schema");
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == fresh,
        "schemas/plan.schema.json is stale: run `UPDATE_SCHEMAS=1 cargo test -p moat-engine --test plan_schema`"
    );
}

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(repo().join("schemas/plan.schema.json")).expect("schema");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("schema compiles")
}

fn errors(v: &jsonschema::Validator, plan: &serde_json::Value) -> Vec<String> {
    v.iter_errors(plan)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

#[test]
fn golden_plans_validate() {
    let v = validator();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut seen = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path().join("plan.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let plan: serde_json::Value = serde_json::from_str(&text).unwrap();
        let errs = errors(&v, &plan);
        assert!(errs.is_empty(), "{}:\n{}", path.display(), errs.join("\n"));
        // And it reads back as a plan, unchanged.
        let typed: moat_engine::plan::Plan = serde_json::from_value(plan.clone()).unwrap();
        assert_eq!(serde_json::to_value(&typed).unwrap(), plan);
        seen += 1;
    }
    assert!(seen >= 10, "only {seen} golden plans");
}

#[test]
fn the_schema_rejects_what_a_plan_cannot_be() {
    let v = validator();
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/delete/plan.json"),
    )
    .unwrap();
    let good: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut bad = good.clone();
    bad["resources"][0]["action"] = "destroy".into();
    assert!(!errors(&v, &bad).is_empty(), "unknown action accepted");
    let mut bad = good.clone();
    bad["resources"][0]["surprise"] = true.into();
    assert!(!errors(&v, &bad).is_empty(), "unknown field accepted");
    let mut bad = good.clone();
    bad["summary"].as_object_mut().unwrap().remove("add");
    assert!(!errors(&v, &bad).is_empty(), "missing count accepted");
    let mut bad = good;
    bad["format_version"] = 2.into();
    assert!(!errors(&v, &bad).is_empty(), "future format accepted");
}
