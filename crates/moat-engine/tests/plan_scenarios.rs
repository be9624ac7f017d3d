//! Golden plan scenarios: one folder per scenario under `tests/scenarios/` with the spec
//! (`spec.yaml`), the live state ARM shows (`live.json`), optionally the state record
//! (`state.json`), and what the planner must make of them: the text plan (`plan.txt`), the
//! pull-request comment (`plan.md`) and the JSON plan (`plan.json`), or the errors that stop
//! the plan (`errors.txt`).
//!
//! `live.json` maps resource keys to what a GET returns: an ARM body (a VNet's body carries
//! its subnets, as in Azure), `"absent"` (404; also the default for a key not listed),
//! `{"unreadable": "message"}` (403; `"status"` and `"code"` give another failure, e.g. a 503
//! that outlasted the retries), or `"soft_deleted"` (a key vault whose name a deleted
//! vault holds). The live read goes through `moat_engine::live::read_live` over the scripted
//! fake, so the scenario exercises the read too.
//!
//! An optional `destroy.json` (`{"targets": [...], "excludes": [...]}`) makes it a destroy
//! plan narrowed like `moat destroy --target/--exclude`; an optional `replace.json` (a list of
//! keys) plans like `moat plan --replace KEY…`.
//!
//! `UPDATE_SCENARIOS=1 cargo test -p moat-engine --test plan_scenarios` rewrites the expected
//! files; review the diff by eye before keeping it.

#[path = "scenarios/support.rs"]
mod support;

use moat_arm::Method;
use moat_engine::diff::{
    DestroyScope, PlanError, PlanInput, plan_replacing, plan_replacing_early, plan_scoped,
};
use moat_engine::fake::FakeArm;
use moat_engine::live::{read_live, read_live_planning};
use moat_engine::plan::Plan;
use moat_engine::render;
use moat_engine::state::StateRecord;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use support::{model_from, plan_of};

/// The lineage of a scenario without a `state.json`, so that the plan JSON is stable.
const LINEAGE: &str = "00000000-0000-4000-8000-000000000000";

fn scenarios() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

