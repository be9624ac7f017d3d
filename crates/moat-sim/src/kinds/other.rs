//! Application Insights components (synchronous) and container registries (Azure-AsyncOperation).

use super::{Ctx, Kind, ResPath, check_enum, check_tags, require_location, with_identity};
use crate::errors::{ArmError, ArmResult};
use crate::lro::{self, Reply};
use crate::util;
use serde_json::{Map, Value, json};

fn internal() -> ArmError {
    ArmError::new(500, "InternalServerError", "An error occurred.")
}

/// PUT of an Application Insights component: synchronous 200 for create and update.
pub fn put_insights(ctx: &mut Ctx, rp: &ResPath, mut body: Value) -> ArmResult<Reply> {
    let loc = require_location(&mut body)?;
    check_tags(&mut body)?;
    let kind = super::require_str(&body, "/kind", "kind")?.to_string();
    let props = body.get("properties").cloned().unwrap_or(Value::Null);
    let id = rp.id();
    let existing = ctx.st.get(&id).cloned();
    let old = |f: &str| {
        existing
            .as_ref()
            .and_then(|r| r.body.pointer(&format!("/properties/{f}")).cloned())
    };
    // Required on create; an update may leave it out and keeps the stored one.
    let app_type = match check_enum(
        props.get("Application_Type").unwrap_or(&Value::Null),
        "Application_Type",
        &["web", "other"],
    )? {
        Some(t) => json!(t),
        None => old("Application_Type").ok_or_else(|| {
            ArmError::invalid_content("Required property 'Application_Type' not found in JSON")
        })?,
    };
    let app_id = old("AppId").unwrap_or_else(|| json!(util::guid()));
    let ikey = old("InstrumentationKey").unwrap_or_else(|| json!(util::guid()));
    let created = old("CreationDate").unwrap_or_else(|| json!(util::timestamp(ctx.now)));
    let mut p = Map::new();
    p.insert("ApplicationId".into(), json!(rp.name()));
    p.insert("AppId".into(), app_id);
    p.insert("Application_Type".into(), app_type);
    p.insert(
        "Flow_Type".into(),
        props
            .get("Flow_Type")
            .cloned()
            .unwrap_or(json!("Bluefield")),
    );
    p.insert(
        "Request_Source".into(),
        props
            .get("Request_Source")
            .cloned()
            .unwrap_or(json!("rest")),
    );
    p.insert("InstrumentationKey".into(), ikey.clone());
    p.insert(
        "ConnectionString".into(),
        json!(format!(
            "InstrumentationKey={};IngestionEndpoint=https://{loc}-0.in.applicationinsights.azure.com/;LiveEndpoint=https://{loc}.livediagnostics.monitor.azure.com/",
            ikey.as_str().unwrap_or_default()
        )),
    );
    p.insert("Name".into(), json!(rp.name()));
    p.insert("CreationDate".into(), created);
    p.insert("TenantId".into(), json!(rp.sub));
    for f in [
        "SamplingPercentage",
        "DisableIpMasking",
        "ImmediatePurgeDataOn30Days",
        "WorkspaceResourceId",
        "DisableLocalAuth",
        "ForceCustomerStorageForProfiler",
        "HockeyAppId",
    ] {
        if let Some(v) = props.get(f).filter(|v| !v.is_null()) {
            p.insert(f.into(), v.clone());
        }
    }
    if let Some(ws) = props.get("WorkspaceResourceId").and_then(Value::as_str) {
        let _ = ws;
    }
    p.insert(
        "RetentionInDays".into(),
        props.get("RetentionInDays").cloned().unwrap_or(json!(90)),
    );
    p.insert(
        "IngestionMode".into(),
        props.get("IngestionMode").cloned().unwrap_or(json!(if props
            .get("WorkspaceResourceId")
            .is_some()
        {
            "LogAnalytics"
        } else {
            "ApplicationInsights"
        })),
    );
    p.insert(
        "publicNetworkAccessForIngestion".into(),
        props
            .get("publicNetworkAccessForIngestion")
            .cloned()
            .unwrap_or(json!("Enabled")),
    );
    p.insert(
        "publicNetworkAccessForQuery".into(),
        props
            .get("publicNetworkAccessForQuery")
            .cloned()
            .unwrap_or(json!("Enabled")),
    );
    let mut stored = json!({"kind": kind, "location": loc});
    util::set_at(
        &mut stored,
        "",
        "tags",
        body.get("tags").cloned().unwrap_or_else(|| json!({})),
    );
    util::set_at(&mut stored, "", "properties", Value::Object(p));
    let stored = with_identity(rp, stored);
    ctx.commit(rp, stored, 0.0, "Succeeded");
    let rec = ctx.st.get(&id).cloned().ok_or_else(internal)?;
    Ok(Reply::json(200, super::render(ctx.st, &rec, ctx.now)))
}

/// PUT of a container registry: 201/200 + Azure-AsyncOperation.
pub fn put_registry(ctx: &mut Ctx, rp: &ResPath, mut body: Value) -> ArmResult<Reply> {
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
    if ctx.st.resources.values().any(|r| {
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
    let secs = super::provisioning_seconds("Microsoft.ContainerRegistry/registries");
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
        ctx,
        reply,
        Kind::ContainerRegistry,
        &rp.sub,
        &loc,
        &op,
        false,
    ))
}
