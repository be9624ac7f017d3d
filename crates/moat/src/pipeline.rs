//! The steps plan, apply and destroy share: check the spec offline, connect, read the state
//! record and live state, and compute the plan.

use crate::cli::{Global, VarArgs};
use crate::load::{Loaded, load};
use crate::output::Output;
use crate::remote::{Remote, backend, connect, state_dir};
use anyhow::{Context as _, bail};
use moat_engine::diff::{DestroyScope, PlanInput, plan_replacing_early};
use moat_engine::live::{Live, read_live_planning};
use moat_engine::plan::Plan;
use moat_engine::state::{StateBackend, StateRecord};
use moat_model::Model;
use moat_model::arm::MapContext;
use moat_model::secret::Secrets;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A spec that passed every offline check.
pub struct Checked {
    /// The spec path.
    pub path: PathBuf,
    /// The loaded file and diagnostics.
    pub loaded: Loaded,
    /// The model.
    pub model: Model,
    /// SHA-256 of the spec bytes.
    pub spec_hash: String,
    /// Every declared variable and its resolved value (`--var`, `--var-file`, default).
    pub variables: BTreeMap<String, String>,
    /// Where state lives.
    pub state_dir: PathBuf,
}

/// Parses, resolves and lints; prints the diagnostics; `None` when any is an error.
pub fn check(
    g: &Global,
    path: &Path,
    vars: &VarArgs,
    out: &Output,
) -> anyhow::Result<Option<Checked>> {
    // The hash below covers what the files said, not their names.
    let vars = &crate::load::resolve_vars(vars)?;
    let loaded = load(path, vars, g.local)?;
    // What the plan checks against the live cloud anyway (a firewall subnet of an `existing:`
    // network) is not also noted as unchecked; `validate` and `lint` keep those notes.
    let shown: Vec<moat_spec::Diagnostic> = match &loaded.model {
        Some(m) => loaded
            .diags
            .iter()
            .filter(|d| !moat_lint::checked_live(m, d))
            .cloned()
            .collect(),
        None => loaded.diags.clone(),
    };
    out.diagnostics(&loaded.file, &shown);
    if loaded.has_errors() {
        let n = loaded.diags.iter().filter(|d| d.is_error()).count();
        eprintln!(
            "error: {} has {n} error(s); nothing was sent to Azure",
            moat_spec::diag::escape_text(&path.display().to_string())
        );
        return Ok(None);
    }
    let Some(model) = loaded.model.clone() else {
        bail!("{} could not be resolved", path.display())
    };
    // The spec's text and its resolved variables are compared separately (a saved plan
    // records both), so the order the `--var`s came in never matters.
    let spec_hash = spec_hash(path)?;
    let variables = loaded
        .spec
        .as_ref()
        .map(|s| {
            s.variables
                .iter()
                .map(|(k, v)| (k.value.clone(), v.value.clone()))
                .collect()
        })
        .unwrap_or_default();
    Ok(Some(Checked {
        path: path.to_path_buf(),
        state_dir: state_dir(g, path),
        loaded,
        model,
        spec_hash,
        variables,
    }))
}

impl Checked {
    /// `\n  --> file:line:col` of the resource `key` in the spec, for runtime errors that
    /// name it; empty when the key is not in the spec.
    pub fn locate(&self, key: &str) -> String {
        self.model.get(key).map_or_else(String::new, |r| {
            let lc = self.loaded.file.line_col(r.key_span.start);
            let name = moat_spec::diag::escape_text(self.loaded.file.name());
            format!("\n  --> {name}:{}:{}", lc.line, lc.col)
        })
    }
}

/// The SHA-256 of a spec file's bytes (a saved plan's `spec_hash`).
pub fn spec_hash(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    Ok(sha256_hex(&bytes))
}

/// Hex SHA-256.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    let d = sha2::Sha256::digest(bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Everything a plan needs from the outside.
pub struct Session {
    /// ARM.
    pub remote: Remote,
    /// The state backend.
    pub backend: Arc<dyn StateBackend>,
}

/// Connects and opens the backend.
pub async fn open(g: &Global, c: &Checked) -> anyhow::Result<Session> {
    let remote = connect(g, &c.state_dir).await?;
    let backend = backend(g, &c.model, &c.state_dir)?;
    Ok(Session { remote, backend })
}

/// Reads the record (or starts a new one).
pub async fn read_state(backend: &dyn StateBackend, stack: &str) -> anyhow::Result<StateRecord> {
    Ok(backend
        .read()
        .await
        .with_context(|| format!("cannot read the state of stack `{stack}`"))?
        .unwrap_or_else(|| StateRecord::new(stack)))
}

