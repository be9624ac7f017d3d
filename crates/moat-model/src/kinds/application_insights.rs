//! Application Insights components: type, workspace, retention and network access.

use super::{Field, KindDef, LockGroup, Replace, Scope, canon};
use crate::arm::MapContext;
use crate::arm::toggle;
use crate::json;
use crate::model::{Body, Kind, Resource};
use crate::naming;
use moat_spec::ast::{self, KindSpec};
use serde_json::{Value, json};

pub(crate) static DEF: KindDef = KindDef {
    kind: Kind::ApplicationInsights,
    word: "application_insights",
    arm_type: "Microsoft.Insights/components",
    api_version: "2020-02-02",
    scope: Scope::ResourceGroup,
    name_rule: naming::APPLICATION_INSIGHTS,
    typical_seconds: 5,
    replace: Replace::Allowed,
    delete_query: &[],
    lock_group: LockGroup::None,
    has_location: true,
    taggable: true,
    fields: &[
        Field::new("kind", canon::lower),
        Field::new("properties.Application_Type", canon::lower),
        Field::new("properties.WorkspaceResourceId", canon::id_of),
        Field::new("properties.RetentionInDays", canon::same).default(r#"90"#),
        Field::new("properties.publicNetworkAccessForIngestion", canon::lower)
            .default(r#""enabled""#),
        Field::new("properties.publicNetworkAccessForQuery", canon::lower).default(r#""enabled""#),
        Field::new("properties.DisableLocalAuth", canon::same).default(r#"false"#),
    ],
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
    let Body::Spec(KindSpec::ApplicationInsights(a)) = &r.body else {
        return;
    };
    let t = if a
        .application_type
        .as_ref()
        .is_some_and(|t| t.value == ast::ApplicationType::Other)
    {
        "other"
    } else {
        "web"
    };
    json::set(b, "kind", json!(t));
    json::set(b, "properties.Application_Type", json!(t));
    if let Some(w) = &a.log_analytics_workspace {
        json::set(b, "properties.WorkspaceResourceId", json!(w.value));
    }
    if let Some(d) = &a.retention_days {
        json::set(b, "properties.RetentionInDays", json!(d.value));
    }
    if let Some(x) = &a.public_network_access_for_ingestion {
        json::set(
            b,
            "properties.publicNetworkAccessForIngestion",
            json!(toggle(x.value)),
        );
    }
    if let Some(x) = &a.public_network_access_for_query {
        json::set(
            b,
            "properties.publicNetworkAccessForQuery",
            json!(toggle(x.value)),
        );
    }
    if let Some(x) = &a.disable_local_auth {
        json::set(b, "properties.DisableLocalAuth", json!(x.value));
    }
}
