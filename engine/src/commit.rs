//! commit: the output appears whole or not at all. The pipeline writes it
//! to a temporary file beside its final place (the store's staging
//! directory, or scratch for a remote store); the commit is then a rename
//! locally, or one block-list commit in a container. A failed job leaves no
//! output, only its manifest and segments for the resume.

use std::path::{Path, PathBuf};

use crate::error::{EngineError, Result};
use crate::store::{temp_file_in, Store};

/// Write the output with `write` (given a temporary path) and commit it to
/// `key` in `store`. Returns a local copy of the output (the committed
/// file itself for a local store, a file in `scratch` otherwise), for
/// measuring it. `E` is the caller's error type, so `write` may fail with
/// whatever the pipeline fails with.
/// The temporary file is staged under `staging` (the job's own prefix, on
/// the same disk), where the job's next run removes it if this one is
/// killed half-way.
pub fn commit<E: From<EngineError>>(
    store: &dyn Store,
    key: &str,
    staging: &str,
    scratch: &Path,
    write: impl FnOnce(&Path) -> std::result::Result<(), E>,
) -> std::result::Result<PathBuf, E> {
    let dir = store.staging_dir(staging).unwrap_or_else(|| scratch.to_path_buf());
    let tmp = temp_file_in(&dir)?.into_temp_path();
    write(&tmp)?;
    Ok(publish(store, key, staging, scratch, &dir, tmp)?)
}

fn publish(
    store: &dyn Store,
    key: &str,
    staging: &str,
    scratch: &Path,
    dir: &Path,
    tmp: tempfile::TempPath,
) -> Result<PathBuf> {
    match store.staging_dir(staging) {
        Some(_) => {
            store.commit_file(key, tmp)?;
            Ok(store.local_path(key).unwrap_or_else(|| dir.join(key)))
        }
        None => {
            store.put_file(key, &tmp)?;
            // A fixed local name: an object's name may be longer than a
            // file name can be (255 bytes); its extension is kept for FFmpeg.
            let ext = Path::new(key).extension().and_then(|e| e.to_str()).filter(|e| e.len() <= 8);
            let kept = scratch.join(ext.map_or_else(|| "output".to_string(), |e| format!("output.{e}")));
            tmp.persist(&kept).map_err(|e| EngineError::Io {
                path: kept.clone(),
                op: "keeping output",
                source: e.error,
            })?;
            Ok(kept)
        }
    }
}
