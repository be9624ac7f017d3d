//! The local state backend: `<dir>/<stack>.state.json`, locked through `<dir>/<stack>.lock`.
//!
//! The lock is an OS file lock (`flock` on Unix), so it dies with its holder's process and
//! a killed apply never leaves the stack locked; the lock file also holds the holder's
//! [`LockInfo`] so that a waiter can name it, and so that the next holder learns that the
//! previous one never released (its apply was interrupted).
//!
//! The lock file is never deleted on release (deleting a locked file lets two processes
//! lock two different inodes); only `force_unlock` removes it, and a locker checks after
//! locking that the file it locked is still the one at the path.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::{
    HeldLock, LockGuard, LockInfo, StateBackend, StateError, StateRecord, check_successor,
    parse_record,
};

/// How often a waiting `lock` tries again.
const POLL: Duration = Duration::from_millis(200);

/// State kept in files under a directory.
///
/// The optimistic check of [`StateBackend::write`] catches a writer that works from an
/// old read; two writers racing at the same instant are kept apart only by the lock,
/// which every command that writes takes first.
#[derive(Debug)]
pub struct LocalBackend {
    dir: PathBuf,
    stack: String,
    seen: Mutex<Seen>,
    /// The state file as this process last wrote it (see [`Stamp`]).
    written: Mutex<Option<Stamp>>,
}

/// What a state file looked like on disk: another writer replaces it (a new inode) or
/// rewrites it (a new size or time), so an unchanged stamp means the file still holds the
/// record this process wrote last, and the next write need not read and parse it again (at
/// a thousand resources that read costs as much as the write itself).
#[derive(Debug, Clone, PartialEq)]
struct Stamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    inode: u64,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let m = fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let inode = 0;
    Some(Stamp {
        len: m.len(),
        modified: m.modified().ok(),
        inode,
    })
}

/// What this backend last read or wrote, for the optimistic concurrency check.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Never,
    Absent,
    Present { lineage: String, serial: u64 },
}

impl LocalBackend {
    /// The backend of `stack` under `dir`; the directory is created on first lock or write.
    pub fn new(dir: impl Into<PathBuf>, stack: impl Into<String>) -> Self {
        Self {
            dir: dir.into(),
            stack: stack.into(),
            seen: Mutex::new(Seen::Never),
            written: Mutex::new(None),
        }
    }

    /// `<dir>/<stack>.state.json`.
    pub fn state_path(&self) -> PathBuf {
        self.dir.join(format!("{}.state.json", self.stack))
    }

    /// `<dir>/<stack>.lock`.
    pub fn lock_path(&self) -> PathBuf {
        self.dir.join(format!("{}.lock", self.stack))
    }

    /// The stack's fingerprint key, beside the state file (mode 0600).
    pub fn fingerprint_key_path(&self) -> PathBuf {
        self.dir.join(format!("{}.fingerprint-key", self.stack))
    }

    fn location(&self) -> String {
        self.state_path().display().to_string()
    }

    fn read_stored(&self) -> Result<Option<StateRecord>, StateError> {
        let path = self.state_path();
        match fs::read(&path) {
            Ok(bytes) => parse_record(&self.location(), &bytes, &self.stack).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(io_err("read", &path, source)),
        }
    }

    fn set_seen(&self, seen: Seen) {
        if let Ok(mut s) = self.seen.lock() {
            *s = seen;
        }
    }

    fn seen(&self) -> Seen {
        self.seen.lock().map(|s| s.clone()).unwrap_or(Seen::Never)
    }

    fn create_dir(&self) -> Result<(), StateError> {
        fs::create_dir_all(&self.dir).map_err(|e| io_err("create directory", &self.dir, e))
    }
}

