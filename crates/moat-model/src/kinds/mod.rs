//! The kind registry: every resource kind moat manages, described once, as data. Each kind has
//! one file here holding its [`KindDef`] (ARM type, api-version, scope, name rule, provisioning
//! time, replace and delete policy, lock group, and the table of managed fields) next to the
//! function that builds its request body. The engine, lint and the CLI ask this registry what a
//! kind does; they never `match` on a kind, so a new kind is one file here (plus its spec
//! declaration and its emulator file), and a forgotten property is a compile error, not a
//! silent `_ =>` fallback.

use crate::arm::{MapContext, Projection};
use crate::model::Resource;
use crate::naming::NameRule;
use serde_json::Value;

pub(crate) mod canon;
pub mod refs;
pub mod words;

// Declared here rather than by `registry!`, so that rustfmt sees the files.
mod aks_cluster;
mod aks_compute;
mod aml_compute;
mod application_insights;
mod attached_compute;
mod container_registry;
mod key_vault;
mod kubernetes_compute;
mod ml_asset;
pub mod ml_extension;
mod ml_outbound_rule;
mod ml_workspace;
mod network_security_group;
mod online_deployment;
mod online_endpoint;
mod online_traffic;
mod private_dns_zone;
pub(crate) mod private_endpoint;
mod resource_group;
mod role_assignment;
mod route_table;
mod storage_account;
mod subnet;
mod user_assigned_identity;
mod virtual_network;
pub use private_endpoint::{GROUPS as PRIVATE_ENDPOINT_GROUPS, group_of as private_endpoint_group};
pub use role_assignment::{BUILT_IN_ROLES, assignment_name, role_guid};

/// The one list of kinds: each names its variant and its file. Generates [`Kind`], [`ALL`] and
/// [`def`], so a kind is one line here and one file beside this one.
macro_rules! registry {
    ($( $variant:ident => $module:ident $(:: $def:ident)? ),* $(,)?) => {
        /// Every kind of ARM object moat manages, children included.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[allow(missing_docs)]
        pub enum Kind { $( $variant, )* }

        /// Every kind, in declaration order.
        pub const ALL: &[Kind] = &[$( Kind::$variant, )*];

        /// The definition of `kind`.
        pub fn def(kind: Kind) -> &'static KindDef {
            match kind { $( Kind::$variant => registry!(@def $module $($def)?), )* }
        }
    };
    (@def $module:ident) => { &$module::DEF };
    (@def $module:ident $def:ident) => { &$module::$def };
}

registry! {
    ResourceGroup => resource_group,
    VirtualNetwork => virtual_network,
    Subnet => subnet,
    NetworkSecurityGroup => network_security_group,
    RouteTable => route_table,
    StorageAccount => storage_account,
    KeyVault => key_vault,
    ApplicationInsights => application_insights,
    ContainerRegistry => container_registry,
    MlWorkspace => ml_workspace,
    AmlCompute => aml_compute,
    AksCluster => aks_cluster,
    AksCompute => aks_compute,
    MlModel => ml_asset::MODEL,
    MlEnvironment => ml_asset::ENVIRONMENT,
    MlCode => ml_asset::CODE,
    OnlineEndpoint => online_endpoint,
    OnlineDeployment => online_deployment,
    OnlineTraffic => online_traffic,
    KubernetesCompute => kubernetes_compute,
    MlExtension => ml_extension,
    UserAssignedIdentity => user_assigned_identity,
    RoleAssignment => role_assignment,
    PrivateDnsZone => private_dns_zone,
    PrivateDnsZoneLink => private_dns_zone::LINK_DEF,
    PrivateEndpoint => private_endpoint,
    PrivateDnsZoneGroup => private_endpoint::ZONE_GROUP_DEF,
    MlOutboundRule => ml_outbound_rule,
    VmCompute => attached_compute::VM,
    HdinsightCompute => attached_compute::HDINSIGHT,
}

