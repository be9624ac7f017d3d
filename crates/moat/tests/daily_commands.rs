//! The everyday commands around plan and apply: `show` of a saved plan, `output`, `state
//! list|show|forget`, `--var-file`, `completions`, `version`, and the small script-breakers
//! (a closed stdout pipe, a silent clean `lint`, JSON without a final newline).

mod common;

use common::{BIN, Moat, copy_example, path_str, repo, scratch};
use serde_json::Value;
use std::process::{Command, Stdio};

/// A stack applied to the instant embedded emulator.
fn applied(name: &str) -> (std::path::PathBuf, std::path::PathBuf, Moat) {
    let dir = scratch(name);
    let spec = copy_example(&repo().join("examples/minimal.yaml"), &dir);
    let moat = Moat::local(&dir.join("state")).with_env("MOAT_LOCAL_TIME_SCALE", "0");
    moat.apply(&spec).expect(0, "apply");
    (dir, spec, moat)
}

#[test]
fn output_prints_ids_and_single_values_raw() {
    let (_dir, spec, moat) = applied("output");
    let s = path_str(&spec);
    let record = moat.state("minimal").expect("state record");
    let vnet_id = &record.resources["vnet"].id;

    let all = moat.run(&["output", "--spec", s, "--json"]);
    all.expect(0, "output --json");
    assert!(all.stdout.ends_with('\n'));
    let v: Value = serde_json::from_str(&all.stdout).expect("JSON");
    let keys: Vec<&String> = v.as_object().expect("object").keys().collect();
    assert_eq!(keys, ["rg", "vnet", "vnet/default"]);
    assert_eq!(v["vnet"]["id"], vnet_id.as_str());
    assert_eq!(v["vnet"]["kind"], "virtual_network");
    assert_eq!(v["rg"]["name"], "minimal-rg");

    let one = moat.run(&["output", "vnet.id", "--spec", s]);
    one.expect(0, "output vnet.id");
    assert_eq!(one.stdout, format!("{vnet_id}\n"));

    let text = moat.run(&["output", "vnet", "--spec", s]);
    text.expect(0, "output vnet");
    assert!(
        text.stdout.contains(&format!("vnet.id = {vnet_id}\n")),
        "{}",
        text.stdout
    );
    assert!(!text.stdout.contains("rg."), "{}", text.stdout);

    let bad = moat.run(&["output", "vnett", "--spec", s]);
    bad.expect(1, "output of an unknown key");
    assert!(
        bad.stderr.contains(
            "`vnett` is not a resource the stack manages (it has: rg, vnet, vnet/default)"
        ),
        "{}",
        bad.stderr
    );
}

#[test]
fn state_list_show_and_forget() {
    let (dir, spec, moat) = applied("state");
    let s = path_str(&spec);
    let list = moat.run(&["state", "list", "--spec", s]);
    list.expect(0, "state list");
    let keys: Vec<&str> = list
        .stdout
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(keys, ["rg", "vnet", "vnet/default"]);

    let show = moat.run(&["state", "show", "vnet/default", "--spec", s]);
    show.expect(0, "state show");
    let r: Value = serde_json::from_str(&show.stdout).expect("JSON");
    assert_eq!(r["kind"], "subnet");
    assert_eq!(r["applied"]["properties.addressPrefix"], "10.10.0.0/24");

    // Without a terminal and without `--yes`, nothing is forgotten.
    let refused = moat.run(&["state", "forget", "vnet", "--spec", s]);
    refused.expect(1, "forget without --yes");
    assert!(
        refused.stderr.contains("pass `--yes`"),
        "{}",
        refused.stderr
    );
    assert_eq!(moat.state("minimal").expect("record").resources.len(), 3);

    let cloud_before = common::cloud_ids(&dir.join("state/local-cloud.json"));
    let forget = moat.run(&["state", "forget", "vnet", "--spec", s, "--yes"]);
    forget.expect(0, "forget --yes");
    let record = moat.state("minimal").expect("record");
    let left: Vec<&String> = record.resources.keys().collect();
    assert_eq!(left, ["rg"], "the VNet's subnet goes with it");
    // Azure keeps what moat forgot.
    assert_eq!(
        common::cloud_ids(&dir.join("state/local-cloud.json")),
        cloud_before
    );

    let missing = moat.run(&["state", "show", "vnet", "--spec", s]);
    missing.expect(1, "state show of a forgotten key");
    assert!(
        missing.stderr.contains("(it has: rg)"),
        "{}",
        missing.stderr
    );
}

