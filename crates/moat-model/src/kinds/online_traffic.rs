//! An endpoint's traffic: a synthetic child that writes the endpoint's own URL after the
//! deployments it names exist. Azure refuses traffic naming a deployment that does not exist
//! yet and cannot take traffic in a PATCH, so the endpoint is created without it and this
//! node PUTs the whole endpoint (its spec body) with the full `traffic` and `mirrorTraffic`
//! maps — one read-merge-write, planned and journalled like any other write. Removing a
//! deployment updates this node in the apply's first phase, before the deletes.

use super::{Field, KindDef, Scope, Site, canon};
use crate::arm::MapContext;
use crate::model::{Body, Kind, Resource};
use crate::resolve::Resolver;
use crate::{json, naming};
use moat_spec::ast::KindSpec;
use serde_json::{Map, Value, json};

pub(crate) static DEF: KindDef = KindDef {
    fields: &[
        Field::new("properties.traffic", canon::same).default("{}"),
        Field::new("properties.mirrorTraffic", canon::same).default("{}"),
    ],
    carry_over: &["identity"],
    writes_parent: true,
    ..KindDef::new(
        Kind::OnlineTraffic,
        "online_traffic",
        "Microsoft.MachineLearningServices/workspaces/onlineEndpoints",
        "2024-04-01",
        Scope::Child {
            parent: Kind::OnlineEndpoint,
            segment: "traffic",
        },
        naming::ML_ENDPOINT,
        90,
        body,
        check,
    )
};

/// The endpoint's body with both maps, always present (a PUT without `traffic` zeroes it).
fn body(r: &Resource, b: &mut Value, ctx: &MapContext) {
    super::online_endpoint::body(r, b, ctx);
    let Body::Spec(KindSpec::OnlineEndpoint(e)) = &r.body else {
        return;
    };
    for (path, m) in [
        ("properties.traffic", &e.traffic),
        ("properties.mirrorTraffic", &e.mirror_traffic),
    ] {
        let mut out = Map::new();
        for (name, pct) in m.iter().flat_map(|m| m.value.iter()) {
            out.insert(name.value.clone(), json!(pct.value));
        }
        json::set(b, path, Value::Object(out));
    }
}

/// Checked by its endpoint, which builds it.
fn check(_rs: &mut Resolver<'_>, _spec: &KindSpec, _site: Site<'_>) {}
