//! The apply walker against the scripted fake: dependency order, parallelism within the caps
//! and lock groups, and what a failure does — its dependents are skipped, independent branches
//! finish, and the state record holds exactly what succeeded.

#[path = "scenarios/support.rs"]
mod support;

use moat_arm::Method;
use moat_engine::apply::ResourceOutcome;
use moat_engine::fake::{Call, FakeArm};
use moat_engine::plan::{Action, Plan};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use support::{Stack, example, model_from};

fn outcomes(report: &moat_engine::apply::ApplyReport) -> BTreeMap<String, ResourceOutcome> {
    report
        .outcomes
        .iter()
        .map(|(k, _, o)| (k.clone(), o.clone()))
        .collect()
}

/// The finished write of each resource key (last one wins), by the plan's ids.
fn writes_by_key(plan: &Plan, calls: &[Call]) -> BTreeMap<String, Call> {
    let mut out = BTreeMap::new();
    for r in &plan.resources {
        if let Some(c) = calls
            .iter()
            .rev()
            .find(|c| c.method != Method::Get && c.id.eq_ignore_ascii_case(&r.id))
        {
            out.insert(r.key.clone(), c.clone());
        }
    }
    out
}

/// Every write started after the writes of everything it comes after (`depends_on`) finished.
fn assert_dependency_order(plan: &Plan, calls: &[Call]) {
    let writes = writes_by_key(plan, calls);
    for r in plan.resources.iter().filter(|r| r.action.writes()) {
        let Some(mine) = writes.get(&r.key) else {
            continue;
        };
        for d in &r.depends_on {
            let Some(dep) = writes.get(d) else { continue };
            // For a delete, `depends_on` already lists what must be deleted first.
            let (first, then) = (dep, mine);
            let done = first.finished.expect("finished");
            assert!(
                done <= then.at,
                "{} started at {:?} before {} finished at {done:?}",
                then.id,
                then.at,
                first.id
            );
        }
    }
}

#[tokio::test]
async fn a_failed_branch_skips_its_dependents_and_the_rest_completes() {
    let model = model_from(&example("secure-ml-workspace.yaml"));
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::new(dir.path(), &model.stack.value);
    let fake = Arc::new(FakeArm::new().with_delay(Duration::from_millis(20)));
    let store_id = model.get("store").unwrap().id.clone();
    fake.fail_operation(
        Method::Put,
        &store_id,
        "StorageAccountAlreadyTaken",
        "The storage account named mlsecstore is already taken.",
    );
    let (plan, _) = stack.plan(fake.as_ref(), &model, false).await.unwrap();
    assert_eq!(plan.summary.add, plan.resources.len());
    let (report, record) = stack.apply(fake.clone(), &plan, 0).await;
    assert!(!report.is_success());
    let got = outcomes(&report);

    // The failure is reported once, on the resource that failed, with ARM's words.
    match &got["store"] {
        ResourceOutcome::Failed(e) => {
            assert_eq!(
                e.arm().and_then(|a| a.code()),
                Some("StorageAccountAlreadyTaken"),
                "{e}"
            );
        }
        other => panic!("store: {other:?}"),
    }
    // Everything downstream of the storage account is skipped, naming the cause.
    for key in ["ws", "cpu-cluster", "inference"] {
        match &got[key] {
            ResourceOutcome::Skipped(because) => {
                assert!(because.contains("store"), "{key}: {because}")
            }
            other => panic!("{key}: {other:?}"),
        }
    }
    // The independent branches finish: network, vault, insights, the AKS cluster.
    let done: Vec<&str> = got
        .iter()
        .filter(|(_, o)| matches!(o, ResourceOutcome::Done { .. }))
        .map(|(k, _)| k.as_str())
        .collect();
    assert_eq!(
        done,
        [
            "aks",
            "aks-nsg",
            "egress",
            "insights",
            "rg",
            "training-nsg",
            "vault",
            "vnet",
            "vnet/aks",
            "vnet/training"
        ]
    );
    // No write was even attempted for a skipped resource.
    for key in ["ws", "cpu-cluster", "inference"] {
        let id = &model.get(key).unwrap().id;
        assert!(
            !fake.writes().iter().any(|w| w.ends_with(id.as_str())),
            "{key} was written"
        );
    }
    // The record owns exactly what succeeded, with nothing left in the journal.
    let owned: Vec<&str> = record.resources.keys().map(String::as_str).collect();
    assert_eq!(owned, done);
    assert!(record.journal.is_empty(), "{:?}", record.journal);
    assert_dependency_order(&plan, &fake.calls());

    // The next plan creates only what is missing: store (again) and its dependents.
    let (next, _) = stack.plan(fake.as_ref(), &model, false).await.unwrap();
    let todo: Vec<(&str, Action)> = next
        .resources
        .iter()
        .filter(|r| r.action != Action::NoOp)
        .map(|r| (r.key.as_str(), r.action))
        .collect();
    // The failed PUT left a `Failed` account behind, tagged as ours: it is written again.
    assert!(todo.contains(&("store", Action::Update)), "{todo:?}");
    let store = next.get("store").unwrap();
    assert!(store.reasons[0].contains("Failed"), "{:?}", store.reasons);
    assert!(todo.contains(&("ws", Action::Create)), "{todo:?}");
    assert!(todo.contains(&("cpu-cluster", Action::Create)), "{todo:?}");
    assert!(todo.contains(&("inference", Action::Create)), "{todo:?}");
    assert_eq!(todo.len(), 4, "{todo:?}");
}

