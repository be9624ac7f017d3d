//! Deployments of an online endpoint: model, environment, code, instance type and count,
//! Kubernetes resources, scale, request settings and probes. Code and instance type are
//! create-only (a change is a replacement); Azure refuses to delete a deployment that still
//! carries traffic, which the endpoint's traffic node moves away first.

use super::{Field, KindDef, ML_SECRETS, Scope, ScopeRef, Site, canon, refs};
use crate::arm::{MapContext, iso_duration};
use crate::model::{Body, Kind, Resource};
use crate::resolve::{Resolver, parse_duration};
use crate::{json, naming};
use moat_spec::ast::{self, KindSpec, ScaleType};
use moat_spec::{Diagnostic, Spanned, codes};
use serde_json::{Map, Value, json};

pub(crate) static DEF: KindDef = KindDef {
    scope_ref: Some(ScopeRef {
        field: refs::ENDPOINT,
        get: scope_ref,
    }),
    fields: &[
        Field::new("sku.capacity", canon::same).default("1"),
        Field::new("properties.endpointComputeType", canon::lower).immutable(),
        Field::new("properties.model", canon::id_of),
        Field::new("properties.environmentId", canon::id_of),
        Field::new("properties.codeConfiguration.codeId", canon::id_of).immutable(),
        Field::new("properties.codeConfiguration.scoringScript", canon::same).immutable(),
        Field::new("properties.instanceType", canon::lower).immutable(),
        Field::new("properties.containerResourceRequirements", canon::same),
        Field::new("properties.scaleSettings", canon::same),
        Field::new("properties.requestSettings", canon::same),
        Field::new("properties.livenessProbe", canon::same),
        Field::new("properties.readinessProbe", canon::same),
        Field::new("properties.environmentVariables", canon::same).default("{}"),
        Field::new("properties.appInsightsEnabled", canon::same).default("false"),
        Field::new("properties.description", canon::same),
    ],
    secrets: ML_SECRETS,
    live_check: Some(check_live),
    ..KindDef::new(
        Kind::OnlineDeployment,
        "online_deployment",
        "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments",
        "2024-04-01",
        Scope::Child {
            parent: Kind::OnlineEndpoint,
            segment: "deployments",
        },
        naming::ML_ENDPOINT,
        340,
        body,
        check,
    )
};

/// `5s`, `2m`, `500ms` or ISO 8601 as written → ISO 8601 (`PT5S`, `PT0.5S`).
pub(crate) fn duration(s: &str) -> String {
    let t = s.trim();
    if t.starts_with("PT") {
        return t.to_string();
    }
    if let Some(ms) = t
        .strip_suffix("ms")
        .and_then(|n| n.trim().parse::<u64>().ok())
    {
        return if ms % 1000 == 0 {
            iso_duration(ms / 1000)
        } else {
            format!("PT{}S", ms as f64 / 1000.0)
        };
    }
    parse_duration(t).map_or_else(|_| t.to_string(), iso_duration)
}

fn quantities(q: &ast::K8sQuantities) -> Value {
    let mut m = Map::new();
    for (k, v) in [("cpu", &q.cpu), ("memory", &q.memory), ("gpu", &q.gpu)] {
        if let Some(v) = v {
            m.insert(k.into(), json!(v.value));
        }
    }
    Value::Object(m)
}

fn probe(p: &ast::Probe) -> Value {
    let mut m = Map::new();
    for (k, v) in [
        ("failureThreshold", &p.failure_threshold),
        ("successThreshold", &p.success_threshold),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), json!(v.value));
        }
    }
    for (k, v) in [
        ("timeout", &p.timeout),
        ("period", &p.period),
        ("initialDelay", &p.initial_delay),
    ] {
        if let Some(v) = v {
            m.insert(k.into(), json!(duration(&v.value)));
        }
    }
    Value::Object(m)
}

/// A reference that is a spec key or an ARM ID, or a URI sent as written.
fn asset(r: &Resource, field: &str, written: Option<&Spanned<String>>) -> Option<String> {
    super::ref_id(r, field).or_else(|| written.map(|w| w.value.clone()))
}

