//! What every rule needs: the model, typed lookups across references (a compute's subnet, a
//! subnet's network, NSG and route table), and the findings collected so far.

use crate::catalogue;
use moat_model::cidr::Cidr;
use moat_model::{Body, Kind, Model, Resource};
use moat_spec::ast::{self, KindSpec};
use moat_spec::{Diagnostic, Severity, Span};

/// A declared subnet with its typed spec.
#[derive(Clone, Copy)]
pub struct SubnetRef<'m> {
    pub res: &'m Resource,
    pub spec: &'m ast::Subnet,
}

impl<'m> SubnetRef<'m> {
    /// The subnet's range, when it parses (resolution reported it otherwise).
    pub fn prefix(&self) -> Option<Cidr> {
        Cidr::parse_strict(&self.spec.address_prefix.value).ok()
    }
}

/// The lint run: the model and the findings.
pub struct Cx<'m> {
    pub model: &'m Model,
    out: Vec<Diagnostic>,
}

impl<'m> Cx<'m> {
    pub fn new(model: &'m Model) -> Cx<'m> {
        Cx {
            model,
            out: Vec::new(),
        }
    }

    pub fn finish(self) -> Vec<Diagnostic> {
        self.out
    }

    pub fn push(&mut self, d: Diagnostic) {
        self.out.push(d);
    }

    /// A finding of rule `id` with the catalogue's severity.
    pub fn diag(id: &str, message: impl Into<String>, span: Span) -> Diagnostic {
        let severity = catalogue::find(id).map_or(Severity::Warning, |r| r.severity);
        Diagnostic::new(severity, id, message, span)
    }

    /// Managed resources of a kind with their typed spec.
    pub fn specs(
        &self,
        kind: Kind,
    ) -> impl Iterator<Item = (&'m Resource, &'m KindSpec)> + use<'m> {
        self.model.of_kind(kind).filter_map(|r| match &r.body {
            Body::Spec(s) => Some((r, s)),
            _ => None,
        })
    }

    /// The key a reference field of `res` is bound to in this spec.
    pub fn target(&self, res: &'m Resource, field: &str) -> Option<&'m Resource> {
        res.reference(field)
            .and_then(|r| r.target.as_deref())
            .and_then(|t| self.model.get(t))
    }

    /// A declared subnet by key.
    pub fn subnet(&self, key: &str) -> Option<SubnetRef<'m>> {
        let res = self.model.get(key)?;
        match &res.body {
            Body::Subnet(spec) => Some(SubnetRef { res, spec }),
            _ => None,
        }
    }

    /// The network a subnet reference lands in: a declared subnet's parent, or an `existing:`
    /// network (references into one bind to the network itself).
    pub fn vnet_of_target(&self, target: &str) -> Option<&'m Resource> {
        let r = self.model.get(target)?;
        match r.kind {
            Kind::Subnet => r.parent.as_deref().and_then(|p| self.model.get(p)),
            Kind::VirtualNetwork => Some(r),
            _ => None,
        }
    }

    /// The typed spec of a managed virtual network.
    pub fn vnet_spec(res: &'m Resource) -> Option<&'m ast::VirtualNetwork> {
        match &res.body {
            Body::Spec(KindSpec::VirtualNetwork(v)) => Some(v),
            _ => None,
        }
    }

    /// Every declared subnet of a network.
    pub fn subnets_of(&self, vnet_key: &str) -> Vec<SubnetRef<'m>> {
        self.model
            .resources
            .iter()
            .filter(|r| r.kind == Kind::Subnet && r.parent.as_deref() == Some(vnet_key))
            .filter_map(|r| self.subnet(&r.key))
            .collect()
    }

    /// The address space of a managed network.
    pub fn vnet_space(res: &'m Resource) -> Vec<Cidr> {
        Self::vnet_spec(res)
            .map(|v| {
                v.address_space
                    .value
                    .iter()
                    .filter_map(|p| Cidr::parse_strict(&p.value).ok())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The address space of a declared subnet's network (empty when the network is not a
    /// managed one of this spec).
    pub fn space_of(&self, subnet: &SubnetRef<'m>) -> Vec<Cidr> {
        subnet
            .res
            .parent
            .as_deref()
            .and_then(|p| self.model.get(p))
            .map(Self::vnet_space)
            .unwrap_or_default()
    }

    /// The addresses of a declared subnet's network, as a probe's endpoint: the network's
    /// address space, or the subnet's `prefix` when the space is unknown.
    pub fn network_of(&self, subnet: &SubnetRef<'m>, prefix: Cidr) -> crate::nsg::Endpoint {
        let space = self.space_of(subnet);
        crate::nsg::Endpoint::network(if space.is_empty() {
            vec![prefix]
        } else {
            space
        })
    }

    /// The managed NSG associated with a subnet.
    pub fn nsg_of(
        &self,
        subnet: &SubnetRef<'m>,
    ) -> Option<(&'m Resource, &'m ast::NetworkSecurityGroup)> {
        let r = self.target(subnet.res, "network_security_group")?;
        match &r.body {
            Body::Spec(KindSpec::NetworkSecurityGroup(n)) => Some((r, n)),
            _ => None,
        }
    }

    /// The managed route table associated with a subnet.
    pub fn route_table_of(
        &self,
        subnet: &SubnetRef<'m>,
    ) -> Option<(&'m Resource, &'m ast::RouteTable)> {
        let r = self.target(subnet.res, "route_table")?;
        match &r.body {
            Body::Spec(KindSpec::RouteTable(t)) => Some((r, t)),
            _ => None,
        }
    }

    /// The region of a subnet: its network's.
    pub fn region_of(&self, subnet: &SubnetRef<'m>) -> Option<&'m str> {
        let vnet = subnet
            .res
            .parent
            .as_deref()
            .and_then(|p| self.model.get(p))?;
        vnet.location.as_ref().map(|l| l.value.as_str())
    }
}

/// The rules of an NSG, or none.
pub fn nsg_rules(n: &ast::NetworkSecurityGroup) -> &[moat_spec::Spanned<ast::SecurityRule>] {
    n.rules.as_ref().map_or(&[], |r| r.value.as_slice())
}

/// `s` when `n == 1`, for messages.
pub fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
