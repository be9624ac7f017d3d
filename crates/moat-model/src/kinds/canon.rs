//! Canonical forms of ARM values, shared by the field tables: IDs and enum casing folded, sets
//! sorted and deduplicated, server spellings of one meaning made one value (BEHAVIOR.md §2).
//! Each returns `None` for a value that means "unset".

use crate::json;
use crate::resolve::parse_duration;
use serde_json::{Map, Value, json};

/// As is.
pub fn same(v: &Value) -> Option<Value> {
    Some(v.clone())
}

/// Strings lowercased.
pub fn lower(v: &Value) -> Option<Value> {
    Some(lower_value(v))
}

pub(crate) fn lower_value(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(s.to_lowercase()),
        other => other.clone(),
    }
}

/// An ID (or `{ "id": … }`), lowercased without a trailing slash.
pub fn id_of(v: &Value) -> Option<Value> {
    Some(match v.get("id").or(Some(v)).and_then(Value::as_str) {
        Some(s) => Value::String(s.trim_end_matches('/').to_lowercase()),
        None => Value::Null,
    })
}

fn sorted(mut items: Vec<String>) -> Value {
    items.sort();
    items.dedup();
    json!(items)
}

fn strings(v: &Value, fold: bool) -> Value {
    sorted(
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str())
                    .map(|s| {
                        if fold {
                            s.to_lowercase()
                        } else {
                            s.to_string()
                        }
                    })
                    .collect()
            })
            .unwrap_or_default(),
    )
}

/// A set of strings, case kept.
pub fn str_set(v: &Value) -> Option<Value> {
    Some(strings(v, false))
}

/// `[{ k: … }]` → the sorted, folded set of the values at `k` (`service`, `properties.serviceName`).
fn names_at(v: &Value, path: &str) -> Value {
    let names: Vec<Value> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| json::get(e, path).cloned())
        .collect();
    strings(&Value::Array(names), true)
}

/// A subnet's service endpoints, by service name.
pub fn service_names(v: &Value) -> Option<Value> {
    Some(names_at(v, "service"))
}

/// A subnet's delegations, by service name.
pub fn delegation_names(v: &Value) -> Option<Value> {
    Some(names_at(v, "properties.serviceName"))
}

/// `"AzureServices, Logging"` → `["azureservices","logging"]`.
pub fn comma_set(v: &Value) -> Option<Value> {
    Some(sorted(
        v.as_str()
            .unwrap_or("")
            .split(',')
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty())
            .collect(),
    ))
}

fn both(p: &Value, single: &str, plural: &str) -> Value {
    let mut items: Vec<String> = Vec::new();
    if let Some(s) = p.get(single).and_then(Value::as_str)
        && !s.is_empty()
    {
        items.push(s.to_string());
    }
    if let Some(a) = p.get(plural).and_then(Value::as_array) {
        items.extend(a.iter().filter_map(|x| x.as_str()).map(str::to_string));
    }
    sorted(items)
}

fn keyed(v: &Value, key: &str, canon: impl Fn(&Value) -> Value) -> Value {
    let mut out = Map::new();
    for item in v.as_array().into_iter().flatten() {
        if let Some(k) = item.get(key).and_then(Value::as_str) {
            out.insert(k.to_lowercase(), canon(item));
        }
    }
    // serde_json with preserve_order keeps insertion order; sort for a canonical form.
    let mut entries: Vec<(String, Value)> = out.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Value::Object(entries.into_iter().collect())
}

/// Security rules keyed by name; singular and plural prefix forms are one set.
pub fn security_rules(v: &Value) -> Option<Value> {
    Some(keyed(v, "name", |item| {
        let p = item.get("properties").cloned().unwrap_or(Value::Null);
        let proto = p
            .get("protocol")
            .and_then(Value::as_str)
            .unwrap_or("*")
            .to_lowercase();
        json!({
            "priority": p.get("priority").cloned().unwrap_or(Value::Null),
            "direction": lower_value(p.get("direction").unwrap_or(&Value::Null)),
            "access": lower_value(p.get("access").unwrap_or(&Value::Null)),
            "protocol": if proto == "*" { "any".to_string() } else { proto },
            "source": both(&p, "sourceAddressPrefix", "sourceAddressPrefixes"),
            "source_ports": both(&p, "sourcePortRange", "sourcePortRanges"),
            "destination": both(&p, "destinationAddressPrefix", "destinationAddressPrefixes"),
            "destination_ports": both(&p, "destinationPortRange", "destinationPortRanges"),
            "description": p.get("description").and_then(Value::as_str).unwrap_or(""),
        })
    }))
}

/// Routes keyed by name.
pub fn routes(v: &Value) -> Option<Value> {
    Some(keyed(v, "name", |item| {
        let p = item.get("properties").cloned().unwrap_or(Value::Null);
        json!({
            "address_prefix": p.get("addressPrefix").cloned().unwrap_or(Value::Null),
            "next_hop": lower_value(p.get("nextHopType").unwrap_or(&Value::Null)),
            "next_hop_ip": p.get("nextHopIpAddress").cloned().unwrap_or(Value::Null),
        })
    }))
}

fn ip_rules(v: &Value, strip_32: bool) -> Value {
    sorted(
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.get("value").and_then(Value::as_str))
            .map(|s| {
                if strip_32 {
                    s.trim_end_matches("/32").to_string()
                } else if s.contains('/') {
                    s.to_string()
                } else {
                    // Key Vault stores a bare address as `/32` (BEHAVIOR.md §2.8).
                    format!("{s}/32")
                }
            })
            .collect(),
    )
}

/// Firewall IP rules where a single address is written bare (storage, registries).
pub fn ip_rules_bare(v: &Value) -> Option<Value> {
    Some(ip_rules(v, true))
}

/// Firewall IP rules where a single address is a `/32` (key vaults).
pub fn ip_rules_cidr(v: &Value) -> Option<Value> {
    Some(ip_rules(v, false))
}

/// Firewall subnet rules, by lowercased ID.
pub fn vnet_rules(v: &Value) -> Option<Value> {
    Some(sorted(
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r.get("id").and_then(Value::as_str))
            .map(|s| s.to_lowercase())
            .collect(),
    ))
}

/// An ISO 8601 duration, as seconds (`Null` when it does not parse).
pub fn iso_seconds(v: &Value) -> Option<Value> {
    Some(
        v.as_str()
            .and_then(|s| parse_duration(s).ok())
            .map_or(Value::Null, |s| json!(s)),
    )
}

/// A private endpoint's connections: `[{ properties: { privateLinkServiceId, groupIds } }]` →
/// the sorted set of `"<lowercased target ID> <lowercased group>"` (names and the service's
/// connection state are not compared).
pub fn link_connections(v: &Value) -> Option<Value> {
    let mut out = Vec::new();
    for c in v.as_array().into_iter().flatten() {
        let id = json::get(c, "properties.privateLinkServiceId")
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim_end_matches('/')
            .to_lowercase();
        let groups = json::get(c, "properties.groupIds")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for g in groups.iter().filter_map(Value::as_str) {
            out.push(format!("{id} {}", g.to_lowercase()));
        }
    }
    Some(sorted(out))
}

/// A DNS zone group's zones: `[{ name, properties: { privateDnsZoneId } }]` → the sorted set
/// of lowercased zone IDs (config names and record sets are the service's).
pub fn zone_configs(v: &Value) -> Option<Value> {
    Some(sorted(
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| json::get(c, "properties.privateDnsZoneId").and_then(Value::as_str))
            .map(|s| s.trim_end_matches('/').to_lowercase())
            .collect(),
    ))
}
