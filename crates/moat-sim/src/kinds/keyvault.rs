//! Microsoft.KeyVault: vaults — synchronous 200 with `RegisteringDns`, global names, soft
//! delete (deletedVaults, purge, `createMode: recover`) and the lower-casing of vnet rule ids.

use super::resource_group::soft_delete_vault;
use super::subnet::subnet_endpoint;
use super::{
    KindDef, check_enum, check_tags, no_refs, render_state, require_location, with_identity,
};
use crate::ctx::{Ctx, Span, View};
use crate::errors::{ArmError, ArmResult};
use crate::kind::{Kind, ResPath};
use crate::lro::{self, LroStyle, PollUrls};
use crate::reply::Reply;
use crate::util;
use serde_json::{Map, Value, json};

/// Key vaults.
pub const DEF: KindDef = KindDef {
    kind: Kind::KeyVault,
    put,
    patch,
    delete,
    render: render_state,
    refs: no_refs,
    // Vault writes are synchronous; only a purge of a deleted vault is an LRO.
    lro: Some(LRO),
    // Recordings (azure-cli keyvault/test_keyvault_network_rule.yaml, 6 vault PUTs): the 200
    // PUT shows `RegisteringDns`, and the client's next GET, 30–32 s later, finds it
    // `Succeeded` — so DNS registration takes at most ~30 s; 10–30 s here.
    create: Span::new(20.0, 10.0, 30.0),
    variants: &[],
    delete_secs: 0.0,
};

/// Purges poll `…/operationResults/{id}` (`Location` only) and end with 200.
const LRO: LroStyle = LroStyle {
    urls: PollUrls::Provider {
        ns: "Microsoft.KeyVault",
        async_op: ("operationResults", "api-version=2023-07-01"),
        location: ("operationResults", "api-version=2023-07-01"),
    },
    retry_after: 10.0,
    retry_bounds: None,
    status_name: false,
    status_times: false,
    percent_complete: false,
    delete_done: 200,
    running: "InProgress",
};

const RETENTION_DAYS: f64 = 90.0;

fn check_name(name: &str) -> ArmResult<()> {
    let ok = (3..=24).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !name.contains("--");
    if ok {
        Ok(())
    } else {
        Err(ArmError::bad_request(
            "VaultNameNotValid",
            format!(
                "The vault name '{name}' is invalid. A vault's name must be between 3-24 alphanumeric characters. The name must begin with a letter, end with a letter or digit, and not contain consecutive hyphens."
            ),
        ))
    }
}

fn network_acls(ctx: &Ctx, acls: &Value) -> ArmResult<Option<Value>> {
    let default_action = check_enum(
        acls.get("defaultAction").unwrap_or(&Value::Null),
        "defaultAction",
        &["Allow", "Deny"],
    )?
    .unwrap_or_else(|| "Allow".into());
    let bypass = check_enum(
        acls.get("bypass").unwrap_or(&Value::Null),
        "bypass",
        &["AzureServices", "None"],
    )?
    .unwrap_or_else(|| "AzureServices".into());
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
        let value = if value.contains('/') {
            value.to_string()
        } else {
            format!("{value}/32")
        };
        ip_rules.push(json!({"value": value}));
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
        let ignore = r
            .get("ignoreMissingVnetServiceEndpoint")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        match subnet_endpoint(ctx.st, id, "Microsoft.KeyVault", ctx.now) {
            None if !ignore => {
                return Err(ArmError::bad_request(
                    "SubnetNotFound",
                    format!(
                        "The subnet {id} referenced by the virtual network rule does not exist."
                    ),
                ));
            }
            Some((false, _)) if !ignore => {
                return Err(ArmError::bad_request(
                    "SubnetsHaveNoServiceEndpointsConfigured",
                    format!(
                        "Subnets {id} do not have ServiceEndpoints for Microsoft.KeyVault resources configured. Add Microsoft.KeyVault to subnet's ServiceEndpoints collection before trying to ACL Microsoft.KeyVault resources to these subnets."
                    ),
                ));
            }
            _ => {}
        }
        let mut rule = json!({"id": id.to_ascii_lowercase()});
        if r.get("ignoreMissingVnetServiceEndpoint").is_some() {
            util::set_at(
                &mut rule,
                "",
                "ignoreMissingVnetServiceEndpoint",
                json!(ignore),
            );
        }
        vnet_rules.push(rule);
    }
    // The service leaves networkAcls out of GET bodies when it is the open default.
    if default_action == "Allow"
        && bypass == "AzureServices"
        && ip_rules.is_empty()
        && vnet_rules.is_empty()
    {
        return Ok(None);
    }
    Ok(Some(json!({
        "bypass": bypass,
        "defaultAction": default_action,
        "ipRules": ip_rules,
        "virtualNetworkRules": vnet_rules,
    })))
}

