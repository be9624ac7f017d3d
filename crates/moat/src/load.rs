//! The offline front half of every command: read a spec file, parse, decode, resolve and lint
//! it, collecting every diagnostic. Nothing here talks to a server.

use crate::cli::VarArgs;
use anyhow::Context as _;
use moat_model::{Context, Model};
use moat_spec::{Diagnostic, SourceFile, Spec, VarOverrides};
use std::path::{Path, PathBuf};

/// One loaded spec file and what was found in it.
pub struct Loaded {
    /// The file (for rendering diagnostics).
    pub file: SourceFile,
    /// The decoded spec, when decoding got that far.
    pub spec: Option<Spec>,
    /// The model, when resolution got that far.
    pub model: Option<Model>,
    /// Every problem, in source order.
    pub diags: Vec<Diagnostic>,
}

impl Loaded {
    /// True when any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diags.iter().any(Diagnostic::is_error)
    }
}

/// The spec path, defaulting to `moat.yaml`.
pub fn spec_path(given: Option<&Path>) -> PathBuf {
    given.map_or_else(|| PathBuf::from("moat.yaml"), Path::to_path_buf)
}

/// The subscription to use when the spec names none: `AZURE_SUBSCRIPTION_ID`, then Terraform's
/// `ARM_SUBSCRIPTION_ID`, then the Azure CLI's default subscription (read from its profile file;
/// no process is started).
pub fn context(local: bool) -> Context {
    if local {
        return Context::default();
    }
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    for name in ["AZURE_SUBSCRIPTION_ID", "ARM_SUBSCRIPTION_ID"] {
        if let Some(s) = var(name) {
            return Context {
                subscription: Some((s.trim().to_string(), name.into())),
                tenant: var("AZURE_TENANT_ID").or_else(|| var("ARM_TENANT_ID")),
            };
        }
    }
    if let Some((sub, tenant)) = azure_cli_default() {
        return Context {
            subscription: Some((sub, "the Azure CLI's default subscription".into())),
            tenant,
        };
    }
    Context::default()
}

fn azure_cli_default() -> Option<(String, Option<String>)> {
    let dir = std::env::var_os("AZURE_CONFIG_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".azure")))?;
    let bytes = std::fs::read(dir.join("azureProfile.json")).ok()?;
    // The CLI writes this file with a UTF-8 byte-order mark.
    let text = String::from_utf8_lossy(&bytes);
    let v: serde_json::Value = serde_json::from_str(text.trim_start_matches('\u{feff}')).ok()?;
    let sub = v
        .get("subscriptions")?
        .as_array()?
        .iter()
        .find(|s| s.get("isDefault").and_then(|d| d.as_bool()) == Some(true))?;
    let id = sub.get("id")?.as_str()?.to_string();
    let tenant = sub
        .get("tenantId")
        .and_then(|t| t.as_str())
        .map(str::to_string);
    Some((id, tenant))
}

/// The `--var-file` maps and `--var` values as one list, each name once: a later file wins
/// over an earlier one, `--var` over any file. Scalars become their YAML text (`true`, `3`);
/// a list or map is an error naming the file and the variable.
pub fn resolve_vars(vars: &VarArgs) -> anyhow::Result<VarArgs> {
    let mut merged: Vec<(String, String)> = Vec::new();
    let mut set = |k: String, v: String| match merged.iter_mut().find(|(n, _)| *n == k) {
        Some(slot) => slot.1 = v,
        None => merged.push((k, v)),
    };
    for file in &vars.var_files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read var file `{}`", file.display()))?;
        let map: Option<std::collections::BTreeMap<String, serde_json::Value>> =
            serde_saphyr::from_str(&text)
                .with_context(|| format!("`{}` is not a YAML map of variables", file.display()))?;
        for (k, v) in map.unwrap_or_default() {
            let text = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Bool(_) | serde_json::Value::Number(_) => v.to_string(),
                serde_json::Value::Null => String::new(),
                _ => anyhow::bail!(
                    "{}: variable `{k}` must be a string, number or boolean, not a list or map",
                    file.display()
                ),
            };
            set(k, text);
        }
    }
    for (k, v) in &vars.vars {
        set(k.clone(), v.clone());
    }
    Ok(VarArgs {
        vars: merged,
        var_files: Vec::new(),
    })
}

/// Reads and checks one spec file. IO errors (missing file) are `Err`; everything wrong with
/// the content is in [`Loaded::diags`].
pub fn load(path: &Path, vars: &VarArgs, local: bool) -> anyhow::Result<Loaded> {
    let vars = &resolve_vars(vars)?;
    let bytes =
        std::fs::read(path).with_context(|| format!("cannot read spec `{}`", path.display()))?;
    let name = path.display().to_string();
    let file = match moat_spec::source_from_bytes(&name, bytes) {
        Ok(f) => f,
        Err((file, d)) => {
            return Ok(Loaded {
                file,
                spec: None,
                model: None,
                diags: vec![d],
            });
        }
    };
    Ok(check(file, vars, local))
}

/// Checks an already-read spec: decode, resolve, lint.
pub fn check(mut file: SourceFile, vars: &VarArgs, local: bool) -> Loaded {
    let env = |k: &str| std::env::var(k).ok();
    let overrides = VarOverrides(vars.vars.clone());
    let (spec, mut diags) = moat_spec::load(&file, &overrides, &env);
    // A literal secret is never shown, not even in the snippet of a diagnostic about it.
    if let Some(s) = &spec {
        file.mask(
            s.secrets
                .iter()
                .filter(|x| matches!(x.value, moat_spec::secret::Secret::Literal(_)))
                .map(|x| x.span),
        );
    }
    let mut model = None;
    if let Some(s) = &spec {
        let (m, more) = moat_model::resolve(s, &context(local));
        diags.extend(more);
        // Lint only a model that resolved cleanly: its rules assume bound references.
        if let (Some(m), false) = (&m, diags.iter().any(Diagnostic::is_error)) {
            diags.extend(moat_lint::lint(m));
        }
        model = m;
    }
    diags.sort_by_key(|d| (d.primary.span.start, d.code.clone()));
    Loaded {
        file,
        spec,
        model,
        diags,
    }
}
