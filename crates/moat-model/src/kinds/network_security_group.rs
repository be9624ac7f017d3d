//! Network security groups: the rule set, owned whole.

use super::{Field, KindDef, LockGroup, Replace, Scope, canon};
use crate::arm::MapContext;
use crate::arm::security_rule;
use crate::json;
use crate::model::{Body, Kind, Resource};
use crate::naming;
use moat_spec::ast::KindSpec;
use serde_json::Value;

pub(crate) static DEF: KindDef = KindDef {
    kind: Kind::NetworkSecurityGroup,
    word: "network_security_group",
    arm_type: "Microsoft.Network/networkSecurityGroups",
    api_version: "2024-03-01",
    scope: Scope::ResourceGroup,
    name_rule: naming::NETWORK_CHILD,
    typical_seconds: 5,
    replace: Replace::Allowed,
    delete_query: &[],
    lock_group: LockGroup::None,
    has_location: true,
    taggable: true,
    fields: &[Field::new("properties.securityRules", canon::security_rules).default(r#"{}"#)],
    immutable_unlisted: false,
    carry_over: &[],
    secrets: &[],
    body,
    read_in_parent: false,
    deletes_children: &[],
    guards_contents: None,
    soft_delete: None,
    replaced_with: &[],
};

fn body(
    r: &Resource,
    b: &mut Value,
    _ctx: &MapContext,
    _reference: &dyn Fn(&str) -> Option<String>,
) {
    let Body::Spec(KindSpec::NetworkSecurityGroup(n)) = &r.body else {
        return;
    };
    let rules: Vec<Value> = n
        .rules
        .iter()
        .flat_map(|r| r.value.iter())
        .map(|r| security_rule(&r.value))
        .collect();
    json::set(b, "properties.securityRules", Value::Array(rules));
}
