//! Microsoft.ContainerService: managed clusters — network range rules, defaults of
//! api-version 2024-08-01, `/resourcegroups/` id casing and secrets that are never returned.

use super::subnet::subnet_cidrs;
use super::{KindDef, check_enum, check_tags, patch_tags, require_location};
use crate::ctx::{Ctx, Span};
use crate::errors::{ArmError, ArmResult};
use crate::kind::{Kind, ResPath};
use crate::lro::{self, LroStyle, PollUrls};
use crate::reply::Reply;
use crate::store::{Record, State};
use crate::util::{self, Cidr};
use serde_json::{Map, Value, json};

/// AKS managed clusters.
pub const DEF: KindDef = KindDef {
    kind: Kind::ManagedCluster,
    put,
    patch: patch_tags,
    delete,
    render,
    refs,
    lro: Some(LRO),
    // Recordings (azure-cli acs/*.yaml, 4 cluster PUTs): 271, 456 and 515 s from the PUT to
    // the `Succeeded` poll (startTime → endTime in the status bodies agree), and 122 s for the
    // one in test_aks_abort.yaml, which an abort cut short. Fitted to 240–600 s.
    create: Span::new(300.0, 240.0, 600.0),
    variants: &[],
    delete_secs: 180.0,
};

/// `…/operations/{id}` and `…/operationresults/{id}` at the poll api-version 2016-03-30
/// (not the request's); the status body has `name`, `startTime` and `endTime`.
const LRO: LroStyle = LroStyle {
    urls: PollUrls::Provider {
        ns: "Microsoft.ContainerService",
        async_op: ("operations", "api-version=2016-03-30"),
        location: ("operationresults", "api-version=2016-03-30"),
    },
    retry_after: 30.0,
    retry_bounds: None,
    status_name: true,
    status_times: true,
    percent_complete: false,
    delete_done: 204,
    running: "InProgress",
};

fn delete(ctx: &mut Ctx, rp: &ResPath) -> ArmResult<Reply> {
    lro::async_delete(ctx, rp, &LRO, DEF.delete_secs)
}

