//! Azure ML online endpoints and their deployments, as the service behaves beyond its API
//! definition: traffic must name existing deployments (contoso-chat#139), a PUT without
//! `traffic` resets it to zero (genaiops-promptflow-template#182), PATCH takes tags and
//! identity (endpoints) or tags and sku (deployments) only, a deployment that still carries
//! traffic cannot be deleted (its DELETE's operation fails), the server adds `properties.properties` keys and the
//! `mfeOperationsStatus` poll URLs whose status bodies say `Updating` until `Succeeded`, and
//! every DELETE answers 202 with a `null` body (recordings
//! `test_endpoint_and_deployment_exist_with_yaml`, `test_online_endpoint_k8s_deployment_cpu`).

use super::{KindDef, check_enum, check_tags, require_location, with_identity};
use crate::ctx::{Ctx, Span};
use crate::errors::{ArmError, ArmResult};
use crate::kind::{Kind, ResPath};
use crate::lro::{self, LroStyle, PollUrls};
use crate::reply::Reply;
use crate::store::{Record, State};
use crate::util;
use serde_json::{Map, Value, json};

/// Online endpoints.
pub const ENDPOINT_DEF: KindDef = KindDef {
    kind: Kind::OnlineEndpoint,
    put: put_endpoint,
    patch: patch_endpoint,
    delete: delete_endpoint,
    render,
    refs: endpoint_refs,
    lro: Some(LRO),
    // The recording: about 1.5 minutes for a managed endpoint.
    create: Span::new(90.0, 60.0, 120.0),
    variants: &[],
    delete_secs: 60.0,
};

/// Online deployments.
pub const DEPLOYMENT_DEF: KindDef = KindDef {
    kind: Kind::OnlineDeployment,
    put: put_deployment,
    patch: patch_deployment,
    delete: delete_deployment,
    render,
    refs: deployment_refs,
    lro: Some(LRO),
    // The recording: about 5.7 minutes for a managed deployment.
    create: Span::new(340.0, 240.0, 480.0),
    variants: &[],
    delete_secs: 120.0,
};

/// `…/mfeOperationsStatus/{op}` and `…/mfeOperationResults/{op}` (the recording).
const LRO: LroStyle = LroStyle {
    urls: PollUrls::Provider {
        ns: "Microsoft.MachineLearningServices",
        async_op: ("mfeOperationsStatus", "api-version=2024-04-01"),
        location: ("mfeOperationResults", "api-version=2024-04-01"),
    },
    retry_after: 5.0,
    // mfe.json bounds `Retry-After` of the deletes to 10–600 s.
    retry_bounds: Some((10, 600)),
    // The recordings' status bodies: `name`, `startTime`, `percentComplete` (0.0 while
    // `Updating`, 100.0 once `Succeeded`), `endTime`.
    status_name: true,
    status_times: true,
    percent_complete: true,
    delete_done: 200,
    running: "Updating",
};

fn endpoint_refs(rec: &Record) -> Vec<String> {
    super::refs_at(rec, &["/properties/compute"])
}

fn deployment_refs(rec: &Record) -> Vec<String> {
    super::refs_at(
        rec,
        &[
            "/properties/model",
            "/properties/environmentId",
            "/properties/codeConfiguration/codeId",
        ],
    )
}

fn render(_st: &State, rec: &Record, v: &mut Value, now: f64) {
    util::set_at(v, "/properties", "provisioningState", json!(rec.state(now)));
}

fn user_error(status: u16, message: String) -> ArmError {
    ArmError::new(status, "UserError", message)
}

/// Names of the live deployments of an endpoint.
fn deployments_of(ctx: &Ctx, endpoint_id: &str) -> Vec<String> {
    let prefix = format!("{}/deployments/", endpoint_id.to_ascii_lowercase());
    ctx.st
        .resources()
        .iter()
        .filter(|(k, r)| k.starts_with(&prefix) && r.deleting_until.is_none())
        .map(|(_, r)| r.id.rsplit('/').next().unwrap_or_default().to_string())
        .collect()
}