/// Reads every secret the spec refers to (`{ env: … }`, `{ file: … }`, literals) and
/// fingerprints each with the stack's key (created beside the state on first use). A secret
/// that cannot be read is a located error, printed; `Ok(None)` then.
pub async fn read_secrets(s: &Session, c: &Checked) -> anyhow::Result<Option<Secrets>> {
    if c.model.secrets.is_empty() {
        return Ok(Some(Secrets::none()));
    }
    let key = s.backend.fingerprint_key().await.with_context(|| {
        format!(
            "cannot read the fingerprint key of stack `{}`",
            c.model.stack.value
        )
    })?;
    let base = c
        .path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let env = |n: &str| std::env::var(n).ok();
    let file = |p: &Path| std::fs::read(p);
    let src = moat_model::secret::Sources {
        env: &env,
        file: &file,
        base,
    };
    let (secrets, diags) = moat_model::secret::read(&c.model, &src, &key);
    if diags.is_empty() {
        return Ok(Some(secrets));
    }
    for d in &diags {
        eprintln!(
            "{}",
            moat_spec::diag::render(
                d,
                &c.loaded.file,
                moat_spec::diag::RenderOptions { color: false }
            )
        );
    }
    eprintln!(
        "error: {} secret(s) of the spec cannot be read; nothing was sent to Azure",
        diags.len()
    );
    Ok(None)
}

/// GETs a plan keeps in flight (the client's throttling paces them further).
const READS_IN_FLIGHT: usize = 64;

/// Reads live state and computes the plan (a destroy plan restricted to `scope`, the
/// `--replace` keys replaced), with the secrets it compared (their values go to apply); plan
/// errors are printed and turn into `Ok(None)`.
pub async fn make_plan(
    s: &Session,
    c: &Checked,
    record: &StateRecord,
    destroy: bool,
    scope: &DestroyScope,
    replace: &[String],
) -> anyhow::Result<Option<(Plan, Live, Secrets)>> {
    // A destroy sends no secret, so it needs none of them.
    let secrets = if destroy {
        Secrets::none()
    } else {
        match read_secrets(s, c).await? {
            Some(x) => x,
            None => return Ok(None),
        }
    };
    let ctx = MapContext {
        tenant: s.remote.tenant.clone(),
        fingerprints: secrets.fingerprints().clone(),
    };
    // The spec's resources are planned as their reads land, while the rest are in flight.
    let (live, early) = read_live_planning(
        s.remote.client.as_ref(),
        &c.model,
        record,
        &ctx,
        READS_IN_FLIGHT,
        true,
        destroy,
    )
    .await?;
    // What only the live cloud can tell (a subnet's fit in a network another stack owns, a
    // subnet of an `existing:` network that is not there): located errors before any plan.
    if !destroy {
        let bodies: std::collections::BTreeMap<String, serde_json::Value> = live
            .resources
            .iter()
            .filter_map(|(k, v)| v.body().map(|b| (k.clone(), b.clone())))
            .collect();
        let mut diags = moat_model::kinds::check_live(&c.model, &bodies);
        // The network rules that need the live cloud: a firewall subnet of an `existing:`
        // network, and the live NSG and route table of an existing subnet a cluster or AKS
        // inference nodes join, a subnet named by ARM ID read first (read here, once each:
        // GETs only, nothing is written). A subnet's NSG is known once the subnet is read,
        // hence rounds; the second finds nothing new, the bound only guards the loop.
        let mut reads = moat_lint::PolicyReads::new();
        for _ in 0..3 {
            let wanted = moat_lint::live_reads(&c.model, &bodies, &reads);
            if wanted.is_empty() {
                break;
            }
            reads.extend(read_policies(s, &wanted).await);
        }
        diags.extend(moat_lint::lint_live(&c.model, &bodies, &reads));
        if !diags.is_empty() {
            for d in &diags {
                eprintln!(
                    "{}",
                    moat_spec::diag::render(
                        d,
                        &c.loaded.file,
                        moat_spec::diag::RenderOptions { color: false }
                    )
                );
            }
            let n = diags.iter().filter(|d| d.is_error()).count();
            if n > 0 {
                eprintln!(
                    "error: the live cloud refuses {n} part(s) of the spec; nothing was sent to Azure"
                );
                return Ok(None);
            }
        }
    }
    let input = PlanInput {
        model: &c.model,
        live: &live,
        state: record,
        ctx: &ctx,
        spec_hash: c.spec_hash.clone(),
        destroy,
    };
    match plan_replacing_early(&input, scope, replace, early) {
        Ok(mut p) => {
            p.spec_path = Some(c.path.display().to_string());
            p.variables = c.variables.clone();
            Ok(Some((p, live, secrets)))
        }
        Err(errors) => {
            for e in errors {
                let hint = e
                    .hint()
                    .map(|h| format!("\nhint: {}", moat_spec::diag::escape_text(h)))
                    .unwrap_or_default();
                let text = moat_spec::diag::escape_text(&e.to_string());
                eprintln!("error: {text}{}{hint}", c.locate(e.key()));
            }
            Ok(None)
        }
    }
}

