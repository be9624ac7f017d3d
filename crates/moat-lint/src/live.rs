//! The rules that need the live cloud: at plan time, once the live bodies are read, a subnet
//! of an `existing:` network (which offline lint can only report as not checked, ML203) is
//! checked like a declared one — the subnet a storage or key vault firewall names must have
//! the service's endpoint in the live network (ML201, ML202). Like every rule here it does no
//! IO: the caller hands in the bodies it read.

use crate::catalogue;
use crate::storage::{FIREWALLS, short};
use moat_model::kinds::refs;
use moat_model::{Kind, Model, json};
use moat_spec::{Diagnostic, Severity};
use serde_json::Value;
use std::collections::BTreeMap;

/// Runs the live-aware rules on `model` and the live bodies read, by resource key.
pub fn lint_live(model: &Model, live: &BTreeMap<String, Value>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for res in &model.resources {
        let Some((_, id, endpoint, accepted)) =
            FIREWALLS.iter().find(|(k, _, _, _)| *k == res.kind)
        else {
            continue;
        };
        for r in res
            .refs
            .iter()
            .filter(|r| refs::is_firewall_subnet(&r.field))
        {
            // References into an `existing:` network bind to the network itself.
            let Some(vnet) = r.target.as_deref().and_then(|t| model.get(t)) else {
                continue;
            };
            if vnet.kind != Kind::VirtualNetwork || !vnet.is_existing() {
                continue;
            }
            let Some(body) = live.get(&vnet.key) else {
                continue;
            };
            let name = r.id.rsplit('/').next().unwrap_or_default();
            let Some(subnet) = json::get(body, "properties.subnets")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|s| {
                    s.get("name")
                        .and_then(Value::as_str)
                        .is_some_and(|n| n.eq_ignore_ascii_case(name))
                })
            else {
                continue; // a missing subnet is E0203, reported by the subnet's live check
            };
            let live_endpoints: Vec<&str> = json::get(subnet, "properties.serviceEndpoints")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|e| e.get("service").and_then(Value::as_str))
                .collect();
            if live_endpoints
                .iter()
                .any(|e| accepted.iter().any(|a| a.eq_ignore_ascii_case(e)))
            {
                continue;
            }
            let severity = catalogue::find(id).map_or(Severity::Error, |x| x.severity);
            let what = res.kind.word().replace('_', " ");
            let has = if live_endpoints.is_empty() {
                "none".to_string()
            } else {
                live_endpoints.join(", ")
            };
            out.push(
                Diagnostic::new(
                    severity,
                    id,
                    format!(
                        "subnet `{}` of the live network `{}` has no `{endpoint}` service endpoint, which the firewall of {what} `{}` requires",
                        short(&r.id),
                        vnet.key,
                        res.key
                    ),
                    r.span,
                )
                .label(format!("the live subnet's service endpoints: {has}"))
                .hint(format!(
                    "ask the network's owners to add `{endpoint}` to the subnet, or name another subnet"
                )),
            );
        }
    }
    out
}