fn body(r: &Resource, b: &mut Value, _ctx: &MapContext) {
    let Body::Spec(KindSpec::OnlineDeployment(d)) = &r.body else {
        return;
    };
    let kubernetes = r.reference(refs::COMPUTE).is_some();
    json::set(
        b,
        "sku",
        json!({"name": "Default", "capacity": d.instance_count.as_ref().map_or(1, |c| c.value)}),
    );
    json::set(
        b,
        "properties.endpointComputeType",
        json!(if kubernetes { "Kubernetes" } else { "Managed" }),
    );
    if let Some(m) = asset(r, refs::MODEL, d.model.as_ref()) {
        json::set(b, "properties.model", json!(m));
    }
    if let Some(e) = asset(r, refs::ENVIRONMENT, d.environment.as_ref()) {
        json::set(b, "properties.environmentId", json!(e));
    }
    if let Some(c) = &d.code {
        let code = asset(r, refs::CODE, Some(&c.value.code)).unwrap_or_default();
        json::set(
            b,
            "properties.codeConfiguration",
            json!({"codeId": code, "scoringScript": c.value.scoring_script.value}),
        );
    }
    if let Some(t) = &d.instance_type {
        json::set(b, "properties.instanceType", json!(t.value));
    }
    if let Some(res) = &d.resources {
        let mut m = Map::new();
        if let Some(q) = &res.value.requests {
            m.insert("containerResourceRequests".into(), quantities(&q.value));
        }
        if let Some(q) = &res.value.limits {
            m.insert("containerResourceLimits".into(), quantities(&q.value));
        }
        json::set(
            b,
            "properties.containerResourceRequirements",
            Value::Object(m),
        );
    }
    let scale = match &d.scale {
        Some(s) if s.value.scale_type.value == ScaleType::TargetUtilization => {
            let s = &s.value;
            let mut m = Map::new();
            m.insert("scaleType".into(), json!("TargetUtilization"));
            for (k, v) in [
                ("minInstances", &s.min_instances),
                ("maxInstances", &s.max_instances),
                (
                    "targetUtilizationPercentage",
                    &s.target_utilization_percentage,
                ),
            ] {
                if let Some(v) = v {
                    m.insert(k.into(), json!(v.value));
                }
            }
            if let Some(p) = &s.polling_interval {
                m.insert("pollingInterval".into(), json!(duration(&p.value)));
            }
            Value::Object(m)
        }
        _ => json!({"scaleType": "Default"}),
    };
    json::set(b, "properties.scaleSettings", scale);
    if let Some(q) = &d.request {
        let q = &q.value;
        let mut m = Map::new();
        if let Some(t) = &q.request_timeout {
            m.insert("requestTimeout".into(), json!(duration(&t.value)));
        }
        if let Some(n) = &q.max_concurrent_requests_per_instance {
            m.insert("maxConcurrentRequestsPerInstance".into(), json!(n.value));
        }
        if let Some(t) = &q.max_queue_wait {
            m.insert("maxQueueWait".into(), json!(duration(&t.value)));
        }
        json::set(b, "properties.requestSettings", Value::Object(m));
    }
    if let Some(p) = &d.liveness_probe {
        json::set(b, "properties.livenessProbe", probe(&p.value));
    }
    if let Some(p) = &d.readiness_probe {
        json::set(b, "properties.readinessProbe", probe(&p.value));
    }
    if let Some(vars) = &d.environment_variables {
        let m: Map<String, Value> = vars
            .value
            .iter()
            .map(|(k, v)| (k.value.clone(), json!(v.value)))
            .collect();
        json::set(b, "properties.environmentVariables", Value::Object(m));
    }
    if let Some(a) = &d.app_insights {
        json::set(b, "properties.appInsightsEnabled", json!(a.value));
    }
    if let Some(x) = &d.description {
        json::set(b, "properties.description", json!(x.value));
    }
}

/// Binds model, environment and code; learns from its endpoint whether it runs on Kubernetes.
fn check(rs: &mut Resolver<'_>, spec: &KindSpec, site: Site<'_>) {
    let Site { refs, .. } = site;
    let KindSpec::OnlineDeployment(d) = spec else {
        return;
    };
    for (field, value, kind) in [
        (refs::MODEL, &d.model, Kind::MlModel),
        (refs::ENVIRONMENT, &d.environment, Kind::MlEnvironment),
    ] {
        if let Some(v) = value
            && !v.value.starts_with("azureml://")
        {
            refs.extend(rs.bind(v, field, &[kind]));
        }
    }
    if let Some(c) = &d.code
        && !c.value.code.value.starts_with("azureml://")
    {
        refs.extend(rs.bind(&c.value.code, refs::CODE, &[Kind::MlCode]));
    }
    // The endpoint's compute decides the deployment's compute type.
    let endpoint = rs.syms.get(d.endpoint.value.as_str()).map(|s| s.res);
    let compute = endpoint
        .and_then(|e| e.body.as_ref())
        .and_then(|b| match b {
            KindSpec::OnlineEndpoint(e) => e.compute.clone(),
            _ => None,
        });
    match compute {
        Some(c) => refs.extend(rs.bind(&c, refs::COMPUTE, &[Kind::KubernetesCompute])),
        None => {
            if let Some(res) = &d.resources {
                rs.push(
                    Diagnostic::error(
                        codes::E0114,
                        "`resources:` applies to Kubernetes deployments only",
                        res.span,
                    )
                    .label("the endpoint runs on managed compute")
                    .hint(
                        "pick a VM size with `instance_type:`, or give the endpoint a `compute:`",
                    ),
                );
            }
        }
    }
}

