//! Microsoft.MachineLearningServices computes: AmlCompute clusters and AKS computes (created by
//! Azure ML or attached), with their subnet and cluster references, and VMs and HDInsight
//! clusters attached over SSH (the credential is checked, never stored or returned).

use super::subnet::subnet_cidrs;
use super::{
    KindDef, check_enum, check_tags, refs_at, render_state, require_location, with_identity,
};
use crate::ctx::{Ctx, Span};
use crate::errors::{ArmError, ArmResult};
use crate::kind::{Kind, ResPath};
use crate::lro::{self, LroStyle, PollUrls};
use crate::reply::Reply;
use crate::store::Record;
use crate::util::{self, Cidr};
use serde_json::{Map, Value, json};

/// Azure ML computes.
pub const DEF: KindDef = KindDef {
    kind: Kind::MlCompute,
    put,
    patch,
    delete,
    render: render_state,
    refs,
    lro: Some(LRO),
    // An AmlCompute cluster (the default compute type).
    create: AML_COMPUTE,
    // No compute create in the recorded corpus; the service documents AmlCompute clusters
    // (no nodes at minimum) at 2–4 minutes and an AKS cluster it creates at 5–15 minutes
    // (here 8–12); attaching an existing cluster takes about a minute.
    variants: &[
        ("AmlCompute", AML_COMPUTE),
        ("AKS", Span::new(600.0, 480.0, 720.0)),
        ("AKS-attach", Span::new(60.0, 30.0, 90.0)),
        // Attaching over SSH: Azure ML logs in once to check the machine.
        ("VirtualMachine", Span::new(40.0, 20.0, 90.0)),
        ("HDInsight", Span::new(40.0, 20.0, 90.0)),
    ],
    delete_secs: 60.0,
};

const AML_COMPUTE: Span = Span::new(180.0, 120.0, 240.0);

/// `…/computeOperationsStatus/{id}` for both headers (`type=location` for `Location`); a
/// finished status carries `percentComplete`.
const LRO: LroStyle = LroStyle {
    urls: PollUrls::Provider {
        ns: "Microsoft.MachineLearningServices",
        async_op: (
            "computeOperationsStatus",
            "api-version=2024-04-01&service=new",
        ),
        location: (
            "computeOperationsStatus",
            "api-version=2024-04-01&service=new&type=location",
        ),
    },
    retry_after: 15.0,
    retry_bounds: Some((10, 600)),
    status_name: false,
    status_times: false,
    percent_complete: true,
    delete_done: 204,
    running: "InProgress",
};

/// A compute points at its subnet.
fn refs(rec: &Record) -> Vec<String> {
    refs_at(
        rec,
        &[
            "/properties/properties/subnet/id",
            "/properties/properties/aksNetworkingConfiguration/subnetId",
        ],
    )
}

/// The create duration of a compute type (`""`: a type the emulator does not model).
fn variant(name: &str) -> Span {
    DEF.variants
        .iter()
        .find(|(v, _)| *v == name)
        .map_or(Span::fixed(0.0), |(_, s)| *s)
}

const COMPUTE_TYPES: &[&str] = &[
    "AKS",
    "Kubernetes",
    "AmlCompute",
    "ComputeInstance",
    "DataFactory",
    "VirtualMachine",
    "HDInsight",
    "Databricks",
    "DataLakeAnalytics",
    "SynapseSpark",
];

fn internal() -> ArmError {
    ArmError::new(500, "InternalServerError", "An error occurred.")
}

fn validation(message: String) -> ArmError {
    ArmError::bad_request("ValidationError", message)
}

