//! SARIF 2.1.0 output, the format code-scanning services (GitHub, Azure DevOps) read: one run
//! whose driver lists the lint catalogue, and one result per diagnostic located by 1-based
//! lines and character columns.

use crate::catalogue::{self, RULES};
use moat_spec::{Diagnostic, Label, Severity, SourceFile};
use serde_json::{Value, json};

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Note => "note",
    }
}

/// The artifact URI of a file name as typed: relative paths stay relative to the checkout
/// (`%SRCROOT%`), absolute ones become `file://` URIs.
fn artifact(file: &SourceFile) -> Value {
    let name = file.name().replace('\\', "/");
    let encoded: String = name
        .chars()
        .flat_map(|c| match c {
            ' ' => "%20".chars().collect::<Vec<_>>(),
            '#' => "%23".chars().collect(),
            '%' => "%25".chars().collect(),
            c => vec![c],
        })
        .collect();
    if encoded.starts_with('/') {
        json!({ "uri": format!("file://{encoded}") })
    } else {
        json!({ "uri": encoded.trim_start_matches("./"), "uriBaseId": "%SRCROOT%" })
    }
}

fn region(file: &SourceFile, label: &Label) -> Value {
    let s = file.line_col(label.span.start);
    let e = file.line_col(label.span.end);
    json!({ "startLine": s.line, "startColumn": s.col, "endLine": e.line, "endColumn": e.col })
}

fn location(file: &SourceFile, label: &Label) -> Value {
    let mut loc = json!({ "physicalLocation": { "artifactLocation": artifact(file), "region": region(file, label) } });
    if !label.text.is_empty() {
        loc["message"] = json!({ "text": label.text });
    }
    loc
}

fn descriptor(r: &catalogue::Rule) -> Value {
    json!({
        "id": r.id,
        "name": r.name,
        "shortDescription": { "text": r.summary },
        "fullDescription": { "text": r.help },
        "help": { "text": r.help },
        "defaultConfiguration": { "level": level(r.severity) },
    })
}

fn result(file: &SourceFile, d: &Diagnostic) -> Value {
    let mut text = d.message.clone();
    for n in &d.notes {
        text.push_str(&format!("\nnote: {n}"));
    }
    if let Some(h) = &d.hint {
        text.push_str(&format!("\nhint: {h}"));
    }
    let mut r = json!({
        "ruleId": d.code,
        "level": level(d.severity),
        "message": { "text": text },
        "locations": [location(file, &d.primary)],
    });
    if let Some(i) = RULES.iter().position(|x| x.id == d.code) {
        r["ruleIndex"] = json!(i);
    }
    if !d.secondary.is_empty() {
        let related: Vec<Value> = d
            .secondary
            .iter()
            .enumerate()
            .map(|(i, l)| {
                let mut v = location(file, l);
                v["id"] = json!(i);
                v
            })
            .collect();
        r["relatedLocations"] = Value::Array(related);
    }
    r
}

/// The SARIF log.
pub fn log(file: &SourceFile, diags: &[Diagnostic]) -> Value {
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "moat",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": RULES.iter().map(descriptor).collect::<Vec<_>>(),
            } },
            "columnKind": "unicodeCodePoints",
            "artifacts": [{ "location": artifact(file) }],
            "results": diags.iter().map(|d| result(file, d)).collect::<Vec<_>>(),
        }],
    })
}
