//! Microsoft.KubernetesConfiguration extensions (2023-05-01), an extension resource of a
//! cluster: `<cluster>/providers/Microsoft.KubernetesConfiguration/extensions/<name>`.
//!
//! As the kit's recording `k8s-extension/test_k8s_extension.yaml` shows: a PUT answers 201 with
//! the extension `Creating` and an `Azure-AsyncOperation` URL below the extension itself
//! (`…/extensions/<name>/operations/<id>`, the definition's `OperationStatus_Get`); a DELETE
//! answers 200 at once with the recorded body. `configurationProtectedSettings` is never read
//! back: the definition marks it `x-ms-secret`, its examples' GETs leave it out and the oracle
//! refuses it in any response (the recording's `{}` echoed an empty map); the emulator does not
//! even keep the values. What the Azure ML extension
//! (`microsoft.azureml.kubernetes`) does with its settings: the keys are Helm values and are
//! compared exactly, so `InferenceRouterHA` is not `inferenceRouterHA` and leaves the default
//! of three router replicas, whose install then fails on a cluster of fewer than three nodes
//! (MicrosoftDocs/azure-ai-docs PR #458); inference needs `inferenceRouterServiceType`
//! (the extension's documented settings) — both without a recording, so [unverified] shapes.

use super::{KindDef, check_enum};
use crate::ctx::{Ctx, Span};
use crate::errors::{ArmError, ArmResult};
use crate::kind::Kind;
use crate::reply::Reply;
use crate::store::{Operation, Record, State};
use crate::util;
use serde_json::{Map, Value, json};

/// Cluster extensions; the router sends their requests to [`handle`], never to `put`.
pub const DEF: KindDef = KindDef {
    kind: Kind::ClusterExtension,
    put: super::not_routed,
    patch: super::not_routed,
    delete: |_, _| Err(ArmError::bad_request("InvalidResourceType", "unexpected")),
    render,
    refs: |_| Vec::new(),
    lro: None,
    // A Helm install of the Azure ML extension: minutes (no recording of it; the recorded dapr
    // install was still `Creating` after its GETs).
    create: Span::new(240.0, 120.0, 480.0),
    variants: &[],
    delete_secs: 0.0,
};

/// The api-version of the kit.
pub const API: &str = "2023-05-01";

const MARKER: &str = "/providers/microsoft.kubernetesconfiguration/extensions";

/// The Azure ML extension's type.
const AZUREML: &str = "microsoft.azureml.kubernetes";

/// A request below a cluster's extensions: (cluster ID, extension name, operation ID).
pub struct ExtPath {
    /// The cluster's ID as sent.
    pub cluster: String,
    /// The extension's name (`None`: the collection).
    pub name: Option<String>,
    /// A poll of one of its operations.
    pub op: Option<String>,
}

/// Splits `<cluster>/providers/Microsoft.KubernetesConfiguration/extensions[/<name>[/operations/<op>]]`.
pub fn split(path: &str) -> Option<ExtPath> {
    let p = path.trim_end_matches('/');
    let at = p.to_ascii_lowercase().rfind(MARKER)?;
    let cluster = p[..at].to_string();
    let rest: Vec<&str> = p[at + MARKER.len()..]
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (name, op) = match rest.as_slice() {
        [] => (None, None),
        [n] => (Some(n.to_string()), None),
        [n, o, id] if o.eq_ignore_ascii_case("operations") => {
            (Some(n.to_string()), Some(id.to_string()))
        }
        _ => return None,
    };
    Some(ExtPath { cluster, name, op })
}

fn render(_st: &State, rec: &Record, v: &mut Value, now: f64) {
    util::set_at(v, "/properties", "provisioningState", json!(rec.state(now)));
    let current = if now < rec.busy_until || rec.failed {
        Value::Null
    } else {
        util::str_at(&rec.body, "/properties/version").map_or(json!("1.1.64"), |v| json!(v))
    };
    util::set_at(v, "/properties", "currentVersion", current);
    if rec.failed && now >= rec.busy_until {
        let msg = util::str_at(&rec.body, "/properties/failure")
            .unwrap_or("The extension operation failed.")
            .to_string();
        util::set_at(
            v,
            "/properties",
            "errorInfo",
            json!({"code": "ExtensionOperationFailed", "message": msg}),
        );
    }
    if let Some(p) = v.get_mut("properties").and_then(Value::as_object_mut) {
        p.remove("failure");
    }
}

fn not_found(name: &str) -> ArmError {
    ArmError::new(
        404,
        "ResourceNotFound",
        format!(
            "The Resource 'Microsoft.KubernetesConfiguration/extensions/{name}' was not found."
        ),
    )
}

