//! Microsoft.Storage: storage accounts — global names, 202 + Location creation, PATCH of
//! whole `networkAcls` objects, and the server defaults of api-version 2023-05-01.

use super::subnet::subnet_endpoint;
use super::{
    KindDef, check_enum, check_tags, no_refs, require_location, sync_delete, with_identity,
};
use crate::ctx::{Ctx, Span};
use crate::errors::{ArmError, ArmResult};
use crate::kind::{Kind, ResPath};
use crate::lro::{self, LroStyle, PollUrls};
use crate::reply::Reply;
use crate::store::{Record, State};
use crate::util;
use serde_json::{Map, Value, json};

/// Storage accounts.
pub const DEF: KindDef = KindDef {
    kind: Kind::StorageAccount,
    put,
    patch,
    // DELETE is synchronous (BEHAVIOR.md §1.1).
    delete: sync_delete,
    render,
    refs: no_refs,
    lro: Some(LRO),
    // Recordings (azure-cli storage/test_create_storage_account.yaml and
    // test_storage_account_service_endpoints.yaml, 4 creates): 17–18 s from the PUT to the
    // final 200 of the `asyncoperations` poll. The range is widened to 15–30 s for the larger
    // SKUs (GRS/ZRS), which take longer in the portal's own figures.
    create: Span::new(25.0, 15.0, 30.0),
    variants: &[],
    delete_secs: 0.0,
};

/// `Location` only, on `…/asyncoperations/{id}?monitor=true`; the final poll returns the account.
const LRO: LroStyle = LroStyle {
    urls: PollUrls::Provider {
        ns: "Microsoft.Storage",
        async_op: ("asyncoperations", "monitor=true&api-version=2023-05-01"),
        location: ("asyncoperations", "monitor=true&api-version=2023-05-01"),
    },
    retry_after: 17.0,
    retry_bounds: None,
    status_name: false,
    status_times: false,
    percent_complete: false,
    delete_done: 204,
    running: "InProgress",
};

const SKUS: &[&str] = &[
    "Standard_LRS",
    "Standard_GRS",
    "Standard_RAGRS",
    "Standard_ZRS",
    "Premium_LRS",
    "Premium_ZRS",
    "Standard_GZRS",
    "Standard_RAGZRS",
];
const KINDS: &[&str] = &[
    "Storage",
    "StorageV2",
    "BlobStorage",
    "FileStorage",
    "BlockBlobStorage",
];

/// Request properties that are echoed into the stored body.
const PASSTHROUGH: &[&str] = &[
    "allowedCopyScope",
    "publicNetworkAccess",
    "sasPolicy",
    "keyPolicy",
    "customDomain",
    "azureFilesIdentityBasedAuthentication",
    "isSftpEnabled",
    "isLocalUserEnabled",
    "enableExtendedGroups",
    "isHnsEnabled",
    "largeFileSharesState",
    "routingPreference",
    "allowSharedKeyAccess",
    "isNfsV3Enabled",
    "defaultToOAuthAuthentication",
    "immutableStorageWithVersioning",
    "dnsEndpointType",
];

/// Fills in the computed parts.
fn render(_st: &State, rec: &Record, v: &mut Value, now: f64) {
    let state = rec.state(now);
    let s = if state == "Updating" {
        "Succeeded"
    } else {
        state
    };
    util::set_at(v, "/properties", "provisioningState", json!(s));
}

fn check_name(name: &str) -> ArmResult<()> {
    let ok = (3..=24).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(ArmError::bad_request(
            "AccountNameInvalid",
            format!(
                "{name} is not a valid storage account name. Storage account name must be between 3 and 24 characters in length and use numbers and lower-case letters only."
            ),
        ))
    }
}