#[tokio::test]
async fn writes_run_in_parallel_but_never_before_their_dependencies() {
    let model = model_from(&example("secure-ml-workspace.yaml"));
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::new(dir.path(), &model.stack.value);
    let fake = Arc::new(FakeArm::new().with_delay(Duration::from_millis(30)));
    let (plan, _) = stack.plan(fake.as_ref(), &model, false).await.unwrap();
    let (report, record) = stack.apply(fake.clone(), &plan, 0).await;
    assert!(report.is_success(), "{:?}", report.outcomes);
    assert_eq!(record.resources.len(), plan.resources.len());
    let calls = fake.calls();
    assert_dependency_order(&plan, &calls);
    // The three NSG/route-table/storage-level resources after the group run side by side.
    assert!(
        fake.max_in_flight() >= 3,
        "max in flight {}",
        fake.max_in_flight()
    );
    // The VNet is created with its subnets in one PUT (BEHAVIOR.md §5.1), after the NSG and
    // route table they point at; no subnet is written on its own.
    let writes = writes_by_key(&plan, &calls);
    assert!(!writes.contains_key("vnet/aks") && !writes.contains_key("vnet/training"));
    let vnet = &writes["vnet"];
    let names: Vec<&str> = vnet.body.as_ref().unwrap()["properties"]["subnets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["name"].as_str())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    for (key, r) in plan.resources.iter().map(|r| (&r.key, r)) {
        if key.starts_with("vnet/") {
            for d in r.depends_on.iter().filter(|d| *d != "vnet") {
                let dep = &writes[d.as_str()];
                assert!(
                    dep.finished.unwrap() <= vnet.at,
                    "{key} needs {d} before the VNet PUT"
                );
            }
        }
    }

    // A second plan finds nothing to do: the fake echoes what was sent.
    let (again, _) = stack.plan(fake.as_ref(), &model, false).await.unwrap();
    assert!(
        again.is_empty(),
        "{}",
        moat_engine::render::text(&again, Default::default())
    );
}

#[tokio::test]
async fn the_parallelism_cap_holds() {
    let model = model_from(&example("secure-ml-workspace.yaml"));
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::new(dir.path(), &model.stack.value);
    let fake = Arc::new(FakeArm::new().with_delay(Duration::from_millis(10)));
    let (plan, _) = stack.plan(fake.as_ref(), &model, false).await.unwrap();
    let (report, _) = stack.apply(fake.clone(), &plan, 2).await;
    assert!(report.is_success(), "{:?}", report.outcomes);
    assert!(
        fake.max_in_flight() <= 2,
        "max in flight {}",
        fake.max_in_flight()
    );
    assert!(fake.max_in_flight() == 2, "the cap was never reached");
}

