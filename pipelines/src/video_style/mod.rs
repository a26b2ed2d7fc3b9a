//! The video style pipeline: what it supplies to the engine's job driver
//! (`stylize_engine::driver`): its checks and parameters, its plan (shards
//! of whole GOPs), its shard handler (decode -> model -> encode, on any
//! rank), its output name and its report (the model, the flicker). The
//! lifecycle itself (probe, resume, scatter/gather, stitch, commit, log,
//! report) is the engine's.
//!
//! The pipeline holds its model behind `dyn StyleModel`, loaded by a
//! [`ModelLoader`]: libtorch in use, anything cheaper in its tests.

mod params;
pub mod plan;
pub mod report;
pub mod work;

use std::path::Path;
use std::sync::Arc;

use crate::flicker::{FlickerPair, FlickerSums};
use serde_json::json;
use stylize_engine::{file_digest, run_job, EngineError, JobSpec, Manifest, MediaInfo, Pipeline, Plan, StreamPlan};
pub use stylize_engine::{
    unix_now, Counts, Destination, Handler, InProcessLauncher, Launcher, Location, NoProgress, Overwrite, Progress,
    Remote, TaskError, WorkerId,
};
use stylize_models::torch::TorchModel;
pub use stylize_models::torch::{set_threads, DeviceChoice, ModelSpec, PixelRange, Precision};
use stylize_models::{ModelError, StyleModel};
use stylize_worker::deflicker::WARMUP_FRAMES;
pub use stylize_worker::{DeflickerMode, EncodeSettings, WorkerOptions};

pub use params::{StyleParams, PIPELINE};

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
    /// What reaches remote locations (a storage adapter).
    pub remote: Arc<dyn Remote>,
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
    /// The job id this run must come to (a worker finishing a detached
    /// job); `None` for a new job.
    pub expect_job: Option<String>,
    /// The program to keep from a multiplex (`--program`); `None`: the
    /// first with video.
    pub program: Option<i32>,
}

impl StyleJob {
    /// Where the job reads and writes, for the engine's driver.
    pub fn spec(&self) -> JobSpec {
        JobSpec {
            input: self.input.clone(),
            store: self.store.clone(),
            logs: self.logs.clone(),
            remote: self.remote.clone(),
            destination: self.destination.clone(),
            overwrite: self.overwrite.clone(),
            expect_job: self.expect_job.clone(),
            program: self.program,
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
    /// The picture's size, known at `prepare`.
    size: (u32, u32),
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
            size: (0, 0),
        }
    }
}

impl Pipeline for VideoStyle<'_> {
    type Error = PipelineError;
    type Extra = StyleFacts;

    fn prepare(&mut self, info: &MediaInfo, input: &Path) -> Result<serde_json::Value, PipelineError> {
        let (width, height) = (info.video.width, info.video.height);
        self.size = (width, height);
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
        Ok(job_params(&job, cuda)?.to_value())
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
                let handler = ShardHandler::new(
                    self.loader.clone(),
                    model_digest(&self.job.model)?,
                    self.job.device,
                    self.job.precision,
                    self.worker.clone(),
                )
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

    fn warnings(&self, manifest: &Manifest) -> Vec<String> {
        let concealed: u64 =
            manifest.done.values().filter_map(|r| r.figures.as_ref().and_then(|f| f["concealed"].as_u64())).sum();
        let mut lines = Vec::new();
        if concealed > 0 {
            lines.push(format!(
                "{concealed} frame{} did not decode (corrupt data): the frame before stands in for each, as players show it",
                if concealed == 1 { "" } else { "s" }
            ));
        }
        // Wide-gamut colours of an HDR source, clipped to BT.709 on the way
        // to the model: said when more than one pixel in a thousand.
        let (outside, frames) = manifest.done.values().fold((0u64, 0u64), |(o, f), r| {
            (o + r.figures.as_ref().and_then(|v| v["out_of_gamut"].as_u64()).unwrap_or(0), f + r.frames)
        });
        let pixels = frames * u64::from(self.size.0) * u64::from(self.size.1);
        if pixels > 0 && outside * 1000 > pixels {
            lines.push(format!(
                "{:.1}% of its pixels have colours outside BT.709, the gamut the model paints in: they come back clipped to it",
                outside as f64 * 100.0 / pixels as f64
            ));
        }
        lines
    }
}

