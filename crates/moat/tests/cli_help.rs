//! The help texts are part of the interface: global options sit apart from the command's own,
//! `plan`, `apply` and `destroy` end with examples and exit codes, and `moat sim --help`
//! lists only what the emulator takes. Snapshotted, so any change is reviewed.

use std::process::Command;

/// Environment variables clap shows in help (`[env: X=value]`) or that change the binary.
const SCRUBBED: &[&str] = &[
    "MOAT_ARM_ENDPOINT",
    "MOAT_STATE_DIR",
    "MOAT_AUTH",
    "MOAT_LOG_HTTP",
];

fn help(args: &[&str]) -> String {
    let mut c = Command::new(env!("CARGO_BIN_EXE_moat"));
    for k in SCRUBBED {
        c.env_remove(k);
    }
    let out = c.args(args).output().expect("run moat");
    assert_eq!(out.status.code(), Some(0), "{args:?}");
    String::from_utf8(out.stdout).expect("UTF-8 help")
}

#[test]
fn top_level_help() {
    insta::assert_snapshot!(help(&["--help"]));
}

#[test]
fn plan_help() {
    insta::assert_snapshot!(help(&["plan", "--help"]));
}

#[test]
fn apply_help() {
    insta::assert_snapshot!(help(&["apply", "--help"]));
}

#[test]
fn destroy_help() {
    insta::assert_snapshot!(help(&["destroy", "--help"]));
}

#[test]
fn sim_help_has_no_global_options() {
    let text = help(&["sim", "--help"]);
    assert!(!text.contains("--state-dir"), "{text}");
    insta::assert_snapshot!(text);
}

#[test]
fn state_help() {
    insta::assert_snapshot!(help(&["state", "--help"]));
}

#[test]
fn short_help_groups_global_options() {
    let text = help(&["output", "-h"]);
    let own = text.find("--json").expect("own option");
    let globals = text.find("Global options:").expect("a global heading");
    assert!(own < globals, "{text}");
    insta::assert_snapshot!(text);
}
