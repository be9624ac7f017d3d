//! The versioned assets of a workspace — model, environment and code versions. Azure keeps a
//! version's content forever, so every field is create-only and a change is refused with the
//! hint to bump `version`; a new version is a new ID (`…/<name>/versions/<version>`).

use super::{Field, KindDef, ML_SECRETS, Replace, Scope, ScopeRef, Site, canon, refs};
use crate::arm::MapContext;
use crate::model::{Body, Kind, Resource};
use crate::resolve::Resolver;
use crate::{json, naming};
use moat_spec::ast::{KindSpec, ModelType};
use moat_spec::{Diagnostic, Spanned, codes};
use serde_json::{Value, json};

/// Why a changed version is not replaced: Azure refuses to change a version's content, and
/// deleting it would break every deployment that pins it.
const IMMUTABLE: Replace = Replace::Refused(
    "asset versions are immutable in Azure: change `version` to register the new content as a new version",
);

/// `ml_model`: `models/{name}/versions/{version}` (a synchronous PUT).
pub(crate) static MODEL: KindDef = asset(
    Kind::MlModel,
    "ml_model",
    "Microsoft.MachineLearningServices/workspaces/models/versions",
    "models",
    &[
        Field::new("properties.modelUri", canon::same).immutable(),
        Field::new("properties.modelType", canon::lower)
            .default("\"custom_model\"")
            .immutable(),
        Field::new("properties.description", canon::same).immutable(),
    ],
    model_body,
);

/// `ml_environment`: `environments/{name}/versions/{version}`.
pub(crate) static ENVIRONMENT: KindDef = asset(
    Kind::MlEnvironment,
    "ml_environment",
    "Microsoft.MachineLearningServices/workspaces/environments/versions",
    "environments",
    &[
        Field::new("properties.image", canon::same).immutable(),
        Field::new("properties.condaFile", canon::same).immutable(),
        Field::new("properties.description", canon::same).immutable(),
    ],
    environment_body,
);

/// `ml_code`: `codes/{name}/versions/{version}`.
pub(crate) static CODE: KindDef = asset(
    Kind::MlCode,
    "ml_code",
    "Microsoft.MachineLearningServices/workspaces/codes/versions",
    "codes",
    &[
        Field::new("properties.codeUri", canon::same).immutable(),
        Field::new("properties.description", canon::same).immutable(),
    ],
    code_body,
);

/// The definition the three asset kinds share: a version under `<segment>/{name}/versions` of
/// a workspace, create-only (a change is refused with the hint to bump `version`), without
/// location or tags. They differ in kind, word, ARM type, segment, fields and body.
const fn asset(
    kind: Kind,
    word: &'static str,
    arm_type: &'static str,
    segment: &'static str,
    fields: &'static [Field],
    body: super::BodyFn,
) -> KindDef {
    KindDef {
        scope_ref: Some(ScopeRef {
            field: refs::WORKSPACE,
            get: workspace_of,
        }),
        fields,
        immutable_unlisted: true,
        replace: IMMUTABLE,
        has_location: false,
        taggable: false,
        secrets: ML_SECRETS,
        version: Some(version_of),
        ..KindDef::new(
            kind,
            word,
            arm_type,
            "2024-04-01",
            Scope::Child {
                parent: Kind::MlWorkspace,
                segment,
            },
            naming::ML_ASSET,
            2,
            body,
            check,
        )
    }
}

/// `azureml://datastores/<d>/paths/<p>` → the workspace-qualified form ARM stores
/// (`azureml://subscriptions/<s>/resourcegroups/<g>/workspaces/<w>/datastores/<d>/paths/<p>`);
/// any other URI is sent as written.
pub(crate) fn expand_datastore_uri(uri: &str, workspace_id: Option<&str>) -> String {
    let Some(rest) = uri.strip_prefix("azureml://datastores/") else {
        return uri.to_string();
    };
    let Some(ws) = workspace_id else {
        return uri.to_string();
    };
    let segs: Vec<&str> = ws.trim_matches('/').split('/').collect();
    match (segs.get(1), segs.get(3), segs.last()) {
        (Some(sub), Some(rg), Some(name)) if segs.len() >= 8 => format!(
            "azureml://subscriptions/{sub}/resourcegroups/{rg}/workspaces/{name}/datastores/{rest}"
        ),
        _ => uri.to_string(),
    }
}