/// Validates and normalises `networkAcls`.
fn network_acls(ctx: &Ctx, acls: &Value) -> ArmResult<Value> {
    let default_action = check_enum(
        acls.get("defaultAction").unwrap_or(&Value::Null),
        "defaultAction",
        &["Allow", "Deny"],
    )?
    .ok_or_else(|| {
        ArmError::invalid_content(
            "Required property 'defaultAction' not found in JSON for 'networkAcls'",
        )
    })?;
    let bypass = acls
        .get("bypass")
        .and_then(Value::as_str)
        .unwrap_or("AzureServices");
    let mut out = Map::new();
    out.insert("bypass".into(), json!(bypass));
    if let Some(r) = acls.get("resourceAccessRules").filter(|v| v.is_array()) {
        out.insert("resourceAccessRules".into(), r.clone());
    }
    let mut vnet_rules = Vec::new();
    for r in acls
        .get("virtualNetworkRules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let id = r.get("id").and_then(Value::as_str).ok_or_else(|| {
            ArmError::invalid_content(
                "Required property 'id' not found in JSON for a virtual network rule",
            )
        })?;
        match subnet_endpoint(ctx.st, id, "Microsoft.Storage", ctx.now) {
            None => {
                return Err(ArmError::bad_request(
                    "NetworkAclsValidationFailure",
                    format!(
                        "Validation of network acls failure: SubnetNotFound:Subnet {id} does not exist."
                    ),
                ));
            }
            Some((false, _)) => {
                return Err(ArmError::bad_request(
                    "NetworkAclsValidationFailure",
                    format!(
                        "Validation of network acls failure: SubnetsHaveNoServiceEndpointsConfigured:Subnets {id} do not have ServiceEndpoints for Microsoft.Storage resources configured. Add Microsoft.Storage to subnet's ServiceEndpoints collection before trying to ACL Microsoft.Storage resources to these subnets.."
                    ),
                ));
            }
            Some((true, true)) => {
                return Err(ArmError::bad_request(
                    "NetworkAclsValidationFailure",
                    format!(
                        "Validation of network acls failure: SubnetsNotProvisioned:Subnets {id} are not provisioned. Retry after the subnet provisioning completes."
                    ),
                ));
            }
            Some((true, false)) => {}
        }
        vnet_rules.push(json!({"id": id, "action": "Allow", "state": "Succeeded"}));
    }
    out.insert("virtualNetworkRules".into(), Value::Array(vnet_rules));
    let mut ip_rules = Vec::new();
    for r in acls
        .get("ipRules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let value = r.get("value").and_then(Value::as_str).ok_or_else(|| {
            ArmError::invalid_content("Required property 'value' not found in JSON for an IP rule")
        })?;
        if value.ends_with("/31") || value.ends_with("/32") {
            return Err(ArmError::bad_request(
                "NetworkAclsValidationFailure",
                format!(
                    "Validation of network acls failure: InvalidValue:{value} is not a valid IP rule value. Use the address without /31 or /32."
                ),
            ));
        }
        ip_rules.push(json!({"value": value, "action": "Allow"}));
    }
    out.insert("ipRules".into(), Value::Array(ip_rules));
    out.insert("defaultAction".into(), json!(default_action));
    Ok(Value::Object(out))
}

fn default_acls() -> Value {
    json!({"bypass": "AzureServices", "virtualNetworkRules": [], "ipRules": [], "defaultAction": "Allow"})
}

fn endpoints(name: &str, suffix: &str) -> Value {
    json!({
        "dfs": format!("https://{name}{suffix}.dfs.core.windows.net/"),
        "web": format!("https://{name}{suffix}.z13.web.core.windows.net/"),
        "blob": format!("https://{name}{suffix}.blob.core.windows.net/"),
        "queue": format!("https://{name}{suffix}.queue.core.windows.net/"),
        "table": format!("https://{name}{suffix}.table.core.windows.net/"),
        "file": format!("https://{name}{suffix}.file.core.windows.net/"),
    })
}

fn paired(loc: &str) -> &'static str {
    match loc {
        "eastus" => "westus",
        "eastus2" => "centralus",
        "westus" => "eastus",
        "westus2" => "westcentralus",
        "westeurope" => "northeurope",
        "northeurope" => "westeurope",
        "centralus" => "eastus2",
        _ => "westus",
    }
}

