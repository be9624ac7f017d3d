//! The checked-in JSON Schema of the spec must equal what the code generates; regenerate with
//! `cargo run -p moat -- schema > schemas/moat.schema.json` (or `UPDATE_SCHEMAS=1 cargo test`).

use std::path::PathBuf;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn spec_schema_is_up_to_date() {
    let path = repo().join("schemas/moat.schema.json");
    let fresh = moat_spec::schema::spec_schema_text_with(&moat_model::schema_facts());
    if std::env::var_os("UPDATE_SCHEMAS").is_some() {
        std::fs::write(&path, &fresh).expect("write schema");
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        checked_in == fresh,
        "schemas/moat.schema.json is stale: run `UPDATE_SCHEMAS=1 cargo test -p moat --test schema`"
    );
}

#[test]
fn every_example_names_the_schema_and_validates() {
    let dir = repo().join("examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("examples dir") {
        let path = entry.expect("entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        seen += 1;
        let text = std::fs::read_to_string(&path).expect("read example");
        assert!(
            text.starts_with("# yaml-language-server: $schema=../schemas/moat.schema.json"),
            "{} must start with the schema comment",
            path.display()
        );
        let file = moat_spec::SourceFile::new(path.display().to_string(), text);
        let loaded = moat::load::check(file, &Default::default(), true);
        let errors: Vec<String> = loaded
            .diags
            .iter()
            .filter(|d| d.is_error() || d.severity == moat_spec::Severity::Warning)
            .map(|d| moat_spec::diag::render_short(d, &loaded.file))
            .collect();
        assert!(
            errors.is_empty(),
            "{} has problems:\n{}",
            path.display(),
            errors.join("\n")
        );
        assert!(loaded.model.is_some());
    }
    assert!(seen >= 3, "expected at least three examples, found {seen}");
}
