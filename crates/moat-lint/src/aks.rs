//! ML3xx: AKS clusters for inference, attached (`aks_compute.cluster`) or created by Azure ML
//! (`aks_compute.create`): region, Kubernetes address ranges against the virtual network,
//! the vCPUs each `cluster_purpose` requires, the NSG of the node subnet, double attachment.

use crate::catalogue::ids;
use crate::cx::{Cx, SubnetRef, nsg_rules};
use crate::nsg::{self, By, Endpoint, Probe, Verdict};
use crate::vmsizes;
use moat_model::cidr::{self, Cidr};
use moat_model::kinds::refs;
use moat_model::{Body, Kind, Model, Ref, Resource};
use moat_spec::ast::{ClusterPurpose, Direction, KindSpec, SecurityRule};
use moat_spec::{Span, Spanned};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;

/// AKS's (and Azure ML's) service range and DNS address when none is given.
const DEFAULT_SERVICE_CIDR: &str = "10.0.0.0/16";

/// The Kubernetes ranges of one cluster, wherever they are written.
struct Ranges<'m> {
    owner: &'m Resource,
    subnet: Option<&'m str>,
    /// Where the node subnet (or, without one, the network settings) is written.
    anchor: Span,
    service: Option<&'m Spanned<String>>,
    dns: Option<&'m Spanned<String>>,
    bridge: Option<&'m Spanned<String>>,
}

pub fn check(cx: &mut Cx<'_>) {
    let mut ranges = Vec::new();
    for (res, spec) in cx.specs(Kind::AksCluster) {
        let KindSpec::AksCluster(a) = spec else {
            continue;
        };
        let Some(net) = &a.network else { continue };
        let n = &net.value;
        let r = res.reference(refs::NETWORK_SUBNET);
        ranges.push(Ranges {
            owner: res,
            subnet: r.and_then(|r| r.target.as_deref()),
            anchor: r.map_or(net.span, |r| r.span),
            service: n.service_cidr.as_ref(),
            dns: n.dns_service_ip.as_ref(),
            bridge: n.docker_bridge_cidr.as_ref(),
        });
    }
    for (res, spec) in cx.specs(Kind::AksCompute) {
        let KindSpec::AksCompute(c) = spec else {
            continue;
        };
        let Some(cr) = &c.create else { continue };
        let r = res.reference(refs::CREATE_SUBNET);
        ranges.push(Ranges {
            owner: res,
            subnet: r.and_then(|r| r.target.as_deref()),
            anchor: r.map_or(cr.span, |r| r.span),
            service: cr.value.service_cidr.as_ref(),
            dns: cr.value.dns_service_ip.as_ref(),
            bridge: cr.value.docker_bridge_cidr.as_ref(),
        });
    }
    for r in &ranges {
        check_ranges(cx, r);
    }
    region(cx);
    purpose(cx);
    subnet_nsg(cx);
    attached_twice(cx);
}

fn bridge_range(s: &str) -> Option<Cidr> {
    let (a, l) = s.split_once('/')?;
    Some(Cidr::new(
        cidr::parse_ip(a)?,
        l.parse().ok().filter(|l| *l <= 32)?,
    ))
}