fn model_body(r: &Resource, b: &mut Value, _ctx: &MapContext) {
    let Body::Spec(KindSpec::MlModel(m)) = &r.body else {
        return;
    };
    let ws = super::ref_id(r, refs::WORKSPACE);
    json::set(
        b,
        "properties.modelUri",
        json!(expand_datastore_uri(&m.path.value, ws.as_deref())),
    );
    let t = match m.model_type.as_ref().map(|t| t.value) {
        Some(ModelType::MlflowModel) => "mlflow_model",
        Some(ModelType::TritonModel) => "triton_model",
        _ => "custom_model",
    };
    json::set(b, "properties.modelType", json!(t));
    if let Some(d) = &m.description {
        json::set(b, "properties.description", json!(d.value));
    }
}

fn environment_body(r: &Resource, b: &mut Value, _ctx: &MapContext) {
    let Body::Spec(KindSpec::MlEnvironment(e)) = &r.body else {
        return;
    };
    json::set(b, "properties.image", json!(e.image.value));
    if let Some(c) = &e.conda_file {
        json::set(b, "properties.condaFile", json!(c.value));
    }
    if let Some(d) = &e.description {
        json::set(b, "properties.description", json!(d.value));
    }
}

fn code_body(r: &Resource, b: &mut Value, _ctx: &MapContext) {
    let Body::Spec(KindSpec::MlCode(c)) = &r.body else {
        return;
    };
    let ws = super::ref_id(r, refs::WORKSPACE);
    json::set(
        b,
        "properties.codeUri",
        json!(expand_datastore_uri(&c.path.value, ws.as_deref())),
    );
    if let Some(d) = &c.description {
        json::set(b, "properties.description", json!(d.value));
    }
}

/// Offline checks: a version is a non-empty name segment; a path is a URI.
fn check(rs: &mut Resolver<'_>, spec: &KindSpec, _site: Site<'_>) {
    let (version, path) = match spec {
        KindSpec::MlModel(m) => (&m.version, Some(&m.path)),
        KindSpec::MlEnvironment(e) => (&e.version, None),
        KindSpec::MlCode(c) => (&c.version, Some(&c.path)),
        _ => return,
    };
    let v = &version.value;
    if v.is_empty()
        || !v
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    {
        rs.push(
            Diagnostic::error(
                codes::E0114,
                format!("`{v}` is not a version Azure accepts"),
                version.span,
            )
            .label("letters, digits, `.`, `-` and `_` only")
            .hint("write a version like `\"3\"` or `\"1.0.2\"`"),
        );
    }
    if let Some(p) = path
        && !(p.value.starts_with("azureml://") || p.value.starts_with("https://"))
    {
        rs.push(
            Diagnostic::error(
                codes::E0114,
                format!("`{}` is not an asset URI", p.value),
                p.span,
            )
            .label("expected `azureml://…` or `https://…`")
            .hint("upload the files to a datastore first and give `azureml://datastores/<store>/paths/<path>`"),
        );
    }
}

fn workspace_of(spec: &KindSpec) -> Option<&Spanned<String>> {
    match spec {
        KindSpec::MlModel(x) => Some(&x.workspace),
        KindSpec::MlEnvironment(x) => Some(&x.workspace),
        KindSpec::MlCode(x) => Some(&x.workspace),
        _ => None,
    }
}

fn version_of(spec: &KindSpec) -> Option<&Spanned<String>> {
    match spec {
        KindSpec::MlModel(x) => Some(&x.version),
        KindSpec::MlEnvironment(x) => Some(&x.version),
        KindSpec::MlCode(x) => Some(&x.version),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datastore_uris_are_qualified_with_the_workspace() {
        let ws = "/subscriptions/s1/resourceGroups/rg1/providers/Microsoft.MachineLearningServices/workspaces/ws1";
        assert_eq!(
            expand_datastore_uri(
                "azureml://datastores/workspaceblobstore/paths/m/3",
                Some(ws)
            ),
            "azureml://subscriptions/s1/resourcegroups/rg1/workspaces/ws1/datastores/workspaceblobstore/paths/m/3"
        );
        let full = "azureml://registries/azureml/models/x/versions/1";
        assert_eq!(expand_datastore_uri(full, Some(ws)), full);
        assert_eq!(
            expand_datastore_uri("azureml://datastores/d/paths/p", None),
            "azureml://datastores/d/paths/p"
        );
    }
}