fn check_map(ctx: &Ctx, rp: &ResPath, map: &Value, field: &str, max: i64) -> ArmResult<Value> {
    let Some(m) = map.as_object() else {
        return Err(ArmError::invalid_content(format!(
            "'{field}' must be an object"
        )));
    };
    let live = deployments_of(ctx, &rp.id());
    let mut sum = 0;
    for (name, pct) in m {
        let Some(p) = pct.as_i64().filter(|p| (0..=100).contains(p)) else {
            return Err(user_error(
                400,
                format!("{field} value for deployment '{name}' must be an integer from 0 to 100."),
            ));
        };
        if !live.iter().any(|d| d.eq_ignore_ascii_case(name)) {
            return Err(user_error(
                404,
                format!("Deployment {name} not found in endpoint {}.", rp.name()),
            ));
        }
        sum += p;
    }
    if max == 100 && sum != 0 && sum != 100 {
        return Err(user_error(
            400,
            format!("Traffic values must sum to 100 or to 0, found {sum}."),
        ));
    }
    if max == 50 && sum > 50 {
        return Err(user_error(
            400,
            format!("Mirror traffic must not exceed 50 in total, found {sum}."),
        ));
    }
    Ok(map.clone())
}

fn put_endpoint(ctx: &mut Ctx, rp: &ResPath, mut body: Value) -> ArmResult<Reply> {
    check_tags(&mut body)?;
    let loc = require_location(&mut body)?;
    let props = body.get("properties").cloned().unwrap_or(json!({}));
    let auth = check_enum(
        props.get("authMode").unwrap_or(&Value::Null),
        "authMode",
        &["AMLToken", "Key", "AADToken"],
    )?
    .ok_or_else(|| ArmError::invalid_content("Required property 'authMode' not found in JSON"))?;
    let access = check_enum(
        props.get("publicNetworkAccess").unwrap_or(&Value::Null),
        "publicNetworkAccess",
        &["Enabled", "Disabled"],
    )?
    .unwrap_or_else(|| "Enabled".into());
    // Absent maps are not "keep": the service resets them (issue #182 above).
    let traffic = check_map(
        ctx,
        rp,
        props.get("traffic").unwrap_or(&json!({})),
        "traffic",
        100,
    )?;
    let mirror = check_map(
        ctx,
        rp,
        props.get("mirrorTraffic").unwrap_or(&json!({})),
        "mirrorTraffic",
        50,
    )?;
    if let (Some(t), Some(m)) = (traffic.as_object(), mirror.as_object()) {
        for name in m.keys() {
            if t.get(name).and_then(Value::as_i64).unwrap_or(0) > 0 {
                return Err(user_error(
                    400,
                    format!("Deployment {name} cannot receive both live and mirror traffic."),
                ));
            }
        }
    }
    let compute = props
        .get("compute")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(c) = &compute {
        let ok = ctx.st.get(c).is_some_and(|r| {
            r.kind == Kind::MlCompute
                && r.deleting_until.is_none()
                && util::str_at(&r.body, "/properties/computeType") == Some("Kubernetes")
        });
        if !ok {
            return Err(user_error(
                400,
                format!("Compute {c} is not a Kubernetes compute of this workspace."),
            ));
        }
    }
    let existing = ctx.st.get(&rp.id()).cloned();
    let mut p = Map::new();
    p.insert("authMode".into(), json!(auth));
    p.insert("compute".into(), json!(compute));
    p.insert("publicNetworkAccess".into(), json!(access));
    if let Some(d) = props.get("description").filter(|d| d.is_string()) {
        p.insert("description".into(), d.clone());
    }
    p.insert("traffic".into(), traffic);
    p.insert("mirrorTraffic".into(), mirror);
    // Server-added keys (the recording): a caller's diff must ignore them.
    let mut extra = props
        .get("properties")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    extra.insert(
        "azureml.onlineendpointid".into(),
        json!(rp.id().to_ascii_lowercase()),
    );
    extra.insert(
        "AzureAsyncOperationUri".into(),
        json!(format!("https://management.azure.com/subscriptions/{}/providers/Microsoft.MachineLearningServices/locations/{loc}/mfeOperationsStatus/oe:{}", rp.sub, util::guid())),
    );
    p.insert("properties".into(), Value::Object(extra));
    let scoring = match &compute {
        Some(_) => format!("http://10.1.0.4/api/v1/endpoint/{}/score", rp.name()),
        None => format!("https://{}.{loc}.inference.ml.azure.com/score", rp.name()),
    };
    p.insert("scoringUri".into(), json!(scoring));
    p.insert(
        "swaggerUri".into(),
        json!(scoring.replace("/score", "/swagger.json")),
    );
    p.insert("keys".into(), Value::Null);
    let mut stored =
        json!({"location": loc, "kind": body.get("kind").cloned().unwrap_or(json!("Managed"))});
    util::set_at(
        &mut stored,
        "",
        "tags",
        body.get("tags").cloned().unwrap_or(json!({})),
    );
    if let Some(i) = body.get("identity").filter(|v| v.is_object()) {
        // A system-assigned identity gets a principal, which an update keeps.
        let kept = existing
            .as_ref()
            .and_then(|r| r.body.pointer("/identity/principalId"))
            .cloned();
        let mut i = super::storage::identity(i);
        if let (Some(p), true) = (kept, i.get("principalId").is_some()) {
            util::set_at(&mut i, "", "principalId", p);
        }
        util::set_at(&mut stored, "", "identity", i);
    } else {
        util::set_at(&mut stored, "", "identity", json!({"type": "None"}));
    }
    util::set_at(&mut stored, "", "properties", Value::Object(p));
    write(ctx, rp, stored, existing.is_some(), &DEF_SECS.0, &loc)
}

