//! The plan: what `apply` will do, as one serde value. The human, markdown and JSON renderings
//! all come from this value, and `apply PLANFILE` executes it exactly — the apply graph is
//! built from the plan, never from the spec.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Version of the JSON plan format (`schemas/plan.schema.json`).
pub const PLAN_FORMAT_VERSION: u32 = 1;

/// What happens to one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Nothing to do.
    NoOp,
    /// An `existing:` resource, read only.
    Read,
    /// Create it.
    Create,
    /// Change it in place.
    Update,
    /// Delete it and create it again (an immutable field changed).
    Replace,
    /// Delete it (owned by the stack, gone from the spec).
    Delete,
    /// It could not be read; nothing will be done to it.
    Unreadable,
    /// Its key was renamed and its ARM ID is unchanged: no write, the state is re-keyed
    /// ([`ResourcePlan::moved_from`] names the old key).
    Move,
}

impl Action {
    /// The symbol in front of the resource in the text plan.
    pub fn symbol(self) -> &'static str {
        match self {
            Action::NoOp => " ",
            Action::Read => "<=",
            Action::Create => "+",
            Action::Update => "~",
            Action::Replace => "-/+",
            Action::Delete => "-",
            Action::Unreadable => "?",
            Action::Move => "->",
        }
    }

    /// True when apply will write something.
    pub fn writes(self) -> bool {
        matches!(
            self,
            Action::Create | Action::Update | Action::Replace | Action::Delete
        )
    }
}

/// One changed property.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Dotted ARM path, e.g. `properties.networkAcls.defaultAction`.
    pub path: String,
    /// Live value (`null` when absent). Replaced by `"(sensitive)"` for secrets.
    pub old: Value,
    /// Desired value (`null` when the property is being removed).
    pub new: Value,
    /// This change forces a replacement.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub forces_replacement: bool,
    /// The values are secret and are not shown.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sensitive: bool,
    /// The spec no longer sets this field: it goes back to Azure's default.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reset: bool,
}

/// The HTTP method of a planned write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Method {
    /// Create or replace the whole resource.
    #[serde(rename = "PUT")]
    Put,
    /// Delete it.
    #[serde(rename = "DELETE")]
    Delete,
}

impl Method {
    /// The ARM client's method.
    pub fn arm(self) -> moat_arm::Method {
        match self {
            Method::Put => moat_arm::Method::Put,
            Method::Delete => moat_arm::Method::Delete,
        }
    }
}

/// The write apply sends for a resource.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// `PUT` or `DELETE`; apply sends exactly this.
    pub method: Method,
    /// Request body (PUT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Extra query parameters (`underlyingResourceAction=Delete` for ML computes). On a
    /// replacement's PUT: the query of the DELETE it implies, when that depends on the
    /// resource (an attached AKS compute is detached); the PUT itself carries none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query: Vec<(String, String)>,
}

/// The plan for one resource or child.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourcePlan {
    /// Spec key (`vnet`, `vnet/training`).
    pub key: String,
    /// Kind (its word on the wire: `virtual_network`, `subnet`).
    pub kind: moat_model::Kind,
    /// ARM resource ID.
    pub id: String,
    /// api-version used to read and write it.
    pub api_version: String,
    /// What happens.
    pub action: Action,
    /// Why, in words: the field forcing a replacement, the error of an unreadable resource…
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reasons: Vec<String>,
    /// Changed properties (update, replace; for create the properties set).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// Keys this resource comes after (for deletes: keys that must be deleted first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Resources that share a lock group are never written at the same time (one VNet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lock_group: Option<String>,
    /// The write(s); for a replace, the PUT (the DELETE is implied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Request>,
    /// The live etag the plan was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_etag: Option<String>,
    /// The managed properties to record as last applied once the write succeeds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied: Option<BTreeMap<String, Value>>,
    /// A delete or replacement of a resource that holds data or history (the kind's
    /// `holds_data`): every rendering makes it stand out.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub destructive: bool,
    /// The key the state record knows this resource by, when the spec renamed the key and
    /// the ARM ID stayed: apply re-keys the record (a move; with changes, a move and a write).
    #[serde(rename = "from", default, skip_serializing_if = "Option::is_none")]
    pub moved_from: Option<String>,
    /// For a replacement whose ARM ID changed (a new Azure name, group or parent): the ID of
    /// the resource it replaces, which apply deletes — after the new one exists, or before it
    /// when [`ResourcePlan::delete_first`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
    /// The old resource must go before the new one is created (Azure's global names or
    /// parent/child rules); the reasons say which. On a delete: it is deleted before the
    /// creates, not after them (a create the plan lists cannot exist beside it), and the
    /// replacements its `depends_on` names delete their old selves before it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delete_first: bool,
}

