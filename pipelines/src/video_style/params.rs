//! params: the parameters that shape a style job's output bytes, typed,
//! shared by the coordinator (which resolves them once and digests them
//! into the job id) and every worker (which runs the task as they say, or
//! refuses it in one line when it cannot: another model file, another
//! pipeline version). Serialised to the same JSON object as ever: every
//! field is spelled out, never taken from `Debug`, and serde_json sorts the
//! keys, so the job id stays pinned (`tests::job_id_is_pinned`).

use serde::{Deserialize, Serialize};
use stylize_engine::{TaskError, TaskErrorKind};
use stylize_models::arbitrary::{transform_path, StyleVector, STYLE_MODEL};
use stylize_models::catalog::StyleBlend;
use stylize_models::torch::{DeviceChoice, ModelSpec, Precision};
use stylize_worker::{DeflickerMode, EncodeSettings, WorkerOptions};

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
    /// The program kept from a multiplex, when asked for (absent
    /// otherwise, so other jobs keep their ids).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<i32>,
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

/// What a worker that knows a job only by its parameters (a queue worker)
/// runs it with: the model, the device and the worker's settings.
impl StyleParams {
    /// The model: the built-in network with its blend, or the
    /// arbitrary-style network with the painting's vector, from this
    /// worker's own model files. A learned style or a user's own model is
    /// not on the worker: refused, for a worker (or a run) that has it.
    pub fn model_spec(&self) -> Result<ModelSpec, String> {
        match self.model.as_str() {
            "builtin" => {
                let weights: Vec<f32> = serde_json::from_value(self.style.clone()).map_err(|e| e.to_string())?;
                let blend = StyleBlend::from_weights(&weights).ok_or("a blend of another number of styles")?;
                Ok(ModelSpec::builtin(blend))
            }
            "arbitrary" => {
                let values: Vec<f32> = serde_json::from_value(self.style.clone()).map_err(|e| e.to_string())?;
                let style = StyleVector { model: STYLE_MODEL.into(), values };
                Ok(ModelSpec::Arbitrary { path: transform_path(), style, label: "painting".into() })
            }
            "learned" => Err("a learned style is not installed on queue workers".into()),
            other => Err(format!("the job's own {other} model file is not on this worker")),
        }
    }

    /// The device the job was resolved for.
    pub fn device(&self) -> DeviceChoice {
        if self.device == "cuda" {
            DeviceChoice::Cuda(0)
        } else {
            DeviceChoice::Cpu
        }
    }

    /// The worker's settings, as the job's bytes need them.
    pub fn worker_options(&self) -> Result<WorkerOptions, String> {
        let deflicker = match self.deflicker.as_str() {
            "off" => DeflickerMode::Off,
            "still" => DeflickerMode::Still,
            "motion" => DeflickerMode::Motion,
            other => return Err(format!("unknown deflicker mode '{other}'")),
        };
        Ok(WorkerOptions {
            batch: self.batch,
            encode: EncodeSettings { crf: self.crf, preset: self.preset.clone(), threads: self.x264_threads },
            deflicker,
            // The figures travel with each result: the coordinator decides
            // whether its report shows them.
            measure_flicker: true,
        })
    }
}
