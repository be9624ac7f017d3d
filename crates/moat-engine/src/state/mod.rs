//! The state record of one stack, the lock that guards it, and the backends that keep it.
//!
//! Live state is the truth; the record holds only what ARM cannot tell: which resources
//! the stack owns, the properties last applied (for the 3-way diff), and a journal of
//! writes in flight so that an interrupted apply can be finished by the next one.
//!
//! Every backend gives the same guarantees: a record is written atomically, a write never
//! replaces a record this backend instance has not seen (optimistic concurrency), and the
//! lock names its holder to whoever waits for it.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

mod blob;
mod local;

pub use blob::{
    BlobAuth, BlobBackend, BlobLocation, BlobOptions, STORAGE_API_VERSION, TokenSource,
};
pub use local::LocalBackend;
pub use moat_arm::blob::BlobError;

/// The state format this moat writes and reads.
pub const STATE_FORMAT_VERSION: u32 = 1;

/// What moat remembers about one stack between runs.
///
/// Unknown fields are refused (here and in the nested records): a field this moat does not
/// know was written by a newer one, and dropping it on the next write would lose what it meant.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StateRecord {
    /// Format of the record; [`STATE_FORMAT_VERSION`].
    pub version: u32,
    /// The `stack:` of the spec.
    pub stack: String,
    /// Incremented by the caller on every write; a backend refuses a write that does not
    /// increase it.
    pub serial: u64,
    /// A UUID made when the record is first created; a record of another lineage is never
    /// overwritten.
    pub lineage: String,
    /// Owned resources by resource key (`vnet`, `vnet/training`).
    pub resources: BTreeMap<String, ResourceState>,
    /// Writes in flight: an entry is added before a write is sent, gets the operation's
    /// resume token once known, and is removed when the write is done.
    #[serde(default)]
    pub journal: Vec<JournalEntry>,
}

impl StateRecord {
    /// An empty record for a new stack: serial 0, a fresh lineage.
    pub fn new(stack: impl Into<String>) -> Self {
        Self {
            version: STATE_FORMAT_VERSION,
            stack: stack.into(),
            serial: 0,
            lineage: uuid::Uuid::new_v4().to_string(),
            resources: BTreeMap::new(),
            journal: Vec::new(),
        }
    }

    /// Re-keys the resource known as `from` to `to` (a key rename that kept the ARM ID: a
    /// move): its entry, its journal entries and every `depends_on` naming it. Nothing
    /// happens when `from` is not in the record (already moved) or `to` already is.
    pub fn rekey(&mut self, from: &str, to: &str) {
        if from == to || self.resources.contains_key(to) {
            return;
        }
        let Some(entry) = self.resources.remove(from) else {
            return;
        };
        self.resources.insert(to.to_string(), entry);
        for j in self.journal.iter_mut().filter(|j| j.key == from) {
            j.key = to.to_string();
        }
        for r in self.resources.values_mut() {
            for d in r.depends_on.iter_mut().filter(|d| *d == from) {
                *d = to.to_string();
            }
        }
    }

    /// The record as stored: pretty JSON with a final newline; maps are sorted.
    pub fn to_json(&self) -> String {
        // A record holds only strings, numbers, maps and JSON values: it always serializes.
        let mut s = serde_json::to_string_pretty(self).unwrap_or_default();
        s.push('\n');
        s
    }
}

/// What the record keeps about one owned resource.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ResourceState {
    /// The ARM resource ID.
    pub id: String,
    /// The resource kind, stored as its spec word (`virtual_network`); a word this build does
    /// not know fails the read ("written by a newer moat") instead of orphaning the resource.
    pub kind: moat_model::Kind,
    /// The api-version the resource was written with.
    pub api_version: String,
    /// The properties last applied; a secret as its keyed fingerprint, never its value.
    pub applied: serde_json::Value,
    /// The resource's etag after the last write, if ARM gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// When it was last written (RFC 3339).
    pub updated_at: String,
    /// Keys this resource depended on when it was written, so that a resource that left the
    /// spec is still deleted before what it depends on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// What the service assigned and users refer to (a managed identity's `principal_id`),
    /// read from the body the last write returned (`KindDef::server_outputs`); `moat output`
    /// lists them. Never a secret.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub outputs: std::collections::BTreeMap<String, String>,
}