/// PUT: create (202 + Location, empty body) or replace (200 with body).
fn put(ctx: &mut Ctx, rp: &ResPath, mut body: Value) -> ArmResult<Reply> {
    let name = rp.name().to_string();
    check_name(&name)?;
    let loc = require_location(&mut body)?;
    check_tags(&mut body)?;
    let sku = check_enum(
        body.pointer("/sku/name").unwrap_or(&Value::Null),
        "sku.name",
        SKUS,
    )?
    .ok_or_else(|| ArmError::invalid_content("Required property 'sku' not found in JSON"))?;
    let kind = check_enum(body.get("kind").unwrap_or(&Value::Null), "kind", KINDS)?
        .ok_or_else(|| ArmError::invalid_content("Required property 'kind' not found in JSON"))?;
    let id = rp.id();
    if let Some(other) = ctx.st.resources().values().find(|r| {
        r.kind == Kind::StorageAccount
            && r.name().eq_ignore_ascii_case(&name)
            && !r.id.eq_ignore_ascii_case(&id)
    }) {
        let _ = other;
        return Err(ArmError::new(
            409,
            "StorageAccountAlreadyTaken",
            format!("The storage account named {name} is already taken."),
        ));
    }
    let existing = ctx.st.get(&id).cloned();
    if let Some(old) = &existing
        && old.location() != loc
    {
        return Err(ArmError::new(
            409,
            "InvalidResourceLocation",
            format!(
                "The resource '{name}' already exists in location '{}' in resource group '{}'. A resource with the same name cannot be created in location '{loc}'. Please select a new resource name.",
                old.location(),
                rp.rg
            ),
        ));
    }
    let props = body.get("properties").cloned().unwrap_or(Value::Null);
    let acls = match props.get("networkAcls").filter(|v| !v.is_null()) {
        Some(a) => network_acls(ctx, a)?,
        None => default_acls(),
    };
    let created_at = existing.as_ref().map(|r| r.created).unwrap_or(ctx.now);
    let ts = util::timestamp(created_at);
    let tier = if sku.starts_with("Premium") {
        "Premium"
    } else {
        "Standard"
    };
    let mut p = Map::new();
    p.insert("keyCreationTime".into(), json!({"key1": ts, "key2": ts}));
    p.insert("privateEndpointConnections".into(), json!([]));
    for f in PASSTHROUGH {
        if let Some(v) = props.get(*f).filter(|v| !v.is_null()) {
            p.insert((*f).to_string(), v.clone());
        }
    }
    p.insert(
        "minimumTlsVersion".into(),
        props
            .get("minimumTlsVersion")
            .filter(|v| v.is_string())
            .cloned()
            .unwrap_or(json!("TLS1_0")),
    );
    p.insert(
        "allowBlobPublicAccess".into(),
        props
            .get("allowBlobPublicAccess")
            .filter(|v| v.is_boolean())
            .cloned()
            .unwrap_or(json!(false)),
    );
    p.insert(
        "allowCrossTenantReplication".into(),
        props
            .get("allowCrossTenantReplication")
            .filter(|v| v.is_boolean())
            .cloned()
            .unwrap_or(json!(false)),
    );
    p.insert("networkAcls".into(), acls);
    p.insert(
        "supportsHttpsTrafficOnly".into(),
        props
            .get("supportsHttpsTrafficOnly")
            .filter(|v| v.is_boolean())
            .cloned()
            .unwrap_or(json!(true)),
    );
    let mut enc = json!({
        "services": {
            "file": {"keyType": "Account", "enabled": true, "lastEnabledTime": ts},
            "blob": {"keyType": "Account", "enabled": true, "lastEnabledTime": ts}
        },
        "keySource": "Microsoft.Storage"
    });
    if let Some(e) = props.get("encryption").filter(|v| v.is_object()) {
        for f in [
            "keySource",
            "requireInfrastructureEncryption",
            "keyvaultproperties",
            "identity",
        ] {
            if let Some(v) = e.get(f) {
                util::set_at(&mut enc, "", f, v.clone());
            }
        }
    }
    p.insert("encryption".into(), enc);
    if matches!(kind.as_str(), "StorageV2" | "BlobStorage") {
        p.insert(
            "accessTier".into(),
            props
                .get("accessTier")
                .filter(|v| v.is_string())
                .cloned()
                .unwrap_or(json!("Hot")),
        );
    }
    p.insert("primaryEndpoints".into(), endpoints(&name, ""));
    p.insert("primaryLocation".into(), json!(loc));
    p.insert("statusOfPrimary".into(), json!("available"));
    if sku.contains("GRS") || sku.contains("GZRS") {
        p.insert("secondaryLocation".into(), json!(paired(&loc)));
        p.insert("statusOfSecondary".into(), json!("available"));
        if sku.starts_with("Standard_RA") {
            p.insert("secondaryEndpoints".into(), endpoints(&name, "-secondary"));
        }
    }
    p.insert("creationTime".into(), json!(ts));
    let mut stored = json!({"sku": {"name": sku, "tier": tier}, "kind": kind});
    if let Some(i) = body.get("identity").filter(|v| v.is_object()) {
        util::set_at(&mut stored, "", "identity", identity(i));
    }
    if let Some(e) = body.get("extendedLocation") {
        util::set_at(&mut stored, "", "extendedLocation", e.clone());
    }
    util::set_at(&mut stored, "", "location", json!(loc));
    util::set_at(
        &mut stored,
        "",
        "tags",
        body.get("tags").cloned().unwrap_or_else(|| json!({})),
    );
    util::set_at(&mut stored, "", "properties", Value::Object(p));
    let stored = with_identity(rp, stored);
    if existing.is_some() {
        ctx.commit(rp, stored, 0.0, "Succeeded");
        let rec = ctx.st.get(&id).cloned().ok_or_else(internal)?;
        return Ok(Reply::json(200, super::render(ctx.st, &rec, ctx.now)));
    }
    let secs = ctx.secs(DEF.create, rp, "put");
    ctx.commit(rp, stored, secs, "Creating");
    let op = lro::start_op(ctx, &id, secs, false);
    Ok(lro::with_location_header(
        ctx,
        Reply::empty(202),
        &LRO,
        &rp.sub,
        &loc,
        &op,
    ))
}

