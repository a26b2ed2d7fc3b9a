//! task: what travels between the coordinator and the workers, over any
//! transport: a shard with its compressed segment, an encoded segment back,
//! or a typed failure. Serialisable, so an MPI rank's error reaches rank 0
//! with its kind intact.

use serde::{Deserialize, Serialize};

use crate::plan::Shard;
use crate::probe::Ratio;

/// What a worker needs to know about the video besides the shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VideoParams {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The source stream's time base.
    pub time_base: Ratio,
    /// The nominal frame rate.
    pub frame_rate: Ratio,
    /// The source's pixel coding (colour, depth, chroma, aspect, fields).
    #[serde(default)]
    pub picture: crate::picture::Picture,
}

/// The description of a task; the segment bytes travel beside it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskHeader {
    /// The job the shard belongs to.
    pub job: String,
    /// The shard.
    pub shard: Shard,
    /// The video's geometry and timing.
    pub video: VideoParams,
    /// The job's parameters (what its id digests), as the coordinator
    /// resolved them: a worker takes its settings from here rather than
    /// from its own command line, so every rank runs the same job (a
    /// `--precision auto` resolved on rank 0, say).
    #[serde(default)]
    pub params: serde_json::Value,
}

/// A shard and its compressed source segment.
#[derive(Debug, Clone)]
pub struct Task {
    /// What to do.
    pub header: TaskHeader,
    /// The stream-copied source segment.
    pub segment: Vec<u8>,
}

/// The description of a finished task.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ResultHeader {
    /// Shard index.
    pub shard: u32,
    /// Rank that did it (0 in-process).
    pub rank: i32,
    /// Frames encoded.
    pub frames: u64,
    /// Seconds the worker spent on the shard.
    pub wall_secs: f64,
    /// Seconds inside the model.
    pub model_secs: f64,
    /// The node the rank runs on.
    #[serde(default)]
    pub host: String,
    /// Seconds the rank waited for this task since its last one.
    #[serde(default)]
    pub idle_secs: f64,
    /// CPU seconds the rank's MPI thread used while it waited (a rank
    /// that spins in MPI burns a core its node's decoders need).
    #[serde(default)]
    pub idle_cpu_secs: f64,
    /// What the pipeline measured on the shard for its report (flicker
    /// sums), opaque to the engine: kept with the segment's record, so a
    /// resumed job reports its reused shards too.
    #[serde(default)]
    pub figures: Option<serde_json::Value>,
}

/// A finished task: its encoded segment.
#[derive(Debug, Clone)]
pub struct TaskOutput {
    /// What was done.
    pub header: ResultHeader,
    /// The encoded segment.
    pub segment: Vec<u8>,
}

/// A task that failed on a worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskFailure {
    /// Rank of the worker.
    pub rank: i32,
    /// The node it runs on.
    #[serde(default)]
    pub host: String,
    /// The shard.
    pub shard: u32,
    /// The worker's error.
    pub error: TaskError,
}

/// What kind of failure a task met: what decides whether a job is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskErrorKind {
    /// The input cannot be processed (undecodable frames, missing frames):
    /// running again gives the same failure.
    BadInput,
    /// The model cannot be loaded or run on these frames: permanent too.
    Model,
    /// A local file operation failed (disk full, permissions).
    Io,
    /// The store could not be read or written.
    Storage,
    /// Anything that may pass (a worker lost, an injected fault).
    Transient,
}

impl TaskErrorKind {
    /// True when running the same job again cannot help.
    pub fn is_permanent(self) -> bool {
        matches!(self, TaskErrorKind::BadInput | TaskErrorKind::Model)
    }
}

/// A worker's failure: its kind and one line naming the cause.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{message}")]
pub struct TaskError {
    /// What kind of failure.
    pub kind: TaskErrorKind,
    /// The cause, one line (names the shard).
    pub message: String,
}

impl TaskError {
    /// A failure of `kind` with `message`.
    pub fn new(kind: TaskErrorKind, message: impl Into<String>) -> Self {
        TaskError { kind, message: message.into() }
    }
}