/// One write in flight.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JournalEntry {
    /// The resource key.
    pub key: String,
    /// The ARM resource ID.
    pub id: String,
    /// The resource's kind (its spec word; an unknown word fails the read). Absent in entries
    /// written before the journal recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<moat_model::Kind>,
    /// `create`, `update`, `replace` or `delete`.
    pub action: String,
    /// When the write was sent (RFC 3339).
    pub started_at: String,
    /// The ARM client's resume token for the long-running operation, opaque here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<serde_json::Value>,
}

/// Who holds a lock, stored with the lock so that a waiter can name the holder.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct LockInfo {
    /// `user@host`.
    pub who: String,
    /// The holder's process ID on its host.
    pub pid: u32,
    /// `apply`, `destroy`, `import`, ...
    pub operation: String,
    /// When the lock was taken (RFC 3339).
    pub since: String,
    /// A UUID for this holding.
    pub id: String,
}

impl LockInfo {
    /// Describes the current process taking a lock for `operation` now.
    pub fn new(operation: impl Into<String>) -> Self {
        Self {
            who: format!("{}@{}", current_user(), current_host()),
            pid: std::process::id(),
            operation: operation.into(),
            since: now_rfc3339(),
            id: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// `Some(true)` if the holder ran on this host and its process is gone, `Some(false)`
    /// if it is still running here, `None` if that cannot be told (another host, or a
    /// system without `/proc`).
    pub fn holder_is_gone(&self) -> Option<bool> {
        let host = self.who.rsplit_once('@').map(|(_, h)| h)?;
        if host != current_host() {
            return None;
        }
        process_is_gone(self.pid)
    }
}

impl fmt::Display for LockInfo {
    /// `alice@build-7 (pid 4242, apply since 2025-01-01T10:00:00Z, lock 5f0c…)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (pid {}, {} since {}, lock id {})",
            self.who, self.pid, self.operation, self.since, self.id
        )
    }
}

/// What can go wrong with state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// The lock was held by someone else for the whole timeout.
    #[error("{}", locked_message(.location, .holder.as_deref(), .waited, *.stale, *.expires_in))]
    Locked {
        /// Where the lock is.
        location: String,
        /// The holder, if it could be read (boxed to keep the error small).
        holder: Option<Box<LockInfo>>,
        /// How long we waited.
        waited: Duration,
        /// The holder ran on this host and its process no longer exists.
        stale: bool,
        /// For a lease: how long until it runs out unless renewed.
        expires_in: Option<Duration>,
    },
    /// The stored record is not valid JSON or not a state record.
    #[error(
        "state file `{location}` is corrupt; fix or restore it (moat never treats it as empty)"
    )]
    Corrupt {
        /// The file or blob.
        location: String,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The stored record has fields this moat does not know.
    #[error(
        "state file `{location}` was written by a newer moat: {detail}; upgrade moat to use it (this one reads format version {STATE_FORMAT_VERSION} without that field)"
    )]
    Newer {
        /// The file or blob.
        location: String,
        /// serde's message: the field and its line and column.
        detail: String,
    },
    /// The stored record has a format this moat does not know.
    #[error(
        "state file `{location}` has format version {found}; this moat reads version {STATE_FORMAT_VERSION}"
    )]
    UnsupportedVersion {
        /// The file or blob.
        location: String,
        /// The version found.
        found: u32,
    },
    /// The stored record changed since this backend read it, or the new record does not
    /// follow it (other lineage, serial not increased).
    #[error("state `{location}` was not written: {reason}")]
    Conflict {
        /// The file or blob.
        location: String,
        /// What did not match.
        reason: String,
    },
    /// A file operation failed.
    #[error("cannot {action} `{path}`")]
    Io {
        /// `read`, `write`, `lock`, ...
        action: &'static str,
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Talking to Azure Storage failed, or was refused before anything was sent.
    #[error(transparent)]
    Blob(BlobError),
    /// The backend's settings are unusable.
    #[error("invalid state backend settings: {0}")]
    Config(String),
}