fn internal() -> ArmError {
    ArmError::new(500, "InternalServerError", "An error occurred.")
}

/// Adds the server-assigned parts of a managed identity.
pub fn identity(i: &Value) -> Value {
    let mut out = i.clone();
    let t = i.get("type").and_then(Value::as_str).unwrap_or("None");
    if t.contains("SystemAssigned") {
        util::set_at(&mut out, "", "principalId", json!(util::guid()));
        util::set_at(
            &mut out,
            "",
            "tenantId",
            json!("72f988bf-86f1-41af-91ab-2d7cd011db47"),
        );
    }
    out
}

/// PATCH: merges into the account; `networkAcls` is replaced as a whole.
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
    if let Some(s) = body.pointer("/sku/name") {
        let sku = check_enum(s, "sku.name", SKUS)?.unwrap_or_default();
        let tier = if sku.starts_with("Premium") {
            "Premium"
        } else {
            "Standard"
        };
        util::set_at(&mut stored, "", "sku", json!({"name": sku, "tier": tier}));
    }
    if let Some(k) = body.get("kind").filter(|k| !k.is_null()) {
        let kind = check_enum(k, "kind", KINDS)?.unwrap_or_default();
        util::set_at(&mut stored, "", "kind", json!(kind));
    }
    if let Some(i) = body.get("identity").filter(|v| v.is_object()) {
        util::set_at(&mut stored, "", "identity", identity(i));
    }
    if let Some(props) = body.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            if v.is_null() {
                continue;
            }
            if k == "networkAcls" {
                let acls = network_acls(ctx, v)?;
                util::set_at(&mut stored, "/properties", "networkAcls", acls);
            } else if k == "encryption" {
                if let Some(ks) = v.get("keySource") {
                    util::set_at(
                        &mut stored,
                        "/properties/encryption",
                        "keySource",
                        ks.clone(),
                    );
                }
            } else if PASSTHROUGH.contains(&k.as_str())
                || matches!(
                    k.as_str(),
                    "minimumTlsVersion"
                        | "allowBlobPublicAccess"
                        | "allowCrossTenantReplication"
                        | "supportsHttpsTrafficOnly"
                        | "accessTier"
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
