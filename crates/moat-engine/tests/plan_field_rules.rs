//! The field-level update rules of the registry as the planner applies them (issue 12): an
//! AmlCompute's SSH public key is a managed, visible field whose rotation replaces the
//! cluster; a change Azure ML cannot make to a cluster it created is refused with a hint
//! instead of a replacement; deletes and replacements of kinds that hold data are marked in
//! every format; and `protect: true` catches the plans that would delete or replace.

#[path = "scenarios/support.rs"]
mod support;

use moat_engine::diff::PlanError;
use moat_engine::live::{Live, LiveState};
use moat_engine::plan::{Action, Plan};
use moat_engine::state::{ResourceState, StateRecord};
use moat_engine::{protect, render};
use moat_model::Model;
use serde_json::Value;
use support::{model_of, plan_of};

const KEY1: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILV3OIx6VuK9IkLdN/vzmggVNlFGjjU0rHfV8lQYz3Ny one";
const KEY2: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFoh13U1gvUXV+YRmWao1TpyrEz2zKoFZHqyPNXHp0AZ two";
const SSH_PATH: &str = "properties.properties.userAccountCredentials.adminUserSshPublicKey";

fn spec(key: &str, agents: u32, protect_store: bool) -> String {
    let protect = if protect_store {
        "\n    protect: true"
    } else {
        ""
    };
    format!(
        r#"stack: rules
location: eastus2
resources:
  rg: {{ type: resource_group, name: rules-rg }}
  store:
    type: storage_account
    resource_group: rg
    name: rulesstore{protect}
  vault: {{ type: key_vault, resource_group: rg, name: rules-vault }}
  insights: {{ type: application_insights, resource_group: rg }}
  ws:
    type: ml_workspace
    resource_group: rg
    name: rules-ws
    storage_account: store
    key_vault: vault
    application_insights: insights
  cpu:
    type: aml_compute
    workspace: ws
    vm_size: STANDARD_D2_V2
    max_nodes: 2
    ssh: {{ admin_username: azureuser, admin_public_key: "{key}" }}
  scoring:
    type: aks_compute
    workspace: ws
    create: {{ agent_count: {agents}, vm_size: Standard_D3_v2 }}
"#
    )
}

fn nothing_live() -> Live {
    Live {
        resources: Default::default(),
        soft_deleted: Default::default(),
        requests: 0,
    }
}

/// What a first apply of `model` leaves: live bodies (the PUT bodies, as the emulator keeps
/// them) and a state record owning each resource.
fn applied(model: &Model) -> (Live, StateRecord) {
    let plan = plan_of(model, &nothing_live(), &StateRecord::new("rules"), false).unwrap();
    let mut live = nothing_live();
    let mut state = StateRecord::new("rules");
    for r in &plan.resources {
        let body = r.request.as_ref().and_then(|q| q.body.clone()).unwrap();
        live.resources
            .insert(r.key.clone(), LiveState::Present(body));
        state.resources.insert(
            r.key.clone(),
            ResourceState {
                id: r.id.clone(),
                kind: r.kind,
                api_version: r.api_version.clone(),
                applied: serde_json::to_value(r.applied.clone().unwrap()).unwrap(),
                etag: None,
                updated_at: "2026-12-01T00:00:00Z".into(),
                depends_on: r.depends_on.clone(),
                outputs: Default::default(),
            },
        );
    }
    (live, state)
}

fn remove_ssh_key(live: &mut Live) {
    let Some(LiveState::Present(b)) = live.resources.get_mut("cpu") else {
        panic!("cpu is live");
    };
    let creds = b
        .pointer_mut("/properties/properties/userAccountCredentials")
        .and_then(Value::as_object_mut)
        .unwrap();
    assert!(creds.remove("adminUserSshPublicKey").is_some());
}

#[test]
fn the_ssh_public_key_is_shown_in_the_create_plan() {
    let model = model_of("a.yaml", &spec(KEY1, 3, false));
    let plan = plan_of(&model, &nothing_live(), &StateRecord::new("rules"), false).unwrap();
    let cpu = plan.get("cpu").unwrap();
    let c = cpu.changes.iter().find(|c| c.path == SSH_PATH).unwrap();
    assert!(!c.sensitive);
    assert_eq!(c.new, Value::String(KEY1.into()));
    assert_eq!(
        cpu.applied.as_ref().unwrap()[SSH_PATH],
        Value::String(KEY1.into())
    );
    let text = render::text(&plan, Default::default());
    assert!(
        text.contains(KEY1) && !text.contains("(sensitive)"),
        "{text}"
    );
}