/// ML302/ML303/ML304.
fn check_ranges(cx: &mut Cx<'_>, r: &Ranges<'_>) {
    let subnets: Vec<SubnetRef<'_>> = r
        .subnet
        .and_then(|s| cx.subnet(s))
        .and_then(|s| s.res.parent.clone())
        .map(|v| cx.subnets_of(&v))
        .unwrap_or_default();
    let written = r.service.and_then(|s| Cidr::parse_strict(&s.value).ok());
    let (service, service_span, defaulted) = match (r.service, r.dns) {
        (Some(s), _) => (written, s.span, false),
        (None, None) => (
            Cidr::parse_strict(DEFAULT_SERVICE_CIDR).ok(),
            r.anchor,
            true,
        ),
        (None, Some(_)) => (None, r.anchor, false),
    };
    if let Some(svc) = service {
        let hits: Vec<(&SubnetRef<'_>, Cidr)> = subnets
            .iter()
            .filter_map(|s| s.prefix().filter(|p| p.overlaps(svc)).map(|p| (s, p)))
            .collect();
        if let Some((first, p)) = hits.first() {
            let msg = if defaulted {
                format!(
                    "`{}` takes the default service range {svc}, which overlaps subnet `{}` ({p})",
                    r.owner.key, first.res.key
                )
            } else {
                format!(
                    "service range {svc} of `{}` overlaps subnet `{}` ({p})",
                    r.owner.key, first.res.key
                )
            };
            let mut d = Cx::diag(ids::ML302, msg, service_span).label(if defaulted {
                "no `service_cidr`: AKS uses 10.0.0.0/16".to_string()
            } else {
                "overlaps a subnet".to_string()
            });
            for (s, p) in &hits {
                d = d.with_secondary(
                    s.spec.address_prefix.span,
                    format!("`{}` is {p}", s.res.key),
                );
            }
            let hint = if defaulted {
                "set `service_cidr` and `dns_service_ip` outside every subnet, e.g. `service_cidr: 10.1.0.0/16` and `dns_service_ip: 10.1.0.10`"
            } else {
                "choose a `service_cidr` outside every subnet of the network (and move `dns_service_ip` with it)"
            };
            cx.push(d.hint(hint));
        }
    }
    if let (Some(dns), Some(svc)) = (r.dns, written)
        && let Some(ip) = cidr::parse_ip(&dns.value)
    {
        let first = u32::from(svc.network());
        let suggestion = Ipv4Addr::from(first.saturating_add(10));
        let problem = if !svc.contains_ip(ip) {
            Some((
                format!("`dns_service_ip` {ip} is outside the service range {svc}"),
                "outside the service range",
            ))
        } else if u32::from(ip) == first {
            Some((
                format!("`dns_service_ip` {ip} is the network address of the service range {svc}"),
                "the range's network address",
            ))
        } else if u32::from(ip) == first.saturating_add(1) {
            Some((
                format!(
                    "`dns_service_ip` {ip} is the first address of the service range {svc}, which the Kubernetes API service takes"
                ),
                "taken by the Kubernetes API service",
            ))
        } else {
            None
        };
        if let (Some((msg, label)), Some(s)) = (problem, r.service) {
            cx.push(
                    Cx::diag(ids::ML303, msg, dns.span)
                        .label(label)
                        .with_secondary(s.span, "the service range")
                        .hint(format!("use an address inside the range past its first, e.g. `dns_service_ip: {suggestion}`")),
                );
        }
    }
    if let Some(b) = r.bridge {
        let Some(bridge) = bridge_range(&b.value) else {
            return;
        };
        let mut clash: Vec<(Span, String)> = subnets
            .iter()
            .filter_map(|s| {
                s.prefix().filter(|p| p.overlaps(bridge)).map(|p| {
                    (
                        s.spec.address_prefix.span,
                        format!("subnet `{}` ({p})", s.res.key),
                    )
                })
            })
            .collect();
        if let (Some(svc), Some(s)) = (written, r.service)
            && svc.overlaps(bridge)
        {
            clash.push((s.span, format!("the service range {svc}")));
        }
        if let Some((_, first)) = clash.first() {
            let mut d = Cx::diag(
                ids::ML304,
                format!(
                    "Docker bridge range {bridge} of `{}` overlaps {first}",
                    r.owner.key
                ),
                b.span,
            )
            .label("overlapping bridge range");
            for (span, what) in &clash {
                d = d.with_secondary(*span, what.clone());
            }
            cx.push(d.hint("choose a `docker_bridge_cidr` outside the subnets and the service range, e.g. `172.17.0.1/16`"));
        }
    }
}

/// ML301: an attached cluster in another region than its workspace.
fn region(cx: &mut Cx<'_>) {
    for (res, spec) in cx.specs(Kind::AksCompute) {
        let KindSpec::AksCompute(c) = spec else {
            continue;
        };
        let (Some(_), Some(r)) = (&c.cluster, res.reference(refs::CLUSTER)) else {
            continue;
        };
        let Some(cluster) = cx.target(res, refs::CLUSTER) else {
            continue;
        };
        let Some(ws) = res.parent.as_deref().and_then(|p| cx.model.get(p)) else {
            continue;
        };
        let (Some(cloc), Some(wloc)) = (&cluster.location, &ws.location) else {
            continue;
        };
        if cloc.value == wloc.value {
            continue;
        }
        cx.push(
            Cx::diag(
                ids::ML301,
                format!(
                    "AKS cluster `{}` is in `{}` but workspace `{}` is in `{}`",
                    cluster.key, cloc.value, ws.key, wloc.value
                ),
                r.span,
            )
            .label("attached across regions")
            .with_secondary(cloc.span, "the cluster's region")
            .note("with a private endpoint on the workspace Azure ML requires both in one region")
            .hint(format!(
                "create the cluster (and its network) in `{}`",
                wloc.value
            )),
        );
    }
}

/// ML306/ML307: enough vCPUs for the cluster's purpose.
fn purpose(cx: &mut Cx<'_>) {
    for (res, spec) in cx.specs(Kind::AksCompute) {
        let KindSpec::AksCompute(c) = spec else {
            continue;
        };
        // (purpose, where written, nodes, node-count span, size, size span, anchor)
        let facts = if let Some(cr) = &c.create {
            let cr_v = &cr.value;
            let p = cr_v.cluster_purpose.as_ref();
            (
                p.map_or(ClusterPurpose::FastProd, |p| p.value),
                p.map(|p| p.span),
                cr_v.agent_count.as_ref().map_or(3, |n| n.value),
                cr_v.agent_count.as_ref().map(|n| n.span),
                cr_v.vm_size
                    .as_ref()
                    .map_or("Standard_D3_v2".to_string(), |s| s.value.clone()),
                cr_v.vm_size.as_ref().map(|s| s.span),
                cr.span,
            )
        } else {
            let Some(cluster) = cx.target(res, refs::CLUSTER) else {
                continue;
            };
            let Body::Spec(KindSpec::AksCluster(a)) = &cluster.body else {
                continue;
            };
            let p = c.cluster_purpose.as_ref();
            let nodes = a
                .node_count
                .as_ref()
                .map(|n| n.value)
                .or(a.auto_scaling.as_ref().map(|s| s.value.min_count.value))
                .unwrap_or(3);
            (
                p.map_or(ClusterPurpose::FastProd, |p| p.value),
                p.map(|p| p.span),
                nodes,
                a.node_count.as_ref().map(|n| n.span),
                a.vm_size
                    .as_ref()
                    .map_or("Standard_D4s_v3".to_string(), |s| s.value.clone()),
                a.vm_size.as_ref().map(|s| s.span),
                res.reference(refs::CLUSTER)
                    .map_or(res.key_span, |r| r.span),
            )
        };
        let (purpose, purpose_span, nodes, nodes_span, size, size_span, anchor) = facts;
        let need = match purpose {
            ClusterPurpose::FastProd => 12,
            ClusterPurpose::DevTest => 2,
        };
        let Some(per) = vmsizes::vcpus(&size) else {
            cx.push(
                Cx::diag(ids::ML307, format!("moat does not know the vCPUs of `{size}`; the `{purpose}` size check (at least {need} vCPUs) was skipped"), size_span.unwrap_or(anchor))
                    .hint("check the size's vCPUs with `az vm list-sizes`"),
            );
            continue;
        };
        let total = per * nodes;
        if total >= need {
            continue;
        }
        let mut d = Cx::diag(
            ids::ML306,
            format!("`{purpose}` needs at least {need} vCPUs but the cluster of `{}` has {total} ({nodes} nodes × {per} vCPUs of `{size}`)", res.key),
            purpose_span.unwrap_or(anchor),
        )
        .label(if purpose_span.is_some() { "requires at least 12 vCPUs".replace("12", &need.to_string()) } else { format!("`cluster_purpose` defaults to `{purpose}`") });
        if let Some(s) = nodes_span {
            d = d.with_secondary(s, "node count");
        }
        if let Some(s) = size_span {
            d = d.with_secondary(s, format!("{per} vCPUs per node"));
        }
        let nodes_needed = need.div_ceil(per);
        let hint = match purpose {
            ClusterPurpose::FastProd => format!(
                "use at least {nodes_needed} nodes of `{size}`, a larger `vm_size`, or `cluster_purpose: dev_test` for non-production use"
            ),
            ClusterPurpose::DevTest => {
                format!("use at least {nodes_needed} nodes of `{size}` or a larger `vm_size`")
            }
        };
        cx.push(d.hint(hint));
    }
}

/// A subnet inference nodes sit in, and the compute that serves models from it.
pub(crate) struct Inference<'m> {
    /// The subnet reference: the cluster's `network.subnet`, or the compute's `create.subnet`.
    pub subnet: &'m Ref,
    /// The compute serving models from the subnet.
    pub compute: &'m str,
    /// Where the compute names its cluster or subnet.
    pub at: Span,
    /// An Azure ML (v1) AKS compute serves from it, whose management traffic ML308 checks;
    /// `false` when only Kubernetes compute does (ML309 only).
    pub v1: bool,
}

