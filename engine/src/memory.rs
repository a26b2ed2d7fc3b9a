//! memory: a [`Store`] held in this process, and the [`Remote`] that
//! opens it: what the engine's own tests run whole jobs on (no disk
//! layout, no cloud), and a second implementation that keeps the trait
//! honest. Clones share the same objects, so a test can look inside the
//! store a job wrote.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use crate::error::{EngineError, Result};
use crate::location::Remote;
use crate::store::{Held, Store};

#[derive(Debug, Default)]
struct Shared {
    objects: Mutex<BTreeMap<String, Vec<u8>>>,
    writes: Mutex<BTreeMap<String, usize>>,
    locks: Mutex<BTreeSet<String>>,
    unlocked: Condvar,
}

/// Objects in memory, shared by every clone.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    name: String,
    shared: Arc<Shared>,
}

impl MemoryStore {
    /// An empty store, shown as `memory://<name>`.
    pub fn new(name: &str) -> Self {
        MemoryStore { name: name.to_string(), shared: Arc::default() }
    }

    /// Every key, sorted (for tests to look inside).
    pub fn keys(&self) -> Vec<String> {
        self.objects().keys().cloned().collect()
    }

    /// How many times `key` was written (a test's proof that an object
    /// already stored is not uploaded again).
    pub fn writes(&self, key: &str) -> usize {
        self.shared.writes.lock().unwrap_or_else(|e| e.into_inner()).get(key).copied().unwrap_or(0)
    }

    fn objects(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        self.shared.objects.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Releases a memory lock when dropped.
struct Unlock {
    shared: Arc<Shared>,
    key: String,
}

impl Drop for Unlock {
    fn drop(&mut self) {
        self.shared.locks.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.key);
        self.shared.unlocked.notify_all();
    }
}

impl Store for MemoryStore {
    fn describe(&self) -> String {
        format!("memory://{}", self.name)
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.objects().get(key).cloned())
    }

    fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        self.objects().insert(key.to_string(), bytes.to_vec());
        *self.shared.writes.lock().unwrap_or_else(|e| e.into_inner()).entry(key.to_string()).or_default() += 1;
        Ok(())
    }

    fn put_file(&self, key: &str, src: &Path) -> Result<()> {
        let bytes = std::fs::read(src).map_err(EngineError::io(src, "reading"))?;
        self.put(key, &bytes)
    }

    fn get_file(&self, key: &str, dst: &Path) -> Result<bool> {
        let Some(bytes) = self.get(key)? else { return Ok(false) };
        std::fs::write(dst, bytes).map_err(EngineError::io(dst, "writing"))?;
        Ok(true)
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        Ok(self.objects().keys().filter(|k| k.starts_with(prefix)).cloned().collect())
    }

    fn delete_prefix(&self, prefix: &str) -> Result<()> {
        self.objects().retain(|k, _| !k.starts_with(prefix));
        Ok(())
    }

    fn exists(&self, key: &str) -> Result<bool> {
        Ok(self.objects().contains_key(key))
    }

    fn lock(&self, key: &str, waiting: &dyn Fn()) -> Result<Held> {
        let mut locks = self.shared.locks.lock().unwrap_or_else(|e| e.into_inner());
        if locks.contains(key) {
            waiting();
        }
        while locks.contains(key) {
            locks = self.shared.unlocked.wait(locks).unwrap_or_else(|e| e.into_inner());
        }
        locks.insert(key.to_string());
        Ok(Held::new(Unlock { shared: self.shared.clone(), key: key.to_string() }))
    }
}

/// Opens `memory://<name>` locations as the one [`MemoryStore`] of that
/// name (made on first use), and fetches `memory://<name>/<key>` objects.
#[derive(Debug, Clone, Default)]
pub struct MemoryRemote {
    stores: Arc<Mutex<BTreeMap<String, MemoryStore>>>,
}

impl MemoryRemote {
    /// The store named `name` (the same one every job opens).
    pub fn store(&self, name: &str) -> MemoryStore {
        let mut stores = self.stores.lock().unwrap_or_else(|e| e.into_inner());
        stores.entry(name.to_string()).or_insert_with(|| MemoryStore::new(name)).clone()
    }

    fn split(url: &str) -> Result<(&str, Option<&str>)> {
        let rest = url
            .strip_prefix("memory://")
            .ok_or_else(|| EngineError::BadInput { path: url.into(), reason: "not a memory:// location".into() })?;
        Ok(match rest.split_once('/') {
            Some((name, key)) => (name, Some(key)),
            None => (rest, None),
        })
    }
}

impl Remote for MemoryRemote {
    fn open_store(&self, url: &str) -> Result<Box<dyn Store>> {
        Ok(Box::new(self.store(Self::split(url)?.0)))
    }

    fn fetch(&self, url: &str, dst: &Path) -> Result<()> {
        let (name, key) = Self::split(url)?;
        let found = match key {
            Some(key) => self.store(name).get_file(key, dst)?,
            None => false,
        };
        if found {
            Ok(())
        } else {
            Err(EngineError::BadInput { path: url.into(), reason: "no such object".into() })
        }
    }

    fn object_path(&self, url: &str) -> Option<String> {
        Self::split(url).ok()?.1.map(str::to_string)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_objects_and_locks_exclude() {
        let a = MemoryStore::new("t");
        let b = a.clone();
        a.put("jobs/x/manifest.json", b"{}").unwrap();
        assert_eq!(b.list("jobs/").unwrap(), vec!["jobs/x/manifest.json"]);
        b.delete_prefix("jobs/x").unwrap();
        assert!(a.keys().is_empty());

        let held = a.lock("jobs/x/lock", &|| panic!("nobody holds it yet")).unwrap();
        let waited = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (b2, w2) = (b.clone(), waited.clone());
        let t = std::thread::spawn(move || {
            let _second = b2.lock("jobs/x/lock", &|| w2.store(true, std::sync::atomic::Ordering::SeqCst)).unwrap();
        });
        while !waited.load(std::sync::atomic::Ordering::SeqCst) {
            std::thread::yield_now();
        }
        drop(held);
        t.join().unwrap();
    }
}