/// Run the whole job and commit its output; returns its report.
pub fn run(job: &StyleJob, progress: Arc<dyn Progress>, launcher: &dyn Launcher) -> Result<JobReport, PipelineError> {
    let mut pipeline = VideoStyle::new(job, torch_loader(job));
    run_job(&job.spec(), &mut pipeline, launcher, progress)
}

/// What a remote worker (an MPI rank, a queue worker) runs the job's
/// shards with; the `local_index`-th worker on its node takes that GPU.
pub fn remote_handler(job: &StyleJob, local_index: usize) -> Result<Box<dyn Handler>, PipelineError> {
    let device = job.device.for_local_rank(local_index);
    let handler =
        ShardHandler::new(torch_loader(job), model_digest(&job.model)?, device, job.precision, job.worker.clone())
            .map_err(scratch_error)?;
    Ok(Box::new(handler))
}

/// The handler a queue worker runs a job's tasks with, from the job's
/// parameters alone (see [`StyleParams::model_spec`]); `Err` (a mismatch)
/// when this worker cannot run the job as resolved: its model file is
/// another, the job wants a GPU it has not, the model is not here.
pub fn handler_for_params(params: &serde_json::Value) -> Result<Box<dyn Handler>, stylize_engine::TaskError> {
    use stylize_engine::{TaskError, TaskErrorKind};
    let refuse = |why: String| TaskError::new(TaskErrorKind::Mismatch, why);
    let typed: StyleParams = serde_json::from_value(params.clone())
        .map_err(|e| refuse(format!("parameters this worker cannot read ({e})")))?;
    let model = typed.model_spec().map_err(refuse)?;
    let digest = model_digest(&model).map_err(|e| refuse(e.to_string()))?;
    // The model file and the pipeline version, checked as every task is.
    let (_, precision) = StyleParams::for_worker(params, 0, &digest)
        .map_err(|e| refuse(e.message.trim_start_matches("shard 0: ").to_string()))?;
    let device = typed.device();
    if device != DeviceChoice::Cpu && stylize_models::cuda_devices() == 0 {
        return Err(refuse("the job runs on CUDA and this worker has no GPU".into()));
    }
    let options = typed.worker_options().map_err(refuse)?;
    let threads = typed.model_threads;
    if let Some(n) = threads {
        set_threads(n);
    }
    let loader: ModelLoader = Arc::new(move |device, precision| {
        let model = TorchModel::load_with_threads(&model, device, precision, threads)?;
        Ok(Box::new(model) as Box<dyn StyleModel>)
    });
    let handler = ShardHandler::new(loader, digest, device, precision, options)
        .map_err(|e| TaskError::new(TaskErrorKind::Io, format!("creating scratch directory: {e}")))?;
    Ok(Box::new(handler))
}

/// The job a worker finishes for a detached submitter, from the job's
/// parameters alone: every setting that shapes the bytes as resolved, so
/// the run comes to the same job id (`expect_job` refuses any other).
pub fn job_from_params(
    params: &serde_json::Value,
    input: Location,
    store: Location,
    output: String,
    remote: Arc<dyn Remote>,
    expect_job: String,
) -> Result<StyleJob, PipelineError> {
    let bad = |reason: String| PipelineError::Input { path: format!("job {expect_job}").into(), reason };
    let typed: StyleParams = serde_json::from_value(params.clone()).map_err(|e| bad(format!("its parameters: {e}")))?;
    let precision =
        Precision::from_name(&typed.precision).ok_or_else(|| bad(format!("precision {}", typed.precision)))?;
    Ok(StyleJob {
        input,
        store,
        logs: None,
        remote,
        model: typed.model_spec().map_err(bad)?,
        device: typed.device(),
        precision,
        worker: typed.worker_options().map_err(bad)?,
        threads: typed.model_threads,
        shard_frames: typed.shard_frames,
        parallel_shards: 1,
        destination: Destination::Key(output),
        // The submitter checked the output before it handed the job over.
        overwrite: Overwrite::Always,
        expect_job: Some(expect_job),
        program: typed.program,
    })
}

