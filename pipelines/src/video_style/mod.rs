//! The video style pipeline: probe → plan → (scatter → worker) per shard →
//! gather into the store → stitch → commit.
//!
//! Shards run one after the other in this process through the same worker
//! code an MPI rank runs. Finished segments are stored with their digest
//! in the job's manifest before the next shard starts, so an interrupted
//! job, run again, redoes only what is missing.

pub mod plan;
pub mod report;
pub mod stitch;

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::json;
use stylize_engine::concat::Segment;
use stylize_engine::job::{digest, file_digest, job_id, Manifest, SegmentRecord};
use stylize_engine::probe::{probe, MediaInfo};
use stylize_engine::scatter::cut_segment;
use stylize_engine::store::{LocalStore, Store};
use stylize_engine::EngineError;
use stylize_models::torch::{DeviceChoice, ModelSpec, Precision, TorchModel};
use stylize_models::StyleModel;
use stylize_worker::{run_shard, VideoFormat, WorkerOptions};
use tracing::{debug, info};

use crate::error::PipelineError;
use report::{JobReport, ShardTiming, VideoFacts};

/// Default shard length in frames: long enough that x264 has room for its
/// lookahead, short enough that many ranks share a short clip.
pub const DEFAULT_SHARD_FRAMES: u64 = 48;

/// Everything that defines a style job.
#[derive(Debug, Clone)]
pub struct StyleJob {
    /// The input video.
    pub input: PathBuf,
    /// The store directory (outputs and job state).
    pub store: PathBuf,
    /// The model and style.
    pub model: ModelSpec,
    /// Where to run the model.
    pub device: DeviceChoice,
    /// Model precision.
    pub precision: Precision,
    /// Batch and encoder settings.
    pub worker: WorkerOptions,
    /// Target shard length in frames.
    pub shard_frames: u64,
}

/// Hears how a job advances (the CLI draws a progress bar).
pub trait Progress: Sync {
    /// The job will stylize `frames` frames now (after skipping done shards).
    fn start(&self, frames: u64);
    /// `frames` more frames are done.
    fn advance(&self, frames: u64);
}

