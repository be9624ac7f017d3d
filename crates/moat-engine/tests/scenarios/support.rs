//! Helpers the `plan_*` integration tests share (included with `#[path]`, so that the
//! scenario folders and their loader live together): load a spec into a model, plan it from a
//! `Live` snapshot, and run the apply walker over any `Arm`.

#![allow(dead_code)]

use moat_engine::apply::{ApplyOptions, ApplyReport, NoProgress, StateStore, apply};
use moat_engine::diff::{PlanError, PlanInput, plan};
use moat_engine::live::{Live, read_live};
use moat_engine::plan::Plan;
use moat_engine::state::{LocalBackend, StateBackend, StateRecord};
use moat_model::arm::MapContext;
use moat_model::{Context, LOCAL_TENANT, Model};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The spec hash every test plan carries, so that expected files do not depend on bytes.
pub const SPEC_HASH: &str = "test";

/// The workspace's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// An example spec's path.
pub fn example(name: &str) -> PathBuf {
    repo().join("examples").join(name)
}

/// Parses and resolves a spec text with the emulator's subscription; panics with the
/// diagnostics when it has errors.
pub fn model_of(name: &str, text: &str) -> Model {
    let file = moat_spec::source_from_bytes(name, text.as_bytes().to_vec())
        .unwrap_or_else(|(_, d)| panic!("{name}: {d:?}"));
    let env = |_: &str| None;
    let (spec, diags) = moat_spec::load(&file, &moat_spec::VarOverrides::default(), &env);
    let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "{name}: {errors:?}");
    let spec = spec.expect("decoded spec");
    let (model, diags) = moat_model::resolve(&spec, &Context::default());
    let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).collect();
    assert!(errors.is_empty(), "{name}: {errors:?}");
    model.expect("resolved model")
}

/// [`model_of`] for a file.
pub fn model_from(path: &Path) -> Model {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    model_of(&path.display().to_string(), &text)
}

/// The mapping context of the emulator.
pub fn ctx() -> MapContext {
    MapContext {
        tenant: LOCAL_TENANT.to_string(),
        ..MapContext::default()
    }
}

/// Plans `model` against `live` and `state`.
pub fn plan_of(
    model: &Model,
    live: &Live,
    state: &StateRecord,
    destroy: bool,
) -> Result<Plan, Vec<PlanError>> {
    let ctx = ctx();
    plan(&PlanInput {
        model,
        live,
        state,
        ctx: &ctx,
        spec_hash: SPEC_HASH.to_string(),
        destroy,
    })
}

/// A stack's state kept in a directory, the way the CLI keeps it.
pub struct Stack {
    /// The backend.
    pub backend: Arc<LocalBackend>,
}

impl Stack {
    /// A state directory for `stack` under `dir`.
    pub fn new(dir: &Path, stack: &str) -> Stack {
        Stack {
            backend: Arc::new(LocalBackend::new(dir, stack)),
        }
    }

    /// The record (a new one when none is stored).
    pub async fn record(&self, stack: &str) -> StateRecord {
        self.backend
            .read()
            .await
            .expect("state read")
            .unwrap_or_else(|| StateRecord::new(stack))
    }

    /// Reads live state through `arm` and plans.
    pub async fn plan(
        &self,
        arm: &dyn moat_arm::Arm,
        model: &Model,
        destroy: bool,
    ) -> Result<(Plan, Live), Vec<PlanError>> {
        let record = self.record(&model.stack.value).await;
        let live = read_live(arm, model, &record, 16).await.expect("live read");
        plan_of(model, &live, &record, destroy).map(|p| (p, live))
    }

    /// Applies `plan` through `arm` (reading the record first, as the CLI does).
    pub async fn apply(
        &self,
        arm: Arc<dyn moat_arm::Arm>,
        plan: &Plan,
        parallelism: usize,
    ) -> (ApplyReport, StateRecord) {
        let record = self.record(&plan.stack).await;
        let store = Arc::new(StateStore::new(self.backend.clone(), record));
        let opts = ApplyOptions {
            parallelism,
            ..ApplyOptions::default()
        };
        let report = apply(plan, arm, store.clone(), Arc::new(NoProgress), &opts).await;
        (report, store.snapshot().await)
    }
}
