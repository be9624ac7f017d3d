//! Evaluates a network security group the way Azure does: rules of one direction in priority
//! order, the first that matches decides, and Azure's default rules (65000–65500) follow the
//! user's. Only full matches count: a rule whose address covers part of a service tag neither
//! admits nor blocks the whole tag, so the answers are about a tag as a whole.

use moat_model::cidr::Cidr;
use moat_model::resolve::check_port_range;
use moat_spec::Spanned;
use moat_spec::ast::{Access, Direction, OneOrMany, Protocol, SecurityRule};

/// One side of a flow: the names (service tags) it belongs to and the ranges it spans.
#[derive(Clone, Debug)]
pub struct Endpoint {
    names: Vec<String>,
    cidrs: Vec<Cidr>,
}

impl Endpoint {
    /// A public Azure service known by a service tag, in a region when it is regional. Its
    /// addresses are Azure public addresses, so `Internet` and `AzureCloud` cover it too.
    pub fn service(tag: &str, region: Option<&str>) -> Endpoint {
        let mut names = vec![
            tag.to_string(),
            "Internet".to_string(),
            "AzureCloud".to_string(),
        ];
        if let Some(r) = region {
            names.push(format!("{tag}.{r}"));
            names.push(format!("AzureCloud.{r}"));
        }
        Endpoint {
            names,
            cidrs: Vec::new(),
        }
    }

    /// Any address on the internet.
    pub fn internet() -> Endpoint {
        Endpoint {
            names: vec!["Internet".to_string()],
            cidrs: Vec::new(),
        }
    }

    /// Addresses inside the virtual network: a subnet, or the network's whole address space.
    pub fn network(cidrs: Vec<Cidr>) -> Endpoint {
        Endpoint {
            names: vec!["VirtualNetwork".to_string()],
            cidrs,
        }
    }

    /// The sender or receiver an NSG address names: a tag, a range, or `*` (anyone).
    pub fn from_address(address: &str) -> Endpoint {
        match Cidr::parse_ip_or_cidr(address) {
            Ok(c) => Endpoint {
                names: Vec::new(),
                cidrs: vec![c],
            },
            Err(_) if address == "*" => Endpoint {
                names: Vec::new(),
                cidrs: Vec::new(),
            },
            Err(_) => Endpoint {
                names: vec![address.to_string()],
                cidrs: Vec::new(),
            },
        }
    }

    fn covered_by(&self, address: &str) -> bool {
        if address == "*" {
            return true;
        }
        if address.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            return match Cidr::parse_ip_or_cidr(address) {
                // `0.0.0.0/0` covers every address, tags included.
                Ok(c) if c.size() == 1 << 32 => true,
                Ok(c) => !self.cidrs.is_empty() && self.cidrs.iter().all(|x| c.contains(*x)),
                Err(_) => false,
            };
        }
        self.names.iter().any(|n| n.eq_ignore_ascii_case(address))
    }
}

/// A TCP connection attempt to check.
#[derive(Clone, Copy, Debug)]
pub struct Probe<'e> {
    /// Which rules apply.
    pub direction: Direction,
    /// Destination port.
    pub port: u16,
    /// Where it comes from.
    pub from: &'e Endpoint,
    /// Where it goes.
    pub to: &'e Endpoint,
}

/// One of Azure's default rules.
#[derive(Debug)]
pub struct DefaultRule {
    /// Azure's name for it.
    pub name: &'static str,
    /// Its priority.
    pub priority: u32,
    direction: Direction,
    allow: bool,
    source: &'static str,
    destination: &'static str,
}

