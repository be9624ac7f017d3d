//! ML1xx: AmlCompute clusters in a virtual network. Azure Batch runs the nodes, so the subnet
//! must admit Batch management traffic, keep outbound paths to the services jobs need, and
//! route Batch replies past a forced-tunnelling appliance.

use crate::catalogue::ids;
use crate::cx::{Cx, SubnetRef, nsg_rules};
use crate::nsg::{self, By, Endpoint, Probe, Verdict};
use moat_model::armid::ArmId;
use moat_model::kinds::refs;
use moat_model::{Kind, Resource};
use moat_spec::ast::{self, Direction, KindSpec, NextHop, RemoteLogin, SecurityRule};
use moat_spec::{Diagnostic, Span, Spanned};
use std::collections::BTreeMap;

/// An AmlCompute cluster that joins a subnet.
pub(crate) struct Member<'m> {
    pub res: &'m Resource,
    pub spec: &'m ast::AmlCompute,
    /// Where its `subnet:` is written.
    pub subnet_span: Span,
}

pub fn check(cx: &mut Cx<'_>) {
    let mut by_subnet: BTreeMap<&str, Vec<Member<'_>>> = BTreeMap::new();
    let mut by_vnet: BTreeMap<&str, Vec<Span>> = BTreeMap::new();
    for (res, spec) in cx.specs(Kind::AmlCompute) {
        let KindSpec::AmlCompute(c) = spec else {
            continue;
        };
        let Some(r) = res.reference(refs::SUBNET) else {
            continue;
        };
        let Some(target) = r.target.as_deref() else {
            continue;
        };
        placement(cx, res, r);
        if let Some(vnet) = cx.vnet_of_target(target) {
            by_vnet.entry(vnet.key.as_str()).or_default().push(r.span);
        }
        by_subnet.entry(target).or_default().push(Member {
            res,
            spec: c,
            subnet_span: r.span,
        });
    }
    for (key, members) in &by_subnet {
        let Some(sub) = cx.subnet(key) else { continue };
        nsg_checks(cx, &sub, members);
        tunnel_checks(cx, &sub, members);
    }
    for (vnet, spans) in by_vnet {
        if spans.len() < 2 {
            continue;
        }
        let mut d = Cx::diag(
            ids::ML120,
            format!(
                "{} AmlCompute clusters join virtual network `{vnet}`",
                spans.len()
            ),
            spans[1],
        )
        .label("another cluster in the same network");
        for s in spans
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 1)
            .map(|(_, s)| *s)
        {
            d = d.with_secondary(s, "");
        }
        d = d
            .note("each cluster gets its own network security group, public IP address and load balancer in the network's resource group")
            .hint("check the subscription's quotas for public IP addresses, load balancers and network security groups");
        cx.push(d);
    }
}

/// ML101/ML102: the network is in the workspace's region and subscription. Resolution already
/// compares the compute with the network, so only a compute placed away from its workspace
/// (its own `location:`, or a workspace in another subscription) is left to report here.
fn placement(cx: &mut Cx<'_>, res: &Resource, r: &moat_model::Ref) {
    let Some(ws) = res.parent.as_deref().and_then(|p| cx.model.get(p)) else {
        return;
    };
    let Some(target) = r.target.as_deref() else {
        return;
    };
    if let Some(vnet) = cx.vnet_of_target(target)
        && let (Some(w), Some(v), Some(c)) = (&ws.location, &vnet.location, &res.location)
        && w.value != v.value
        && c.value == v.value
    {
        cx.push(
            Cx::diag(
                ids::ML101,
                format!(
                    "virtual network `{}` is in `{}` but workspace `{}` is in `{}`",
                    vnet.key, v.value, ws.key, w.value
                ),
                r.span,
            )
            .label("subnet in another region than the workspace")
            .with_secondary(w.span, "the workspace's region")
            .hint(format!(
                "use a network in `{}`, or move the workspace to `{}`",
                w.value, v.value
            )),
        );
    }
    let (Some(sub), Some(wsid)) = (ArmId::parse(&r.id), ArmId::parse(&ws.id)) else {
        return;
    };
    if !sub.subscription.eq_ignore_ascii_case(&wsid.subscription)
        && sub
            .subscription
            .eq_ignore_ascii_case(&cx.model.subscription)
    {
        cx.push(
            Cx::diag(
                ids::ML102,
                format!(
                    "the subnet is in subscription `{}` but workspace `{}` is in `{}`",
                    sub.subscription, ws.key, wsid.subscription
                ),
                r.span,
            )
            .label("subnet in another subscription than the workspace")
            .hint("use a virtual network in the workspace's subscription"),
        );
    }
}

