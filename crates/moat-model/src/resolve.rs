//! Spec → Model: binds references (by key, `key/child` or ARM ID) with type checks, fills
//! names, locations and tags, computes ARM IDs, and checks everything Azure would reject that
//! can be known offline: naming rules, CIDR syntax and containment, subnet overlaps, region
//! names and consistency, field ranges, and dependency cycles. Every problem is collected.

use crate::armid::{self, ArmId};
use crate::cidr::{self, Cidr, CidrError};
use crate::kinds::{Scope, ScopeRef, refs};
use crate::model::{Body, Kind, Model, Ref, Resource, SubscriptionSource};
use crate::naming::{self, NameRule};
use crate::regions;
use moat_spec::ast::{self, KindSpec, Spec};
use moat_spec::codes;
use moat_spec::suggest::did_you_mean;
use moat_spec::{Diagnostic, Span, Spanned};
use std::collections::{BTreeMap, BTreeSet};

/// The subscription moat uses against its local emulator when nothing else names one.
pub const LOCAL_SUBSCRIPTION: &str = "10ca1000-0000-4000-8000-000000000001";
/// The tenant moat uses against its local emulator.
pub const LOCAL_TENANT: &str = "10ca1000-0000-4000-8000-0000000000f1";

/// What resolution needs from outside the spec.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// Subscription to use when the spec names none, and where it came from
    /// (e.g. `AZURE_SUBSCRIPTION_ID`).
    pub subscription: Option<(String, String)>,
    /// Tenant for key vaults that name none.
    pub tenant: Option<String>,
}

/// The tag moat writes on every taggable resource it owns.
pub const STACK_TAG: &str = "moat-stack";

/// Service endpoint names Azure accepts on a subnet.
pub const SERVICE_ENDPOINTS: &[&str] = &[
    "Microsoft.AzureActiveDirectory",
    "Microsoft.AzureCosmosDB",
    "Microsoft.CognitiveServices",
    "Microsoft.ContainerRegistry",
    "Microsoft.EventHub",
    "Microsoft.KeyVault",
    "Microsoft.ServiceBus",
    "Microsoft.Sql",
    "Microsoft.Storage",
    "Microsoft.Storage.Global",
    "Microsoft.Web",
];

fn name_rule(kind: Kind) -> NameRule {
    kind.def().name_rule
}

pub(crate) fn is_guid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && [8, 4, 4, 4, 12]
            .iter()
            .zip(&parts)
            .all(|(n, p)| p.len() == *n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// A key's entry in the symbol table.
pub(crate) struct Sym<'s> {
    pub(crate) res: &'s ast::Resource,
    pub(crate) kind: Kind,
    pub(crate) subnets: Vec<&'s Spanned<String>>,
}

/// Resolution in progress: the symbol table, the IDs and locations computed so far, and the
/// diagnostics. The kinds' `check` functions (`crate::kinds`) work on it.
pub(crate) struct Resolver<'s> {
    pub(crate) spec: &'s Spec,
    pub(crate) diags: Vec<Diagnostic>,
    pub(crate) syms: BTreeMap<&'s str, Sym<'s>>,
    pub(crate) subscription: String,
    pub(crate) ids: BTreeMap<String, String>,
    pub(crate) locations: BTreeMap<String, Spanned<String>>,
    pub(crate) default_location: Option<Spanned<String>>,
    /// Keys the `private_endpoints:` shorthand made (`store/pe-blob`): a `/` no spec key may
    /// hold.
    pub(crate) shorthand: BTreeSet<String>,
}

/// Resolves a decoded spec. Returns the model when one could be built (possibly alongside
/// errors) and every problem found.
pub fn resolve(spec: &Spec, ctx: &Context) -> (Option<Model>, Vec<Diagnostic>) {
    // The `private_endpoints:` shorthands become ordinary private endpoints first.
    let (expanded, shorthand, diags) = crate::kinds::private_endpoint::expand(spec);
    let spec = expanded.as_ref().unwrap_or(spec);
    let mut r = Resolver {
        spec,
        shorthand,
        diags,
        syms: BTreeMap::new(),
        subscription: String::new(),
        ids: BTreeMap::new(),
        locations: BTreeMap::new(),
        default_location: None,
    };
    let model = r.run(ctx);
    (model, r.diags)
}

impl<'s> Resolver<'s> {
    pub(crate) fn err(
        &mut self,
        code: &str,
        msg: impl Into<String>,
        span: Span,
    ) -> &mut Diagnostic {
        self.diags.push(Diagnostic::error(code, msg, span));
        let i = self.diags.len() - 1;
        &mut self.diags[i]
    }

