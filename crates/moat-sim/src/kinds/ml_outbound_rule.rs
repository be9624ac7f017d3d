//! The outbound rules of a workspace's managed network (machineLearningServices.json
//! 2024-04-01, `ManagedNetworkSettingsRule_*`): one record per rule under the workspace,
//! written one by one (202 + the workspace's poll URLs) or inline in a workspace PUT, shown in
//! the workspace's `managedNetwork.outboundRules`. Turning isolation on adds the rules Azure
//! needs itself (category `Required` and `Dependency`); they cannot be written or deleted by
//! the user. FQDN rules need `AllowOnlyApprovedOutbound`; no rule is taken while isolation
//! is `Disabled`, and isolation cannot return to `Disabled` once on.

use super::{KindDef, no_refs, patch_tags, with_identity};
use crate::ctx::{Ctx, Span};
use crate::errors::{ArmError, ArmResult};
use crate::kind::{Kind, ResPath};
use crate::lro;
use crate::reply::Reply;
use crate::store::{Record, State};
use crate::util;
use serde_json::{Map, Value, json};

/// Outbound rules.
pub const DEF: KindDef = KindDef {
    kind: Kind::MlOutboundRule,
    put,
    patch: patch_tags,
    delete,
    render: render_rule,
    refs: no_refs,
    lro: Some(super::ml_workspace::LRO),
    // No recording; a rule reprovisions the managed network's firewall rules, tens of seconds.
    create: Span::new(30.0, 10.0, 60.0),
    variants: &[],
    delete_secs: 30.0,
};

fn user_error(message: String) -> ArmError {
    ArmError::bad_request("UserError", message)
}

/// The isolation mode of a stored workspace body.
pub fn isolation(ws: &Value) -> String {
    util::str_at(ws, "/properties/managedNetwork/isolationMode")
        .unwrap_or("Disabled")
        .to_string()
}

/// Checks one rule's properties against the workspace's isolation and returns them stored.
fn validate(st: &State, isolation: &str, name: &str, p: &Value) -> ArmResult<Value> {
    if isolation.eq_ignore_ascii_case("Disabled") {
        return Err(user_error(format!(
            "Outbound rule '{name}' cannot be added: the workspace's managed network isolation is Disabled."
        )));
    }
    let ty = super::check_enum(
        p.get("type").unwrap_or(&Value::Null),
        "type",
        &["FQDN", "PrivateEndpoint", "ServiceTag"],
    )?
    .ok_or_else(|| ArmError::invalid_content("Required property 'type' not found in JSON"))?;
    let category = super::check_enum(
        p.get("category").unwrap_or(&Value::Null),
        "category",
        &["Required", "Recommended", "UserDefined", "Dependency"],
    )?
    .unwrap_or_else(|| "UserDefined".into());
    if matches!(category.as_str(), "Required" | "Dependency") {
        return Err(user_error(format!(
            "Outbound rule '{name}' cannot have category {category}: those rules are managed by the service."
        )));
    }
    let dest = p.get("destination").cloned().unwrap_or(Value::Null);
    let dest = match ty.as_str() {
        "FQDN" => {
            if !isolation.eq_ignore_ascii_case("AllowOnlyApprovedOutbound") {
                return Err(user_error(format!(
                    "FQDN outbound rule '{name}' needs isolation mode AllowOnlyApprovedOutbound."
                )));
            }
            match dest.as_str() {
                Some(s) if !s.is_empty() => json!(s),
                _ => {
                    return Err(user_error(format!(
                        "FQDN outbound rule '{name}' needs a destination host name."
                    )));
                }
            }
        }
        "ServiceTag" => {
            let tag = util::str_at(&dest, "/serviceTag").unwrap_or("");
            if tag.is_empty() {
                return Err(user_error(format!(
                    "Service tag outbound rule '{name}' needs a serviceTag."
                )));
            }
            json!({
                "serviceTag": tag,
                "protocol": util::str_at(&dest, "/protocol").unwrap_or("TCP"),
                "portRanges": util::str_at(&dest, "/portRanges").unwrap_or("443"),
                "action": util::str_at(&dest, "/action").unwrap_or("Allow"),
            })
        }
        _ => {
            let target = util::str_at(&dest, "/serviceResourceId").unwrap_or("");
            if st.get(target).is_none() {
                return Err(user_error(format!(
                    "Private endpoint outbound rule '{name}' names '{target}', which does not exist."
                )));
            }
            json!({
                "serviceResourceId": target,
                "subresourceTarget": util::str_at(&dest, "/subresourceTarget").unwrap_or(""),
                "sparkEnabled": dest.get("sparkEnabled").and_then(Value::as_bool).unwrap_or(false),
            })
        }
    };
    Ok(json!({ "type": ty, "category": category, "destination": dest }))
}

fn store(ctx: &mut Ctx, ws: &ResPath, name: &str, props: Value, secs: f64) -> bool {
    let mut names = ws.names.clone();
    names.push(name.to_string());
    let rp = ResPath {
        sub: ws.sub.clone(),
        rg: ws.rg.clone(),
        kind: Kind::MlOutboundRule,
        names,
    };
    let stored = with_identity(&rp, json!({ "properties": props }));
    ctx.commit(&rp, stored, secs, "Creating")
}