/// SHA-256 of the model file: what a job's parameters name and every
/// worker checks its own model against.
fn model_digest(model: &ModelSpec) -> Result<String, PipelineError> {
    let path = match model {
        ModelSpec::Builtin { path, .. }
        | ModelSpec::User { path, .. }
        | ModelSpec::Arbitrary { path, .. }
        | ModelSpec::Learned { path, .. } => path,
    };
    Ok(file_digest(path)?)
}

fn scratch_error(e: std::io::Error) -> PipelineError {
    EngineError::Io { path: std::env::temp_dir(), op: "creating scratch directory", source: e }.into()
}

/// The parameters that shape the output bytes, and so the job id: a
/// stable, versioned serialisation. Every value is spelled out here, never
/// taken from `Debug` or from serde's variant names, so renaming a type
/// cannot silently change every job id (and so disable every resume);
/// `tests::job_id_is_pinned` fails if the serialisation changes.
fn job_params(job: &StyleJob, cuda: bool) -> Result<StyleParams, PipelineError> {
    let (kind, style) = match &job.model {
        ModelSpec::Builtin { blend, .. } => ("builtin", json!(blend.weights())),
        ModelSpec::User { range, .. } => {
            let range = match range {
                PixelRange::Unit => "0-1",
                PixelRange::Byte => "0-255",
            };
            ("user", json!(range))
        }
        ModelSpec::Arbitrary { style, .. } => ("arbitrary", json!(style.values)),
        ModelSpec::Learned { style, blend, .. } => {
            ("learned", json!({ "slot": style.slot, "rows": style.rows, "weights": blend.weights() }))
        }
    };
    // As loaded (`auto` resolved); the spelling is `Precision::name`'s.
    let precision = job.precision.name();
    let deflicker = match job.worker.deflicker {
        DeflickerMode::Off => "off",
        DeflickerMode::Still => "still",
        DeflickerMode::Motion => "motion",
    };
    Ok(StyleParams {
        pipeline: PIPELINE.into(),
        model: kind.into(),
        model_sha256: model_digest(&job.model)?,
        style,
        device: if cuda { "cuda" } else { "cpu" }.into(),
        precision: precision.into(),
        batch: job.worker.batch,
        model_threads: job.threads,
        crf: job.worker.encode.crf,
        preset: job.worker.encode.preset.clone(),
        x264_threads: job.worker.encode.threads,
        deflicker: deflicker.into(),
        shard_frames: job.shard_frames,
        program: job.program,
    })
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
    use stylize_engine::job_id;

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
            remote: Arc::new(stylize_engine::NoRemote),
            model: ModelSpec::User { path: model.clone(), range: PixelRange::Byte },
            device: DeviceChoice::Cpu,
            precision: Precision::Fp32,
            worker: WorkerOptions { batch: 1, ..WorkerOptions::default() },
            threads: Some(2),
            shard_frames: 48,
            parallel_shards: 1,
            destination: Destination::Named,
            overwrite: Overwrite::Never,
            expect_job: None,
            program: None,
        };
        let typed = job_params(&job, false).unwrap();
        let params = typed.to_value();
        assert_eq!(params["precision"], "fp32");
        assert_eq!(params["deflicker"], "still");
        assert_eq!(params["style"], "0-255");
        assert_eq!(job_id(&"ab".repeat(32), &params), "8191e3d05363cea5");

        // A worker runs it only with the same model file.
        let digest = file_digest(&model).unwrap();
        let (read, precision) = StyleParams::for_worker(&params, 4, &digest).unwrap();
        assert_eq!((read, precision), (typed, Precision::Fp32));
        let other = StyleParams::for_worker(&params, 4, &"0".repeat(64)).unwrap_err();
        assert_eq!(other.kind, stylize_engine::TaskErrorKind::Mismatch);
        assert!(other.message.starts_with("shard 4: the job's model file has SHA-256 "), "{}", other.message);
        let mut old = params.clone();
        old["pipeline"] = "video_style/2".into();
        let err = StyleParams::for_worker(&old, 4, &digest).unwrap_err().message;
        assert_eq!(err, "shard 4: the job is video_style/2, this worker runs video_style/3");
    }
}
