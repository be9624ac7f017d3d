//! The rules that need the live cloud. At plan time, once the live bodies are read, a subnet
//! outside the spec (of an `existing:` network, or named by full ARM ID) is checked like a
//! declared one:
//!
//! - the subnet a storage or key vault firewall names must have the service's endpoint in the
//!   live network (ML201, ML202; offline lint can only note it as not checked, ML203);
//! - the subnet an AmlCompute cluster joins is checked against its live NSG (ML110–ML113) and
//!   route table (ML114, ML115) with the offline rules' own evaluator (`nsg::evaluate`,
//!   `aml::nsg_verdicts`, `aml::tunnel_gaps`): the live rules are converted into the spec's
//!   rule type, Azure's default rules are the evaluator's own (every NSG has the same six);
//! - the subnet AKS inference nodes sit in (`aks_compute.create.subnet`, or the node subnet of
//!   a cluster attached as AKS or Kubernetes compute) is checked against its live NSG (ML308,
//!   ML309) with `aks::aks_verdicts`, the offline rules' evaluation;
//! - a subnet named by ARM ID is read by ID; one that is not there is E0203.
//!
//! Like every rule here it does no IO: [`live_reads`] says which subnets, NSGs and route tables
//! to read beyond the spec's resources, and the caller hands in the bodies it read.

use crate::aks;
use crate::aml::{self, Member};
use crate::catalogue::{self, ids};
use crate::cx::nsg_rules;
use crate::nsg::{By, Endpoint, Verdict};
use crate::storage::{FIREWALLS, short};
use moat_model::cidr::Cidr;
use moat_model::kinds::refs;
use moat_model::kinds::words::spec_word;
use moat_model::{Body, Kind, Model, Resource, json};
use moat_spec::ast::{self, Access, Direction, KindSpec, NextHop, OneOrMany, Protocol};
use moat_spec::{Diagnostic, Severity, Span, Spanned, codes};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;

/// What the plan read for these rules beyond the spec's resources: the subnets, NSGs and route
/// tables [`live_reads`] asked for, by lowercase ARM ID; a read that failed keeps its reason
/// ([`NOT_FOUND`] when there was nothing).
pub type PolicyReads = BTreeMap<String, Result<Value, String>>;

/// A subnet, NSG or route table to read for [`lint_live`]: its ARM ID and kind (hence
/// api-version).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyRead {
    /// The ARM ID, as the live subnet spells it.
    pub id: String,
    /// `Subnet`, `NetworkSecurityGroup` or `RouteTable`.
    pub kind: Kind,
}

/// What a read of [`PolicyReads`] that found nothing (404) keeps as its reason.
pub const NOT_FOUND: &str = "not found";

/// What the plan reads (once each) before [`lint_live`], beyond the spec's resources: the
/// subnets computes name by full ARM ID, then the NSGs and route tables of the existing
/// subnets AmlCompute clusters (NSG and route table) and AKS inference nodes (NSG) join.
/// `reads` holds what was read so far: a subnet's NSG is only known once the subnet is, so the
/// plan calls this again with what it read until nothing new is asked for (two rounds at most).
pub fn live_reads(
    model: &Model,
    live: &BTreeMap<String, Value>,
    reads: &PolicyReads,
) -> Vec<PolicyRead> {
    let mut out: Vec<PolicyRead> = Vec::new();
    let mut want = |kind: Kind, id: &str| {
        if declared(model, kind, id).is_none()
            && !reads.contains_key(&id.to_ascii_lowercase())
            && !out.iter().any(|r| r.id.eq_ignore_ascii_case(id))
        {
            out.push(PolicyRead {
                id: id.to_string(),
                kind,
            });
        }
    };
    for r in compute_subnets(model) {
        if by_id(model, r) {
            want(Kind::Subnet, &r.id);
        }
    }
    for j in joined(model, live, reads) {
        let Site::Found(net) = &j.site else { continue };
        want_policies(net, true, &mut want);
    }
    for a in inference(model, live, reads) {
        let Site::Found(net) = &a.site else { continue };
        want_policies(net, false, &mut want);
    }
    out
}

/// The NSG (and with `routes` the route table) of a live subnet, to [`live_reads`]' `want`.
fn want_policies(net: &Net<'_>, routes: bool, want: &mut impl FnMut(Kind, &str)) {
    if let Some(id) = net.nsg_id() {
        want(Kind::NetworkSecurityGroup, id);
    }
    if let Some(id) = net.route_table_id().filter(|_| routes) {
        want(Kind::RouteTable, id);
    }
}