fn put(ctx: &mut Ctx, rp: &ResPath, body: Value) -> ArmResult<Reply> {
    let ws_id = rp.parent_id().unwrap_or_default();
    let ws = ctx
        .st
        .get(&ws_id)
        .cloned()
        .ok_or_else(|| super::not_found(rp))?;
    let props = body.get("properties").cloned().unwrap_or(Value::Null);
    if let Some(old) = ctx.st.get(&rp.id())
        && util::str_at(&old.body, "/properties/category")
            .is_some_and(|c| c == "Required" || c == "Dependency")
    {
        return Err(user_error(format!(
            "Outbound rule '{}' is managed by the service and cannot be changed.",
            rp.name()
        )));
    }
    let stored = validate(ctx.st, &isolation(&ws.body), rp.name(), &props)?;
    let secs = ctx.secs(DEF.create, rp, "put");
    let ws_rp = crate::kind::parse_id(&ws_id).ok_or_else(|| super::not_found(rp))?;
    store(ctx, &ws_rp, rp.name(), stored, secs);
    let op = lro::start_op(ctx, &rp.id(), secs, false);
    Ok(lro::with_async_headers(
        ctx,
        Reply::empty(202),
        &super::ml_workspace::LRO,
        &rp.sub,
        ws.location(),
        &op,
        true,
    ))
}

fn delete(ctx: &mut Ctx, rp: &ResPath) -> ArmResult<Reply> {
    if let Some(old) = ctx.st.get(&rp.id())
        && util::str_at(&old.body, "/properties/category")
            .is_some_and(|c| c == "Required" || c == "Dependency")
    {
        return Err(user_error(format!(
            "Outbound rule '{}' is managed by the service and cannot be deleted.",
            rp.name()
        )));
    }
    lro::async_delete(ctx, rp, &super::ml_workspace::LRO, DEF.delete_secs)
}

fn render_rule(_st: &State, rec: &Record, v: &mut Value, now: f64) {
    let status = if rec.state(now) == "Succeeded" {
        "Active"
    } else {
        "Inactive"
    };
    util::set_at(v, "/properties", "status", json!(status));
}

/// What a workspace PUT does to its managed network: isolation cannot return to `Disabled`;
/// turning it on adds the service's own rules; inline `outboundRules` are written as rules
/// (rules the body leaves out stay). Returns the stored `managedNetwork` (without rules).
pub fn on_workspace_put(
    ctx: &mut Ctx,
    rp: &ResPath,
    old: Option<&Record>,
    requested: Option<&Value>,
    storage: Option<&str>,
) -> ArmResult<Option<Value>> {
    let before = old.map_or_else(|| "Disabled".to_string(), |o| isolation(&o.body));
    let Some(req) = requested.filter(|v| v.is_object()) else {
        return Ok(old.and_then(|o| o.body.pointer("/properties/managedNetwork").cloned()));
    };
    let after = super::check_enum(
        req.get("isolationMode").unwrap_or(&Value::Null),
        "isolationMode",
        &[
            "Disabled",
            "AllowInternetOutbound",
            "AllowOnlyApprovedOutbound",
        ],
    )?
    .unwrap_or_else(|| before.clone());
    if !before.eq_ignore_ascii_case("Disabled") && after == "Disabled" {
        return Err(user_error(format!(
            "The managed network of workspace '{}' has isolation mode {before} and cannot be set back to Disabled.",
            rp.name()
        )));
    }
    let rules = req
        .get("outboundRules")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut validated = Vec::new();
    for (name, r) in &rules {
        // The service's own rules come back in a PUT built from a GET: they are kept as they are.
        let cat = util::str_at(r, "/category").unwrap_or("");
        if cat == "Required" || cat == "Dependency" {
            continue;
        }
        validated.push((name.clone(), validate(ctx.st, &after, name, r)?));
    }
    for (name, props) in validated {
        store(ctx, rp, &name, props, 0.0);
    }
    if before == "Disabled" && after != "Disabled" {
        let mut service = vec![(
            "__SYS_ST_AzureMachineLearning".to_string(),
            json!({"type": "ServiceTag", "category": "Required", "destination": {
                "serviceTag": "AzureMachineLearning", "protocol": "TCP", "portRanges": "443", "action": "Allow"}}),
        )];
        if let Some(s) = storage {
            let sname = s.rsplit('/').next().unwrap_or("storage");
            service.push((
                format!("__SYS_PE_{sname}_blob"),
                json!({"type": "PrivateEndpoint", "category": "Dependency", "destination": {
                    "serviceResourceId": s, "subresourceTarget": "blob", "sparkEnabled": false}}),
            ));
        }
        for (name, props) in service {
            store(ctx, rp, &name, props, 0.0);
        }
    }
    Ok(Some(json!({ "isolationMode": after })))
}

/// Adds `outboundRules` (every rule record, the service's included) and `status` to a
/// rendered workspace.
pub fn render_into_workspace(st: &State, ws: &Record, v: &mut Value, now: f64) {
    if v.pointer("/properties/managedNetwork").is_none() {
        return;
    }
    let mut rules = Map::new();
    for r in st.children(&ws.id, Kind::MlOutboundRule) {
        let mut p = r.body.get("properties").cloned().unwrap_or(Value::Null);
        let status = if r.state(now) == "Succeeded" {
            "Active"
        } else {
            "Inactive"
        };
        util::set_at(&mut p, "", "status", json!(status));
        rules.insert(r.name().to_string(), p);
    }
    let mn = util::obj_at(v, "/properties/managedNetwork");
    mn.insert("outboundRules".into(), Value::Object(rules));
    mn.insert(
        "status".into(),
        json!({ "status": "Active", "sparkReady": false }),
    );
}
