//! Microsoft.Network security groups and their rules: rules given inline (the full set) or one
//! by one, priority and port/prefix rules, the six default rules, and "in use" by subnets.

use super::network::{self, back_refs, string_list};
use super::{KindDef, check_enum, no_refs, patch_tags};
use crate::ctx::{Ctx, Span};
use crate::errors::{ArmError, ArmResult};
use crate::kind::{Kind, ResPath};
use crate::lro::LroStyle;
use crate::reply::Reply;
use crate::store::{Record, State};
use crate::util;
use serde_json::{Map, Value, json};

/// Network security groups.
pub const DEF: KindDef = KindDef {
    kind: Kind::NetworkSecurityGroup,
    put,
    patch: patch_tags,
    delete,
    render,
    refs: no_refs,
    lro: Some(LroStyle::NETWORK),
    // Recordings (azure-cli network/test_network_nsg.yaml and others, 4 PUTs): 1–3 s.
    create: Span::new(3.0, 1.0, 4.0),
    variants: &[],
    // Recordings: 3 deletes, 1–10 s (10 s = one poll interval late).
    delete_secs: 2.0,
};

/// Security rules (children of a security group, also writable inline through it).
pub const RULE_DEF: KindDef = KindDef {
    kind: Kind::SecurityRule,
    put: put_rule,
    patch: patch_tags,
    delete: delete_rule,
    render: render_rule,
    refs: no_refs,
    lro: Some(LroStyle::NETWORK),
    // Recordings (6 rule PUTs): 10–11 s, each one poll interval; the work itself is shorter.
    create: Span::new(2.0, 1.0, 4.0),
    variants: &[],
    delete_secs: 2.0,
};

/// Rules given inline under `securityRules`.
const INLINE: network::Inline = network::Inline {
    field: "securityRules",
    child: Kind::SecurityRule,
    validate: validate_rule,
    fill: |props, sp| {
        if let Some(v) = props.get("flushConnection").filter(|v| v.is_boolean()) {
            sp.insert("flushConnection".into(), v.clone());
        }
    },
};

/// A PUT of the parent stores it with its inline children.
const OPS: network::NetOps = network::NetOps {
    put_name: "PutOperation",
    vnet: network::no_vnet,
    write: |ctx, rp, body, secs| network::put_parent_with_children(ctx, rp, body, secs, &INLINE),
    in_use: |ctx, rp| {
        network::in_use_by_subnets(
            ctx,
            &rp.id(),
            "InUseNetworkSecurityGroupCannotBeDeleted",
            "Network security group",
            "aka.ms/deletensg",
        )
    },
};

/// A PUT of one child stores it beside its siblings.
const RULE_OPS: network::NetOps = network::NetOps {
    put_name: "PutOperation",
    vnet: network::no_vnet,
    write: |ctx, rp, body, secs| network::put_child(ctx, rp, body, secs, INLINE.validate),
    in_use: network::never_in_use,
};

fn put(ctx: &mut Ctx, rp: &ResPath, body: Value) -> ArmResult<Reply> {
    network::put(ctx, rp, body, &OPS)
}

fn put_rule(ctx: &mut Ctx, rp: &ResPath, body: Value) -> ArmResult<Reply> {
    network::put(ctx, rp, body, &RULE_OPS)
}

fn delete(ctx: &mut Ctx, rp: &ResPath) -> ArmResult<Reply> {
    network::delete(ctx, rp, &OPS)
}

fn delete_rule(ctx: &mut Ctx, rp: &ResPath) -> ArmResult<Reply> {
    network::delete(ctx, rp, &RULE_OPS)
}

/// Fills in a security group body: its rules, the default rules and the subnets using it.
fn render(st: &State, rec: &Record, v: &mut Value, now: f64) {
    network::render_common(st, rec, v, now);
    let props = util::obj_at(v, "/properties");
    let rules: Vec<Value> = st
        .children(&rec.id, Kind::SecurityRule)
        .into_iter()
        .map(|s| super::render(st, s, now))
        .collect();
    props.insert("securityRules".into(), Value::Array(rules));
    props.insert(
        "defaultSecurityRules".into(),
        default_rules(&rec.id, &rec.etag),
    );
    let subnets = back_refs(st, &rec.id, network::BackRef::NsgSubnets, now);
    if !subnets.is_empty() {
        props.insert("subnets".into(), Value::Array(subnets));
    }
}

fn render_rule(st: &State, rec: &Record, v: &mut Value, now: f64) {
    network::render_common(st, rec, v, now);
}

