//! The desired-state model: every resource and child of a spec with its Azure name, location,
//! tags, ARM ID and bound references. Built by [`crate::resolve()`]; read by lint, the planner
//! and `moat graph`.

use moat_spec::ast::Backend;
use moat_spec::ast::{KindSpec, Subnet};
use moat_spec::{Span, Spanned};
use std::collections::BTreeMap;

pub use crate::kinds::Kind;

impl Kind {
    /// Its registry entry: everything moat knows about the kind.
    pub fn def(self) -> &'static crate::kinds::KindDef {
        crate::kinds::def(self)
    }

    /// Every kind, in declaration order.
    pub fn all() -> impl Iterator<Item = Kind> {
        crate::kinds::ALL.iter().copied()
    }

    /// The kind of a spec `type:`.
    pub fn of(t: moat_spec::ast::ResourceType) -> Kind {
        Kind::from_word(t.as_str()).unwrap_or_else(|| {
            // `every_spec_kind_has_a_definition` keeps this unreachable.
            unreachable!("spec kind `{}` has no registry entry", t.as_str())
        })
    }

    /// The kind a spec word names, if any.
    pub fn from_word(word: &str) -> Option<Kind> {
        Kind::all().find(|k| k.word() == word)
    }

    /// The spec word (`subnet` for subnets, which are declared inside their VNet).
    pub fn word(self) -> &'static str {
        self.def().word
    }

    /// The ARM resource type.
    pub fn arm_type(self) -> &'static str {
        self.def().arm_type
    }

    /// The api-version moat sends for this kind (those of `shared/arm/README.md`).
    pub fn api_version(self) -> &'static str {
        self.def().api_version
    }

    /// Typical seconds Azure takes to create or update one (see [`KindDef::typical_seconds`]).
    ///
    /// [`KindDef::typical_seconds`]: crate::kinds::KindDef::typical_seconds
    pub fn typical_seconds(self) -> u64 {
        self.def().typical_seconds
    }

    /// Whether ARM keeps a `location` for this kind.
    pub fn has_location(self) -> bool {
        self.def().has_location
    }

    /// Whether the kind carries tags (and so the `moat-stack` ownership tag).
    pub fn taggable(self) -> bool {
        self.def().taggable
    }

    /// The lock group of the resource keyed `key`, if its kind has one.
    pub fn lock_group(self, key: &str) -> Option<String> {
        match self.def().lock_group {
            crate::kinds::LockGroup::None => None,
            crate::kinds::LockGroup::Own => Some(key.to_string()),
            crate::kinds::LockGroup::Parent => key.split_once('/').map(|(p, _)| p.to_string()),
        }
    }

    /// The lock that serialises writes of the resource with ARM ID `id`: the lower-cased ID
    /// of the resource Azure serialises them on (a VNet's own ID; a subnet's VNet), so that a
    /// subnet of its own (`type: subnet`, keyed without its VNet's key) waits for the same
    /// lock as its VNet and its siblings, whichever keys the spec gives them.
    pub fn lock_id(self, id: &str) -> Option<String> {
        match self.def().lock_group {
            crate::kinds::LockGroup::None => None,
            crate::kinds::LockGroup::Own => Some(id.to_ascii_lowercase()),
            crate::kinds::LockGroup::Parent => match self.def().scope {
                crate::kinds::Scope::Child { segment, .. } => id
                    .to_ascii_lowercase()
                    .rsplit_once(&format!("/{}/", segment.to_ascii_lowercase()))
                    .map(|(p, _)| p.to_string()),
                _ => None,
            },
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.word())
    }
}

/// The spec word is the wire form of a kind in plans, state records and journals.
impl serde::Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.word())
    }
}

/// An unknown word is an error, never a skip: a record naming a kind this build does not
/// know was written by a newer moat, and dropping the entry would orphan the resource.
impl<'de> serde::Deserialize<'de> for Kind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Kind, D::Error> {
        let word = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Kind::from_word(&word).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "unknown resource kind `{word}`: this file was written by a newer moat (known kinds: {})",
                Kind::all().map(Kind::word).collect::<Vec<_>>().join(", ")
            ))
        })
    }
}

/// The typed spec behind a model resource. (Not boxed: a model holds a few hundred of these.)
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Body {
    /// A top-level managed resource.
    Spec(KindSpec),
    /// A subnet, declared inside its VNet.
    Subnet(Subnet),
    /// An `existing:` resource: read, never written.
    Existing,
}

/// A reference from one resource to another, bound.
#[derive(Clone, Debug, PartialEq)]
pub struct Ref {
    /// Field path in the spec, e.g. `network_rules.subnets[0]`.
    pub field: String,
    /// Where the reference was written.
    pub span: Span,
    /// The key of the target when it is in this spec (managed or `existing:`).
    pub target: Option<String>,
    /// The target's ARM ID.
    pub id: String,
    /// The target's kind.
    pub kind: Kind,
}

