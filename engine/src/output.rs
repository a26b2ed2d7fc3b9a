//! output: where a job's result goes, what it is called, and whether it
//! may replace what is there.
//!
//! Names in a store are unique per input path and parameters: the
//! pipeline's readable name (`clip.mosaic`) gets a tag, six hex digits of
//! a digest of the input's identity (its canonical path, or its blob URL
//! without the SAS) and the job's parameters. So `u1/dup.mp4` and
//! `u2/dup.mp4`, `clip.webm` and `clip.mp4`, or two blends with other
//! weights never write one file, and a copy of a video under another name
//! gets its own output (the job id, from the content, still reuses the
//! work). An existing output that is not this job's own is never replaced
//! without leave (`-y`), as with ffmpeg.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::error::{EngineError, Result};
use crate::location::Location;
use crate::store::Store;

/// Where the output goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Destination {
    /// Into the store, under the pipeline's unique name.
    #[default]
    Named,
    /// Into the store, under exactly this key (a blob URL given as `-o`).
    Key(String),
    /// Exactly this local file (`-o clip.out.mp4`); the job's state stays
    /// in the store.
    File(PathBuf),
}

/// May an existing output be replaced?
#[derive(Clone, Default)]
pub enum Overwrite {
    /// Never: refuse before any work (ffmpeg's `-n`, and the default when
    /// nobody can be asked).
    #[default]
    Never,
    /// Always (`-y`; and `watch`, where an upload again under the same
    /// name is new content for the same output).
    Always,
    /// Ask (a terminal): the callback gets the output's name.
    Ask(Arc<dyn Fn(&str) -> bool + Send + Sync>),
}

impl std::fmt::Debug for Overwrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Overwrite::Never => "Never",
            Overwrite::Always => "Always",
            Overwrite::Ask(_) => "Ask",
        })
    }
}

/// The output of one job, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A key in the store.
    Key(String),
    /// A local file outside the store.
    File(PathBuf),
}

impl Target {
    /// How the manifest records it.
    pub fn label(&self) -> String {
        match self {
            Target::Key(k) => k.clone(),
            Target::File(p) => p.display().to_string(),
        }
    }

    /// How a user sees it (the store's path or redacted URL for a key).
    pub fn display(&self, store: &dyn Store) -> String {
        match self {
            Target::Key(k) => match store.local_path(k) {
                Some(p) => p.display().to_string(),
                None => store.describe_key(k),
            },
            Target::File(p) => p.display().to_string(),
        }
    }

    /// Whether something is there already.
    pub fn exists(&self, store: &dyn Store) -> Result<bool> {
        match self {
            Target::Key(k) => store.exists(k),
            Target::File(p) => Ok(p.exists()),
        }
    }

    /// Refuse before any work when the output exists and may not be
    /// replaced.
    pub fn check_overwrite(&self, store: &dyn Store, overwrite: &Overwrite) -> Result<()> {
        if !self.exists(store)? {
            return Ok(());
        }
        let shown = self.display(store);
        let allowed = match overwrite {
            Overwrite::Always => true,
            Overwrite::Never => false,
            Overwrite::Ask(ask) => ask(&shown),
        };
        if allowed {
            Ok(())
        } else {
            Err(EngineError::OutputExists { path: shown.into() })
        }
    }
}

/// Six hex digits naming the input and the parameters, for the output's
/// name.
pub fn name_tag(input: &Location, params: &serde_json::Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(input.identity().as_bytes());
    hasher.update([0]);
    hasher.update(params.to_string().as_bytes());
    hex::encode(hasher.finalize())[..6].to_string()
}