/// The cluster record an extension path names, if it exists and is not being deleted.
fn cluster_of<'a>(ctx: &'a Ctx, cluster: &str) -> ArmResult<&'a Record> {
    let rec = ctx
        .st
        .get(cluster)
        .filter(|r| r.kind == Kind::ManagedCluster && r.deleting_until.is_none());
    rec.ok_or_else(|| {
        let segs: Vec<&str> = cluster.split('/').collect();
        let name = segs.last().copied().unwrap_or_default();
        let rg = segs.get(4).copied().unwrap_or_default();
        ArmError::resource_not_found("Microsoft.ContainerService/managedClusters", name, rg)
    })
}

/// Every request below a cluster's extensions.
pub fn handle(
    ctx: &mut Ctx,
    method: &str,
    sub: &str,
    p: &ExtPath,
    body: Option<Value>,
) -> ArmResult<Reply> {
    let v = ctx.query("api-version").unwrap_or_default().to_string();
    if v != API {
        return Err(ArmError::bad_request(
            "NoRegisteredProviderFound",
            format!(
                "No registered resource provider found for API version '{v}' and type 'extensions'. The supported api-versions are '{API}'."
            ),
        ));
    }
    let cluster = cluster_of(ctx, &p.cluster)?.id.clone();
    let Some(name) = &p.name else {
        if method != "GET" {
            return Err(ArmError::new(
                405,
                "MethodNotAllowed",
                "Only GET is allowed on the extension collection.",
            ));
        }
        let prefix = format!("{}{MARKER}/", cluster.to_ascii_lowercase());
        let value: Vec<Value> = ctx
            .st
            .resources()
            .iter()
            .filter(|(k, r)| k.starts_with(&prefix) && r.deleting_until.is_none())
            .map(|(_, r)| super::render(ctx.st, r, ctx.now))
            .collect();
        return Ok(Reply::json(200, util::list_body(value, Some(Value::Null))));
    };
    let id = format!("{cluster}/providers/Microsoft.KubernetesConfiguration/extensions/{name}");
    if let Some(op) = &p.op {
        return poll(ctx, &id, op);
    }
    match method {
        "GET" => {
            let rec = ctx.st.get(&id).ok_or_else(|| not_found(name))?;
            Ok(Reply::json(200, super::render(ctx.st, rec, ctx.now)))
        }
        "DELETE" => match ctx.st.resources_mut().remove(&id.to_ascii_lowercase()) {
            // The recording's answer, verbatim (a serialised HTTP message).
            Some(_) => Ok(Reply::json(
                200,
                json!({"version": "1.1", "content": {"headers": []}, "statusCode": 200, "reasonPhrase": "OK", "headers": [], "trailingHeaders": [], "requestMessage": null, "isSuccessStatusCode": true}),
            )),
            None => Ok(Reply::empty(204)),
        },
        "PUT" => put(ctx, sub, &cluster, &id, name, body.unwrap_or(Value::Null)),
        _ => Err(ArmError::new(
            405,
            "MethodNotAllowed",
            format!("The requested method '{method}' is not allowed for this resource."),
        )),
    }
}

/// `OperationStatus_Get`: 200 with the operation's status.
fn poll(ctx: &mut Ctx, id: &str, op_id: &str) -> ArmResult<Reply> {
    let op: Operation = ctx.st.operations.get(op_id).cloned().ok_or_else(|| {
        ArmError::new(
            404,
            "OperationNotFound",
            format!("The operation '{op_id}' could not be found."),
        )
    })?;
    let status = op.status(ctx.now);
    let mut b = json!({
        "id": format!("{id}/operations/{op_id}"),
        "name": op_id,
        "status": status,
        "properties": {},
        "error": null,
    });
    if status == "Failed"
        && let Some((code, message)) = &op.error
    {
        util::set_at(
            &mut b,
            "",
            "error",
            json!({"code": code, "message": message}),
        );
    }
    let mut reply = Reply::json(200, b);
    if status == "InProgress" {
        reply.headers.extend(ctx.cadence(10.0).headers(true));
    }
    Ok(reply)
}

