//! Azure ML asset versions — models, environments, code: synchronous PUTs (200/201), no
//! location, and a version's content that never changes (a PUT with different content is
//! refused, as the service does for registered versions).

use super::{KindDef, no_refs, not_found, with_identity};
use crate::ctx::{Ctx, Span};
use crate::errors::{ArmError, ArmResult};
use crate::kind::{Kind, ResPath};
use crate::reply::Reply;
use crate::store::{Record, State};
use crate::util;
use serde_json::{Value, json};

macro_rules! asset_def {
    ($name:ident, $kind:ident) => {
        /// An asset version kind.
        pub const $name: KindDef = KindDef {
            kind: Kind::$kind,
            put,
            patch,
            delete: super::sync_delete,
            render,
            refs: no_refs,
            lro: None,
            create: Span::new(1.0, 0.5, 2.0),
            variants: &[],
            delete_secs: 0.0,
        };
    };
}
asset_def!(MODEL_DEF, MlModelVersion);
asset_def!(ENVIRONMENT_DEF, MlEnvironmentVersion);
asset_def!(CODE_DEF, MlCodeVersion);

/// What each asset requires (mfe.json: `modelUri` is optional but the CLI always sends it;
/// `image` or `build` for an environment; `codeUri` for code).
fn required(kind: Kind) -> &'static str {
    match kind {
        Kind::MlModelVersion => "modelUri",
        Kind::MlEnvironmentVersion => "image",
        _ => "codeUri",
    }
}

fn put(ctx: &mut Ctx, rp: &ResPath, body: Value) -> ArmResult<Reply> {
    let props = body
        .get("properties")
        .filter(|p| p.is_object())
        .cloned()
        .ok_or_else(|| {
            ArmError::invalid_content("Required property 'properties' not found in JSON")
        })?;
    let field = required(rp.kind);
    if props.get(field).and_then(Value::as_str).is_none() {
        return Err(ArmError::bad_request(
            "UserError",
            format!("Required property '{field}' is missing."),
        ));
    }
    let mut p = props.clone();
    if rp.kind == Kind::MlModelVersion && p.get("modelType").is_none() {
        util::set_at(&mut p, "", "modelType", json!("custom_model"));
    }
    let existing = ctx.st.get(&rp.id()).cloned();
    if let Some(old) = &existing {
        let changed = [field, "modelType", "condaFile", "description"]
            .iter()
            .any(|f| old.body.pointer(&format!("/properties/{f}")) != p.get(*f));
        if changed {
            return Err(ArmError::bad_request(
                "UserError",
                format!(
                    "The asset version '{}' already exists with different content; versions are immutable. Register a new version instead.",
                    rp.names.join("/")
                ),
            ));
        }
    }
    let stored = with_identity(rp, json!({ "properties": p }));
    ctx.commit(rp, stored, 0.0, "Succeeded");
    let rec = ctx.st.get(&rp.id()).cloned().ok_or_else(|| not_found(rp))?;
    let status = if existing.is_some() { 200 } else { 201 };
    Ok(Reply::json(status, super::render(ctx.st, &rec, ctx.now)))
}

/// Asset versions have no PATCH at 2024-04-01.
fn patch(_ctx: &mut Ctx, _rp: &ResPath, _body: Value) -> ArmResult<Reply> {
    Err(ArmError::new(
        405,
        "MethodNotAllowed",
        "The requested method 'PATCH' is not allowed for this resource.",
    ))
}

fn render(_st: &State, _rec: &Record, v: &mut Value, _now: f64) {
    util::set_at(v, "/properties", "provisioningState", json!("Succeeded"));
}
