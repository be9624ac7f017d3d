//! Storage accounts: SKU, kind, transport and access settings, and the firewall.

use super::{Field, KindDef, Scope, ScopeRef, Site, canon, refs, words};
use crate::arm::{MapContext, access, toggle};
use crate::cidr::Cidr;
use crate::model::{Body, Kind, Resource};
use crate::resolve::Resolver;
use crate::{json, naming};
use moat_spec::ast::{self, KindSpec};
use moat_spec::{Diagnostic, Spanned, codes};
use serde_json::{Value, json};

pub(crate) static DEF: KindDef = KindDef {
    // `StorageAccounts_ListByResourceGroup` (storage.json 2023-01-01) returns the
    // `StorageAccount` schema of its GET (keys are never in either); recorded in azure-cli
    // `storage/test_create_storage_account.yaml` with sku, kind, networkAcls, TLS and
    // public-access settings in every item. Only `$expand` data (geo-replication stats) is
    // GET-only, and moat manages none of it.
    list_view_complete: true,
    outputs,
    // A firewall entry for a deleted subnet is dropped in place (the account outlives it).
    droppable_ref: refs::is_firewall_subnet,
    scope_ref: Some(ScopeRef {
        field: refs::RESOURCE_GROUP,
        get: scope_ref,
    }),
    holds_data: Some("its blobs, files, queues and tables"),
    // Sources: storage.json (2023-05-01). In place: what `StorageAccountUpdateParameters`
    // carries (`sku`, `kind` — upgrade to StorageV2 only —, `accessTier`,
    // `supportsHttpsTrafficOnly`, `minimumTlsVersion`, `allowBlobPublicAccess`,
    // `allowSharedKeyAccess`, `publicNetworkAccess`, `networkAcls`). `isHnsEnabled` is only in
    // `StorageAccountPropertiesCreateParameters`: it replaces the account. moat keeps `kind`
    // immutable because the only in-place kind change is the one-way upgrade.
    fields: &[
        Field::new("sku.name", canon::lower).spec("sku"),
        Field::new("kind", canon::lower)
            .immutable()
            .spec_words("kind", words::storage_kind),
        Field::new("properties.accessTier", canon::lower)
            .spec_words("access_tier", words::access_tier),
        Field::new("properties.supportsHttpsTrafficOnly", canon::same).spec("https_only"),
        Field::new("properties.minimumTlsVersion", canon::lower)
            .spec_words("min_tls_version", words::tls_version),
        Field::new("properties.allowBlobPublicAccess", canon::same)
            .spec("allow_blob_public_access"),
        Field::new("properties.allowSharedKeyAccess", canon::same)
            .default("true")
            .spec("allow_shared_key_access"),
        Field::new("properties.publicNetworkAccess", canon::lower)
            .default(r#""enabled""#)
            .spec_words("public_network_access", words::toggle),
        Field::new("properties.isHnsEnabled", canon::same)
            .default("false")
            .immutable()
            .spec("hierarchical_namespace"),
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
        Field::new("properties.networkAcls.ipRules", canon::ip_rules_bare)
            .default("[]")
            .spec("network_rules.ip_rules"),
    ],
    secrets: &["sharedKey", "sshPassword"],
    ..KindDef::new(
        Kind::StorageAccount,
        "storage_account",
        "Microsoft.Storage/storageAccounts",
        "2023-05-01",
        Scope::ResourceGroup,
        naming::STORAGE_ACCOUNT,
        25,
        body,
        check,
    )
};

fn body(r: &Resource, b: &mut Value, _ctx: &MapContext) {
    let Body::Spec(KindSpec::StorageAccount(s)) = &r.body else {
        return;
    };
    let reference = |field: &str| super::ref_id(r, field);
    let sku = s.sku.as_ref().map_or("Standard_LRS", |x| x.value.as_str());
    json::set(b, "sku.name", json!(sku));
    let kind = match s.kind.as_ref().map(|k| k.value) {
        Some(ast::StorageKind::BlockBlobStorage) => "BlockBlobStorage",
        Some(ast::StorageKind::FileStorage) => "FileStorage",
        _ => "StorageV2",
    };
    json::set(b, "kind", json!(kind));
    let p = |b: &mut Value, k: &str, v: Value| json::set(b, &format!("properties.{k}"), v);
    if kind == "StorageV2" {
        let tier = match s.access_tier.as_ref().map(|t| t.value) {
            Some(ast::AccessTier::Cool) => "Cool",
            Some(ast::AccessTier::Cold) => "Cold",
            _ => "Hot",
        };
        p(b, "accessTier", json!(tier));
    }
    p(
        b,
        "supportsHttpsTrafficOnly",
        json!(s.https_only.as_ref().is_none_or(|x| x.value)),
    );
    let tls = match s.min_tls_version.as_ref().map(|t| t.value) {
        Some(ast::TlsVersion::Tls1_0) => "TLS1_0",
        Some(ast::TlsVersion::Tls1_1) => "TLS1_1",
        _ => "TLS1_2",
    };
    p(b, "minimumTlsVersion", json!(tls));
    p(
        b,
        "allowBlobPublicAccess",
        json!(s.allow_blob_public_access.as_ref().is_some_and(|x| x.value)),
    );
    if let Some(k) = &s.allow_shared_key_access {
        p(b, "allowSharedKeyAccess", json!(k.value));
    }
    if let Some(a) = &s.public_network_access {
        p(b, "publicNetworkAccess", json!(toggle(a.value)));
    }
    if let Some(h) = &s.hierarchical_namespace {
        p(b, "isHnsEnabled", json!(h.value));
    }
    if let Some(rules) = &s.network_rules {
        let nr = &rules.value;
        let bypass = nr.bypass.as_ref().map_or_else(
            || "AzureServices".to_string(),
            |l| {
                let words: Vec<&str> = l
                    .value
                    .iter()
                    .map(|x| match x.value {
                        ast::StorageBypass::AzureServices => "AzureServices",
                        ast::StorageBypass::Logging => "Logging",
                        ast::StorageBypass::Metrics => "Metrics",
                        ast::StorageBypass::None => "None",
                    })
                    .collect();
                words.join(", ")
            },
        );
        let subnets: Vec<Value> = (0..nr.subnets.as_ref().map_or(0, |l| l.value.len()))
            .filter_map(|i| reference(&refs::firewall_subnet(i)))
            .map(|id| json!({ "id": id }))
            .collect();
        let ips: Vec<Value> = nr
            .ip_rules
            .iter()
            .flat_map(|l| l.value.iter())
            .map(|ip| json!({ "value": ip.value, "action": "Allow" }))
            .collect();
        p(
            b,
            "networkAcls",
            json!({
                "defaultAction": access(nr.default_action.as_ref().map(|a| a.value)),
                "bypass": bypass,
                "virtualNetworkRules": subnets,
                "ipRules": ips,
            }),
        );
    }
}

/// Offline checks of one `storage_account`: what Azure would reject that can be known from the spec.
pub(crate) fn check(rs: &mut Resolver<'_>, spec: &KindSpec, site: Site<'_>) {
    let Site { refs, .. } = site;
    let KindSpec::StorageAccount(s) = spec else {
        return;
    };
    if let Some(rules) = &s.network_rules {
        rs.bind_firewall_subnets(&rules.value.subnets, refs);
        for ip in rules.value.ip_rules.iter().flat_map(|l| l.value.iter()) {
            check_storage_ip(rs, ip);
        }
    }
}

fn check_storage_ip(rs: &mut Resolver<'_>, ip: &Spanned<String>) {
    match Cidr::parse_ip_or_cidr(&ip.value) {
        Err(e) => rs.cidr_error(ip, e),
        Ok(c) => {
            if ip.value.contains('/') && c.len() > 30 {
                rs.push(
                    Diagnostic::error(
                        codes::E0302,
                        format!("storage firewalls reject /{} ranges", c.len()),
                        ip.span,
                    )
                    .hint(format!(
                        "write the bare address(es) instead, e.g. `{}`",
                        c.network()
                    )),
                );
            } else if c.is_private() {
                rs.push(
                    Diagnostic::error(
                        codes::E0302,
                        format!("`{}` is a private range", ip.value),
                        ip.span,
                    )
                    .label("storage IP rules take public addresses only")
                    .hint("admit private networks through `subnets:` (service endpoints) instead"),
                );
            }
        }
    }
}

/// The `resource_group:` naming its scope.
fn scope_ref(spec: &KindSpec) -> Option<&Spanned<String>> {
    match spec {
        KindSpec::StorageAccount(x) => Some(&x.resource_group),
        _ => None,
    }
}

/// The service endpoints of the account in the public cloud.
fn outputs(name: &str, _: &Value) -> Vec<(&'static str, String)> {
    [
        ("blob_endpoint", "blob"),
        ("dfs_endpoint", "dfs"),
        ("file_endpoint", "file"),
        ("queue_endpoint", "queue"),
        ("table_endpoint", "table"),
    ]
    .into_iter()
    .map(|(k, svc)| (k, format!("https://{name}.{svc}.core.windows.net/")))
    .collect()
}