/// Where a kind's ARM ID lives; the ID is derived from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Directly under a subscription (`/subscriptions/S/resourceGroups/N`).
    Subscription,
    /// In a resource group (`<group>/providers/<type>/N`).
    ResourceGroup,
    /// A child of another kind: `<parent ID>/<segment>/N`.
    Child {
        /// The parent's kind.
        parent: Kind,
        /// The URL segment between the parent's ID and the child's name.
        segment: &'static str,
    },
    /// An extension resource of any other (a role assignment): its ID is
    /// `<scope ID>/providers/<type>/N`, computed by the kind's `extension_id`.
    Extension,
}

impl Scope {
    /// How many scopes sit above a kind's ID (groups 0, resources 1, children 2): IDs are
    /// computed in that order so a parent's ID is known before its children's.
    pub fn depth(self) -> u8 {
        match self {
            Scope::Subscription => 0,
            Scope::ResourceGroup => 1,
            // A child of a child (an endpoint's deployment) comes after its parent.
            Scope::Child { parent, .. } => 1 + def(parent).scope.depth(),
            // An extension (a role assignment) sits on any resource, however deep: after all.
            Scope::Extension => 16,
        }
    }
}

/// Whether a kind can be deleted and created again when an immutable field changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Replace {
    /// Replaced by delete + create.
    Allowed,
    /// Never replaced; the plan stops with this reason.
    Refused(&'static str),
}

/// Which writes the apply walker serialises with this kind's (ARM refuses concurrent writes
/// under one VNet: `AnotherOperationInProgress`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LockGroup {
    /// No lock group.
    None,
    /// Its own key names the group (a VNet).
    Own,
    /// Its parent's key names the group (a subnet: `vnet/subnet` → `vnet`).
    Parent,
}

/// What ARM assumes for a managed path that a body leaves out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Default {
    /// moat knows no default: the field is left alone when it leaves the spec.
    Unknown,
    /// The path is absent by default (`null`).
    Absent,
    /// This canonical value, as JSON text.
    Json(&'static str),
}

/// One managed field of a kind: a row of its table.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    /// ARM path in the body (an [`crate::json::ArmPath`]: `properties.a.b`, `list[0].c`).
    pub path: &'static str,
    /// Canonical form of a live or desired value; `None` means "unset" (the path is left out
    /// of the projection).
    pub canon: fn(&Value) -> Option<Value>,
    /// ARM's default for the path.
    pub default: Default,
    /// Changing it needs the resource deleted and created again.
    pub immutable: bool,
    /// A full-replacement PUT must carry the live value over when the spec does not manage it.
    pub carry_over: bool,
    /// Never shown or stored.
    pub secret: bool,
    /// Shown and stored although its name is among the kind's `secrets` (an SSH *public*
    /// key, which the ML definitions mark `x-ms-secret`).
    pub public: bool,
    /// A change the owning API cannot make in place, and where replacing the resource is not
    /// what the user wants either (scaling a cluster Azure ML created): the plan stops with
    /// this hint, naming what can make the change.
    pub refused: Option<&'static str>,
    /// Azure may leave it out of a GET (write-only): when the live body has no value, the
    /// last applied one stands for it.
    pub write_only: bool,
    /// How a plan shows it in the spec's words (`None`: by its ARM path, values as ARM has
    /// them).
    pub shown: Option<Shown>,
}

/// How a plan shows a managed field in the spec's vocabulary instead of ARM's: the spec's
/// name for it and, where ARM's spelling differs from the spec's, the spec's words for its
/// value. The JSON plan keeps ARM's paths and values; only the text and markdown read this.
#[derive(Clone, Copy, Debug)]
pub struct Shown {
    /// The spec's name for the field (`address_prefix`, `network_rules.default_action`).
    pub name: &'static str,
    /// For a set owned whole, keyed by member name (a projection object): the spec's noun
    /// for one member (`rule`, `route`). Each member is then its own line,
    /// `rule NAME: WORDS`, added, removed or changed.
    pub member: Option<&'static str>,
    /// The value in the spec's words: one member's canonical form for a set, otherwise the
    /// value the plan holds (the body's spelling). `None` shows the value as it is.
    pub words: Option<fn(&Value) -> String>,
}

