//! The JSON Schema of the spec (draft-07, the draft yaml-language-server and VS Code implement),
//! generated from the typed declarations in [`crate::ast`] so editors complete and check exactly
//! what moat accepts.
//!
//! Two kinds of facts come from elsewhere. Field defaults and integer ranges are read from the
//! field docs (`(default `x`)`, `1–100`), which are also what `docs/spec.md` prints, so the doc,
//! the schema and the decoder's hints say the same thing. Name rules and the region list live
//! in `moat-model`, which checks them (with suggestions) and which this crate cannot depend on:
//! the caller passes them in as [`Facts`] (`moat_model::schema_facts()`), and without them the
//! schema simply leaves names and regions unchecked.

use crate::ast::{Backend, COMMON_FIELDS, Existing, ResourceType, Variable};
use crate::decode::{Decode, Map};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// What a value that is still to be interpolated looks like: it holds a `${`. Such a value is
/// accepted wherever an enum word, integer or boolean goes, since only moat can substitute it.
pub const INTERPOLATION_PATTERN: &str = "\\$\\{";

/// The schema branch accepting an interpolated string.
pub fn interpolated() -> Value {
    json!({ "type": "string", "pattern": INTERPOLATION_PATTERN })
}

/// One kind's Azure naming rule, as the schema states it.
#[derive(Clone, Debug, PartialEq)]
pub struct NameFacts {
    /// ECMA-262 regular expression a literal name must match.
    pub pattern: String,
    /// Fewest characters.
    pub min_length: usize,
    /// Most characters.
    pub max_length: usize,
    /// What is named, for the description (`storage account`).
    pub what: String,
    /// Unique across all of Azure.
    pub global: bool,
}

/// Facts the spec crate does not own: naming rules by resource type word, and region names.
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// Naming rule of each resource type (by its spec word).
    pub names: BTreeMap<String, NameFacts>,
    /// Every region, as ARM spells it (lowercase, no spaces).
    pub regions: Vec<String>,
}

/// The schema without naming rules or regions.
pub fn spec_schema() -> Value {
    spec_schema_with(&Facts::default())
}