/// Every subnet inference nodes sit in (by ARM ID, once each), for ML308/ML309: the node
/// subnet of a cluster attached as Kubernetes compute or AKS compute, and the `create.subnet`
/// of an AKS compute Azure ML creates. The offline rules look up a declared subnet; the
/// plan-time ones (`live.rs`) an existing one.
pub(crate) fn inference_subnets<'m>(model: &'m Model) -> Vec<Inference<'m>> {
    let managed = |kind| {
        model
            .of_kind(kind)
            .filter(|r| matches!(r.body, Body::Spec(_)))
    };
    let cluster_subnet = |res: &'m Resource| {
        res.reference(refs::CLUSTER)
            .and_then(|r| r.target.as_deref())
            .and_then(|t| model.get(t))
            .and_then(|c| c.reference(refs::NETWORK_SUBNET))
    };
    let at_cluster = |res: &Resource| {
        res.reference(refs::CLUSTER)
            .map_or(res.key_span, |c| c.span)
    };
    let mut out: Vec<Inference<'_>> = Vec::new();
    let mut put = |i: Inference<'m>, replace: bool| match out
        .iter_mut()
        .find(|o| o.subnet.id.eq_ignore_ascii_case(&i.subnet.id))
    {
        Some(o) if replace => *o = i,
        Some(_) => {}
        None => out.push(i),
    };
    for res in managed(Kind::KubernetesCompute) {
        if let Some(r) = cluster_subnet(res) {
            let i = Inference {
                subnet: r,
                compute: &res.key,
                at: at_cluster(res),
                v1: false,
            };
            put(i, false);
        }
    }
    for res in managed(Kind::AksCompute) {
        let Body::Spec(KindSpec::AksCompute(c)) = &res.body else {
            continue;
        };
        let (r, at) = if c.create.is_some() {
            let Some(r) = res.reference(refs::CREATE_SUBNET) else {
                continue;
            };
            (r, r.span)
        } else {
            let Some(r) = cluster_subnet(res) else {
                continue;
            };
            (r, at_cluster(res))
        };
        let i = Inference {
            subnet: r,
            compute: &res.key,
            at,
            v1: true,
        };
        put(i, true);
    }
    out
}