/// A create-only change (instance type, code, compute type) replaces a deployment: delete,
/// then create. Azure refuses the delete while the endpoint sends the deployment live traffic,
/// and a deployment that carries all of it would leave the endpoint serving nothing in
/// between, so the plan stops first, at the changed field, saying how to roll it out instead.
/// `live` holds the bodies read, by resource key.
pub(crate) fn check_live(
    model: &crate::model::Model,
    live: &std::collections::BTreeMap<String, Value>,
) -> Vec<Diagnostic> {
    let ctx = MapContext::default();
    let mut out = Vec::new();
    for r in model
        .resources
        .iter()
        .filter(|r| r.kind == Kind::OnlineDeployment)
    {
        let (Body::Spec(KindSpec::OnlineDeployment(d)), Some(have)) = (&r.body, live.get(&r.key))
        else {
            continue;
        };
        let want = crate::arm::project(r.kind, &crate::arm::request_body(model, r, &ctx));
        let have = crate::arm::project(r.kind, have);
        let changed: Vec<&str> = DEF
            .fields
            .iter()
            .filter(|f| f.immutable)
            .map(|f| f.path)
            .filter(|p| {
                want.get(*p)
                    .is_some_and(|w| have.get(*p).is_some_and(|h| h != w))
            })
            .collect();
        let Some(first) = changed.first() else {
            continue;
        };
        let Some(endpoint) = r.parent.as_deref().and_then(|p| live.get(p)) else {
            continue;
        };
        let traffic: Vec<(String, i64)> = json::get(endpoint, "properties.traffic")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_i64().map(|v| (k.clone(), v)))
                    .collect()
            })
            .unwrap_or_default();
        let mine = traffic
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&r.name.value))
            .map_or(0, |(_, v)| *v);
        if mine == 0 {
            continue;
        }
        let others = traffic
            .iter()
            .any(|(k, v)| *v > 0 && !k.eq_ignore_ascii_case(&r.name.value));
        let span = match *first {
            "properties.instanceType" => d.instance_type.as_ref().map(|x| x.span),
            p if p.starts_with("properties.codeConfiguration") => d.code.as_ref().map(|x| x.span),
            _ => None,
        }
        .unwrap_or(r.key_span);
        let what = match *first {
            "properties.instanceType" => "instance_type",
            "properties.codeConfiguration.codeId" => "code.code",
            "properties.codeConfiguration.scoringScript" => "code.scoring_script",
            _ => "compute type",
        };
        let (message, hint) = if others {
            (
                format!(
                    "replacing `{}` (its `{what}` cannot change in place) would delete a deployment that carries {mine}% of the endpoint's traffic",
                    r.key
                ),
                "move its traffic to the other deployments first (set it to 0 in the endpoint's `traffic:` and apply), then change it".to_string(),
            )
        } else {
            (
                format!(
                    "replacing `{}` (its `{what}` cannot change in place) would take down the only deployment that carries the endpoint's traffic ({mine}%)",
                    r.key
                ),
                "add a second deployment with the new value under a new key, move the traffic to it, then remove this one".to_string(),
            )
        };
        out.push(
            Diagnostic::error(codes::E0114, message, span)
                .label("create-only: a change replaces the deployment")
                .hint(hint),
        );
    }
    out
}

fn scope_ref(spec: &KindSpec) -> Option<&Spanned<String>> {
    match spec {
        KindSpec::OnlineDeployment(x) => Some(&x.endpoint),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::duration;

    #[test]
    fn durations_become_iso_8601() {
        assert_eq!(duration("5s"), "PT5S");
        assert_eq!(duration("500ms"), "PT0.5S");
        assert_eq!(duration("2m"), "PT2M");
        assert_eq!(duration("PT10S"), "PT10S");
    }
}
