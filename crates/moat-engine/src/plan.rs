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

/// The write apply sends for a resource.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// `PUT` or `DELETE`.
    pub method: String,
    /// Request body (PUT).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Extra query parameters (`underlyingResourceAction=Delete` for ML computes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query: Vec<(String, String)>,
}

/// The plan for one resource or child.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ResourcePlan {
    /// Spec key (`vnet`, `vnet/training`).
    pub key: String,
    /// Kind word (`virtual_network`, `subnet`).
    pub kind: String,
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
}

impl Summary {
    /// True when apply would write nothing.
    pub fn is_empty(&self) -> bool {
        self.add + self.change + self.replace + self.destroy == 0
    }
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
    /// SHA-256 of the spec text and variables the plan was made from.
    pub spec_hash: String,
    /// The spec file the plan was made from, as given on the command line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec_path: Option<String>,
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
                Action::NoOp => {}
            }
        }
        s
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