#[async_trait]
impl StateBackend for LocalBackend {
    async fn lock(&self, info: LockInfo, timeout: Duration) -> Result<LockGuard, StateError> {
        self.create_dir()?;
        let path = self.lock_path();
        let began = Instant::now();
        loop {
            let mut file = open_lock_file(&path)?;
            match file.try_lock() {
                Ok(()) => {
                    if !is_current_inode(&file, &path) {
                        // Removed by `force_unlock` while we waited: lock the new file.
                        continue;
                    }
                    let previous = read_lock_info(&mut file);
                    let json = serde_json::to_vec(&info).unwrap_or_default();
                    write_lock_info(&mut file, &json).map_err(|e| io_err("write", &path, e))?;
                    return Ok(LockGuard::new(
                        info,
                        previous,
                        Box::new(LocalHeld { file, path }),
                    ));
                }
                Err(TryLockError::WouldBlock) => {
                    let waited = began.elapsed();
                    if waited >= timeout {
                        let holder = read_lock_info(&mut file);
                        let stale = holder
                            .as_ref()
                            .and_then(LockInfo::holder_is_gone)
                            .unwrap_or(false);
                        return Err(StateError::Locked {
                            location: path.display().to_string(),
                            holder: holder.map(Box::new),
                            waited,
                            stale,
                            expires_in: None,
                        });
                    }
                    drop(file);
                    tokio::time::sleep(POLL.min(timeout - waited)).await;
                }
                Err(TryLockError::Error(e)) => return Err(io_err("lock", &path, e)),
            }
        }
    }

    async fn read(&self) -> Result<Option<StateRecord>, StateError> {
        let record = self.read_stored()?;
        self.set_seen(match &record {
            Some(r) => Seen::Present {
                lineage: r.lineage.clone(),
                serial: r.serial,
            },
            None => Seen::Absent,
        });
        Ok(record)
    }

    async fn write(&self, record: &StateRecord) -> Result<(), StateError> {
        let location = self.location();
        let seen = self.seen();
        let ours = self
            .written
            .lock()
            .ok()
            .and_then(|w| w.clone())
            .filter(|w| stamp(&self.state_path()).as_ref() == Some(w));
        let now = match ours {
            // Still the file this process wrote: what it holds is what we saw.
            Some(_) => seen.clone(),
            None => match self.read_stored()? {
                Some(r) => Seen::Present {
                    lineage: r.lineage,
                    serial: r.serial,
                },
                None => Seen::Absent,
            },
        };
        if seen == Seen::Never {
            return Err(StateError::Conflict {
                location,
                reason: "read the state before writing it".to_owned(),
            });
        }
        if seen != now {
            return Err(StateError::Conflict {
                location,
                reason: "the stored record changed since it was read (another writer?)".to_owned(),
            });
        }
        let stored = match &now {
            Seen::Present { lineage, serial } => Some((lineage.as_str(), *serial)),
            _ => None,
        };
        check_successor(&location, &self.stack, stored, record)?;
        self.create_dir()?;
        let bytes = record.to_json().into_bytes();
        let dir = self.dir.clone();
        let path = self.state_path();
        tokio::task::spawn_blocking(move || write_atomic(&dir, &path, &bytes))
            .await
            .map_err(|e| io_err("write", &self.state_path(), std::io::Error::other(e)))??;
        if let Ok(mut w) = self.written.lock() {
            *w = stamp(&self.state_path());
        }
        self.set_seen(Seen::Present {
            lineage: record.lineage.clone(),
            serial: record.serial,
        });
        Ok(())
    }