impl From<BlobError> for StateError {
    fn from(e: BlobError) -> Self {
        match e {
            BlobError::Config(m) => StateError::Config(m),
            other => StateError::Blob(other),
        }
    }
}

fn locked_message(
    location: &str,
    holder: Option<&LockInfo>,
    waited: &Duration,
    stale: bool,
    expires_in: Option<Duration>,
) -> String {
    let mut s = format!("state `{location}` is locked");
    match holder {
        Some(h) => s.push_str(&format!(" by {h}")),
        None => s.push_str(" by an unknown holder"),
    }
    s.push_str(&format!("; gave up after {:.1}s", waited.as_secs_f64()));
    match (stale, holder, expires_in) {
        (true, Some(h), Some(left)) => s.push_str(&format!(
            "; {}, so it frees itself then (or run `moat force-unlock {}`)",
            gone_note(h.pid, Some(left)),
            h.id
        )),
        (true, Some(h), None) => s.push_str(&format!(
            "; {}, so the lock is stale: run `moat force-unlock {}` if no other moat is running",
            gone_note(h.pid, None),
            h.id
        )),
        _ => {}
    }
    s
}

/// "held by pid N on this host, which is no longer running[; the lease expires in 41 s]".
fn gone_note(pid: u32, expires_in: Option<Duration>) -> String {
    let mut s = format!("held by pid {pid} on this host, which is no longer running");
    if let Some(left) = expires_in {
        s.push_str(&format!("; the lease expires in {} s", left.as_secs()));
    }
    s
}

/// The holder of a lock as seen from here: who, and whatever tells whether it is alive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HolderStatus {
    /// The lock record.
    pub info: LockInfo,
    /// `Some(true)` if the holder ran on this host and its process is gone, `Some(false)` if
    /// it is still running here, `None` if that cannot be told.
    pub process_gone: Option<bool>,
    /// For a lease: how long ago the holder last renewed it (server clock).
    pub renewed_ago: Option<Duration>,
    /// For a lease: how often the holder renews it.
    pub renew_every: Option<Duration>,
    /// For a lease: how long until it runs out unless renewed.
    pub expires_in: Option<Duration>,
}

impl HolderStatus {
    /// A holder without lease timing (a file lock).
    pub fn of(info: LockInfo) -> Self {
        Self {
            process_gone: info.holder_is_gone(),
            info,
            renewed_ago: None,
            renew_every: None,
            expires_in: None,
        }
    }

    /// Why the holder is provably alive, if it is: its process runs on this host, or it is
    /// still renewing its lease (it renewed within one period, plus slack for the clock).
    pub fn alive(&self) -> Option<String> {
        match self.process_gone {
            Some(false) => {
                return Some(format!(
                    "its process (pid {}) is still running on this host",
                    self.info.pid
                ));
            }
            Some(true) => return None,
            None => {}
        }
        match (self.renewed_ago, self.renew_every) {
            (Some(ago), Some(every)) if ago <= every + Duration::from_secs(10) => Some(format!(
                "it is still renewing its lease (last renewed {} s ago; it renews every {} s)",
                ago.as_secs(),
                every.as_secs()
            )),
            _ => None,
        }
    }

    /// "held by pid N on this host, which is no longer running; the lease expires in 41 s",
    /// when the holder's process is known to be gone.
    pub fn gone(&self) -> Option<String> {
        (self.process_gone == Some(true)).then(|| gone_note(self.info.pid, self.expires_in))
    }
}

/// Where a stack's state record lives.
#[async_trait]
pub trait StateBackend: Send + Sync {
    /// Takes the stack's lock, waiting up to `timeout` for another holder to let go, and
    /// failing with [`StateError::Locked`] naming the holder after that.
    async fn lock(&self, info: LockInfo, timeout: Duration) -> Result<LockGuard, StateError>;

    /// The stored record, `None` if the stack has none yet. Remembers what it read, for
    /// the optimistic concurrency check of [`StateBackend::write`].
    async fn read(&self) -> Result<Option<StateRecord>, StateError>;

