//! Deleting a resource group deletes everything in it: a destroy (or a group leaving the
//! spec) is refused while the group holds resources the stack does not own, and
//! `--exclude GROUP` keeps the group and deletes the rest.

use moat_arm::{Arm, ArmClient, ClientConfig, Endpoint, WriteRequest};
use serde_json::json;
use std::process::Command;

const SUB: &str = "10ca1000-0000-4000-8000-000000000001";

fn moat(dir: &std::path::Path, endpoint: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_moat"))
        .current_dir(dir)
        .args(args)
        .args(["--arm-endpoint", endpoint, "--no-color"])
        .output()
        .expect("run moat");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn destroy_keeps_a_group_that_holds_someone_elses_resources() {
    moat_arm::install_crypto_provider();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let config = moat_sim::SimConfig {
        time_scale: 0.0,
        ..moat_sim::SimConfig::default()
    };
    let sim = rt
        .block_on(moat_sim::start(
            "127.0.0.1:0".parse().expect("addr"),
            config,
        ))
        .expect("sim");
    let url = sim.url();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/minimal.yaml"),
        dir.path().join("minimal.yaml"),
    )
    .expect("copy");
    let (code, _, err) = moat(
        dir.path(),
        &url,
        &["apply", "minimal.yaml", "--auto-approve"],
    );
    assert_eq!(code, 0, "{err}");

    // Another team's NSG lands in the group.
    let client = rt
        .block_on(ArmClient::new(ClientConfig::for_endpoint(
            Endpoint::parse(&url).expect("endpoint"),
        )))
        .expect("client");
    let nsg = format!(
        "/subscriptions/{SUB}/resourceGroups/minimal-rg/providers/Microsoft.Network/networkSecurityGroups/theirs"
    );
    rt.block_on(async {
        let s = client
            .begin(WriteRequest::put(
                nsg.clone(),
                "2024-03-01",
                json!({ "location": "westeurope" }),
            ))
            .await
            .expect("put");
        client.wait(&s.operation).await.expect("wait");
    });

    let (code, _, err) = moat(
        dir.path(),
        &url,
        &["destroy", "minimal.yaml", "--auto-approve"],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(
            "deleting resource group `rg` would also delete 1 resource(s) this stack does not own"
        ),
        "{err}"
    );
    assert!(
        err.contains("networkSecurityGroups/theirs") && err.contains("minimal.yaml:8:3"),
        "{err}"
    );
    assert!(err.contains("--exclude rg"), "{err}");
    let still = rt.block_on(client.get(&nsg, "2024-03-01")).expect("get");
    assert!(
        still.is_some(),
        "the refused destroy must not touch anything"
    );

    // Keeping the group deletes everything else the stack owns.
    let (code, _, err) = moat(
        dir.path(),
        &url,
        &[
            "destroy",
            "minimal.yaml",
            "--auto-approve",
            "--exclude",
            "rg",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let ids: Vec<String> = sim
        .resources()
        .iter()
        .filter_map(|r| r.get("id").and_then(|v| v.as_str()).map(str::to_lowercase))
        .collect();
    assert!(
        ids.iter()
            .any(|i| i.ends_with("/resourcegroups/minimal-rg")),
        "{ids:?}"
    );
    assert!(
        ids.iter()
            .any(|i| i.ends_with("/networksecuritygroups/theirs")),
        "{ids:?}"
    );
    assert!(
        !ids.iter().any(|i| i.contains("/virtualnetworks/")),
        "{ids:?}"
    );
    rt.block_on(sim.shutdown());
}