/// The subnet references of the computes these rules check: AmlCompute clusters' `subnet:`
/// and the AKS inference node subnets.
fn compute_subnets(model: &Model) -> Vec<&moat_model::Ref> {
    let mut out: Vec<&moat_model::Ref> = model
        .of_kind(Kind::AmlCompute)
        .filter(|r| matches!(r.body, Body::Spec(_)))
        .filter_map(|r| r.reference(refs::SUBNET))
        .collect();
    out.extend(aks::inference_subnets(model).into_iter().map(|i| i.subnet));
    out
}

/// True when `r` names a subnet by full ARM ID outside this spec (no resource of the spec has
/// the ID, and its network is not one the spec creates): the plan reads it by ID.
fn by_id(model: &Model, r: &moat_model::Ref) -> bool {
    let lower = r.id.to_ascii_lowercase();
    let Some(at) = lower.rfind("/subnets/") else {
        return false;
    };
    let vnet = &r.id[..at];
    r.kind == Kind::Subnet
        && r.target.is_none()
        && !model
            .of_kind(Kind::VirtualNetwork)
            .any(|v| !v.is_existing() && v.id.eq_ignore_ascii_case(vnet))
}

/// True when the plan's live check stands in for the offline finding `d`: an ML203 note on a
/// firewall subnet of an `existing:` network, which [`lint_live`] checks against the live
/// network (ML201, ML202). A plan leaves such notes out; `validate` and `lint`, which do not
/// read the cloud, keep them (a firewall subnet named only by ARM ID stays unchecked).
pub fn checked_live(model: &Model, d: &Diagnostic) -> bool {
    d.code == ids::ML203
        && model
            .resources
            .iter()
            .flat_map(|r| &r.refs)
            .filter(|r| r.span == d.primary.span && refs::is_firewall_subnet(&r.field))
            .filter_map(|r| r.target.as_deref().and_then(|t| model.get(t)))
            .any(|v| v.kind == Kind::VirtualNetwork && v.is_existing())
}

/// Runs the live-aware rules on `model`, the live bodies read (by resource key) and the NSGs
/// and route tables read for them ([`live_reads`]).
pub fn lint_live(
    model: &Model,
    live: &BTreeMap<String, Value>,
    reads: &PolicyReads,
) -> Vec<Diagnostic> {
    let mut out = firewalls(model, live);
    for j in joined(model, live, reads) {
        let net = match &j.site {
            Site::Found(net) => net,
            Site::Missing => {
                out.extend(j.members.iter().map(|m| missing(m.subnet_span, &j.id)));
                continue;
            }
            Site::Unread(why) => {
                out.push(j.unchecked(
                    ids::ML110,
                    "ML110–ML115",
                    "subnet",
                    why,
                    "make sure the subnet's NSG admits Azure Batch management and its route table lets Batch and Azure ML through before applying, or run the plan with read access to it",
                ));
                continue;
            }
        };
        if let Some(src) = net
            .nsg_id()
            .and_then(|id| source(model, live, reads, Kind::NetworkSecurityGroup, id))
        {
            nsg_checks(&j, net, &src, &mut out);
        }
        if let Some(src) = net
            .route_table_id()
            .and_then(|id| source(model, live, reads, Kind::RouteTable, id))
        {
            tunnel_checks(&j, net, &src, &mut out);
        }
    }
    for a in inference(model, live, reads) {
        let net = match &a.site {
            Site::Found(net) => net,
            Site::Missing => {
                out.push(missing(a.i.subnet.span, &a.i.subnet.id));
                continue;
            }
            Site::Unread(why) => {
                out.push(a.unchecked("subnet", why));
                continue;
            }
        };
        if let Some(src) = net
            .nsg_id()
            .and_then(|id| source(model, live, reads, Kind::NetworkSecurityGroup, id))
        {
            aks_checks(&a, net, &src, &mut out);
        }
    }
    out.sort_by(|a, b| (a.primary.span.start, &a.code).cmp(&(b.primary.span.start, &b.code)));
    out
}