/// A cluster points at the subnets of its agent pools.
fn refs(rec: &Record) -> Vec<String> {
    rec.body
        .pointer("/properties/agentPoolProfiles")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| p.get("vnetSubnetID").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

const K8S_VERSION: &str = "1.29.7";
const NODE_IMAGE: &str = "AKSUbuntu-2204gen2containerd-202409.04.0";

/// Computed parts of a cluster body: the provisioning state, also on every agent pool.
fn render(_st: &State, rec: &Record, v: &mut Value, now: f64) {
    let state = rec.state(now);
    util::set_at(v, "/properties", "provisioningState", json!(state));
    if let Some(Value::Array(pools)) = v.pointer_mut("/properties/agentPoolProfiles") {
        for p in pools {
            util::set_at(p, "", "provisioningState", json!(state));
        }
    }
}

fn invalid(target: &str, message: String) -> ArmError {
    ArmError::bad_request("InvalidParameter", message).target(target)
}

fn pools(ctx: &Ctx, list: &Value, plugin: &str) -> ArmResult<(Vec<Value>, Vec<Cidr>)> {
    let arr = list.as_array().filter(|a| !a.is_empty()).ok_or_else(|| {
        invalid("agentPoolProfiles", "The value of parameter agentPoolProfiles is invalid. At least one agent pool is required.".into())
    })?;
    let mut out = Vec::new();
    let mut subnets = Vec::new();
    let mut has_system = false;
    for p in arr {
        let name = p.get("name").and_then(Value::as_str).ok_or_else(|| {
            ArmError::invalid_content(
                "Required property 'name' not found in JSON for an agent pool",
            )
        })?;
        let name_ok = (1..=12).contains(&name.len())
            && name.starts_with(|c: char| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
        if !name_ok {
            return Err(invalid(
                "agentPoolProfiles.name",
                format!(
                    "The agent pool name '{name}' is invalid. It must start with a lowercase letter, have max length of 12, and only have characters a-z0-9."
                ),
            ));
        }
        let mode = check_enum(
            p.get("mode").unwrap_or(&Value::Null),
            "mode",
            &["System", "User"],
        )?
        .unwrap_or_else(|| "System".into());
        has_system |= mode == "System";
        let mut q: Map<String, Value> = p.as_object().cloned().unwrap_or_default();
        if let Some(s) = p.get("vnetSubnetID").and_then(Value::as_str) {
            let cidrs = subnet_cidrs(ctx.st, s)
                .filter(|_| ctx.st.get(s).is_some_and(|r| r.deleting_until.is_none()))
                .ok_or_else(|| {
                    invalid(
                        "agentPoolProfiles.vnetSubnetID",
                        format!("The subnet '{s}' of agent pool '{name}' was not found."),
                    )
                })?;
            subnets.extend(cidrs);
        }
        let count = p.get("count").and_then(Value::as_i64).unwrap_or(1);
        let default_pods = if plugin == "azure" { 30 } else { 110 };
        let os_disk = p
            .get("osDiskSizeGB")
            .and_then(Value::as_i64)
            .filter(|n| *n > 0)
            .unwrap_or(128);
        q.insert("count".into(), json!(count));
        q.insert(
            "vmSize".into(),
            p.get("vmSize").cloned().unwrap_or(json!("Standard_DS2_v2")),
        );
        q.insert("osDiskSizeGB".into(), json!(os_disk));
        for (f, d) in [
            ("osDiskType", json!("Managed")),
            ("kubeletDiskType", json!("OS")),
            ("maxPods", json!(default_pods)),
            ("type", json!("VirtualMachineScaleSets")),
            ("enableAutoScaling", json!(false)),
            ("scaleDownMode", json!("Delete")),
            ("orchestratorVersion", json!(K8S_VERSION)),
            ("enableNodePublicIP", json!(false)),
            ("enableEncryptionAtHost", json!(false)),
            ("enableUltraSSD", json!(false)),
            ("enableFIPS", json!(false)),
            ("osType", json!("Linux")),
            ("osSKU", json!("Ubuntu")),
            ("upgradeSettings", json!({"maxSurge": "10%"})),
        ] {
            if q.get(f)
                .is_none_or(|v| v.is_null() || v.as_str() == Some(""))
            {
                q.insert(f.into(), d);
            }
        }
        q.insert("mode".into(), json!(mode));
        let ver = q
            .get("orchestratorVersion")
            .cloned()
            .unwrap_or(json!(K8S_VERSION));
        q.insert("currentOrchestratorVersion".into(), ver);
        q.insert("nodeImageVersion".into(), json!(NODE_IMAGE));
        q.insert("powerState".into(), json!({"code": "Running"}));
        out.push(Value::Object(q));
    }
    if !has_system {
        return Err(invalid("agentPoolProfiles", "The value of parameter agentPoolProfiles is invalid. At least one agent pool with mode 'System' is required.".into()));
    }
    Ok((out, subnets))
}

fn network_profile(np: &Value, subnets: &[Cidr]) -> ArmResult<Value> {
    let plugin = check_enum(
        np.get("networkPlugin").unwrap_or(&Value::Null),
        "networkPlugin",
        &["azure", "kubenet", "none"],
    )?
    .unwrap_or_else(|| "kubenet".into());
    let mut out: Map<String, Value> = np.as_object().cloned().unwrap_or_default();
    out.remove("dockerBridgeCidr");
    let service = np
        .get("serviceCidr")
        .and_then(Value::as_str)
        .unwrap_or("10.0.0.0/16")
        .to_string();
    let svc = Cidr::parse(&service).map_err(|_| {
        invalid(
            "networkProfile.serviceCidr",
            format!("The value of parameter networkProfile.serviceCidr '{service}' is invalid."),
        )
    })?;
    for s in subnets {
        if s.overlaps(&svc) {
            return Err(ArmError::bad_request(
                "ServiceCidrOverlapExistingSubnetsCidr",
                format!("The specified service CIDR {service} is conflicted with an existing subnet CIDR {s}"),
            )
            .target("networkProfile.serviceCidr"));
        }
    }
    let dns = np
        .get("dnsServiceIP")
        .and_then(Value::as_str)
        .unwrap_or("10.0.0.10")
        .to_string();
    let in_range = dns
        .parse::<std::net::Ipv4Addr>()
        .is_ok_and(|ip| svc.contains_ip(ip) && u32::from(ip) != svc.base);
    if !in_range {
        return Err(ArmError::bad_request(
            "InvalidDNSServiceIP",
            format!("The DNS service IP {dns} is not within the service CIDR {service}."),
        )
        .target("networkProfile.dnsServiceIP"));
    }
    out.insert("networkPlugin".into(), json!(plugin));
    out.insert("serviceCidr".into(), json!(service));
    out.insert("dnsServiceIP".into(), json!(dns));
    out.insert("serviceCidrs".into(), json!([service]));
    if plugin == "kubenet" {
        let pod = np
            .get("podCidr")
            .and_then(Value::as_str)
            .unwrap_or("10.244.0.0/16")
            .to_string();
        out.insert("podCidr".into(), json!(pod));
        out.insert("podCidrs".into(), json!([pod]));
    }
    if plugin == "azure" && out.get("networkDataplane").is_none() {
        out.insert("networkDataplane".into(), json!("azure"));
    }
    if out.get("outboundType").is_none() {
        out.insert("outboundType".into(), json!("loadBalancer"));
    }
    let sku = np
        .get("loadBalancerSku")
        .and_then(Value::as_str)
        .unwrap_or("standard");
    out.insert("loadBalancerSku".into(), json!(sku.to_ascii_lowercase()));
    if out.get("loadBalancerProfile").is_none()
        && out.get("outboundType").and_then(Value::as_str) == Some("loadBalancer")
    {
        out.insert(
            "loadBalancerProfile".into(),
            json!({"managedOutboundIPs": {"count": 1}, "backendPoolType": "NodeIPConfiguration"}),
        );
    }
    if out.get("ipFamilies").is_none() {
        out.insert("ipFamilies".into(), json!(["IPv4"]));
    }
    Ok(Value::Object(out))
}

/// PUT of a managed cluster: 201/200 + Azure-AsyncOperation.
fn put(ctx: &mut Ctx, rp: &ResPath, mut body: Value) -> ArmResult<Reply> {
    let loc = require_location(&mut body)?;
    check_tags(&mut body)?;
    let name = rp.name().to_string();
    let props = body.get("properties").cloned().ok_or_else(|| {
        ArmError::invalid_content("Required property 'properties' not found in JSON")
    })?;
    let existing = ctx.st.get(&rp.id()).cloned();
    let np_in = props.get("networkProfile").cloned().unwrap_or(json!({}));
    let plugin = np_in
        .get("networkPlugin")
        .and_then(Value::as_str)
        .unwrap_or("kubenet")
        .to_ascii_lowercase();
    let (pool_list, subnets) = pools(
        ctx,
        props.get("agentPoolProfiles").unwrap_or(&Value::Null),
        &plugin,
    )?;
    let np = network_profile(&np_in, &subnets)?;
    if let Some(old) = &existing {
        for f in ["serviceCidr", "dnsServiceIP", "networkPlugin"] {
            let before = old.body.pointer(&format!("/properties/networkProfile/{f}"));
            if before.is_some() && before != np.get(f) {
                return Err(ArmError::bad_request(
                    "PropertyChangeNotAllowed",
                    format!("Changing property 'networkProfile.{f}' is not allowed."),
                )
                .target(&format!("networkProfile.{f}")));
            }
        }
    }
    let identity = body.get("identity").filter(|v| v.is_object()).cloned();
    let sp = props
        .get("servicePrincipalProfile")
        .filter(|v| v.is_object())
        .cloned();
    // Without a service principal the service gives the cluster a system-assigned identity.
    let identity = match (&identity, &sp) {
        (None, None) => existing
            .as_ref()
            .and_then(|r| r.body.get("identity").cloned())
            .or_else(|| Some(json!({"type": "SystemAssigned"}))),
        _ => identity,
    };
    let dns_prefix = props
        .get("dnsPrefix")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| {
            existing
                .as_ref()
                .and_then(|r| util::str_at(&r.body, "/properties/dnsPrefix").map(str::to_string))
        })
        .unwrap_or_else(|| {
            format!(
                "{}-{}-{}",
                name.chars().take(10).collect::<String>(),
                rp.rg.chars().take(16).collect::<String>(),
                &rp.sub[..6.min(rp.sub.len())]
            )
        });
    let hash = format!(
        "{:08x}",
        util::stable_hash(&rp.id().to_ascii_lowercase()) as u32
    );
    let version = props
        .get("kubernetesVersion")
        .and_then(Value::as_str)
        .filter(|v| !v.is_empty())
        .unwrap_or(K8S_VERSION)
        .to_string();
    let mut p: Map<String, Value> = props.as_object().cloned().unwrap_or_default();
    p.remove("provisioningState");
    p.insert("powerState".into(), json!({"code": "Running"}));
    p.insert("kubernetesVersion".into(), json!(version));
    p.insert("currentKubernetesVersion".into(), json!(version));
    p.insert("dnsPrefix".into(), json!(dns_prefix));
    let private = props
        .pointer("/apiServerAccessProfile/enablePrivateCluster")
        .and_then(Value::as_bool)
        == Some(true);
    if private {
        p.insert(
            "privateFQDN".into(),
            json!(format!(
                "{dns_prefix}-{hash}.{hash}.privatelink.{loc}.azmk8s.io"
            )),
        );
    } else {
        p.insert(
            "fqdn".into(),
            json!(format!("{dns_prefix}-{hash}.hcp.{loc}.azmk8s.io")),
        );
        p.insert(
            "azurePortalFQDN".into(),
            json!(format!("{dns_prefix}-{hash}.portal.hcp.{loc}.azmk8s.io")),
        );
    }
    p.insert("agentPoolProfiles".into(), Value::Array(pool_list));
    let mut sp_out = sp.unwrap_or(json!({"clientId": "msi"}));
    if let Some(o) = sp_out.as_object_mut() {
        o.remove("secret");
    }
    p.insert("servicePrincipalProfile".into(), sp_out);
    if let Some(Value::Object(w)) = p.get_mut("windowsProfile") {
        w.remove("adminPassword");
    }
    if let Some(Value::Object(a)) = p.get_mut("aadProfile") {
        a.remove("serverAppSecret");
    }
    p.insert(
        "nodeResourceGroup".into(),
        props
            .get("nodeResourceGroup")
            .cloned()
            .unwrap_or(json!(format!("MC_{}_{}_{}", rp.rg, name, loc))),
    );
    p.insert(
        "enableRBAC".into(),
        props.get("enableRBAC").cloned().unwrap_or(json!(true)),
    );
    p.insert(
        "supportPlan".into(),
        props
            .get("supportPlan")
            .cloned()
            .unwrap_or(json!("KubernetesOfficial")),
    );
    p.insert("networkProfile".into(), np);
    p.insert("maxAgentPools".into(), json!(100));
    for (f, d) in [
        (
            "autoUpgradeProfile",
            json!({"nodeOSUpgradeChannel": "NodeImage"}),
        ),
        ("disableLocalAccounts", json!(false)),
        ("securityProfile", json!({})),
        (
            "storageProfile",
            json!({"diskCSIDriver": {"enabled": true}, "fileCSIDriver": {"enabled": true}, "snapshotController": {"enabled": true}}),
        ),
        ("oidcIssuerProfile", json!({"enabled": false})),
        ("workloadAutoScalerProfile", json!({})),
    ] {
        if p.get(f).is_none_or(Value::is_null) {
            p.insert(f.into(), d);
        }
    }
    let identity_out = match identity {
        Some(i) => {
            let t = check_enum(
                i.get("type").unwrap_or(&Value::Null),
                "identity.type",
                &["SystemAssigned", "UserAssigned", "None"],
            )?;
            let mut i = i.clone();
            if t.as_deref() == Some("SystemAssigned") {
                let keep = existing
                    .as_ref()
                    .and_then(|r| r.body.get("identity"))
                    .filter(|o| o.get("principalId").is_some());
                i = match keep {
                    Some(old) => old.clone(),
                    None => super::storage::identity(&i),
                };
            }
            p.insert(
                "identityProfile".into(),
                json!({"kubeletidentity": {
                    "resourceId": format!("/subscriptions/{}/resourcegroups/MC_{}_{}_{}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{}-agentpool", rp.sub, rp.rg, name, loc, name),
                    "clientId": util::guid(),
                    "objectId": util::guid()
                }}),
            );
            Some(i)
        }
        None => None,
    };
    p.insert(
        "resourceUID".into(),
        existing
            .as_ref()
            .and_then(|r| r.body.pointer("/properties/resourceUID").cloned())
            .unwrap_or_else(|| json!(format!("{:024x}", util::stable_hash(&util::guid()) as u128))),
    );
    // AKS writes its own ids with a lower-case `resourcegroups` segment.
    let id = format!(
        "/subscriptions/{}/resourcegroups/{}/providers/Microsoft.ContainerService/managedClusters/{name}",
        rp.sub, rp.rg
    );
    let mut stored = json!({"id": id, "location": loc, "name": name, "type": Kind::ManagedCluster.info().type_name});
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
            .unwrap_or(json!({"name": "Base", "tier": "Free"})),
    );
    if let Some(i) = identity_out {
        util::set_at(&mut stored, "", "identity", i);
    }
    if let Some(e) = body.get("extendedLocation").filter(|v| v.is_object()) {
        util::set_at(&mut stored, "", "extendedLocation", e.clone());
    }
    util::set_at(&mut stored, "", "properties", Value::Object(p));
    let secs = if existing.is_some() {
        60.0
    } else {
        ctx.secs(DEF.create, rp, "put")
    };
    let created = ctx.commit(
        rp,
        stored,
        secs,
        if existing.is_some() {
            "Updating"
        } else {
            "Creating"
        },
    );
    let op = lro::start_op(ctx, &rp.id(), secs, false);
    let rec = ctx
        .st
        .get(&rp.id())
        .cloned()
        .ok_or_else(|| ArmError::new(500, "InternalServerError", "An error occurred."))?;
    let reply = Reply::json(
        if created { 201 } else { 200 },
        super::render(ctx.st, &rec, ctx.now),
    );
    Ok(lro::with_async_headers(
        ctx, reply, &LRO, &rp.sub, &loc, &op, false,
    ))
}
