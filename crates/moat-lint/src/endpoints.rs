//! ML5xx: online endpoints and their traffic — what Azure refuses only after the deployments
//! have been built (minutes in), known from the spec alone.

use crate::catalogue::ids;
use crate::cx::Cx;
use crate::vmsizes;
use moat_model::kinds::refs;
use moat_model::{Body, Kind, Resource};
use moat_spec::Diagnostic;
use moat_spec::ast::{self, KindSpec};

pub fn check(cx: &mut Cx<'_>) {
    let mut found = Vec::new();
    for (res, spec) in cx.specs(Kind::OnlineEndpoint) {
        let KindSpec::OnlineEndpoint(e) = spec else {
            continue;
        };
        if let Some(t) = &e.traffic {
            let sum: u64 = t.value.iter().map(|(_, p)| u64::from(p.value)).sum();
            if sum != 0 && sum != 100 {
                found.push(
                    Cx::diag(
                        ids::ML501,
                        format!("the traffic of `{}` sums to {sum}, not 100", res.key),
                        t.span,
                    )
                    .label(format!("{sum} in total"))
                    .hint("make the shares add up to 100, or set them all to 0"),
                );
            }
        }
        if let Some(m) = &e.mirror_traffic {
            let sum: u64 = m.value.iter().map(|(_, p)| u64::from(p.value)).sum();
            if sum > 50 {
                found.push(
                    Cx::diag(
                        ids::ML502,
                        format!("the mirror traffic of `{}` is {sum}, more than 50", res.key),
                        m.span,
                    )
                    .label(format!("{sum} in total"))
                    .hint("mirror at most 50 percent in total"),
                );
            }
            for (name, _) in m.value.iter() {
                let live = e
                    .traffic
                    .as_ref()
                    .and_then(|t| t.value.get(&name.value))
                    .is_some_and(|p| p.value > 0);
                if live {
                    found.push(
                        Cx::diag(
                            ids::ML502,
                            format!("`{}` gets live traffic and mirrored traffic", name.value),
                            name.span,
                        )
                        .label("also in `traffic`")
                        .hint("mirror onto a deployment that gets no live traffic"),
                    );
                }
            }
        }
    }
    traffic_targets(cx, &mut found);
    kubernetes_computes(cx, &mut found);
    extension_nodes(cx, &mut found);
    deployment_sizes(cx, &mut found);
    for d in found {
        cx.push(d);
    }
}

/// The typed spec of a model resource.
fn spec_of(r: &Resource) -> Option<&KindSpec> {
    match &r.body {
        Body::Spec(s) => Some(s),
        _ => None,
    }
}

/// ML503: traffic and mirror keys name deployments of that endpoint (a key of a deployment
/// of another endpoint resolves, and Azure answers "not found in endpoint" minutes in).
fn traffic_targets(cx: &Cx<'_>, found: &mut Vec<Diagnostic>) {
    for (res, spec) in cx.specs(Kind::OnlineEndpoint) {
        let KindSpec::OnlineEndpoint(e) = spec else {
            continue;
        };
        for (map, entries) in [
            ("traffic", &e.traffic),
            ("mirror_traffic", &e.mirror_traffic),
        ] {
            for (name, _) in entries.iter().flat_map(|m| m.value.iter()) {
                let Some(d) = cx.model.get(&name.value) else {
                    continue;
                };
                if d.kind != Kind::OnlineDeployment || d.parent.as_deref() == Some(&res.key) {
                    continue;
                }
                let other = d.parent.clone().unwrap_or_default();
                found.push(
                    Cx::diag(
                        ids::ML503,
                        format!(
                            "`{}` names deployment `{}` in its `{map}`, but that deployment belongs to `{other}`",
                            res.key, name.value
                        ),
                        name.span,
                    )
                    .label(format!("a deployment of `{other}`"))
                    .with_secondary(d.key_span, format!("`{}` is declared here", d.key))
                    .hint(format!(
                        "name a deployment whose `endpoint:` is `{}`, or set that deployment's `endpoint:` to it",
                        res.key
                    )),
                );
            }
        }
    }
}