/// ML201/ML202: a firewall subnet of an `existing:` network has the endpoint in the live body.
fn firewalls(model: &Model, live: &BTreeMap<String, Value>) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for res in &model.resources {
        let Some((_, id, endpoint, accepted)) =
            FIREWALLS.iter().find(|(k, _, _, _)| *k == res.kind)
        else {
            continue;
        };
        for r in res
            .refs
            .iter()
            .filter(|r| refs::is_firewall_subnet(&r.field))
        {
            let Some((vnet, _, subnet)) = live_subnet(model, live, r) else {
                continue; // a missing subnet is E0203, reported by the subnet's live check
            };
            let live_endpoints: Vec<&str> = json::get(subnet, "properties.serviceEndpoints")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|e| e.get("service").and_then(Value::as_str))
                .collect();
            if live_endpoints
                .iter()
                .any(|e| accepted.iter().any(|a| a.eq_ignore_ascii_case(e)))
            {
                continue;
            }
            let severity = catalogue::find(id).map_or(Severity::Error, |x| x.severity);
            let what = res.kind.word().replace('_', " ");
            let has = if live_endpoints.is_empty() {
                "none".to_string()
            } else {
                live_endpoints.join(", ")
            };
            out.push(
                Diagnostic::new(
                    severity,
                    id,
                    format!(
                        "subnet `{}` of the live network `{}` has no `{endpoint}` service endpoint, which the firewall of {what} `{}` requires",
                        short(&r.id),
                        vnet.key,
                        res.key
                    ),
                    r.span,
                )
                .label(format!("the live subnet's service endpoints: {has}"))
                .hint(format!(
                    "ask the network's owners to add `{endpoint}` to the subnet, or name another subnet"
                )),
            );
        }
    }
    out
}

/// The `existing:` network a subnet reference lands in, its live body and the live subnet.
/// `None` when the reference is not into an `existing:` network, the network was not read,
/// or the subnet is missing (E0203, reported by the subnet's live check).
fn live_subnet<'a>(
    model: &'a Model,
    live: &'a BTreeMap<String, Value>,
    r: &moat_model::Ref,
) -> Option<(&'a Resource, &'a Value, &'a Value)> {
    // References into an `existing:` network bind to the network itself.
    let vnet = r.target.as_deref().and_then(|t| model.get(t))?;
    if vnet.kind != Kind::VirtualNetwork || !vnet.is_existing() {
        return None;
    }
    let body = live.get(&vnet.key)?;
    let name = r.id.rsplit('/').next().unwrap_or_default();
    let subnet = json::get(body, "properties.subnets")
        .and_then(Value::as_array)?
        .iter()
        .find(|s| {
            s.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
        })?;
    Some((vnet, body, subnet))
}

/// A live subnet a compute joins: of an `existing:` network (found in its live body) or named
/// by ARM ID (read by ID).
struct Net<'m> {
    /// `hub-vnet/ml-training`.
    name: String,
    subnet: &'m Value,
    /// The network's address space, when known (a subnet read by ID has none).
    space: Vec<Cidr>,
    /// The network's region, when known.
    region: Option<String>,
    /// How the spec names it, for labels.
    label: &'static str,
}

impl Net<'_> {
    fn nsg_id(&self) -> Option<&str> {
        json::get(self.subnet, "properties.networkSecurityGroup.id").and_then(Value::as_str)
    }

    fn route_table_id(&self) -> Option<&str> {
        json::get(self.subnet, "properties.routeTable.id").and_then(Value::as_str)
    }

    fn prefixes(&self) -> Vec<Cidr> {
        live_cidrs(
            self.subnet,
            "properties.addressPrefix",
            "properties.addressPrefixes",
        )
    }

    /// The subnet as a probe's endpoint, and its network's (the subnet's own range when the
    /// network's space is unknown).
    fn endpoints(&self) -> (Endpoint, Endpoint) {
        let here = self.prefixes();
        let vnet = if self.space.is_empty() {
            here.clone()
        } else {
            self.space.clone()
        };
        (Endpoint::network(here), Endpoint::network(vnet))
    }
}

/// What the plan found for a subnet reference outside the spec.
enum Site<'m> {
    Found(Net<'m>),
    /// Named by ARM ID, and not there.
    Missing,
    /// Named by ARM ID, and the read failed: why.
    Unread(String),
}

/// The live subnet `r` names: `None` when it is not outside the spec, was not read, or is a
/// missing subnet of an `existing:` network (E0203, reported by the subnet's live check).
fn site<'m>(
    model: &'m Model,
    live: &'m BTreeMap<String, Value>,
    reads: &'m PolicyReads,
    r: &moat_model::Ref,
) -> Option<Site<'m>> {
    if let Some((vnet, body, subnet)) = live_subnet(model, live, r) {
        let region = body
            .get("location")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| vnet.location.as_ref().map(|l| l.value.clone()));
        return Some(Site::Found(Net {
            name: short(&r.id),
            subnet,
            space: live_cidrs(body, "", "properties.addressSpace.addressPrefixes"),
            region,
            label: "subnet of an `existing:` network",
        }));
    }
    if !by_id(model, r) {
        return None;
    }
    Some(match reads.get(&r.id.to_ascii_lowercase())? {
        Ok(subnet) => Site::Found(Net {
            name: short(&r.id),
            subnet,
            space: Vec::new(),
            region: None,
            label: "subnet named by ARM ID",
        }),
        Err(why) if why == NOT_FOUND => Site::Missing,
        Err(why) => Site::Unread(why.clone()),
    })
}

