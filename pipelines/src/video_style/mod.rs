//! The video style pipeline: what it supplies to the engine's job driver
//! (`stylize_engine::driver`): its checks and parameters, its plan (shards
//! of whole GOPs), its shard handler (decode -> model -> encode, on any
//! rank), its output name and its report (the model, the flicker). The
//! lifecycle itself (probe, resume, scatter/gather, stitch, commit, log,
//! report) is the engine's.
//!
//! The pipeline holds its model behind `dyn StyleModel`, loaded by a
//! [`ModelLoader`]: libtorch in use, anything cheaper in its tests.

pub mod plan;
pub mod report;
pub mod watch;
pub mod work;

use std::path::Path;
use std::sync::Arc;

use crate::flicker::{FlickerPair, FlickerSums};
use serde_json::json;
pub use stylize_engine::azure::{Service, StorageUrl};
use stylize_engine::container::StreamPlan;
use stylize_engine::driver::{run_job, JobSpec, Pipeline};
use stylize_engine::job::{file_digest, Manifest};
pub use stylize_engine::location::{Location, RemoteOptions};
pub use stylize_engine::output::{Destination, Overwrite};
use stylize_engine::plan::Plan;
use stylize_engine::probe::MediaInfo;
use stylize_engine::transport::Handler;
use stylize_engine::EngineError;
use stylize_models::torch::TorchModel;
pub use stylize_models::torch::{set_threads, DeviceChoice, ModelSpec, PixelRange, Precision};
use stylize_models::{ModelError, StyleModel};
use stylize_worker::deflicker::WARMUP_FRAMES;
pub use stylize_worker::{DeflickerMode, EncodeSettings, WorkerOptions};

pub use stylize_engine::driver::{Counts, Launch, NoProgress, Progress};
pub use stylize_engine::launch::Cluster;

use crate::error::PipelineError;
use report::{JobReport, StyleFacts};
use work::ShardHandler;

/// The smallest side the style networks take: they downsample by 4 and
/// reflect-pad, which smaller pictures cannot hold.
pub const MIN_SIDE: u32 = 16;

/// Default shard length in frames: long enough that x264 has room for its
/// lookahead, short enough that many ranks share a short clip.
pub const DEFAULT_SHARD_FRAMES: u64 = 48;

/// Everything that defines a style job.
#[derive(Debug, Clone)]
pub struct StyleJob {
    /// The input video: a path, or a blob URL.
    pub input: Location,
    /// The store (outputs and job state): a directory, or a container URL.
    pub store: Location,
    /// The job's log (JSON lines, `<job>.jsonl`) goes to this separate
    /// store when given: those who upload inputs need not read logs.
    pub logs: Option<Location>,
    /// How remote locations may be reached (`--sas-only`).
    pub remote: RemoteOptions,
    /// The model and style.
    pub model: ModelSpec,
    /// Where to run the model.
    pub device: DeviceChoice,
    /// Model precision.
    pub precision: Precision,
    /// Batch and encoder settings.
    pub worker: WorkerOptions,
    /// CPU threads for the model (default: all cores).
    pub threads: Option<usize>,
    /// Target shard length in frames.
    pub shard_frames: u64,
    /// Shards this process runs side by side (each with its own model):
    /// keeps the cores busy while one shard's encoder drains. Not part of
    /// the job id: the bytes do not depend on it.
    pub parallel_shards: usize,
    /// Where the output goes (a unique name in the store by default).
    pub destination: Destination,
    /// Whether an existing output may be replaced.
    pub overwrite: Overwrite,
}

impl StyleJob {
    /// Where the job reads and writes, for the engine's driver.
    pub fn spec(&self) -> JobSpec {
        JobSpec {
            input: self.input.clone(),
            store: self.store.clone(),
            logs: self.logs.clone(),
            remote: self.remote,
            destination: self.destination.clone(),
            overwrite: self.overwrite.clone(),
        }
    }
}

/// Loads the job's model at a precision: on the coordinator before any
/// work (a wrong module fails in one line, `auto` is resolved), on a worker
/// with its first task (at the precision the coordinator resolved).
pub type ModelLoader = Arc<dyn Fn(DeviceChoice, Precision) -> Result<Box<dyn StyleModel>, ModelError> + Send + Sync>;