#[test]
fn rotating_the_ssh_key_replaces_the_cluster_and_says_why() {
    let (live, state) = applied(&model_of("a.yaml", &spec(KEY1, 3, false)));
    let same = plan_of(
        &model_of("a.yaml", &spec(KEY1, 3, false)),
        &live,
        &state,
        false,
    )
    .unwrap();
    assert!(same.is_empty(), "{:?}", same.summary);
    let plan = plan_of(
        &model_of("b.yaml", &spec(KEY2, 3, false)),
        &live,
        &state,
        false,
    )
    .unwrap();
    let cpu = plan.get("cpu").unwrap();
    assert_eq!(cpu.action, Action::Replace);
    let c = cpu.changes.iter().find(|c| c.path == SSH_PATH).unwrap();
    assert!(c.forces_replacement && !c.sensitive);
    assert_eq!(c.old, Value::String(KEY1.into()));
    // An AmlCompute holds no data: its replacement is not marked destructive.
    assert!(!cpu.destructive);
    assert_eq!(plan.summary.replace, 1, "{:?}", plan.summary);
}

#[test]
fn a_key_azure_does_not_return_compares_as_the_last_applied_one() {
    let (mut live, state) = applied(&model_of("a.yaml", &spec(KEY1, 3, false)));
    remove_ssh_key(&mut live);
    let same = plan_of(
        &model_of("a.yaml", &spec(KEY1, 3, false)),
        &live,
        &state,
        false,
    )
    .unwrap();
    assert!(same.is_empty(), "{:?}", same.summary);
    let rotated = plan_of(
        &model_of("b.yaml", &spec(KEY2, 3, false)),
        &live,
        &state,
        false,
    )
    .unwrap();
    assert_eq!(rotated.get("cpu").unwrap().action, Action::Replace);
    // A record from before the key was managed knows nothing of it: no change is invented.
    let mut old = state.clone();
    if let Some(m) = old
        .resources
        .get_mut("cpu")
        .and_then(|r| r.applied.as_object_mut())
    {
        m.remove(SSH_PATH);
    }
    let plan = plan_of(
        &model_of("a.yaml", &spec(KEY1, 3, false)),
        &live,
        &old,
        false,
    )
    .unwrap();
    assert!(plan.is_empty(), "{:?}", plan.summary);
}

#[test]
fn scaling_a_cluster_azure_ml_created_is_refused_with_a_hint() {
    let (live, state) = applied(&model_of("a.yaml", &spec(KEY1, 3, false)));
    let errors = plan_of(
        &model_of("b.yaml", &spec(KEY1, 5, false)),
        &live,
        &state,
        false,
    )
    .expect_err("Azure ML cannot scale it; a replacement would drop its services");
    assert_eq!(errors.len(), 1, "{errors:?}");
    let e = &errors[0];
    assert!(
        matches!(e, PlanError::NotInPlace { path, .. } if path.ends_with("agentCount")),
        "{e:?}"
    );
    assert_eq!(e.key(), "scoring");
    assert!(e.hint().unwrap().contains("az aks scale"), "{:?}", e.hint());
}

#[test]
fn deletes_of_kinds_that_hold_data_are_marked_in_every_format() {
    let model = model_of("a.yaml", &spec(KEY1, 3, false));
    let (live, state) = applied(&model);
    let plan = plan_of(&model, &live, &state, true).unwrap();
    let marked: Vec<&str> = plan
        .resources
        .iter()
        .filter(|r| r.destructive)
        .map(|r| r.key.as_str())
        .collect();
    for key in ["store", "vault", "ws", "scoring"] {
        assert!(marked.contains(&key), "{key} not marked: {marked:?}");
    }
    for key in ["rg", "insights", "cpu"] {
        assert!(!marked.contains(&key), "{key} marked: {marked:?}");
    }
    let text = render::text(&plan, Default::default());
    assert!(
        text.contains("! DESTRUCTIVE: deleting it loses its blobs"),
        "{text}"
    );
    let md = render::markdown(&plan);
    assert!(
        md.contains("> [!WARNING]") && md.contains("`store` (storage_account)"),
        "{md}"
    );
    let json: Plan = serde_json::from_str(&render::json(&plan)).unwrap();
    assert!(json.get("store").unwrap().destructive);
    let raw: Value = serde_json::from_str(&render::json(&plan)).unwrap();
    let rg = raw["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "rg")
        .unwrap();
    assert!(
        rg.get("destructive").is_none(),
        "only destructive entries carry the flag"
    );
}

#[test]
fn protect_catches_deletes_and_replacements_of_what_the_plan_keeps() {
    let model = model_of("a.yaml", &spec(KEY1, 3, true));
    let (live, state) = applied(&model);
    let mut plan = plan_of(&model, &live, &state, true).unwrap();
    let found = protect::violations(&plan, &model);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].key, "store");
    assert!(
        found[0].to_string().contains("would delete it"),
        "{}",
        found[0]
    );
    assert!(
        found[0].hint().contains("--exclude store"),
        "{}",
        found[0].hint()
    );
    // Narrowed to something else (a targeted destroy of `cpu`), nothing protected is touched.
    plan.resources.retain(|r| r.key == "cpu");
    assert!(protect::violations(&plan, &model).is_empty());
    // In-place updates of a protected resource are never refused.
    let plan = plan_of(&model, &live, &state, false).unwrap();
    assert!(protect::violations(&plan, &model).is_empty());
}