/// E0203 for a subnet named by ARM ID that the live cloud does not have.
fn missing(at: Span, id: &str) -> Diagnostic {
    Diagnostic::error(
        codes::E0203,
        format!("subnet `{}` does not exist", short(id)),
        at,
    )
    .label("no such subnet in the live cloud")
    .hint("check the ID's subscription, resource group, network and subnet names, or name a subnet this spec declares")
}

/// A live subnet and the AmlCompute clusters that join it.
struct Joined<'m> {
    site: Site<'m>,
    /// The subnet's ARM ID.
    id: String,
    /// `hub-vnet/ml-training`.
    name: String,
    members: Vec<Member<'m>>,
}

impl Joined<'_> {
    /// The network's region, else the first cluster's.
    fn region(&self, net: &Net<'_>) -> Option<String> {
        net.region.clone().or_else(|| {
            self.members[0]
                .res
                .location
                .as_ref()
                .map(|l| l.value.clone())
        })
    }

    /// The second and later clusters on the subnet, as secondary labels ("`b` joins it too").
    fn with_members(&self, mut d: Diagnostic) -> Diagnostic {
        for m in &self.members[1..] {
            d = d.with_secondary(m.subnet_span, format!("`{}` joins it too", m.res.key));
        }
        d
    }

    fn at(&self) -> Span {
        self.members[0].subnet_span
    }

    fn label(&self) -> &'static str {
        match &self.site {
            Site::Found(n) => n.label,
            _ => "subnet named by ARM ID",
        }
    }

    /// The warning for rules (`rules`, reported as `code`) left unchecked because `what`
    /// could not be read.
    fn unchecked(&self, code: &str, rules: &str, what: &str, why: &str, hint: &str) -> Diagnostic {
        self.with_members(
            Diagnostic::new(
                Severity::Warning,
                code,
                format!(
                    "{rules} are not checked for subnet `{}`: cannot read its {what}: {why}",
                    self.name
                ),
                self.at(),
            )
            .label(self.label())
            .hint(hint),
        )
    }
}

/// Every live subnet outside the spec an AmlCompute cluster joins, in spec order.
fn joined<'m>(
    model: &'m Model,
    live: &'m BTreeMap<String, Value>,
    reads: &'m PolicyReads,
) -> Vec<Joined<'m>> {
    let mut out: Vec<Joined<'m>> = Vec::new();
    for res in model.of_kind(Kind::AmlCompute) {
        let Body::Spec(KindSpec::AmlCompute(spec)) = &res.body else {
            continue;
        };
        let Some(r) = res.reference(refs::SUBNET) else {
            continue;
        };
        let member = Member {
            res,
            spec,
            subnet_span: r.span,
        };
        let name = short(&r.id);
        if let Some(j) = out.iter_mut().find(|j| j.id.eq_ignore_ascii_case(&r.id)) {
            j.members.push(member);
            continue;
        }
        let Some(site) = site(model, live, reads, r) else {
            continue;
        };
        out.push(Joined {
            site,
            id: r.id.clone(),
            name,
            members: vec![member],
        });
    }
    out
}

/// A live subnet outside the spec that AKS inference nodes sit in.
struct Serving<'m> {
    site: Site<'m>,
    i: aks::Inference<'m>,
    /// The compute's region.
    location: Option<String>,
}

impl Serving<'_> {
    /// A finding at the subnet reference, with the compute named when it is written elsewhere.
    fn at(&self, d: Diagnostic) -> Diagnostic {
        if self.i.at == self.i.subnet.span {
            d
        } else {
            d.with_secondary(
                self.i.at,
                format!("`{}` serves models from this subnet", self.i.compute),
            )
        }
    }

    fn unchecked(&self, what: &str, why: &str) -> Diagnostic {
        let label = match &self.site {
            Site::Found(n) => n.label,
            _ => "subnet named by ARM ID",
        };
        self.at(
            Diagnostic::new(
                Severity::Warning,
                ids::ML308,
                format!(
                    "ML308/ML309 are not checked for AKS subnet `{}`: cannot read its {what}: {why}",
                    short(&self.i.subnet.id)
                ),
                self.i.subnet.span,
            )
            .label(label)
            .hint("make sure the subnet's NSG admits `AzureMachineLearning` on TCP 443 and callers on TCP 80/443 before applying, or run the plan with read access to it"),
        )
    }

    /// The network's region, else the compute's.
    fn region(&self, net: &Net<'_>) -> Option<String> {
        net.region.clone().or_else(|| self.location.clone())
    }
}

