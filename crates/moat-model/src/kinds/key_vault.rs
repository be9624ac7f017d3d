//! Key vaults: SKU, tenant, access model, soft delete and the firewall; a deleted vault keeps its name, so a vault is recovered, never replaced.

use super::{Field, KindDef, Replace, Scope, ScopeRef, Site, SoftDelete, canon, refs, words};
use crate::arm::{MapContext, access, toggle};
use crate::cidr::Cidr;
use crate::model::{Body, Kind, Resource};
use crate::resolve::{Resolver, is_guid};
use crate::{json, naming};
use moat_spec::ast::{self, KindSpec};
use moat_spec::{Diagnostic, Spanned, codes};
use serde_json::{Value, json};

pub(crate) static DEF: KindDef = KindDef {
    // `Vaults_ListByResourceGroup` (keyvault.json 2023-07-01) returns `VaultListResult` of
    // the same `Vault` schema as `Vaults_Get` (access policies, networkAcls; the definitions'
    // example `listVaultByResourceGroup.json` shows full properties). Not `Vaults_List`, which
    // returns bare resources. No recording of the list was found.
    list_view_complete: true,
    outputs,
    // A firewall entry for a deleted subnet is dropped in place (the account outlives it).
    droppable_ref: refs::is_firewall_subnet,
    scope_ref: Some(ScopeRef {
        field: refs::RESOURCE_GROUP,
        get: scope_ref,
    }),
    replace: Replace::Refused("a deleted key vault keeps its name until it is purged"),
    holds_data: Some("its keys, secrets and certificates (kept soft-deleted until purged)"),
    // Sources: keyvault.json (2023-07-01) `VaultPatchProperties` lists every field below, so
    // the definition allows them in place. `softDeleteRetentionInDays` is kept immutable
    // after Key Vault's soft-delete documentation (the retention is fixed at creation) —
    // not marked in the definition, no recording [unverified]; a vault is never replaced
    // (`replace`), so the change is refused, never executed. `enablePurgeProtection` can
    // only go from unset to true (its description); `null` is its default.
    fields: &[
        Field::new("properties.tenantId", canon::lower).spec("tenant_id"),
        Field::new("properties.sku.name", canon::lower).spec_words("sku", words::vault_sku),
        Field::new("properties.enableRbacAuthorization", canon::same).spec("rbac_authorization"),
        Field::new("properties.softDeleteRetentionInDays", canon::same)
            .immutable()
            .spec("soft_delete_retention_days"),
        Field::new("properties.enablePurgeProtection", canon::same)
            .default("null")
            .spec("purge_protection"),
        Field::new("properties.publicNetworkAccess", canon::lower)
            .default(r#""enabled""#)
            .spec_words("public_network_access", words::toggle),
        Field::new("properties.enabledForDeployment", canon::same)
            .default("false")
            .spec("enabled_for_deployment"),
        Field::new("properties.enabledForDiskEncryption", canon::same)
            .default("false")
            .spec("enabled_for_disk_encryption"),
        Field::new("properties.enabledForTemplateDeployment", canon::same)
            .default("false")
            .spec("enabled_for_template_deployment"),
        Field::new("properties.networkAcls.defaultAction", canon::lower)
            .default(r#""allow""#)
            .spec_words("network_rules.default_action", words::access),
        Field::new("properties.networkAcls.bypass", canon::comma_set)
            .default(r#"["azureservices"]"#)
            .spec_words("network_rules.bypass", words::bypass),
        Field::new(
            "properties.networkAcls.virtualNetworkRules",
            canon::vnet_rules,
        )
        .default("[]")
        .spec("network_rules.subnets"),
        Field::new("properties.networkAcls.ipRules", canon::ip_rules_cidr)
            .default("[]")
            .spec("network_rules.ip_rules"),
    ],
    carry_over: &["properties.accessPolicies", "properties.networkAcls"],
    soft_delete: Some(SoftDelete {
        probe_id: deleted_vault,
        recover: ("properties.createMode", "recover"),
        reason: "a soft-deleted vault holds this name: it will be recovered (`createMode: recover`), keeping its old properties until this apply updates them",
    }),
    ..KindDef::new(
        Kind::KeyVault,
        "key_vault",
        "Microsoft.KeyVault/vaults",
        "2023-07-01",
        Scope::ResourceGroup,
        naming::KEY_VAULT,
        15,
        body,
        check,
    )
};

/// A vault name stays taken while a deleted vault holds it (BEHAVIOR.md §5.11).
fn deleted_vault(subscription: &str, location: &str, name: &str) -> String {
    format!(
        "/subscriptions/{subscription}/providers/Microsoft.KeyVault/locations/{location}/deletedVaults/{name}"
    )
}

fn body(r: &Resource, b: &mut Value, ctx: &MapContext) {
    let Body::Spec(KindSpec::KeyVault(v)) = &r.body else {
        return;
    };
    let reference = |field: &str| super::ref_id(r, field);
    let tenant = v
        .tenant_id
        .as_ref()
        .map_or_else(|| ctx.tenant.clone(), |t| t.value.clone());
    json::set(b, "properties.tenantId", json!(tenant));
    let sku = if v
        .sku
        .as_ref()
        .is_some_and(|s| s.value == ast::VaultSku::Premium)
    {
        "premium"
    } else {
        "standard"
    };
    json::set(b, "properties.sku", json!({ "family": "A", "name": sku }));
    json::set(
        b,
        "properties.enableRbacAuthorization",
        json!(v.rbac_authorization.as_ref().is_none_or(|x| x.value)),
    );
    json::set(
        b,
        "properties.softDeleteRetentionInDays",
        json!(
            v.soft_delete_retention_days
                .as_ref()
                .map_or(90, |x| x.value)
        ),
    );
    if v.purge_protection.as_ref().is_some_and(|x| x.value) {
        // Azure refuses `false` once it is on, and `false` is the default: only send `true`.
        json::set(b, "properties.enablePurgeProtection", json!(true));
    }
    if let Some(a) = &v.public_network_access {
        json::set(b, "properties.publicNetworkAccess", json!(toggle(a.value)));
    }
    for (field, prop) in [
        (&v.enabled_for_deployment, "enabledForDeployment"),
        (&v.enabled_for_disk_encryption, "enabledForDiskEncryption"),
        (
            &v.enabled_for_template_deployment,
            "enabledForTemplateDeployment",
        ),
    ] {
        if let Some(x) = field {
            json::set(b, &format!("properties.{prop}"), json!(x.value));
        }
    }
    if let Some(rules) = &v.network_rules {
        let nr = &rules.value;
        let bypass = if nr
            .bypass
            .as_ref()
            .is_some_and(|l| l.value.iter().all(|x| x.value == ast::VaultBypass::None))
        {
            "None"
        } else {
            "AzureServices"
        };
        let subnets: Vec<Value> = (0..nr.subnets.as_ref().map_or(0, |l| l.value.len()))
            .filter_map(|i| reference(&refs::firewall_subnet(i)))
            .map(|id| json!({ "id": id }))
            .collect();
        let ips: Vec<Value> = nr
            .ip_rules
            .iter()
            .flat_map(|l| l.value.iter())
            .map(|ip| json!({ "value": ip.value }))
            .collect();
        json::set(
            b,
            "properties.networkAcls",
            json!({ "defaultAction": access(nr.default_action.as_ref().map(|a| a.value)), "bypass": bypass, "virtualNetworkRules": subnets, "ipRules": ips }),
        );
    }
}

/// Offline checks of one `key_vault`: what Azure would reject that can be known from the spec.
pub(crate) fn check(rs: &mut Resolver<'_>, spec: &KindSpec, site: Site<'_>) {
    let Site { refs, .. } = site;
    let KindSpec::KeyVault(v) = spec else {
        return;
    };
    if let Some(t) = &v.tenant_id
        && !is_guid(&t.value)
    {
        rs.push(
            Diagnostic::error(
                codes::E0114,
                format!("`{}` is not a tenant ID", t.value),
                t.span,
            )
            .hint(
                "write the tenant's GUID, or leave `tenant_id` out to use the credential's tenant",
            ),
        );
    }
    if let Some(d) = &v.soft_delete_retention_days {
        rs.range(d, 7, 90, "soft_delete_retention_days");
    }
    if let Some(rules) = &v.network_rules {
        rs.bind_firewall_subnets(&rules.value.subnets, refs);
        for ip in rules.value.ip_rules.iter().flat_map(|l| l.value.iter()) {
            if let Err(e) = Cidr::parse_ip_or_cidr(&ip.value) {
                rs.cidr_error(ip, e);
            }
        }
    }
}

/// The `resource_group:` naming its scope.
fn scope_ref(spec: &KindSpec) -> Option<&Spanned<String>> {
    match spec {
        KindSpec::KeyVault(x) => Some(&x.resource_group),
        _ => None,
    }
}

/// The vault's URI in the public cloud.
fn outputs(name: &str, _: &Value) -> Vec<(&'static str, String)> {
    vec![("vault_uri", format!("https://{name}.vault.azure.net/"))]
}