impl ResourcePlan {
    /// What deleting or replacing it loses, when that is what the plan does to a kind that
    /// holds data.
    pub fn loses(&self) -> Option<&'static str> {
        if matches!(self.action, Action::Delete | Action::Replace) {
            self.kind.def().holds_data
        } else {
            None
        }
    }
}

/// Counts for the summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Creates.
    pub add: usize,
    /// In-place updates.
    pub change: usize,
    /// Replacements.
    pub replace: usize,
    /// Deletes.
    pub destroy: usize,
    /// `existing:` reads.
    pub read: usize,
    /// Resources that could not be read.
    pub unreadable: usize,
    /// Key renames with an unchanged ARM ID (no write; the state is re-keyed).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub moved: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Summary {
    /// True when apply would change nothing: no write and no state record to re-key.
    pub fn is_empty(&self) -> bool {
        self.add + self.change + self.replace + self.destroy + self.moved == 0
    }
}

/// A resource whose live read failed after retries: the plan cannot be trusted for it, so
/// `plan` exits 1 and `apply` refuses the whole plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreadableResource {
    /// Spec (or state) key.
    pub key: String,
    /// The ARM ID that was read.
    pub id: String,
    /// Why: the ARM status, code, message and request id, or the transport error.
    pub error: String,
}

/// A whole plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// [`PLAN_FORMAT_VERSION`].
    pub format_version: u32,
    /// moat's version.
    pub moat_version: String,
    /// The stack.
    pub stack: String,
    /// The subscription.
    pub subscription: String,
    /// SHA-256 of the spec text the plan was made from (the variables are in `variables`).
    pub spec_hash: String,
    /// The spec file the plan was made from, as given on the command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_path: Option<String>,
    /// The spec file relative to the directory of the saved plan file (`plan --out`), so
    /// `moat apply PLANFILE` finds it from any directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_file: Option<String>,
    /// The spec file relative to the root of the git repository holding it: where `moat
    /// apply PLANFILE` looks when the plan file was moved (a CI artifact downloaded elsewhere
    /// in a checkout of the same repository).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_repo_file: Option<String>,
    /// Every declared variable with the value the plan was made with (`--var`, `--var-file`
    /// or the default), sorted by name: `apply PLANFILE` uses them without repeating them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, String>,
    /// The `--target` keys the plan was narrowed to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// The `--exclude` keys the plan was narrowed by.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub excludes: Vec<String>,
    /// The `--replace` keys: replaced although nothing forces it (each entry says
    /// "requested with --replace"); `apply PLANFILE` replaces exactly them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replace: Vec<String>,
    /// State record serial the plan was made against.
    pub state_serial: u64,
    /// State record lineage.
    pub state_lineage: String,
    /// `destroy` plans delete everything.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub destroy: bool,
    /// Every resource, creates and updates in dependency order, then deletes.
    pub resources: Vec<ResourcePlan>,
    /// Counts.
    pub summary: Summary,
    /// The resources that could not be read (also `action: unreadable` among `resources`);
    /// a plan with any is incomplete and apply refuses it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<UnreadableResource>,
    /// What changed outside moat since it last applied (Terraform's "objects have changed
    /// outside"), in plan order: informational, since the `resources` already say what
    /// apply does about it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub drift: Vec<Drift>,
    /// Every resource of the spec and of the state record, key → ARM ID: the text and
    /// markdown plans print a reference to one of them by its key, a narrowed plan's too.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub keys: BTreeMap<String, String>,
}