/// Runs one scenario: (file name, expected-or-updated text) pairs.
async fn run(dir: &Path) -> Vec<(&'static str, String)> {
    let model = model_from(&dir.join("spec.yaml"));
    let record: StateRecord = match std::fs::read_to_string(dir.join("state.json")) {
        Ok(text) => serde_json::from_str(&text).expect("state.json is a state record"),
        Err(_) => {
            let mut r = StateRecord::new(&model.stack.value);
            r.lineage = LINEAGE.into();
            r
        }
    };
    let live: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("live.json")).expect("live.json"))
            .expect("live.json is JSON");
    let fake = FakeArm::new();
    for (key, state) in live.as_object().expect("live.json is an object") {
        let id = model
            .get(key)
            .map(|r| r.id.clone())
            .or_else(|| record.resources.get(key).map(|r| r.id.clone()))
            .unwrap_or_else(|| {
                panic!(
                    "{}: live key `{key}` is in neither spec nor state",
                    dir.display()
                )
            });
        match state {
            Value::String(s) if s == "absent" => {}
            Value::String(s) if s == "soft_deleted" => {
                let r = model.get(key).expect("a soft-deleted vault is in the spec");
                let sub = id.split('/').nth(2).unwrap();
                let loc = r.location.as_ref().map(|l| l.value.clone()).unwrap();
                let deleted = format!(
                    "/subscriptions/{sub}/providers/Microsoft.KeyVault/locations/{loc}/deletedVaults/{}",
                    r.name.value
                );
                fake.seed(
                    &deleted,
                    json!({ "name": r.name.value, "properties": { "vaultId": id, "location": loc } }),
                );
            }
            Value::Object(m) if m.contains_key("unreadable") => {
                let msg = m["unreadable"].as_str().unwrap_or_default();
                let status = m.get("status").and_then(Value::as_u64).unwrap_or(403) as u16;
                let code = m
                    .get("code")
                    .and_then(Value::as_str)
                    .unwrap_or("AuthorizationFailed");
                fake.refuse(Method::Get, &id, status, code, msg);
            }
            Value::Object(_) => fake.seed(&id, state.clone()),
            other => panic!("{}: live `{key}`: unexpected {other}", dir.display()),
        }
    }
    let live = read_live(&fake, &model, &record, 8)
        .await
        .expect("live read");
    let planned = match std::fs::read_to_string(dir.join("destroy.json")) {
        Ok(text) => {
            let v: Value = serde_json::from_str(&text).expect("destroy.json is JSON");
            let keys = |f: &str| -> Vec<String> {
                v[f].as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|k| k.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let scope = DestroyScope {
                targets: keys("targets"),
                excludes: keys("excludes"),
            };
            let ctx = support::ctx();
            let input = PlanInput {
                model: &model,
                live: &live,
                state: &record,
                ctx: &ctx,
                spec_hash: support::SPEC_HASH.to_string(),
                destroy: true,
            };
            plan_scoped(&input, &scope)
        }
        // `replace.json` (`["aks"]`): the keys of `moat plan --replace`.
        Err(_) => match std::fs::read_to_string(dir.join("replace.json")) {
            Ok(text) => {
                let keys: Vec<String> =
                    serde_json::from_str(&text).expect("replace.json is a list of keys");
                let ctx = support::ctx();
                let input = PlanInput {
                    model: &model,
                    live: &live,
                    state: &record,
                    ctx: &ctx,
                    spec_hash: support::SPEC_HASH.to_string(),
                    destroy: false,
                };
                plan_replacing(&input, &DestroyScope::default(), &keys)
            }
            Err(_) => plan_of(&model, &live, &record, false),
        },
    };
    if !dir.join("destroy.json").exists() {
        let replace: Vec<String> = std::fs::read_to_string(dir.join("replace.json"))
            .map(|t| serde_json::from_str(&t).expect("replace.json is a list of keys"))
            .unwrap_or_default();
        let (early, n) = planned_early(&fake, &model, &record, &replace).await;
        EARLY.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        assert_eq!(
            shown(&early),
            shown(&planned),
            "{}: planning as the reads land changed the plan",
            dir.display()
        );
    }
    match planned {
        Ok(mut plan) => {
            plan.moat_version = "0.0.0-test".into();
            let text = render::text(&plan, render::TextOptions::default());
            vec![
                ("plan.txt", text),
                ("plan.md", render::markdown(&plan)),
                ("plan.json", render::json(&plan)),
            ]
        }
        Err(errors) => {
            let text: String = errors.iter().map(|e| format!("error: {e}\n")).collect();
            vec![("errors.txt", text)]
        }
    }
}

/// The plan `moat plan` makes: each resource planned as its read lands
/// ([`read_live_planning`]), the rest once the read is over.
async fn planned_early(
    fake: &FakeArm,
    model: &moat_model::Model,
    record: &StateRecord,
    replace: &[String],
) -> (Result<Plan, Vec<PlanError>>, usize) {
    let ctx = support::ctx();
    let (live, early) = read_live_planning(fake, model, record, &ctx, 8, true, false)
        .await
        .expect("live read");
    let n = early.len();
    let input = PlanInput {
        model,
        live: &live,
        state: record,
        ctx: &ctx,
        spec_hash: support::SPEC_HASH.to_string(),
        destroy: false,
    };
    (
        plan_replacing_early(&input, &DestroyScope::default(), replace, early),
        n,
    )
}

/// Resources the scenarios planned early, all together.
static EARLY: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A plan or its errors, as JSON text, to compare two of them.
fn shown(planned: &Result<Plan, Vec<PlanError>>) -> String {
    match planned {
        Ok(p) => render::json(p),
        Err(errors) => errors.iter().map(|e| format!("{e}\n")).collect(),
    }
}