impl Field {
    /// A mutable, non-secret field without a known default.
    pub const fn new(path: &'static str, canon: fn(&Value) -> Option<Value>) -> Field {
        Field {
            path,
            canon,
            default: Default::Unknown,
            immutable: false,
            carry_over: false,
            secret: false,
            public: false,
            refused: None,
            write_only: false,
            shown: None,
        }
    }
    /// Shown by the spec's name for it, its value as it is.
    pub const fn spec(mut self, name: &'static str) -> Field {
        self.shown = Some(Shown {
            name,
            member: None,
            words: None,
        });
        self
    }
    /// Shown by the spec's name for it, its value in the spec's words.
    pub const fn spec_words(mut self, name: &'static str, words: fn(&Value) -> String) -> Field {
        self.shown = Some(Shown {
            name,
            member: None,
            words: Some(words),
        });
        self
    }
    /// A set keyed by member name, shown one member a line: `noun NAME: words(member)`.
    pub const fn members(
        mut self,
        name: &'static str,
        noun: &'static str,
        words: fn(&Value) -> String,
    ) -> Field {
        self.shown = Some(Shown {
            name,
            member: Some(noun),
            words: Some(words),
        });
        self
    }
    /// A secret (`x-ms-secret` in the API definition): the spec gives a reference
    /// (`moat_spec::secret::Secret`), the body a marker, the plan and the state a fingerprint;
    /// Azure never returns it, so the last applied fingerprint stands for the live value.
    pub const fn secret(mut self) -> Field {
        self.secret = true;
        self.write_only = true;
        self
    }
    /// Not a secret, whatever the kind's `secrets` list says.
    pub const fn public(mut self) -> Field {
        self.public = true;
        self
    }
    /// A change is refused with this hint instead of replacing the resource.
    pub const fn refused(mut self, hint: &'static str) -> Field {
        self.refused = Some(hint);
        self
    }
    /// Azure may not return it; the last applied value stands in for an absent live one.
    pub const fn write_only(mut self) -> Field {
        self.write_only = true;
        self
    }
    /// With ARM's default (canonical JSON text; `null` for absent).
    pub const fn default(mut self, json: &'static str) -> Field {
        self.default = if matches!(json.as_bytes(), b"null") {
            Default::Absent
        } else {
            Default::Json(json)
        };
        self
    }
    /// Changing it forces a replacement.
    pub const fn immutable(mut self) -> Field {
        self.immutable = true;
        self
    }
    /// Carried over from live by a full-replacement PUT.
    pub const fn carried(mut self) -> Field {
        self.carry_over = true;
        self
    }
}

/// Decides a DELETE's query from a resource's live body and last applied projection (either
/// may be unknown).
pub type DeleteQueryFn =
    fn(live: Option<&Value>, applied: Option<&Value>) -> &'static [(&'static str, &'static str)];

/// A request body builder: adds the kind's properties to `b` (location and tags are already
/// there).
pub type BodyFn = fn(r: &Resource, b: &mut Value, ctx: &MapContext);

/// The ARM ID of an extension resource, from its typed spec once the IDs of the resources it
/// names are known (`None` when one is not; its check reports why).
pub(crate) type ExtensionIdFn = for<'s> fn(
    rs: &mut crate::resolve::Resolver<'s>,
    spec: &moat_spec::ast::KindSpec,
) -> Option<String>;

/// A kind's outputs from its Azure name and last-applied projection: `(output, value)` pairs.
pub type OutputsFn = fn(name: &str, applied: &Value) -> Vec<(&'static str, String)>;

/// The outputs of a kind that has none beyond its ID and name.
pub(crate) fn no_outputs(_: &str, _: &Value) -> Vec<(&'static str, String)> {
    Vec::new()
}

/// The bound ARM ID of the reference `r` wrote at `field` (a [`refs`] name).
pub(crate) fn ref_id(r: &Resource, field: &str) -> Option<String> {
    r.reference(field).map(|x| x.id.clone())
}

/// Where a kind's check runs: the resource's key and location, and the lists it fills (bound
/// references, children such as a VNet's subnets).
pub(crate) struct Site<'a> {
    pub(crate) key: &'a str,
    pub(crate) location: &'a Option<moat_spec::Spanned<String>>,
    pub(crate) refs: &'a mut Vec<crate::model::Ref>,
    pub(crate) children: &'a mut Vec<Resource>,
}