fn access_policies(v: Option<&Value>) -> ArmResult<Value> {
    let Some(list) = v.filter(|v| !v.is_null()) else {
        return Ok(json!([]));
    };
    let arr = list
        .as_array()
        .ok_or_else(|| ArmError::invalid_content("accessPolicies must be an array"))?;
    for p in arr {
        for f in ["tenantId", "objectId", "permissions"] {
            if p.get(f).is_none() {
                return Err(ArmError::invalid_content(format!(
                    "Required property '{f}' not found in JSON for an access policy"
                )));
            }
        }
    }
    Ok(list.clone())
}

/// PUT: create or replace, always a synchronous 200.
fn put(ctx: &mut Ctx, rp: &ResPath, mut body: Value) -> ArmResult<Reply> {
    let name = rp.name().to_string();
    check_name(&name)?;
    let loc = require_location(&mut body)?;
    check_tags(&mut body)?;
    let id = rp.id();
    let props = body.get("properties").cloned().ok_or_else(|| {
        ArmError::invalid_content("Required property 'properties' not found in JSON")
    })?;
    let recover = props
        .get("createMode")
        .and_then(Value::as_str)
        .is_some_and(|m| m.eq_ignore_ascii_case("recover"));
    if let Some(other) = ctx.st.resources().values().find(|r| {
        r.kind == Kind::KeyVault
            && r.name().eq_ignore_ascii_case(&name)
            && !r.id.eq_ignore_ascii_case(&id)
    }) {
        let _ = other;
        return Err(ArmError::new(
            409,
            "VaultAlreadyExists",
            format!(
                "The vault name '{name}' is already in use. Vault names are globally unique so it is possible that the name is already taken. If you are sure that the vault name was not taken then it is possible that a vault with the same name was recently deleted but not purged after being placed in a recoverable state. If the vault is in a recoverable state then the vault will need to be explicitly purged before reusing the name."
            ),
        ));
    }
    let deleted = ctx
        .st
        .deleted_vaults
        .get(&name.to_ascii_lowercase())
        .cloned();
    let existing = ctx.st.get(&id).cloned();
    let stored = if recover {
        let Some(d) = deleted.filter(|d| d.purging_until.is_none()) else {
            return Err(ArmError::new(
                404,
                "DeletedVaultNotFound",
                format!("A deleted vault with the name '{name}' was not found."),
            ));
        };
        if !d.vault_id.eq_ignore_ascii_case(&id) {
            return Err(ArmError::bad_request(
                "RecoverVaultMismatch",
                format!(
                    "The deleted vault '{name}' belonged to '{}' and can only be recovered there.",
                    d.vault_id
                ),
            ));
        }
        ctx.st.deleted_vaults.remove(&name.to_ascii_lowercase());
        d.body
    } else {
        if deleted.is_some() && existing.is_none() {
            return Err(ArmError::new(
                409,
                "ConflictError",
                format!(
                    "A vault with the same name '{name}' already exists in deleted state. You need to either recover or purge existing key vault. Follow this link https://go.microsoft.com/fwlink/?linkid=2149745 for more information on soft delete."
                ),
            ));
        }
        let tenant = super::require_str(&props, "/tenantId", "properties.tenantId")?;
        if !util::is_guid(tenant) {
            return Err(ArmError::bad_request(
                "InvalidTenantId",
                format!("The tenant id '{tenant}' is not a valid GUID."),
            ));
        }
        let family = check_enum(
            props.pointer("/sku/family").unwrap_or(&Value::Null),
            "sku.family",
            &["A"],
        )?;
        let sku = check_enum(
            props.pointer("/sku/name").unwrap_or(&Value::Null),
            "sku.name",
            &["standard", "premium"],
        )?;
        let (Some(family), Some(sku)) = (family, sku) else {
            return Err(ArmError::invalid_content(
                "Required property 'sku' with 'family' and 'name' not found in JSON",
            ));
        };
        let mut p = Map::new();
        p.insert("sku".into(), json!({"family": family, "name": sku}));
        p.insert("tenantId".into(), json!(tenant));
        if let Some(acls) = props.get("networkAcls").filter(|v| !v.is_null())
            && let Some(a) = network_acls(ctx, acls)?
        {
            p.insert("networkAcls".into(), a);
        }
        p.insert(
            "accessPolicies".into(),
            access_policies(props.get("accessPolicies"))?,
        );
        for (f, d) in [
            ("enabledForDeployment", json!(false)),
            ("enabledForDiskEncryption", json!(false)),
            ("enabledForTemplateDeployment", json!(false)),
            ("enableSoftDelete", json!(true)),
            ("softDeleteRetentionInDays", json!(RETENTION_DAYS as i64)),
            ("enableRbacAuthorization", json!(false)),
        ] {
            p.insert(
                f.into(),
                props.get(f).filter(|v| !v.is_null()).cloned().unwrap_or(d),
            );
        }
        if let Some(v) = props
            .get("enablePurgeProtection")
            .filter(|v| v.is_boolean())
        {
            p.insert("enablePurgeProtection".into(), v.clone());
        }
        p.insert(
            "vaultUri".into(),
            json!(format!(
                "https://{}.vault.azure.net/",
                name.to_ascii_lowercase()
            )),
        );
        p.insert(
            "publicNetworkAccess".into(),
            props
                .get("publicNetworkAccess")
                .filter(|v| v.is_string())
                .cloned()
                .unwrap_or(json!("Enabled")),
        );
        let mut stored = json!({"location": loc});
        util::set_at(
            &mut stored,
            "",
            "tags",
            body.get("tags").cloned().unwrap_or_else(|| json!({})),
        );
        util::set_at(&mut stored, "", "properties", Value::Object(p));
        with_identity(rp, stored)
    };
    let secs = ctx.secs(DEF.create, rp, "put");
    ctx.commit(rp, stored, secs, "RegisteringDns");
    let rec = ctx
        .st
        .get(&id)
        .cloned()
        .ok_or_else(|| ArmError::new(500, "InternalServerError", "An error occurred."))?;
    let mut body = super::render(ctx.st, &rec, ctx.now);
    // PUT responses carry the URI without its trailing slash; GET adds it.
    if let Some(uri) = body
        .pointer("/properties/vaultUri")
        .and_then(Value::as_str)
        .map(|u| u.trim_end_matches('/').to_string())
    {
        util::set_at(&mut body, "/properties", "vaultUri", json!(uri));
    }
    Ok(Reply::json(200, body))
}

