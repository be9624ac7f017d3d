//! The emulated cloud: every resource, long-running operation and soft-deleted vault, and
//! the state file that keeps them across restarts.

use crate::errors::SimError;
use crate::kind::Kind;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// Version written into the state file; a file with another version is refused.
const STATE_VERSION: u32 = 1;

/// One live resource.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// The id as ARM returns it.
    pub id: String,
    /// Resource kind.
    pub kind: Kind,
    /// Subscription id.
    pub sub: String,
    /// Resource group name as created (empty for none).
    pub rg: String,
    /// Stored representation (what a GET returns, minus computed fields).
    pub body: Value,
    /// Creation time (epoch seconds).
    pub created: f64,
    /// Last write time (epoch seconds).
    pub modified: f64,
    /// The resource shows `transitional` until this time.
    pub busy_until: f64,
    /// Provisioning state while busy (`Updating`, `Creating`, `RegisteringDns`).
    pub transitional: String,
    /// The last operation ended `Failed`; state shows `Failed` after `busy_until`.
    pub failed: bool,
    /// Set when a delete is under way; the record disappears at this time.
    pub deleting_until: Option<f64>,
    /// Current etag (kinds that have one).
    pub etag: String,
}

impl Record {
    /// The provisioning state a GET sees now.
    pub fn state(&self, now: f64) -> &str {
        if self.deleting_until.is_some() {
            "Deleting"
        } else if now < self.busy_until {
            &self.transitional
        } else if self.failed {
            "Failed"
        } else {
            "Succeeded"
        }
    }

    /// Whether an operation on the resource is still running.
    pub fn busy(&self, now: f64) -> bool {
        now < self.busy_until || self.deleting_until.is_some_and(|t| now < t)
    }

    /// Resource name (last id segment).
    pub fn name(&self) -> &str {
        self.id.rsplit('/').next().unwrap_or("")
    }

    /// Location from the stored body.
    pub fn location(&self) -> &str {
        self.body
            .get("location")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// What a poll endpoint reports for an operation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Operation {
    /// Key of the resource the operation works on (may be gone).
    pub resource_key: String,
    /// Start time.
    pub start: f64,
    /// End time.
    pub until: f64,
    /// Failure to report at the end, as (code, message).
    pub error: Option<(String, String)>,
    /// Whether it deletes the resource.
    pub delete: bool,
}

impl Operation {
    /// `InProgress`, `Succeeded` or `Failed` at `now`.
    pub fn status(&self, now: f64) -> &'static str {
        if now < self.until {
            "InProgress"
        } else if self.error.is_some() {
            "Failed"
        } else {
            "Succeeded"
        }
    }
}

/// A soft-deleted key vault.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeletedVault {
    /// Subscription it belonged to.
    pub sub: String,
    /// Id of the vault when it was live.
    pub vault_id: String,
    /// Location.
    pub location: String,
    /// Deletion time.
    pub deleted: f64,
    /// The vault's last body, restored by `createMode: recover`.
    pub body: Value,
    /// Set once a purge was requested; the name is free at this time.
    pub purging_until: Option<f64>,
}

/// All emulated state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// Resources by lower-cased id. Private, so that every change goes through
    /// [`State::resources_mut`] or [`State::get_mut`] and counts in [`State::generation`].
    resources: BTreeMap<String, Record>,
    /// Operations by id.
    pub operations: BTreeMap<String, Operation>,
    /// Soft-deleted vaults by lower-cased name.
    pub deleted_vaults: BTreeMap<String, DeletedVault>,
    /// Bumped by every (possible) change of `resources`: what is derived from them can be
    /// kept for as long as it stays the same.
    #[serde(skip)]
    generation: u64,
    /// The Network provider's back-references of `resources`, kept per generation.
    #[serde(skip)]
    pub(crate) back_refs: crate::kinds::network::BackRefCache,
    /// What the last sweep left, so that a sweep with nothing due costs nothing (it runs
    /// before every request, and a store holds thousands of records).
    #[serde(skip)]
    swept: Swept,
}

/// The store as of its last [`State::sweep`]: nothing can be due before these times unless
/// the resources changed (another generation) or operations were added.
#[derive(Debug, Clone, Copy, Default)]
struct Swept {
    generation: u64,
    /// The first time a record being deleted stops showing.
    resources_until: f64,
    /// How many operations there were, and when the first of them expires.
    operations: usize,
    operations_until: f64,
}

#[derive(Serialize, Deserialize)]
struct StateFile {
    version: u32,
    #[serde(flatten)]
    state: State,
}

impl State {
    /// Removes what finished deleting by `now`.
    pub fn sweep(&mut self, now: f64) {
        if self.resources_due(now) {
            let before = self.resources.len();
            let mut until = f64::INFINITY;
            self.resources.retain(|_, r| match r.deleting_until {
                Some(t) if now >= t => false,
                Some(t) => {
                    until = until.min(t);
                    true
                }
                None => true,
            });
            if self.resources.len() != before {
                self.generation += 1;
            }
            self.swept.generation = self.generation;
            self.swept.resources_until = until;
        }
        if self.vaults_due(now) {
            self.deleted_vaults
                .retain(|_, v| v.purging_until.is_none_or(|t| now < t));
        }
        if self.operations_due(now) {
            let mut until = f64::INFINITY;
            self.operations.retain(|_, o| {
                let end = o.until + 3600.0;
                until = if now < end { until.min(end) } else { until };
                now < end
            });
            self.swept.operations = self.operations.len();
            self.swept.operations_until = until;
        }
    }