/// Every live subnet outside the spec AKS inference nodes sit in (once each), in spec order.
fn inference<'m>(
    model: &'m Model,
    live: &'m BTreeMap<String, Value>,
    reads: &'m PolicyReads,
) -> Vec<Serving<'m>> {
    aks::inference_subnets(model)
        .into_iter()
        .filter_map(|i| {
            Some(Serving {
                site: site(model, live, reads, i.subnet)?,
                location: model
                    .get(i.compute)
                    .and_then(|r| r.location.as_ref())
                    .map(|l| l.value.clone()),
                i,
            })
        })
        .collect()
}

/// A resource of this spec with `kind` and ARM ID `id`.
fn declared<'m>(model: &'m Model, kind: Kind, id: &str) -> Option<&'m Resource> {
    model.of_kind(kind).find(|r| r.id.eq_ignore_ascii_case(id))
}

/// Where an NSG's rules or a route table's routes come from.
enum Source<'m> {
    /// Declared and managed in this spec: its rules as the spec writes them (what apply makes
    /// it), reported with their spans.
    Spec(&'m Resource),
    /// Read live (another stack's, or `existing:` in this spec): its ARM body.
    Live { name: String, body: &'m Value },
    /// The read failed.
    Unread { name: String, why: String },
}

impl Source<'_> {
    /// "live NSG `hub-nsg`" or "NSG `team-nsg`", for messages.
    fn what(&self, noun: &str) -> String {
        match self {
            Source::Spec(_) => self.named(noun),
            _ => format!("live {}", self.named(noun)),
        }
    }

    /// "NSG `hub-nsg`", for hints.
    fn named(&self, noun: &str) -> String {
        match self {
            Source::Spec(r) => format!("{noun} `{}`", r.key),
            Source::Live { name, .. } | Source::Unread { name, .. } => format!("{noun} `{name}`"),
        }
    }

    /// A fix in words: the spec's own to make, or the network's owners'.
    fn fix(&self, text: String) -> String {
        match self {
            Source::Spec(_) => text,
            _ => format!("ask the network's owners to {text}"),
        }
    }
}

/// Where the rules of the NSG or route table `id` (of `kind`) attached to a live subnet come
/// from: the spec when it declares it, else the live bodies; `None` when nothing was read.
fn source<'m>(
    model: &'m Model,
    live: &'m BTreeMap<String, Value>,
    reads: &'m PolicyReads,
    kind: Kind,
    id: &str,
) -> Option<Source<'m>> {
    if let Some(r) = declared(model, kind, id) {
        return if r.is_existing() {
            // Read with the spec's resources; a missing one is reported there.
            live.get(&r.key).map(|body| Source::Live {
                name: r.name.value.clone(),
                body,
            })
        } else {
            Some(Source::Spec(r))
        };
    }
    let name = id.rsplit('/').next().unwrap_or(id).to_string();
    match reads.get(&id.to_ascii_lowercase())? {
        Ok(body) => Some(Source::Live { name, body }),
        Err(why) => Some(Source::Unread {
            name,
            why: why.clone(),
        }),
    }
}

/// A value of the spec's rule types without a place in the spec.
fn unplaced<T>(v: T) -> Spanned<T> {
    Spanned::new(v, Span::default())
}

/// The addresses of one side of a live rule: `single` or `plural`; rules that name application
/// security groups instead (which no probe of a whole subnet or tag belongs to) get an address
/// that covers nothing.
fn live_addresses(p: &Value, single: &str, plural: &str, asgs: &str) -> Option<Spanned<OneOrMany>> {
    let mut list: Vec<String> = p
        .get(plural)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    if let Some(s) = p
        .get(single)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        list.push(s.to_string());
    }
    if list.is_empty()
        && p.get(asgs)
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    {
        list.push("(application security groups)".to_string());
    }
    if list.is_empty() {
        return None; // `*`
    }
    Some(unplaced(OneOrMany(
        list.into_iter().map(unplaced).collect(),
    )))
}