#[tokio::test]
async fn golden_plans() {
    let update = std::env::var_os("UPDATE_SCENARIOS").is_some();
    let mut failures = Vec::new();
    let dirs = scenarios();
    assert!(dirs.len() >= 13, "scenarios missing: {dirs:?}");
    for dir in &dirs {
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        let outputs = run(dir).await;
        for stale in ["plan.txt", "plan.md", "plan.json", "errors.txt"] {
            if !outputs.iter().any(|(f, _)| *f == stale) && dir.join(stale).exists() {
                if update {
                    std::fs::remove_file(dir.join(stale)).unwrap();
                } else {
                    failures.push(format!(
                        "{name}/{stale}: exists but the scenario does not produce it"
                    ));
                }
            }
        }
        for (file, got) in outputs {
            let path = dir.join(file);
            let want = std::fs::read_to_string(&path).unwrap_or_default();
            if want == got {
                continue;
            }
            if update {
                std::fs::write(&path, &got).unwrap();
                println!("updated {name}/{file}");
            } else {
                failures.push(format!(
                    "{name}/{file} differs (UPDATE_SCENARIOS=1 rewrites it):\n--- expected\n{want}\n--- got\n{got}"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The comparison above means something only where resources were planned early.
    assert!(EARLY.load(std::sync::atomic::Ordering::Relaxed) > 20);
}

/// The unreadable resources of a plan are in every rendering, each with ARM's error: the text
/// plan, the markdown comment and the JSON plan's `unreadable` list.
#[tokio::test]
async fn unreadable_resources_show_in_every_format() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/unreadable-delete");
    let model = model_from(&dir.join("spec.yaml"));
    let record: StateRecord =
        serde_json::from_str(&std::fs::read_to_string(dir.join("state.json")).unwrap()).unwrap();
    let fake = FakeArm::new();
    let live: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("live.json")).unwrap()).unwrap();
    for (key, state) in live.as_object().unwrap() {
        let id = model
            .get(key)
            .map(|r| r.id.clone())
            .or_else(|| record.resources.get(key).map(|r| r.id.clone()))
            .unwrap();
        match state {
            Value::Object(m) if m.contains_key("unreadable") => fake.refuse(
                Method::Get,
                &id,
                m["status"].as_u64().unwrap() as u16,
                m["code"].as_str().unwrap(),
                m["unreadable"].as_str().unwrap(),
            ),
            Value::Object(_) => fake.seed(&id, state.clone()),
            _ => {}
        }
    }
    let live = read_live(&fake, &model, &record, 8).await.unwrap();
    let plan = plan_of(&model, &live, &record, false).expect("a plan");
    assert!(plan.is_incomplete());
    let text = render::text(&plan, render::TextOptions::default());
    let markdown = render::markdown(&plan);
    let json: Value = serde_json::from_str(&render::json(&plan)).unwrap();
    let listed: Vec<&str> = json["unreadable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["key"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["vnet", "vnet/aks", "vnet/training", "egress"]);
    for (key, why) in [
        ("vnet", "ServiceUnavailable (503)"),
        ("egress", "TooManyRequests (429)"),
    ] {
        assert!(
            text.contains(&format!("# {key} (")) && text.contains(why),
            "text plan lacks `{key}` / {why}:\n{text}"
        );
        assert!(
            markdown.contains(&format!("<code>{key}</code>")) && markdown.contains(why),
            "markdown lacks `{key}` / {why}:\n{markdown}"
        );
    }
    assert!(
        markdown.contains("4 resources could not be read"),
        "{markdown}"
    );
    // Nothing unreadable is written: no request, and the leaving route table is not deleted.
    for r in plan
        .resources
        .iter()
        .filter(|r| r.action == moat_engine::plan::Action::Unreadable)
    {
        assert!(r.request.is_none(), "`{}` has a request", r.key);
    }
}