#[tokio::test]
async fn destroy_deletes_dependents_first_and_a_failed_delete_keeps_what_it_needs() {
    let model = model_from(&example("secure-ml-workspace.yaml"));
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::new(dir.path(), &model.stack.value);
    let fake = Arc::new(FakeArm::new().with_delay(Duration::from_millis(5)));
    let (plan, _) = stack.plan(fake.as_ref(), &model, false).await.unwrap();
    let (report, _) = stack.apply(fake.clone(), &plan, 0).await;
    assert!(report.is_success());

    // The AKS cluster cannot be deleted: the subnet it sits in, the VNet and the group stay.
    let aks = model.get("aks").unwrap().id.clone();
    fake.refuse(
        Method::Delete,
        &aks,
        409,
        "OperationNotAllowed",
        "the cluster is locked",
    );
    let (destroy, _) = stack.plan(fake.as_ref(), &model, true).await.unwrap();
    assert!(destroy.destroy);
    assert_eq!(destroy.summary.destroy, plan.resources.len());
    let before = fake.calls().len();
    let (report, record) = stack.apply(fake.clone(), &destroy, 0).await;
    let got = outcomes(&report);
    assert!(
        matches!(got["aks"], ResourceOutcome::Failed(_)),
        "{:?}",
        got["aks"]
    );
    for key in ["vnet/aks", "vnet", "rg"] {
        assert!(
            matches!(&got[key], ResourceOutcome::Skipped(b) if b.contains("aks")),
            "{key}: {:?}",
            got[key]
        );
    }
    // The workspace branch (attached compute first) is gone.
    for key in [
        "inference",
        "cpu-cluster",
        "ws",
        "store",
        "vault",
        "insights",
    ] {
        assert!(
            matches!(got[key], ResourceOutcome::Done { .. }),
            "{key}: {:?}",
            got[key]
        );
        assert!(
            fake.resource(&model.get(key).unwrap().id).is_none(),
            "{key} still exists"
        );
    }
    let owned: Vec<&str> = record.resources.keys().map(String::as_str).collect();
    // vnet/training is removed with its VNet, which stays: the record keeps it.
    assert!(
        owned.contains(&"aks") && owned.contains(&"rg") && owned.contains(&"vnet"),
        "{owned:?}"
    );
    assert!(
        !owned.contains(&"ws") && !owned.contains(&"store"),
        "{owned:?}"
    );
    assert_dependency_order(&destroy, &fake.calls()[before..]);
    // The attached compute is detached: `Delete` would delete "the underlying compute" (the
    // definition's `underlyingResourceAction`), the cluster `aks` owns (issue 16).
    let inference = &model.get("inference").unwrap().id;
    let call = fake
        .calls()
        .into_iter()
        .find(|c| c.method == Method::Delete && &c.id == inference)
        .unwrap();
    assert_eq!(
        call.query,
        [("underlyingResourceAction".to_string(), "Detach".to_string())]
    );
}

