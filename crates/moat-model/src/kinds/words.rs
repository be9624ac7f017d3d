//! The spec's words for ARM values, for plans: a field table row names one of these with
//! [`super::Field::spec_words`] or [`super::Field::members`], so that a plan says
//! `route default: 0.0.0.0/0 → virtual_appliance 10.0.0.4` where ARM says
//! `{"nextHopType": "VirtualAppliance", …}`. Each takes the value the plan holds (a member's
//! canonical form, see `kinds/canon.rs`, or the body's spelling of a plain value) and never
//! fails: what it does not recognise it shows as it is.

use moat_spec::ast;
use serde_json::Value;

/// The spec word among `words` that spells ARM's `arm` (`VirtualAppliance`,
/// `virtualappliance` → `virtual_appliance`): the same letters, case and underscores aside.
pub fn spec_word(words: &[&'static str], arm: &str) -> Option<&'static str> {
    let fold = |s: &str| -> String {
        s.chars()
            .filter(|c| *c != '_')
            .flat_map(char::to_lowercase)
            .collect()
    };
    let arm = fold(arm);
    words.iter().copied().find(|w| fold(w) == arm)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn word(words: &[&'static str], v: &Value) -> String {
    let t = text(v);
    spec_word(words, &t).map_or(t, str::to_string)
}

fn list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a.iter().map(text).filter(|s| !s.is_empty()).collect(),
        Some(Value::String(s)) if !s.is_empty() => vec![s.clone()],
        _ => Vec::new(),
    }
}

/// `*` or nothing: the spec's default for an address or port list, left unsaid.
fn any(items: &[String]) -> bool {
    items.is_empty() || items.iter().all(|s| s == "*")
}

/// One security rule (its canonical form): `inbound allow tcp 29876-29877 from
/// BatchNodeManagement priority 100`; `*` addresses and ports are left out, a description
/// is quoted at the end.
pub fn security_rule(v: &Value) -> String {
    let field = |k: &str| v.get(k).unwrap_or(&Value::Null);
    let mut out = vec![
        word(ast::Direction::WORDS, field("direction")),
        word(ast::Access::WORDS, field("access")),
        {
            let p = text(field("protocol"));
            if p == "*" {
                "any".to_string()
            } else {
                word(ast::Protocol::WORDS, field("protocol"))
            }
        },
    ];
    let ports = list(v.get("destination_ports"));
    if !any(&ports) {
        out.push(ports.join(","));
    }
    let source = list(v.get("source"));
    out.push(format!(
        "from {}",
        if any(&source) {
            "any".to_string()
        } else {
            source.join(",")
        }
    ));
    let source_ports = list(v.get("source_ports"));
    if !any(&source_ports) {
        out.push(format!("ports {}", source_ports.join(",")));
    }
    let destination = list(v.get("destination"));
    if !any(&destination) {
        out.push(format!("to {}", destination.join(",")));
    }
    if let Some(p) = v.get("priority").filter(|p| !p.is_null()) {
        out.push(format!("priority {}", text(p)));
    }
    if let Some(d) = v
        .get("description")
        .and_then(Value::as_str)
        .filter(|d| !d.is_empty())
    {
        out.push(Value::String(d.to_string()).to_string());
    }
    out.retain(|s| !s.is_empty());
    out.join(" ")
}

/// One route (its canonical form): `0.0.0.0/0 → virtual_appliance 10.0.0.4`.
pub fn route(v: &Value) -> String {
    let prefix = text(v.get("address_prefix").unwrap_or(&Value::Null));
    let hop = word(
        ast::NextHop::WORDS,
        v.get("next_hop").unwrap_or(&Value::Null),
    );
    match v.get("next_hop_ip").map(text).filter(|ip| !ip.is_empty()) {
        Some(ip) => format!("{prefix} → {hop} {ip}"),
        None => format!("{prefix} → {hop}"),
    }
}

/// `Allow`/`Deny` as `allow`/`deny`.
pub fn access(v: &Value) -> String {
    word(ast::Access::WORDS, v)
}

/// `Enabled`/`Disabled` as `enabled`/`disabled`.
pub fn toggle(v: &Value) -> String {
    word(ast::Toggle::WORDS, v)
}

/// Functions giving the spec word of an ARM enum value, one per spec enum whose words differ
/// from ARM's only in case and underscores (`StorageV2` → `storage_v2`).
macro_rules! enum_words {
    ($( $(#[doc = $doc:literal])* $name:ident => $enum:ident ),* $(,)?) => {
        $( $(#[doc = $doc])* pub fn $name(v: &Value) -> String { word(ast::$enum::WORDS, v) } )*
    };
}

enum_words! {
    /// A storage account's `kind`.
    storage_kind => StorageKind,
    /// A storage account's `access_tier`.
    access_tier => AccessTier,
    /// A storage account's `min_tls_version`.
    tls_version => TlsVersion,
    /// A key vault's `sku`.
    vault_sku => VaultSku,
    /// An AmlCompute's `vm_priority`.
    vm_priority => VmPriority,
    /// An AmlCompute's `os_type`.
    os_type => OsType,
    /// An AmlCompute's `remote_login_port_public_access`.
    remote_login => RemoteLogin,
    /// An AKS cluster's `network.plugin`.
    network_plugin => NetworkPlugin,
    /// An AKS cluster's `network.plugin_mode`.
    network_plugin_mode => NetworkPluginMode,
    /// An AKS cluster's `network.policy`.
    network_policy => NetworkPolicy,
    /// An AKS cluster's `network.outbound_type`.
    outbound_type => OutboundType,
    /// An AKS cluster's `sku_tier`.
    aks_tier => AksTier,
    /// Application Insights' `application_type`.
    application_type => ApplicationType,
}

/// A firewall's `bypass` (storage account, key vault): `"AzureServices, Logging"`, or its
/// canonical set, as the spec's list `[azure_services, logging]`.
pub fn bypass(v: &Value) -> String {
    let items: Vec<String> = match v {
        Value::String(s) => s
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        other => list(Some(other)),
    };
    let words: Vec<String> = items
        .iter()
        .map(|s| word(ast::StorageBypass::WORDS, &Value::String(s.clone())))
        .collect();
    format!("[{}]", words.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_read_as_the_spec_writes_them() {
        let rule = json!({"priority":100,"direction":"inbound","access":"allow","protocol":"tcp",
            "source":["BatchNodeManagement"],"source_ports":["*"],"destination":["*"],
            "destination_ports":["29876-29877"],"description":""});
        assert_eq!(
            security_rule(&rule),
            "inbound allow tcp 29876-29877 from BatchNodeManagement priority 100"
        );
        let rule = json!({"priority":4096,"direction":"outbound","access":"deny","protocol":"any",
            "source":["*"],"source_ports":["1024-65535"],"destination":["10.0.0.0/24","10.0.1.0/24"],
            "destination_ports":["*"],"description":"no \"egress\""});
        assert_eq!(
            security_rule(&rule),
            r#"outbound deny any from any ports 1024-65535 to 10.0.0.0/24,10.0.1.0/24 priority 4096 "no \"egress\"""#
        );
    }

    #[test]
    fn routes_use_the_spec_words_for_next_hops() {
        let r = json!({"address_prefix":"0.0.0.0/0","next_hop":"virtualappliance","next_hop_ip":"10.0.0.4"});
        assert_eq!(route(&r), "0.0.0.0/0 → virtual_appliance 10.0.0.4");
        let r = json!({"address_prefix":"AzureMachineLearning","next_hop":"internet","next_hop_ip":null});
        assert_eq!(route(&r), "AzureMachineLearning → internet");
        // An ARM word the spec does not know shows as it is.
        let r = json!({"address_prefix":"10.0.0.0/8","next_hop":"somethingnew"});
        assert_eq!(route(&r), "10.0.0.0/8 → somethingnew");
    }

    #[test]
    fn enum_words_fold_case_and_underscores() {
        assert_eq!(
            spec_word(ast::NextHop::WORDS, "VirtualAppliance"),
            Some("virtual_appliance")
        );
        assert_eq!(access(&json!("Deny")), "deny");
        assert_eq!(toggle(&json!("Disabled")), "disabled");
        assert_eq!(
            bypass(&json!("AzureServices, Logging")),
            "[azure_services, logging]"
        );
        assert_eq!(bypass(&json!(["azureservices"])), "[azure_services]");
        assert_eq!(storage_kind(&json!("StorageV2")), "storage_v2");
        assert_eq!(tls_version(&json!("TLS1_2")), "tls1_2");
        assert_eq!(vm_priority(&json!("LowPriority")), "low_priority");
    }
}
