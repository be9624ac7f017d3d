//! A workspace's managed network with the real binary and the embedded emulator: turning
//! isolation on is a plan-time warning, the rules Azure adds itself never show as drift, a
//! removed rule is one DELETE, and a spec that turns isolation off again is a located
//! plan-time error with nothing sent.

mod common;

use common::{Moat, copy_example, path_str, repo, scratch};

#[test]
fn isolation_is_one_way_and_service_rules_never_drift() {
    let dir = scratch("managed-network");
    let example = repo().join("examples/managed-network-workspace.yaml");
    let spec = copy_example(&example, &dir);
    let moat = Moat::local(&dir.join("state"));
    let text = std::fs::read_to_string(&spec).unwrap();
    let line = text
        .lines()
        .position(|l| l.contains("isolation: allow_only_approved_outbound"))
        .unwrap()
        + 1;

    let out = moat.run(&["plan", path_str(&spec)]);
    out.expect(0, "plan of the example");
    assert!(
        out.stderr.contains(
            "warning[W0302]: this plan turns on managed network isolation of workspace `ws`"
        ) && out
            .stderr
            .contains(&format!("managed-network-workspace.yaml:{line}:18")),
        "{}",
        out.stderr
    );
    moat.apply(&spec).expect(0, "apply of the example");
    // The emulator added its own Required and Dependency rules: no drift, no warning again.
    let out = moat.run(&["plan", path_str(&spec)]);
    out.expect(0, "plan after apply");
    assert!(out.stdout.contains("No changes"), "{}", out.stdout);
    assert!(!out.stderr.contains("W0302"), "{}", out.stderr);

    // A rule removed from the spec is deleted, nothing else.
    let fewer = dir.join("fewer.yaml");
    std::fs::write(
        &fewer,
        text.replace("        pypi: { fqdn: pypi.org }\n", ""),
    )
    .unwrap();
    let out = moat.run(&["plan", path_str(&fewer)]);
    out.expect(0, "plan without the pypi rule");
    assert!(
        out.stdout
            .contains("ws/outbound_rules/pypi (ml_outbound_rule) will be destroyed")
            && out
                .stdout
                .contains("0 to add, 0 to change, 0 to replace, 1 to destroy"),
        "{}",
        out.stdout
    );

    // Turning isolation off again: refused at plan time, at the line, nothing written.
    for (name, edited) in [
        (
            "off.yaml",
            text.replace(
                "isolation: allow_only_approved_outbound",
                "isolation: disabled",
            )
            .replace("        pypi: { fqdn: pypi.org }\n", "")
            .replace(
                "        monitor: { service_tag: AzureMonitor, protocol: TCP, ports: \"443\" }\n",
                "",
            )
            .replace(
                "        team-data: { private_endpoint: data, subresource: blob }\n",
                "",
            )
            .replace("      outbound_rules:\n", ""),
        ),
        (
            "dropped.yaml",
            text.lines()
                .filter(|l| {
                    !l.starts_with("    managed_network:") && !l.starts_with("      ")
                        || l.contains("storage_account")
                })
                .collect::<Vec<_>>()
                .join("\n"),
        ),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, &edited).unwrap();
        let out = moat.run(&["apply", path_str(&path), "--auto-approve"]);
        out.expect(1, &format!("apply of {name}"));
        assert!(
            out.stderr.contains(
                "error[E0114]: workspace `ws` has managed network isolation `AllowOnlyApprovedOutbound`, which cannot be turned off"
            ) && out.stderr.contains("nothing was sent to Azure"),
            "{name}: {}",
            out.stderr
        );
    }
    moat.assert_no_changes(&spec, "after the refused plans");
    moat.run(&["destroy", path_str(&spec), "--auto-approve"])
        .expect(0, "destroy");
    let _ = std::fs::remove_dir_all(&dir);
}
