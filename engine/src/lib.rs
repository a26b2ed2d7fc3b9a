//! The generic batch-scoring engine under stylize: it knows no backend.
//!
//! It owns the job: [`run_job`] walks one from probe to commit for any
//! pipeline (which supplies its plan, shard handler and stitch through
//! [`Pipeline`]). It works on packets and bytes, never on pixels: the probe
//! reads what a video holds, the container plan decides the output's
//! streams, the plan's [`Shard`]s are cut into small standalone segments by
//! stream copy, a [`Task`] travels to a worker over a [`Transport`] that a
//! [`Launcher`] makes, the gather stores results with their digests in the
//! job's [`Manifest`] (keys from its [`JobLayout`]) so a re-run redoes only
//! what is missing, the segments are joined with the source's streams
//! copied untouched, the output appears atomically, and a [`JobReport`]
//! records it all.
//!
//! Backends are adapters behind small traits: a [`Store`] (here: a local
//! directory and [`MemoryStore`]), a [`Remote`] that reaches URLs, a
//! [`Launcher`] (here: [`InProcessLauncher`]). Azure and MPI live in their
//! own crates; the engine's tests run whole jobs in memory.
#![deny(missing_docs)]

mod commit;
mod concat;
mod container;
mod driver;
mod dts_fill;
mod error;
mod gather;
mod hdr;
mod job;
mod job_log;
mod jobs;
mod keepalive;
mod launch;
mod layout;
mod location;
mod memory;
mod output;
pub mod picture;
mod plan;
mod probe;
mod ratio;
mod report;
mod scatter;
pub mod scratch;
mod secret;
mod store;
mod stream_facts;
mod task;
mod time;
mod transport;
mod worker;

pub use concat::{concat, Segment};
pub use container::StreamPlan;
pub use driver::{run_job, Counts, JobSpec, NoProgress, Pipeline, Progress};
pub use dts_fill::DtsFill;
pub use error::{EngineError, Result, TaskErrorKind, TransportError};
pub use job::{digest, file_digest, job_id, FailedAttempt, JobStatus, Manifest, RunningShard, SegmentRecord};
pub use jobs::JobState;
pub use keepalive::while_working;
pub use launch::{InProcessLauncher, JobContext, Launcher};
pub use layout::{JobLayout, JOBS_PREFIX};
pub use location::{existing_store, fetch_input, open_store, Location, NoRemote, Remote};
pub use memory::{MemoryRemote, MemoryStore};
pub use output::{Destination, Overwrite};
pub use picture::Picture;
pub use plan::{Plan, Shard};
pub use probe::{file_url, probe, probe_program, MediaInfo, VideoInfo};
pub use ratio::Ratio;
pub use report::{JobReport, ShardTiming, Transfer, VideoFacts, WorkerSummary};
pub use scatter::ENCODED_SEGMENT_FORMAT;
pub use secret::{redact, REDACTED};
pub use store::{check_writable, Held, LocalStore, Store, WRITE_CHECK_KEY};
pub use task::{
    unix_now, Payload, ResultHeader, Task, TaskError, TaskFailure, TaskHeader, TaskOutput, VideoParams, WorkerId,
};
pub use time::format_time;
pub use transport::{decode_message, encode_message, hostname, scatter_gather, Event, Handler, InProcess, Transport};

/// Reading and cleaning the jobs kept in a store (`stylize jobs`).
pub mod job_state {
    pub use crate::jobs::{clean, list, load, show};
}

/// Initialise FFmpeg once per process and keep its own logging quiet: the
/// engine reports problems through its errors, not through FFmpeg's stderr.
pub fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        ffmpeg_next::init().expect("FFmpeg initialisation cannot fail after linking");
        ffmpeg_next::log::set_level(ffmpeg_next::log::Level::Fatal);
    });
}

/// FFmpeg's version, for `stylize --version`.
pub fn library_versions() -> Vec<(&'static str, String)> {
    // SAFETY: av_version_info returns a static, NUL-terminated string.
    let ffmpeg = unsafe { std::ffi::CStr::from_ptr(ffmpeg_next::ffi::av_version_info()) };
    vec![("FFmpeg", ffmpeg.to_string_lossy().into_owned())]
}