/// A kind's offline checks: given its typed spec, push diagnostics on the resolver, bind its
/// references and add its children.
pub(crate) type CheckFn = for<'s> fn(
    rs: &mut crate::resolve::Resolver<'s>,
    spec: &moat_spec::ast::KindSpec,
    site: Site<'_>,
);

/// A kind's plan-time checks against the live bodies read (by resource key): what offline
/// checks cannot know, such as a subnet's fit in a network another stack owns. Located
/// diagnostics, like resolution's.
pub type LiveCheckFn = fn(
    model: &crate::model::Model,
    live: &std::collections::BTreeMap<String, Value>,
) -> Vec<moat_spec::Diagnostic>;

/// Runs every kind's [`KindDef::live_check`] on `model` and the live bodies read (by key).
pub fn check_live(
    model: &crate::model::Model,
    live: &std::collections::BTreeMap<String, Value>,
) -> Vec<moat_spec::Diagnostic> {
    ALL.iter()
        .filter_map(|k| def(*k).live_check)
        .flat_map(|f| f(model, live))
        .collect()
}

/// The spec field that names a kind's scope (`resource_group:`, a compute's `workspace:`).
#[derive(Clone, Copy, Debug)]
pub struct ScopeRef {
    /// The reference field ([`refs`]).
    pub field: &'static str,
    /// Reads it from the kind's typed spec.
    pub get: fn(&moat_spec::ast::KindSpec) -> Option<&moat_spec::Spanned<String>>,
}

/// Before an absent resource of this kind is created, ask whether a soft-deleted one holds
/// its name (a key vault): `soft_deleted_id(subscription, location, name)`.
#[derive(Clone, Copy, Debug)]
pub struct SoftDelete {
    /// The ARM ID of the deleted object to probe.
    pub probe_id: fn(subscription: &str, location: &str, name: &str) -> String,
    /// The body path and value that recovers it instead of creating a new one.
    pub recover: (&'static str, &'static str),
    /// The reason the plan shows.
    pub reason: &'static str,
}

/// Whether Azure can hold a new resource of a kind beside an old one of the same kind and
/// parent that the plan deletes: `None` when it can, else why not (two subnets of one network
/// whose address ranges overlap). Reads the new one's desired projection and the old one's
/// last-applied projection (the state record's).
pub type ConflictFn = fn(new: &Projection, old: &Projection) -> Option<String>;

/// Reads one spec field of a kind's typed spec.
pub type SpecField = fn(&moat_spec::ast::KindSpec) -> Option<&moat_spec::Spanned<String>>;

