//! Plan → apply → plan against the local emulator, at the engine level (ArmClient + moat-sim +
//! a local state directory): every example must plan "No changes" right after its apply, and
//! the traffic of its apply and destroy must satisfy the real Azure API definitions
//! (`shared/arm/validate-traffic`). Also counts the ARM requests a plan costs.
//!
//! `UPDATE_SCENARIOS=1` also writes the live bodies and state record of the secure example
//! after apply into `tests/scenarios/no-op/`, the emulator's answers the golden no-op and
//! drift scenarios start from.

#[path = "scenarios/support.rs"]
mod support;

use moat_arm::{Arm, ArmClient, ClientConfig, Endpoint, WriteRequest};
use moat_engine::live::LiveState;
use moat_engine::render;
use moat_model::Model;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use support::{Stack, example, model_from};

/// Emulated provisioning times × this: the AKS cluster takes a fraction of a second.
const TIME_SCALE: f64 = 0.001;

struct Env {
    sim: moat_sim::SimHandle,
    client: Arc<ArmClient>,
}

async fn env(record: Option<&Path>) -> Env {
    moat_arm::install_crypto_provider();
    let config = moat_sim::SimConfig {
        time_scale: TIME_SCALE,
        record_dir: record.map(Path::to_path_buf),
        ..moat_sim::SimConfig::default()
    };
    let sim = moat_sim::start("127.0.0.1:0".parse().unwrap(), config)
        .await
        .expect("sim starts");
    let endpoint = Endpoint::parse(&sim.url()).expect("endpoint");
    let client = ArmClient::new(ClientConfig::for_endpoint(endpoint))
        .await
        .expect("client");
    Env {
        sim,
        client: Arc::new(client),
    }
}

/// What `shared-vnet-training.yaml` reads as `existing:`: the hub team's network.
async fn seed_hub(client: &ArmClient, model: &Model) {
    let hub = &model.get("hub-vnet").expect("hub-vnet").id;
    let rg = hub.split("/providers/").next().unwrap().to_string();
    let writes = [
        WriteRequest::put(&rg, "2024-07-01", json!({ "location": "westeurope" })),
        WriteRequest::put(
            hub,
            "2024-03-01",
            json!({ "location": "westeurope", "properties": {
                "addressSpace": { "addressPrefixes": ["10.20.0.0/16"] },
                "subnets": [
                    { "name": "ml-training", "properties": { "addressPrefix": "10.20.1.0/24",
                      "serviceEndpoints": [ { "service": "Microsoft.Storage" }, { "service": "Microsoft.KeyVault" } ] } },
                    { "name": "ml-inference", "properties": { "addressPrefix": "10.20.16.0/20",
                      "serviceEndpoints": [ { "service": "Microsoft.Storage" } ] } }
                ] } }),
        ),
    ];
    for w in writes {
        let started = client.begin(w).await.expect("seed write");
        client.wait(&started.operation).await.expect("seed done");
    }
}

/// Failures of the API definitions, not of moat: a GET of an absent resource answered 404.
/// ARM's gateway answers 404 `ResourceNotFound` for any absent resource whatever the
/// provider's definition lists (BEHAVIOR.md §3.1.6, §3.2: 287 such answers recorded, and
/// azure-cli storage/test_storage_account_show_exit_codes.yaml #1 for a storage account), but
/// storage.json 2023-05-01 and containerregistry.json 2023-07-01 list only `200` for their GET.
/// Every plan of a resource that does not exist yet reads it, so moat cannot avoid these.
const SPEC_GAP: &str =
    "response INVALID_RESPONSE_CODE: The swagger file does not define '404' response code";

/// The same gap the other way round: privateEndpoint.json (2024-03-01) answers errors with
/// Network's flat `Error` (`{code, message}`), while ARM's 404 for an absent endpoint is the
/// usual `{"error": {…}}` (BEHAVIOR.md §3.1).
const WRAPPED_404: &str = "PrivateEndpoints_Get response OBJECT_ADDITIONAL_PROPERTIES: Additional properties not allowed: error at $.error";