    /// Replaces the stored record atomically. Fails with [`StateError::Conflict`] unless
    /// this backend has read (or written) the stored record and it has not changed since,
    /// the lineage is the same, and `record.serial` is greater than the stored serial.
    async fn write(&self, record: &StateRecord) -> Result<(), StateError>;

    /// Who holds the lock now, if anyone (a stale holder included).
    async fn holder(&self) -> Result<Option<LockInfo>, StateError>;

    /// The holder with what tells whether it is alive; `None` when nobody holds the lock.
    async fn status(&self) -> Result<Option<HolderStatus>, StateError> {
        Ok(self.holder().await?.map(HolderStatus::of))
    }

    /// Breaks the lock whoever holds it, and says who that was. The caller should have
    /// shown [`StateBackend::holder`] and asked first.
    async fn force_unlock(&self) -> Result<Option<LockInfo>, StateError>;

    /// Breaks the lock only if its holding has lock id `id` (the one the lock message
    /// prints), and says who that was; a lock now held under another id is refused with
    /// [`StateError::Conflict`].
    async fn force_unlock_id(&self, id: &str) -> Result<Option<LockInfo>, StateError> {
        match self.holder().await? {
            Some(h) if h.id != id => Err(StateError::Conflict {
                location: self.describe(),
                reason: format!("the lock is held by {h}, not by lock id {id}"),
            }),
            Some(_) => self.force_unlock().await,
            None => Ok(None),
        }
    }

    /// Where the state is, for messages (`/path/to/dir/stack.state.json`,
    /// `https://acct.blob.core.windows.net/c/b`).
    fn describe(&self) -> String;

    /// The stack's fingerprint key: the HMAC key of the secret fingerprints the state holds
    /// ([`moat_model::secret`]), kept beside the state and created on first use (by one
    /// writer: two runs creating it at once end up with the same key).
    async fn fingerprint_key(&self) -> Result<Vec<u8>, StateError> {
        Err(StateError::Config(format!(
            "{} keeps no fingerprint key for secrets",
            self.describe()
        )))
    }
}

/// What a stored fingerprint key starts with (so no log takes its text for JSON).
const KEY_PREFIX: &str = "moat-fingerprint-key ";

/// A new fingerprint key: 32 bytes from the OS's random source (two v4 UUIDs), as text.
pub(crate) fn new_fingerprint_key() -> String {
    let a = uuid::Uuid::new_v4();
    let b = uuid::Uuid::new_v4();
    let hex: String = a
        .as_bytes()
        .iter()
        .chain(b.as_bytes())
        .map(|x| format!("{x:02x}"))
        .collect();
    format!("{KEY_PREFIX}{hex}")
}

/// The key bytes of a stored key's text (64 hex digits).
pub(crate) fn parse_fingerprint_key(location: &str, text: &str) -> Result<Vec<u8>, StateError> {
    let t = text.trim();
    let t = t.strip_prefix(KEY_PREFIX).unwrap_or(t);
    let bytes: Option<Vec<u8>> = (t.len() == 64 && t.is_ascii())
        .then(|| {
            (0..32)
                .map(|i| u8::from_str_radix(&t[2 * i..2 * i + 2], 16).ok())
                .collect()
        })
        .flatten();
    bytes.ok_or_else(|| {
        StateError::Config(format!(
            "the fingerprint key `{location}` is not `moat-fingerprint-key` and 64 hex digits; restore it (deleting it makes every secret plan an update once)"
        ))
    })
}

/// A held lock. Released by [`LockGuard::release`], or on drop (for Azure Blob, on drop
/// the release is sent from a background task, and the lease expires by itself anyway).
pub struct LockGuard {
    info: LockInfo,
    previous: Option<LockInfo>,
    held: Option<Box<dyn HeldLock>>,
}

impl fmt::Debug for LockGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("info", &self.info)
            .field("previous", &self.previous)
            .field("held", &self.held.is_some())
            .finish()
    }
}

impl LockGuard {
    pub(crate) fn new(info: LockInfo, previous: Option<LockInfo>, held: Box<dyn HeldLock>) -> Self {
        Self {
            info,
            previous,
            held: Some(held),
        }
    }