/// The libtorch loader of a job's model (the same on every rank; the
/// device is chosen per rank).
pub fn torch_loader(job: &StyleJob) -> ModelLoader {
    let (spec, threads) = (job.model.clone(), job.threads);
    Arc::new(move |device, precision| {
        let model = TorchModel::load_with_threads(&spec, device, precision, threads)?;
        Ok(Box::new(model) as Box<dyn StyleModel>)
    })
}

/// The pipeline, for one job.
pub struct VideoStyle<'a> {
    job: &'a StyleJob,
    loader: ModelLoader,
    /// Loaded by `prepare`, handed to the local worker.
    model: Option<Box<dyn StyleModel>>,
    label: String,
    description: String,
    worker: WorkerOptions,
}

impl<'a> VideoStyle<'a> {
    /// The pipeline for `job`, loading its model with `loader`.
    pub fn new(job: &'a StyleJob, loader: ModelLoader) -> Self {
        VideoStyle {
            job,
            loader,
            model: None,
            label: String::new(),
            description: String::new(),
            worker: job.worker.clone(),
        }
    }
}

impl Pipeline for VideoStyle<'_> {
    type Error = PipelineError;
    type Extra = StyleFacts;

    fn prepare(&mut self, info: &MediaInfo, input: &Path) -> Result<serde_json::Value, PipelineError> {
        let (width, height) = (info.video.width, info.video.height);
        if width < MIN_SIDE || height < MIN_SIDE {
            return Err(EngineError::BadInput {
                path: input.to_path_buf(),
                reason: format!(
                    "{width}x{height} is too small: the style networks need at least {MIN_SIDE}x{MIN_SIDE}"
                ),
            }
            .into());
        }
        let model = (self.loader)(self.job.device, self.job.precision)?;
        let cuda = model.is_cuda();
        self.worker.batch = self.worker.batch_for(cuda);
        self.label = model.label();
        self.description = model.describe();
        let mut job = self.job.clone();
        job.worker.batch = self.worker.batch;
        // `auto` as resolved here (and sent to every rank); a precision
        // asked for by name stays as asked.
        if job.precision == Precision::Auto {
            job.precision = model.precision();
        }
        self.model = Some(model);
        job_params(&job, cuda)
    }

    fn plan(&self, info: &MediaInfo) -> Plan {
        let warmup = if self.job.worker.deflicker == DeflickerMode::Off { 0 } else { WARMUP_FRAMES };
        plan::plan(&info.video, self.job.shard_frames, warmup)
    }

    fn output_name(&self, input_path: &str, tag: &str, streams: &StreamPlan) -> String {
        output_name(input_path, &self.label, tag, streams.extension())
    }

    fn local_handlers(&mut self, progress: Arc<dyn Progress>) -> Result<Vec<Box<dyn Handler>>, PipelineError> {
        // The first worker takes the model loaded by `prepare`; the others
        // load their own with their first shard.
        (0..self.job.parallel_shards.max(1))
            .map(|k| {
                let handler =
                    ShardHandler::new(self.loader.clone(), self.job.device, self.job.precision, self.worker.clone())
                        .map_err(scratch_error)?
                        .with_model(if k == 0 { self.model.take() } else { None })
                        .with_progress(progress.clone());
                Ok(Box::new(handler) as Box<dyn Handler>)
            })
            .collect()
    }

    fn extra(&self, manifest: &Manifest) -> StyleFacts {
        // The shards' sums (integers: the same figures on any number of
        // ranks). Shards done by a run that did not measure are left out
        // (the figures' frame count says so).
        let mut sums: Option<FlickerSums> = None;
        for record in manifest.done.values() {
            let Some(Ok(shard)) = record.figures.clone().map(serde_json::from_value::<FlickerSums>) else { continue };
            sums.get_or_insert_with(FlickerSums::default).merge(&shard);
        }
        let flicker = sums.filter(|s| self.job.worker.measure_flicker && s.frames >= 2).map(|s| FlickerPair::of(&s));
        StyleFacts { model: self.description.clone(), flicker }
    }
}

/// Run the whole job and commit its output; returns its report.
pub fn run(job: &StyleJob, progress: Arc<dyn Progress>, launch: Launch<'_>) -> Result<JobReport, PipelineError> {
    let mut pipeline = VideoStyle::new(job, torch_loader(job));
    run_job(&job.spec(), &mut pipeline, launch, progress)
}

