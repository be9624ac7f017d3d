//! The JSON Schema of the spec (draft 2020-12), generated from the typed declarations in
//! [`crate::ast`] so editors (yaml-language-server) complete and check exactly what moat accepts.

use crate::ast::{Backend, COMMON_FIELDS, Existing, ResourceType, Variable};
use crate::decode::{Decode, Map};
use serde_json::{Value, json};

/// The schema as a JSON value.
pub fn spec_schema() -> Value {
    let mut branches = Vec::new();
    let common = common_properties();
    for ty in ResourceType::all() {
        let (mut props, required) = ty.schema_parts();
        for (k, v) in &common {
            props.insert(k.clone(), v.clone());
        }
        props.insert("type".into(), json!({ "const": ty.as_str() }));
        branches.push(json!({
            "if": { "properties": { "type": { "const": ty.as_str() } }, "required": ["type"] },
            "then": {
                "properties": props,
                "additionalProperties": false,
                // An `existing:` resource needs none of its kind's required fields.
                "anyOf": [ { "required": required }, { "required": ["existing"] } ],
            }
        }));
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://moat.invalid/schemas/moat.schema.json",
        "title": "moat spec (v1)",
        "description": "A declarative spec of the network-isolated Azure infrastructure around Azure Machine Learning.",
        "type": "object",
        "additionalProperties": false,
        "required": ["stack", "resources"],
        "properties": {
            "stack": { "type": "string", "description": "What this spec owns: the state key and the `moat-stack` tag value. Lowercase letters, digits and hyphens." },
            "subscription": { "type": "string", "description": "Subscription GUID. Default: AZURE_SUBSCRIPTION_ID, then the Azure CLI's default, then (with --local) the emulator's." },
            "location": { "type": "string", "description": "Default Azure region of every resource, e.g. `eastus2`." },
            "tags": with_doc(Map::<String>::schema(), "Tags merged into every taggable resource."),
            "variables": with_doc(Map::<Variable>::schema(), "Variables, used as `${var.NAME}`; override with `--var NAME=VALUE`."),
            "backend": Backend::schema(),
            "resources": {
                "type": "object",
                "description": "Resources by key. References name these keys (`rg`, `vnet/training`) or give full ARM IDs.",
                "additionalProperties": {
                    "type": "object",
                    "required": ["type"],
                    "properties": { "type": ResourceType::schema() },
                    "allOf": branches,
                }
            }
        }
    })
}

fn common_properties() -> Vec<(String, Value)> {
    let mut v = Vec::new();
    for f in COMMON_FIELDS {
        let s = match *f {
            "type" => continue,
            "name" => {
                json!({ "type": "string", "description": "Azure name (default: the resource key, where Azure's naming rules allow it)." })
            }
            "location" => {
                json!({ "type": "string", "description": "Azure region (default: the spec's `location`)." })
            }
            "tags" => with_doc(Map::<String>::schema(), "Tags, merged over the spec's."),
            "depends_on" => {
                json!({ "type": "array", "items": { "type": "string" }, "description": "Extra ordering: keys of resources to create first." })
            }
            "existing" => Existing::schema(),
            "protect" => {
                json!({ "type": "boolean", "description": "When true, a plan that would delete or replace this resource (apply, destroy, a targeted destroy) stops with an error at it." })
            }
            _ => json!({}),
        };
        v.push(((*f).to_string(), s));
    }
    v
}

fn with_doc(mut v: Value, doc: &str) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.insert("description".into(), Value::String(doc.into()));
    }
    v
}

/// The schema as pretty JSON text with a trailing newline, as checked in under `schemas/`.
pub fn spec_schema_text() -> String {
    let mut s = serde_json::to_string_pretty(&spec_schema()).unwrap_or_default();
    s.push('\n');
    s
}
