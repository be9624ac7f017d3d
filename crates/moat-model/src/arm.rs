//! Each kind's ARM mapping: the request body moat sends (with moat's defaults filled in), and
//! the *projection* of any ARM body — desired or live — onto the properties moat manages, in a
//! canonical form (IDs and enum casing folded, sets sorted, server defaults made explicit) so
//! that comparing two projections finds real changes only (BEHAVIOR.md §2).
//!
//! A projection maps dotted paths to values. Sets that moat owns whole (security rules, routes,
//! firewall rules, service endpoints) are one path whose value is an object keyed by member
//! name; tags are one path per tag, because other actors (policies) add tags of their own.

use crate::json;
use crate::kinds::Default;
use crate::model::{Kind, Model, Resource};
use crate::regions;
use crate::resolve::STACK_TAG;
use moat_spec::ast::{self, OneOrMany, Toggle};
use serde_json::{Map, Value, json};

use std::collections::BTreeMap;

/// What the mapping needs besides the model.
#[derive(Clone, Debug, Default)]
pub struct MapContext {
    /// Tenant for key vaults that name none.
    pub tenant: String,
    /// The fingerprint of each secret marker a body may hold ([`crate::secret`]): the planner
    /// compares these, never the values.
    pub fingerprints: BTreeMap<String, String>,
}

/// A projection: managed path → canonical value.
pub type Projection = BTreeMap<String, Value>;

pub(crate) fn toggle(t: Toggle) -> &'static str {
    match t {
        Toggle::Enabled => "Enabled",
        Toggle::Disabled => "Disabled",
    }
}

pub(crate) fn id_obj(id: &str) -> Value {
    json!({ "id": id })
}

pub(crate) fn strs(list: &[moat_spec::Spanned<String>]) -> Vec<String> {
    list.iter().map(|s| s.value.clone()).collect()
}

/// The full request body to create `r` (PUT), moat's defaults filled in.
pub fn request_body(model: &Model, r: &Resource, ctx: &MapContext) -> Value {
    let mut b = json!({});
    if r.kind.has_location()
        && let Some(l) = &r.location
    {
        json::set(&mut b, "location", json!(l.value));
    }
    if r.kind.taggable() {
        let mut tags: Map<String, Value> =
            r.tags.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
        tags.insert(STACK_TAG.to_string(), json!(model.stack.value));
        json::set(&mut b, "tags", Value::Object(tags));
    }
    if !r.is_existing() {
        (r.kind.def().body)(r, &mut b, ctx);
    }
    b
}

pub(crate) fn access(a: Option<ast::Access>) -> &'static str {
    if a == Some(ast::Access::Allow) {
        "Allow"
    } else {
        "Deny"
    }
}

pub(crate) fn next_hop(h: ast::NextHop) -> &'static str {
    match h {
        ast::NextHop::VirtualNetworkGateway => "VirtualNetworkGateway",
        ast::NextHop::VnetLocal => "VnetLocal",
        ast::NextHop::Internet => "Internet",
        ast::NextHop::VirtualAppliance => "VirtualAppliance",
        ast::NextHop::None => "None",
    }
}

pub(crate) fn security_rule(r: &ast::SecurityRule) -> Value {
    let protocol = match r.protocol.value {
        ast::Protocol::Tcp => "Tcp",
        ast::Protocol::Udp => "Udp",
        ast::Protocol::Icmp => "Icmp",
        ast::Protocol::Esp => "Esp",
        ast::Protocol::Ah => "Ah",
        ast::Protocol::Any => "*",
    };
    let mut p = json!({
        "priority": r.priority.value,
        "direction": if r.direction.value == ast::Direction::Inbound { "Inbound" } else { "Outbound" },
        "access": if r.access.value == ast::Access::Allow { "Allow" } else { "Deny" },
        "protocol": protocol,
    });
    let mut put = |single: &str, plural: &str, v: &Option<moat_spec::Spanned<OneOrMany>>| {
        let list: Vec<String> = v
            .as_ref()
            .map_or_else(|| vec!["*".to_string()], |x| strs(&x.value.0));
        if list.len() == 1 {
            json::set(&mut p, single, json!(list[0]));
        } else {
            json::set(&mut p, plural, json!(list));
        }
    };
    put("sourceAddressPrefix", "sourceAddressPrefixes", &r.source);
    put("sourcePortRange", "sourcePortRanges", &r.source_ports);
    put(
        "destinationAddressPrefix",
        "destinationAddressPrefixes",
        &r.destination,
    );
    put(
        "destinationPortRange",
        "destinationPortRanges",
        &r.destination_ports,
    );
    if let Some(d) = &r.description {
        json::set(&mut p, "description", json!(d.value));
    }
    json!({ "name": r.name.value, "properties": p })
}

/// Seconds as an ISO 8601 duration (`PT2M`, `PT1M40S`), the way Azure ML writes them.
pub fn iso_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::from("PT");
    if h > 0 {
        out.push_str(&format!("{h}H"));
    }
    if m > 0 {
        out.push_str(&format!("{m}M"));
    }
    if s > 0 || secs == 0 {
        out.push_str(&format!("{s}S"));
    }
    out
}

