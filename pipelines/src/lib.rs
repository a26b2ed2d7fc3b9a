//! Concrete pipelines on the stylize engine. [`video_style`] is the first:
//! a whole video through a style model, shard by shard, stitched back with
//! its original audio.
#![deny(missing_docs)]

pub mod error;
pub mod flicker;
pub mod styles;
pub mod video_style;

pub use error::PipelineError;
pub use stylize_engine::EngineError;

/// The jobs kept in a store, whatever pipeline made them (`stylize jobs`).
pub mod jobs {
    pub use stylize_engine::job_state::{clean, list, load, show};
    pub use stylize_engine::{JobState, JobStatus, Manifest};
}

/// The libraries this build runs on, for `stylize --version`: FFmpeg and
/// the CUDA devices libtorch sees (libtorch's own version is known when
/// the binary is built; the adapters name theirs).
pub fn library_versions() -> Vec<(&'static str, String)> {
    let mut v = stylize_engine::library_versions();
    let gpus = stylize_models::cuda_devices();
    v.push(("CUDA devices", if gpus > 0 { gpus.to_string() } else { "none".into() }));
    v
}

/// Remove every scratch folder this process made (on Ctrl-C, before the
/// process ends without unwinding).
pub fn remove_scratch() {
    stylize_engine::scratch::remove_all();
}
