//! params: the parameters that shape a style job's output bytes, typed,
//! shared by the coordinator (which resolves them once and digests them
//! into the job id) and every worker (which runs the task as they say, or
//! refuses it in one line when it cannot: another model file, another
//! pipeline version). Serialised to the same JSON object as ever: every
//! field is spelled out, never taken from `Debug`, and serde_json sorts the
//! keys, so the job id stays pinned (`tests::job_id_is_pinned`).

use serde::{Deserialize, Serialize};
use stylize_engine::{TaskError, TaskErrorKind};
use stylize_models::torch::Precision;

/// The pipeline's version in the parameters. 2: colour, depth, chroma and
/// aspect follow the source. 3: the 26-style network in bf16/fp16 takes
/// pixels as 0-255.
pub const PIPELINE: &str = "video_style/3";

/// A style job's parameters, as resolved on the coordinator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StyleParams {
    /// [`PIPELINE`] when made.
    pub pipeline: String,
    /// The model's kind: `builtin`, `user`, `arbitrary`, `learned`.
    pub model: String,
    /// SHA-256 of the model file: a worker with another file refuses.
    pub model_sha256: String,
    /// The style's own numbers (blend weights, a painting's statistics).
    pub style: serde_json::Value,
    /// `cpu` or `cuda`.
    pub device: String,
    /// As loaded (`auto` resolved): `fp32`, `fp16`, `bf16`.
    pub precision: String,
    /// Frames per model call.
    pub batch: usize,
    /// CPU kernels' last bits depend on the thread count.
    pub model_threads: Option<usize>,
    /// x264's constant rate factor.
    pub crf: u8,
    /// x264's preset.
    pub preset: String,
    /// x264's threads.
    pub x264_threads: u8,
    /// `off`, `still` or `motion`.
    pub deflicker: String,
    /// Target shard length in frames.
    pub shard_frames: u64,
}

impl StyleParams {
    /// The JSON that the job id digests and tasks carry.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("parameters serialise")
    }

    /// Read a task's parameters on a worker whose model file has digest
    /// `model_sha256`; a task this worker cannot run as resolved is
    /// refused (one line naming the shard and the mismatch), never run
    /// into other bytes.
    pub fn for_worker(
        value: &serde_json::Value,
        shard: u32,
        model_sha256: &str,
    ) -> Result<(Self, Precision), TaskError> {
        let refuse = |why: String| TaskError::new(TaskErrorKind::Mismatch, format!("shard {shard}: {why}"));
        let params: StyleParams = serde_json::from_value(value.clone())
            .map_err(|e| refuse(format!("parameters this worker cannot read ({e})")))?;
        if params.pipeline != PIPELINE {
            return Err(refuse(format!("the job is {}, this worker runs {PIPELINE}", params.pipeline)));
        }
        if params.model_sha256 != model_sha256 {
            return Err(refuse(format!(
                "the job's model file has SHA-256 {}…, this worker's has {}…",
                short(&params.model_sha256),
                short(model_sha256)
            )));
        }
        let precision = Precision::from_name(&params.precision)
            .ok_or_else(|| refuse(format!("unknown precision '{}'", params.precision)))?;
        Ok((params, precision))
    }
}

fn short(digest: &str) -> &str {
    &digest[..digest.len().min(12)]
}