/// Projects an ARM body of `kind` onto the managed paths, canonically: location and tags, then
/// the rows of the kind's field table. Paths absent from the body are absent from the
/// projection; [`default_of`] says what Azure assumes for them.
pub fn project(kind: Kind, body: &Value) -> Projection {
    let mut out = Projection::new();
    let at = |path: &str| json::get(body, path).filter(|v| !v.is_null());
    if kind.has_location()
        && let Some(l) = at("location").and_then(Value::as_str)
    {
        out.insert("location".into(), json!(regions::normalize(l)));
    }
    if kind.taggable()
        && let Some(tags) = at("tags").and_then(Value::as_object)
    {
        for (k, v) in tags {
            out.insert(format!("tags.{k}"), v.clone());
        }
    }
    kind.def().project_fields(body, &mut out);
    out
}

/// What Azure assumes for a managed path the body leaves out: compared against when the live
/// body omits the path, and written back when a field leaves the spec (3-way reset).
/// `Some(Value::Null)` means "absent"; `None` means moat knows no default (the field is then
/// left alone when it leaves the spec).
pub fn default_of(kind: Kind, path: &str) -> Option<Value> {
    if path.starts_with("tags.") {
        return Some(Value::Null);
    }
    match kind.def().field(path)?.default {
        Default::Unknown => None,
        Default::Absent => Some(Value::Null),
        // Table defaults are checked to parse by `kinds::tests`.
        Default::Json(text) => serde_json::from_str(text).ok(),
    }
}

/// True when changing `path` needs the resource deleted and created again.
pub fn is_immutable(kind: Kind, path: &str) -> bool {
    if path == "location" {
        return true;
    }
    let def = kind.def();
    match def.field(path) {
        Some(f) => f.immutable,
        None => def.immutable_unlisted && !path.starts_with("tags."),
    }
}

/// Paths of the live body a full-replacement PUT must carry over when the spec does not manage
/// them, or the PUT would silently remove them (BEHAVIOR.md §5.2, §5.6): the carried rows of
/// the field table, then the kind's unmanaged carry-over paths.
pub fn carry_over(kind: Kind) -> impl Iterator<Item = &'static str> {
    let def = kind.def();
    def.fields
        .iter()
        .filter(|f| f.carry_over)
        .map(|f| f.path)
        .chain(def.carry_over.iter().copied())
}

/// Properties of `kind` whose values must never be shown or stored, judged by the last path
/// segment (so `keyVault`, an ID, is not one): a field row marked secret, a property the API
/// definitions mark `x-ms-secret` (the kind's `secrets`), or a name that says it is a
/// password, secret, key or token.
pub fn is_sensitive(kind: Kind, path: &str) -> bool {
    let def = kind.def();
    match def.field(path) {
        Some(f) if f.secret => return true,
        Some(f) if f.public => return false,
        _ => {}
    }
    let last = path.rsplit('.').next().unwrap_or(path);
    if def.secrets.iter().any(|s| s.eq_ignore_ascii_case(last)) {
        return true;
    }
    let last = last.to_ascii_lowercase();
    const WORDS: [&str; 9] = [
        "password",
        "adminuserpassword",
        "secret",
        "clientsecret",
        "token",
        "connectionstring",
        "instrumentationkey",
        "accountkey",
        "primarykey",
    ];
    WORDS.contains(&last.as_str()) || last.ends_with("password") || last.ends_with("secret")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_durations_round_trip() {
        assert_eq!(iso_duration(120), "PT2M");
        assert_eq!(iso_duration(100), "PT1M40S");
        assert_eq!(iso_duration(3600), "PT1H");
        assert_eq!(
            crate::kinds::canon::iso_seconds(&json!("PT1M40S")),
            Some(json!(100))
        );
    }

    #[test]
    fn rules_compare_singular_and_plural_forms_equal() {
        let desired = json!({ "properties": { "securityRules": [ { "name": "Batch", "properties": {
            "priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
            "sourceAddressPrefix": "BatchNodeManagement", "sourcePortRange": "*",
            "destinationAddressPrefix": "*", "destinationPortRange": "29876-29877" } } ] } });
        let live = json!({ "properties": { "securityRules": [ { "name": "batch", "id": "/x", "etag": "W/\"1\"", "properties": {
            "provisioningState": "Succeeded", "priority": 100, "direction": "Inbound", "access": "Allow", "protocol": "TCP",
            "sourceAddressPrefix": "BatchNodeManagement", "sourceAddressPrefixes": [], "sourcePortRange": "*", "sourcePortRanges": [],
            "destinationAddressPrefix": "*", "destinationAddressPrefixes": [], "destinationPortRanges": ["29876-29877"] } } ],
            "defaultSecurityRules": [] } });
        assert_eq!(
            project(Kind::NetworkSecurityGroup, &desired),
            project(Kind::NetworkSecurityGroup, &live)
        );
    }

    #[test]
    fn storage_acls_fold_case_and_ids() {
        let desired = json!({ "properties": { "networkAcls": { "defaultAction": "Deny", "bypass": "AzureServices",
            "virtualNetworkRules": [ { "id": "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Network/virtualNetworks/v/subnets/a" } ],
            "ipRules": [ { "value": "203.0.113.0/28", "action": "Allow" } ] } } });
        let live = json!({ "properties": { "networkAcls": { "defaultAction": "Deny", "bypass": "AzureServices",
            "virtualNetworkRules": [ { "id": "/subscriptions/s/resourcegroups/rg/providers/microsoft.network/virtualnetworks/v/subnets/a", "action": "Allow", "state": "Succeeded" } ],
            "ipRules": [ { "value": "203.0.113.0/28", "action": "Allow" } ], "ipv6Rules": [] } } });
        assert_eq!(
            project(Kind::StorageAccount, &desired),
            project(Kind::StorageAccount, &live)
        );
    }
}