/// What an NSG does to the traffic of an inference subnet: the verdicts ML308/ML309 are made
/// of, for the offline rules (an NSG of the spec) and the plan-time ones (a live NSG).
pub(crate) struct AksVerdicts<'a> {
    /// ML308: how `AzureMachineLearning` on TCP 443 is kept out (checked for v1 computes).
    pub aml: Option<Verdict<'a>>,
    /// ML309: no caller reaches TCP 80 or 443.
    pub unreachable: bool,
}

/// Probes `rules` for an inference subnet (`here`) of a network (`vnet`) in `region`.
pub(crate) fn aks_verdicts<'a>(
    rules: &'a [Spanned<SecurityRule>],
    region: Option<&str>,
    here: &Endpoint,
    vnet: Endpoint,
    v1: bool,
) -> AksVerdicts<'a> {
    let aml = Endpoint::service("AzureMachineLearning", region);
    let v = nsg::evaluate(
        rules,
        &Probe {
            direction: Direction::Inbound,
            port: 443,
            from: &aml,
            to: here,
        },
    );
    // Callers: the network, the internet, and whatever the rules' inbound sources name.
    let mut callers = vec![vnet, Endpoint::internet()];
    for r in rules
        .iter()
        .filter(|r| r.value.direction.value == Direction::Inbound)
    {
        // Azure ML and the load balancer's probes are not callers of the endpoint.
        for a in r.value.source.iter().flat_map(|s| s.value.0.iter()) {
            if !["AzureMachineLearning", "AzureLoadBalancer"]
                .iter()
                .any(|t| {
                    a.value.eq_ignore_ascii_case(t)
                        || a.value
                            .to_ascii_lowercase()
                            .starts_with(&format!("{}.", t.to_ascii_lowercase()))
                })
            {
                callers.push(Endpoint::from_address(&a.value));
            }
        }
    }
    let reachable = callers.iter().any(|from| {
        [80, 443].iter().any(|&port| {
            nsg::evaluate(
                rules,
                &Probe {
                    direction: Direction::Inbound,
                    port,
                    from,
                    to: here,
                },
            )
            .allowed
        })
    });
    AksVerdicts {
        aml: Some(v).filter(|v| v1 && !v.allowed),
        unreachable: !reachable,
    }
}