fn normalize_scale(s: &Value) -> ArmResult<Value> {
    let max = s
        .get("maxNodeCount")
        .and_then(Value::as_i64)
        .ok_or_else(|| {
            ArmError::invalid_content(
                "Required property 'maxNodeCount' not found in JSON for 'scaleSettings'",
            )
        })?;
    let min = s.get("minNodeCount").and_then(Value::as_i64).unwrap_or(0);
    if min < 0 || max < min {
        return Err(validation(format!(
            "minNodeCount ({min}) must be between 0 and maxNodeCount ({max})."
        )));
    }
    let idle = match s.get("nodeIdleTimeBeforeScaleDown").and_then(Value::as_str) {
        None => "PT2M".to_string(),
        Some(d) => util::format_iso_duration(util::parse_iso_duration(d).ok_or_else(|| {
            validation(format!(
                "nodeIdleTimeBeforeScaleDown '{d}' is not an ISO 8601 duration."
            ))
        })?),
    };
    Ok(json!({"maxNodeCount": max, "minNodeCount": min, "nodeIdleTimeBeforeScaleDown": idle}))
}

fn check_subnet(ctx: &Ctx, id: &str, compute: &str) -> ArmResult<()> {
    let ok = ctx
        .st
        .get(id)
        .is_some_and(|s| s.kind == Kind::Subnet && s.deleting_until.is_none());
    if ok {
        Ok(())
    } else {
        Err(validation(format!(
            "The subnet '{id}' referenced by compute '{compute}' was not found."
        )))
    }
}

fn aml_properties(ctx: &Ctx, name: &str, p: &Value) -> ArmResult<Value> {
    let mut out = Map::new();
    out.insert(
        "osType".into(),
        json!(
            check_enum(
                p.get("osType").unwrap_or(&Value::Null),
                "osType",
                &["Linux", "Windows"]
            )?
            .unwrap_or_else(|| "Linux".into())
        ),
    );
    // The service picks its default size when none is given.
    let vm = p
        .get("vmSize")
        .and_then(Value::as_str)
        .unwrap_or("STANDARD_DS3_V2");
    out.insert("vmSize".into(), json!(vm));
    out.insert(
        "vmPriority".into(),
        json!(
            check_enum(
                p.get("vmPriority").unwrap_or(&Value::Null),
                "vmPriority",
                &["Dedicated", "LowPriority"]
            )?
            .unwrap_or_else(|| "Dedicated".into())
        ),
    );
    out.insert(
        "isolatedNetwork".into(),
        p.get("isolatedNetwork").cloned().unwrap_or(json!(false)),
    );
    let scale = match p.get("scaleSettings").filter(|v| !v.is_null()) {
        Some(s) => normalize_scale(s)?,
        None => {
            json!({"maxNodeCount": 1, "minNodeCount": 0, "nodeIdleTimeBeforeScaleDown": "PT2M"})
        }
    };
    let min = scale.get("minNodeCount").cloned().unwrap_or(json!(0));
    out.insert("scaleSettings".into(), scale);
    if let Some(c) = p.get("userAccountCredentials").filter(|v| v.is_object()) {
        let mut c = c.clone();
        if let Some(o) = c.as_object_mut() {
            o.remove("adminUserPassword");
        }
        out.insert("userAccountCredentials".into(), c);
    }
    if let Some(s) = p.get("subnet").filter(|v| !v.is_null()) {
        let id = s.get("id").and_then(Value::as_str).ok_or_else(|| {
            ArmError::invalid_content("Required property 'id' not found in JSON for 'subnet'")
        })?;
        check_subnet(ctx, id, name)?;
        out.insert("subnet".into(), json!({"id": id}));
    }
    let rl = check_enum(
        p.get("remoteLoginPortPublicAccess").unwrap_or(&Value::Null),
        "remoteLoginPortPublicAccess",
        &["Enabled", "Disabled", "NotSpecified"],
    )?
    .filter(|v| v != "NotSpecified")
    .unwrap_or_else(|| "Enabled".into());
    out.insert("remoteLoginPortPublicAccess".into(), json!(rl));
    out.insert("allocationState".into(), json!("Steady"));
    out.insert(
        "allocationStateTransitionTime".into(),
        json!(util::timestamp(ctx.now)),
    );
    out.insert("currentNodeCount".into(), json!(0));
    out.insert("targetNodeCount".into(), min);
    out.insert(
        "nodeStateCounts".into(),
        json!({"idleNodeCount": 0, "runningNodeCount": 0, "preparingNodeCount": 0, "unusableNodeCount": 0, "leavingNodeCount": 0, "preemptedNodeCount": 0}),
    );
    out.insert(
        "enableNodePublicIp".into(),
        p.get("enableNodePublicIp").cloned().unwrap_or(json!(true)),
    );
    for f in ["virtualMachineImage", "propertyBag"] {
        if let Some(v) = p.get(f).filter(|v| !v.is_null()) {
            out.insert(f.into(), v.clone());
        }
    }
    Ok(Value::Object(out))
}

