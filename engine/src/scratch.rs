//! scratch: every temporary folder a run makes lives under one folder of
//! its own, `$TMPDIR/stylize-<pid>`, so an interrupted run can remove all
//! of it at once, and the next run can remove what a killed one left.
//! Before, each interrupted run left two `/tmp/.tmp*` folders behind for
//! good. A root is left alone while its process holds the lock on its
//! `.lock` file (the kernel drops it when the process dies): a pid alone is
//! not enough where containers share `/tmp` but not their process ids.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

const PREFIX: &str = "stylize-";

/// This process's scratch root, made on first use; leftovers of dead
/// processes are removed then.
pub fn root() -> std::io::Result<&'static Path> {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    if let Some(root) = ROOT.get() {
        return Ok(root);
    }
    // One thread makes it (and takes its lock); the others wait, then use it.
    let _making = MAKING.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(root) = ROOT.get() {
        return Ok(root);
    }
    let base = std::env::temp_dir();
    remove_stale(&base);
    let dir = base.join(format!("{PREFIX}{}", std::process::id()));
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.recursive(true).create(&dir)?;
    if std::fs::symlink_metadata(&dir)?.file_type().is_symlink() {
        return Err(std::io::Error::other(format!("{} is a symbolic link", dir.display())));
    }
    // Held for the life of the process (never released: the static keeps it).
    static LOCK: OnceLock<std::fs::File> = OnceLock::new();
    let lock = std::fs::File::create(dir.join(".lock"))?;
    lock.try_lock().map_err(|e| std::io::Error::other(format!("{}: {e}", dir.display())))?;
    let _ = LOCK.set(lock);
    Ok(ROOT.get_or_init(|| dir))
}

/// A temporary folder under the root (removed when dropped).
pub fn tempdir() -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new().prefix("job-").tempdir_in(root()?)
}

/// Remove this process's whole scratch root (on an interrupt, before
/// exiting: the `TempDir`s' own drops will not run).
pub fn remove_all() {
    let dir = std::env::temp_dir().join(format!("{PREFIX}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(dir);
}

/// Scratch roots whose process no longer runs.
fn remove_stale(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)).and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if pid != std::process::id() && !alive(pid) && !locked(&entry.path()) {
            tracing::debug!(dir = %entry.path().display(), "removing a killed run's scratch");
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether a live process holds the root's lock.
fn locked(dir: &Path) -> bool {
    match std::fs::File::open(dir.join(".lock")) {
        Ok(f) => matches!(f.try_lock(), Err(std::fs::TryLockError::WouldBlock)),
        Err(_) => false,
    }
}

/// Whether process `pid` exists (Linux: its `/proc` entry). Where `/proc`
/// is missing, every process counts as alive, so nothing is removed.
fn alive(pid: u32) -> bool {
    !Path::new("/proc/self").exists() || Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_process_scratch_is_removed_and_a_live_one_kept() {
        let base = tempfile::tempdir().unwrap();
        // pid_max on Linux is at most 2^22: this pid cannot run.
        let dead = base.path().join(format!("{PREFIX}{}", 1u32 << 23));
        let live = base.path().join(format!("{PREFIX}1"));
        let other = base.path().join("stylize-notapid");
        for d in [&dead, &live, &other] {
            std::fs::create_dir_all(d.join("job-x")).unwrap();
        }
        remove_stale(base.path());
        assert!(!dead.exists(), "a dead process's scratch stays");
        assert!(live.exists() && other.exists());
    }
}