/// One resource or child of the desired state.
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    /// `vnet`, or `vnet/training` for a child.
    pub key: String,
    /// Where the key was written.
    pub key_span: Span,
    /// What it is.
    pub kind: Kind,
    /// Azure name (span of `name:`, or of the key when defaulted).
    pub name: Spanned<String>,
    /// Normalised Azure region, for kinds that have one.
    pub location: Option<Spanned<String>>,
    /// Tags: the spec's, then the resource's (ownership tag not included).
    pub tags: BTreeMap<String, String>,
    /// ARM resource ID.
    pub id: String,
    /// The key of the parent: a subnet's VNet, a compute's workspace.
    pub parent: Option<String>,
    /// The typed spec.
    pub body: Body,
    /// Bound references, in the order they were written.
    pub refs: Vec<Ref>,
    /// Explicit `depends_on` keys.
    pub depends_on: Vec<Spanned<String>>,
    /// `protect: true`: where it was written. A plan that deletes or replaces the resource
    /// is refused.
    pub protect: Option<Span>,
    /// The whole resource in the spec.
    pub span: Span,
}

impl Resource {
    /// True for `existing:` resources.
    pub fn is_existing(&self) -> bool {
        matches!(self.body, Body::Existing)
    }

    /// The bound reference written at `field`, if any.
    pub fn reference(&self, field: &str) -> Option<&Ref> {
        self.refs.iter().find(|r| r.field == field)
    }

    /// Keys this resource must come after: parent, references, `depends_on`.
    pub fn dependencies(&self) -> Vec<(&str, Span)> {
        let mut deps: Vec<(&str, Span)> = Vec::new();
        if let Some(p) = &self.parent {
            deps.push((p, self.key_span));
        }
        deps.extend(
            self.refs
                .iter()
                .filter_map(|r| r.target.as_deref().map(|t| (t, r.span))),
        );
        deps.extend(self.depends_on.iter().map(|d| (d.value.as_str(), d.span)));
        deps.retain(|(k, _)| *k != self.key);
        let mut seen = std::collections::BTreeSet::new();
        deps.retain(|(k, _)| seen.insert(*k));
        deps
    }
}

/// Where the subscription came from, for messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubscriptionSource {
    /// `subscription:` in the spec.
    Spec,
    /// Given by the caller (environment, Azure CLI profile, emulator default).
    Context(String),
}

/// The whole desired state.
#[derive(Clone, Debug, PartialEq)]
pub struct Model {
    /// The stack name.
    pub stack: Spanned<String>,
    /// Subscription GUID.
    pub subscription: String,
    /// Where the subscription came from.
    pub subscription_source: SubscriptionSource,
    /// Default location.
    pub location: Option<Spanned<String>>,
    /// Remote state, if configured.
    pub backend: Option<Spanned<Backend>>,
    /// Resources and children: spec order, each VNet followed by its subnets.
    pub resources: Vec<Resource>,
    /// Every secret field value of the spec, where it was written ([`crate::secret::read`]).
    pub secrets: Vec<Spanned<moat_spec::secret::Secret>>,
    index: BTreeMap<String, usize>,
}

impl Model {
    pub(crate) fn new(
        stack: Spanned<String>,
        subscription: String,
        subscription_source: SubscriptionSource,
        location: Option<Spanned<String>>,
        backend: Option<Spanned<Backend>>,
        resources: Vec<Resource>,
    ) -> Model {
        let index = resources
            .iter()
            .enumerate()
            .map(|(i, r)| (r.key.clone(), i))
            .collect();
        Model {
            stack,
            subscription,
            subscription_source,
            location,
            backend,
            resources,
            secrets: Vec::new(),
            index,
        }
    }

    /// Looks a resource up by key.
    pub fn get(&self, key: &str) -> Option<&Resource> {
        self.index.get(key).map(|&i| &self.resources[i])
    }

    /// Resources whose kind is `kind`.
    pub fn of_kind(&self, kind: Kind) -> impl Iterator<Item = &Resource> {
        self.resources.iter().filter(move |r| r.kind == kind)
    }

    /// The dependency graph: an edge `a -> b` means `a` comes after `b`.
    pub fn graph(&self) -> moat_graph::Graph<Kind> {
        let mut g = moat_graph::Graph::new();
        for r in &self.resources {
            let _ = g.add_node(r.key.clone(), r.kind);
        }
        for r in &self.resources {
            for (dep, _) in r.dependencies() {
                let _ = g.add_edge(&r.key, dep);
            }
        }
        g
    }
}
