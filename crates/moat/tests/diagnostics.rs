//! The diagnostics corpus: every broken spec under `tests/diagnostics/` (plus a few generated
//! byte-level cases) goes through the offline pipeline, and what the user would see is
//! snapshot-tested, so a change to any message, caret or hint shows up in review.
//!
//! A corpus file may start with `# args: --var NAME=VALUE ...` to pass command-line variables.

use moat::cli::VarArgs;
use moat_spec::RenderOptions;
use std::path::{Path, PathBuf};

/// The variable `env_unset.yaml` relies on being unset; no machine should define it.
const UNSET_VAR: &str = "MOAT_TEST_SURELY_UNSET_VAR";

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/diagnostics")
}

/// `--var` arguments from a leading `# args:` comment.
fn args_of(text: &str) -> VarArgs {
    let mut vars = Vec::new();
    if let Some(rest) = text.lines().next().and_then(|l| l.strip_prefix("# args:")) {
        let mut words = rest.split_whitespace();
        while let Some(w) = words.next() {
            assert_eq!(w, "--var", "only `--var` is supported in `# args:`");
            let kv = words.next().expect("`--var` needs NAME=VALUE");
            let (k, v) = kv.split_once('=').expect("NAME=VALUE");
            vars.push((k.to_string(), v.to_string()));
        }
    }
    VarArgs {
        vars,
        ..VarArgs::default()
    }
}

/// Runs the pipeline exactly as `moat validate --local` does on a file's bytes and renders
/// every diagnostic without colour. Returns the rendering and the number of errors.
fn diagnose(name: &str, bytes: Vec<u8>, vars: &VarArgs) -> (String, usize) {
    let (file, diags) = match moat_spec::source_from_bytes(name, bytes) {
        Ok(file) => {
            let loaded = moat::load::check(file, vars, true);
            (loaded.file, loaded.diags)
        }
        Err((file, d)) => (file, vec![d]),
    };
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let text = diags
        .iter()
        .map(|d| moat_spec::diag::render(d, &file, RenderOptions { color: false }))
        .collect::<Vec<_>>()
        .join("\n");
    (text, errors)
}

fn check_case(name: &str, bytes: Vec<u8>, vars: &VarArgs) {
    let (text, errors) = diagnose(&format!("{name}.yaml"), bytes, vars);
    assert!(
        errors >= 1,
        "{name}: expected at least one error, got:\n{text}"
    );
    assert!(!text.contains("panicked"), "{name}: {text}");
    insta::assert_snapshot!(name, text);
}

#[test]
fn corpus_files() {
    assert!(
        std::env::var_os(UNSET_VAR).is_none(),
        "`{UNSET_VAR}` must not be set when running this test (env_unset.yaml relies on it)"
    );
    let mut paths: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("tests/diagnostics exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("yaml"))
        .collect();
    paths.sort();
    assert!(
        paths.len() >= 40,
        "the corpus should hold at least 40 specs, found {}",
        paths.len()
    );
    for path in &paths {
        let bytes = std::fs::read(path).expect("read corpus file");
        let vars = args_of(&String::from_utf8_lossy(&bytes));
        check_case(&stem(path), bytes, &vars);
    }
}

fn stem(p: &Path) -> String {
    p.file_stem()
        .and_then(|s| s.to_str())
        .expect("utf-8 file name")
        .to_string()
}

#[test]
fn invalid_utf8() {
    let mut bytes =
        b"# Latin-1, not UTF-8.\nstack: demo\nlocation: eastus2\ntags: { owner: Jos".to_vec();
    bytes.extend([0xe9, b' ', b'}', b'\n']);
    bytes.extend(b"resources:\n  rg: { type: resource_group }\n");
    check_case("invalid_utf8", bytes, &VarArgs::default());
}

#[test]
fn binary_file() {
    let mut bytes = b"\x7fELF\x02\x01\x01".to_vec();
    bytes.extend([0u8; 9]);
    bytes.extend([0x02, 0x00, 0x3e, 0x00, 0xff, 0xfe]);
    check_case("binary_file", bytes, &VarArgs::default());
}

#[test]
fn deep_nesting() {
    let text = format!(
        "stack: demo\nresources: {}{}\n",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    check_case("deep_nesting", text.into_bytes(), &VarArgs::default());
}

#[test]
fn two_megabyte_value() {
    // Echoed once, cut to its start and size (it used to be printed whole, twice).
    let text = format!(
        "stack: demo\nlocation: eastus2\nresources:\n  rg: {{ type: resource_group }}\n  vnet:\n    type: virtual_network\n    resource_group: rg\n    address_space: [\"{}\"]\n",
        "1".repeat(2 * 1024 * 1024)
    );
    let (rendered, errors) = diagnose(
        "two_megabyte_value.yaml",
        text.clone().into_bytes(),
        &VarArgs::default(),
    );
    assert!(errors >= 1);
    assert!(
        rendered.len() < 4_000,
        "{} bytes of diagnostics",
        rendered.len()
    );
    check_case("two_megabyte_value", text.into_bytes(), &VarArgs::default());
}

#[test]
fn var_flag_overrides_default() {
    // The positive twin of `var_not_declared.yaml`: a declared variable takes the `--var` value.
    let text = "stack: demo\nlocation: eastus2\nvariables:\n  prefix: { default: demo }\nresources:\n  rg: { type: resource_group, name: \"${var.prefix}-rg\" }\n";
    let vars = VarArgs {
        vars: vec![("prefix".into(), "team1".into())],
        ..VarArgs::default()
    };
    let loaded = moat::load::check(moat_spec::SourceFile::new("v.yaml", text), &vars, true);
    assert!(!loaded.has_errors());
    let model = loaded.model.expect("model");
    assert_eq!(
        model.get("rg").map(|r| r.name.value.as_str()),
        Some("team1-rg")
    );
}
