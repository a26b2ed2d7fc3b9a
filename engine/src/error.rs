//! One error type for the engine. Every variant names the file (or key) it
//! is about, because the CLI prints exactly one line per error and a user
//! must be able to act on it without a backtrace.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// What can go wrong in the engine: reading media, cutting and joining
/// segments, and the store.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The input could not be used as a video, with the reason in words.
    #[error("{}: {reason}", path.display())]
    BadInput {
        /// The file at fault.
        path: PathBuf,
        /// Why it was refused.
        reason: String,
    },
    /// FFmpeg failed while doing `op` on `path`.
    #[error("{}: {op}: {source}", path.display())]
    Media {
        /// The file being read or written.
        path: PathBuf,
        /// What the engine was doing.
        op: &'static str,
        /// FFmpeg's own error.
        #[source]
        source: ffmpeg_next::Error,
    },
    /// A filesystem operation failed.
    #[error("{}: {op}: {source}", path.display())]
    Io {
        /// The path of the failed operation.
        path: PathBuf,
        /// What the engine was doing.
        op: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A worker failed a task; the job stops.
    #[error("{worker}: {message}")]
    Worker {
        /// The worker.
        worker: crate::worker::WorkerId,
        /// The shard it was working on.
        shard: u32,
        /// What kind of failure (decides retries).
        kind: TaskErrorKind,
        /// Its error (which names the shard).
        message: String,
    },
    /// A remote store or queue failed. `url` never holds a secret: SAS
    /// signatures and account keys are redacted before it is built.
    #[error("{url}: {reason}")]
    Remote {
        /// The resource, redacted.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// The output is there already and may not be replaced (the CLI says
    /// how to allow it).
    #[error("{}: already exists", path.display())]
    OutputExists {
        /// The output, as the user knows it.
        path: PathBuf,
    },
    /// Another process holds the job and this one would not wait.
    #[error("{what}: {reason}")]
    Busy {
        /// The job or store.
        what: String,
        /// Who holds it.
        reason: String,
    },
    /// A busy worker went silent (its node lost, its process frozen): the
    /// job ends rather than wait on it; finished shards are kept.
    #[error(
        "{worker} has been silent for {silent_secs} s on shard {shard} (its node may be gone); \
         the finished shards are kept: run the same command again to resume"
    )]
    WorkerLost {
        /// The silent worker.
        worker: crate::worker::WorkerId,
        /// The shard it held.
        shard: u32,
        /// Seconds since it was last heard.
        silent_secs: u64,
    },
    /// Talking to the workers failed.
    #[error("transport: {0}")]
    Transport(#[from] TransportError),
    /// Stored job state that does not parse or does not match its checksum.
    #[error("{}: {reason}", path.display())]
    Corrupt {
        /// The stored object at fault.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
}

impl EngineError {
    pub(crate) fn media(path: impl Into<PathBuf>, op: &'static str) -> impl FnOnce(ffmpeg_next::Error) -> Self {
        let path = path.into();
        move |source| EngineError::Media { path, op, source }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, op: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| EngineError::Io { path, op, source }
    }

    /// A closure turning an I/O error at `path` into an engine error.
    pub fn io_at(path: impl Into<PathBuf>, op: &'static str) -> impl FnOnce(std::io::Error) -> Self {
        Self::io(path, op)
    }

    pub(crate) fn bad_input(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        EngineError::BadInput { path: path.into(), reason: reason.into() }
    }
}

/// How talking to the workers failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// A worker (a thread, a process) stopped while the job needed it.
    #[error("{what} stopped")]
    Stopped {
        /// Which worker, or which side of the channel.
        what: String,
    },
    /// A message that does not parse, or that the protocol does not know.
    #[error("malformed message from {from}: {why}")]
    Malformed {
        /// Who sent it.
        from: String,
        /// What is wrong with it.
        why: String,
    },
    /// The launcher cannot run this job as asked (too few workers, no
    /// cluster), with the reason.
    #[error("{0}")]
    Unavailable(String),
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
    /// This worker cannot run the task as the job was resolved (another
    /// model digest, parameters it does not know): another worker may.
    Mismatch,
}

impl TaskErrorKind {
    /// True when running the same job again cannot help.
    pub fn is_permanent(self) -> bool {
        matches!(self, TaskErrorKind::BadInput | TaskErrorKind::Model)
    }
}

/// The engine's result type.
pub type Result<T, E = EngineError> = std::result::Result<T, E>;