/// Everything moat knows about one kind.
#[derive(Debug)]
pub struct KindDef {
    /// The kind.
    pub kind: Kind,
    /// Its spec word (`virtual_network`); the state record and the plan store it.
    pub word: &'static str,
    /// ARM resource type.
    pub arm_type: &'static str,
    /// The api-version moat sends (those of `shared/arm/README.md`).
    pub api_version: &'static str,
    /// Where its ID lives.
    pub scope: Scope,
    /// Azure's naming rule.
    pub name_rule: NameRule,
    /// Typical seconds Azure takes to create or update one (BEHAVIOR.md §1): the apply walker
    /// starts the costliest chain first when its parallelism cap binds.
    pub typical_seconds: u64,
    /// Replace policy.
    pub replace: Replace,
    /// Query parameters its DELETE must carry.
    pub delete_query: &'static [(&'static str, &'static str)],
    /// When the DELETE's query depends on the resource (an AKS compute Azure ML did not
    /// create must be detached, not deleted with the cluster under it): decides it from its
    /// live body and its last applied projection, whichever are known. `None`: always
    /// [`KindDef::delete_query`].
    pub delete_query_of: Option<DeleteQueryFn>,
    /// Lock group of its writes.
    pub lock_group: LockGroup,
    /// Whether ARM keeps a `location`.
    pub has_location: bool,
    /// Whether it carries tags (and so the `moat-stack` ownership tag).
    pub taggable: bool,
    /// Managed fields, in projection order.
    pub fields: &'static [Field],
    /// Every path not in `fields` (tags aside) is immutable (ML computes: only scale settings
    /// and the description change in place).
    pub immutable_unlisted: bool,
    /// Live paths outside the managed fields that a full-replacement PUT must carry over
    /// (BEHAVIOR.md §5.2, §5.6).
    pub carry_over: &'static [&'static str],
    /// Property names the API definitions mark `x-ms-secret` (last path segment).
    pub secrets: &'static [&'static str],
    /// Builds its request body.
    pub body: BodyFn,
    /// A change of a managed path that this resource's API cannot make in place although the
    /// field can change on other resources of the kind (a load balancer Azure ML created vs
    /// one of an attached cluster): the hint the plan stops with. `None`: only the field
    /// table's [`Field::refused`] applies.
    pub refused_for: Option<fn(r: &Resource, path: &str) -> Option<&'static str>>,
    /// Its offline checks (binding its references, ranges, CIDRs), run by resolution.
    pub(crate) check: CheckFn,
    /// The spec field naming its scope (a group, or the parent of a child): the reference
    /// field and how to read it from the typed spec. `None` for kinds without one.
    pub scope_ref: Option<ScopeRef>,
    /// Read from its parent's body (`properties.<segment>`) instead of its own GET.
    pub read_in_parent: bool,
    /// A create or update may ride in its parent's PUT, as an item of
    /// `properties.<segment>` (a subnet in its VNet's PUT: one operation instead of one per
    /// subnet under the VNet's lock). Apply does so when the parent itself is created or
    /// updated by the same plan; otherwise the child is written on its own.
    pub written_in_parent: bool,
    /// ARM's list of this kind in one scope (a resource group, the subscription for groups,
    /// the parent for a child) returns every managed property, exactly as a GET does, so a
    /// plan reads all of a scope's resources of the kind with one paginated list. Set only
    /// where the API definition's list operation returns the same schema as its GET and the
    /// recordings agree; kinds whose list view is partial (or unverified) are read by GET.
    pub list_view_complete: bool,
    /// Deleting one of these also deletes its children of these kinds, so their own
    /// deletes need no request.
    pub deletes_children: &'static [Kind],
    /// Before deleting one, list what it holds and stop on anything the plan does not
    /// account for (a resource group: deleting it deletes everything in it).
    pub guards_contents: Option<&'static str>,
    /// Soft-delete recovery.
    pub soft_delete: Option<SoftDelete>,
    /// A new one that cannot exist beside an old one of the same parent which the plan
    /// deletes (overlapping subnet ranges): the planner deletes the old one first, and
    /// before it what uses it. Global names are the name rule's (`name_rule.global`).
    pub conflicts: Option<ConflictFn>,
    /// References whose target being replaced replaces this one too (an AKS compute attached
    /// to a replaced cluster).
    pub replaced_with: &'static [&'static str],
    /// The resource holds data or history that its deletion loses (blobs, secrets, run
    /// history, deployed services): the plan marks its delete or replacement destructive and
    /// says what is lost.
    pub holds_data: Option<&'static str>,
    /// Plan-time checks against live bodies (run by the CLI after the live read, before the
    /// plan is shown); `None` for kinds with none.
    pub live_check: Option<LiveCheckFn>,
    /// What users reach the resource by, derived from its Azure name and last-applied
    /// properties (`moat output`): endpoints, login servers. Never a secret.
    pub outputs: OutputsFn,
    /// References (a [`refs`] field name) this kind only *refers* through: when a targeted
    /// destroy deletes the target, a surviving resource of this kind is updated in place
    /// without the reference (a firewall entry, an NSG association) instead of being
    /// destroyed with it. Every other reference is one it cannot exist without.
    pub droppable_ref: fn(field: &str) -> bool,
    /// For versioned assets (models, environments, code): reads the spec's `version`, which
    /// ends the ID (`<parent>/<segment>/<name>/versions/<version>`).
    pub version: Option<SpecField>,
    /// A synthetic kind that writes its parent's own URL (an endpoint's traffic): its ID is
    /// the parent's, and its key is `<parent key>/<segment>`.
    pub writes_parent: bool,
    /// Outputs the service assigns (a principal ID): `(output, ARM path)` read from the body a
    /// write returns and kept in the state beside the last-applied projection.
    pub server_outputs: &'static [(&'static str, &'static str)],
    /// The ID of a [`Scope::Extension`] kind.
    pub(crate) extension_id: Option<ExtensionIdFn>,
    /// Lists in its live body (ARM paths) whose entries' `id`s name resources Azure made for
    /// it and deletes with it (a private endpoint's NIC): a resource group's contents check
    /// counts them as the stack's.
    pub made_with: &'static [&'static str],
}

