//! ML130–ML131: a VM or an HDInsight cluster attached over SSH. Azure ML logs in from its own
//! addresses (service tag `AzureMachineLearning`), so the network security groups in front of
//! the machine — its subnet's, and for a VM the one on its network interface — must admit TCP
//! 22 from that tag, and should not admit it from the whole internet.

use crate::catalogue::ids;
use crate::cx::{Cx, nsg_rules};
use crate::nsg::{self, By, Endpoint, Probe};
use moat_model::cidr::Cidr;
use moat_model::kinds::refs;
use moat_model::{Kind, Resource};
use moat_spec::Spanned;
use moat_spec::ast::{self, Direction, KindSpec};

/// One attached compute: its resource, SSH port, address and where it sits.
struct Attached<'m> {
    res: &'m Resource,
    port: u16,
    address: Option<&'m Spanned<String>>,
}

pub fn check(cx: &mut Cx<'_>) {
    let mut found = Vec::new();
    for kind in [Kind::VmCompute, Kind::HdinsightCompute] {
        for (res, spec) in cx.specs(kind) {
            let (ssh, address) = match spec {
                KindSpec::VmCompute(c) => (&c.ssh, c.address.as_ref()),
                KindSpec::HdinsightCompute(c) => (&c.ssh, c.address.as_ref()),
                _ => continue,
            };
            let a = Attached {
                res,
                port: ssh.value.port.as_ref().map_or(22, |p| p.value),
                address,
            };
            // The NSGs in front of the machine: its subnet's and its interface's.
            let mut nsgs: Vec<(&Resource, &ast::NetworkSecurityGroup)> = Vec::new();
            let mut here: Option<Cidr> = None;
            if let Some(sub) = cx.target(res, refs::SUBNET).and_then(|t| cx.subnet(&t.key)) {
                here = sub.prefix();
                nsgs.extend(cx.nsg_of(&sub));
            }
            if let Some(n) = cx.target(res, refs::NETWORK_SECURITY_GROUP)
                && let moat_model::Body::Spec(KindSpec::NetworkSecurityGroup(spec)) = &n.body
            {
                nsgs.push((n, spec));
            }
            let to = match a
                .address
                .and_then(|x| Cidr::parse_ip_or_cidr(&x.value).ok())
                .or(here)
            {
                Some(c) => Endpoint::network(vec![c]),
                None => Endpoint::network(Vec::new()),
            };
            for (nsg_res, spec) in nsgs {
                probe(&a, nsg_res, spec, &to, &mut found);
            }
        }
    }
    for d in found {
        cx.push(d);
    }
}

fn probe(
    a: &Attached<'_>,
    nsg_res: &Resource,
    spec: &ast::NetworkSecurityGroup,
    to: &Endpoint,
    found: &mut Vec<moat_spec::Diagnostic>,
) {
    let rules = nsg_rules(spec);
    let port = a.port;
    let aml = Endpoint::service("AzureMachineLearning", None);
    let v = nsg::evaluate(
        rules,
        &Probe {
            direction: Direction::Inbound,
            port,
            from: &aml,
            to,
        },
    );
    if !v.allowed {
        let msg = format!(
            "NSG `{}` blocks Azure ML's SSH login (TCP {port} from `AzureMachineLearning`) to `{}`",
            nsg_res.key, a.res.key
        );
        let hint = format!(
            "add an inbound rule: `{{ name: azureml-ssh, priority: 110, direction: inbound, access: allow, protocol: tcp, source: AzureMachineLearning, destination_ports: [\"{port}\"] }}` (with a lower number than any deny that matches)"
        );
        let d = match v.by {
            By::Rule(deny) => Cx::diag(ids::ML130, msg, deny.value.priority.span)
                .label(format!("`{}` denies it", deny.value.name.value)),
            By::Default(d) => Cx::diag(ids::ML130, msg, nsg_res.key_span).label(format!(
                "no rule allows it, so Azure's `{}` denies it",
                d.name
            )),
        };
        found.push(
            d.with_secondary(a.res.key_span, "attached over SSH here")
                .hint(hint)
                .note("Azure ML cannot reach the machine: attaching it and every job on it fail"),
        );
    }
    let internet = Endpoint::internet();
    let v = nsg::evaluate(
        rules,
        &Probe {
            direction: Direction::Inbound,
            port,
            from: &internet,
            to,
        },
    );
    if let (true, By::Rule(r)) = (v.allowed, v.by) {
        let at = r
            .value
            .source
            .as_ref()
            .map_or(r.value.priority.span, |s| s.span);
        found.push(
            Cx::diag(
                ids::ML131,
                format!(
                    "NSG `{}` admits SSH (TCP {port}) to `{}` from the whole internet",
                    nsg_res.key, a.res.key
                ),
                at,
            )
            .label(format!("`{}` allows it from anywhere", r.value.name.value))
            .with_secondary(a.res.key_span, "attached over SSH here")
            .hint("Azure ML needs only `source: AzureMachineLearning`; narrow the rule's source to that tag (or your own ranges)"),
        );
    }
}