/// Runs `validate-traffic` on `dir`: (operations checked, failures that are moat's, output).
/// `None` without the ARM oracle kit or Node.js (the check is then skipped in one line, or
/// fails under `CI=true`).
fn validate_traffic(dir: &Path) -> Option<(usize, usize, String)> {
    let kit = moat_testkit::kit_with_node("moat-engine/plan_sim")?;
    let out = kit
        .validate_traffic()
        .arg(dir)
        .output()
        .expect("validate-traffic runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.contains("operations checked"))
        .unwrap_or_else(|| panic!("no summary from validate-traffic:\n{stdout}\n{stderr}"))
        .to_string();
    let nums: Vec<usize> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|s| s.parse().ok())
        .collect();
    // A FAIL block is the `FAIL` line and the indented lines under it.
    let mut blocks: Vec<Vec<&str>> = Vec::new();
    for l in stdout.lines() {
        if l.starts_with("FAIL") {
            blocks.push(vec![l]);
        } else if l.starts_with(' ')
            && let Some(b) = blocks.last_mut()
        {
            b.push(l.trim());
        }
    }
    let gaps = blocks
        .iter()
        .filter(|b| {
            b[0].contains("-GET-")
                && b.len() > 1
                && b[1..]
                    .iter()
                    .all(|m| m.ends_with(SPEC_GAP) || *m == WRAPPED_404)
        })
        .count();
    // Private DNS link URLs (`…/privateDnsZones/{zone}/virtualNetworkLinks/{name}`) also match
    // the definition's record-set paths (`…/{recordType}/{name}`): oav finds several
    // operations and checks none (shared/arm/README.md, "Known failures"). They are listed
    // here, not hidden.
    let links: Vec<&str> = blocks
        .iter()
        .filter(|b| {
            b[0].contains("no operation in the specs matches")
                && b[0].to_ascii_lowercase().contains("/virtualnetworklinks")
        })
        .map(|b| b[0])
        .collect();
    for l in &links {
        println!("known, not checkable by oav: {l}");
    }
    println!(
        "{line} ({gaps} of them a GET answered 404, which the API definition omits; {} private DNS link requests oav cannot match)",
        links.len()
    );
    Some((nums[0], nums[1] - gaps - links.len(), stdout))
}