fn aks_create_properties(ctx: &Ctx, name: &str, p: &Value) -> ArmResult<Value> {
    let mut out = Map::new();
    out.insert(
        "agentCount".into(),
        p.get("agentCount").cloned().unwrap_or(json!(3)),
    );
    out.insert(
        "agentVmSize".into(),
        p.get("agentVmSize")
            .cloned()
            .unwrap_or(json!("Standard_D3_v2")),
    );
    out.insert(
        "clusterPurpose".into(),
        json!(
            check_enum(
                p.get("clusterPurpose").unwrap_or(&Value::Null),
                "clusterPurpose",
                &["FastProd", "DenseProd", "DevTest"]
            )?
            .unwrap_or_else(|| "FastProd".into())
        ),
    );
    if let Some(net) = p.get("aksNetworkingConfiguration").filter(|v| !v.is_null()) {
        let mut n = Map::new();
        let subnet = net.get("subnetId").and_then(Value::as_str);
        if let Some(s) = subnet {
            check_subnet(ctx, s, name)?;
            n.insert("subnetId".into(), json!(s));
        }
        let service = net
            .get("serviceCidr")
            .and_then(Value::as_str)
            .unwrap_or("10.0.0.0/16");
        let svc = Cidr::parse(service).map_err(|_| {
            validation(format!(
                "serviceCidr '{service}' of compute '{name}' is not a valid CIDR."
            ))
        })?;
        if let Some(s) = subnet
            && subnet_cidrs(ctx.st, s).is_some_and(|cs| cs.iter().any(|c| c.overlaps(&svc)))
        {
            return Err(validation(format!(
                "serviceCidr '{service}' of compute '{name}' overlaps the subnet '{s}'."
            )));
        }
        let dns = net
            .get("dnsServiceIP")
            .and_then(Value::as_str)
            .unwrap_or("10.0.0.10");
        let dns_ok = dns
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| svc.contains_ip(ip));
        if !dns_ok {
            return Err(validation(format!(
                "dnsServiceIP '{dns}' of compute '{name}' is not inside serviceCidr '{service}'."
            )));
        }
        n.insert("serviceCidr".into(), json!(service));
        n.insert("dnsServiceIP".into(), json!(dns));
        if let Some(d) = net.get("dockerBridgeCidr") {
            n.insert("dockerBridgeCidr".into(), d.clone());
        }
        out.insert("aksNetworkingConfiguration".into(), Value::Object(n));
    }
    if let Some(ssl) = p.get("sslConfiguration").filter(|v| v.is_object()) {
        let mut ssl = ssl.clone();
        if let Some(o) = ssl.as_object_mut() {
            o.remove("key");
        }
        out.insert("sslConfiguration".into(), ssl);
    }
    for f in ["loadBalancerType", "loadBalancerSubnet", "clusterFqdn"] {
        if let Some(v) = p.get(f).filter(|v| !v.is_null()) {
            out.insert(f.into(), v.clone());
        }
    }
    Ok(Value::Object(out))
}