/// A worker rank's part of the job (every rank but 0, under mpirun): run
/// the shards rank 0 sends until it says stop. The rank's GPU, if any, is
/// chosen by its local rank.
pub fn serve(job: &StyleJob, cluster: &Cluster) -> Result<(), PipelineError> {
    let device = job.device.for_local_rank(cluster.local_rank());
    let mut handler =
        ShardHandler::new(torch_loader(job), device, job.precision, job.worker.clone()).map_err(scratch_error)?;
    cluster.serve(&mut handler)?;
    Ok(())
}

fn scratch_error(e: std::io::Error) -> PipelineError {
    EngineError::Io { path: std::env::temp_dir(), op: "creating scratch directory", source: e }.into()
}

/// The parameters that shape the output bytes, and so the job id: a
/// stable, versioned serialisation. Every value is spelled out here, never
/// taken from `Debug` or from serde's variant names, so renaming a type
/// cannot silently change every job id (and so disable every resume);
/// `tests::job_id_is_pinned` fails if the serialisation changes.
fn job_params(job: &StyleJob, cuda: bool) -> Result<serde_json::Value, PipelineError> {
    let (kind, model_digest, style) = match &job.model {
        ModelSpec::Builtin { path, blend } => ("builtin", file_digest(path)?, json!(blend.weights())),
        ModelSpec::User { path, range } => {
            let range = match range {
                PixelRange::Unit => "0-1",
                PixelRange::Byte => "0-255",
            };
            ("user", file_digest(path)?, json!(range))
        }
        ModelSpec::Arbitrary { path, style, .. } => ("arbitrary", file_digest(path)?, json!(style.values)),
        ModelSpec::Learned { path, style, blend, .. } => (
            "learned",
            file_digest(path)?,
            json!({ "slot": style.slot, "rows": style.rows, "weights": blend.weights() }),
        ),
    };
    // As loaded (`auto` resolved); the spelling is `Precision::name`'s.
    let precision = job.precision.name();
    let deflicker = match job.worker.deflicker {
        DeflickerMode::Off => "off",
        DeflickerMode::Still => "still",
        DeflickerMode::Motion => "motion",
    };
    Ok(json!({
        // 2: colour, depth, chroma and aspect follow the source.
        // 3: the 26-style network in bf16/fp16 takes pixels as 0-255.
        "pipeline": "video_style/3",
        "model": kind,
        "model_sha256": model_digest,
        "style": style,
        "device": if cuda { "cuda" } else { "cpu" },
        "precision": precision,
        "batch": job.worker.batch,
        // CPU kernels' last bits depend on the thread count.
        "model_threads": job.threads,
        "crf": job.worker.encode.crf,
        "preset": job.worker.encode.preset,
        "x264_threads": job.worker.encode.threads,
        "deflicker": deflicker,
        "shard_frames": job.shard_frames,
    }))
}

/// `u1/clip.mp4` styled `mosaic` → `u1/clip.mosaic.<tag>.mp4`: the
/// input's folders are kept, the tag makes the name unique per input path
/// and parameters, and the extension is the container's that the engine
/// chose at probe (it follows the source).
pub fn output_name(input_path: &str, label: &str, tag: &str, extension: &str) -> String {
    let path = Path::new(input_path);
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "output".into());
    let name = format!("{stem}.{label}.{tag}.{extension}");
    match path.parent().map(|p| p.to_string_lossy().into_owned()) {
        Some(dir) if !dir.is_empty() => format!("{dir}/{name}"),
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stylize_engine::job::job_id;

    /// One job id, pinned: if this fails, the parameters' serialisation
    /// changed and every stored job would be redone from scratch. Change
    /// the pinned value only together with the `pipeline` version.
    #[test]
    fn job_id_is_pinned() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("model.pt");
        std::fs::write(&model, b"not a real model, only its digest counts").unwrap();
        let job = StyleJob {
            input: Location::Local("clip.mp4".into()),
            store: Location::Local("out".into()),
            logs: None,
            remote: RemoteOptions::default(),
            model: ModelSpec::User { path: model, range: PixelRange::Byte },
            device: DeviceChoice::Cpu,
            precision: Precision::Fp32,
            worker: WorkerOptions { batch: 1, ..WorkerOptions::default() },
            threads: Some(2),
            shard_frames: 48,
            parallel_shards: 1,
            destination: Destination::Named,
            overwrite: Overwrite::Never,
        };
        let params = job_params(&job, false).unwrap();
        assert_eq!(params["precision"], "fp32");
        assert_eq!(params["deflicker"], "still");
        assert_eq!(params["style"], "0-255");
        assert_eq!(job_id(&"ab".repeat(32), &params), "8191e3d05363cea5");
    }
}
