//! Microsoft.MachineLearningServices workspaces: references to their storage account, vault,
//! insights and registry, and 202 + `Location` + `Azure-AsyncOperation` creation.

use super::{KindDef, check_tags, no_refs, render_state, require_location, with_identity};
use crate::ctx::{Ctx, Span};
use crate::errors::{ArmError, ArmResult};
use crate::kind::{Kind, ResPath};
use crate::lro::{self, LroStyle, PollUrls};
use crate::reply::Reply;
use crate::util;
use serde_json::{Map, Value, json};

/// Azure ML workspaces.
pub const DEF: KindDef = KindDef {
    kind: Kind::MlWorkspace,
    put,
    patch,
    delete,
    render,
    refs: no_refs,
    lro: Some(LRO),
    // No workspace create in the recorded corpus (the ML cassettes are of online endpoints,
    // 30–32 s each); a workspace creates its managed resources first, 1–3 minutes in the
    // service's documentation.
    create: Span::new(120.0, 60.0, 180.0),
    variants: &[],
    delete_secs: 60.0,
};

/// `…/workspaceOperationsStatus/{id}` for both headers (`type=async` / `type=location`). The
/// ML definitions bound `Retry-After` to 10..=600 seconds.
pub(crate) const LRO: LroStyle = LroStyle {
    urls: PollUrls::Provider {
        ns: "Microsoft.MachineLearningServices",
        async_op: (
            "workspaceOperationsStatus",
            "api-version=2024-04-01&type=async",
        ),
        location: (
            "workspaceOperationsStatus",
            "api-version=2024-04-01&type=location",
        ),
    },
    retry_after: 15.0,
    retry_bounds: Some((10, 600)),
    status_name: false,
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

fn validation(message: String) -> ArmError {
    ArmError::bad_request("ValidationError", message)
}

/// Rewrites a provider segment's casing the way the ML service returns dependent ids.
fn ml_casing(id: &str) -> String {
    let mut out = id.to_string();
    for (from, to) in [
        (
            "/providers/microsoft.keyvault/",
            "/providers/Microsoft.Keyvault/",
        ),
        (
            "/providers/microsoft.insights/",
            "/providers/Microsoft.insights/",
        ),
    ] {
        if let Some(i) = out.to_ascii_lowercase().find(from) {
            out.replace_range(i..i + from.len(), to);
        }
    }
    out
}

fn check_ref(
    ctx: &Ctx,
    props: &Value,
    field: &str,
    kind: Kind,
    ws: &str,
    required: bool,
) -> ArmResult<Option<String>> {
    match props
        .get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        None if required => Err(validation(format!(
            "The workspace '{ws}' must reference an existing {field}."
        ))),
        None => Ok(None),
        Some(id) => {
            let ok = ctx
                .st
                .get(id)
                .is_some_and(|r| r.kind == kind && r.deleting_until.is_none());
            if ok {
                Ok(Some(id.to_string()))
            } else {
                Err(validation(format!(
                    "The {field} '{id}' referenced by workspace '{ws}' was not found."
                )))
            }
        }
    }
}