    /// The holder's description, as stored with the lock.
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// A holder that never released the lock (its process was killed, or its lease
    /// expired) and whose record was found when this lock was taken: its operation was
    /// interrupted, and the journal says what it left in flight.
    pub fn previous(&self) -> Option<&LockInfo> {
        self.previous.as_ref()
    }

    /// A function that releases this lock synchronously, for the moments a process exits
    /// without unwinding to the guard (a second Ctrl-C, a panic hook). It leaves the lock
    /// record in place where the backend keeps one, so the next holder learns this run did
    /// not finish. Idempotent; does nothing once the guard released.
    pub fn exit_releaser(&self) -> Box<dyn Fn() + Send + Sync> {
        match &self.held {
            Some(h) => h.exit_releaser(),
            None => Box::new(|| {}),
        }
    }

    /// Releases the lock and reports whether that worked.
    pub async fn release(mut self) -> Result<(), StateError> {
        match self.held.take() {
            Some(h) => h.release().await,
            None => Ok(()),
        }
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(h) = self.held.take() {
            h.release_on_drop();
        }
    }
}

/// The backend-specific part of a held lock.
#[async_trait]
pub(crate) trait HeldLock: Send + Sync {
    async fn release(self: Box<Self>) -> Result<(), StateError>;
    /// Releases before the guard's memory goes: must finish without the caller's runtime.
    fn release_on_drop(self: Box<Self>);
    /// See [`LockGuard::exit_releaser`]; an OS file lock dies with its process by itself.
    fn exit_releaser(&self) -> Box<dyn Fn() + Send + Sync> {
        Box::new(|| {})
    }
}

/// Checks what was read: format version, stack name.
pub(crate) fn parse_record(
    location: &str,
    bytes: &[u8],
    stack: &str,
) -> Result<StateRecord, StateError> {
    #[derive(Deserialize)]
    struct VersionOnly {
        version: u32,
    }
    // Look at the version first so that a newer format is reported as such, not as corrupt.
    let v: VersionOnly = serde_json::from_slice(bytes).map_err(|source| StateError::Corrupt {
        location: location.to_owned(),
        source,
    })?;
    if v.version != STATE_FORMAT_VERSION {
        return Err(StateError::UnsupportedVersion {
            location: location.to_owned(),
            found: v.version,
        });
    }
    let record: StateRecord = serde_json::from_slice(bytes).map_err(|source| {
        if source.to_string().starts_with("unknown field") {
            StateError::Newer {
                location: location.to_owned(),
                detail: source.to_string(),
            }
        } else {
            StateError::Corrupt {
                location: location.to_owned(),
                source,
            }
        }
    })?;
    if record.stack != stack {
        return Err(StateError::Conflict {
            location: location.to_owned(),
            reason: format!("it holds stack `{}`, not `{stack}`", record.stack),
        });
    }
    Ok(record)
}

/// Checks that `record` may replace `stored` (what is stored now, as last seen).
pub(crate) fn check_successor(
    location: &str,
    stack: &str,
    stored: Option<(&str, u64)>,
    record: &StateRecord,
) -> Result<(), StateError> {
    let conflict = |reason: String| StateError::Conflict {
        location: location.to_owned(),
        reason,
    };
    if record.stack != stack {
        return Err(conflict(format!(
            "the record is for stack `{}`, this backend keeps `{stack}`",
            record.stack
        )));
    }
    if let Some((lineage, serial)) = stored {
        if lineage != record.lineage {
            return Err(conflict(format!(
                "the stored record has lineage {lineage}, the new one {}",
                record.lineage
            )));
        }
        if record.serial <= serial {
            return Err(conflict(format!(
                "the new serial {} does not follow the stored serial {serial}",
                record.serial
            )));
        }
    }
    Ok(())
}

/// Now, in UTC, RFC 3339, to the second (`2025-01-06T10:00:00Z`): the format of every
/// timestamp in the state record and the lock.
pub fn now_rfc3339() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.replace_nanosecond(0)
        .unwrap_or(now)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn current_user() -> String {
    ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned())
}