/// Azure's default rules, present in every NSG behind the user's.
pub static DEFAULT_RULES: &[DefaultRule] = &[
    DefaultRule {
        name: "AllowVnetInBound",
        priority: 65000,
        direction: Direction::Inbound,
        allow: true,
        source: "VirtualNetwork",
        destination: "VirtualNetwork",
    },
    DefaultRule {
        name: "AllowAzureLoadBalancerInBound",
        priority: 65001,
        direction: Direction::Inbound,
        allow: true,
        source: "AzureLoadBalancer",
        destination: "*",
    },
    DefaultRule {
        name: "DenyAllInBound",
        priority: 65500,
        direction: Direction::Inbound,
        allow: false,
        source: "*",
        destination: "*",
    },
    DefaultRule {
        name: "AllowVnetOutBound",
        priority: 65000,
        direction: Direction::Outbound,
        allow: true,
        source: "VirtualNetwork",
        destination: "VirtualNetwork",
    },
    DefaultRule {
        name: "AllowInternetOutBound",
        priority: 65001,
        direction: Direction::Outbound,
        allow: true,
        source: "*",
        destination: "Internet",
    },
    DefaultRule {
        name: "DenyAllOutBound",
        priority: 65500,
        direction: Direction::Outbound,
        allow: false,
        source: "*",
        destination: "*",
    },
];

/// The rule that decided a probe.
#[derive(Clone, Copy, Debug)]
pub enum By<'a> {
    /// A rule of the spec.
    Rule(&'a Spanned<SecurityRule>),
    /// One of Azure's default rules.
    Default(&'static DefaultRule),
}

/// The outcome of a probe.
#[derive(Clone, Copy, Debug)]
pub struct Verdict<'a> {
    /// Whether the traffic passes.
    pub allowed: bool,
    /// The first matching rule.
    pub by: By<'a>,
    /// When a spec rule denies: the first later spec rule that would have allowed the traffic.
    pub shadowed_allow: Option<&'a Spanned<SecurityRule>>,
}

fn addresses(a: &Option<Spanned<OneOrMany>>, e: &Endpoint) -> bool {
    a.as_ref()
        .is_none_or(|a| a.value.0.iter().any(|x| e.covered_by(&x.value)))
}

fn ports(p: &Option<Spanned<OneOrMany>>, port: u16) -> bool {
    p.as_ref().is_none_or(|p| {
        p.value
            .0
            .iter()
            .any(|x| check_port_range(&x.value).is_ok_and(|(a, b)| a <= port && port <= b))
    })
}

/// True when the rule matches every source port (the probe's source port is unknown).
fn all_source_ports(p: &Option<Spanned<OneOrMany>>) -> bool {
    p.as_ref().is_none_or(|p| {
        p.value
            .0
            .iter()
            .any(|x| check_port_range(&x.value) == Ok((0, 65535)))
    })
}

/// True when a spec rule fully matches the probe.
pub fn matches(rule: &SecurityRule, probe: &Probe<'_>) -> bool {
    rule.direction.value == probe.direction
        && matches!(rule.protocol.value, Protocol::Tcp | Protocol::Any)
        && addresses(&rule.source, probe.from)
        && addresses(&rule.destination, probe.to)
        && all_source_ports(&rule.source_ports)
        && ports(&rule.destination_ports, probe.port)
}