    pub(crate) fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    pub(crate) fn run(&mut self, ctx: &Context) -> Option<Model> {
        let spec = self.spec;
        if let Err(why) = naming::STACK.check(&spec.stack.value) {
            let hint = naming::STACK
                .suggest(&spec.stack.value)
                .map(|s| format!("try `{s}`"));
            self.push(
                Diagnostic::error(codes::E0301, "invalid stack name", spec.stack.span)
                    .label(why)
                    .maybe_hint(hint),
            );
        }
        let (subscription, source) = match (&spec.subscription, &ctx.subscription) {
            (Some(s), _) => {
                if !is_guid(&s.value) {
                    self.push(
                        Diagnostic::error(
                            codes::E0306,
                            format!("`{}` is not a subscription ID", s.value),
                            s.span,
                        )
                        .label("expected a GUID")
                        .hint(
                            "write the subscription's GUID, e.g. from `az account show --query id`",
                        ),
                    );
                }
                (s.value.clone(), SubscriptionSource::Spec)
            }
            (None, Some((s, from))) => (s.clone(), SubscriptionSource::Context(from.clone())),
            (None, None) => (
                LOCAL_SUBSCRIPTION.to_string(),
                SubscriptionSource::Context("the local emulator default".into()),
            ),
        };
        self.subscription = subscription.clone();
        self.default_location = spec.location.as_ref().and_then(|l| self.check_location(l));
        if let Some(tags) = &spec.tags {
            self.check_tags(tags);
        }
        self.build_symbols();
        self.compute_ids();
        // A resource is about a kilobyte: growing the vector by doubling would copy them
        // all and hold two copies at once. Inline children (subnets) may add more.
        let mut resources = Vec::with_capacity(spec.resources.len());
        for res in &spec.resources {
            if let Some(sym) = self.syms.get(res.key.value.as_str())
                && !std::ptr::eq(sym.res, res)
            {
                continue;
            }
            self.resolve_resource(res, &mut resources);
        }
        self.check_unique_names(&resources);
        let mut model = Model::new(
            spec.stack.clone(),
            subscription,
            source,
            self.default_location.clone(),
            spec.backend.clone(),
            resources,
        );
        model.secrets = spec.secrets.clone();
        self.check_cycles(&model);
        Some(model)
    }

    pub(crate) fn check_location(&mut self, l: &Spanned<String>) -> Option<Spanned<String>> {
        let norm = regions::normalize(&l.value);
        if regions::is_known(&norm) {
            return Some(Spanned::new(norm, l.span));
        }
        let hint = did_you_mean(&norm, regions::REGIONS.iter().copied())
            .map(|s| format!("did you mean `{s}`?"))
            .unwrap_or_else(|| "list regions with `az account list-locations -o table`".into());
        self.push(
            Diagnostic::error(
                codes::E0305,
                format!("unknown Azure region `{}`", l.value),
                l.span,
            )
            .label("not a region")
            .hint(hint),
        );
        None
    }

    pub(crate) fn check_tags(&mut self, tags: &Spanned<moat_spec::decode::Map<String>>) {
        if tags.value.0.len() > 50 {
            self.err(codes::E0308, "more than 50 tags", tags.span).hint =
                Some("Azure allows at most 50 tags per resource".into());
        }
        for (k, v) in tags.value.iter() {
            if k.value == STACK_TAG {
                self.push(
                    Diagnostic::error(
                        codes::E0308,
                        format!("the `{STACK_TAG}` tag is moat's own"),
                        k.span,
                    )
                    .hint("moat sets it to the stack name on every resource it owns; remove it"),
                );
            } else if k.value.len() > 512
                || k.value
                    .chars()
                    .any(|c| matches!(c, '<' | '>' | '%' | '&' | '\\' | '?' | '/'))
            {
                self.push(
                    Diagnostic::error(
                        codes::E0308,
                        format!("invalid tag name `{}`", k.value),
                        k.span,
                    )
                    .hint("tag names have at most 512 characters and none of < > % & \\ ? /"),
                );
            }
            if v.value.len() > 256 {
                self.err(codes::E0308, "tag value longer than 256 characters", v.span);
            }
        }
    }