/// Check up front that an output file can be written where it is named:
/// its folder exists, it is not a folder itself, and it is not the input
/// (which `-y` would replace with its own stylized copy).
pub fn check_file_target(path: &Path, input: &Location) -> Result<()> {
    if let (Location::Local(input), Ok(out)) = (input, std::fs::canonicalize(path)) {
        if std::fs::canonicalize(input).is_ok_and(|i| i == out) {
            return Err(EngineError::bad_input(path, "is the input itself; name another output file"));
        }
    }
    if path.is_dir() {
        return Err(EngineError::bad_input(path, "is a directory; name a file, or end the path with / for a store"));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(EngineError::bad_input(path, format!("no such directory: {}", dir.display())));
    }
    Ok(())
}

/// The temporary files of a file output in `dir`: hidden, named after
/// it, so that a killed run's leftover is found and removed by the next.
pub fn file_temp_prefix(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    format!(".{name}.stylize-tmp-")
}

/// Remove what a killed run left beside an output file.
pub fn remove_file_leftovers(path: &Path) {
    let prefix = file_temp_prefix(path);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&prefix) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Write a file output through a temporary file beside it, renamed into
/// place: it appears whole or not at all.
pub fn commit_file<E: From<EngineError>>(
    path: &Path,
    write: impl FnOnce(&Path) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut builder = tempfile::Builder::new();
    let prefix = file_temp_prefix(path);
    builder.prefix(&prefix);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(std::fs::Permissions::from_mode(0o644));
    }
    let tmp = builder.tempfile_in(&dir).map_err(EngineError::io(&dir, "creating temporary file"))?.into_temp_path();
    write(&tmp)?;
    tmp.persist(path).map_err(|e| EngineError::io(path, "renaming into place")(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_tag_follows_the_path_and_the_parameters() {
        let p = json!({ "crf": 18 });
        let a = name_tag(&Location::Remote("https://a.blob.core.windows.net/c/u1/dup.mp4?sig=x".into()), &p);
        let b = name_tag(&Location::Remote("https://a.blob.core.windows.net/c/u2/dup.mp4?sig=x".into()), &p);
        let a2 = name_tag(&Location::Remote("https://a.blob.core.windows.net/c/u1/dup.mp4?sig=other".into()), &p);
        let a3 =
            name_tag(&Location::Remote("https://a.blob.core.windows.net/c/u1/dup.mp4".into()), &json!({ "crf": 20 }));
        assert_eq!(a.len(), 6);
        assert_ne!(a, b, "another folder, another name");
        assert_eq!(a, a2, "the SAS is not part of the input's identity");
        assert_ne!(a, a3, "other parameters, another name");
    }

    #[test]
    fn an_existing_output_is_kept_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::LocalStore::open(dir.path()).unwrap();
        let file = dir.path().join("out.mp4");
        std::fs::write(&file, b"earlier").unwrap();
        let target = Target::File(file.clone());
        let err = target.check_overwrite(&store, &Overwrite::Never).unwrap_err().to_string();
        assert!(err.ends_with("out.mp4: already exists"), "the CLI adds how to allow it: {err}");
        assert!(target.check_overwrite(&store, &Overwrite::Always).is_ok());
        assert!(target.check_overwrite(&store, &Overwrite::Ask(Arc::new(|_| false))).is_err());
        assert!(target.check_overwrite(&store, &Overwrite::Ask(Arc::new(|_| true))).is_ok());
        assert!(Target::File(dir.path().join("new.mp4")).check_overwrite(&store, &Overwrite::Never).is_ok());
    }

    #[test]
    fn a_file_output_is_committed_whole_and_leftovers_go() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("result.mp4");
        let leftover = dir.path().join(format!("{}abc", file_temp_prefix(&out)));
        std::fs::write(&leftover, b"killed half-way").unwrap();
        remove_file_leftovers(&out);
        assert!(!leftover.exists());
        let failed: std::result::Result<(), EngineError> =
            commit_file(&out, |_| Err(EngineError::bad_input("x", "stitch failed")));
        assert!(failed.is_err() && !out.exists(), "no partial output");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "no temporary file left");
        commit_file::<EngineError>(&out, |tmp| std::fs::write(tmp, b"whole").map_err(EngineError::io(tmp, "w")))
            .unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"whole");
    }
}