/// (endpoint, deployment) create spans for [`write`].
const DEF_SECS: (Span, Span) = (ENDPOINT_DEF.create, DEPLOYMENT_DEF.create);

/// Commits a PUT as an LRO: 201 on create, 200 on update, with both poll headers.
fn write(
    ctx: &mut Ctx,
    rp: &ResPath,
    stored: Value,
    update: bool,
    span: &Span,
    loc: &str,
) -> ArmResult<Reply> {
    let stored = with_identity(rp, stored);
    let secs = if update {
        ctx.secs(Span::new(30.0, 20.0, 40.0), rp, "put")
    } else {
        ctx.secs(*span, rp, "put")
    };
    let id = rp.id();
    ctx.commit(
        rp,
        stored,
        secs,
        if update { "Updating" } else { "Creating" },
    );
    let op = lro::start_op(ctx, &id, secs, false);
    let rec = ctx
        .st
        .get(&id)
        .cloned()
        .ok_or_else(|| super::not_found(rp))?;
    let reply = Reply::json(
        if update { 200 } else { 201 },
        super::render(ctx.st, &rec, ctx.now),
    );
    Ok(lro::with_async_headers(
        ctx, reply, &LRO, &rp.sub, loc, &op, true,
    ))
}

/// PATCH of tags (and identity / sku); anything else is refused.
fn patch_only(ctx: &mut Ctx, rp: &ResPath, mut body: Value, allowed: &[&str]) -> ArmResult<Reply> {
    check_tags(&mut body)?;
    if let Some(o) = body.as_object()
        && let Some(k) = o.keys().find(|k| !allowed.contains(&k.as_str()))
    {
        return Err(ArmError::bad_request(
            "UserError",
            format!(
                "PATCH can only update {}; '{k}' needs a PUT.",
                allowed.join(" and ")
            ),
        ));
    }
    let now = ctx.now;
    let loc = {
        let Some(rec) = ctx.st.get_mut(&rp.id()) else {
            return Err(super::not_found(rp));
        };
        for k in allowed {
            if let Some(v) = body.get(*k) {
                util::set_at(&mut rec.body, "", k, v.clone());
            }
        }
        rec.modified = now;
        rec.location().to_string()
    };
    let op = lro::start_op(ctx, &rp.id(), 5.0, false);
    Ok(lro::with_location_header(
        ctx,
        Reply::empty(202),
        &LRO,
        &rp.sub,
        &loc,
        &op,
    ))
}

fn patch_endpoint(ctx: &mut Ctx, rp: &ResPath, body: Value) -> ArmResult<Reply> {
    patch_only(ctx, rp, body, &["tags", "identity"])
}

fn patch_deployment(ctx: &mut Ctx, rp: &ResPath, body: Value) -> ArmResult<Reply> {
    patch_only(ctx, rp, body, &["tags", "sku"])
}

/// Endpoint DELETE: 202 whose body is literally `null`; its deployments go with it.
fn delete_endpoint(ctx: &mut Ctx, rp: &ResPath) -> ArmResult<Reply> {
    let mut reply = lro::async_delete(ctx, rp, &LRO, ENDPOINT_DEF.delete_secs)?;
    if reply.status == 202 {
        reply.body = Some(Value::Null);
    }
    Ok(reply)
}

