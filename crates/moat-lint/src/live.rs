//! The rules that need the live cloud. At plan time, once the live bodies are read, a subnet of
//! an `existing:` network is checked like a declared one:
//!
//! - the subnet a storage or key vault firewall names must have the service's endpoint in the
//!   live network (ML201, ML202; offline lint can only note it as not checked, ML203);
//! - the subnet an AmlCompute cluster joins is checked against its live NSG (ML110–ML113) and
//!   route table (ML114, ML115) with the offline rules' own evaluator (`nsg::evaluate`,
//!   `aml::nsg_verdicts`, `aml::tunnel_gaps`): the live rules are converted into the spec's
//!   rule type, Azure's default rules are the evaluator's own (every NSG has the same six).
//!
//! Like every rule here it does no IO: [`live_reads`] says which NSGs and route tables to read
//! beyond the spec's resources, and the caller hands in the bodies it read.

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
use moat_spec::{Diagnostic, Severity, Span, Spanned};
use serde_json::Value;
use std::collections::BTreeMap;

/// What the plan read for these rules beyond the spec's resources: the NSGs and route tables
/// [`live_reads`] asked for, by lowercase ARM ID; a read that failed (or found nothing) keeps
/// its reason.
pub type PolicyReads = BTreeMap<String, Result<Value, String>>;

/// An NSG or route table to read for [`lint_live`]: its ARM ID and kind (hence api-version).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyRead {
    /// The ARM ID, as the live subnet spells it.
    pub id: String,
    /// `NetworkSecurityGroup` or `RouteTable`.
    pub kind: Kind,
}

/// The NSGs and route tables of the existing subnets AmlCompute clusters join that are not
/// resources of this spec: what the plan reads (once each) before [`lint_live`].
pub fn live_reads(model: &Model, live: &BTreeMap<String, Value>) -> Vec<PolicyRead> {
    let mut out: Vec<PolicyRead> = Vec::new();
    for j in joined(model, live) {
        for (kind, id) in [
            (Kind::NetworkSecurityGroup, j.nsg_id()),
            (Kind::RouteTable, j.route_table_id()),
        ] {
            let Some(id) = id else { continue };
            if declared(model, kind, id).is_some()
                || out.iter().any(|r| r.id.eq_ignore_ascii_case(id))
            {
                continue;
            }
            out.push(PolicyRead {
                id: id.to_string(),
                kind,
            });
        }
    }
    out
}

/// True when the plan's live check stands in for the offline finding `d`: an ML203 note on a
/// firewall subnet of an `existing:` network, which [`lint_live`] checks against the live
/// network (ML201, ML202). A plan leaves such notes out; `validate` and `lint`, which do not
/// read the cloud, keep them (a subnet named only by ARM ID stays unchecked everywhere).
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
    for j in joined(model, live) {
        if let Some(src) = j
            .nsg_id()
            .and_then(|id| source(model, live, reads, Kind::NetworkSecurityGroup, id))
        {
            nsg_checks(&j, &src, &mut out);
        }
        if let Some(src) = j
            .route_table_id()
            .and_then(|id| source(model, live, reads, Kind::RouteTable, id))
        {
            tunnel_checks(&j, &src, &mut out);
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

/// A live subnet of an `existing:` network and the AmlCompute clusters that join it.
struct Joined<'m> {
    /// `hub-vnet/ml-training`.
    name: String,
    vnet: &'m Resource,
    vnet_body: &'m Value,
    subnet: &'m Value,
    members: Vec<Member<'m>>,
}

impl Joined<'_> {
    fn nsg_id(&self) -> Option<&str> {
        json::get(self.subnet, "properties.networkSecurityGroup.id").and_then(Value::as_str)
    }

    fn route_table_id(&self) -> Option<&str> {
        json::get(self.subnet, "properties.routeTable.id").and_then(Value::as_str)
    }

    /// The network's region: the live body's, else the spec's.
    fn region(&self) -> Option<String> {
        self.vnet_body
            .get("location")
            .and_then(Value::as_str)
            .map(str::to_string)
            .or_else(|| self.vnet.location.as_ref().map(|l| l.value.clone()))
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
            .label("subnet of an `existing:` network")
            .hint(hint),
        )
    }
}

/// Every live subnet of an `existing:` network an AmlCompute cluster joins, in spec order.
fn joined<'m>(model: &'m Model, live: &'m BTreeMap<String, Value>) -> Vec<Joined<'m>> {
    let mut out: Vec<Joined<'m>> = Vec::new();
    for res in model.of_kind(Kind::AmlCompute) {
        let Body::Spec(KindSpec::AmlCompute(spec)) = &res.body else {
            continue;
        };
        let Some(r) = res.reference(refs::SUBNET) else {
            continue;
        };
        let Some((vnet, vnet_body, subnet)) = live_subnet(model, live, r) else {
            continue;
        };
        let member = Member {
            res,
            spec,
            subnet_span: r.span,
        };
        let name = short(&r.id);
        match out
            .iter_mut()
            .find(|j| j.vnet.key == vnet.key && j.name.eq_ignore_ascii_case(&name))
        {
            Some(j) => j.members.push(member),
            None => out.push(Joined {
                name,
                vnet,
                vnet_body,
                subnet,
                members: vec![member],
            }),
        }
    }
    out
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

/// ML110–ML113 on the NSG of a live subnet.
fn nsg_checks(j: &Joined<'_>, src: &Source<'_>, out: &mut Vec<Diagnostic>) {
    let what = src.what("NSG");
    let name = src.named("NSG");
    let rules: Vec<Spanned<ast::SecurityRule>>;
    let rules: &[Spanned<ast::SecurityRule>] = match src {
        Source::Spec(r) => match &r.body {
            Body::Spec(KindSpec::NetworkSecurityGroup(n)) => nsg_rules(n),
            _ => return,
        },
        Source::Live { body, .. } => {
            rules = live_rules(body);
            &rules
        }
        Source::Unread { why, .. } => {
            out.push(j.unchecked(
                ids::ML110,
                "ML110–ML113",
                &what,
                why,
                "make sure the NSG admits Azure Batch management (TCP 29876-29877 from `BatchNodeManagement`) before applying, or run the plan with read access to it",
            ));
            return;
        }
    };
    let here = Endpoint::network(live_cidrs(
        j.subnet,
        "properties.addressPrefix",
        "properties.addressPrefixes",
    ));
    let space = live_cidrs(j.vnet_body, "", "properties.addressSpace.addressPrefixes");
    let vnet = Endpoint::network(if space.is_empty() {
        live_cidrs(
            j.subnet,
            "properties.addressPrefix",
            "properties.addressPrefixes",
        )
    } else {
        space
    });
    let region = j.region();
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
fn tunnel_checks(j: &Joined<'_>, src: &Source<'_>, out: &mut Vec<Diagnostic>) {
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
    let region = j.region();
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