/// A live NSG's `securityRules` as the spec's rules, for `nsg::evaluate`. A rule whose
/// direction, access or priority cannot be read is left out (Azure never returns one).
fn live_rules(body: &Value) -> Vec<Spanned<ast::SecurityRule>> {
    json::get(body, "properties.securityRules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let p = r.get("properties")?;
            let word = |k: &str, words: &[&'static str]| {
                p.get(k)
                    .and_then(Value::as_str)
                    .and_then(|v| spec_word(words, v))
            };
            let protocol = match p.get("protocol").and_then(Value::as_str) {
                Some("*") | None => Protocol::Any,
                Some(v) => spec_word(Protocol::WORDS, v).and_then(Protocol::from_word)?,
            };
            Some(unplaced(ast::SecurityRule {
                name: unplaced(r.get("name").and_then(Value::as_str)?.to_string()),
                priority: unplaced(u32::try_from(p.get("priority")?.as_u64()?).ok()?),
                direction: unplaced(Direction::from_word(word("direction", Direction::WORDS)?)?),
                access: unplaced(Access::from_word(word("access", Access::WORDS)?)?),
                protocol: unplaced(protocol),
                source: live_addresses(
                    p,
                    "sourceAddressPrefix",
                    "sourceAddressPrefixes",
                    "sourceApplicationSecurityGroups",
                ),
                source_ports: live_addresses(p, "sourcePortRange", "sourcePortRanges", ""),
                destination: live_addresses(
                    p,
                    "destinationAddressPrefix",
                    "destinationAddressPrefixes",
                    "destinationApplicationSecurityGroups",
                ),
                destination_ports: live_addresses(
                    p,
                    "destinationPortRange",
                    "destinationPortRanges",
                    "",
                ),
                description: None,
            }))
        })
        .collect()
}

/// A live route table's `routes` as the spec's routes. A next hop moat has no word for counts
/// as `none` (not the internet).
fn live_routes(body: &Value) -> Vec<Spanned<ast::Route>> {
    json::get(body, "properties.routes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let p = r.get("properties")?;
            let hop = p
                .get("nextHopType")
                .and_then(Value::as_str)
                .and_then(|h| spec_word(NextHop::WORDS, h))
                .and_then(NextHop::from_word)
                .unwrap_or(NextHop::None);
            Some(unplaced(ast::Route {
                name: unplaced(r.get("name").and_then(Value::as_str)?.to_string()),
                address_prefix: unplaced(
                    p.get("addressPrefix").and_then(Value::as_str)?.to_string(),
                ),
                next_hop: unplaced(hop),
                next_hop_ip: p
                    .get("nextHopIpAddress")
                    .and_then(Value::as_str)
                    .map(|s| unplaced(s.to_string())),
            }))
        })
        .collect()
}

/// The ranges of a live body's `single` or `plural` address field.
fn live_cidrs(v: &Value, single: &str, plural: &str) -> Vec<Cidr> {
    let mut out: Vec<Cidr> = json::get(v, plural)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|s| Cidr::parse_strict(s).ok())
        .collect();
    if out.is_empty() {
        out.extend(
            json::get(v, single)
                .and_then(Value::as_str)
                .and_then(|s| Cidr::parse_strict(s).ok()),
        );
    }
    out
}

/// "rule `deny-all` (priority 200)" or "no rule allows it, so Azure's `DenyAllInBound`".
fn decided(by: By<'_>) -> String {
    match by {
        By::Rule(r) => format!(
            "rule `{}` (priority {})",
            r.value.name.value, r.value.priority.value
        ),
        By::Default(d) => format!("no rule allows it, so Azure's `{}`", d.name),
    }
}

/// The span of the deciding rule when it is the spec's, for a secondary label.
fn rule_span(by: By<'_>) -> Option<Span> {
    match by {
        By::Rule(r) if r.span != Span::default() => Some(r.value.priority.span),
        _ => None,
    }
}

fn diag(id: &str, message: String, at: Span) -> Diagnostic {
    let severity = catalogue::find(id).map_or(Severity::Warning, |r| r.severity);
    Diagnostic::new(severity, id, message, at)
}

/// A verdict's labels: the primary one naming the NSG and rule, and a secondary at the rule
/// when it is the spec's.
fn verdict_labels(d: Diagnostic, src: &Source<'_>, v: &Verdict<'_>, does: &str) -> Diagnostic {
    let what = src.what("NSG");
    let mut d = d.label(format!("{what}: {} {does}", decided(v.by)));
    if let Some(s) = rule_span(v.by) {
        d = d.with_secondary(s, does.to_string());
    }
    d
}

