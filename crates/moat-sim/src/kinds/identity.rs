//! Microsoft.ManagedIdentity user-assigned identities: a synchronous 201/200 PUT whose body is
//! only location and tags; the service assigns the tenant, principal and client IDs
//! (azure-cli identity/test_identity_management.yaml #3).

use super::{
    KindDef, check_tags, no_refs, patch_tags, require_location, sync_delete, with_identity,
};
use crate::ctx::{Ctx, Span};
use crate::errors::{ArmError, ArmResult};
use crate::kind::{Kind, ResPath};
use crate::reply::Reply;
use crate::store::{Record, State};
use crate::util;
use serde_json::{Value, json};

/// User-assigned identities.
pub const DEF: KindDef = KindDef {
    kind: Kind::UserAssignedIdentity,
    put,
    patch: patch_tags,
    delete: sync_delete,
    render: render_none,
    refs: no_refs,
    lro: None,
    // The recorded create answered 201 in about 3 s (date headers of #2 and #3).
    create: Span::new(3.0, 1.0, 5.0),
    variants: &[],
    delete_secs: 0.0,
};

/// Identities show no provisioning state.
fn render_none(_st: &State, _rec: &Record, _v: &mut Value, _now: f64) {}

/// PUT: the IDs are kept across updates; a name is 3–128 letters, digits, `-` or `_`.
fn put(ctx: &mut Ctx, rp: &ResPath, mut body: Value) -> ArmResult<Reply> {
    let name = rp.name();
    if !(3..=128).contains(&name.len())
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ArmError::bad_request(
            "InvalidResourceName",
            format!("Resource name '{name}' is invalid."),
        ));
    }
    let loc = require_location(&mut body)?;
    check_tags(&mut body)?;
    let id = rp.id();
    let existing = ctx.st.get(&id).cloned();
    let props = match existing.as_ref().and_then(|r| r.body.get("properties")) {
        Some(p) => p.clone(),
        None => json!({
            "tenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "principalId": util::guid(),
            "clientId": util::guid(),
        }),
    };
    let stored = with_identity(
        rp,
        json!({
            "location": loc,
            "tags": body.get("tags").cloned().unwrap_or_else(|| json!({})),
            "properties": props,
        }),
    );
    let is_new = ctx.commit(rp, stored, 0.0, "Creating");
    let rec = ctx
        .st
        .get(&id)
        .cloned()
        .ok_or_else(|| ArmError::new(500, "InternalServerError", "An error occurred."))?;
    Ok(Reply::json(
        if is_new { 201 } else { 200 },
        super::render(ctx.st, &rec, ctx.now),
    ))
}