/// The six rules every NSG carries.
fn default_rules(nsg_id: &str, etag: &str) -> Value {
    let rules = [
        (
            "AllowVnetInBound",
            "Allow inbound traffic from all VMs in VNET",
            "VirtualNetwork",
            "VirtualNetwork",
            "Allow",
            65000,
            "Inbound",
        ),
        (
            "AllowAzureLoadBalancerInBound",
            "Allow inbound traffic from azure load balancer",
            "AzureLoadBalancer",
            "*",
            "Allow",
            65001,
            "Inbound",
        ),
        (
            "DenyAllInBound",
            "Deny all inbound traffic",
            "*",
            "*",
            "Deny",
            65500,
            "Inbound",
        ),
        (
            "AllowVnetOutBound",
            "Allow outbound traffic from all VMs to all VMs in VNET",
            "VirtualNetwork",
            "VirtualNetwork",
            "Allow",
            65000,
            "Outbound",
        ),
        (
            "AllowInternetOutBound",
            "Allow outbound traffic from all VMs to Internet",
            "*",
            "Internet",
            "Allow",
            65001,
            "Outbound",
        ),
        (
            "DenyAllOutBound",
            "Deny all outbound traffic",
            "*",
            "*",
            "Deny",
            65500,
            "Outbound",
        ),
    ];
    Value::Array(
        rules
            .iter()
            .map(|(name, desc, src, dst, access, prio, dir)| {
                json!({
                    "name": name,
                    "id": format!("{nsg_id}/defaultSecurityRules/{name}"),
                    "etag": etag,
                    "type": "Microsoft.Network/networkSecurityGroups/defaultSecurityRules",
                    "properties": {
                        "provisioningState": "Succeeded",
                        "description": desc,
                        "protocol": "*",
                        "sourcePortRange": "*",
                        "destinationPortRange": "*",
                        "sourceAddressPrefix": src,
                        "destinationAddressPrefix": dst,
                        "access": access,
                        "priority": prio,
                        "direction": dir,
                        "sourcePortRanges": [],
                        "destinationPortRanges": [],
                        "sourceAddressPrefixes": [],
                        "destinationAddressPrefixes": []
                    }
                })
            })
            .collect(),
    )
}

fn validate_rule(name: &str, p: &Value, siblings: &[(String, Value)]) -> ArmResult<Value> {
    let field = |f: &str| p.get(f).unwrap_or(&Value::Null);
    let protocol = check_enum(
        field("protocol"),
        "protocol",
        &["Tcp", "Udp", "Icmp", "Esp", "*", "Ah"],
    )?;
    let access = check_enum(field("access"), "access", &["Allow", "Deny"])?;
    let direction = check_enum(field("direction"), "direction", &["Inbound", "Outbound"])?;
    let (Some(protocol), Some(access), Some(direction)) = (protocol, access, direction) else {
        return Err(ArmError::invalid_content(format!(
            "Security rule {name} must set 'protocol', 'access' and 'direction'"
        )));
    };
    let priority = field("priority").as_i64().ok_or_else(|| {
        ArmError::bad_request("SecurityRuleInvalidPriority", format!("Security rule {name} has invalid Priority. Value provided: {} Allowed range 100-4096.", field("priority")))
    })?;
    if !(100..=4096).contains(&priority) {
        return Err(ArmError::bad_request(
            "SecurityRuleInvalidPriority",
            format!(
                "Security rule {name} has invalid Priority. Value provided: {priority} Allowed range 100-4096."
            ),
        ));
    }
    for (other, op) in siblings {
        if !other.eq_ignore_ascii_case(name)
            && op.get("priority").and_then(Value::as_i64) == Some(priority)
            && op.get("direction").and_then(Value::as_str) == Some(direction.as_str())
        {
            return Err(ArmError::bad_request(
                "SecurityRuleConflict",
                format!(
                    "Security rule {name} conflicts with rule {other}. Rules cannot have the same Priority and Direction. To learn more, see aka.ms/nsgrules."
                ),
            ));
        }
    }
    let mut out = Map::new();
    if let Some(d) = p.get("description").filter(|v| v.is_string()) {
        out.insert("description".into(), d.clone());
    }
    out.insert("protocol".into(), json!(protocol));
    for (single, plural, what) in [
        ("sourcePortRange", "sourcePortRanges", "port range"),
        (
            "destinationPortRange",
            "destinationPortRanges",
            "port range",
        ),
        (
            "sourceAddressPrefix",
            "sourceAddressPrefixes",
            "address prefix",
        ),
        (
            "destinationAddressPrefix",
            "destinationAddressPrefixes",
            "address prefix",
        ),
    ] {
        let plural_list = string_list(p.get(plural), plural)?;
        match p.get(single).and_then(Value::as_str) {
            Some(s) if plural_list.is_empty() => {
                out.insert(single.into(), json!(s));
            }
            Some(_) => {
                return Err(ArmError::bad_request(
                    "SecurityRuleParameterContainsUnsupportedValue",
                    format!(
                        "Security rule {name} specifies both {single} and {plural}. Only one of them may be set."
                    ),
                ));
            }
            None if plural_list.is_empty() && !(what == "address prefix" && has_asg(p, single)) => {
                return Err(ArmError::bad_request(
                    "SecurityRuleInvalidAddressPrefix",
                    format!(
                        "Security rule {name} has no {single} or {plural}; one {what} is required."
                    ),
                ));
            }
            None => {}
        }
        out.insert(plural.into(), json!(plural_list));
    }
    for f in [
        "sourceApplicationSecurityGroups",
        "destinationApplicationSecurityGroups",
    ] {
        if let Some(v) = p.get(f).filter(|v| v.is_array()) {
            out.insert(f.into(), v.clone());
        }
    }
    out.insert("access".into(), json!(access));
    out.insert("priority".into(), json!(priority));
    out.insert("direction".into(), json!(direction));
    Ok(Value::Object(out))
}

fn has_asg(p: &Value, single: &str) -> bool {
    let f = if single.starts_with("source") {
        "sourceApplicationSecurityGroups"
    } else {
        "destinationApplicationSecurityGroups"
    };
    p.get(f)
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}
