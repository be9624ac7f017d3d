//! Microsoft.Insights components (Application Insights): synchronous create and update, and
//! the instrumentation key and connection string the service generates.

use super::{
    KindDef, check_enum, check_tags, no_refs, patch_tags, require_location, sync_delete,
    with_identity,
};
use crate::ctx::{Ctx, Span};
use crate::errors::{ArmError, ArmResult};
use crate::kind::{Kind, ResPath};
use crate::reply::Reply;
use crate::store::{Record, State};
use crate::util;
use serde_json::{Map, Value, json};

/// Application Insights components.
pub const DEF: KindDef = KindDef {
    kind: Kind::AppInsights,
    put,
    patch: patch_tags,
    delete: sync_delete,
    render,
    refs: no_refs,
    // Every write is synchronous: the provider never starts an LRO.
    lro: None,
    // Synchronous 200 for create and update (no recording in the corpus; the API definition
    // declares no long-running operation).
    create: Span::fixed(0.0),
    variants: &[],
    delete_secs: 0.0,
};

/// Provisioning state and the strong etag the service returns.
fn render(_st: &State, rec: &Record, v: &mut Value, now: f64) {
    util::set_at(v, "/properties", "provisioningState", json!(rec.state(now)));
    util::set_at(
        v,
        "",
        "etag",
        json!(format!(
            "\"{}\"",
            rec.etag.trim_start_matches("W/").trim_matches('"')
        )),
    );
}

fn internal() -> ArmError {
    ArmError::new(500, "InternalServerError", "An error occurred.")
}

/// PUT of an Application Insights component: synchronous 200 for create and update.
fn put(ctx: &mut Ctx, rp: &ResPath, mut body: Value) -> ArmResult<Reply> {
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
