//! The generated JSON Schema (`schemas/moat.schema.json`) is what editors check specs against:
//! every example must pass it, and typical mistakes must fail it, so that the schema and the
//! decoder agree in both directions.

use moat_spec::yaml::{Node, Value};
use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// YAML node → JSON the way an editor's YAML 1.2 core-schema reader sees it: plain scalars
/// that look like booleans or numbers become booleans or numbers, quoted scalars stay strings.
fn to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value as J;
    match &node.value {
        Value::Null => J::Null,
        Value::Scalar(s) if s.quoted => J::String(s.text.clone()),
        Value::Scalar(s) => match s.text.as_str() {
            "true" | "True" | "TRUE" => J::Bool(true),
            "false" | "False" | "FALSE" => J::Bool(false),
            t => {
                if let Ok(i) = t.parse::<i64>() {
                    J::from(i)
                } else if let Some(f) = t
                    .parse::<f64>()
                    .ok()
                    .filter(|_| t.chars().any(|c| c.is_ascii_digit()))
                {
                    serde_json::Number::from_f64(f)
                        .map_or_else(|| J::String(t.to_string()), J::Number)
                } else {
                    J::String(t.to_string())
                }
            }
        },
        Value::Seq(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => J::Object(
            entries
                .iter()
                .map(|e| (e.key.value.clone(), to_json(&e.value)))
                .collect(),
        ),
    }
}

fn validator() -> jsonschema::Validator {
    let text =
        std::fs::read_to_string(repo().join("schemas/moat.schema.json")).expect("read schema");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
    jsonschema::validator_for(&schema).expect("schema compiles")
}

fn yaml_json(text: &str) -> serde_json::Value {
    let node = moat_spec::yaml::parse(text).unwrap_or_else(|d| panic!("YAML parses: {d:?}"));
    to_json(&node)
}