#[test]
fn show_renders_a_saved_plan_in_every_format() {
    let dir = scratch("show");
    let spec = copy_example(&repo().join("examples/minimal.yaml"), &dir);
    let moat = Moat::local(&dir.join("state"));
    let planfile = dir.join("plan.json");
    let plan = moat.run(&["plan", path_str(&spec), "--out", path_str(&planfile)]);
    plan.expect(0, "plan --out");

    let json = moat.run(&["show", path_str(&planfile), "--format", "json"]);
    json.expect(0, "show --format json");
    assert_eq!(
        json.stdout,
        std::fs::read_to_string(&planfile).expect("plan file")
    );
    assert!(json.stdout.ends_with('\n'));
    let text = moat.run(&["show", path_str(&planfile)]);
    text.expect(0, "show");
    assert_eq!(text.stdout, plan.stdout, "show prints what plan printed");
    let md = moat.run(&["show", path_str(&planfile), "--format", "markdown"]);
    md.expect(0, "show --format markdown");
    assert!(md.stdout.contains("vnet/default"), "{}", md.stdout);

    let not_a_plan = moat.run(&["show", path_str(&spec)]);
    not_a_plan.expect(1, "show of a spec");
    assert!(
        not_a_plan
            .stderr
            .contains("is not a plan saved by `moat plan --out`"),
        "{}",
        not_a_plan.stderr
    );
}

#[test]
fn var_file_sets_variables_and_var_wins() {
    let dir = scratch("var-file");
    let spec = dir.join("moat.yaml");
    std::fs::write(
        &spec,
        "stack: vars\nlocation: westeurope\nvariables:\n  prefix: {}\n  size: { default: small }\nresources:\n  rg: { type: resource_group, name: \"${var.prefix}-${var.size}-rg\" }\n",
    )
    .expect("spec");
    let vars = dir.join("prod.yaml");
    std::fs::write(&vars, "prefix: prod\nsize: 3\n").expect("var file");
    let moat = Moat::local(&dir.join("state"));
    let id = |out: &common::Out| {
        let v: Value = serde_json::from_str(&out.stdout).expect("JSON plan");
        v["resources"][0]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let s = path_str(&spec);
    let from_file = moat.run(&["plan", s, "--format", "json", "--var-file", path_str(&vars)]);
    from_file.expect(0, "plan --var-file");
    assert!(
        id(&from_file).ends_with("/resourceGroups/prod-3-rg"),
        "{}",
        id(&from_file)
    );
    let both = moat.run(&[
        "plan",
        s,
        "--format",
        "json",
        "--var-file",
        path_str(&vars),
        "--var",
        "prefix=dev",
    ]);
    both.expect(0, "plan --var-file --var");
    assert!(
        id(&both).ends_with("/resourceGroups/dev-3-rg"),
        "{}",
        id(&both)
    );

    std::fs::write(&vars, "prefix: [a, b]\n").expect("var file");
    let bad = moat.run(&["plan", s, "--var-file", path_str(&vars)]);
    bad.expect(1, "a list in a var file");
    assert!(
        bad.stderr
            .contains("variable `prefix` must be a string, number or boolean"),
        "{}",
        bad.stderr
    );
}

#[test]
fn completions_and_version() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let out = Command::new(BIN)
            .args(["completions", shell])
            .output()
            .expect("run moat");
        assert_eq!(out.status.code(), Some(0), "{shell}");
        let text = String::from_utf8_lossy(&out.stdout);
        // Every shell's script knows the subcommands.
        for word in ["plan", "apply", "force-unlock", "completions"] {
            assert!(text.contains(word), "{shell} completions lack `{word}`");
        }
    }
    let out = Command::new(BIN).arg("version").output().expect("run moat");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with(&format!("moat {}\n", env!("CARGO_PKG_VERSION"))));
    for kind in moat_model::Kind::all() {
        let line = text
            .lines()
            .find(|l| l.split_whitespace().next() == Some(kind.word()))
            .unwrap_or_else(|| panic!("no line for `{}` in\n{text}", kind.word()));
        assert!(line.contains(kind.api_version()), "{line}");
    }
}

#[test]
fn a_closed_stdout_pipe_ends_quietly() {
    // `moat schema` writes more than a pipe buffer holds, so the write meets the closed pipe.
    let mut child = Command::new(BIN)
        .arg("schema")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start moat");
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.is_empty(), "{stderr}");
}