/// A resource that changed in Azure, outside moat, since moat last applied it: what the
/// state record says moat left, against what the live read found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// Spec (or state) key.
    pub key: String,
    /// Kind.
    pub kind: moat_model::Kind,
    /// It was deleted outside moat: the state record has it, Azure does not.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// Managed properties whose live value is not the one moat last applied: `old` is the
    /// last applied value, `new` the live one (canonical forms; `"(sensitive)"` for secrets).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
}

impl Plan {
    /// Recomputes the summary from the resources.
    pub fn summarize(resources: &[ResourcePlan]) -> Summary {
        let mut s = Summary::default();
        for r in resources {
            match r.action {
                Action::Create => s.add += 1,
                Action::Update => s.change += 1,
                Action::Replace => s.replace += 1,
                Action::Delete => s.destroy += 1,
                Action::Read => s.read += 1,
                Action::Unreadable => s.unreadable += 1,
                Action::Move => s.moved += 1,
                Action::NoOp => {}
            }
        }
        s
    }

    /// The unreadable resources among `resources`, in plan order.
    pub fn unreadable_of(resources: &[ResourcePlan]) -> Vec<UnreadableResource> {
        resources
            .iter()
            .filter(|r| r.action == Action::Unreadable)
            .map(|r| UnreadableResource {
                key: r.key.clone(),
                id: r.id.clone(),
                error: r.reasons.join("; "),
            })
            .collect()
    }

    /// True when some resource could not be read: the plan is incomplete.
    pub fn is_incomplete(&self) -> bool {
        self.summary.unreadable > 0
            || !self.unreadable.is_empty()
            || self
                .resources
                .iter()
                .any(|r| r.action == Action::Unreadable)
    }

    /// Looks a resource up.
    pub fn get(&self, key: &str) -> Option<&ResourcePlan> {
        self.resources.iter().find(|r| r.key == key)
    }

    /// True when apply would write nothing.
    pub fn is_empty(&self) -> bool {
        self.summary.is_empty()
    }
}

