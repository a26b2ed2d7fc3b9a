//! store: where job state and outputs live. A small trait with one
//! implementation per backend (a local directory now, Azure Blob Storage
//! next), so a whole job runs in tests without a cloud.
//!
//! Every write is atomic: an object is either absent or complete. Locally
//! that is a temporary file in the same directory, synced, then renamed.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{EngineError, Result};

/// Keys are `/`-separated relative paths such as `jobs/<id>/manifest.json`.
pub trait Store: Send + Sync {
    /// Where the store is, for messages (never holds a secret).
    fn describe(&self) -> String;
    /// Where `key` is, for messages (never holds a secret). A URL store
    /// puts the key in the path, before its (redacted) query.
    fn describe_key(&self, key: &str) -> String {
        format!("{}/{key}", self.describe())
    }
    /// Read a whole object, `None` when absent.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>>;
    /// Write a whole object atomically.
    fn put(&self, key: &str, bytes: &[u8]) -> Result<()>;
    /// Copy a local file into the store atomically.
    fn put_file(&self, key: &str, src: &Path) -> Result<()>;
    /// Copy an object to a local file; false when absent.
    fn get_file(&self, key: &str, dst: &Path) -> Result<bool>;
    /// Keys under a prefix, sorted.
    fn list(&self, prefix: &str) -> Result<Vec<String>>;
    /// Remove every object under a prefix.
    fn delete_prefix(&self, prefix: &str) -> Result<()>;

    /// Whether the object exists.
    fn exists(&self, key: &str) -> Result<bool> {
        Ok(self.list(key)?.iter().any(|k| k == key))
    }

    /// The object as a local file, when the store is on this disk (no
    /// copy needed); `None` for remote stores.
    fn local_path(&self, _key: &str) -> Option<PathBuf> {
        None
    }

    /// Where to write a file that will become `key`, so that committing it
    /// is a rename; `None`: anywhere (it is uploaded).
    fn staging_dir(&self, _key: &str) -> Option<PathBuf> {
        None
    }

    /// Make a finished local file the object `key`, atomically.
    fn commit_file(&self, key: &str, src: tempfile::TempPath) -> Result<()> {
        self.put_file(key, &src)
    }

    /// Hold `key` against every other process until the guard drops, so
    /// one job runs once at a time across submits and watchers; waits
    /// while another holds it (`waiting` is called once, then).
    fn lock(&self, key: &str, waiting: &dyn Fn()) -> Result<Held>;

    /// Remove temporary files that writes under `prefix` left when their
    /// process was killed (call only while holding the prefix's lock).
    fn remove_leftovers(&self, _prefix: &str) -> Result<()> {
        Ok(())
    }
}

/// The one key write checks use: every check overwrites it, so a store
/// whose credentials cannot delete keeps one empty object, not one a run.
pub const WRITE_CHECK_KEY: &str = ".write-check";

/// Check up front that `store` takes writes (a read-only or expired SAS,
/// a wrong container): a small object written and removed again.
pub fn check_writable(store: &dyn Store) -> Result<()> {
    store.put(WRITE_CHECK_KEY, b"")?;
    // Without delete permission the empty object stays; writing is what counts.
    let _ = store.delete_prefix(WRITE_CHECK_KEY);
    Ok(())
}

/// A held lock; dropping it lets the next holder in.
pub struct Held(#[allow(dead_code)] Box<dyn Send>);

impl Held {
    /// A lock held by `guard` (released when it drops).
    pub fn new(guard: impl Send + 'static) -> Self {
        Held(Box::new(guard))
    }
}

/// A store in a local directory: the default, no account needed.
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    /// Open a store that must exist already (for reading it: listing
    /// jobs must not create the folder it was given).
    pub fn existing(root: &Path) -> Result<Self> {
        if !root.is_dir() {
            return Err(EngineError::bad_input(root, "no such store directory"));
        }
        Ok(LocalStore { root: root.to_path_buf() })
    }

    /// Open (creating if needed) a store rooted at `root`, and check it
    /// can be written before any work starts.
    pub fn open(root: &Path) -> Result<Self> {
        std::fs::create_dir_all(root)
            .map_err(|e| EngineError::bad_input(root, format!("cannot create store directory ({})", io_reason(&e))))?;
        let probe = tempfile::NamedTempFile::new_in(root).map_err(|e| {
            EngineError::bad_input(root, format!("store directory is not writable ({})", io_reason(&e)))
        })?;
        drop(probe);
        Ok(LocalStore { root: root.to_path_buf() })
    }

    /// The directory on disk.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file behind a key.
    pub fn path_of(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }

    fn write_atomic(&self, key: &str, fill: impl FnOnce(&mut File) -> std::io::Result<()>) -> Result<()> {
        let dst = self.path_of(key);
        let dir = dst.parent().unwrap_or(&self.root).to_path_buf();
        std::fs::create_dir_all(&dir).map_err(EngineError::io(&dir, "creating directory"))?;
        let mut tmp = temp_file_in(&dir)?;
        fill(tmp.as_file_mut()).map_err(EngineError::io(&dst, "writing"))?;
        tmp.as_file().sync_all().map_err(EngineError::io(&dst, "syncing"))?;
        tmp.persist(&dst).map_err(|e| EngineError::io(&dst, "renaming into place")(e.error))?;
        Ok(())
    }
}

