//! Application Insights components: type, workspace, retention and network access.

use super::{Field, KindDef, Scope, ScopeRef, Site, canon, refs, words};
use crate::arm::{MapContext, toggle};
use crate::armid::ArmId;
use crate::model::{Body, Kind, Resource};
use crate::resolve::Resolver;
use crate::{json, naming};
use moat_spec::ast::{self, KindSpec};
use moat_spec::{Diagnostic, Spanned, codes};
use serde_json::{Value, json};

pub(crate) static DEF: KindDef = KindDef {
    scope_ref: Some(ScopeRef {
        field: refs::RESOURCE_GROUP,
        get: scope_ref,
    }),
    // Sources: components_API.json (2020-02-02). `Application_Type` is
    // `x-ms-mutability: [create, read]`, so it replaces the component; the rest are plain
    // properties of the create-or-update PUT.
    fields: &[
        Field::new("kind", canon::lower),
        Field::new("properties.Application_Type", canon::lower)
            .immutable()
            .spec_words("application_type", words::application_type),
        Field::new("properties.WorkspaceResourceId", canon::id_of).spec("log_analytics_workspace"),
        Field::new("properties.RetentionInDays", canon::same)
            .default("90")
            .spec("retention_days"),
        Field::new("properties.publicNetworkAccessForIngestion", canon::lower)
            .default(r#""enabled""#)
            .spec_words("public_network_access_for_ingestion", words::toggle),
        Field::new("properties.publicNetworkAccessForQuery", canon::lower)
            .default(r#""enabled""#)
            .spec_words("public_network_access_for_query", words::toggle),
        Field::new("properties.DisableLocalAuth", canon::same)
            .default("false")
            .spec("disable_local_auth"),
    ],
    ..KindDef::new(
        Kind::ApplicationInsights,
        "application_insights",
        "Microsoft.Insights/components",
        "2020-02-02",
        Scope::ResourceGroup,
        naming::APPLICATION_INSIGHTS,
        5,
        body,
        check,
    )
};

fn body(r: &Resource, b: &mut Value, _ctx: &MapContext) {
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

/// Offline checks of one `application_insights`: what Azure would reject that can be known from the spec.
pub(crate) fn check(rs: &mut Resolver<'_>, spec: &KindSpec, _site: Site<'_>) {
    let KindSpec::ApplicationInsights(a) = spec else {
        return;
    };
    if let Some(d) = &a.retention_days {
        const OK: [u32; 9] = [30, 60, 90, 120, 180, 270, 365, 550, 730];
        if !OK.contains(&d.value) {
            rs.push(
                Diagnostic::error(
                    codes::E0114,
                    format!("retention of {} days is not offered", d.value),
                    d.span,
                )
                .hint("use one of 30, 60, 90, 120, 180, 270, 365, 550, 730"),
            );
        }
    }
    if let Some(w) = &a.log_analytics_workspace {
        // Any subscription may hold it, but it must be a clean ID.
        match ArmId::parse_checked(&w.value).ok() {
                Some(p) if p.full_type().eq_ignore_ascii_case("Microsoft.OperationalInsights/workspaces") => {}
                _ => rs.push(
                    Diagnostic::error(codes::E0205, "`log_analytics_workspace` must be a Log Analytics workspace ID", w.span)
                        .hint("`/subscriptions/…/resourceGroups/…/providers/Microsoft.OperationalInsights/workspaces/<name>`"),
                ),
            }
    }
}

/// The `resource_group:` naming its scope.
fn scope_ref(spec: &KindSpec) -> Option<&Spanned<String>> {
    match spec {
        KindSpec::ApplicationInsights(x) => Some(&x.resource_group),
        _ => None,
    }
}