/// The JSON Schema (2020-12) of the JSON plan, checked in as `schemas/plan.schema.json` (a test
/// fails when the file is stale, and every golden plan is validated against it). Written by
/// hand beside the types it describes: every object is closed (`additionalProperties: false`),
/// so a field added to a type without a word here fails validation.
pub fn json_schema() -> Value {
    let kinds: Vec<&str> = moat_model::kinds::ALL.iter().map(|k| k.word()).collect();
    let count = |d: &str| serde_json::json!({ "type": "integer", "minimum": 0, "description": d });
    let string = |d: &str| serde_json::json!({ "type": "string", "description": d });
    let flag = |d: &str| serde_json::json!({ "type": "boolean", "description": d });
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://moat.invalid/schemas/plan.schema.json",
        "title": "moat plan (format 1)",
        "description": "What `moat apply` will do, as written by `moat plan --format json` and `--out PLANFILE`. Resources come in apply order: creates and updates in dependency order, then deletes, dependents first.",
        "type": "object",
        "additionalProperties": false,
        "required": ["format_version", "moat_version", "stack", "subscription", "spec_hash", "state_serial", "state_lineage", "resources", "summary"],
        "properties": {
            "format_version": { "const": PLAN_FORMAT_VERSION, "description": "Version of this format." },
            "moat_version": string("The moat that made the plan."),
            "stack": string("The spec's `stack:`."),
            "subscription": string("The subscription GUID."),
            "spec_hash": string("SHA-256 (hex) of the spec bytes the plan was made from."),
            "spec_path": string("The spec file, as given on the command line."),
            "spec_file": string("The spec file relative to the directory of the plan file (`moat plan --out`): `moat apply PLANFILE` reads it from there, whatever the working directory."),
            "spec_repo_file": string("The spec file relative to the root of its git repository: where `moat apply PLANFILE` looks, from the working directory's repository, when `spec_file` is not there (the plan file was moved)."),
            "variables": {
                "type": "object",
                "additionalProperties": { "type": "string" },
                "description": "Every declared variable and the value the plan was made with (`--var`, `--var-file` or its default). `moat apply PLANFILE` uses them; a `--var` given to apply must agree."
            },
            "targets": { "type": "array", "items": { "type": "string" }, "description": "The `--target` keys the plan was narrowed to." },
            "excludes": { "type": "array", "items": { "type": "string" }, "description": "The `--exclude` keys the plan was narrowed by." },
            "replace": { "type": "array", "items": { "type": "string" }, "description": "The `--replace` keys: replaced although nothing forces it (with what their replacement takes along; each says `requested with --replace` in its reasons)." },
            "state_serial": count("Serial of the state record the plan was made against; apply refuses a plan whose record has moved on."),
            "state_lineage": string("Lineage (UUID) of that state record."),
            "destroy": flag("A destroy plan (`moat destroy`, `moat plan --destroy`): everything the stack owns is deleted, or with `targets`/`excludes` the targets and what cannot exist without them, survivors that only refer to them updated in place."),
            "resources": { "type": "array", "items": { "$ref": "#/$defs/resource" } },
            "summary": { "$ref": "#/$defs/summary" },
            "unreadable": {
                "type": "array",
                "items": { "$ref": "#/$defs/unreadable" },
                "description": "Resources whose live read failed after retries (each also has `action: unreadable`). A plan with any is incomplete: `moat plan` exits 1 and `moat apply` refuses it."
            },
            "keys": {
                "type": "object",
                "additionalProperties": { "type": "string" },
                "description": "Every resource of the spec and of the state record, key → ARM ID: the text and markdown plans print a reference to one of them by its key."
            },
            "drift": {
                "type": "array",
                "items": { "$ref": "#/$defs/drift" },
                "description": "What changed in Azure outside moat since moat last applied it (the state record against the live read), in plan order. Informational: `resources` already say what apply does about it."
            }
        },
        "$defs": {
            "resource": {
                "type": "object",
                "additionalProperties": false,
                "required": ["key", "kind", "id", "api_version", "action"],
                "properties": {
                    "key": string("The spec key (`vnet`), or `vnet/training` for a subnet."),
                    "kind": { "enum": kinds, "description": "The spec's kind word." },
                    "id": string("The ARM resource ID."),
                    "api_version": string("The api-version it is read and written with."),
                    "action": {
                        "enum": ["no_op", "read", "create", "update", "replace", "delete", "unreadable", "move"],
                        "description": "`read`: an `existing:` resource; `replace`: deleted and created again (an immutable field or its ARM ID changed); `unreadable`: the live read failed, nothing is done to it; `move`: the key was renamed and the ARM ID stayed, so nothing is written and the state is re-keyed (`from`)."
                    },
                    "reasons": { "type": "array", "items": { "type": "string" }, "description": "Why, in words: the field forcing a replacement, the read error, a vault to recover." },
                    "changes": { "type": "array", "items": { "$ref": "#/$defs/change" }, "description": "Changed properties; for a create, every managed property." },
                    "depends_on": { "type": "array", "items": { "type": "string" }, "description": "Keys this one comes after; for a delete, the keys deleted before it." },
                    "lock_group": string("Writes with the same lock group never run at the same time (the subnets of one VNet)."),
                    "request": { "$ref": "#/$defs/request" },
                    "live_etag": string("The etag of the live resource the plan was computed from."),
                    "applied": { "type": "object", "description": "Managed properties (dotted path → canonical value) recorded as last applied once the write succeeds; secrets excluded." },
                    "destructive": flag("A delete or replacement of a resource that holds data or history (storage account, key vault, workspace, cluster, registry): what it holds is lost."),
                    "from": string("The key the state knew this resource by: the spec renamed the key and the ARM ID stayed (a move; with `update`, a move and an update)."),
                    "replaces": string("A replacement under a new ARM ID (a new Azure name, group or parent): the ID of the resource it replaces, deleted after the new one exists (or before, with `delete_first`)."),
                    "delete_first": flag("On a replacement: the old resource is deleted before the new one is created (Azure's global names or parent/child rules require it; the reasons say which). On a delete: it runs before the creates instead of after them, because a resource the plan creates cannot exist beside it (an overlapping subnet range, a name unique across Azure); the replacements named in its `depends_on` delete their old selves before it.")
                }
            },
            "change": {
                "type": "object",
                "additionalProperties": false,
                "required": ["path", "old", "new"],
                "properties": {
                    "path": string("Dotted ARM path, e.g. `properties.networkAcls.defaultAction`."),
                    "old": { "description": "Live value; null when absent; `(sensitive)` for a secret." },
                    "new": { "description": "Desired value; null when removed; `(sensitive)` for a secret." },
                    "forces_replacement": flag("This change makes the resource be replaced."),
                    "sensitive": flag("The values are secret and not shown."),
                    "reset": flag("The spec no longer sets this property: it goes back to Azure's default.")
                }
            },
            "request": {
                "type": "object",
                "additionalProperties": false,
                "required": ["method"],
                "properties": {
                    "method": { "enum": ["PUT", "DELETE"] },
                    "body": { "type": "object", "description": "The PUT body." },
                    "query": {
                        "type": "array",
                        "description": "Extra query parameters, as [name, value] pairs; on a replacement's PUT, those of the DELETE it implies.",
                        "items": { "type": "array", "prefixItems": [{ "type": "string" }, { "type": "string" }], "minItems": 2, "maxItems": 2 }
                    }
                }
            },
            "drift": {
                "type": "object",
                "additionalProperties": false,
                "required": ["key", "kind"],
                "properties": {
                    "key": string("The spec (or state) key."),
                    "kind": { "enum": kinds, "description": "The spec's kind word." },
                    "deleted": flag("Deleted outside moat: the state record has it, Azure does not."),
                    "changes": { "type": "array", "items": { "$ref": "#/$defs/change" }, "description": "Managed properties whose live value differs from the last applied one: `old` is what moat last applied, `new` what Azure has now (canonical forms)." }
                }
            },
            "unreadable": {
                "type": "object",
                "additionalProperties": false,
                "required": ["key", "id", "error"],
                "properties": {
                    "key": string("The spec (or state) key."),
                    "id": string("The ARM ID that was read."),
                    "error": string("Why: ARM's status, code, message and request id, or the transport error.")
                }
            },
            "summary": {
                "type": "object",
                "additionalProperties": false,
                "required": ["add", "change", "replace", "destroy", "read", "unreadable"],
                "properties": {
                    "add": count("Creates."),
                    "change": count("In-place updates."),
                    "replace": count("Replacements."),
                    "destroy": count("Deletes."),
                    "read": count("`existing:` resources read."),
                    "unreadable": count("Resources that could not be read."),
                    "moved": count("Key renames with an unchanged ARM ID: nothing written, the state re-keyed.")
                }
            }
        }
    })
}

/// [`json_schema`] as the checked-in file: pretty, final newline.
pub fn json_schema_text() -> String {
    let mut s = serde_json::to_string_pretty(&json_schema()).unwrap_or_default();
    s.push('\n');
    s
}
