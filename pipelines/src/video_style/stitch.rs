//! stitch: the job's encoded segments, in plan order, joined into the
//! output by stream copy with the source's audio, written to a temporary
//! file beside the final name and renamed into place only when complete.

use std::path::Path;

use stylize_engine::concat::{concat, container_for, Segment};
use stylize_engine::probe::MediaInfo;
use stylize_engine::store::{temp_file_in, LocalStore};

use crate::error::PipelineError;

/// Join `segments` with the audio of `source` and commit the result to
/// `key` in `store`. Nothing appears under `key` unless all of it is there.
pub fn stitch(source: &MediaInfo, segments: &[Segment], store: &LocalStore, key: &str) -> Result<(), PipelineError> {
    let dst = store.path_of(key);
    let dir = dst.parent().unwrap_or(store.root());
    let tmp = temp_file_in(dir)?.into_temp_path();
    concat(source, segments, &tmp, container_for(Path::new(key)))?;
    store.commit_file(key, tmp)?;
    Ok(())
}