/// A progress listener that ignores everything.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// Run the whole job and commit its output; returns its report.
pub fn run(job: &StyleJob, progress: &dyn Progress) -> Result<JobReport, PipelineError> {
    let started = Instant::now();
    let info = probe(&job.input)?;
    let store = LocalStore::open(&job.store)?;
    let mut model = TorchModel::load(&job.model, job.device, job.precision)?;
    info!(input = %job.input.display(), frames = info.video.frames(), model = %model.describe(), "job starts");

    let plan = plan::plan(&info.video, job.shard_frames);
    let params = job_params(job, &model)?;
    let id = job_id(&file_digest(&job.input)?, &params);
    let mut manifest = match Manifest::load(&store, &id)? {
        Some(m) if m.plan == plan => m,
        _ => Manifest {
            job: id.clone(),
            input: job.input.display().to_string(),
            input_digest: file_digest(&job.input)?,
            params,
            plan: plan.clone(),
            done: Default::default(),
            output: None,
        },
    };
    manifest.done.retain(|index, record| segment_intact(&store, &id, *index, record));
    let reused = manifest.done.len();
    manifest.save(&store)?;

    let pending: Vec<_> = plan.shards.iter().filter(|s| !manifest.done.contains_key(&s.index)).collect();
    progress.start(pending.iter().map(|s| s.len()).sum());
    info!(job = %id, shards = plan.shards.len(), reused, "plan ready");

    let scratch = tempfile::tempdir().map_err(|e| EngineError::Io { path: std::env::temp_dir(), op: "creating scratch directory", source: e })?;
    let format = VideoFormat {
        width: info.video.width,
        height: info.video.height,
        time_base: info.video.time_base.into(),
        frame_rate: info.video.frame_rate.into(),
    };
    let mut timings = Vec::new();
    for shard in pending {
        let t = Instant::now();
        let cut = scratch.path().join(format!("in-{:05}.nut", shard.index));
        let encoded = scratch.path().join(format!("out-{:05}.mp4", shard.index));
        cut_segment(&info, shard, &cut)?;
        let stats = run_shard(shard, &cut, &encoded, format, &mut model, &job.worker, &|n| progress.advance(n))?;
        let bytes = std::fs::read(&encoded).map_err(|e| EngineError::Io { path: encoded.clone(), op: "reading segment", source: e })?;
        store.put(&Manifest::segment_key(&id, shard.index), &bytes)?;
        manifest.done.insert(shard.index, SegmentRecord { sha256: digest(&bytes), bytes: bytes.len() as u64, frames: stats.frames });
        manifest.save(&store)?;
        let segment_in_bytes = std::fs::metadata(&cut).map(|m| m.len()).unwrap_or(0);
        debug!(job = %id, shard = shard.index, frames = stats.frames, "shard stored");
        timings.push(ShardTiming {
            shard: shard.index,
            frames: stats.frames,
            wall_secs: t.elapsed().as_secs_f64(),
            model_secs: stats.model.as_secs_f64(),
            segment_in_bytes,
            segment_out_bytes: bytes.len() as u64,
        });
        let _ = std::fs::remove_file(&cut);
        let _ = std::fs::remove_file(&encoded);
    }

    let segments: Vec<Segment> = plan
        .shards
        .iter()
        .map(|s| Segment { path: store.path_of(&Manifest::segment_key(&id, s.index)), first_pts: s.pts[0] })
        .collect();
    let output_key = output_name(&job.input, model.label());
    stitch::stitch(&info, &segments, &store, &output_key)?;
    manifest.output = Some(output_key.clone());
    manifest.save(&store)?;

    let stylized: u64 = timings.iter().map(|t| t.frames).sum();
    let wall = started.elapsed().as_secs_f64();
    let report = JobReport {
        job: id.clone(),
        input: job.input.display().to_string(),
        output: store.path_of(&output_key).display().to_string(),
        model: model.describe(),
        video: facts(&info),
        shards: plan.shards.len(),
        shards_reused: reused,
        timings,
        wall_secs: wall,
        frames_per_sec: if wall > 0.0 { stylized as f64 / wall } else { 0.0 },
    };
    store.put(&format!("jobs/{id}/report.json"), &serde_json::to_vec_pretty(&report).expect("serialisable"))?;
    Ok(report)
}

/// The parameters that shape the output bytes, and so the job id.
fn job_params(job: &StyleJob, model: &TorchModel) -> Result<serde_json::Value, PipelineError> {
    let (kind, model_digest, style) = match &job.model {
        ModelSpec::Builtin { path, blend } => ("builtin", file_digest(path)?, json!(blend.weights())),
        ModelSpec::User { path, range } => ("user", file_digest(path)?, json!(format!("{range:?}"))),
    };
    Ok(json!({
        "pipeline": "video_style/1",
        "model": kind,
        "model_sha256": model_digest,
        "style": style,
        "device": if model.device().is_cuda() { "cuda" } else { "cpu" },
        "precision": format!("{:?}", job.precision),
        "batch": job.worker.batch,
        "crf": job.worker.encode.crf,
        "preset": job.worker.encode.preset,
        "shard_frames": job.shard_frames,
    }))
}

/// A stored segment counts as done only if its bytes match the manifest.
fn segment_intact(store: &LocalStore, id: &str, index: u32, record: &SegmentRecord) -> bool {
    matches!(store.get(&Manifest::segment_key(id, index)), Ok(Some(bytes)) if digest(&bytes) == record.sha256)
}

/// `clip.mp4` styled `mosaic` → `clip.mosaic.mp4` (same container when it
/// can hold H.264, MP4 otherwise).
pub fn output_name(input: &Path, label: &str) -> String {
    let stem = input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "output".into());
    let ext = match input.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some(e @ ("mov" | "mkv")) => e.to_string(),
        _ => "mp4".to_string(),
    };
    format!("{stem}.{label}.{ext}")
}

fn facts(info: &MediaInfo) -> VideoFacts {
    VideoFacts {
        width: info.video.width,
        height: info.video.height,
        frames: info.video.frames(),
        frame_rate: info.video.frame_rate,
        duration_secs: info.video.duration_secs(),
        audio_streams: info.audio.len(),
    }
}