/// The stored properties of a VM or HDInsight attach. The attached resource must be named by
/// an ID of its type, and the administrator account must carry a user and a credential (a
/// private key or a password). The credential is checked and dropped: it is never stored,
/// so no GET returns it (`Compute_Get` returns no secret; `listKeys` is the only way back,
/// and the emulator does not model it).
fn ssh_attach_properties(
    ctype: &str,
    name: &str,
    resource_id: &str,
    p: &Value,
) -> ArmResult<Value> {
    let want = if ctype == "VirtualMachine" {
        "/providers/microsoft.compute/virtualmachines/"
    } else {
        "/providers/microsoft.hdinsight/clusters/"
    };
    if !resource_id.to_ascii_lowercase().contains(want) {
        return Err(validation(format!(
            "The resource ID '{resource_id}' of compute '{name}' is not a resource of the type {ctype} compute attaches."
        )));
    }
    let account = p
        .get("administratorAccount")
        .filter(|a| a.is_object())
        .ok_or_else(|| {
            validation(format!(
                "Compute '{name}' of type {ctype} needs properties.administratorAccount."
            ))
        })?;
    let text = |k: &str| {
        account
            .get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    let username = text("username").ok_or_else(|| {
        validation(format!(
            "Compute '{name}': administratorAccount.username is required."
        ))
    })?;
    if text("privateKeyData").is_none() && text("password").is_none() {
        return Err(validation(format!(
            "Compute '{name}': administratorAccount needs a privateKeyData or a password."
        )));
    }
    // Azure ML logs in with the key to check the machine: something that is no private key
    // fails the attach (the message never echoes it).
    if let Some(k) = text("privateKeyData")
        && !(k.contains("-----BEGIN") && k.contains("PRIVATE KEY-----"))
    {
        return Err(validation(format!(
            "Compute '{name}': administratorAccount.privateKeyData is not a private key (PEM or OpenSSH)."
        )));
    }
    let mut out = Map::new();
    for f in [
        "address",
        "sshPort",
        "virtualMachineSize",
        "notebookServerPort",
    ] {
        if let Some(v) = p.get(f).filter(|v| !v.is_null()) {
            out.insert(f.into(), v.clone());
        }
    }
    if !out.contains_key("sshPort") {
        out.insert("sshPort".into(), json!(22));
    }
    // The user name comes back; the key and the password never do.
    out.insert(
        "administratorAccount".into(),
        json!({ "username": username }),
    );
    Ok(Value::Object(out))
}

/// PUT of a compute: 201 + Azure-AsyncOperation with the compute in `Creating`.
fn put(ctx: &mut Ctx, rp: &ResPath, mut body: Value) -> ArmResult<Reply> {
    check_tags(&mut body)?;
    let name = rp.name().to_string();
    let ws_id = rp.parent_id().unwrap_or_default();
    let ws_loc = ctx
        .st
        .get(&ws_id)
        .map(|w| w.location().to_string())
        .unwrap_or_default();
    let loc = match body.get("location").and_then(Value::as_str) {
        Some(_) => require_location(&mut body)?,
        None => ws_loc.clone(),
    };
    let props = body.get("properties").cloned().ok_or_else(|| {
        ArmError::invalid_content("Required property 'properties' not found in JSON")
    })?;
    let ctype = check_enum(
        props.get("computeType").unwrap_or(&Value::Null),
        "computeType",
        COMPUTE_TYPES,
    )?
    .ok_or_else(|| {
        ArmError::invalid_content("Required property 'computeType' not found in JSON")
    })?;
    let inner = props.get("properties").cloned().unwrap_or(Value::Null);
    let resource_id = props
        .get("resourceId")
        .and_then(Value::as_str)
        .map(str::to_string);
    let mut p = Map::new();
    p.insert("computeType".into(), json!(ctype));
    p.insert(
        "computeLocation".into(),
        json!(
            props
                .get("computeLocation")
                .and_then(Value::as_str)
                .unwrap_or(&loc)
        ),
    );
    if let Some(d) = props.get("description").filter(|v| v.is_string()) {
        p.insert("description".into(), d.clone());
    }
    let existing = ctx.st.get(&rp.id()).cloned();
    let created_on = existing.as_ref().map(|r| r.created).unwrap_or(ctx.now);
    p.insert("createdOn".into(), json!(util::timestamp(created_on)));
    p.insert("modifiedOn".into(), json!(util::timestamp(ctx.now)));
    let (secs_key, attached, inner_out) = match ctype.as_str() {
        "AmlCompute" => ("AmlCompute", false, aml_properties(ctx, &name, &inner)?),
        "AKS" => match &resource_id {
            Some(cluster) => {
                let c = ctx
                    .st
                    .get(cluster)
                    .filter(|c| c.kind == Kind::ManagedCluster && c.deleting_until.is_none())
                    .cloned()
                    .ok_or_else(|| validation(format!("The AKS cluster '{cluster}' to attach as compute '{name}' was not found.")))?;
                let mut i = Map::new();
                if let Some(f) = c.body.pointer("/properties/fqdn") {
                    i.insert("clusterFqdn".into(), f.clone());
                }
                if let Some(pool) = c.body.pointer("/properties/agentPoolProfiles/0") {
                    i.insert(
                        "agentCount".into(),
                        pool.get("count").cloned().unwrap_or(json!(1)),
                    );
                    i.insert(
                        "agentVmSize".into(),
                        pool.get("vmSize")
                            .cloned()
                            .unwrap_or(json!("Standard_D3_v2")),
                    );
                }
                i.insert(
                    "clusterPurpose".into(),
                    json!(
                        check_enum(
                            inner.get("clusterPurpose").unwrap_or(&Value::Null),
                            "clusterPurpose",
                            &["FastProd", "DenseProd", "DevTest"]
                        )?
                        .unwrap_or_else(|| "FastProd".into())
                    ),
                );
                for f in ["sslConfiguration", "loadBalancerType", "loadBalancerSubnet"] {
                    if let Some(v) = inner.get(f).filter(|v| !v.is_null()) {
                        i.insert(f.into(), v.clone());
                    }
                }
                p.insert("resourceId".into(), json!(c.id));
                ("AKS-attach", true, Value::Object(i))
            }
            None => ("AKS", false, aks_create_properties(ctx, &name, &inner)?),
        },
        "Kubernetes" => {
            // Attaching needs the Azure ML extension installed on the cluster (the
            // extension's install, then the attach: the v2 guide's order).
            let cluster = resource_id.clone().unwrap_or_default();
            let prefix = format!(
                "{}/providers/microsoft.kubernetesconfiguration/extensions/",
                cluster.to_ascii_lowercase()
            );
            let installed = ctx.st.resources().iter().any(|(k, r)| {
                k.starts_with(&prefix)
                    && r.kind == Kind::ClusterExtension
                    && r.state(ctx.now) == "Succeeded"
                    && util::str_at(&r.body, "/properties/extensionType")
                        .is_some_and(|t| t.eq_ignore_ascii_case("microsoft.azureml.kubernetes"))
            });
            if !installed {
                return Err(ArmError::bad_request(
                    "UserError",
                    format!(
                        "Cluster '{cluster}' does not have the Azure Machine Learning extension (microsoft.azureml.kubernetes) installed and succeeded; install it before attaching the cluster as compute '{name}'."
                    ),
                ));
            }
            p.insert("resourceId".into(), json!(cluster));
            ("", true, inner.clone())
        }
        "VirtualMachine" | "HDInsight" => {
            let r = resource_id.as_deref().unwrap_or_default();
            let out = ssh_attach_properties(&ctype, &name, r, &inner)?;
            p.insert("resourceId".into(), json!(r));
            (ctype.as_str(), true, out)
        }
        _ => {
            if let Some(r) = &resource_id {
                p.insert("resourceId".into(), json!(r));
            }
            ("", resource_id.is_some(), inner.clone())
        }
    };
    p.insert("isAttachedCompute".into(), json!(attached));
    if let Some(v) = props.get("disableLocalAuth").filter(|v| v.is_boolean()) {
        p.insert("disableLocalAuth".into(), v.clone());
    }
    if !inner_out.is_null() {
        p.insert("properties".into(), inner_out);
    }
    let mut stored = json!({"location": loc});
    util::set_at(
        &mut stored,
        "",
        "tags",
        body.get("tags").cloned().unwrap_or_else(|| json!({})),
    );
    for f in ["sku", "identity"] {
        if let Some(v) = body.get(f).filter(|v| v.is_object()) {
            let v = if f == "identity" {
                super::storage::identity(v)
            } else {
                v.clone()
            };
            util::set_at(&mut stored, "", f, v);
        }
    }
    util::set_at(&mut stored, "", "properties", Value::Object(p));
    let stored = with_identity(rp, stored);
    let secs = if existing.is_some() {
        10.0
    } else {
        ctx.secs(variant(secs_key), rp, "put").max(5.0)
    };
    let id = rp.id();
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
    let rec = ctx.st.get(&id).cloned().ok_or_else(internal)?;
    let reply = Reply::json(201, super::render(ctx.st, &rec, ctx.now));
    Ok(lro::with_async_headers(
        ctx, reply, &LRO, &rp.sub, &loc, &op, false,
    ))
}

/// PATCH of a compute (scale settings): synchronous 200.
fn patch(ctx: &mut Ctx, rp: &ResPath, body: Value) -> ArmResult<Reply> {
    let id = rp.id();
    let rec = ctx
        .st
        .get(&id)
        .cloned()
        .ok_or_else(|| super::not_found(rp))?;
    let mut stored = rec.body.clone();
    if let Some(s) = body
        .pointer("/properties/properties/scaleSettings")
        .filter(|v| !v.is_null())
    {
        let s = normalize_scale(s)?;
        util::set_at(&mut stored, "/properties/properties", "scaleSettings", s);
    }
    util::set_at(
        &mut stored,
        "/properties",
        "modifiedOn",
        json!(util::timestamp(ctx.now)),
    );
    ctx.commit(rp, stored, 0.0, "Succeeded");
    let rec = ctx.st.get(&id).cloned().ok_or_else(internal)?;
    Ok(Reply::json(200, super::render(ctx.st, &rec, ctx.now)))
}

/// DELETE of a compute: needs `underlyingResourceAction`; 202 + Azure-AsyncOperation only.
fn delete(ctx: &mut Ctx, rp: &ResPath) -> ArmResult<Reply> {
    let action = ctx.query("underlyingResourceAction").map(str::to_string);
    let Some(action) =
        action.filter(|a| a.eq_ignore_ascii_case("Delete") || a.eq_ignore_ascii_case("Detach"))
    else {
        return Err(ArmError::bad_request(
            "MissingRequiredQueryParameter",
            "The query parameter 'underlyingResourceAction' is required and must be 'Delete' or 'Detach'.",
        ));
    };
    let id = rp.id();
    let Some(rec) = ctx.st.get(&id).cloned() else {
        return Ok(Reply::empty(204));
    };
    let secs = DEF.delete_secs;
    let fail = ctx.fail_lro.is_some();
    let op = lro::start_op(ctx, &id, secs, true);
    if !fail {
        let until = ctx.now + ctx.scaled(secs);
        if let Some(r) = ctx.st.get_mut(&id) {
            r.deleting_until = Some(until);
        }
        // `Delete` deletes "the underlying compute" (the definition's
        // `underlyingResourceAction`), an attached AKS cluster included; `Detach` leaves it.
        let attached_aks = util::str_at(&rec.body, "/properties/computeType") == Some("AKS")
            && rec.body.pointer("/properties/isAttachedCompute") == Some(&json!(true));
        if action.eq_ignore_ascii_case("Delete")
            && attached_aks
            && let Some(cluster) = util::str_at(&rec.body, "/properties/resourceId")
        {
            let cluster = cluster.to_string();
            let until = ctx.now + ctx.scaled(super::aks::DEF.delete_secs);
            if let Some(c) = ctx.st.get_mut(&cluster) {
                c.deleting_until = Some(until);
            }
            lro::mark_children_deleting(ctx, &cluster, until, false);
        }
    }
    Ok(lro::with_async_headers(
        ctx,
        Reply::empty(202),
        &LRO,
        &rp.sub,
        rec.location(),
        &op,
        false,
    ))
}
