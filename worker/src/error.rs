//! Errors of the worker: each names the shard. The segment file is kept
//! for the logs but not shown: it is a scratch file the user never saw
//! (the coordinator names the user's input).

use std::path::PathBuf;

/// What can go wrong while one shard is processed.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The shard's segment could not be decoded.
    #[error("shard {shard}: decoding: {reason}")]
    Decode {
        /// Shard index.
        shard: u32,
        /// The segment file.
        path: PathBuf,
        /// FFmpeg's reason.
        reason: String,
    },
    /// The stylized frames could not be encoded.
    #[error("shard {shard}: encoding: {reason}")]
    Encode {
        /// Shard index.
        shard: u32,
        /// The output segment file.
        path: PathBuf,
        /// FFmpeg's reason.
        reason: String,
    },
    /// The segment did not hold exactly the shard's frames.
    #[error("shard {shard}: decoded {got} of the shard's {expected} frames")]
    FrameCount {
        /// Shard index.
        shard: u32,
        /// The segment file.
        path: PathBuf,
        /// Frames the plan expects.
        expected: u64,
        /// Frames decoded.
        got: u64,
    },
    /// The model failed.
    #[error("shard {shard}: {source}")]
    Model {
        /// Shard index.
        shard: u32,
        /// The model's error.
        #[source]
        source: stylize_models::ModelError,
    },
}
