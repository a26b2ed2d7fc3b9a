//! task: what travels between the coordinator and the workers, over any
//! transport: a shard with its compressed segment, an encoded segment back,
//! or a typed failure, each naming the worker ([`WorkerId`]) that ran it.
//! Serialisable, so a remote worker's error reaches the coordinator with
//! its kind intact.

use serde::{Deserialize, Serialize};

pub use crate::error::TaskErrorKind;
use crate::plan::Shard;
use crate::ratio::Ratio;
use crate::store::Store;
pub use crate::time::unix_now;
pub use crate::worker::WorkerId;

/// A task's input or output bytes: carried along, or already in the job's
/// store under a key with a known digest (a queue of tasks carries keys,
/// never video, and a segment already stored is never uploaded again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// The bytes themselves.
    Inline(Vec<u8>),
    /// An object in the job's store.
    Stored {
        /// Its key.
        key: String,
        /// SHA-256 of its bytes, hex.
        sha256: String,
        /// Its size.
        bytes: u64,
    },
}

impl Payload {
    /// Size in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Payload::Inline(b) => b.len() as u64,
            Payload::Stored { bytes, .. } => *bytes,
        }
    }

    /// True when it holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes, when carried along.
    pub fn inline(&self) -> Option<&[u8]> {
        match self {
            Payload::Inline(b) => Some(b),
            Payload::Stored { .. } => None,
        }
    }

    /// The bytes, read from `store` when stored there, and checked against
    /// their digest (a damaged or replaced object is an error, not input).
    pub fn fetch(self, store: &dyn Store) -> crate::Result<Vec<u8>> {
        match self {
            Payload::Inline(b) => Ok(b),
            Payload::Stored { key, sha256, .. } => {
                let bytes = store.get(&key)?.ok_or_else(|| crate::EngineError::Corrupt {
                    path: store.describe_key(&key).into(),
                    reason: "stored payload missing".into(),
                })?;
                if crate::job::digest(&bytes) != sha256 {
                    return Err(crate::EngineError::Corrupt {
                        path: store.describe_key(&key).into(),
                        reason: "stored payload does not match its SHA-256".into(),
                    });
                }
                Ok(bytes)
            }
        }
    }
}

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
    pub segment: Payload,
}

/// The description of a finished task.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ResultHeader {
    /// Shard index.
    pub shard: u32,
    /// The worker that did it.
    pub worker: WorkerId,
    /// Frames encoded.
    pub frames: u64,
    /// Seconds the worker spent on the shard.
    pub wall_secs: f64,
    /// Seconds inside the model.
    pub model_secs: f64,
    /// When the worker started and ended the task (seconds since the Unix
    /// epoch, its clock): the job's timeline.
    #[serde(default)]
    pub started: f64,
    /// See `started`.
    #[serde(default)]
    pub ended: f64,
    /// Seconds the worker waited for this task since its last one.
    #[serde(default)]
    pub idle_secs: f64,
    /// CPU seconds the worker's transport used while it waited (an MPI
    /// rank that spins burns a core its node's decoders need).
    #[serde(default)]
    pub idle_cpu_secs: f64,
    /// What the pipeline measured on the shard for its report (flicker
    /// sums), opaque to the engine: kept with the segment's record, so a
    /// resumed job reports its reused shards too.
    #[serde(default)]
    pub figures: Option<serde_json::Value>,
    /// True when the worker told the job's progress of its frames itself
    /// (a thread of the coordinator's process); other workers' frames are
    /// counted as their results arrive. Never sent.
    #[serde(skip)]
    pub progress_told: bool,
}

/// A finished task: its encoded segment.
#[derive(Debug, Clone)]
pub struct TaskOutput {
    /// What was done.
    pub header: ResultHeader,
    /// The encoded segment.
    pub segment: Payload,
}

/// A task that failed on a worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskFailure {
    /// The worker.
    pub worker: WorkerId,
    /// When the attempt started and failed (Unix seconds; 0 when unknown).
    #[serde(default)]
    pub started: f64,
    /// See `started`.
    #[serde(default)]
    pub ended: f64,
    /// The shard.
    pub shard: u32,
    /// The worker's error.
    pub error: TaskError,
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

impl TaskError {
    /// A worker's panic on `shard` as a task failure, with its message
    /// (a panic may pass: a transient failure).
    pub fn panicked(shard: u32, panic: &Box<dyn std::any::Any + Send>) -> Self {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".into());
        TaskError::new(TaskErrorKind::Transient, format!("shard {shard}: the worker panicked: {what}"))
    }
}
