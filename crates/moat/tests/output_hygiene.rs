//! What moat prints never carries user text raw: spec values, environment values and
//! command-line words are escaped (no terminal escape sequence gets through, no line of
//! output starts with text that GitHub Actions would run as a workflow command, `::error …`),
//! and a huge value is cut instead of echoed.

mod common;

use common::{Moat, Out, path_str, scratch};

/// Fails unless no line of `text` could be a workflow command and no control character
/// other than the line breaks moat writes itself got through.
fn assert_clean(text: &str, what: &str) {
    for line in text.lines() {
        assert!(
            !line.trim_start().starts_with("::"),
            "{what}: a line starts with `::`: {line:?}\n{text}"
        );
    }
    let bad: Vec<char> = text
        .chars()
        .filter(|c| c.is_control() && *c != '\n')
        .collect();
    assert!(
        bad.is_empty(),
        "{what}: raw control characters {bad:?} in\n{text:?}"
    );
}

fn validate(moat: &Moat, spec: &std::path::Path) -> Out {
    moat.run(&["validate", path_str(spec)])
}

const EVIL: &str = "10.0.0.0/16\n::error title=pwned::the build failed\u{1b}]0;owned\u{7}\u{1b}[2J";

#[test]
fn environment_text_is_escaped_in_diagnostics() {
    let dir = scratch("hygiene-env");
    let spec = dir.join("spec.yaml");
    std::fs::write(
        &spec,
        "stack: demo\nlocation: eastus2\nresources:\n  rg: { type: resource_group }\n  vnet:\n    type: virtual_network\n    resource_group: rg\n    address_space: [\"${env.MOAT_TEST_EVIL_VALUE}\"]\n",
    )
    .expect("spec");
    let moat = Moat::local(&dir.join("state")).with_env("MOAT_TEST_EVIL_VALUE", EVIL);
    let out = validate(&moat, &spec);
    out.expect(1, "validate with a hostile environment value");
    assert_clean(&out.stderr, "validate");
    assert!(
        out.stderr
            .contains("\\n::error title=pwned::the build failed\\u{1b}]0;owned\\u{7}"),
        "the value is not shown escaped:\n{}",
        out.stderr
    );
}

#[test]
fn a_two_megabyte_value_is_not_echoed() {
    let dir = scratch("hygiene-big");
    let spec = dir.join("spec.yaml");
    let big = "7".repeat(2 * 1024 * 1024);
    std::fs::write(
        &spec,
        format!("stack: demo\nlocation: eastus2\nresources:\n  rg: {{ type: resource_group }}\n  vnet:\n    type: virtual_network\n    resource_group: rg\n    address_space: [\"{big}\"]\n"),
    )
    .expect("spec");
    let out = validate(&Moat::local(&dir.join("state")), &spec);
    out.expect(1, "validate with a 2 MB address");
    assert!(
        out.stderr.len() < 8 * 1024,
        "{} bytes of stderr for one bad value",
        out.stderr.len()
    );
    assert!(
        out.stderr.contains("(2097152 characters)"),
        "{}",
        out.stderr
    );
}

#[test]
fn command_line_words_are_escaped_in_errors() {
    let dir = scratch("hygiene-target");
    let spec = dir.join("spec.yaml");
    std::fs::write(
        &spec,
        "stack: demo\nlocation: eastus2\nresources:\n  rg: { type: resource_group, name: demo-rg }\n",
    )
    .expect("spec");
    let moat = Moat::local(&dir.join("state"));
    let out = moat.run(&[
        "apply",
        path_str(&spec),
        "--auto-approve",
        "--target",
        "nope\n::warning::injected\u{1b}[31m",
    ]);
    out.expect(1, "apply with a hostile --target");
    assert_clean(&out.stderr, "apply --target");
    assert!(
        out.stderr.contains("nope\\n::warning::injected"),
        "{}",
        out.stderr
    );
}