/// ML504 (the cluster carries the ML extension) and ML508 (workspace and cluster in one
/// region) of every Kubernetes compute whose cluster this spec manages.
fn kubernetes_computes(cx: &Cx<'_>, found: &mut Vec<Diagnostic>) {
    for (res, spec) in cx.specs(Kind::KubernetesCompute) {
        let KindSpec::KubernetesCompute(c) = spec else {
            continue;
        };
        let Some(cluster) = cx.target(res, refs::CLUSTER) else {
            continue;
        };
        let Some(KindSpec::AksCluster(a)) = spec_of(cluster) else {
            continue; // an `existing:` cluster: its extensions are not in the spec
        };
        if a.ml_extension.is_none() {
            found.push(
                Cx::diag(
                    ids::ML504,
                    format!(
                        "`{}` attaches `{}`, which has no `ml_extension`",
                        res.key, cluster.key
                    ),
                    c.cluster.span,
                )
                .label("no Azure ML extension on this cluster")
                .with_secondary(cluster.key_span, format!("`{}`", cluster.key))
                .hint(format!(
                    "add `ml_extension: {{ inference_router: load_balancer }}` to `{}`",
                    cluster.key
                )),
            );
        }
        let ws = cx.target(res, refs::WORKSPACE);
        if let (Some(ws), Some(wl), Some(cl)) = (
            ws,
            ws.and_then(|w| w.location.as_ref()),
            cluster.location.as_ref(),
        ) && wl.value != cl.value
        {
            found.push(
                Cx::diag(
                    ids::ML508,
                    format!(
                        "`{}` attaches a cluster in {} to workspace `{}` in {}",
                        res.key, cl.value, ws.key, wl.value
                    ),
                    c.cluster.span,
                )
                .label(format!("in {}", cl.value))
                .with_secondary(ws.key_span, format!("in {}", wl.value))
                .hint("put the cluster in the workspace's region: token auth and the extension's calls go to the workspace's region"),
            );
        }
    }
}

/// ML505: a highly available inference router runs three replicas, on three nodes.
fn extension_nodes(cx: &Cx<'_>, found: &mut Vec<Diagnostic>) {
    for (res, spec) in cx.specs(Kind::AksCluster) {
        let KindSpec::AksCluster(a) = spec else {
            continue;
        };
        let Some(x) = &a.ml_extension else { continue };
        let x = &x.value;
        let ha = x.high_availability.as_ref().is_none_or(|h| h.value)
            && x.inference.as_ref().is_none_or(|i| i.value);
        let nodes = a
            .auto_scaling
            .as_ref()
            .map(|s| s.value.min_count.value)
            .or(a.node_count.as_ref().map(|n| n.value))
            .unwrap_or(3);
        if ha && nodes < 3 {
            let span = x
                .high_availability
                .as_ref()
                .map_or(res.key_span, |h| h.span);
            found.push(
                Cx::diag(
                    ids::ML505,
                    format!(
                        "the inference router of `{}` is highly available (3 replicas) on {nodes} node{}",
                        res.key,
                        if nodes == 1 { "" } else { "s" }
                    ),
                    span,
                )
                .label("three router replicas")
                .hint("give the cluster at least 3 nodes, or set `high_availability: false`"),
            );
        }
    }
}

/// A Kubernetes CPU quantity (`"1"`, `"500m"`, `"2.5"`) in millicores.
fn millicores(q: &str) -> Option<u64> {
    let q = q.trim();
    match q.strip_suffix('m') {
        Some(m) => m.parse().ok(),
        None => q.parse::<f64>().ok().map(|c| (c * 1000.0).round() as u64),
    }
}