impl Store for LocalStore {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let path = self.path_of(key);
        match std::fs::read(&path) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(EngineError::io(path, "reading")(e)),
        }
    }

    fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        self.write_atomic(key, |f| f.write_all(bytes))
    }

    fn put_file(&self, key: &str, src: &Path) -> Result<()> {
        let mut input = File::open(src).map_err(EngineError::io(src, "opening"))?;
        self.write_atomic(key, |f| std::io::copy(&mut input, f).map(drop))
    }

    fn get_file(&self, key: &str, dst: &Path) -> Result<bool> {
        let path = self.path_of(key);
        match std::fs::copy(&path, dst) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(EngineError::io(path, "copying")(e)),
        }
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        let base = self.path_of(prefix);
        let mut stack = vec![base];
        while let Some(dir) = stack.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(EngineError::io(dir, "listing")(e)),
            };
            for entry in entries {
                let entry = entry.map_err(EngineError::io(&dir, "listing"))?;
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(rel) = path.strip_prefix(&self.root) {
                    let key = rel.to_string_lossy().replace('\\', "/");
                    // Temporary files of writes in progress are not objects.
                    if !rel.file_name().is_some_and(|n| n.to_string_lossy().starts_with(".tmp")) {
                        keys.push(key);
                    }
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    fn delete_prefix(&self, prefix: &str) -> Result<()> {
        let path = self.path_of(prefix);
        if path.is_file() {
            return std::fs::remove_file(&path).map_err(EngineError::io(path, "removing"));
        }
        match std::fs::remove_dir_all(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(EngineError::io(path, "removing")(e)),
        }
    }

    fn local_path(&self, key: &str) -> Option<PathBuf> {
        let path = self.path_of(key);
        path.is_file().then_some(path)
    }

    fn exists(&self, key: &str) -> Result<bool> {
        Ok(self.path_of(key).is_file())
    }

    fn staging_dir(&self, key: &str) -> Option<PathBuf> {
        let dir = self.path_of(key).parent().map(Path::to_path_buf).unwrap_or_else(|| self.root.clone());
        std::fs::create_dir_all(&dir).ok().map(|_| dir)
    }

    /// An OS file lock (`flock`): released by the kernel when the process
    /// dies, so a killed run never leaves the job locked.
    fn lock(&self, key: &str, waiting: &dyn Fn()) -> Result<Held> {
        let path = self.path_of(key);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(EngineError::io(dir, "creating directory"))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(EngineError::io(&path, "opening lock"))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                waiting();
                file.lock().map_err(EngineError::io(&path, "locking"))?;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(EngineError::io(&path, "locking")(e)),
        }
        Ok(Held::new(file))
    }

    fn remove_leftovers(&self, prefix: &str) -> Result<()> {
        let mut stack = vec![self.path_of(prefix)];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if entry.file_name().to_string_lossy().starts_with(".tmp") {
                    tracing::debug!(file = %path.display(), "removing a killed run's temporary file");
                    std::fs::remove_file(&path).map_err(EngineError::io(&path, "removing"))?;
                }
            }
        }
        Ok(())
    }

    /// Same filesystem: a rename; otherwise copy then rename.
    fn commit_file(&self, key: &str, src: tempfile::TempPath) -> Result<()> {
        let dst = self.path_of(key);
        if let Some(dir) = dst.parent() {
            std::fs::create_dir_all(dir).map_err(EngineError::io(dir, "creating directory"))?;
        }
        match src.persist(&dst) {
            Ok(()) => Ok(()),
            Err(e) => {
                let src = e.path;
                self.put_file(key, &src)
            }
        }
    }
}

/// A temporary file beside its final name, readable by others once
/// committed like any file the user writes (tempfile's default is 0600).
pub fn temp_file_in(dir: &Path) -> Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    builder.prefix(".tmp-");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    builder.tempfile_in(dir).map_err(EngineError::io(dir, "creating temporary file"))
}

/// The OS reason alone ("Permission denied"), without Rust's "(os error 13)".
fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_get_list_delete_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::open(dir.path()).unwrap();
        store.put("jobs/a/manifest.json", b"{}").unwrap();
        store.put("jobs/a/segments/00001.nut", b"xyz").unwrap();
        assert_eq!(store.get("jobs/a/manifest.json").unwrap().unwrap(), b"{}");
        assert_eq!(store.get("jobs/b").unwrap(), None);
        assert_eq!(store.list("jobs/a").unwrap(), vec!["jobs/a/manifest.json", "jobs/a/segments/00001.nut"]);
        store.delete_prefix("jobs/a").unwrap();
        assert!(store.list("jobs").unwrap().is_empty());
    }

    #[test]
    fn unwritable_root_is_refused_up_front() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain-file");
        std::fs::write(&file, b"x").unwrap();
        let err = LocalStore::open(&file.join("out")).unwrap_err().to_string();
        assert!(err.contains("plain-file/out") && err.contains("cannot create store directory"), "{err}");
    }
}