#[test]
fn clean_lint_says_so_and_json_ends_with_a_newline() {
    let example = repo().join("examples/minimal.yaml");
    let e = path_str(&example);
    let lint = Command::new(BIN)
        .args(["lint", "--local", e])
        .output()
        .expect("run moat");
    assert_eq!(lint.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&lint.stderr),
        format!("{e}: no findings (3 resources checked)\n")
    );
    for args in [
        &["lint", "--format", "json"][..],
        &["lint", "--format", "sarif"],
        &["validate", "--format", "json"],
        &["graph", "--format", "text"],
    ] {
        let out = Command::new(BIN)
            .args(args)
            .args(["--local", e])
            .output()
            .expect("run moat");
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        assert!(
            out.stdout.ends_with(b"\n"),
            "{args:?} lacks a final newline"
        );
    }
    let schema = Command::new(BIN).arg("schema").output().expect("run moat");
    assert!(schema.stdout.ends_with(b"}\n"));
}

/// Issue 12, repro 8: declining the confirmation says "Apply cancelled." and exits 1 (a
/// script must not read it as done); nothing is written. `script` gives moat the terminal it
/// asks on.
#[test]
fn declining_the_confirmation_cancels_with_exit_1() {
    if !std::path::Path::new("/usr/bin/script").exists() {
        moat_testkit::skip(
            "moat/daily_commands",
            "`script` (util-linux) is not installed",
        );
        return;
    }
    let dir = scratch("cancel");
    let spec = copy_example(&repo().join("examples/minimal.yaml"), &dir);
    let state = dir.join("state");
    // The shell quotes nothing: scratch paths have no spaces or quotes.
    let line = format!(
        "{BIN} --state-dir {} --local apply {}",
        path_str(&state),
        path_str(&spec)
    );
    let mut child = Command::new("/usr/bin/script")
        .args(["-qec", &line, "/dev/null"])
        .env("NO_COLOR", "1")
        .env("MOAT_LOCAL_TIME_SCALE", "0")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script runs");
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(b"no\n").expect("answer");
    }
    let out = child.wait_with_output().expect("script ends");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Apply cancelled."), "{text}");
    assert_eq!(out.status.code(), Some(1), "{text}");
    let moat = Moat::local(&state);
    assert!(
        moat.state("minimal").is_none_or(|r| r.resources.is_empty()),
        "a cancelled apply recorded resources"
    );
}

#[test]
fn plan_markdown_has_a_block_per_resource_with_its_lint_findings_and_a_diagram() {
    let dir = scratch("markdown");
    let spec = dir.join("spec.yaml");
    std::fs::write(
        &spec,
        "stack: md\nlocation: westeurope\nresources:\n  rg: { type: resource_group, name: md-rg }\n  nsg:\n    type: network_security_group\n    resource_group: rg\n    rules:\n      - { name: ssh, priority: 100, direction: inbound, access: allow, protocol: tcp, source: Internet, destination_ports: [\"22\"] }\n      - { name: web, priority: 110, direction: inbound, access: allow, protocol: tcp, source: AzureMachineLerning, destination_ports: [\"443\"] }\n  routes:\n    type: route_table\n    resource_group: rg\n    routes:\n      - { name: default, address_prefix: 0.0.0.0/0, next_hop: virtual_appliance, next_hop_ip: 10.0.0.4 }\n",
    )
    .expect("spec");
    let moat = Moat::local(&dir.join("state"));
    let lint = moat.run(&["lint", path_str(&spec)]);
    assert!(lint.stderr.contains("warning[ML401]"), "{}", lint.stderr);
    let md = moat.run(&[
        "plan",
        path_str(&spec),
        "--format",
        "markdown",
        "--plan-url",
        "https://ci.example/runs/1",
    ]);
    md.expect(0, "plan --format markdown");
    let out = &md.stdout;
    assert_eq!(out.matches("<details><summary>").count(), 3, "{out}");
    let nsg = out
        .split("<details><summary>")
        .find(|b| b.contains("<code>nsg</code>"))
        .expect("the NSG's block");
    assert!(
        nsg.contains("`ML401` warning: unknown service tag"),
        "{nsg}"
    );
    assert!(nsg.contains("spec.yaml:10:"), "{nsg}");
    assert!(
        nsg.contains("did you mean `AzureMachineLearning`?"),
        "{nsg}"
    );
    assert!(
        nsg.contains("+ rule ssh: inbound allow tcp 22 from Internet priority 100"),
        "{nsg}"
    );
    assert!(
        out.contains("+ route default: 0.0.0.0/0 → virtual_appliance 10.0.0.4"),
        "{out}"
    );
    assert!(out.contains("```mermaid\nflowchart LR\n"), "{out}");
    assert!(!out.contains("[!NOTE]"), "a small plan is whole: {out}");
}
