//! `moat import`: a resource that exists without this stack's tag is refused by plan, adopted
//! by import, then tagged by the next apply; another stack's resource is never adopted.

use moat_arm::{Arm, ArmClient, ClientConfig, Endpoint, WriteRequest};
use serde_json::json;
use std::process::Command;

const SUB: &str = "10ca1000-0000-4000-8000-000000000001";

fn moat(dir: &std::path::Path, endpoint: &str, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_moat"))
        .current_dir(dir)
        .args(args)
        .args(["--arm-endpoint", endpoint, "--no-color"])
        .env("NO_COLOR", "1")
        .output()
        .expect("run moat");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn import_adopts_an_unowned_resource_and_refuses_a_foreign_one() {
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
    let client = rt
        .block_on(ArmClient::new(ClientConfig::for_endpoint(
            Endpoint::parse(&url).expect("endpoint"),
        )))
        .expect("client");
    let put = |id: String, body: serde_json::Value| {
        rt.block_on(async {
            let s = client
                .begin(WriteRequest::put(id, "2024-07-01", body))
                .await
                .expect("put");
            client.wait(&s.operation).await.expect("wait");
        })
    };
    let rg = format!("/subscriptions/{SUB}/resourceGroups/minimal-rg");
    put(rg.clone(), json!({ "location": "westeurope" }));

    let dir = tempfile::tempdir().expect("tempdir");
    let spec = dir.path().join("minimal.yaml");
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/minimal.yaml"),
        &spec,
    )
    .expect("copy");

    // Refused: the group exists and nobody owns it.
    let (code, _, err) = moat(dir.path(), &url, &["plan", "minimal.yaml"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("this stack does not own it") && err.contains("moat import"),
        "{err}"
    );
    assert!(err.contains("minimal.yaml:8:3"), "{err}");

    // A wrong ID is refused before anything is written.
    let (code, _, err) = moat(
        dir.path(),
        &url,
        &[
            "import",
            "minimal.yaml",
            "rg",
            "/subscriptions/x/resourceGroups/other",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("resolves to"), "{err}");

    let (code, _, err) = moat(dir.path(), &url, &["import", "minimal.yaml", "rg", &rg]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("Imported"), "{err}");

    // Adopted: the plan now updates the group (the ownership tag) and creates the rest.
    let (code, out, err) = moat(
        dir.path(),
        &url,
        &["plan", "minimal.yaml", "--detailed-exitcode"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        out.contains("Plan: 2 to add, 1 to change, 0 to replace, 0 to destroy."),
        "{out}"
    );
    assert!(out.contains("+ tags.moat-stack = \"minimal\""), "{out}");
    let (code, _, err) = moat(
        dir.path(),
        &url,
        &["apply", "minimal.yaml", "--auto-approve"],
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, _) = moat(
        dir.path(),
        &url,
        &["plan", "minimal.yaml", "--detailed-exitcode"],
    );
    assert_eq!(code, 0, "{out}");

    // Another stack's resource is never adopted.
    let other = format!("/subscriptions/{SUB}/resourceGroups/other-rg");
    put(
        other.clone(),
        json!({ "location": "westeurope", "tags": { "moat-stack": "someone-else" } }),
    );
    let text = std::fs::read_to_string(&spec)
        .expect("read")
        .replace("name: minimal-rg", "name: other-rg");
    std::fs::write(
        dir.path().join("other.yaml"),
        text.replace("stack: minimal", "stack: third"),
    )
    .expect("write");
    let (code, _, err) = moat(dir.path(), &url, &["import", "other.yaml", "rg", &other]);
    assert_eq!(code, 1);
    assert!(err.contains("belongs to stack `someone-else`"), "{err}");

    rt.block_on(sim.shutdown());
}