/// GETs the subnets, NSGs and route tables the live network rules need beyond the spec's
/// resources (`moat_lint::live_reads`), concurrently through the plan's client (its throttling
/// and retries pace them like the other reads). A read that fails, or finds nothing, keeps
/// why: the rules then say "not checked" (or, for a subnet named by ID, E0203) instead of
/// guessing.
async fn read_policies(s: &Session, wanted: &[moat_lint::PolicyRead]) -> moat_lint::PolicyReads {
    use futures_util::stream::{self, StreamExt};
    use moat_arm::Arm as _;
    let arm = s.remote.client.as_ref();
    stream::iter(wanted)
        .map(|r| async move {
            let got = match arm.get(&r.id, r.kind.api_version()).await {
                Ok(Some(body)) => Ok(body),
                Ok(None) => Err(moat_lint::NOT_FOUND.to_string()),
                Err(e) => Err(e.to_string()),
            };
            (r.id.to_ascii_lowercase(), got)
        })
        .buffer_unordered(READS_IN_FLIGHT)
        .collect()
        .await
}

/// Checks that every `--target`/`--exclude` key is one of the spec or of the state record;
/// the error lists the keys there are.
pub fn check_keys(c: &Checked, record: &StateRecord, keys: &[String]) -> anyhow::Result<()> {
    let mut known: std::collections::BTreeSet<&str> =
        c.model.resources.iter().map(|r| r.key.as_str()).collect();
    known.extend(record.resources.keys().map(String::as_str));
    if let Some(k) = keys.iter().find(|k| !known.contains(k.as_str())) {
        bail!(
            "`{}` is no resource of {} or of its state (keys: {})",
            moat_spec::diag::escape_text(k),
            c.path.display(),
            known.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

/// Checks the `--replace` keys: each must be a resource of the spec (what only the state
/// record knows is deleted anyway); the error suggests the closest key.
pub fn check_replace_keys(c: &Checked, keys: &[String]) -> anyhow::Result<()> {
    for k in keys {
        if c.model.get(k).is_some() {
            continue;
        }
        let keys: Vec<&str> = c.model.resources.iter().map(|r| r.key.as_str()).collect();
        let hint = match moat_spec::suggest::did_you_mean(k, keys.iter().copied()) {
            Some(m) => format!("did you mean `{m}`?"),
            None => format!("the keys are: {}", keys.join(", ")),
        };
        bail!(
            "`--replace {}`: {} has no resource `{}`; {hint}",
            moat_spec::diag::escape_text(k),
            c.path.display(),
            moat_spec::diag::escape_text(k)
        );
    }
    Ok(())
}

/// Refuses a plan that deletes a resource group still holding resources the stack does not
/// own (printing them); `Ok(false)` means refused.
pub async fn groups_are_ours(s: &Session, c: &Checked, plan: &Plan) -> anyhow::Result<bool> {
    let foreign =
        moat_engine::live::foreign_in_deleted_groups(s.remote.client.as_ref(), plan).await?;
    for (key, ids) in &foreign {
        let loc = c.locate(key);
        let list = ids
            .iter()
            .map(|i| format!("  - {i}"))
            .collect::<Vec<_>>()
            .join("\n");
        eprintln!(
            "error: deleting resource group `{key}` would also delete {} resource(s) this stack does not own:{loc}\n{list}\nhint: delete or move them first, or keep the group with `--exclude {key}`",
            ids.len()
        );
    }
    Ok(foreign.is_empty())
}

/// Refuses a plan that deletes or replaces a `protect: true` resource (printing each one at
/// its line, with a hint); `false` means refused. Runs on the plan as narrowed by
/// `--target`/`--exclude`.
pub fn unprotected(c: &Checked, plan: &Plan) -> bool {
    let found = moat_engine::protect::violations(plan, &c.model);
    for p in &found {
        let text = moat_spec::diag::escape_text(&p.to_string());
        let hint = moat_spec::diag::escape_text(&p.hint());
        eprintln!("error: {text}{}\nhint: {hint}", c.locate(&p.key));
    }
    found.is_empty()
}

/// Prints one located error per resource that could not be read, then the verdict; `true`
/// when there were any. A plan with an unreadable resource says nothing true about it, so
/// `plan` fails and `apply` acts on none of it (dependents would otherwise fail later with
/// misleading "not found" errors).
pub fn report_unreadable(c: &Checked, plan: &Plan, doing: &str) -> bool {
    let unreadable = Plan::unreadable_of(&plan.resources);
    if unreadable.is_empty() {
        return false;
    }
    for u in &unreadable {
        // The error names the request path (hence the ID), status, code and request id.
        let why = moat_spec::diag::escape_text(&u.error);
        eprintln!("error: cannot read `{}`: {why}{}", u.key, c.locate(&u.key));
    }
    eprintln!(
        "error: {} resource(s) could not be read, so the plan is incomplete; {doing}",
        unreadable.len()
    );
    true
}