fn current_host() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|p| {
            std::fs::read_to_string(p)
                .ok()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        })
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .or_else(|| std::env::var("COMPUTERNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Whether a process is gone, from `/proc`; a zombie counts as gone.
fn process_is_gone(pid: u32) -> Option<bool> {
    if !std::path::Path::new("/proc/self").exists() {
        return None;
    }
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state letter follows the parenthesised command name, which may hold spaces.
        Ok(stat) => Some(
            stat.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|state| state == "Z" || state == "X"),
        ),
        Err(_) => Some(true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_json_is_stable_and_roundtrips() {
        let mut r = StateRecord::new("secure-ml");
        r.lineage = "L".into();
        r.resources.insert(
            "vnet".into(),
            ResourceState {
                id: "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v".into(),
                // The wire form of a kind is its spec word.
                kind: serde_json::from_str("\"virtual_network\"").unwrap(),
                api_version: "2024-05-01".into(),
                applied: serde_json::json!({"b": 1, "a": 2}),
                etag: None,
                updated_at: "2025-01-01T00:00:00Z".into(),
                depends_on: Vec::new(),
                outputs: Default::default(),
            },
        );
        let json = r.to_json();
        assert!(json.ends_with("}\n"));
        assert!(!json.contains("etag"), "{json}");
        let back: StateRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
    }

    fn entry(id: &str, kind: &str, depends_on: &[&str]) -> ResourceState {
        ResourceState {
            id: id.into(),
            kind: serde_json::from_str(&format!("\"{kind}\"")).unwrap(),
            api_version: "2024-04-01".into(),
            applied: serde_json::Value::Null,
            etag: None,
            updated_at: "2025-01-01T00:00:00Z".into(),
            depends_on: depends_on.iter().map(|d| d.to_string()).collect(),
            outputs: Default::default(),
        }
    }

    #[test]
    fn rekey_moves_the_entry_its_journal_and_what_depends_on_it() {
        let mut r = StateRecord::new("s");
        r.resources
            .insert("ws".into(), entry("/w", "ml_workspace", &[]));
        r.resources.insert(
            "cpu".into(),
            entry("/w/computes/cpu", "aml_compute", &["ws"]),
        );
        r.journal.push(JournalEntry {
            key: "ws".into(),
            id: "/w".into(),
            kind: None,
            action: "update".into(),
            started_at: String::new(),
            operation: None,
        });
        r.rekey("ws", "workspace");
        assert_eq!(r.resources.keys().collect::<Vec<_>>(), ["cpu", "workspace"]);
        assert_eq!(r.resources["workspace"].id, "/w");
        assert_eq!(r.resources["cpu"].depends_on, ["workspace"]);
        assert_eq!(r.journal[0].key, "workspace");
        // Never over another entry, and a second rekey is a no-op.
        let before = r.clone();
        r.rekey("workspace", "cpu");
        r.rekey("ws", "workspace");
        assert_eq!(r, before);
    }

    #[test]
    fn a_kind_this_build_does_not_know_is_an_error_not_a_skip() {
        let mut r = StateRecord::new("secure-ml");
        r.resources.insert(
            "q".into(),
            ResourceState {
                id: "/subscriptions/s/resourceGroups/rg".into(),
                kind: serde_json::from_str("\"resource_group\"").unwrap(),
                api_version: "2024-07-01".into(),
                applied: serde_json::Value::Null,
                etag: None,
                updated_at: "2025-01-01T00:00:00Z".into(),
                depends_on: Vec::new(),
                outputs: Default::default(),
            },
        );
        let json = r
            .to_json()
            .replace("\"resource_group\"", "\"quantum_computer\"");
        let e = serde_json::from_str::<StateRecord>(&json).unwrap_err();
        assert!(e.to_string().contains("written by a newer moat"), "{e}");
        assert!(e.to_string().contains("quantum_computer"), "{e}");
    }

    #[test]
    fn lock_info_names_this_process() {
        let i = LockInfo::new("apply");
        assert_eq!(i.pid, std::process::id());
        assert!(i.who.contains('@'));
        assert_eq!(i.holder_is_gone(), Some(false));
        let text = i.to_string();
        assert!(text.contains(&format!("pid {}", i.pid)), "{text}");
        assert!(text.contains("apply since"), "{text}");
    }

    #[test]
    fn a_dead_pid_on_this_host_is_gone_and_another_host_is_unknown() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let mut i = LockInfo::new("apply");
        i.pid = pid;
        assert_eq!(i.holder_is_gone(), Some(true));
        i.who = "someone@elsewhere.invalid".into();
        assert_eq!(i.holder_is_gone(), None);
    }

    #[test]
    fn successor_rules() {
        let mut r = StateRecord::new("s");
        r.serial = 3;
        assert!(check_successor("x", "s", None, &r).is_ok());
        assert!(check_successor("x", "s", Some((&r.lineage.clone(), 2)), &r).is_ok());
        let e = check_successor("x", "s", Some((&r.lineage.clone(), 3)), &r).unwrap_err();
        assert_eq!(
            e.to_string(),
            "state `x` was not written: the new serial 3 does not follow the stored serial 3"
        );
        assert!(check_successor("x", "s", Some(("other", 1)), &r).is_err());
        assert!(check_successor("x", "t", None, &r).is_err());
    }

    #[test]
    fn parse_record_reports_version_and_corruption() {
        let e = parse_record("f.json", b"{\"version\": 2}", "s").unwrap_err();
        assert!(matches!(e, StateError::UnsupportedVersion { found: 2, .. }));
        let e = parse_record("f.json", b"{\"version\": 1, \"stack\": ", "s").unwrap_err();
        assert!(e.to_string().contains("`f.json` is corrupt"), "{e}");
        let mut r = StateRecord::new("other");
        r.lineage = "L".into();
        let e = parse_record("f.json", r.to_json().as_bytes(), "s").unwrap_err();
        assert!(e.to_string().contains("holds stack `other`"), "{e}");
    }

    #[test]
    fn unknown_fields_are_written_by_a_newer_moat_and_located() {
        let mut r = StateRecord::new("s");
        r.journal.push(JournalEntry {
            key: "vnet".into(),
            id: "/x".into(),
            kind: None,
            action: "create".into(),
            started_at: "2025-01-01T00:00:00Z".into(),
            operation: None,
        });
        let mut v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        v["journal"][0]["priority"] = serde_json::json!(3);
        let text = serde_json::to_string_pretty(&v).unwrap();
        let e = parse_record("f.json", text.as_bytes(), "s").unwrap_err();
        assert!(matches!(e, StateError::Newer { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(
            msg.starts_with(
                "state file `f.json` was written by a newer moat: unknown field `priority`"
            ),
            "{msg}"
        );
        assert!(msg.contains(" at line "), "{msg}");
    }

    #[test]
    fn a_gone_holder_says_so_and_a_renewing_one_is_alive() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        let mut info = LockInfo::new("apply");
        info.pid = pid;
        let mut h = HolderStatus::of(info.clone());
        h.expires_in = Some(Duration::from_secs(41));
        assert_eq!(h.alive(), None);
        assert_eq!(
            h.gone().as_deref(),
            Some(format!("held by pid {pid} on this host, which is no longer running; the lease expires in 41 s").as_str())
        );
        let e = StateError::Locked {
            location: "blob".into(),
            holder: Some(Box::new(info.clone())),
            waited: Duration::from_secs(1),
            stale: true,
            expires_in: Some(Duration::from_secs(41)),
        };
        assert!(
            e.to_string()
                .contains("which is no longer running; the lease expires in 41 s"),
            "{e}"
        );
        // Elsewhere: alive while the lease is renewed on time, unknown after.
        info.who = "ci@elsewhere.invalid".into();
        let mut h = HolderStatus::of(info);
        h.renew_every = Some(Duration::from_secs(20));
        h.renewed_ago = Some(Duration::from_secs(7));
        assert!(h.alive().unwrap().contains("still renewing its lease"));
        h.renewed_ago = Some(Duration::from_secs(45));
        assert_eq!(h.alive(), None);
        assert_eq!(h.gone(), None);
        assert!(
            HolderStatus::of(LockInfo::new("apply"))
                .alive()
                .unwrap()
                .contains("still running")
        );
    }
}