/// The `droppable_ref` of kinds that cannot drop any reference in place.
pub(crate) fn no_droppable_ref(_: &str) -> bool {
    false
}

/// Properties the Azure ML API definitions (2024-04-01, `machineLearningServices.json` and
/// `mfe.json`) mark `x-ms-secret`: workspaces and their computes share them.
pub(crate) const ML_SECRETS: &[&str] = &[
    "accessToken",
    "adminUserPassword",
    "adminUserSshPublicKey",
    "appInsightsInstrumentationKey",
    "cert",
    "clientSecret",
    "developerToken",
    "key",
    "keys",
    "password",
    "primaryAccessKey",
    "privateKeyData",
    "publicKeyData",
    "refreshToken",
    "relayConnectionString",
    "sasUri",
    "secondaryAccessKey",
    "secrets",
    "securityToken",
    "serviceBusConnectionString",
    "userStorageKey",
];

impl KindDef {
    /// A kind with the common policy: replaceable, no lock group, no delete query, a location
    /// and tags, no managed fields and no special behaviour. Kind files override the rest
    /// with struct-update syntax.
    #[allow(clippy::too_many_arguments)]
    pub(crate) const fn new(
        kind: Kind,
        word: &'static str,
        arm_type: &'static str,
        api_version: &'static str,
        scope: Scope,
        name_rule: NameRule,
        typical_seconds: u64,
        body: BodyFn,
        check: CheckFn,
    ) -> KindDef {
        KindDef {
            kind,
            word,
            arm_type,
            api_version,
            scope,
            name_rule,
            typical_seconds,
            replace: Replace::Allowed,
            delete_query: &[],
            delete_query_of: None,
            refused_for: None,
            lock_group: LockGroup::None,
            has_location: true,
            taggable: true,
            fields: &[],
            immutable_unlisted: false,
            carry_over: &[],
            secrets: &[],
            body,
            check,
            read_in_parent: false,
            written_in_parent: false,
            list_view_complete: false,
            deletes_children: &[],
            guards_contents: None,
            soft_delete: None,
            conflicts: None,
            replaced_with: &[],
            holds_data: None,
            outputs: no_outputs,
            scope_ref: None,
            droppable_ref: no_droppable_ref,
            version: None,
            writes_parent: false,
            server_outputs: &[],
            extension_id: None,
            live_check: None,
            made_with: &[],
        }
    }