fn schema_errors(v: &jsonschema::Validator, text: &str) -> Vec<String> {
    let instance = yaml_json(text);
    v.iter_errors(&instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

#[test]
fn examples_satisfy_the_schema() {
    let v = validator();
    let mut seen = 0;
    for entry in std::fs::read_dir(repo().join("examples")).expect("examples dir") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        seen += 1;
        let text = std::fs::read_to_string(&path).expect("read example");
        let errors = schema_errors(&v, &text);
        assert!(
            errors.is_empty(),
            "{} fails the schema:\n{}",
            path.display(),
            errors.join("\n")
        );
    }
    assert!(seen >= 3);
}

const BASE: &str = "stack: demo\nlocation: eastus2\nresources:\n  rg: { type: resource_group }\n";

#[test]
fn the_base_spec_is_valid() {
    assert!(schema_errors(&validator(), BASE).is_empty());
}

#[test]
fn broken_specs_fail_the_schema() {
    let v = validator();
    let cases = [
        (
            "unknown top-level field",
            format!("{BASE}locaton: eastus2\n"),
        ),
        (
            "unknown resource field",
            format!(
                "{BASE}  vnet: {{ type: virtual_network, resource_group: rg, address_space: [10.0.0.0/16], dns_server: [] }}\n"
            ),
        ),
        (
            "unknown subnet field",
            format!(
                "{BASE}  vnet: {{ type: virtual_network, resource_group: rg, address_space: [10.0.0.0/16], subnets: {{ a: {{ adress_prefix: 10.0.0.0/24 }} }} }}\n"
            ),
        ),
        (
            "unknown resource type",
            format!("{BASE}  vnet: {{ type: virtual_netwrok, resource_group: rg }}\n"),
        ),
        (
            "invalid enum value",
            format!(
                "{BASE}  nsg: {{ type: network_security_group, resource_group: rg, rules: [{{ name: a, priority: 100, direction: inbund, access: allow, protocol: tcp }}] }}\n"
            ),
        ),
        (
            "missing required field",
            format!("{BASE}  vnet: {{ type: virtual_network, resource_group: rg }}\n"),
        ),
        (
            "string for an integer",
            format!(
                "{BASE}  c: {{ type: aml_compute, workspace: ws, vm_size: x, max_nodes: four }}\n"
            ),
        ),
        (
            "`yes` for a boolean",
            format!(
                "{BASE}  s: {{ type: storage_account, resource_group: rg, https_only: yes }}\n"
            ),
        ),
        (
            "missing stack",
            "location: eastus2\nresources: {}\n".to_string(),
        ),
    ];
    for (what, text) in &cases {
        // Each case is also wrong for moat itself: the schema must not be stricter than moat.
        let loaded = moat::load::check(
            moat_spec::SourceFile::new("case.yaml", text.as_str()),
            &Default::default(),
            true,
        );
        assert!(loaded.has_errors(), "{what}: moat accepts it");
        assert!(
            !schema_errors(&v, text).is_empty(),
            "{what}: the schema accepts it\n{text}"
        );
    }
}

#[test]
fn interpolated_integers_pass_the_schema() {
    // `max_nodes: "${var.n}"` is a string until variables are substituted; the schema allows it.
    let text = format!("{BASE}variables: {{ n: {{ default: 4 }} }}\n").replace(
        "resources:\n",
        "resources:\n  c: { type: aml_compute, workspace: ws, vm_size: x, max_nodes: \"${var.n}\" }\n",
    );
    assert!(schema_errors(&validator(), &text).is_empty());
}

#[test]
fn ranges_names_and_regions_fail_the_schema_as_they_fail_moat() {
    let v = validator();
    let nsg = |prio: &str| {
        format!(
            "{BASE}  nsg: {{ type: network_security_group, resource_group: rg, rules: [{{ name: a, priority: {prio}, direction: inbound, access: allow, protocol: tcp }}] }}\n"
        )
    };
    let cases = [
        ("NSG priority below 100", nsg("99")),
        ("NSG priority above 4096", nsg("4097")),
        (
            "storage name with a hyphen",
            format!("{BASE}  s: {{ type: storage_account, resource_group: rg, name: my-store }}\n"),
        ),
        (
            "key vault name with `--`",
            format!("{BASE}  kv: {{ type: key_vault, resource_group: rg, name: my--vault }}\n"),
        ),
        (
            "storage name too long",
            format!(
                "{BASE}  s: {{ type: storage_account, resource_group: rg, name: abcdefghijklmnopqrstuvwxy }}\n"
            ),
        ),
        ("unknown region", BASE.replace("eastus2", "eastus9")),
        (
            "agent_count above 100",
            format!(
                "{BASE}  c: {{ type: aks_compute, workspace: ws, create: {{ agent_count: 101 }} }}\n"
            ),
        ),
    ];
    for (what, text) in &cases {
        let loaded = moat::load::check(
            moat_spec::SourceFile::new("case.yaml", text.as_str()),
            &Default::default(),
            true,
        );
        assert!(loaded.has_errors(), "{what}: moat accepts it");
        assert!(
            !schema_errors(&v, text).is_empty(),
            "{what}: the schema accepts it\n{text}"
        );
    }
    // The edges themselves are valid in both.
    for ok in [
        nsg("100"),
        nsg("4096"),
        BASE.replace("eastus2", "East US 2"),
    ] {
        let errors = schema_errors(&v, &ok);
        assert!(errors.is_empty(), "{ok}\n{}", errors.join("\n"));
    }
}

#[test]
fn interpolated_enums_and_booleans_pass_the_schema() {
    let text = format!(
        "{BASE}variables: {{ dir: {{ default: inbound }}, https: {{ default: true }} }}\n"
    )
    .replace(
        "resources:\n",
        "resources:\n  s: { type: storage_account, resource_group: rg, name: \"${var.dir}store\", https_only: \"${var.https}\" }\n  nsg: { type: network_security_group, resource_group: rg, rules: [{ name: a, priority: 100, direction: \"${var.dir}\", access: allow, protocol: tcp }] }\n",
    );
    let errors = schema_errors(&validator(), &text);
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// Every `default` the schema states is a value its own field accepts.
#[test]
fn every_default_satisfies_its_field() {
    fn walk(v: &serde_json::Value, path: &str, seen: &mut usize) {
        match v {
            // A `properties` map names fields (one may be called `default`): walk its schemas.
            serde_json::Value::Object(o) if path.ends_with("/properties") => {
                for (k, x) in o {
                    walk(x, &format!("{path}/{k}"), seen);
                }
            }
            serde_json::Value::Object(o) => {
                if let Some(d) = o.get("default") {
                    *seen += 1;
                    let mut field = v.clone();
                    field.as_object_mut().expect("object").remove("default");
                    let val = jsonschema::validator_for(&field).expect("field schema compiles");
                    assert!(val.is_valid(d), "{path}: default {d} fails {field}");
                }
                for (k, x) in o {
                    walk(x, &format!("{path}/{k}"), seen);
                }
            }
            serde_json::Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    walk(x, &format!("{path}/{i}"), seen);
                }
            }
            _ => {}
        }
    }
    let text =
        std::fs::read_to_string(repo().join("schemas/moat.schema.json")).expect("read schema");
    let schema: serde_json::Value = serde_json::from_str(&text).expect("schema is JSON");
    let mut seen = 0;
    walk(&schema, "", &mut seen);
    assert!(seen >= 30, "only {seen} defaults");
}

/// Each kind's name pattern (with its lengths) agrees with moat's own naming check on names
/// near every rule's edges, in both directions.
#[test]
fn name_patterns_agree_with_the_naming_rules() {
    let samples = [
        "a",
        "ab",
        "abc",
        "A1",
        "1a",
        "a-",
        "-a",
        "a_",
        "_a",
        "a.",
        ".a",
        "a--b",
        "a-b",
        "a.b",
        "ab(c)",
        "Ab9",
        "abc#",
        "a/b",
        "a b",
        "ünï",
        "abcdefghijklmnopqrstuvwxy",
    ];
    let facts = moat_model::schema_facts();
    for kind in moat_model::Kind::all() {
        let n = &facts.names[kind.word()];
        let schema = serde_json::json!({
            "type": "string", "pattern": n.pattern,
            "minLength": n.min_length, "maxLength": n.max_length,
        });
        let v = jsonschema::validator_for(&schema).expect("pattern compiles");
        let rule = kind.def().name_rule;
        for s in samples {
            assert_eq!(
                v.is_valid(&serde_json::json!(s)),
                rule.check(s).is_ok(),
                "{} name `{s}`: pattern {}",
                kind.word(),
                n.pattern
            );
        }
    }
}