/// "`a` joins" or "`a`, `b` join", for labels.
pub(crate) fn names(members: &[Member<'_>]) -> String {
    let keys: Vec<String> = members.iter().map(|m| format!("`{}`", m.res.key)).collect();
    format!(
        "{} {}",
        keys.join(", "),
        if keys.len() == 1 { "joins" } else { "join" }
    )
}

/// The span to blame for a verdict: the deciding spec rule's priority, else the NSG's key.
fn blame(by: By<'_>, nsg: &Resource) -> Span {
    match by {
        By::Rule(r) => r.value.priority.span,
        By::Default(_) => nsg.key_span,
    }
}

/// What an NSG does to the traffic of the clusters on a subnet, rule by rule: the verdicts the
/// ML110–ML113 findings are made of. The offline rules (an NSG of the spec) and the plan-time
/// ones (the live NSG of an existing subnet, `live.rs`) both report from it.
pub(crate) struct NsgVerdicts<'a> {
    /// ML110: the first Batch management port blocked, and how.
    pub batch: Option<(u16, Verdict<'a>)>,
    /// ML111: the rule that opens SSH to the internet although no cluster asks for SSH.
    pub ssh: Option<&'a Spanned<SecurityRule>>,
    /// ML112: outbound traffic to the virtual network denied.
    pub vnet_out: Option<Verdict<'a>>,
    /// ML113: outbound internet denied, and the service tags (as a rule would name them)
    /// still not allowed on TCP 443.
    pub services: Option<(Verdict<'a>, Vec<String>)>,
}

/// Probes `rules` for a subnet (`here`) of a network (`vnet`) in `region`.
pub(crate) fn nsg_verdicts<'a>(
    rules: &'a [Spanned<SecurityRule>],
    region: Option<&str>,
    here: &Endpoint,
    vnet: &Endpoint,
    wants_ssh: bool,
) -> NsgVerdicts<'a> {
    let probe = |direction, port, from: &Endpoint, to: &Endpoint| {
        nsg::evaluate(
            rules,
            &Probe {
                direction,
                port,
                from,
                to,
            },
        )
    };
    // ML110: Batch management in on TCP 29876–29877.
    let batch_tag = Endpoint::service("BatchNodeManagement", region);
    let batch = [29876, 29877]
        .into_iter()
        .map(|port| (port, probe(Direction::Inbound, port, &batch_tag, here)))
        .find(|(_, v)| !v.allowed);
    // ML111: SSH from the internet without a cluster that asks for it.
    let internet = Endpoint::internet();
    let ssh = if wants_ssh {
        None
    } else {
        match probe(Direction::Inbound, 22, &internet, here) {
            Verdict {
                allowed: true,
                by: By::Rule(r),
                ..
            } => Some(r),
            _ => None,
        }
    };
    // ML112: outbound to the virtual network.
    let vnet_out = Some(probe(Direction::Outbound, 443, here, vnet)).filter(|v| !v.allowed);
    // ML113: outbound internet denied → the service tags jobs need.
    let out = probe(Direction::Outbound, 443, here, &internet);
    let services = if out.allowed {
        None
    } else {
        let needed: [(&str, bool); 3] = [
            ("Storage", true),
            ("AzureContainerRegistry", true),
            ("AzureMachineLearning", false),
        ];
        let missing: Vec<String> = needed
            .iter()
            .filter(|(tag, _)| {
                !probe(
                    Direction::Outbound,
                    443,
                    here,
                    &Endpoint::service(tag, region),
                )
                .allowed
            })
            .map(|(tag, regional)| match (regional, region) {
                (true, Some(r)) => format!("{tag}.{r}"),
                _ => (*tag).to_string(),
            })
            .collect();
        Some((out, missing)).filter(|(_, m)| !m.is_empty())
    };
    NsgVerdicts {
        batch,
        ssh,
        vnet_out,
        services,
    }
}