    /// The query of a DELETE of one of these: [`KindDef::delete_query_of`] given what is
    /// known of it, else [`KindDef::delete_query`].
    pub fn delete_query_for(
        &self,
        live: Option<&Value>,
        applied: Option<&Value>,
    ) -> &'static [(&'static str, &'static str)] {
        match self.delete_query_of {
            Some(f) => f(live, applied),
            None => self.delete_query,
        }
    }

    /// The field row at `path`.
    pub fn field(&self, path: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.path == path)
    }

    /// Projects `body`'s managed fields (location and tags are the caller's).
    pub(crate) fn project_fields(&self, body: &Value, out: &mut Projection) {
        for f in self.fields {
            if let Some(v) = crate::json::get(body, f.path).filter(|v| !v.is_null())
                && let Some(c) = (f.canon)(v)
            {
                out.insert(f.path.to_string(), c);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::ArmPath;
    use std::collections::BTreeSet;

    #[test]
    fn every_kind_has_a_definition_that_names_it() {
        for &k in ALL {
            assert_eq!(def(k).kind, k, "{k:?}");
        }
    }

    #[test]
    fn kind_words_and_arm_types_are_unique() {
        let words: BTreeSet<_> = ALL.iter().map(|k| def(*k).word).collect();
        assert_eq!(words.len(), ALL.len());
        // Five ML compute kinds share one ARM type, and an endpoint's traffic writes the
        // endpoint; every other kind has its own.
        let types: BTreeSet<_> = ALL.iter().map(|k| def(*k).arm_type).collect();
        assert_eq!(types.len(), ALL.len() - 5);
    }

    #[test]
    fn every_spec_kind_has_a_definition() {
        for t in moat_spec::ast::ResourceType::all() {
            let k = Kind::of(t);
            assert_eq!(def(k).word, t.as_str(), "{t:?}");
        }
    }

    #[test]
    fn every_field_path_parses_and_every_default_is_json() {
        for &k in ALL {
            let d = def(k);
            let mut seen = BTreeSet::new();
            for f in d.fields {
                assert!(ArmPath::parse(f.path).is_ok(), "{}: {}", d.word, f.path);
                assert!(seen.insert(f.path), "{}: {} twice", d.word, f.path);
                if let Default::Json(j) = f.default {
                    assert!(serde_json::from_str::<Value>(j).is_ok(), "{}: {j}", d.word);
                }
            }
            for p in d.carry_over {
                assert!(ArmPath::parse(p).is_ok(), "{}: {p}", d.word);
            }
        }
    }

    #[test]
    fn every_shown_name_is_a_field_of_the_kinds_spec() {
        for t in moat_spec::ast::ResourceType::all() {
            let d = def(Kind::of(t));
            for f in d.fields {
                let Some(shown) = f.shown else { continue };
                let top = shown.name.split('.').next().unwrap_or_default();
                assert!(
                    t.fields().contains(&top) || moat_spec::ast::COMMON_FIELDS.contains(&top),
                    "{}: `{}` shows as `{}`, which its spec does not have",
                    d.word,
                    f.path,
                    shown.name
                );
                assert!(
                    shown.member.is_none() || shown.words.is_some(),
                    "{}: a set's members need words",
                    d.word
                );
            }
        }
    }

    #[test]
    fn every_kind_round_trips_through_serde_as_its_word() {
        for &k in ALL {
            let s = serde_json::to_string(&k).unwrap();
            assert_eq!(s, format!("\"{}\"", k.word()));
            assert_eq!(serde_json::from_str::<Kind>(&s).unwrap(), k);
        }
        let e = serde_json::from_str::<Kind>("\"quantum_computer\"").unwrap_err();
        assert!(e.to_string().contains("newer moat"), "{e}");
    }

    #[test]
    fn every_declared_kind_below_the_subscription_names_its_scope() {
        for t in moat_spec::ast::ResourceType::all() {
            let d = def(Kind::of(t));
            let named = d.scope_ref.is_some();
            let scoped = matches!(d.scope, Scope::ResourceGroup | Scope::Child { .. });
            assert_eq!(named, scoped, "{}", d.word);
            assert_eq!(
                d.extension_id.is_some(),
                d.scope == Scope::Extension,
                "{}",
                d.word
            );
        }
    }

    #[test]
    fn child_scopes_name_their_parent_kind() {
        for &k in ALL {
            if let Scope::Child { parent, segment } = def(k).scope {
                // An extension resource of its parent (a cluster's ML extension) sits under
                // `<parent ID>/providers/<its type>`.
                if segment == format!("providers/{}", def(k).arm_type) {
                    continue;
                }
                assert!(def(k).arm_type.starts_with(def(parent).arm_type), "{k:?}");
                let versioned = format!("/{segment}/versions");
                assert!(
                    def(k).arm_type.ends_with(&format!("/{segment}"))
                        || def(k).arm_type.ends_with(&versioned)
                        || def(k).writes_parent,
                    "{k:?}"
                );
            }
        }
    }
}