/// The rules of an NSG: the spec's as written, or the live body's as the spec's rule type;
/// `Err` with why when it could not be read, `None` when a declared one is not an NSG's spec.
fn nsg_source_rules<'a>(
    src: &'a Source<'_>,
) -> Option<Result<Cow<'a, [Spanned<ast::SecurityRule>]>, &'a str>> {
    match src {
        Source::Spec(r) => match &r.body {
            Body::Spec(KindSpec::NetworkSecurityGroup(n)) => Some(Ok(Cow::Borrowed(nsg_rules(n)))),
            _ => None,
        },
        Source::Live { body, .. } => Some(Ok(Cow::Owned(live_rules(body)))),
        Source::Unread { why, .. } => Some(Err(why)),
    }
}

/// ML110–ML113 on the NSG of a live subnet.
fn nsg_checks(j: &Joined<'_>, net: &Net<'_>, src: &Source<'_>, out: &mut Vec<Diagnostic>) {
    let what = src.what("NSG");
    let name = src.named("NSG");
    let rules = match nsg_source_rules(src) {
        Some(Ok(rules)) => rules,
        Some(Err(why)) => {
            out.push(j.unchecked(
                ids::ML110,
                "ML110–ML113",
                &what,
                why,
                "make sure the NSG admits Azure Batch management (TCP 29876-29877 from `BatchNodeManagement`) before applying, or run the plan with read access to it",
            ));
            return;
        }
        None => return,
    };
    let rules = rules.as_ref();
    let (here, vnet) = net.endpoints();
    let region = j.region(net);
    let found = aml::nsg_verdicts(
        rules,
        region.as_deref(),
        &here,
        &vnet,
        aml::wants_ssh(&j.members),
    );
    let sub = &j.name;

    if let Some((port, v)) = found.batch {
        let d = diag(
            ids::ML110,
            format!(
                "{what} of subnet `{sub}` blocks Azure Batch management (TCP {port} from `BatchNodeManagement`)"
            ),
            j.at(),
        );
        let hint = match (v.by, v.shadowed_allow) {
            (By::Rule(deny), Some(allow)) => format!(
                "give rule `{}` of {name} a priority below {}, or narrow `{}`",
                allow.value.name.value, deny.value.priority.value, deny.value.name.value
            ),
            (By::Rule(deny), None) => format!(
                "add an inbound rule to {name}: {}",
                aml::batch_rule(deny.value.priority.value)
            ),
            (By::Default(_), _) => {
                format!("add an inbound rule to {name}: {}", aml::batch_rule(4096))
            }
        };
        let does = if v.shadowed_allow.is_some() {
            "denies it first"
        } else {
            "denies it"
        };
        out.push(
            j.with_members(
                verdict_labels(d, src, &v, does)
                    .hint(src.fix(hint))
                    .note(aml::BATCH_NOTE),
            ),
        );
    }

    if let Some(r) = found.ssh {
        let mut d = diag(
            ids::ML111,
            format!(
                "{what} opens SSH (TCP 22) to the internet but no cluster on subnet `{sub}` asks for SSH"
            ),
            j.at(),
        )
        .label(format!(
            "{what}: rule `{}` (priority {}) allows TCP 22 from the internet",
            r.value.name.value, r.value.priority.value
        ))
        .hint(src.fix(format!(
            "remove rule `{}` or narrow its source; or set `ssh:` or `remote_login_port_public_access: enabled` on the cluster that needs SSH",
            r.value.name.value
        )));
        if r.span != Span::default() {
            d = d.with_secondary(r.value.priority.span, "allows TCP 22 from the internet");
        }
        out.push(j.with_members(d));
    }

    if let Some(v) = found.vnet_out {
        let d = diag(
            ids::ML112,
            format!("{what} blocks outbound traffic from subnet `{sub}` to the virtual network"),
            j.at(),
        );
        out.push(j.with_members(
            verdict_labels(d, src, &v, "denies `VirtualNetwork` (checked for TCP 443)").hint(
                src.fix(format!(
                    "remove the deny for `VirtualNetwork` from {name}, or add an outbound allow to `VirtualNetwork` with a lower priority number"
                )),
            ),
        ));
    }

    if let Some((v, missing)) = found.services {
        let list = aml::tag_list(&missing);
        let d = diag(
            ids::ML113,
            format!(
                "{what} of subnet `{sub}` denies outbound internet and does not allow {list} on TCP 443"
            ),
            j.at(),
        );
        out.push(j.with_members(
            verdict_labels(d, src, &v, "denies the internet")
                .hint(src.fix(format!(
                    "add outbound allow rules on TCP 443 to {list} to {name}, with lower priority numbers than the deny"
                )))
                .note(aml::SERVICES_NOTE),
        ));
    }
}