/// plan → apply → plan (no changes) → destroy → apply again (vaults recovered) → plan (no
/// changes), recorded.
async fn round_trip(name: &str) {
    let model = model_from(&example(name));
    let traffic = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let e = env(Some(traffic.path())).await;
    if model.get("hub-vnet").is_some() {
        seed_hub(&e.client, &model).await;
    }
    let stack = Stack::new(state.path(), &model.stack.value);
    let arm: Arc<dyn Arm> = e.client.clone();

    let (plan, _) = stack.plan(arm.as_ref(), &model, false).await.expect("plan");
    assert!(plan.summary.add > 0);
    let (report, record) = stack.apply(arm.clone(), &plan, 0).await;
    assert!(report.is_success(), "{name}: {:#?}", report.outcomes);
    assert!(record.journal.is_empty());

    let (again, live) = stack.plan(arm.as_ref(), &model, false).await.expect("plan");
    let text = render::text(&again, render::TextOptions::default());
    assert!(
        again.is_empty(),
        "{name}: a second plan is not empty:\n{text}"
    );
    assert_eq!(text, "No changes. Your infrastructure matches the spec.\n");
    if name == "secure-ml-workspace.yaml" && std::env::var_os("UPDATE_SCENARIOS").is_some() {
        capture(&model, &live, &stack.record(&model.stack.value).await);
    }

    let (destroy, _) = stack
        .plan(arm.as_ref(), &model, true)
        .await
        .expect("destroy plan");
    assert_eq!(destroy.summary.destroy, record.resources.len());
    let (report, record) = stack.apply(arm.clone(), &destroy, 0).await;
    assert!(report.is_success(), "{name}: {:#?}", report.outcomes);
    assert!(record.resources.is_empty(), "{:?}", record.resources.keys());
    let left: Vec<String> = e
        .sim
        .resources()
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::to_string))
        .filter(|id| !id.contains("/network-rg"))
        .collect();
    assert!(left.is_empty(), "{name}: left behind {left:?}");
    let (after, _) = stack.plan(arm.as_ref(), &model, false).await.expect("plan");
    assert_eq!(after.summary.add, plan.summary.add);
    // A destroyed key vault is soft-deleted: the next apply recovers it.
    for r in after
        .resources
        .iter()
        .filter(|r| r.kind == moat_model::Kind::KeyVault)
    {
        assert!(
            r.reasons.iter().any(|x| x.contains("soft-deleted")),
            "{:?}",
            r.reasons
        );
    }
    // Applying again (the vault recovered) converges in one apply.
    let (report, _) = stack.apply(arm.clone(), &after, 0).await;
    assert!(report.is_success(), "{name}: {:#?}", report.outcomes);
    let (last, _) = stack.plan(arm.as_ref(), &model, false).await.expect("plan");
    let text = render::text(&last, render::TextOptions::default());
    assert!(
        last.is_empty(),
        "{name}: not converged after recreate:\n{text}"
    );
    e.sim.shutdown().await;

    let Some((checked, failed, out)) = validate_traffic(traffic.path()) else {
        return;
    };
    println!("{name}: {checked} operations checked, {failed} failed (not counting spec gaps)");
    assert!(checked > 0);
    assert_eq!(
        failed, 0,
        "{name}: traffic does not match the API definitions:\n{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secure_ml_workspace_round_trip() {
    round_trip("secure-ml-workspace.yaml").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_workspace_round_trip() {
    round_trip("private-workspace.yaml").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn managed_network_workspace_round_trip() {
    round_trip("managed-network-workspace.yaml").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minimal_round_trip() {
    round_trip("minimal.yaml").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_vnet_training_round_trip() {
    round_trip("shared-vnet-training.yaml").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rbac_vault_and_registry_round_trip() {
    round_trip("rbac-vault-and-registry.yaml").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_subnet_in_hub_round_trip() {
    round_trip("team-subnet-in-hub.yaml").await;
}

/// Requests one plan of the secure example sends: one GET per resource (a VNet's subnets come
/// with it) — except that two or more of a kind whose list view is complete in one resource
/// group are one list — plus, on an empty cloud, one look for a soft-deleted vault holding
/// the name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_request_counts() {
    let model = model_from(&example("secure-ml-workspace.yaml"));
    let state = tempfile::tempdir().unwrap();
    let e = env(None).await;
    let stack = Stack::new(state.path(), &model.stack.value);
    let arm: Arc<dyn Arm> = e.client.clone();
    let mut scopes: std::collections::BTreeMap<(String, moat_model::Kind), u64> =
        Default::default();
    for r in model
        .resources
        .iter()
        .filter(|r| r.kind != moat_model::Kind::Subnet)
    {
        let scope = if r.kind.def().list_view_complete {
            let id = r.id.to_ascii_lowercase();
            id.split("/providers/")
                .next()
                .unwrap_or_default()
                .to_string()
        } else {
            r.id.to_ascii_lowercase()
        };
        *scopes.entry((scope, r.kind)).or_default() += 1;
    }
    let listed = scopes.values().filter(|n| **n >= 2).count();
    assert!(listed >= 1, "the secure example has two NSGs in one group");
    let top_level: u64 = scopes.values().map(|n| if *n >= 2 { 1 } else { *n }).sum();

    let sent = e.client.stats().requests_sent;
    let (plan, live) = stack.plan(arm.as_ref(), &model, false).await.expect("plan");
    let empty = e.client.stats().requests_sent - sent;
    let (report, _) = stack.apply(arm.clone(), &plan, 0).await;
    assert!(report.is_success());
    let sent = e.client.stats().requests_sent;
    let (again, live_after) = stack.plan(arm.as_ref(), &model, false).await.expect("plan");
    let applied = e.client.stats().requests_sent - sent;
    assert!(again.is_empty());
    println!(
        "plan of secure-ml-workspace.yaml ({} resources, {top_level} top-level): {empty} ARM requests on an empty emulator, {applied} after apply",
        model.resources.len()
    );
    assert_eq!(empty, top_level + 1);
    assert_eq!(live.requests as u64, empty);
    assert_eq!(applied, top_level);
    assert_eq!(live_after.requests as u64, applied);
    e.sim.shutdown().await;
}

fn scenario_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/scenarios")
        .join(name)
}

/// Writes the emulator's bodies (top-level resources only: subnets come inside their VNet)
/// and the state record, with the volatile fields fixed, as the no-op scenario's input.
fn capture(
    model: &Model,
    live: &moat_engine::live::Live,
    record: &moat_engine::state::StateRecord,
) {
    let mut bodies = serde_json::Map::new();
    for r in model
        .resources
        .iter()
        .filter(|r| r.kind != moat_model::Kind::Subnet)
    {
        if let Some(LiveState::Present(b)) = live.resources.get(&r.key) {
            bodies.insert(r.key.clone(), b.clone());
        }
    }
    let mut record = record.clone();
    record.lineage = "00000000-0000-4000-8000-000000000000".into();
    for rs in record.resources.values_mut() {
        rs.updated_at = "2025-01-01T00:00:00Z".into();
    }
    let dir = scenario_dir("no-op");
    std::fs::create_dir_all(&dir).unwrap();
    let mut text = serde_json::to_string_pretty(&Value::Object(bodies)).unwrap();
    text.push('\n');
    std::fs::write(dir.join("live.json"), text).unwrap();
    std::fs::write(dir.join("state.json"), record.to_json()).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inference_rollout_round_trip() {
    round_trip("inference-rollout.yaml").await;
}

/// The recorded exchanges of `dir` from sequence number `from` on, as `METHOD-last-segment`.
fn recorded(dir: &Path, from: usize) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
        .into_iter()
        .skip(from)
        .map(|n| {
            n.trim_end_matches(".json")
                .split_once('-')
                .map_or("", |x| x.1)
                .to_string()
        })
        .collect()
}

/// The controlled rollout: 90/10 converges; 50/50 is one write of the endpoint; removing
/// `green` moves its traffic before deleting it, in that order on the wire.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inference_rollout_moves_traffic_before_deleting() {
    let text = std::fs::read_to_string(example("inference-rollout.yaml")).unwrap();
    let traffic = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let e = env(Some(traffic.path())).await;
    let arm: Arc<dyn Arm> = e.client.clone();
    let model = support::model_of("inference-rollout.yaml", &text);
    let stack = Stack::new(state.path(), &model.stack.value);
    let (plan, _) = stack.plan(arm.as_ref(), &model, false).await.expect("plan");
    // The cluster's Azure ML extension: typed settings spelled as the extension reads them,
    // installed before the cluster is attached.
    let ext = plan
        .resources
        .iter()
        .find(|r| r.key == "aks/ml_extension")
        .expect("the extension is planned");
    let body = ext.request.as_ref().and_then(|q| q.body.clone()).unwrap();
    assert_eq!(
        body["properties"]["configurationSettings"],
        serde_json::json!({"enableTraining": "False", "enableInference": "True",
            "inferenceRouterServiceType": "LoadBalancer", "internalLoadBalancerProvider": "azure",
            "inferenceRouterHA": "False", "allowInsecureConnections": "True"})
    );
    assert_eq!(
        body["properties"]["extensionType"],
        "microsoft.azureml.kubernetes"
    );
    assert!(ext.id.ends_with(
        "/managedClusters/aks/providers/Microsoft.KubernetesConfiguration/extensions/azureml"
    ));
    let k8s = plan.resources.iter().find(|r| r.key == "k8s").unwrap();
    assert!(
        k8s.depends_on.iter().any(|d| d == "aks/ml_extension"),
        "{:?}",
        k8s.depends_on
    );
    let (report, _) = stack.apply(arm.clone(), &plan, 0).await;
    assert!(report.is_success(), "{:#?}", report.outcomes);
    let wire = recorded(traffic.path(), 0);
    let ext_put = wire
        .iter()
        .position(|x| x == "PUT-azureml")
        .expect("extension PUT");
    let attach = wire
        .iter()
        .position(|x| x == "PUT-k8s")
        .expect("compute PUT");
    assert!(ext_put < attach, "{wire:?}");

    // A create-only change of `blue`, which carries 90 % of the traffic: refused at plan time,
    // at the changed field, before anything is sent.
    let script = |spec: &str| {
        let at = spec.find("  blue:").expect("blue");
        let mut out = spec.to_string();
        out.replace_range(
            at..,
            &spec[at..].replacen("scoring_script: score.py", "scoring_script: score2.py", 1),
        );
        out
    };
    let refusal = async |spec: &str| {
        let model = support::model_of("inference-rollout.yaml", spec);
        let (_, live) = stack.plan(arm.as_ref(), &model, false).await.expect("plan");
        let bodies: std::collections::BTreeMap<String, Value> = live
            .resources
            .iter()
            .filter_map(|(k, v)| v.body().map(|b| (k.clone(), b.clone())))
            .collect();
        moat_model::kinds::check_live(&model, &bodies)
    };
    let edited = script(&text);
    let diags = refusal(&edited).await;
    assert_eq!(diags.len(), 1, "{diags:?}");
    let d = &diags[0];
    assert!(d.is_error() && d.message.contains("carries 90%"), "{d:?}");
    let at = edited.find("score2.py").unwrap();
    assert!(
        d.primary.span.start as usize <= at && at < d.primary.span.end as usize,
        "located at `code:`: {d:?}"
    );
    assert!(
        d.hint
            .as_deref()
            .is_some_and(|h| h.contains("move its traffic")),
        "{d:?}"
    );
    assert!(refusal(&text).await.is_empty());

    let fifty = text.replace(
        "traffic: { blue: 90, green: 10 }",
        "traffic: { blue: 50, green: 50 }",
    );
    assert_ne!(fifty, text);
    let model = support::model_of("inference-rollout.yaml", &fifty);
    let (plan, _) = stack.plan(arm.as_ref(), &model, false).await.expect("plan");
    let writes: Vec<&str> = plan
        .resources
        .iter()
        .filter(|r| r.action.writes())
        .map(|r| r.key.as_str())
        .collect();
    let shown = render::text(&plan, render::TextOptions::default());
    assert_eq!(writes, ["scoring/traffic"], "{shown}");
    // Traffic before → after, per deployment.
    for line in [
        "properties.traffic.blue: 90 → 50",
        "properties.traffic.green: 10 → 50",
    ] {
        assert!(shown.contains(line), "{line} not in:\n{shown}");
    }
    let (report, _) = stack.apply(arm.clone(), &plan, 0).await;
    assert!(report.is_success(), "{:#?}", report.outcomes);

    let cut = fifty.replace("traffic: { blue: 50, green: 50 }", "traffic: { blue: 100 }");
    let cut = cut[..cut.find("  green:").expect("green")].to_string();
    let model = support::model_of("inference-rollout.yaml", &cut);
    let (plan, _) = stack.plan(arm.as_ref(), &model, false).await.expect("plan");
    let shown = render::text(&plan, render::TextOptions::default());
    for line in [
        "properties.traffic.blue: 50 → 100",
        "- properties.traffic.green = 50",
    ] {
        assert!(shown.contains(line), "{line} not in:\n{shown}");
    }
    let before = recorded(traffic.path(), 0).len();
    let (report, _) = stack.apply(arm.clone(), &plan, 0).await;
    assert!(report.is_success(), "{:#?}", report.outcomes);
    let wire = recorded(traffic.path(), before);
    let put = wire
        .iter()
        .position(|x| x == "PUT-scoring")
        .expect("traffic PUT");
    let del = wire
        .iter()
        .position(|x| x == "DELETE-green")
        .expect("green DELETE");
    assert!(put < del, "{wire:?}");
    let (last, _) = stack.plan(arm.as_ref(), &model, false).await.expect("plan");
    assert!(
        last.is_empty(),
        "{}",
        render::text(&last, render::TextOptions::default())
    );
    // Now `blue` is the only deployment with traffic: its replacement is refused with the
    // hint to roll out a second deployment.
    let diags = refusal(&script(&cut)).await;
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert!(
        diags[0].message.contains("only deployment that carries"),
        "{:?}",
        diags[0]
    );
    assert!(
        diags[0]
            .hint
            .as_deref()
            .is_some_and(|h| h.contains("second deployment")),
        "{:?}",
        diags[0]
    );
    e.sim.shutdown().await;
}

/// The v1 AKS compute of an attached cluster: its load balancer changes in place (a PUT of
/// the compute, as Azure ML updates an attached cluster), and leaving the spec detaches it:
/// the cluster, which `aks` owns, stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attached_aks_compute_updates_its_load_balancer_and_detaches() {
    let text = std::fs::read_to_string(example("secure-ml-workspace.yaml")).unwrap();
    let state = tempfile::tempdir().unwrap();
    let e = env(None).await;
    let arm: Arc<dyn Arm> = e.client.clone();
    let model = support::model_of("secure-ml-workspace.yaml", &text);
    let stack = Stack::new(state.path(), &model.stack.value);
    let (plan, _) = stack.plan(arm.as_ref(), &model, false).await.expect("plan");
    let (report, _) = stack.apply(arm.clone(), &plan, 0).await;
    assert!(report.is_success(), "{:#?}", report.outcomes);

    let internal = text.replace(
        "    cluster_purpose: fast_prod\n",
        "    cluster_purpose: fast_prod\n    load_balancer_type: internal_load_balancer\n    load_balancer_subnet: aks\n",
    );
    assert_ne!(internal, text);
    let model = support::model_of("secure-ml-workspace.yaml", &internal);
    let (plan, _) = stack.plan(arm.as_ref(), &model, false).await.expect("plan");
    let shown = render::text(&plan, render::TextOptions::default());
    let writes: Vec<(&str, moat_engine::plan::Action)> = plan
        .resources
        .iter()
        .filter(|r| r.action.writes())
        .map(|r| (r.key.as_str(), r.action))
        .collect();
    assert_eq!(
        writes,
        [("inference", moat_engine::plan::Action::Update)],
        "{shown}"
    );
    let inference = plan
        .resources
        .iter()
        .find(|r| r.key == "inference")
        .unwrap();
    let body = inference
        .request
        .as_ref()
        .and_then(|q| q.body.clone())
        .unwrap();
    assert_eq!(
        body["properties"]["properties"]["loadBalancerType"],
        "InternalLoadBalancer"
    );
    assert_eq!(
        body["properties"]["properties"]["loadBalancerSubnet"],
        "aks"
    );
    let (report, _) = stack.apply(arm.clone(), &plan, 0).await;
    assert!(report.is_success(), "{:#?}", report.outcomes);
    let (again, _) = stack.plan(arm.as_ref(), &model, false).await.expect("plan");
    assert!(
        again.is_empty(),
        "{}",
        render::text(&again, render::TextOptions::default())
    );

    // Out of the spec: detached, and the cluster is still there.
    let start = internal.find("  inference:").expect("inference");
    let gone = internal[..start].to_string();
    let model = support::model_of("secure-ml-workspace.yaml", &gone);
    let (plan, _) = stack.plan(arm.as_ref(), &model, false).await.expect("plan");
    let del = plan
        .resources
        .iter()
        .find(|r| r.key == "inference")
        .unwrap();
    assert_eq!(del.action, moat_engine::plan::Action::Delete);
    assert_eq!(
        del.request.as_ref().unwrap().query,
        [("underlyingResourceAction".to_string(), "Detach".to_string())]
    );
    let (report, _) = stack.apply(arm.clone(), &plan, 0).await;
    assert!(report.is_success(), "{:#?}", report.outcomes);
    let aks = &model.get("aks").unwrap().id;
    let got = arm.get(aks, "2024-08-01").await.expect("read");
    assert!(
        got.is_some(),
        "the attached cluster was deleted with its compute"
    );
    let (last, _) = stack.plan(arm.as_ref(), &model, false).await.expect("plan");
    assert!(
        last.is_empty(),
        "{}",
        render::text(&last, render::TextOptions::default())
    );
    e.sim.shutdown().await;
}

/// A VNet update with a new subnet is one PUT carrying every subnet, and a subnet another
/// stack added to the network since the first apply is carried through, not deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vnet_update_carries_its_subnets_and_keeps_one_another_stack_added() {
    let text = std::fs::read_to_string(example("minimal.yaml")).unwrap();
    let model = support::model_of("minimal.yaml", &text);
    let state = tempfile::tempdir().unwrap();
    let e = env(None).await;
    let stack = Stack::new(state.path(), &model.stack.value);
    let arm: Arc<dyn Arm> = e.client.clone();
    let (plan, _) = stack.plan(arm.as_ref(), &model, false).await.expect("plan");
    let (report, _) = stack.apply(arm.clone(), &plan, 0).await;
    assert!(report.is_success(), "{:?}", report.outcomes);
    let vnet = model.get("vnet").unwrap().id.clone();
    let foreign = format!("{vnet}/subnets/foreign");
    let started = e
        .client
        .begin(WriteRequest::put(
            &foreign,
            "2024-03-01",
            json!({ "properties": { "addressPrefix": "10.10.200.0/24" } }),
        ))
        .await
        .expect("out-of-band subnet");
    e.client.wait(&started.operation).await.expect("done");

    let edited = text
        .replace("[10.10.0.0/16]", "[10.10.0.0/16, 10.11.0.0/16]")
        .replace(
            "      default: { address_prefix: 10.10.0.0/24 }",
            "      default: { address_prefix: 10.10.0.0/24 }\n      more: { address_prefix: 10.11.1.0/24 }",
        );
    let model = support::model_of("minimal.yaml", &edited);
    let (plan, _) = stack.plan(arm.as_ref(), &model, false).await.expect("plan");
    let todo: Vec<(&str, moat_engine::plan::Action)> = plan
        .resources
        .iter()
        .filter(|r| r.action.writes())
        .map(|r| (r.key.as_str(), r.action))
        .collect();
    assert_eq!(
        todo,
        [
            ("vnet", moat_engine::plan::Action::Update),
            ("vnet/more", moat_engine::plan::Action::Create)
        ],
        "the plan still lists the subnet on its own"
    );
    let puts = |s: &moat_sim::SimHandle| s.stats().requests.get("PUT").copied().unwrap_or(0);
    let before = puts(&e.sim);
    let (report, _) = stack.apply(arm.clone(), &plan, 0).await;
    assert!(report.is_success(), "{:?}", report.outcomes);
    assert_eq!(
        puts(&e.sim) - before,
        1,
        "one PUT: the VNet with its subnets"
    );
    for id in [
        foreign.clone(),
        format!("{vnet}/subnets/more"),
        format!("{vnet}/subnets/default"),
    ] {
        assert!(
            e.client.get(&id, "2024-03-01").await.unwrap().is_some(),
            "{id} is gone"
        );
    }
    let (again, _) = stack.plan(arm.as_ref(), &model, false).await.expect("plan");
    assert!(
        again.is_empty(),
        "{}",
        render::text(&again, Default::default())
    );
    e.sim.shutdown().await;
}