    async fn fingerprint_key(&self) -> Result<Vec<u8>, StateError> {
        let path = self.fingerprint_key_path();
        match fs::read_to_string(&path) {
            Ok(text) => return super::parse_fingerprint_key(&path.display().to_string(), &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("read", &path, e)),
        }
        self.create_dir()?;
        // Written whole under a temporary name (0600), then linked into place: a reader sees
        // no key or the whole key, and of two runs creating it at once the first link wins
        // and the other reads the winner's.
        let tmp = self.dir.join(format!(
            ".{}.fingerprint-key.{}.{}.tmp",
            self.stack,
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let created = (|| {
            let mut opts = OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts.open(&tmp).map_err(|e| io_err("create", &tmp, e))?;
            f.write_all(super::new_fingerprint_key().as_bytes())
                .and_then(|()| f.write_all(b"\n"))
                .and_then(|()| f.sync_all())
                .map_err(|e| io_err("write", &tmp, e))?;
            match fs::hard_link(&tmp, &path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                Err(e) => Err(io_err("create", &path, e)),
            }
        })();
        let _ = fs::remove_file(&tmp);
        created?;
        let text = fs::read_to_string(&path).map_err(|e| io_err("read", &path, e))?;
        super::parse_fingerprint_key(&path.display().to_string(), &text)
    }

    async fn holder(&self) -> Result<Option<LockInfo>, StateError> {
        let path = self.lock_path();
        match File::open(&path) {
            Ok(mut f) => Ok(read_lock_info(&mut f)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err("read", &path, e)),
        }
    }

    async fn force_unlock(&self) -> Result<Option<LockInfo>, StateError> {
        let path = self.lock_path();
        let mut file = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("open", &path, e)),
        };
        let holder = read_lock_info(&mut file);
        match file.try_lock() {
            Ok(()) => {
                // Free already: only a dead holder's record is left; clear it.
                file.set_len(0).map_err(|e| io_err("write", &path, e))?;
                let _ = file.unlock();
            }
            Err(TryLockError::WouldBlock) => {
                // An OS lock cannot be taken from another process; removing the file makes
                // every later locker use a new one, which breaks the lock for them.
                fs::remove_file(&path).map_err(|e| io_err("remove", &path, e))?;
            }
            Err(TryLockError::Error(e)) => return Err(io_err("lock", &path, e)),
        }
        Ok(holder)
    }

    fn describe(&self) -> String {
        self.location()
    }
}

struct LocalHeld {
    file: File,
    path: PathBuf,
}

impl LocalHeld {
    fn release_now(&self) -> Result<(), StateError> {
        // Cleared before unlocking, so that a record left in the file always means "not
        // released".
        self.file
            .set_len(0)
            .map_err(|e| io_err("write", &self.path, e))?;
        self.file
            .unlock()
            .map_err(|e| io_err("unlock", &self.path, e))
    }
}

#[async_trait]
impl HeldLock for LocalHeld {
    async fn release(self: Box<Self>) -> Result<(), StateError> {
        self.release_now()
    }

    fn release_on_drop(self: Box<Self>) {
        let _ = self.release_now();
    }
}

fn io_err(action: &'static str, path: &Path, source: std::io::Error) -> StateError {
    StateError::Io {
        action,
        path: path.display().to_string(),
        source,
    }
}

fn open_lock_file(path: &Path) -> Result<File, StateError> {
    let mut opts = OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path).map_err(|e| io_err("open", path, e))
}

#[cfg(unix)]
fn is_current_inode(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), fs::metadata(path)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn is_current_inode(_file: &File, path: &Path) -> bool {
    path.exists()
}

fn read_lock_info(file: &mut File) -> Option<LockInfo> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(text.trim()).ok()
}

fn write_lock_info(file: &mut File, json: &[u8]) -> std::io::Result<()> {
    file.set_len(0)?;
    file.seek(SeekFrom::Start(0))?;
    file.write_all(json)?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// Writes `bytes` to `path` so that a reader sees the old file or the new one, never a
/// part, even across a crash: temporary file in the same directory, fsync, rename, fsync
/// of the directory.
fn write_atomic(dir: &Path, path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.{}.{}.tmp",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ));
    let result = (|| {
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
        let mut f = opts.open(&tmp).map_err(|e| io_err("create", &tmp, e))?;
        f.write_all(bytes).map_err(|e| io_err("write", &tmp, e))?;
        f.sync_all().map_err(|e| io_err("sync", &tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| io_err("replace", path, e))?;
        #[cfg(unix)]
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io_err("sync", dir, e))?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