fn put(
    ctx: &mut Ctx,
    sub: &str,
    cluster: &str,
    id: &str,
    name: &str,
    body: Value,
) -> ArmResult<Reply> {
    let props = body
        .get("properties")
        .filter(|p| p.is_object())
        .cloned()
        .ok_or_else(|| {
            ArmError::invalid_content("Required property 'properties' not found in JSON")
        })?;
    let ext_type = util::str_at(&props, "/extensionType")
        .ok_or_else(|| {
            ArmError::bad_request(
                "InvalidExtensionType",
                "The extensionType property is required.",
            )
        })?
        .to_string();
    let existing = ctx.st.get(id).cloned();
    if let Some(old) = &existing {
        let was = util::str_at(&old.body, "/properties/extensionType").unwrap_or_default();
        if !was.eq_ignore_ascii_case(&ext_type) {
            return Err(ArmError::bad_request(
                "InvalidExtensionUpdate",
                format!(
                    "The extensionType of extension '{name}' cannot be changed from '{was}' to '{ext_type}'."
                ),
            ));
        }
        if old.busy(ctx.now) {
            return Err(ArmError::new(
                409,
                "Conflict",
                format!("An operation on extension '{name}' is already in progress."),
            ));
        }
    }
    let settings = match props.get("configurationSettings") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) if m.values().all(Value::is_string) => m.clone(),
        Some(_) => {
            return Err(ArmError::invalid_content(
                "configurationSettings values must be strings",
            ));
        }
    };
    let train = props
        .get("releaseTrain")
        .cloned()
        .unwrap_or_else(|| json!("Stable"));
    let auto = props
        .get("autoUpgradeMinorVersion")
        .cloned()
        .unwrap_or(json!(true));
    // The Azure ML extension's own rules, on the settings exactly as sent.
    let mut failure = None;
    if ext_type.eq_ignore_ascii_case(AZUREML) {
        let word = |k: &str| settings.get(k).and_then(Value::as_str);
        let yes =
            |k: &str, default: bool| word(k).map_or(default, |v| v.eq_ignore_ascii_case("true"));
        if yes("enableInference", false) {
            check_enum(
                settings
                    .get("inferenceRouterServiceType")
                    .unwrap_or(&Value::Null),
                "inferenceRouterServiceType",
                &["LoadBalancer", "NodePort", "ClusterIP"],
            )?
            .ok_or_else(|| {
                ArmError::bad_request(
                    "InvalidConfigurationSettings",
                    "inferenceRouterServiceType is required when enableInference is True: specify inferenceRouterServiceType=ClusterIP|NodePort|LoadBalancer (and internalLoadBalancerProvider=azure for an internal load balancer).",
                )
            })?;
            let nodes = cluster_of(ctx, cluster)
                .ok()
                .and_then(|c| c.body.pointer("/properties/agentPoolProfiles/0/count"))
                .and_then(Value::as_i64)
                .unwrap_or(1);
            if yes("inferenceRouterHA", true) && nodes < 3 {
                failure = Some(format!(
                    "Helm install of the inference router failed: 3 replicas (inferenceRouterHA) cannot be scheduled on {nodes} node(s); set inferenceRouterHA=False or add nodes."
                ));
            }
        }
    }
    let mut p = Map::new();
    p.insert("extensionType".into(), json!(ext_type));
    p.insert("autoUpgradeMinorVersion".into(), auto);
    p.insert("releaseTrain".into(), train);
    p.insert(
        "version".into(),
        props.get("version").cloned().unwrap_or(Value::Null),
    );
    p.insert("currentVersion".into(), Value::Null);
    p.insert(
        "scope".into(),
        props
            .get("scope")
            .cloned()
            .unwrap_or_else(|| json!({"cluster": {"releaseNamespace": name}})),
    );
    p.insert("configurationSettings".into(), Value::Object(settings));
    // `configurationProtectedSettings`: never kept, never returned (x-ms-secret).
    p.insert("statuses".into(), json!([]));
    p.insert("aksAssignedIdentity".into(), Value::Null);
    p.insert("isSystemExtension".into(), json!(false));
    if let Some(f) = &failure {
        p.insert("failure".into(), json!(f));
    }
    let stored = json!({
        "id": id,
        "name": name,
        "type": "Microsoft.KubernetesConfiguration/extensions",
        "properties": Value::Object(p),
    });
    let secs = match &existing {
        Some(_) => 60.0,
        None => DEF.create.typical,
    };
    let until = ctx.now + ctx.scaled(secs);
    let failed = failure.is_some() || ctx.fail_lro.is_some();
    let rg = id.split('/').nth(4).unwrap_or_default().to_string();
    let transitional = if existing.is_some() {
        "Updating"
    } else {
        "Creating"
    };
    ctx.st.resources_mut().insert(
        id.to_ascii_lowercase(),
        Record {
            id: id.to_string(),
            kind: Kind::ClusterExtension,
            sub: sub.to_string(),
            rg,
            body: stored,
            created: existing.as_ref().map_or(ctx.now, |r| r.created),
            modified: ctx.now,
            busy_until: until,
            transitional: transitional.into(),
            failed,
            deleting_until: None,
            etag: util::weak_etag(),
        },
    );
    let op = util::guid();
    let error = failure
        .map(|m| ("ExtensionOperationFailed".to_string(), m))
        .or_else(|| ctx.fail_lro.clone());
    ctx.st.operations.insert(
        op.clone(),
        Operation {
            resource_key: id.to_ascii_lowercase(),
            start: ctx.now,
            until,
            error,
            delete: false,
        },
    );
    let rec = ctx.st.get(id).cloned().ok_or_else(|| not_found(name))?;
    let reply = Reply::json(
        if existing.is_some() { 200 } else { 201 },
        super::render(ctx.st, &rec, ctx.now),
    );
    let ao = format!("{}{id}/operations/{op}?api-Version={API}", ctx.base);
    let mut reply = reply
        .header("Azure-AsyncOperation", ao)
        .header("x-ms-async-operation-timeout", "PT48H");
    reply.headers.extend(ctx.cadence(10.0).headers(true));
    Ok(reply)
}
