//! The generic batch-scoring engine under stylize.
//!
//! It owns the job: [`driver`] walks one from probe to commit for any
//! pipeline (which supplies its plan, shard handler and stitch through
//! [`driver::Pipeline`]). It works on packets and bytes, never on pixels:
//! [`probe`] reads what a video holds, [`container`] decides the output's
//! container and streams, [`plan`] holds the shard types, [`scatter`] cuts
//! a shard into a small standalone segment by stream copy, [`task`] is
//! what travels to workers and back over a [`transport`] (chosen by
//! [`launch`]), [`gather`] stores results with their digests in the job's
//! manifest ([`job`]) so a re-run redoes only what is missing, [`concat`]
//! joins segments and copies the source's streams untouched, [`commit`]
//! makes the output appear atomically, and [`report`] records it all.
#![deny(missing_docs)]

pub mod azure;
pub mod commit;
pub mod concat;
pub mod container;
pub mod driver;
pub mod error;
pub mod gather;
pub mod job;
pub mod launch;
pub mod location;
pub mod output;
pub mod picture;
pub mod plan;
pub mod probe;
pub mod report;
pub mod scatter;
pub mod scratch;
pub mod store;
pub mod task;
pub mod transport;

pub use error::{EngineError, Result};

/// Initialise FFmpeg once per process and keep its own logging quiet: the
/// engine reports problems through its errors, not through FFmpeg's stderr.
pub fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        ffmpeg_next::init().expect("FFmpeg initialisation cannot fail after linking");
        ffmpeg_next::log::set_level(ffmpeg_next::log::Level::Fatal);
    });
}

/// FFmpeg's and the MPI library's versions, for `stylize --version`.
pub fn library_versions() -> Vec<(&'static str, String)> {
    // SAFETY: av_version_info returns a static, NUL-terminated string.
    let ffmpeg = unsafe { std::ffi::CStr::from_ptr(ffmpeg_next::ffi::av_version_info()) };
    // MPI_Get_library_version may be called before MPI_Init.
    let mpi = ::mpi::environment::library_version()
        .map(|v| v.split([',', '\n']).next().unwrap_or_default().trim().to_string())
        .unwrap_or_else(|_| "unknown".into());
    vec![("FFmpeg", ffmpeg.to_string_lossy().into_owned()), ("MPI", mpi)]
}