/// ML114/ML115 on the route table of a live subnet.
fn tunnel_checks(j: &Joined<'_>, net: &Net<'_>, src: &Source<'_>, out: &mut Vec<Diagnostic>) {
    let what = src.what("route table");
    let name = src.named("route table");
    let routes: Vec<Spanned<ast::Route>>;
    let routes: &[Spanned<ast::Route>] = match src {
        Source::Spec(r) => match &r.body {
            Body::Spec(KindSpec::RouteTable(t)) => {
                t.routes.as_ref().map_or(&[], |r| r.value.as_slice())
            }
            _ => return,
        },
        Source::Live { body, .. } => {
            routes = live_routes(body);
            &routes
        }
        Source::Unread { why, .. } => {
            out.push(j.unchecked(
                ids::ML114,
                "ML114/ML115",
                &what,
                why,
                "with forced tunnelling, make sure the route table sends `BatchNodeManagement` and `AzureMachineLearning` to the internet before applying",
            ));
            return;
        }
    };
    let region = j.region(net);
    let Some((default, gaps)) = aml::tunnel_gaps(routes, region.as_deref()) else {
        return;
    };
    let sub = &j.name;
    for g in gaps {
        let (message, label, hint) = match g.wrong {
            Some(r) => (
                format!(
                    "{what} of subnet `{sub}` tunnels all traffic and its route `{}` sends `{}` to `{}`, not to the internet",
                    r.value.name.value, r.value.address_prefix.value, r.value.next_hop.value
                ),
                format!(
                    "{what}: route `{}` must go to `internet`; `{}` (`0.0.0.0/0`) goes to `{}`",
                    r.value.name.value, default.value.name.value, default.value.next_hop.value
                ),
                format!(
                    "set `next_hop: internet` on route `{}` of {name}",
                    r.value.name.value
                ),
            ),
            None => (
                format!(
                    "{what} of subnet `{sub}` tunnels all traffic but has no `{}` route to the internet",
                    g.tag
                ),
                format!(
                    "{what}: route `{}` sends `0.0.0.0/0` to `{}`",
                    default.value.name.value, default.value.next_hop.value
                ),
                format!("add a route to {name}: {}", aml::route_to_internet(&g)),
            ),
        };
        let mut d = diag(g.id, message, j.at())
            .label(label)
            .hint(src.fix(hint))
            .note(g.note);
        if default.span != Span::default() {
            d = d.with_secondary(default.value.address_prefix.span, "forced tunnelling here");
        }
        out.push(j.with_members(d));
    }
}

/// ML308/ML309 on the NSG of a live subnet AKS inference nodes sit in.
fn aks_checks(a: &Serving<'_>, net: &Net<'_>, src: &Source<'_>, out: &mut Vec<Diagnostic>) {
    let what = src.what("NSG");
    let name = src.named("NSG");
    let rules = match nsg_source_rules(src) {
        Some(Ok(rules)) => rules,
        Some(Err(why)) => {
            out.push(a.unchecked(&what, why));
            return;
        }
        None => return,
    };
    let rules = rules.as_ref();
    let (here, vnet) = net.endpoints();
    let region = a.region(net);
    let found = aks::aks_verdicts(rules, region.as_deref(), &here, vnet, a.i.v1);
    let sub = &net.name;
    if let Some(v) = found.aml {
        let d = diag(
            ids::ML308,
            format!("{what} keeps `AzureMachineLearning` (TCP 443) out of AKS subnet `{sub}`"),
            a.i.subnet.span,
        );
        let does = if v.shadowed_allow.is_some() {
            "denies it first"
        } else {
            "denies it"
        };
        out.push(
            a.at(verdict_labels(d, src, &v, does)
                .hint(src.fix(format!("add an inbound rule to {name}: {}", aks::AML_RULE)))
                .note(aks::AML_NOTE)),
        );
    }
    if found.unreachable {
        out.push(
            a.at(diag(
                ids::ML309,
                format!(
                    "{what} lets no caller reach the scoring endpoint (TCP 80 or 443) in AKS subnet `{sub}`"
                ),
                a.i.subnet.span,
            )
            .label(format!("{what}: no inbound allow on TCP 80 or 443"))
            .hint(src.fix(format!(
                "add an inbound allow rule on TCP 80/443 to {name} from where the endpoint is called, e.g. `source: VirtualNetwork`"
            )))),
        );
    }
}