/// PUT of a workspace: 202 with Location and Azure-AsyncOperation, empty body.
fn put(ctx: &mut Ctx, rp: &ResPath, mut body: Value) -> ArmResult<Reply> {
    let loc = require_location(&mut body)?;
    check_tags(&mut body)?;
    let ws = rp.name().to_string();
    let id = rp.id();
    let existing = ctx.st.get(&id).cloned();
    let props = body.get("properties").cloned().unwrap_or(Value::Null);
    let kind = body
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("Default")
        .to_string();
    let needs_deps = !kind.eq_ignore_ascii_case("Project");
    let storage = check_ref(
        ctx,
        &props,
        "storageAccount",
        Kind::StorageAccount,
        &ws,
        needs_deps,
    )?;
    let vault = check_ref(ctx, &props, "keyVault", Kind::KeyVault, &ws, needs_deps)?;
    let insights = check_ref(
        ctx,
        &props,
        "applicationInsights",
        Kind::AppInsights,
        &ws,
        false,
    )?;
    let registry = check_ref(
        ctx,
        &props,
        "containerRegistry",
        Kind::ContainerRegistry,
        &ws,
        false,
    )?;
    if let Some(old) = &existing {
        for (field, new) in [("storageAccount", &storage), ("keyVault", &vault)] {
            let before = old
                .body
                .pointer(&format!("/properties/{field}"))
                .and_then(Value::as_str);
            if let (Some(b), Some(n)) = (before, new)
                && !util::eq_ci(b, n)
            {
                return Err(validation(format!(
                    "The {field} of workspace '{ws}' cannot be changed after creation."
                )));
            }
        }
    }
    let old = |f: &str| {
        existing
            .as_ref()
            .and_then(|r| r.body.pointer(&format!("/properties/{f}")).cloned())
    };
    let wid = old("workspaceId").unwrap_or_else(|| json!(util::guid()));
    let mut p = Map::new();
    p.insert(
        "friendlyName".into(),
        props.get("friendlyName").cloned().unwrap_or(json!("")),
    );
    p.insert(
        "description".into(),
        props.get("description").cloned().unwrap_or(json!("")),
    );
    if let Some(s) = storage {
        p.insert("storageAccount".into(), json!(s));
    }
    if let Some(v) = vault {
        p.insert("keyVault".into(), json!(ml_casing(&v)));
    }
    if let Some(i) = insights {
        p.insert("applicationInsights".into(), json!(ml_casing(&i)));
    }
    if let Some(r) = registry {
        p.insert("containerRegistry".into(), json!(r));
    }
    p.insert("workspaceId".into(), wid);
    p.insert(
        "discoveryUrl".into(),
        json!(format!("https://{loc}.api.azureml.ms/discovery")),
    );
    p.insert(
        "mlFlowTrackingUri".into(),
        json!(format!("azureml://{loc}.api.azureml.ms/mlflow/v1.0/subscriptions/{}/resourceGroups/{}/providers/Microsoft.MachineLearningServices/workspaces/{ws}", rp.sub, rp.rg)),
    );
    p.insert(
        "tenantId".into(),
        json!("72f988bf-86f1-41af-91ab-2d7cd011db47"),
    );
    p.insert("storageHnsEnabled".into(), json!(false));
    p.insert("privateLinkCount".into(), json!(0));
    for (f, d) in [
        ("hbiWorkspace", json!(false)),
        ("publicNetworkAccess", json!("Enabled")),
        ("v1LegacyMode", json!(false)),
        ("enableDataIsolation", json!(false)),
        ("allowPublicAccessWhenBehindVnet", json!(false)),
    ] {
        p.insert(
            f.into(),
            props.get(f).filter(|v| !v.is_null()).cloned().unwrap_or(d),
        );
    }
    for f in [
        "encryption",
        "imageBuildCompute",
        "primaryUserAssignedIdentity",
        "serverlessComputeSettings",
        "sharedPrivateLinkResources",
        "serviceManagedResourcesSettings",
        "featureStoreSettings",
        "associatedWorkspaces",
        "hubResourceId",
        "workspaceHubConfig",
    ] {
        if let Some(v) = props.get(f).filter(|v| !v.is_null()) {
            p.insert(f.into(), v.clone());
        }
    }
    let storage_id = p
        .get("storageAccount")
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(mn) = super::ml_outbound_rule::on_workspace_put(
        ctx,
        rp,
        existing.as_ref(),
        props.get("managedNetwork"),
        storage_id.as_deref(),
    )? {
        p.insert("managedNetwork".into(), mn);
    }
    let mut stored = json!({"location": loc, "kind": kind});
    util::set_at(
        &mut stored,
        "",
        "tags",
        body.get("tags").cloned().unwrap_or_else(|| json!({})),
    );
    util::set_at(
        &mut stored,
        "",
        "sku",
        body.get("sku")
            .cloned()
            .unwrap_or(json!({"name": "Basic", "tier": "Basic"})),
    );
    let ident = body
        .get("identity")
        .filter(|v| v.is_object())
        .cloned()
        .unwrap_or(json!({"type": "SystemAssigned"}));
    let ident = match existing.as_ref().and_then(|r| r.body.get("identity")) {
        Some(old) if old.get("type") == ident.get("type") => old.clone(),
        _ => super::storage::identity(&ident),
    };
    util::set_at(&mut stored, "", "identity", ident);
    util::set_at(&mut stored, "", "properties", Value::Object(p));
    let stored = with_identity(rp, stored);
    let secs = if existing.is_some() {
        10.0
    } else {
        ctx.secs(DEF.create, rp, "put")
    };
    ctx.commit(
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
    Ok(lro::with_async_headers(
        ctx,
        Reply::empty(202),
        &LRO,
        &rp.sub,
        &loc,
        &op,
        true,
    ))
}

/// A workspace shows its provisioning state and its managed network's rules.
fn render(st: &crate::store::State, rec: &crate::store::Record, v: &mut Value, now: f64) {
    render_state(st, rec, v, now);
    super::ml_outbound_rule::render_into_workspace(st, rec, v, now);
}

/// PATCH of a workspace: synchronous 200.
fn patch(ctx: &mut Ctx, rp: &ResPath, mut body: Value) -> ArmResult<Reply> {
    check_tags(&mut body)?;
    let id = rp.id();
    let rec = ctx
        .st
        .get(&id)
        .cloned()
        .ok_or_else(|| super::not_found(rp))?;
    let mut stored = rec.body.clone();
    if let Some(t) = body.get("tags") {
        util::set_at(&mut stored, "", "tags", t.clone());
    }
    if let Some(s) = body.get("sku").filter(|v| v.is_object()) {
        util::set_at(&mut stored, "", "sku", s.clone());
    }
    if let Some(props) = body.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            if !v.is_null()
                && matches!(
                    k.as_str(),
                    "description"
                        | "friendlyName"
                        | "imageBuildCompute"
                        | "applicationInsights"
                        | "containerRegistry"
                        | "publicNetworkAccess"
                        | "v1LegacyMode"
                        | "enableDataIsolation"
                        | "primaryUserAssignedIdentity"
                        | "serverlessComputeSettings"
                        | "featureStoreSettings"
                        | "serviceManagedResourcesSettings"
                )
            {
                util::set_at(&mut stored, "/properties", k, v.clone());
            }
        }
    }
    ctx.commit(rp, stored, 0.0, "Succeeded");
    let rec = ctx.st.get(&id).cloned().ok_or_else(internal)?;
    Ok(Reply::json(200, super::render(ctx.st, &rec, ctx.now)))
}