/// PATCH: merges tags and properties.
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
    if let Some(props) = body.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            if v.is_null() || k == "createMode" {
                continue;
            }
            match k.as_str() {
                "networkAcls" => match network_acls(ctx, v)? {
                    Some(a) => util::set_at(&mut stored, "/properties", "networkAcls", a),
                    None => {
                        util::obj_at(&mut stored, "/properties").remove("networkAcls");
                    }
                },
                "accessPolicies" => {
                    util::set_at(&mut stored, "/properties", k, access_policies(Some(v))?)
                }
                _ => util::set_at(&mut stored, "/properties", k, v.clone()),
            }
        }
    }
    ctx.commit(rp, stored, 0.0, "Succeeded");
    let rec = ctx
        .st
        .get(&id)
        .cloned()
        .ok_or_else(|| ArmError::new(500, "InternalServerError", "An error occurred."))?;
    Ok(Reply::json(200, super::render(ctx.st, &rec, ctx.now)))
}

/// DELETE: synchronous 200; the vault becomes soft-deleted.
fn delete(ctx: &mut Ctx, rp: &ResPath) -> ArmResult<Reply> {
    let Some(rec) = ctx.st.resources_mut().remove(&rp.id().to_ascii_lowercase()) else {
        return Ok(Reply::empty(204));
    };
    soft_delete_vault(ctx, &rec);
    Ok(Reply::empty(200))
}