/// Decides a probe against an NSG's rules followed by Azure's defaults.
pub fn evaluate<'a>(rules: &'a [Spanned<SecurityRule>], probe: &Probe<'_>) -> Verdict<'a> {
    let mut ordered: Vec<&'a Spanned<SecurityRule>> = rules
        .iter()
        .filter(|r| r.value.direction.value == probe.direction)
        .collect();
    ordered.sort_by_key(|r| r.value.priority.value);
    let mut matching = ordered.into_iter().filter(|r| matches(&r.value, probe));
    if let Some(first) = matching.next() {
        let allowed = first.value.access.value == Access::Allow;
        let shadowed_allow = if allowed {
            None
        } else {
            matching.find(|r| r.value.access.value == Access::Allow)
        };
        return Verdict {
            allowed,
            by: By::Rule(first),
            shadowed_allow,
        };
    }
    let default = DEFAULT_RULES
        .iter()
        .filter(|d| d.direction == probe.direction)
        .find(|d| probe.from.covered_by(d.source) && probe.to.covered_by(d.destination))
        .unwrap_or(&DEFAULT_RULES[2]);
    Verdict {
        allowed: default.allow,
        by: By::Default(default),
        shadowed_allow: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moat_spec::Span;

    fn s<T>(v: T) -> Spanned<T> {
        Spanned::new(v, Span::default())
    }

    fn list(v: &[&str]) -> Option<Spanned<OneOrMany>> {
        Some(s(OneOrMany(
            v.iter().map(|x| s((*x).to_string())).collect(),
        )))
    }

    fn rule(
        priority: u32,
        direction: Direction,
        access: Access,
        source: &str,
        destination: &str,
        ports: &[&str],
    ) -> Spanned<SecurityRule> {
        s(SecurityRule {
            name: s(format!("r{priority}")),
            priority: s(priority),
            direction: s(direction),
            access: s(access),
            protocol: s(Protocol::Tcp),
            source: list(&[source]),
            source_ports: None,
            destination: list(&[destination]),
            destination_ports: list(ports),
            description: None,
        })
    }

    fn subnet() -> Endpoint {
        Endpoint::network(vec![
            Cidr::parse_strict("10.0.1.0/24").unwrap_or_else(|e| panic!("{e}")),
        ])
    }

    #[test]
    fn defaults_deny_batch_and_allow_internet_out() {
        let batch = Endpoint::service("BatchNodeManagement", Some("eastus2"));
        let sub = subnet();
        let v = evaluate(
            &[],
            &Probe {
                direction: Direction::Inbound,
                port: 29876,
                from: &batch,
                to: &sub,
            },
        );
        assert!(!v.allowed);
        assert!(matches!(v.by, By::Default(d) if d.name == "DenyAllInBound"));
        let storage = Endpoint::service("Storage", Some("eastus2"));
        let v = evaluate(
            &[],
            &Probe {
                direction: Direction::Outbound,
                port: 443,
                from: &sub,
                to: &storage,
            },
        );
        assert!(matches!(v.by, By::Default(d) if d.name == "AllowInternetOutBound"));
        let vnet = Endpoint::network(vec![]);
        let v = evaluate(
            &[],
            &Probe {
                direction: Direction::Inbound,
                port: 443,
                from: &vnet,
                to: &sub,
            },
        );
        assert!(matches!(v.by, By::Default(d) if d.name == "AllowVnetInBound"));
    }

    #[test]
    fn first_match_by_priority_decides_and_reports_shadowed_allows() {
        let batch = Endpoint::service("BatchNodeManagement", Some("eastus2"));
        let sub = subnet();
        let rules = vec![
            rule(
                200,
                Direction::Inbound,
                Access::Allow,
                "BatchNodeManagement",
                "*",
                &["29876-29877"],
            ),
            rule(
                100,
                Direction::Inbound,
                Access::Deny,
                "Internet",
                "*",
                &["*"],
            ),
        ];
        let v = evaluate(
            &rules,
            &Probe {
                direction: Direction::Inbound,
                port: 29877,
                from: &batch,
                to: &sub,
            },
        );
        assert!(!v.allowed);
        assert!(matches!(v.by, By::Rule(r) if r.value.priority.value == 100));
        assert_eq!(v.shadowed_allow.map(|r| r.value.priority.value), Some(200));
        // A regional tag of another region does not cover this one; a partial CIDR never matches a tag.
        let rules = vec![
            rule(
                100,
                Direction::Inbound,
                Access::Allow,
                "BatchNodeManagement.westus",
                "*",
                &["*"],
            ),
            rule(
                110,
                Direction::Inbound,
                Access::Allow,
                "10.0.0.0/8",
                "*",
                &["*"],
            ),
            rule(
                120,
                Direction::Inbound,
                Access::Allow,
                "BatchNodeManagement.EastUS2",
                "10.0.0.0/16",
                &["29876-29877"],
            ),
        ];
        let v = evaluate(
            &rules,
            &Probe {
                direction: Direction::Inbound,
                port: 29876,
                from: &batch,
                to: &sub,
            },
        );
        assert!(matches!(v.by, By::Rule(r) if r.value.priority.value == 120));
    }
}
