//! Microsoft.ContainerRegistry registries: global names, SKUs, server defaults, and
//! 201/200 + `Azure-AsyncOperation` writes.

use super::{
    KindDef, check_enum, check_tags, no_refs, patch_tags, render_state, require_location,
    with_identity,
};
use crate::ctx::{Ctx, Span};
use crate::errors::{ArmError, ArmResult};
use crate::kind::{Kind, ResPath};
use crate::lro::{self, LroStyle, PollUrls};
use crate::reply::Reply;
use crate::util;
use serde_json::{Map, Value, json};

/// Container registries.
pub const DEF: KindDef = KindDef {
    kind: Kind::ContainerRegistry,
    put,
    patch: patch_tags,
    delete,
    render: render_state,
    refs: no_refs,
    lro: Some(LRO),
    // No registry create in the recorded corpus; Basic/Standard registries take 10–20 s in
    // the provider's documentation, Premium (geo-replication set up later) no longer.
    create: Span::new(15.0, 10.0, 20.0),
    variants: &[],
    delete_secs: 10.0,
};

/// `…/operationStatuses/{id}` (status with `name`) and `…/operationResults/{id}`.
const LRO: LroStyle = LroStyle {
    urls: PollUrls::Provider {
        ns: "Microsoft.ContainerRegistry",
        async_op: ("operationStatuses", "api-version=2023-07-01"),
        location: ("operationResults", "api-version=2023-07-01"),
    },
    retry_after: 10.0,
    retry_bounds: None,
    status_name: true,
    status_times: false,
    percent_complete: false,
    delete_done: 204,
    running: "InProgress",
};

fn delete(ctx: &mut Ctx, rp: &ResPath) -> ArmResult<Reply> {
    lro::async_delete(ctx, rp, &LRO, DEF.delete_secs)
}

fn internal() -> ArmError {
    ArmError::new(500, "InternalServerError", "An error occurred.")
}

/// PUT of a container registry: 201/200 + Azure-AsyncOperation.
fn put(ctx: &mut Ctx, rp: &ResPath, mut body: Value) -> ArmResult<Reply> {
    let name = rp.name().to_string();
    if !(5..=50).contains(&name.len()) || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ArmError::bad_request(
            "InvalidResourceName",
            format!(
                "Resource name '{name}' is invalid. Registry names may contain only alpha numeric characters and must be between 5 and 50 characters."
            ),
        ));
    }
    let loc = require_location(&mut body)?;
    check_tags(&mut body)?;
    let sku = check_enum(
        body.pointer("/sku/name").unwrap_or(&Value::Null),
        "sku.name",
        &["Classic", "Basic", "Standard", "Premium"],
    )?
    .ok_or_else(|| ArmError::invalid_content("Required property 'sku' not found in JSON"))?;
    let id = rp.id();
    if ctx.st.resources().values().any(|r| {
        r.kind == Kind::ContainerRegistry
            && r.name().eq_ignore_ascii_case(&name)
            && !r.id.eq_ignore_ascii_case(&id)
    }) {
        return Err(ArmError::new(
            409,
            "AlreadyInUse",
            format!("The registry {name} is already in use."),
        ));
    }
    let existing = ctx.st.get(&id).cloned();
    let props = body.get("properties").cloned().unwrap_or(Value::Null);
    let created = existing.as_ref().map(|r| r.created).unwrap_or(ctx.now);
    let mut p = Map::new();
    p.insert(
        "loginServer".into(),
        json!(format!("{}.azurecr.io", name.to_ascii_lowercase())),
    );
    p.insert("creationDate".into(), json!(util::timestamp(created)));
    p.insert(
        "adminUserEnabled".into(),
        props
            .get("adminUserEnabled")
            .cloned()
            .unwrap_or(json!(false)),
    );
    if let Some(n) = props.get("networkRuleSet").filter(|v| v.is_object()) {
        p.insert("networkRuleSet".into(), n.clone());
    }
    p.insert(
        "policies".into(),
        props.get("policies").cloned().unwrap_or_else(|| {
            json!({
                "quarantinePolicy": {"status": "disabled"},
                "trustPolicy": {"type": "Notary", "status": "disabled"},
                "retentionPolicy": {"days": 7, "lastUpdatedTime": util::timestamp(created), "status": "disabled"},
                "exportPolicy": {"status": "enabled"}
            })
        }),
    );
    p.insert(
        "encryption".into(),
        props
            .get("encryption")
            .cloned()
            .unwrap_or(json!({"status": "disabled"})),
    );
    p.insert(
        "dataEndpointEnabled".into(),
        props
            .get("dataEndpointEnabled")
            .cloned()
            .unwrap_or(json!(false)),
    );
    p.insert("dataEndpointHostNames".into(), json!([]));
    p.insert("privateEndpointConnections".into(), json!([]));
    p.insert(
        "publicNetworkAccess".into(),
        props
            .get("publicNetworkAccess")
            .cloned()
            .unwrap_or(json!("Enabled")),
    );
    p.insert(
        "networkRuleBypassOptions".into(),
        props
            .get("networkRuleBypassOptions")
            .cloned()
            .unwrap_or(json!("AzureServices")),
    );
    p.insert(
        "zoneRedundancy".into(),
        props
            .get("zoneRedundancy")
            .cloned()
            .unwrap_or(json!("Disabled")),
    );
    let mut stored = json!({"sku": {"name": sku, "tier": sku}, "location": loc});
    util::set_at(
        &mut stored,
        "",
        "tags",
        body.get("tags").cloned().unwrap_or_else(|| json!({})),
    );
    if let Some(i) = body.get("identity").filter(|v| v.is_object()) {
        util::set_at(&mut stored, "", "identity", super::storage::identity(i));
    }
    util::set_at(&mut stored, "", "properties", Value::Object(p));
    let stored = with_identity(rp, stored);
    let secs = ctx.secs(DEF.create, rp, "put");
    let is_new = ctx.commit(
        rp,
        stored,
        secs,
        if existing.is_some() {
            "Updating"
        } else {
            "Creating"
        },
    );
    let op = lro::start_op(ctx, &id, secs, false);
    let rec = ctx.st.get(&id).cloned().ok_or_else(internal)?;
    let reply = Reply::json(
        if is_new { 201 } else { 200 },
        super::render(ctx.st, &rec, ctx.now),
    );
    Ok(lro::with_async_headers(
        ctx, reply, &LRO, &rp.sub, &loc, &op, false,
    ))
}