fn deleted_body(name: &str, d: &crate::store::DeletedVault) -> Value {
    let mut props = json!({
        "vaultId": d.vault_id,
        "location": d.location,
        "deletionDate": util::timestamp(d.deleted).replace(".0000000Z", "Z"),
        "scheduledPurgeDate": util::timestamp(d.deleted + RETENTION_DAYS * 86400.0),
        "tags": d.body.get("tags").cloned().unwrap_or_else(|| json!({})),
    });
    if let Some(p) = d.body.pointer("/properties/enablePurgeProtection") {
        util::set_at(&mut props, "", "purgeProtectionEnabled", p.clone());
    }
    json!({
        "id": format!("/subscriptions/{}/providers/Microsoft.KeyVault/locations/{}/deletedVaults/{name}", d.sub, d.location),
        "name": name,
        "type": "Microsoft.KeyVault/deletedVaults",
        "properties": props,
    })
}

/// `GET …/locations/{loc}/deletedVaults/{name}`.
pub fn get_deleted(ctx: &Ctx, sub: &str, loc: &str, name: &str) -> ArmResult<Reply> {
    let d = ctx
        .st
        .deleted_vaults
        .get(&name.to_ascii_lowercase())
        .filter(|d| d.sub.eq_ignore_ascii_case(sub) && d.location.eq_ignore_ascii_case(&util::normalize_location(loc)))
        .ok_or_else(|| ArmError::new(404, "ResourceNotFound", format!("The Resource 'Microsoft.KeyVault/deletedVaults/{name}' under subscription '{sub}' was not found.")))?;
    let real = d.vault_id.rsplit('/').next().unwrap_or(name).to_string();
    Ok(Reply::json(200, deleted_body(&real, d)))
}

/// `GET /subscriptions/{sub}/providers/Microsoft.KeyVault/deletedVaults`.
pub fn list_deleted(ctx: &View, sub: &str) -> Reply {
    let value: Vec<Value> = ctx
        .st
        .deleted_vaults
        .values()
        .filter(|d| d.sub.eq_ignore_ascii_case(sub))
        .map(|d| deleted_body(d.vault_id.rsplit('/').next().unwrap_or(""), d))
        .collect();
    Reply::json(200, util::list_body(value, None))
}

/// `POST …/deletedVaults/{name}/purge`: 202 + Location; the name is free when it finishes.
pub fn purge(ctx: &mut Ctx, sub: &str, loc: &str, name: &str) -> ArmResult<Reply> {
    let key = name.to_ascii_lowercase();
    let Some(d) = ctx
        .st
        .deleted_vaults
        .get(&key)
        .cloned()
        .filter(|d| d.sub.eq_ignore_ascii_case(sub))
    else {
        return Err(ArmError::new(
            404,
            "ResourceNotFound",
            format!(
                "The Resource 'Microsoft.KeyVault/deletedVaults/{name}' under subscription '{sub}' was not found."
            ),
        ));
    };
    if d.body
        .pointer("/properties/enablePurgeProtection")
        .and_then(Value::as_bool)
        == Some(true)
    {
        return Err(ArmError::new(
            409,
            "PurgeProtectionEnabled",
            format!(
                "Operation 'DeletedVaultPurge' is not allowed for vault '{name}' because purge protection is enabled."
            ),
        ));
    }
    let secs = 10.0;
    let until = ctx.now + ctx.scaled(secs);
    if let Some(v) = ctx.st.deleted_vaults.get_mut(&key) {
        v.purging_until = Some(until);
    }
    let op = lro::start_op(ctx, &d.vault_id, secs, true);
    let loc = util::normalize_location(loc);
    Ok(lro::with_location_header(
        ctx,
        Reply::empty(202),
        &LRO,
        sub,
        &loc,
        &op,
    ))
}