/// Recovery after a crash follows every interrupted operation at once: they were all in flight
/// together, so none waits on another (issue 15: one at a time took 29 s against 21 s for the
/// whole apply). The notes keep the journal's order, and the journal is cleared.
#[tokio::test]
async fn journal_recovery_follows_the_interrupted_operations_together() {
    use moat_arm::{Arm, WriteRequest};
    use moat_engine::apply::{StateStore, resume_journal};
    use moat_engine::state::{JournalEntry, LocalBackend, StateBackend, StateRecord};

    let arm = FakeArm::new().with_delay(Duration::from_millis(50));
    let rg = "/subscriptions/s/resourceGroups/rg";
    arm.seed(rg, serde_json::json!({ "location": "eastus2" }));
    let mut record = StateRecord::new("s");
    for name in ["a", "b", "c"] {
        let id = format!("{rg}/providers/Microsoft.Network/routeTables/{name}");
        let started = arm
            .begin(WriteRequest {
                method: Method::Put,
                id: id.clone(),
                api_version: "2024-03-01".into(),
                body: Some(serde_json::json!({ "location": "eastus2" })),
                query: Vec::new(),
            })
            .await
            .unwrap();
        record.journal.push(JournalEntry {
            key: name.into(),
            id,
            kind: Some(moat_model::Kind::RouteTable),
            action: "create".into(),
            started_at: "2025-01-01T00:00:00Z".into(),
            operation: Some(serde_json::to_value(&started.operation).unwrap()),
        });
    }
    let dir = tempfile::tempdir().unwrap();
    let backend = Arc::new(LocalBackend::new(dir.path(), "s"));
    // A backend writes only a record its writer has read.
    assert_eq!(backend.read().await.unwrap(), None);
    let store = StateStore::new(backend, record);
    let notes = resume_journal(&arm, &store, None).await.unwrap();
    let keys: Vec<&str> = notes.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, ["a", "b", "c"]);
    assert!(
        notes
            .iter()
            .all(|(_, n)| n == "finished the interrupted create"),
        "{notes:?}"
    );
    assert_eq!(
        arm.max_in_flight(),
        3,
        "the operations were followed one at a time"
    );
    assert!(store.snapshot().await.journal.is_empty());
}

/// A subnet renamed with its range kept cannot be created beside the old one, which an AKS
/// cluster still uses: apply deletes the cluster's old self, then the old subnet, then
/// creates the new subnet, then the cluster again — and the state ends with the new keys only.
#[tokio::test]
async fn a_renamed_overlapping_subnet_follows_the_delete_of_the_old_one_and_its_users() {
    let path = example("secure-ml-workspace.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let model = support::model_of("secure-ml-workspace.yaml", &text);
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::new(dir.path(), &model.stack.value);
    let fake = Arc::new(FakeArm::new().with_delay(Duration::from_millis(5)));
    let (plan, _) = stack.plan(fake.as_ref(), &model, false).await.unwrap();
    assert!(stack.apply(fake.clone(), &plan, 0).await.0.is_success());

    let renamed = text
        .replacen("      aks:\n", "      inference:\n", 1)
        .replace("vnet/aks", "vnet/inference");
    let model2 = support::model_of("renamed.yaml", &renamed);
    let (plan, _) = stack.plan(fake.as_ref(), &model2, false).await.unwrap();
    let old_subnet = plan.get("vnet/aks").expect("the old subnet is deleted");
    assert!(old_subnet.action == Action::Delete && old_subnet.delete_first);
    assert_eq!(old_subnet.depends_on, ["aks"]);
    assert!(plan.get("aks").is_some_and(|a| a.delete_first));
    assert!(
        plan.get("vnet/inference")
            .is_some_and(|s| s.depends_on.contains(&"vnet/aks".to_string()))
    );
    let from = fake.calls().len();
    let (report, record) = stack.apply(fake.clone(), &plan, 0).await;
    assert!(report.is_success(), "{:?}", report.outcomes);
    let calls: Vec<Call> = fake.calls().split_off(from);
    let id = |k: &str| plan.get(k).unwrap().id.clone();
    let at = |m: Method, k: &str| {
        let id = id(k);
        calls
            .iter()
            .position(|c| c.method == m && c.id.eq_ignore_ascii_case(&id))
            .unwrap_or_else(|| panic!("no {m:?} of {k}"))
    };
    let done = |i: usize| calls[i].finished.expect("finished");
    let steps = [
        at(Method::Delete, "aks"),
        at(Method::Delete, "vnet/aks"),
        at(Method::Put, "vnet/inference"),
        at(Method::Put, "aks"),
    ];
    for w in steps.windows(2) {
        assert!(
            done(w[0]) <= calls[w[1]].at,
            "{:?} {} must finish before {:?} {} starts",
            calls[w[0]].method,
            calls[w[0]].id,
            calls[w[1]].method,
            calls[w[1]].id
        );
    }
    assert!(record.resources.contains_key("vnet/inference"));
    assert!(!record.resources.contains_key("vnet/aks"));
    assert_eq!(record.resources["aks"].id, id("aks"));
}