/// The inbound rule ML308's hint suggests.
pub(crate) const AML_RULE: &str = "`{ name: azure-ml, priority: 100, direction: inbound, access: allow, protocol: tcp, source: AzureMachineLearning, destination_ports: [\"443\"] }`";
/// ML308's note.
pub(crate) const AML_NOTE: &str =
    "Azure ML deploys models to the cluster and checks their health through it";

/// ML308/ML309: the NSG of each inference node subnet of the spec (ML309 also for the clusters
/// attached as Kubernetes compute, whose inference router serves the scoring port there; ML308
/// is the v1 AKS compute's inbound management traffic).
fn subnet_nsg(cx: &mut Cx<'_>) {
    for i in inference_subnets(cx.model) {
        let Some(key) = i.subnet.target.as_deref() else {
            continue;
        };
        let Some(sub) = cx.subnet(key) else { continue };
        let Some((nsg_res, nsg_spec)) = cx.nsg_of(&sub) else {
            continue;
        };
        let Some(prefix) = sub.prefix() else { continue };
        let rules = nsg_rules(nsg_spec);
        let vnet_space = cx.space_of(&sub);
        let found = aks_verdicts(
            rules,
            cx.region_of(&sub),
            &Endpoint::network(vec![prefix]),
            Endpoint::network(vnet_space),
            i.v1,
        );
        let compute = i.compute;
        if let Some(v) = found.aml {
            let (span, label) = match v.by {
                By::Rule(r) => (
                    r.value.priority.span,
                    format!("`{}` denies it", r.value.name.value),
                ),
                By::Default(d) => (
                    nsg_res.key_span,
                    format!("no rule allows it, so Azure's `{}` denies it", d.name),
                ),
            };
            let mut d = Cx::diag(
                ids::ML308,
                format!(
                    "NSG `{}` keeps `AzureMachineLearning` (TCP 443) out of AKS subnet `{key}`",
                    nsg_res.key
                ),
                span,
            )
            .label(label)
            .with_secondary(i.at, format!("`{compute}` serves models from this subnet"))
            .hint(format!("add an inbound rule: {AML_RULE}"))
            .note(AML_NOTE);
            if let Some(allow) = v.shadowed_allow {
                d = d.with_secondary(
                    allow.value.priority.span,
                    format!(
                        "`{}` would allow it but comes later",
                        allow.value.name.value
                    ),
                );
            }
            cx.push(d);
        }
        if found.unreachable {
            cx.push(
                Cx::diag(ids::ML309, format!("NSG `{}` lets no caller reach the scoring endpoint (TCP 80 or 443) in AKS subnet `{key}`", nsg_res.key), nsg_res.key_span)
                    .label("no inbound allow on TCP 80 or 443")
                    .with_secondary(i.at, format!("`{compute}` serves models from this subnet"))
                    .hint("add an inbound allow rule on TCP 80/443 from where the endpoint is called, e.g. `source: VirtualNetwork`"),
            );
        }
    }
}

/// ML310: one cluster attached twice to one workspace.
fn attached_twice(cx: &mut Cx<'_>) {
    let mut seen: BTreeMap<(String, String), (String, Span)> = BTreeMap::new();
    for res in cx.model.of_kind(Kind::AksCompute) {
        let (Some(ws), Some(r)) = (&res.parent, res.reference(refs::CLUSTER)) else {
            continue;
        };
        let k = (ws.clone(), r.id.to_ascii_lowercase());
        if let Some((first, span)) = seen.get(&k) {
            cx.push(
                Cx::diag(ids::ML310, format!("AKS cluster `{}` is attached to workspace `{ws}` twice, as `{first}` and `{}`", short(&r.id, r.target.as_deref()), res.key), r.span)
                    .label("attached again")
                    .with_secondary(*span, format!("first attached as `{first}`"))
                    .hint(format!("remove `{}`, or attach the cluster to another workspace", res.key)),
            );
        } else {
            seen.insert(k, (res.key.clone(), r.span));
        }
    }
}

fn short<'a>(id: &'a str, target: Option<&'a str>) -> &'a str {
    target.unwrap_or_else(|| id.rsplit('/').next().unwrap_or(id))
}