    /// Whether [`State::sweep`] at `now` would change anything: until it would, requests
    /// that only read can share the state.
    pub fn sweep_due(&self, now: f64) -> bool {
        self.resources_due(now) || self.vaults_due(now) || self.operations_due(now)
    }

    /// The resources changed since the last sweep, or a delete it saw has ended since.
    fn resources_due(&self, now: f64) -> bool {
        self.swept.generation != self.generation || now >= self.swept.resources_until
    }

    /// A soft-deleted vault's purge has ended.
    fn vaults_due(&self, now: f64) -> bool {
        self.deleted_vaults
            .values()
            .any(|v| v.purging_until.is_some_and(|t| now >= t))
    }

    /// Poll endpoints of finished operations stay answerable for an hour, like ARM's: one has
    /// passed it, or operations were added since the last sweep (an operation is only ever
    /// added, ids being new GUIDs, so the count tells).
    fn operations_due(&self, now: f64) -> bool {
        self.swept.operations != self.operations.len() || now >= self.swept.operations_until
    }

    /// When the first record being deleted at `now` stops showing (infinity when none is):
    /// what the last sweep found, while the resources are as it left them.
    pub fn first_delete_end(&self, now: f64) -> f64 {
        if self.swept.generation == self.generation && now < self.swept.resources_until {
            return self.swept.resources_until;
        }
        self.resources
            .values()
            .filter_map(|r| r.deleting_until)
            .filter(|&t| t > now)
            .fold(f64::INFINITY, f64::min)
    }

    /// Resource by id (case-insensitive).
    pub fn get(&self, id: &str) -> Option<&Record> {
        self.resources.get(&id.to_ascii_lowercase())
    }

    /// Mutable resource by id.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Record> {
        self.generation += 1;
        self.resources.get_mut(&id.to_ascii_lowercase())
    }

    /// Every resource by lower-cased id.
    pub fn resources(&self) -> &BTreeMap<String, Record> {
        &self.resources
    }

    /// Every resource by lower-cased id, to change: counts as a change.
    pub fn resources_mut(&mut self) -> &mut BTreeMap<String, Record> {
        self.generation += 1;
        &mut self.resources
    }

    /// Changes whenever `resources` may have changed.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The records whose (lower-cased) id starts with `prefix`, a lower-cased id prefix: one
    /// range of the store, keyed by id; from the first id after `after` (a lower-cased id),
    /// or from the start when `None`.
    pub fn under_after<'a>(
        &'a self,
        prefix: String,
        after: Option<&str>,
    ) -> impl Iterator<Item = (&'a String, &'a Record)> {
        use std::ops::Bound;
        let start = match after {
            Some(a) if a >= prefix.as_str() => Bound::Excluded(a.to_string()),
            _ => Bound::Included(prefix.clone()),
        };
        self.resources
            .range((start, Bound::Unbounded))
            .take_while(move |(k, _)| k.starts_with(&prefix))
    }

    /// Direct children of `parent_id` of the given kind.
    pub fn children(&self, parent_id: &str, kind: Kind) -> Vec<&Record> {
        self.children_after(parent_id, kind, None).collect()
    }

    /// [`State::children`], in id order from the first id after `after` (a lower-cased id).
    pub fn children_after<'a>(
        &'a self,
        parent_id: &str,
        kind: Kind,
        after: Option<&str>,
    ) -> impl Iterator<Item = &'a Record> {
        let prefix = format!("{}/", parent_id.to_ascii_lowercase());
        let n = prefix.len();
        self.under_after(prefix, after)
            .filter(move |(k, r)| {
                r.kind == kind
                    && !k[n..].contains("/providers/")
                    && k[n..].matches('/').count() == 1
            })
            .map(|(_, r)| r)
    }

    /// Loads a state file; a missing file is an empty cloud.
    pub fn load(path: &Path) -> Result<State, SimError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(State::default()),
            Err(source) => {
                return Err(SimError::StateRead {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let file: StateFile = serde_json::from_str(&text).map_err(|e| SimError::StateCorrupt {
            path: path.to_path_buf(),
            detail: e.to_string(),
        })?;
        if file.version != STATE_VERSION {
            return Err(SimError::StateCorrupt {
                path: path.to_path_buf(),
                detail: format!(
                    "unsupported version {} (expected {STATE_VERSION})",
                    file.version
                ),
            });
        }
        Ok(file.state)
    }

    /// Writes the state atomically: a temporary file in the same directory, then a rename.
    pub fn save(&self, path: &Path) -> Result<(), SimError> {
        let err = |source| SimError::StateWrite {
            path: path.to_path_buf(),
            source,
        };
        let file = StateFile {
            version: STATE_VERSION,
            state: self.clone(),
        };
        let text = serde_json::to_vec_pretty(&file)
            .map_err(|e| err(std::io::Error::other(e.to_string())))?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
        std::fs::write(&tmp, text).map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }
}