/// True when a cluster on the subnet asks for SSH (ML111 stays quiet then).
pub(crate) fn wants_ssh(members: &[Member<'_>]) -> bool {
    members.iter().any(|m| {
        m.spec.ssh.is_some()
            || m.spec
                .remote_login_port_public_access
                .as_ref()
                .is_some_and(|r| r.value == RemoteLogin::Enabled)
    })
}

/// `` `a`, `b` ``: tags for a message.
pub(crate) fn tag_list(tags: &[String]) -> String {
    tags.iter()
        .map(|m| format!("`{m}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why ML110 matters, for its note.
pub(crate) const BATCH_NOTE: &str =
    "Azure Batch cannot manage the compute nodes without it: they never become usable";

/// Why ML113 matters, for its note.
pub(crate) const SERVICES_NOTE: &str =
    "jobs read data from storage, pull images from the registry and report to Azure ML";

fn nsg_checks(cx: &mut Cx<'_>, sub: &SubnetRef<'_>, members: &[Member<'_>]) {
    let Some((nsg, spec)) = cx.nsg_of(sub) else {
        return;
    };
    let rules = nsg_rules(spec);
    let region = cx.region_of(sub);
    let Some(prefix) = sub.prefix() else { return };
    let here = Endpoint::network(vec![prefix]);
    let first = &members[0];
    let who = names(members);
    let vnet = cx.network_of(sub, prefix);
    let found = nsg_verdicts(rules, region, &here, &vnet, wants_ssh(members));

    if let Some((port, v)) = found.batch {
        let msg = format!(
            "NSG `{}` blocks Azure Batch management (TCP {port} from `BatchNodeManagement`) to subnet `{}`",
            nsg.key, sub.res.key
        );
        let d = match (v.by, v.shadowed_allow) {
            (By::Rule(deny), Some(allow)) => Cx::diag(ids::ML110, msg, deny.value.priority.span)
                .label(format!("`{}` denies it first", deny.value.name.value))
                .with_secondary(
                    allow.value.priority.span,
                    format!(
                        "`{}` would allow it but comes later",
                        allow.value.name.value
                    ),
                )
                .hint(format!(
                    "give `{}` a priority below {}, or narrow `{}`",
                    allow.value.name.value, deny.value.priority.value, deny.value.name.value
                )),
            (By::Rule(deny), None) => Cx::diag(ids::ML110, msg, deny.value.priority.span)
                .label(format!("`{}` denies it", deny.value.name.value))
                .hint(format!(
                    "add an inbound rule: {}",
                    batch_rule(deny.value.priority.value)
                )),
            (By::Default(d), _) => Cx::diag(ids::ML110, msg, nsg.key_span)
                .label(format!(
                    "no rule allows it, so Azure's `{}` denies it",
                    d.name
                ))
                .hint(format!("add an inbound rule: {}", batch_rule(4096))),
        };
        cx.push(
            d.with_secondary(first.subnet_span, format!("{who} the subnet here"))
                .note(BATCH_NOTE),
        );
    }

    if let Some(r) = found.ssh {
        let at = r
            .value
            .destination_ports
            .as_ref()
            .map_or(r.value.priority.span, |p| p.span);
        cx.push(
            Cx::diag(ids::ML111, format!("NSG `{}` opens SSH (TCP 22) to the internet but no cluster on subnet `{}` asks for SSH", nsg.key, sub.res.key), at)
                .label(format!("`{}` allows TCP 22 from the internet", r.value.name.value))
                .with_secondary(first.subnet_span, format!("{who} the subnet here"))
                .hint("remove the rule or narrow its `source`; or set `ssh:` or `remote_login_port_public_access: enabled` on the cluster that needs SSH"),
        );
    }

    if let Some(v) = found.vnet_out {
        let mut d = Cx::diag(ids::ML112, format!("NSG `{}` blocks outbound traffic from subnet `{}` to the virtual network", nsg.key, sub.res.key), blame(v.by, nsg))
            .with_secondary(first.subnet_span, format!("{who} the subnet here"))
            .hint("remove the deny for `VirtualNetwork`, or add an outbound allow to `VirtualNetwork` with a lower priority number");
        if let By::Rule(r) = v.by {
            d = d.label(format!(
                "`{}` denies `VirtualNetwork` (checked for TCP 443)",
                r.value.name.value
            ));
        }
        cx.push(d);
    }

    if let Some((v, missing)) = found.services {
        let list = tag_list(&missing);
        let mut d = Cx::diag(ids::ML113, format!("NSG `{}` denies outbound internet and does not allow {list} on TCP 443", nsg.key), blame(v.by, nsg))
            .with_secondary(first.subnet_span, format!("{who} the subnet here"))
            .hint(format!("add outbound allow rules on TCP 443 to {list}, with lower priority numbers than the deny"))
            .note(SERVICES_NOTE);
        if let By::Rule(r) = v.by {
            d = d.label(format!("`{}` denies the internet", r.value.name.value));
        }
        cx.push(d);
    }
}

/// The inbound rule that admits Batch management ahead of a deny at priority `below`.
pub(crate) fn batch_rule(below: u32) -> String {
    let p = below.saturating_sub(10).max(100);
    format!(
        "`{{ name: batch-node-management, priority: {p}, direction: inbound, access: allow, protocol: tcp, source: BatchNodeManagement, destination_ports: [\"29876-29877\"] }}`"
    )
}

/// A tag forced tunnelling would capture: the route the ML114/ML115 findings ask for.
pub(crate) struct TunnelGap<'a> {
    /// ML114 or ML115.
    pub id: &'static str,
    /// The service tag.
    pub tag: &'static str,
    /// The name of the route to add.
    pub route_name: &'static str,
    /// The address prefix of the route to add.
    pub wanted: String,
    /// The route for the tag that goes elsewhere than the internet, when there is one.
    pub wrong: Option<&'a Spanned<ast::Route>>,
    /// Why it matters, for the note.
    pub note: &'static str,
}

/// The forced-tunnelling route of `routes` (a `0.0.0.0/0` that does not go to the internet)
/// and the tags it captures without a route of their own to the internet; `None` without
/// forced tunnelling. Shared by the offline and the plan-time rules, like [`nsg_verdicts`].
pub(crate) fn tunnel_gaps<'a>(
    routes: &'a [Spanned<ast::Route>],
    region: Option<&str>,
) -> Option<(&'a Spanned<ast::Route>, Vec<TunnelGap<'a>>)> {
    let default = routes.iter().find(|r| {
        r.value.address_prefix.value == "0.0.0.0/0" && r.value.next_hop.value != NextHop::Internet
    })?;
    let mut gaps = Vec::new();
    for (id, tag, route_name, note) in [
        (
            ids::ML114,
            "BatchNodeManagement",
            "batch-node-management",
            "replies to Azure Batch management would leave through the appliance and be dropped: nodes never become usable",
        ),
        (
            ids::ML115,
            "AzureMachineLearning",
            "azure-ml",
            "Azure ML's management traffic to the nodes would return through the appliance",
        ),
    ] {
        let regional = region.map(|r| format!("{tag}.{r}"));
        let covers = |p: &str| {
            p.eq_ignore_ascii_case(tag)
                || regional
                    .as_deref()
                    .is_some_and(|r| p.eq_ignore_ascii_case(r))
        };
        // Batch routes are regional in Azure's documentation; Azure ML's tag is global.
        let wanted = if id == ids::ML114 {
            regional.clone().unwrap_or_else(|| tag.to_string())
        } else {
            tag.to_string()
        };
        let found = routes
            .iter()
            .find(|r| covers(&r.value.address_prefix.value));
        if found.is_some_and(|r| r.value.next_hop.value == NextHop::Internet) {
            continue;
        }
        gaps.push(TunnelGap {
            id,
            tag,
            route_name,
            wanted,
            wrong: found,
            note,
        });
    }
    Some((default, gaps))
}

/// ML114/ML115: forced tunnelling keeps Batch and Azure ML replies on the internet path.
fn tunnel_checks(cx: &mut Cx<'_>, sub: &SubnetRef<'_>, members: &[Member<'_>]) {
    let Some((table_res, table)) = cx.route_table_of(sub) else {
        return;
    };
    let routes: &[Spanned<ast::Route>] = table.routes.as_ref().map_or(&[], |r| r.value.as_slice());
    let Some((default, gaps)) = tunnel_gaps(routes, cx.region_of(sub)) else {
        return;
    };
    let who = names(members);
    for g in gaps {
        let d: Diagnostic = match g.wrong {
            Some(r) => Cx::diag(
                g.id,
                format!(
                    "route `{}` sends `{}` to `{}`, not to the internet",
                    r.value.name.value, r.value.address_prefix.value, r.value.next_hop.value
                ),
                r.value.next_hop.span,
            )
            .label("must be `internet`")
            .with_secondary(default.value.address_prefix.span, "forced tunnelling here")
            .hint(format!(
                "set `next_hop: internet` on route `{}`",
                r.value.name.value
            )),
            None => Cx::diag(
                g.id,
                format!(
                    "route table `{}` tunnels all traffic but has no `{}` route to the internet",
                    table_res.key, g.tag
                ),
                default.value.address_prefix.span,
            )
            .label(format!(
                "`0.0.0.0/0` goes to `{}`",
                default.value.next_hop.value
            ))
            .hint(format!("add a route: {}", route_to_internet(&g))),
        };
        cx.push(
            d.with_secondary(
                members[0].subnet_span,
                format!("{who} subnet `{}` here", sub.res.key),
            )
            .note(g.note),
        );
    }
}

/// The route a gap asks for, as the spec writes it.
pub(crate) fn route_to_internet(g: &TunnelGap<'_>) -> String {
    format!(
        "`{{ name: {}, address_prefix: {}, next_hop: internet }}`",
        g.route_name, g.wanted
    )
}