/// The schema as a JSON value, with the given naming rules and regions.
pub fn spec_schema_with(facts: &Facts) -> Value {
    let mut branches = Vec::new();
    let common = common_properties(facts);
    for ty in ResourceType::all() {
        let (mut props, required) = ty.schema_parts();
        for (k, v) in &common {
            props.insert(k.clone(), v.clone());
        }
        if let Some(n) = facts.names.get(ty.as_str()) {
            props.insert("name".into(), name_schema(n));
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
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": "https://moat.invalid/schemas/moat.schema.json",
        "title": "moat spec (v1)",
        "description": "A declarative spec of the network-isolated Azure infrastructure around Azure Machine Learning.",
        "type": "object",
        "additionalProperties": false,
        "required": ["stack", "resources"],
        "properties": {
            "stack": {
                "type": "string",
                "description": "What this spec owns: the state key and the `moat-stack` tag value. Lowercase letters, digits and hyphens.",
                "anyOf": [ { "pattern": "^[a-z0-9-]+$" }, { "pattern": INTERPOLATION_PATTERN } ],
            },
            "subscription": {
                "type": "string",
                "description": "Subscription GUID. Default: AZURE_SUBSCRIPTION_ID, then the Azure CLI's default, then (with --local) the emulator's.",
                "anyOf": [
                    { "pattern": "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$" },
                    { "pattern": INTERPOLATION_PATTERN },
                ],
            },
            "location": with_doc(location_schema(facts), "Default Azure region of every resource, e.g. `eastus2`."),
            "tags": with_doc(Map::<String>::schema(), "Tags merged into every taggable resource."),
            "variables": with_doc(Map::<Variable>::schema(), "Variables, used as `${var.NAME}`; override with `--var NAME=VALUE`."),
            "backend": Backend::schema(),
            "resources": {
                "type": "object",
                "description": "Resources by key. References name these keys (`rg`, `vnet/training`) or give full ARM IDs.",
                "propertyNames": { "pattern": "^[A-Za-z0-9_-]+$" },
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

/// A region: one of the list (for completion), or any spelling moat normalises to one of
/// them (case and spaces do not matter: `East US 2`), or an interpolation.
fn location_schema(facts: &Facts) -> Value {
    if facts.regions.is_empty() {
        return json!({ "type": "string" });
    }
    let loose = facts
        .regions
        .iter()
        .map(|r| {
            r.chars()
                .map(|c| {
                    if c.is_ascii_alphabetic() {
                        format!("[{}{}]\\s*", c.to_ascii_lowercase(), c.to_ascii_uppercase())
                    } else {
                        format!("{c}\\s*")
                    }
                })
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("|");
    json!({
        "type": "string",
        "anyOf": [
            { "enum": facts.regions },
            { "pattern": format!("^\\s*(?:{loose})$") },
            { "pattern": INTERPOLATION_PATTERN },
        ],
    })
}

fn name_schema(n: &NameFacts) -> Value {
    let global = if n.global {
        " Unique across all of Azure."
    } else {
        ""
    };
    json!({
        "type": "string",
        "description": format!(
            "Azure name (default: the resource key, where Azure's naming rules allow it): {}–{} characters.{global}",
            n.min_length, n.max_length
        ),
        "anyOf": [
            { "pattern": n.pattern, "minLength": n.min_length, "maxLength": n.max_length },
            { "pattern": INTERPOLATION_PATTERN },
        ],
    })
}

fn common_properties(facts: &Facts) -> Vec<(String, Value)> {
    let mut v = Vec::new();
    for f in COMMON_FIELDS {
        let s = match *f {
            "type" => continue,
            "name" => {
                json!({ "type": "string", "description": "Azure name (default: the resource key, where Azure's naming rules allow it)." })
            }
            "location" => with_doc(
                location_schema(facts),
                "Azure region (default: the spec's `location`).",
            ),
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

/// The literal (non-interpolated) branch of a field schema: the schema itself, or the first
/// `anyOf` branch when the second is [`interpolated`].
fn literal(s: &Value) -> &Value {
    match s.get("anyOf").and_then(Value::as_array).map(Vec::as_slice) {
        Some([lit, interp]) if *interp == interpolated() => lit,
        _ => s,
    }
}

fn literal_mut(s: &mut Value) -> &mut Value {
    let interp = matches!(
        s.get("anyOf").and_then(Value::as_array).map(Vec::as_slice),
        Some([_, i]) if *i == interpolated()
    );
    if interp { &mut s["anyOf"][0] } else { s }
}

/// Adds what a field's doc states to its schema: `default` (when the doc's value is one the
/// field accepts) and, for integers, the `N–M` range.
pub fn refine_field(s: &mut Value, doc: &str) {
    if let Some(d) = doc_default(doc).and_then(|(word, quoted)| typed_default(s, &word, quoted))
        && let Some(o) = s.as_object_mut()
    {
        o.insert("default".into(), d);
    }
    let is_int = literal(s).get("type") == Some(&json!("integer"));
    if let (true, Some((lo, hi))) = (is_int, doc_range(doc)) {
        let lit = literal_mut(s);
        lit["minimum"] = json!(lo);
        lit["maximum"] = json!(hi);
    }
}

/// The value a doc names as the default: `(default `x`)`, `(default 3)`, `; default 90`,
/// `Default `*`.`, or `` `x` (default) ``. Prose defaults (`default: the cluster name`,
/// `Azure's default is true`) are not values and give `None`. The flag says it was quoted.
fn doc_default(doc: &str) -> Option<(String, bool)> {
    let lower = doc.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find("default").map(|i| i + from) {
        from = i + "default".len();
        let before = lower[..i].trim_end();
        let after = &doc[from..];
        // `` `x` (default) `` and `` `x` (CNI, default) ``.
        if after.starts_with(')') {
            let open = before.rfind('(')?;
            let word = doc[..open].trim_end();
            if let Some(w) = word.strip_suffix('`').and_then(|w| w.rsplit_once('`')) {
                return Some((w.1.to_string(), true));
            }
            continue;
        }
        let starts_clause = before.is_empty()
            || before.ends_with('(')
            || before.ends_with(';')
            || before.ends_with('.');
        if !starts_clause || !after.starts_with(' ') {
            continue;
        }
        let rest = after.trim_start();
        if let Some(q) = rest.strip_prefix('`') {
            let end = q.find('`')?;
            return Some((q[..end].to_string(), true));
        }
        let word: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let next = rest[word.len()..].chars().next();
        if !word.is_empty() && matches!(next, None | Some(')' | ';' | '.' | ',' | ':')) {
            return Some((word, false));
        }
    }
    None
}

/// The default as a JSON value of the field's type, or `None` when it is not one the field
/// accepts (so a doc's wording can never make the schema reject its own default).
fn typed_default(s: &Value, word: &str, quoted: bool) -> Option<Value> {
    let lit = literal(s);
    if let Some(words) = lit.get("enum").and_then(Value::as_array) {
        return words.iter().find(|w| w.as_str() == Some(word)).cloned();
    }
    match lit.get("type").and_then(Value::as_str) {
        Some("integer") => word.parse::<i64>().ok().map(Value::from),
        Some("boolean") => match word {
            "true" => Some(json!(true)),
            "false" => Some(json!(false)),
            _ => None,
        },
        // A placeholder such as `<stack>.moatstate` is not a value.
        Some("string") if quoted && !word.contains(['<', '>']) => Some(json!(word)),
        Some("array") => {
            let inner = word.strip_prefix('[')?.strip_suffix(']')?;
            let items = lit.get("items")?;
            let values = inner
                .split(',')
                .map(str::trim)
                .filter(|w| !w.is_empty())
                .map(|w| typed_default(items, w, true))
                .collect::<Option<Vec<_>>>()?;
            Some(Value::Array(values))
        }
        _ => None,
    }
}

/// `N–M` (an en dash between two whole numbers) in a doc.
fn doc_range(doc: &str) -> Option<(i64, i64)> {
    let (a, b) = doc.split_once('–')?;
    let lo: String = a
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let hi: String = b.chars().take_while(char::is_ascii_digit).collect();
    Some((lo.parse().ok()?, hi.parse().ok()?)).filter(|(l, h)| l <= h)
}

/// The schema without facts, as pretty JSON text with a trailing newline.
pub fn spec_schema_text() -> String {
    spec_schema_text_with(&Facts::default())
}

/// The schema as pretty JSON text with a trailing newline, as checked in under `schemas/`
/// (with `moat_model::schema_facts()`).
pub fn spec_schema_text_with(facts: &Facts) -> String {
    let mut s = serde_json::to_string_pretty(&spec_schema_with(facts)).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(doc: &str) -> Option<(String, bool)> {
        doc_default(doc)
    }

    #[test]
    fn defaults_are_read_from_docs() {
        assert_eq!(d("Nodes, 1–100 (default 3)."), Some(("3".into(), false)));
        assert_eq!(
            d("Node VM size (default `Standard_D3_v2`)."),
            Some(("Standard_D3_v2".into(), true))
        );
        assert_eq!(
            d("`fast_prod` (default) or `dev_test`."),
            Some(("fast_prod".into(), true))
        );
        assert_eq!(
            d("`azure` (CNI, default) or `kubenet`."),
            Some(("azure".into(), true))
        );
        assert_eq!(
            d("Retention in days (30, 60 or 730; default 90)."),
            Some(("90".into(), false))
        );
        assert_eq!(
            d("Destination ports. Default `*`."),
            Some(("*".into(), true))
        );
        assert_eq!(d("DNS prefix (default: the cluster name)."), None);
        assert_eq!(d("Outbound access (Azure's default is true)."), None);
        assert_eq!(d("The workspace's default storage."), None);
    }

    #[test]
    fn defaults_take_the_field_type() {
        let int = json!({ "anyOf": [ { "type": "integer" }, interpolated() ] });
        assert_eq!(typed_default(&int, "3", false), Some(json!(3)));
        assert_eq!(typed_default(&int, "two", false), None);
        let en = json!({ "anyOf": [ { "type": "string", "enum": ["a", "b"] }, interpolated() ] });
        assert_eq!(typed_default(&en, "b", true), Some(json!("b")));
        assert_eq!(typed_default(&en, "c", true), None);
        let s = json!({ "type": "string" });
        assert_eq!(typed_default(&s, "<stack>.moatstate", true), None);
        assert_eq!(typed_default(&s, "2", false), None);
    }

    #[test]
    fn ranges_are_read_from_docs() {
        assert_eq!(doc_range("100–4096; lower first"), Some((100, 4096)));
        assert_eq!(doc_range("Nodes, 1–100 (default 3)."), Some((1, 100)));
        assert_eq!(doc_range("Source ports (`1024-65535`)."), None);
        let mut s = json!({ "anyOf": [ { "type": "integer", "minimum": 0, "maximum": 9 }, interpolated() ] });
        refine_field(&mut s, "Days, 7–90 (default 90).");
        assert_eq!(s["anyOf"][0]["minimum"], json!(7));
        assert_eq!(s["anyOf"][0]["maximum"], json!(90));
        assert_eq!(s["default"], json!(90));
    }
}
