//! stitch: the job's encoded segments, in plan order, joined into the
//! output by stream copy with the source's audio, written to a temporary
//! file beside the final name and renamed into place only when complete.

use std::path::{Path, PathBuf};

use stylize_engine::concat::{concat, Segment};
use stylize_engine::container::StreamPlan;
use stylize_engine::probe::MediaInfo;
use stylize_engine::store::{temp_file_in, Store};

use crate::error::PipelineError;

/// Join `segments` with the audio of `source` and commit the result to
/// `key` in `store`. Nothing appears under `key` unless all of it is there:
/// locally a rename, remotely one block-list commit. Returns a local copy
/// of the output (the committed file itself for a local store, a file in
/// `scratch` otherwise), for measuring it.
pub fn stitch(
    source: &MediaInfo,
    streams: &StreamPlan,
    segments: &[Segment],
    store: &dyn Store,
    key: &str,
    scratch: &Path,
) -> Result<PathBuf, PipelineError> {
    let dir = store.staging_dir(key).unwrap_or_else(|| scratch.to_path_buf());
    let tmp = temp_file_in(&dir)?.into_temp_path();
    concat(source, segments, &tmp, streams)?;
    match store.staging_dir(key) {
        Some(_) => {
            store.commit_file(key, tmp)?;
            Ok(store.local_path(key).unwrap_or_else(|| dir.join(key)))
        }
        None => {
            store.put_file(key, &tmp)?;
            let kept = scratch.join(format!(
                "output-{}",
                Path::new(key).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
            ));
            tmp.persist(&kept).map_err(|e| stylize_engine::EngineError::Io {
                path: kept.clone(),
                op: "keeping output",
                source: e.error,
            })?;
            Ok(kept)
        }
    }
}
