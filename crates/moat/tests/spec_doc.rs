//! `docs/spec.md` is the reference of the spec language; it must not drift from the code. Every
//! resource kind has a section listing each of its fields with the field's doc comment (the
//! same text as the JSON Schema's `description`), and every diagnostic code the parser and
//! resolver can emit is in the error-code table.

use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn doc() -> String {
    std::fs::read_to_string(repo().join("docs/spec.md")).expect("docs/spec.md exists")
}

/// The text of the `### \`kind\`` section.
fn section<'a>(doc: &'a str, kind: &str) -> &'a str {
    let head = format!("### `{kind}`\n");
    let start = doc
        .find(&head)
        .unwrap_or_else(|| panic!("docs/spec.md has no section `{head}`"));
    let rest = &doc[start + head.len()..];
    let end = rest
        .find("\n### ")
        .or_else(|| rest.find("\n## "))
        .unwrap_or(rest.len());
    &rest[..end]
}

/// Table cells escape `|`; descriptions are compared the way they are written in the table.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// Checks one object schema's fields (and nested objects') against a section.
fn check_object(
    schema: &serde_json::Value,
    section: &str,
    path: &str,
    skip: &[&str],
    missing: &mut Vec<String>,
) {
    let Some(props) = schema.get("properties").and_then(|p| p.as_object()) else {
        return;
    };
    for (field, sub) in props {
        if skip.contains(&field.as_str()) {
            continue;
        }
        if !section.contains(&format!("| `{field}` |")) {
            missing.push(format!("{path}{field}: no table row"));
        }
        if let Some(desc) = sub.get("description").and_then(|d| d.as_str())
            && !desc.is_empty()
            && !section.contains(&cell(desc))
        {
            missing.push(format!(
                "{path}{field}: description `{desc}` not in the section"
            ));
        }
        let nested = match sub.get("type").and_then(|t| t.as_str()) {
            Some("array") => sub.get("items"),
            Some("object") if sub.get("properties").is_some() => Some(sub),
            Some("object") => sub.get("additionalProperties"),
            _ => None,
        };
        if let Some(n) = nested {
            check_object(n, section, &format!("{path}{field}."), &[], missing);
        }
    }
}

#[test]
fn every_kind_and_field_is_documented() {
    let doc = doc();
    let schema = moat_spec::schema::spec_schema();
    let branches = schema["properties"]["resources"]["additionalProperties"]["allOf"]
        .as_array()
        .expect("kind branches");
    let mut missing = Vec::new();
    for ty in moat_spec::ast::ResourceType::all() {
        let kind = ty.as_str();
        let sec = section(&doc, kind);
        let branch = branches
            .iter()
            .find(|b| b["if"]["properties"]["type"]["const"] == kind)
            .expect("a schema branch per kind");
        check_object(
            &branch["then"],
            sec,
            &format!("{kind}."),
            moat_spec::ast::COMMON_FIELDS,
            &mut missing,
        );
    }
    for field in moat_spec::ast::TOP_FIELDS
        .iter()
        .chain(moat_spec::ast::COMMON_FIELDS)
    {
        if !doc.contains(&format!("| `{field}` |")) {
            missing.push(format!("top-level or common field `{field}`"));
        }
    }
    for field in moat_spec::ast::Existing::FIELDS
        .iter()
        .chain(moat_spec::ast::Backend::FIELDS)
    {
        if !doc.contains(&format!("| `{field}` |")) {
            missing.push(format!("`existing:`/`backend:` field `{field}`"));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/spec.md is out of date:\n{}",
        missing.join("\n")
    );
}

/// Every `"E0123"`/`"W0123"` literal left in the parser and the resolver (recursively: kind
/// files included). Code should name `moat_spec::codes` constants; a literal would bypass the
/// list, so each one found must be in it.
fn code_literals_in_source() -> Vec<String> {
    let mut codes = Vec::new();
    let mut dirs = vec![
        repo().join("crates/moat-spec/src"),
        repo().join("crates/moat-model/src"),
    ];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("source dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read source");
            let bytes = text.as_bytes();
            for (i, w) in bytes.windows(7).enumerate() {
                let is_code = w[0] == b'"'
                    && (w[1] == b'E' || w[1] == b'W')
                    && w[2..6].iter().all(u8::is_ascii_digit)
                    && w[6] == b'"'
                    && (i == 0 || bytes[i - 1] != b'\\');
                if is_code {
                    codes.push(text[i + 1..i + 6].to_string());
                }
            }
        }
    }
    codes.sort();
    codes.dedup();
    codes
}

#[test]
fn every_code_in_source_is_a_listed_constant() {
    let stray: Vec<String> = code_literals_in_source()
        .into_iter()
        .filter(|c| !moat_spec::codes::ALL.contains(&c.as_str()))
        .collect();
    assert!(stray.is_empty(), "codes not in moat_spec::codes: {stray:?}");
}

#[test]
fn every_error_code_is_in_the_table() {
    let doc = doc();
    let codes = moat_spec::codes::ALL;
    assert!(codes.len() >= 20, "found only {codes:?}");
    let missing: Vec<&&str> = codes
        .iter()
        .filter(|c| !doc.contains(&format!("| `{c}` |")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/spec.md lacks error codes {missing:?}"
    );
}