/// Deployment DELETE: 202 with a `null` body, as always; while the endpoint still sends it
/// live traffic the operation then fails (`InferencingClientCallFailed`, the recording
/// `test_online_endpoint_k8s_deployment_cpu`) and the deployment stays.
fn delete_deployment(ctx: &mut Ctx, rp: &ResPath) -> ArmResult<Reply> {
    let pct = rp
        .parent_id()
        .and_then(|p| ctx.st.get(&p))
        .and_then(|ep| {
            ep.body
                .pointer("/properties/traffic")
                .and_then(Value::as_object)
                .cloned()
        })
        .and_then(|t| {
            t.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(rp.name()))
                .and_then(|(_, v)| v.as_i64())
        })
        .unwrap_or(0);
    let refused = match ctx.st.get(&rp.id()) {
        Some(rec) if pct > 0 => Some(rec.location().to_string()),
        _ => None,
    };
    let mut reply = match refused {
        Some(loc) => {
            let message = format!(
                "\"Can't delete deployment [{}] with non-zero traffic weight, Current traffic [{pct}]. Remove the traffic for this deployment on endpoint [{}] and try again\"",
                rp.name(),
                rp.names[rp.names.len() - 2]
            );
            let op = lro::start_op(ctx, &rp.id(), 5.0, true);
            if let Some(o) = ctx.st.operations.get_mut(&op) {
                o.error = Some(("InferencingClientCallFailed".into(), message));
            }
            lro::with_async_headers(ctx, Reply::empty(202), &LRO, &rp.sub, &loc, &op, true)
        }
        None => lro::async_delete(ctx, rp, &LRO, DEPLOYMENT_DEF.delete_secs)?,
    };
    if reply.status == 202 {
        reply.body = Some(Value::Null);
    }
    Ok(reply)
}

fn put_deployment(ctx: &mut Ctx, rp: &ResPath, mut body: Value) -> ArmResult<Reply> {
    check_tags(&mut body)?;
    let loc = require_location(&mut body)?;
    let mut props = body
        .get("properties")
        .cloned()
        .filter(Value::is_object)
        .ok_or_else(|| {
            ArmError::invalid_content("Required property 'properties' not found in JSON")
        })?;
    let ctype = check_enum(
        props.get("endpointComputeType").unwrap_or(&Value::Null),
        "endpointComputeType",
        &["Managed", "Kubernetes", "AzureMLCompute"],
    )?
    .ok_or_else(|| {
        ArmError::invalid_content("Required property 'endpointComputeType' not found in JSON")
    })?;
    if ctype == "Managed" && props.get("containerResourceRequirements").is_some() {
        return Err(ArmError::invalid_content(
            "Could not find member 'containerResourceRequirements' on object of type 'ManagedOnlineDeployment'",
        ));
    }
    let existing = ctx.st.get(&rp.id()).cloned();
    if let Some(old) = &existing {
        for f in [
            "/instanceType",
            "/codeConfiguration/codeId",
            "/codeConfiguration/scoringScript",
        ] {
            let was = old.body.pointer(&format!("/properties{f}"));
            if was.is_some() && was != props.pointer(f) {
                return Err(user_error(
                    400,
                    format!(
                        "Property '{}' cannot be updated; create a new deployment.",
                        &f[1..]
                    ),
                ));
            }
        }
    }
    util::set_at(&mut props, "", "endpointComputeType", json!(ctype));
    // Defaults the service fills in (the recording's GET).
    let probe = json!({"failureThreshold": 30, "successThreshold": 1, "timeout": "PT2S", "period": "PT10S", "initialDelay": "PT10S"});
    for (k, v) in [
        ("livenessProbe", probe.clone()),
        ("readinessProbe", probe),
        (
            "requestSettings",
            json!({"requestTimeout": "PT5S", "maxConcurrentRequestsPerInstance": 1, "maxQueueWait": "PT0.5S"}),
        ),
        ("egressPublicNetworkAccess", json!("Enabled")),
        ("appInsightsEnabled", json!(false)),
        ("environmentVariables", json!({})),
        ("scaleSettings", json!({"scaleType": "Default"})),
        ("properties", json!({})),
    ] {
        if props.get(k).is_none_or(Value::is_null) {
            util::set_at(&mut props, "", k, v);
        }
    }
    let mut sku = body
        .get("sku")
        .cloned()
        .unwrap_or(json!({"name": "Default", "capacity": 1}));
    util::set_at(&mut sku, "", "tier", json!("Standard"));
    let mut stored = json!({"location": loc, "kind": ctype, "sku": sku});
    util::set_at(
        &mut stored,
        "",
        "tags",
        body.get("tags").cloned().unwrap_or(json!({})),
    );
    util::set_at(&mut stored, "", "properties", props);
    write(ctx, rp, stored, existing.is_some(), &DEF_SECS.1, &loc)
}
