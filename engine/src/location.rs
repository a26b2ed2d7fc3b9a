//! location: where an input comes from and where a job's store lives: a
//! local path, or a remote location (a URL) that an adapter reaches
//! through [`Remote`]. The engine knows no remote backend: Azure Blob
//! Storage is one adapter (`stylize-azure`), an in-memory store in the
//! tests is another. Only redacted forms of remote locations are shown.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{EngineError, Result};
use crate::secret::redact;
use crate::store::{LocalStore, Store};

/// A file or directory here, or an object or container there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local path.
    Local(PathBuf),
    /// A remote location, as the user gave it (it may hold a secret, such
    /// as a SAS: shown only through [`Location::display`]).
    Remote(String),
}

/// Reaches remote locations: implemented by a storage adapter. The
/// adapter keeps its own settings (which credentials it may use), so the
/// engine passes only the location's text.
pub trait Remote: Send + Sync + fmt::Debug {
    /// Open the store (container) at `url`.
    fn open_store(&self, url: &str) -> Result<Box<dyn Store>>;
    /// Copy the object at `url` into the local file `dst`, streamed.
    fn fetch(&self, url: &str, dst: &Path) -> Result<()>;
    /// The object's path inside its container (`u1/clip.mp4`), which an
    /// output's name keeps; `None` when `url` names no object.
    fn object_path(&self, url: &str) -> Option<String>;
}

/// No remote backend: every remote location is refused in one line.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRemote;

impl NoRemote {
    fn refuse(url: &str) -> EngineError {
        EngineError::BadInput { path: redact(url).into(), reason: "no storage adapter reaches remote locations".into() }
    }
}

impl Remote for NoRemote {
    fn open_store(&self, url: &str) -> Result<Box<dyn Store>> {
        Err(Self::refuse(url))
    }

    fn fetch(&self, url: &str, _dst: &Path) -> Result<()> {
        Err(Self::refuse(url))
    }

    fn object_path(&self, _url: &str) -> Option<String> {
        None
    }
}

impl Location {
    /// For messages and manifests: paths as they are, URLs redacted.
    pub fn display(&self) -> String {
        match self {
            Location::Local(p) => p.display().to_string(),
            Location::Remote(u) => redact(u),
        }
    }

    /// What names this input for its output's name: the canonical path
    /// (so `clip.mp4` and `./clip.mp4` are one), or the URL without its
    /// query (so a new SAS is the same input).
    pub fn identity(&self) -> String {
        match self {
            Location::Local(p) => std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()).display().to_string(),
            Location::Remote(u) => redact(u.split('?').next().unwrap_or(u)),
        }
    }

    /// The input's path as its output keeps it: the object's path in its
    /// container (folders kept: `u1/dup.mp4`), or a local file's name.
    pub fn path_in_container(&self, remote: &dyn Remote) -> String {
        match self {
            Location::Local(_) => self.file_name(),
            Location::Remote(u) => remote.object_path(u).unwrap_or_else(|| self.file_name()),
        }
    }

    /// The file name of the input (for naming the output).
    pub fn file_name(&self) -> String {
        match self {
            Location::Local(p) => p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            Location::Remote(u) => {
                let path = u.split('?').next().unwrap_or(u);
                path.rsplit('/').next().unwrap_or("input").to_string()
            }
        }
    }
}

/// Open the store at `location` (a local one is created when missing).
pub fn open_store(location: &Location, remote: &dyn Remote) -> Result<Box<dyn Store>> {
    match location {
        Location::Local(dir) => Ok(Box::new(LocalStore::open(dir)?)),
        Location::Remote(url) => remote.open_store(url),
    }
}

/// Open a store that must exist already (reading job state must not
/// create the folder it was given).
pub fn existing_store(location: &Location, remote: &dyn Remote) -> Result<Box<dyn Store>> {
    match location {
        Location::Local(dir) => Ok(Box::new(LocalStore::existing(dir)?)),
        Location::Remote(url) => remote.open_store(url),
    }
}

/// The input as a local file: itself, or downloaded (streamed) into
/// `scratch` when remote.
pub fn fetch_input(location: &Location, scratch: &Path, remote: &dyn Remote) -> Result<PathBuf> {
    match location {
        Location::Local(p) => Ok(p.clone()),
        Location::Remote(url) => {
            // A fixed local name: an object's name may be longer than a
            // file name can be (255 bytes); its extension is kept for FFmpeg.
            let name = location.file_name();
            let ext = Path::new(&name).extension().and_then(|e| e.to_str()).filter(|e| e.len() <= 8);
            let dst = scratch.join(ext.map_or_else(|| "input".to_string(), |e| format!("input.{e}")));
            remote.fetch(url, &dst)?;
            Ok(dst)
        }
    }
}