/// ML506 (the instance type exists on the compute) and ML507 (its CPU request fits a node)
/// of every deployment on a Kubernetes compute of this spec.
fn deployment_sizes(cx: &Cx<'_>, found: &mut Vec<Diagnostic>) {
    for (res, spec) in cx.specs(Kind::OnlineDeployment) {
        let KindSpec::OnlineDeployment(d) = spec else {
            continue;
        };
        let Some(compute) = cx.target(res, refs::COMPUTE) else {
            continue;
        };
        let Some(KindSpec::KubernetesCompute(c)) = spec_of(compute) else {
            continue;
        };
        // Without `instance_types` Azure ML gives the compute one, `defaultinstancetype`.
        let names: Vec<&str> = match &c.instance_types {
            Some(t) => t.value.iter().map(|(k, _)| k.value.as_str()).collect(),
            None => vec!["defaultinstancetype"],
        };
        let chosen = d
            .instance_type
            .as_ref()
            .map(|t| (t.value.as_str(), t.span))
            .or_else(|| {
                c.default_instance_type
                    .as_ref()
                    .map(|t| (t.value.as_str(), res.key_span))
            });
        // A default that is not one of them is resolution's error (E0203).
        if let Some((name, span)) = chosen.filter(|_| d.instance_type.is_some())
            && !names.iter().any(|n| n.eq_ignore_ascii_case(name))
        {
            let hint = moat_spec::suggest::did_you_mean(name, names.iter().copied()).map_or_else(
                || {
                    format!(
                        "name one of `{}`'s instance types: {}",
                        compute.key,
                        names.join(", ")
                    )
                },
                |s| format!("did you mean `{s}`?"),
            );
            found.push(
                Cx::diag(
                    ids::ML506,
                    format!("`{}` has no instance type `{name}`", compute.key),
                    span,
                )
                .label("not an instance type of the deployment's compute")
                .with_secondary(compute.key_span, format!("`{}`", compute.key))
                .hint(hint),
            );
            continue;
        }
        // What a pod asks for: the deployment's own requests, else its instance type's.
        let instance = chosen.and_then(|(name, _)| {
            c.instance_types.as_ref().and_then(|t| {
                t.value
                    .iter()
                    .find(|(k, _)| k.value.eq_ignore_ascii_case(name))
                    .map(|(_, v)| &v.value)
            })
        });
        let request: Option<&moat_spec::Spanned<String>> = d
            .resources
            .as_ref()
            .and_then(|r| r.value.requests.as_ref())
            .and_then(|q| q.value.cpu.as_ref())
            .or_else(|| {
                instance
                    .and_then(|i: &ast::InstanceType| i.requests.as_ref())
                    .and_then(|q| q.value.cpu.as_ref())
            });
        let Some(cpu) = request else { continue };
        let Some(cluster) = cx.target(compute, refs::CLUSTER) else {
            continue;
        };
        let Some(KindSpec::AksCluster(a)) = spec_of(cluster) else {
            continue;
        };
        let size = a
            .vm_size
            .as_ref()
            .map_or("Standard_D4s_v3", |v| v.value.as_str());
        let (Some(want), Some(per)) = (millicores(&cpu.value), vmsizes::vcpus(size)) else {
            continue;
        };
        if want > u64::from(per) * 1000 {
            let span = if cpu.span.start >= res.span.start && cpu.span.end <= res.span.end {
                cpu.span
            } else {
                res.key_span
            };
            found.push(
                Cx::diag(
                    ids::ML507,
                    format!(
                        "`{}` asks for {} CPU, more than a `{size}` node of `{}` has ({per} vCPUs)",
                        res.key, cpu.value, cluster.key
                    ),
                    span,
                )
                .label("a pod must fit on one node")
                .with_secondary(cluster.key_span, format!("`{}`: {size}", cluster.key))
                .hint("lower the CPU request, or give the cluster a larger `vm_size`"),
            );
        }
    }
}