    pub(crate) fn build_symbols(&mut self) {
        for res in &self.spec.resources {
            let key = &res.key;
            if !self.shorthand.contains(&key.value)
                && (key.value.is_empty()
                    || !key
                        .value
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
            {
                self.push(
                    Diagnostic::error(codes::E0301, format!("invalid resource key `{}`", key.value), key.span)
                        .label("keys are letters, digits, `-` and `_`")
                        .hint("`/` is reserved for children (`vnet/subnet`); set the Azure name with `name:`"),
                );
                continue;
            }
            let kind = Kind::of(res.ty.value);
            let subnets = match &res.body {
                Some(KindSpec::VirtualNetwork(v)) => v
                    .subnets
                    .iter()
                    .flat_map(|s| s.value.iter().map(|(k, _)| k))
                    .collect(),
                _ => Vec::new(),
            };
            self.syms
                .insert(key.value.as_str(), Sym { res, kind, subnets });
        }
    }

    /// The Azure name of a resource: `name:`, `existing.name`, or a default derived from the key
    /// ([`default_name`]).
    pub(crate) fn azure_name(&self, res: &ast::Resource) -> Spanned<String> {
        let kind = Kind::of(res.ty.value);
        match (&res.name, &res.existing) {
            (None, None) => Spanned::new(
                default_name(kind, &self.spec.stack.value, &res.key.value),
                res.key.span,
            ),
            _ => Self::given_name(res),
        }
    }

    pub(crate) fn given_name(res: &ast::Resource) -> Spanned<String> {
        if let Some(n) = &res.name {
            return n.clone();
        }
        if let Some(e) = &res.existing {
            if let Some(n) = &e.value.name {
                return n.clone();
            }
            if let Some(id) = e.value.id.as_ref().and_then(|i| ArmId::parse(&i.value))
                && let Some(n) = id.name()
            {
                return Spanned::new(n.to_string(), e.span);
            }
        }
        res.key.clone()
    }

    /// The field naming a resource's scope (its group, or a child's parent), with the
    /// registry entry that says how to read and bind it.
    pub(crate) fn scope_ref(res: &ast::Resource) -> Option<(&Spanned<String>, ScopeRef, Kind)> {
        let kind = Kind::of(res.ty.value);
        let sr = kind.def().scope_ref?;
        let expect = match kind.def().scope {
            Scope::Subscription | Scope::Extension => return None,
            Scope::ResourceGroup => Kind::ResourceGroup,
            Scope::Child { parent, .. } => parent,
        };
        Some(((sr.get)(res.body.as_ref()?)?, sr, expect))
    }

    /// ARM IDs of every key (and subnet child), in dependency order of scopes:
    /// groups, then top-level resources, then children.
    pub(crate) fn compute_ids(&mut self) {
        let keys: Vec<&'s str> = self.syms.keys().copied().collect();
        let deepest = keys
            .iter()
            .map(|k| self.syms[k].kind.def().scope.depth())
            .max()
            .unwrap_or(0);
        for pass in 0..=deepest {
            for key in &keys {
                let sym = &self.syms[key];
                let res = sym.res;
                let kind = sym.kind;
                let scope = kind.def().scope;
                if scope.depth() != pass {
                    continue;
                }
                let name = self.azure_name(res);
                let id = if let Some(e) = &res.existing {
                    self.existing_id(res, kind, e)
                } else {
                    match scope {
                        Scope::Subscription => {
                            Some(armid::resource_group_id(&self.subscription, &name.value))
                        }
                        Scope::Child { parent, segment } => Self::scope_ref(res)
                            .and_then(|(p, _, _)| self.scope_id(p, parent))
                            .map(|p| {
                                let id = format!("{p}/{segment}/{}", name.value);
                                // A versioned asset's ID ends with its version.
                                match kind.def().version.zip(res.body.as_ref()) {
                                    Some((v, b)) => match v(b) {
                                        Some(v) => format!("{id}/versions/{}", v.value),
                                        None => id,
                                    },
                                    None => id,
                                }
                            }),
                        Scope::ResourceGroup => Self::scope_ref(res)
                            .and_then(|(g, _, _)| self.scope_id(g, Kind::ResourceGroup))
                            .map(|g| armid::resource_id(&g, kind.arm_type(), &name.value)),
                        Scope::Extension => match (kind.def().extension_id, res.body.as_ref()) {
                            (Some(f), Some(b)) => f(self, b),
                            _ => None,
                        },
                    }
                };
                if let Some(id) = id {
                    if kind == Kind::VirtualNetwork {
                        for s in &self.syms[key].subnets {
                            self.ids.insert(
                                format!("{key}/{}", s.value),
                                format!("{id}/subnets/{}", s.value),
                            );
                        }
                    }
                    self.ids.insert((*key).to_string(), id);
                }
            }
        }
    }

    pub(crate) fn existing_id(
        &mut self,
        res: &ast::Resource,
        kind: Kind,
        e: &Spanned<ast::Existing>,
    ) -> Option<String> {
        let ex = &e.value;
        if let Some(id) = &ex.id {
            if ex.resource_group.is_some() || ex.name.is_some() {
                self.push(
                    Diagnostic::error(codes::E0114, "give `existing.id`, or `existing.resource_group` and `existing.name`, not both", e.span)
                        .hint("remove `id`, or remove `resource_group` and `name`"),
                );
            }
            // `existing:` is how a stack names a resource of another subscription.
            return match self.given_id(id, true) {
                Some(p) if p.full_type().eq_ignore_ascii_case(kind.arm_type()) => {
                    Some(p.with_type_casing(kind.arm_type()).to_string())
                }
                Some(p) => {
                    self.push(
                        Diagnostic::error(
                            codes::E0202,
                            format!(
                                "`existing.id` is a `{}`, but `{}` is a `{}`",
                                p.full_type(),
                                res.key.value,
                                kind.word()
                            ),
                            id.span,
                        )
                        .label(format!("expected a `{}` ID", kind.arm_type())),
                    );
                    None
                }
                None => None,
            };
        }
        // These names go into the ID (and so the URL) as they are: Azure's rules first.
        if let Some(g) = &ex.resource_group {
            self.check_existing_name(Kind::ResourceGroup, g);
        }
        if let Some(n) = &ex.name {
            self.check_existing_name(kind, n);
        }
        let name = self.azure_name(res);
        match kind.def().scope {
            Scope::Subscription => Some(armid::resource_group_id(&self.subscription, &name.value)),
            Scope::Extension => {
                self.push(
                    Diagnostic::error(
                        codes::E0112,
                        format!("an existing `{}` needs `existing.id`", kind.word()),
                        e.span,
                    )
                    .hint("give its full ARM ID"),
                );
                None
            }
            Scope::Child { parent, segment } => {
                // A child's parent cannot be named by `existing.resource_group`: only its ID
                // locates it.
                let noun = segment.trim_end_matches('s');
                let parents = parent.arm_type().rsplit('/').next().unwrap_or_default();
                self.push(
                    Diagnostic::error(codes::E0112, format!("an existing {noun} needs `existing.id`"), e.span)
                        .hint(format!("give the {noun}'s full ARM ID: `/subscriptions/…/{parents}/<{}>/{segment}/<name>`", parent.word())),
                );
                None
            }
            Scope::ResourceGroup => match &ex.resource_group {
                Some(g) => Some(armid::resource_id(
                    &armid::resource_group_id(&self.subscription, &g.value),
                    kind.arm_type(),
                    &name.value,
                )),
                None => {
                    self.push(
                        Diagnostic::error(
                            codes::E0112,
                            "missing field `resource_group` in existing",
                            e.span,
                        )
                        .label("`resource_group` is required here")
                        .hint("name the group that holds the resource, or give `id:`"),
                    );
                    None
                }
            },
        }
    }

    /// The hint of an unknown reference: the closest key of a kind `expect` allows, else the
    /// only key of such a kind however far its spelling (one candidate is the obvious fix),
    /// else the closest key of any kind.
    fn reference_hint(&self, key: &str, expect: &[Kind], want: &str) -> String {
        let fitting: Vec<&str> = self
            .syms
            .iter()
            .filter(|(_, s)| {
                expect.contains(&s.kind)
                    || (expect.contains(&Kind::Subnet) && s.kind == Kind::VirtualNetwork)
            })
            .map(|(k, _)| *k)
            .collect();
        if let Some(s) = did_you_mean(key, fitting.iter().copied()) {
            return format!("did you mean `{s}`?");
        }
        if let [only] = fitting.as_slice()
            && !expect.contains(&Kind::Subnet)
        {
            return format!("did you mean `{only}`? It is the only {want} in this spec");
        }
        match did_you_mean(key, self.syms.keys().copied()) {
            Some(s) => format!("did you mean `{s}`?"),
            None => {
                "a reference is the key of a resource in this spec, `key/child`, or a full ARM ID"
                    .into()
            }
        }
    }

    /// The ID of a scope named by a reference (a group or a workspace), with errors.
    pub(crate) fn scope_id(&mut self, r: &Spanned<String>, expect: Kind) -> Option<String> {
        if r.value.starts_with('/') {
            return match self.given_id(r, false) {
                Some(p) if p.full_type().eq_ignore_ascii_case(expect.arm_type()) => {
                    Some(p.with_type_casing(expect.arm_type()).to_string())
                }
                Some(p) => {
                    self.push(
                        Diagnostic::error(
                            codes::E0202,
                            format!(
                                "expected a `{}` ID, found a `{}` ID",
                                expect.arm_type(),
                                p.full_type()
                            ),
                            r.span,
                        )
                        .label("wrong kind of resource"),
                    );
                    None
                }
                None => None,
            };
        }
        match self.syms.get(r.value.as_str()) {
            Some(sym) if sym.kind == expect => self.ids.get(&r.value).cloned(),
            // Reported (with a better message) when the reference is bound later.
            _ => None,
        }
    }

    /// Binds one reference; `expect` lists the kinds that may be named.
    pub(crate) fn bind(
        &mut self,
        raw: &Spanned<String>,
        field: &str,
        expect: &[Kind],
    ) -> Option<Ref> {
        let want = expect
            .iter()
            .map(|k| format!("`{}`", k.word()))
            .collect::<Vec<_>>()
            .join(" or ");
        if raw.value.starts_with('/') {
            let p = self.given_id(raw, false)?;
            let full = p.full_type();
            let Some(kind) = expect
                .iter()
                .copied()
                .find(|k| full.eq_ignore_ascii_case(k.arm_type()))
            else {
                self.push(
                    Diagnostic::error(
                        codes::E0202,
                        format!("`{field}` needs a {want}, but this ID is a `{full}`"),
                        raw.span,
                    )
                    .label("wrong kind of resource"),
                );
                return None;
            };
            let id = p.with_type_casing(kind.arm_type()).to_string();
            let target = self
                .ids
                .iter()
                .find(|(_, v)| armid::same_id(v, &id))
                .map(|(k, _)| k.clone());
            return Some(Ref {
                field: field.to_string(),
                span: raw.span,
                target,
                id,
                kind,
            });
        }
        let (key, child) = match raw.value.split_once('/') {
            Some((k, c)) => (k, Some(c)),
            None => (raw.value.as_str(), None),
        };
        // Point at the key part of `key/child` when the source text is the value itself
        // (plain, or quoted: one extra byte each side); an interpolated value that expanded
        // differently gets the whole span.
        let quote = match raw.span.len().checked_sub(raw.value.len()) {
            Some(0) => Some(0),
            Some(2) => Some(1),
            _ => None,
        };
        let key_span = match quote {
            Some(q) => raw.span.sub(q, q + key.len()),
            None => raw.span,
        };
        let Some(sym) = self.syms.get(key) else {
            // A resource whose declaration failed to decode was reported there already.
            if self.spec.broken.iter().any(|b| b == key) {
                return None;
            }
            let hint = self.reference_hint(key, expect, &want);
            self.push(
                Diagnostic::error(codes::E0201, format!("unknown reference `{key}`"), key_span)
                    .label(format!("no resource named `{key}`"))
                    .hint(hint),
            );
            return None;
        };
        let sym_kind = sym.kind;
        let existing = sym.res.existing.is_some();
        let broken = sym.res.broken;
        let subnets: Vec<String> = sym.subnets.iter().map(|s| s.value.clone()).collect();
        match child {
            Some(child) => {
                if sym_kind != Kind::VirtualNetwork || !expect.contains(&Kind::Subnet) {
                    let what = if expect.contains(&Kind::Subnet) {
                        "only virtual networks have children here".to_string()
                    } else {
                        format!("`{field}` needs a {want}, not a child")
                    };
                    self.push(
                        Diagnostic::error(
                            codes::E0202,
                            format!("`{}` cannot be used here", raw.value),
                            raw.span,
                        )
                        .label(what),
                    );
                    return None;
                }
                // A network with a broken declaration may have lost its subnets to that error.
                if !existing && !broken && !subnets.iter().any(|s| s == child) {
                    let hint = did_you_mean(child, subnets.iter().map(String::as_str))
                        .map(|s| format!("did you mean `{key}/{s}`?"))
                        .unwrap_or_else(|| {
                            format!(
                                "declare it under `{key}.subnets`, or use one of: {}",
                                subnets.join(", ")
                            )
                        });
                    let child_span = if key_span == raw.span {
                        raw.span
                    } else {
                        let start = key_span.end as usize + 1;
                        Span::new(start, start + child.len())
                    };
                    self.push(
                        Diagnostic::error(
                            codes::E0203,
                            format!("virtual network `{key}` has no subnet `{child}`"),
                            child_span,
                        )
                        .label("no such subnet")
                        .hint(hint),
                    );
                    return None;
                }
                let vnet_id = self.ids.get(key)?.clone();
                let target = if existing {
                    key.to_string()
                } else {
                    format!("{key}/{child}")
                };
                Some(Ref {
                    field: field.to_string(),
                    span: raw.span,
                    target: Some(target),
                    id: format!("{vnet_id}/subnets/{child}"),
                    kind: Kind::Subnet,
                })
            }
            None => {
                if !expect.contains(&sym_kind) {
                    let mut d = Diagnostic::error(
                        codes::E0202,
                        format!(
                            "`{key}` is a `{}`, but `{field}` needs a {want}",
                            sym_kind.word()
                        ),
                        raw.span,
                    )
                    .label(format!("a `{}`", sym_kind.word()));
                    let fitting: Vec<&str> = self
                        .syms
                        .iter()
                        .filter(|(_, s)| expect.contains(&s.kind))
                        .map(|(k, _)| *k)
                        .collect();
                    if !fitting.is_empty() {
                        let list = fitting
                            .iter()
                            .take(5)
                            .map(|k| format!("`{k}`"))
                            .collect::<Vec<_>>()
                            .join(", ");
                        d = d.hint(format!("name a {want} of this spec: {list}"));
                    } else if !expect.contains(&Kind::Subnet) {
                        d = d.hint(format!(
                            "declare a {want} and name its key here, or give a full ARM ID"
                        ));
                    }
                    if expect.contains(&Kind::Subnet) && sym_kind == Kind::VirtualNetwork {
                        let first = subnets
                            .first()
                            .cloned()
                            .unwrap_or_else(|| "<subnet>".into());
                        d = d.hint(format!("name a subnet of the network: `{key}/{first}`"));
                    }
                    self.push(d);
                    return None;
                }
                let id = self.ids.get(key)?.clone();
                Some(Ref {
                    field: field.to_string(),
                    span: raw.span,
                    target: Some(key.to_string()),
                    id,
                    kind: sym_kind,
                })
            }
        }
    }

    pub(crate) fn resolve_resource(&mut self, res: &'s ast::Resource, out: &mut Vec<Resource>) {
        let Some(sym) = self.syms.get(res.key.value.as_str()) else {
            return;
        };
        let kind = sym.kind;
        let key = res.key.value.clone();
        let name = self.azure_name(res);
        let Some(id) = self.ids.get(&key).cloned() else {
            // The scope could not be resolved; bind a key reference anyway for its error (ARM IDs
            // were already reported by `scope_id`).
            if let Some((at, sr, expect)) = Self::scope_ref(res)
                && !at.value.starts_with('/')
            {
                self.bind(at, sr.field, &[expect]);
            }
            return;
        };
        // A broken resource may have been given a `name:` whose `${…}` failed: the key is then
        // not its name, and checking the key as one would report a second, false problem.
        if res.existing.is_none() && !(res.broken && res.name.is_none()) {
            self.check_name(kind, &name, res.name.is_none());
            let rule = name_rule(kind);
            if res.name.is_none() && rule.global && rule.check(&name.value).is_ok() {
                let has_prefix = self.spec.variables.iter().any(|(k, _)| k.value == "prefix");
                let sep = if rule.chars == naming::Charset::LowerAlnum {
                    ""
                } else {
                    "-"
                };
                let hint = if has_prefix {
                    format!(
                        "set `name:`, e.g. `name: \"${{var.prefix}}{sep}{}\"`",
                        name.value
                    )
                } else {
                    format!(
                        "set `name:` to a name nobody else in Azure uses, e.g. with a team or company prefix: `name: contoso{sep}{}`",
                        name.value
                    )
                };
                self.push(
                    Diagnostic::warning(
                        codes::W0301,
                        format!(
                            "`{key}` takes the global {} name `{}`",
                            rule.what, name.value
                        ),
                        res.key.span,
                    )
                    .label("name defaulted from the key")
                    .note(format!(
                        "{} names are unique across all of Azure; a short one is probably taken",
                        rule.what
                    ))
                    .hint(hint),
                );
            }
        }
        let mut refs = Vec::new();
        let mut parent = None;
        if let Some((at, sr, expect)) = Self::scope_ref(res)
            && let Some(r) = self.bind(at, sr.field, &[expect])
        {
            // A child's scope is its parent (a compute's workspace); a group is only a scope.
            if matches!(kind.def().scope, Scope::Child { .. }) {
                parent = r.target.clone();
            }
            refs.push(r);
        }
        // Location: own, else the workspace's (computes), else the spec's.
        let location = if kind.has_location() {
            let own = res.location.as_ref().and_then(|l| self.check_location(l));
            let inherited = parent.as_ref().and_then(|p| self.locations.get(p).cloned());
            let loc = own.or(inherited).or_else(|| self.default_location.clone());
            // An invalid `location:` (here or at the top) was reported already: no second error.
            if loc.is_none()
                && res.location.is_none()
                && res.existing.is_none()
                && self.spec.location.is_none()
            {
                self.push(
                    Diagnostic::error(
                        codes::E0305,
                        format!("`{key}` has no location"),
                        res.key.span,
                    )
                    .hint("set `location:` at the top of the spec, or on this resource"),
                );
            }
            loc
        } else {
            None
        };
        if let Some(l) = &location {
            self.locations.insert(key.clone(), l.clone());
        }
        let mut tags = BTreeMap::new();
        for t in self.spec.tags.iter().chain(res.tags.iter()) {
            for (k, v) in t.value.iter() {
                tags.insert(k.value.clone(), v.value.clone());
            }
        }
        if let Some(t) = &res.tags {
            self.check_tags(t);
        }
        let mut depends_on = Vec::new();
        for d in res.depends_on.iter().flat_map(|d| d.value.iter()) {
            let known = match d.value.split_once('/') {
                Some((k, c)) => self
                    .syms
                    .get(k)
                    .is_some_and(|s| s.subnets.iter().any(|x| x.value == c)),
                None => self.syms.contains_key(d.value.as_str()),
            };
            let broken = match d.value.split_once('/') {
                Some((k, _)) => self.syms.get(k).is_some_and(|s| s.res.broken),
                None => false,
            } || self.spec.broken.contains(&d.value);
            if known {
                depends_on.push(d.clone());
            } else if !broken {
                let hint = did_you_mean(&d.value, self.syms.keys().copied())
                    .map(|s| format!("did you mean `{s}`?"));
                self.push(
                    Diagnostic::error(
                        codes::E0201,
                        format!("unknown reference `{}`", d.value),
                        d.span,
                    )
                    .label("no resource with this key")
                    .maybe_hint(hint),
                );
            }
        }
        let mut children = Vec::new();
        let body = match &res.body {
            None => Body::Existing,
            Some(body) => {
                self.check_body(&key, kind, body, &location, &mut refs, &mut children);
                match body {
                    // A subnet of its own has the body of one declared inside its network, so
                    // both build the same request and meet the same rules.
                    KindSpec::StandaloneSubnet(x) => Body::Subnet(x.subnet()),
                    _ => Body::Spec(body.clone()),
                }
            }
        };
        out.push(Resource {
            key: key.clone(),
            key_span: res.key.span,
            kind,
            name,
            location,
            tags: if kind.taggable() {
                tags
            } else {
                BTreeMap::new()
            },
            id,
            parent,
            body,
            refs,
            depends_on,
            protect: res.protect.as_ref().filter(|p| p.value).map(|p| p.span),
            span: res.span,
        });
        // A child that writes its parent's own URL (an endpoint's traffic) sends the
        // parent's tags too: its PUT replaces the whole resource.
        let parent_tags = out.last().map(|r| r.tags.clone()).unwrap_or_default();
        for mut c in children {
            if c.kind.def().writes_parent {
                c.tags = parent_tags.clone();
            }
            out.push(c);
        }
    }

    pub(crate) fn check_name(&mut self, kind: Kind, name: &Spanned<String>, defaulted: bool) {
        let rule = name_rule(kind);
        if let Err(why) = rule.check(&name.value) {
            let mut hint = rule.suggest(&name.value).map(|s| format!("try `{s}`"));
            if defaulted {
                hint = Some(format!(
                    "the name defaults to the resource key; set `name:` to a valid {} name{}",
                    rule.what,
                    rule.suggest(&name.value)
                        .map(|s| format!(", e.g. `{s}`"))
                        .unwrap_or_default()
                ));
            }
            let mut d = Diagnostic::error(
                codes::E0301,
                format!("invalid {} name `{}`", rule.what, name.value),
                name.span,
            )
            .label(why)
            .maybe_hint(hint);
            if rule.global {
                d = d.note(format!(
                    "{} names are global: they must also be unused by anyone else in Azure",
                    rule.what
                ));
            }
            self.push(d);
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn check_body(
        &mut self,
        key: &str,
        kind: Kind,
        body: &KindSpec,
        location: &Option<Spanned<String>>,
        refs: &mut Vec<Ref>,
        children: &mut Vec<Resource>,
    ) {
        let site = crate::kinds::Site {
            key,
            location,
            refs,
            children,
        };
        (kind.def().check)(self, body, site);
    }

    /// Binds `network_rules.subnets` of a storage account or key vault.
    pub(crate) fn bind_firewall_subnets(
        &mut self,
        subnets: &Option<Spanned<Vec<Spanned<String>>>>,
        refs: &mut Vec<Ref>,
    ) {
        for (i, sn) in subnets.iter().flat_map(|l| l.value.iter()).enumerate() {
            refs.extend(self.bind(sn, &refs::firewall_subnet(i), &[Kind::Subnet]));
        }
    }

    pub(crate) fn check_aks_ranges(
        &mut self,
        service: Option<&Spanned<String>>,
        dns: Option<&Spanned<String>>,
        bridge: Option<&Spanned<String>>,
    ) {
        let svc = service.and_then(|s| match Cidr::parse_strict(&s.value) {
            Ok(c) => Some(c),
            Err(e) => {
                self.cidr_error(s, e);
                None
            }
        });
        if let Some(d) = dns
            && cidr::parse_ip(&d.value).is_none()
        {
            self.err(
                codes::E0302,
                format!("`{}` is not an IPv4 address", d.value),
                d.span,
            );
        }
        if service.is_some() != dns.is_some() {
            let at = service.or(dns).map_or(Span::point(0), |s| s.span);
            self.push(
                Diagnostic::error(
                    codes::E0112,
                    "`service_cidr` and `dns_service_ip` go together",
                    at,
                )
                .hint("set both, or neither to take Azure's defaults"),
            );
        }
        let _ = svc;
        if let Some(b) = bridge {
            // The Docker bridge is written as the bridge's own address (`172.17.0.1/16`).
            let ok = b.value.split_once('/').is_some_and(|(a, l)| {
                cidr::parse_ip(a).is_some() && l.parse::<u8>().is_ok_and(|l| l <= 32)
            });
            if !ok {
                self.err(
                    codes::E0302,
                    format!("`{}` is not an address with a prefix length", b.value),
                    b.span,
                );
            }
        }
    }

    pub(crate) fn check_same_region(
        &mut self,
        key: &str,
        location: &Option<Spanned<String>>,
        r: &Ref,
        what: &str,
    ) {
        let Some(vnet_key) = r
            .target
            .as_ref()
            .map(|t| t.split('/').next().unwrap_or(t).to_string())
        else {
            return;
        };
        let (Some(here), Some(there)) = (location, self.locations.get(&vnet_key)) else {
            return;
        };
        if here.value != there.value {
            self.push(
                Diagnostic::error(
                    codes::E0305,
                    format!(
                        "`{key}` is in `{}` but its subnet's network `{vnet_key}` is in `{}`",
                        here.value, there.value
                    ),
                    r.span,
                )
                .label("different region")
                .hint(format!(
                    "{what} must be in the same region as its virtual network"
                )),
            );
        }
    }

    pub(crate) fn check_same_subscription(&mut self, r: &Ref) {
        let said = self
            .diags
            .iter()
            .any(|d| d.code == codes::E0306 && d.primary.span == r.span);
        if let Some(p) = ArmId::parse(&r.id)
            && !p.subscription.eq_ignore_ascii_case(&self.subscription)
            && !said
        {
            self.push(
                    Diagnostic::error(codes::E0306, "the subnet is in another subscription", r.span)
                        .label(format!("subscription `{}`", p.subscription))
                        .hint("Azure requires the virtual network in the same subscription as the resource that joins it"),
                );
        }
    }

    pub(crate) fn range(&mut self, v: &Spanned<u32>, min: u32, max: u32, what: &str) {
        if v.value < min || v.value > max {
            self.push(
                Diagnostic::error(
                    codes::E0114,
                    format!("`{what}` must be between {min} and {max}, not {}", v.value),
                    v.span,
                )
                .label("out of range"),
            );
        }
    }

    /// Parses an ARM ID written in the spec ([`ArmId::parse_checked`]) and pushes what is wrong
    /// with it, located: its shape or a segment that would change the URL (E0205), an invalid
    /// group name (E0301), or — unless `any_subscription` (an `existing.id`) — a subscription
    /// other than the stack's (E0306). `None` when an error was pushed.
    fn given_id(&mut self, raw: &Spanned<String>, any_subscription: bool) -> Option<ArmId> {
        let p = match ArmId::parse_checked(&raw.value) {
            Ok(p) => p,
            Err(armid::IdProblem::Shape) => {
                self.push(bad_id(&raw.value, raw.span));
                return None;
            }
            Err(problem) => {
                self.push(bad_id(&raw.value, raw.span).label(problem.to_string()));
                return None;
            }
        };
        if let Some(g) = &p.resource_group
            && let Err(why) = naming::RESOURCE_GROUP.check(g)
        {
            self.push(
                Diagnostic::error(
                    codes::E0301,
                    format!("invalid resource group name `{g}` in the ID"),
                    raw.span,
                )
                .label(why),
            );
            return None;
        }
        if !any_subscription && !p.subscription.eq_ignore_ascii_case(&self.subscription) {
            self.push(
                Diagnostic::error(codes::E0306, "the ID is in another subscription than the stack", raw.span)
                    .label(format!("subscription `{}`, the stack's is `{}`", p.subscription, self.subscription))
                    .hint("to use a resource of another subscription, declare it with `existing: { id: … }` and refer to its key"),
            );
            return None;
        }
        Some(p)
    }

    /// E0301 for a name in `existing:` that Azure's rules for the kind refuse: it is put into
    /// the resource's ID, and so into request URLs, as it is.
    fn check_existing_name(&mut self, kind: Kind, name: &Spanned<String>) {
        let rule = name_rule(kind);
        if let Err(why) = rule.check(&name.value) {
            self.push(
                Diagnostic::error(codes::E0301, format!("invalid {} name `{}`", rule.what, name.value), name.span)
                    .label(why)
                    .hint("an `existing:` name is the resource's name in Azure, put into request URLs as it is; write it exactly as Azure shows it"),
            );
        }
    }

    /// E0309: a VNet or subnet range Azure refuses (the catch-all, or one it reserves).
    pub(crate) fn check_azure_reserved(&mut self, c: Cidr, span: Span, what: &str) {
        let Some((reserved, why)) = c.azure_refuses() else {
            return;
        };
        let label = match reserved {
            Some(r) if r != c => format!("overlaps {r}, which Azure reserves ({why})"),
            Some(_) => format!("Azure reserves this range ({why})"),
            None => why.to_string(),
        };
        self.push(
            Diagnostic::error(codes::E0309, format!("Azure refuses the {what} `{c}`"), span)
                .label(label)
                .hint("use a private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) that avoids Azure's reserved ranges"),
        );
    }

    pub(crate) fn cidr_error(&mut self, at: &Spanned<String>, e: CidrError) {
        let hint = match &e {
            CidrError::HostBits { canonical, .. } => format!("write `{canonical}`"),
            CidrError::NoPrefix(_) => "add the prefix length, e.g. `/24`".to_string(),
            _ => "write an IPv4 range such as `10.0.1.0/24`".to_string(),
        };
        self.push(
            Diagnostic::error(
                codes::E0302,
                format!("invalid address range `{}`", at.value),
                at.span,
            )
            .label(e.to_string())
            .hint(hint),
        );
    }

    pub(crate) fn check_unique_names(&mut self, resources: &[Resource]) {
        let mut seen: BTreeMap<String, (&Resource, bool)> = BTreeMap::new();
        // A child writing its parent's URL (an endpoint's traffic) shares the parent's ID.
        for r in resources.iter().filter(|r| !r.kind.def().writes_parent) {
            let rule = name_rule(r.kind);
            let scope = if rule.global {
                format!("{}:{}", r.kind.arm_type(), r.name.value.to_lowercase())
            } else {
                r.id.to_lowercase()
            };
            if let Some((first, _)) = seen.get(&scope) {
                let mut d = Diagnostic::error(
                    codes::E0307,
                    format!(
                        "`{}` and `{}` are both named `{}`",
                        first.key, r.key, r.name.value
                    ),
                    r.name.span,
                )
                .label("same name")
                .with_secondary(first.name.span, format!("`{}`", first.key));
                d = d.hint(if rule.global {
                    format!(
                        "{} names are global; give one a different `name:`",
                        rule.what
                    )
                } else {
                    "give one of them a different `name:`".into()
                });
                self.push(d);
            } else {
                seen.insert(scope, (r, true));
            }
        }
    }

    pub(crate) fn check_cycles(&mut self, model: &Model) {
        let graph = model.graph();
        for cycle in graph.cycles() {
            let from = &cycle.path[0];
            let to = cycle.path.get(1).unwrap_or(from);
            let span = model
                .get(from)
                .and_then(|r| {
                    r.dependencies()
                        .into_iter()
                        .find(|(k, _)| k == to)
                        .map(|(_, s)| s)
                })
                .unwrap_or_else(|| model.get(from).map_or(Span::point(0), |r| r.key_span));
            self.push(
                Diagnostic::error(codes::E0204, format!("dependency cycle: {cycle}"), span)
                    .label(format!("`{from}` depends on `{to}` here"))
                    .hint("remove one of these references or `depends_on` entries"),
            );
        }
    }
}

/// The name a resource gets when the spec gives none: its key when Azure's rules allow it,
/// else `<stack>-<key>` (e.g. a workspace keyed `ws` in stack `secure-ml` is `secure-ml-ws`),
/// else `<stack>-<key>` made valid (lowercased, cut to the maximum length, disallowed characters
/// dropped: a storage account keyed `ml-store` in stack `demo` is `demomlstore`), else the key
/// made valid. When nothing works the key is returned and the naming check reports it.
pub fn default_name(kind: Kind, stack: &str, key: &str) -> String {
    let rule = name_rule(kind);
    if rule.check(key).is_ok() {
        return key.to_string();
    }
    let prefixed = format!("{stack}-{key}");
    if rule.check(&prefixed).is_ok() {
        return prefixed;
    }
    rule.suggest(&prefixed)
        .or_else(|| rule.suggest(key))
        .unwrap_or_else(|| key.to_string())
}

fn bad_id(id: &str, span: Span) -> Diagnostic {
    Diagnostic::error(codes::E0205, format!("`{id}` is not an ARM resource ID"), span)
        .hint("an ID looks like `/subscriptions/<guid>/resourceGroups/<group>/providers/<Namespace>/<type>/<name>`")
}

pub(crate) fn is_service_tag_shape(v: &str) -> bool {
    v.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && v.chars().all(|c| c.is_ascii_alphanumeric() || c == '.')
}

/// Checks `*`, `N` or `N-M` with ports 0–65535 and N ≤ M.
pub fn check_port_range(s: &str) -> Result<(u16, u16), String> {
    if s == "*" {
        return Ok((0, 65535));
    }
    let parse = |p: &str| {
        p.trim()
            .parse::<u16>()
            .map_err(|_| format!("`{p}` is not a port (0–65535)"))
    };
    match s.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (parse(a)?, parse(b)?);
            if a > b {
                Err(format!("{a} is larger than {b}"))
            } else {
                Ok((a, b))
            }
        }
        None => parse(s).map(|p| (p, p)),
    }
}

/// Parses `120`, `120s`, `2m`, `1h`, `1h30m` or ISO 8601 `PT2M` into seconds.
pub fn parse_duration(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let body = t
        .strip_prefix("PT")
        .or_else(|| t.strip_prefix("pt"))
        .unwrap_or(t);
    if body.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(n) = body.parse::<u64>() {
        return Ok(n);
    }
    let mut total = 0u64;
    let mut num = String::new();
    for c in body.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let n: u64 = num
            .parse()
            .map_err(|_| format!("expected a number before `{c}`"))?;
        num.clear();
        total += n * match c.to_ascii_lowercase() {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return Err(format!("unknown unit `{c}`")),
        };
    }
    if !num.is_empty() {
        return Err("a number without a unit at the end".into());
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_names() {
        assert_eq!(default_name(Kind::VirtualNetwork, "demo", "vnet"), "vnet");
        assert_eq!(
            default_name(Kind::MlWorkspace, "secure-ml", "ws"),
            "secure-ml-ws"
        );
        assert_eq!(
            default_name(Kind::StorageAccount, "demo", "ml-store"),
            "demomlstore"
        );
        assert_eq!(default_name(Kind::StorageAccount, "demo", "store"), "store");
    }

    #[test]
    fn durations_and_ports() {
        assert_eq!(parse_duration("PT2M"), Ok(120));
        assert_eq!(parse_duration("1h30m"), Ok(5400));
        assert_eq!(parse_duration("90"), Ok(90));
        assert!(parse_duration("2x").is_err());
        assert_eq!(check_port_range("29876-29877"), Ok((29876, 29877)));
        assert!(check_port_range("70000").is_err());
        assert!(check_port_range("10-5").is_err());
        assert!(is_guid("0b0c1a2e-1111-2222-3333-444455556666"));
        assert!(!is_guid("not-a-guid"));
    }
}
