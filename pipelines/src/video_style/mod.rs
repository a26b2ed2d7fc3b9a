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
pub mod watch;
pub mod work;

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;
use stylize_engine::concat::Segment;
use stylize_engine::container::plan_streams;
use stylize_engine::job::{digest, file_digest, job_id, Manifest, SegmentRecord};
use stylize_engine::location::{fetch_input, open_store, Location, RemoteOptions};
use stylize_engine::plan::Shard;
use stylize_engine::probe::{probe, MediaInfo};
use stylize_engine::scatter::cut_segment;
use stylize_engine::store::Store;
use stylize_engine::transport::mpi::{local_rank, serve as mpi_serve, MpiTransport, SimpleCommunicator};
use stylize_engine::transport::{
    scatter_gather, Handler, InProcess, Task, TaskHeader, TaskOutput, Transport, VideoParams,
};
use stylize_engine::EngineError;
use stylize_models::torch::{DeviceChoice, ModelSpec, PixelRange, Precision, TorchModel};
use stylize_models::StyleModel;
use stylize_worker::deflicker::WARMUP_FRAMES;
use stylize_worker::flicker::measure;
use stylize_worker::{DeflickerMode, WorkerOptions};
use tracing::{debug, info};

use crate::error::PipelineError;
use report::{JobReport, ShardTiming, Transfer, VideoFacts};
use work::{ModelSettings, ShardHandler};

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
    /// Measure the output's flicker for the report (a decode of input and
    /// output after the commit).
    pub measure_flicker: bool,
}

impl StyleJob {
    fn model_settings(&self) -> ModelSettings {
        ModelSettings {
            spec: self.model.clone(),
            device: self.device,
            precision: self.precision,
            threads: self.threads,
        }
    }
}

/// How the shards reach workers.
pub enum Launch<'a> {
    /// One worker thread in this process.
    InProcess,
    /// Rank 0 of an MPI job: the other ranks run [`serve`].
    Mpi {
        /// The world communicator.
        world: &'a SimpleCommunicator,
        /// Rank 0 only coordinates, it runs no shard itself.
        coordinator_only: bool,
    },
}

/// Hears how a job advances (the CLI draws a progress bar).
pub trait Progress: Send + Sync {
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

/// Run the whole job and commit its output; returns its report. With a
/// logs store, the job's log goes there, whether it succeeded or not.
pub fn run(job: &StyleJob, progress: Arc<dyn Progress>, launch: Launch<'_>) -> Result<JobReport, PipelineError> {
    let mut log = JobLog::default();
    log.record("start", json!({ "input": job.input.display(), "store": job.store.display() }));
    let result = run_logged(job, progress, launch, &mut log);
    match &result {
        Ok(report) => {
            log.record("done", json!({ "job": report.job, "output": report.output, "wall_secs": report.wall_secs }))
        }
        Err(e) => log.record("failed", json!({ "error": e.to_string() })),
    }
    if let Some(logs) = &job.logs {
        let written =
            open_store(logs, job.remote).and_then(|store| store.put(&format!("{}.jsonl", log.name()), &log.bytes()));
        if let Err(e) = written {
            tracing::warn!(error = %e, "job log not written");
        }
    }
    result
}

fn run_logged(
    job: &StyleJob,
    progress: Arc<dyn Progress>,
    launch: Launch<'_>,
    log: &mut JobLog,
) -> Result<JobReport, PipelineError> {
    let started = Instant::now();
    let scratch = tempfile::tempdir().map_err(|e| EngineError::Io {
        path: std::env::temp_dir(),
        op: "creating scratch directory",
        source: e,
    })?;
    let input = fetch_input(&job.input, scratch.path(), job.remote)?;
    let info = probe(&input)?;
    let (width, height) = (info.video.width, info.video.height);
    if width < MIN_SIDE || height < MIN_SIDE {
        return Err(EngineError::BadInput {
            path: input.clone(),
            reason: format!("{width}x{height} is too small: the style networks need at least {MIN_SIDE}x{MIN_SIDE}"),
        }
        .into());
    }
    // Whatever would fail at the stitch fails here, before any frame.
    let streams = plan_streams(&info, None)?;
    for w in &streams.warnings {
        tracing::warn!("warning: {}: {w}", job.input.display());
    }
    let store = open_store(&job.store, job.remote)?;
    let store = store.as_ref();
    // Load and check the model before any frame is decoded, on every
    // launch: a wrong module or style fails here, with one line.
    let model = TorchModel::load_with_threads(&job.model, job.device, job.precision, job.threads)?;
    let mut job = job.clone();
    job.worker.batch = job.worker.batch_for(model.device().is_cuda());
    let job = &job;
    let model_description = model.describe();
    let label = model.label().to_string();
    info!(input = %job.input.display(), frames = info.video.frames(), model = %model_description, "job starts");

    let warmup = if job.worker.deflicker == DeflickerMode::Off { 0 } else { WARMUP_FRAMES };
    let plan = plan::plan(&info.video, job.shard_frames, warmup);
    let input_digest = file_digest(&input)?;
    let params = job_params(job, model.device().is_cuda())?;
    let id = job_id(&input_digest, &params);
    log.job = Some(id.clone());
    let mut manifest = match Manifest::load(store, &id)? {
        Some(m) if m.plan == plan => m,
        _ => Manifest {
            job: id.clone(),
            input: job.input.display(),
            input_digest,
            params,
            plan: plan.clone(),
            done: Default::default(),
            output: None,
        },
    };
    if let Some(key) = &manifest.output {
        if store.exists(key)? {
            // Done before (the same upload announced twice, or a re-run):
            // nothing to redo.
            info!(job = %id, output = %key, "already committed");
            let report = store
                .get(&format!("jobs/{id}/report.json"))?
                .and_then(|b| serde_json::from_slice::<JobReport>(&b).ok());
            if let Some(mut report) = report {
                report.shards_reused = report.shards;
                report.timings.clear();
                return Ok(report);
            }
        }
    }
    // Each segment as a local file, checked once against the manifest: in
    // place in a local store, downloaded once from a remote one (the stitch
    // uses the same file), written here as soon as a worker returns it.
    let mut local_segments: HashMap<u32, PathBuf> = HashMap::new();
    let done: Vec<u32> = manifest.done.keys().copied().collect();
    for index in done {
        match intact_segment(store, &id, index, &manifest.done[&index], scratch.path()) {
            Some(path) => {
                local_segments.insert(index, path);
            }
            None => {
                manifest.done.remove(&index);
            }
        }
    }
    let reused = manifest.done.len();
    manifest.save(store)?;
    log.record("plan", json!({ "job": id, "shards": plan.shards.len(), "reused": reused, "frames": plan.frames() }));

    let mut pending: VecDeque<&Shard> = plan.shards.iter().filter(|s| !manifest.done.contains_key(&s.index)).collect();
    progress.start(pending.iter().map(|s| s.len()).sum());

    let local = |model: TorchModel| -> Result<Box<dyn Handler>, PipelineError> {
        let handler = ShardHandler::with_model(model, job.model_settings(), job.worker.clone(), progress.clone())
            .map_err(|e| EngineError::Io { path: std::env::temp_dir(), op: "creating scratch directory", source: e })?;
        Ok(Box::new(handler))
    };
    let mut transport: Box<dyn Transport + '_> = match launch {
        Launch::InProcess => Box::new(InProcess::start(local(model)?, 0)),
        Launch::Mpi { world, coordinator_only } => {
            let handler = if coordinator_only { None } else { Some(local(model)?) };
            Box::new(MpiTransport::new(world, handler)?)
        }
    };
    let transport_name = transport.describe();
    info!(job = %id, shards = plan.shards.len(), reused, transport = %transport_name, "plan ready");

    let video = VideoParams {
        width: info.video.width,
        height: info.video.height,
        time_base: info.video.time_base,
        frame_rate: info.video.frame_rate,
        picture: info.video.picture,
    };
    let mut timings = Vec::new();
    let mut segment_in = std::collections::HashMap::new();
    let next_task = || -> Result<Option<Task>, EngineError> {
        let Some(shard) = pending.pop_front() else { return Ok(None) };
        let cut = scratch.path().join(format!("in-{:05}.nut", shard.index));
        cut_segment(&info, shard, &cut)?;
        let segment = std::fs::read(&cut).map_err(EngineError::io_at(&cut, "reading segment"))?;
        let _ = std::fs::remove_file(&cut);
        segment_in.insert(shard.index, segment.len() as u64);
        Ok(Some(Task { header: TaskHeader { job: id.clone(), shard: shard.clone(), video }, segment }))
    };
    let on_done = |out: TaskOutput| -> Result<(), EngineError> {
        let h = &out.header;
        let key = Manifest::segment_key(&id, h.shard);
        store.put(&key, &out.segment)?;
        let local = match store.local_path(&key) {
            Some(p) => p,
            None => {
                let p = scratch.path().join(format!("seg-{:05}.mp4", h.shard));
                std::fs::write(&p, &out.segment).map_err(EngineError::io_at(&p, "keeping segment"))?;
                p
            }
        };
        local_segments.insert(h.shard, local);
        manifest.done.insert(
            h.shard,
            SegmentRecord { sha256: digest(&out.segment), bytes: out.segment.len() as u64, frames: h.frames },
        );
        manifest.save(store)?;
        if h.rank != 0 {
            progress.advance(h.frames);
        }
        debug!(job = %id, shard = h.shard, rank = h.rank, frames = h.frames, "shard stored");
        timings.push(ShardTiming {
            shard: h.shard,
            rank: h.rank,
            frames: h.frames,
            wall_secs: h.wall_secs,
            model_secs: h.model_secs,
            segment_in_bytes: 0,
            segment_out_bytes: out.segment.len() as u64,
        });
        Ok(())
    };
    scatter_gather(transport.as_mut(), next_task, on_done).map_err(|e| match e {
        // A worker knows its shard, not the user's file: name it here.
        EngineError::Worker { rank, shard, kind, message } => {
            EngineError::Worker { rank, shard, kind, message: format!("{message} (in {})", job.input.display()) }
        }
        e => e,
    })?;
    let (bytes_sent, bytes_received) = transport.bytes_moved();
    drop(transport);
    for t in &mut timings {
        t.segment_in_bytes = segment_in.get(&t.shard).copied().unwrap_or(0);
    }
    timings.sort_by_key(|t| t.shard);

    for t in &timings {
        log.record("shard", json!({ "shard": t.shard, "rank": t.rank, "frames": t.frames, "wall_secs": t.wall_secs }));
    }
    let mut segments = Vec::with_capacity(plan.shards.len());
    for s in &plan.shards {
        let path = local_segments.remove(&s.index).ok_or_else(|| EngineError::Corrupt {
            path: Manifest::segment_key(&id, s.index).into(),
            reason: "segment missing after all shards ran".into(),
        })?;
        segments.push(Segment { path, first_pts: s.pts[0] });
    }
    let output_key = output_name(Path::new(&job.input.file_name()), &label, streams.extension());
    let output_file = stitch::stitch(&info, &streams, &segments, store, &output_key, scratch.path())?;
    manifest.output = Some(output_key.clone());
    manifest.save(store)?;

    let flicker = if job.measure_flicker {
        match measure(&input, &output_file) {
            Ok(pair) => Some(pair),
            Err(e) => {
                tracing::warn!(error = %e, "flicker not measured");
                None
            }
        }
    } else {
        None
    };
    let stylized: u64 = timings.iter().map(|t| t.frames).sum();
    let wall = started.elapsed().as_secs_f64();
    let raw_frame_bytes = u64::from(info.video.width) * u64::from(info.video.height) * 3;
    let report = JobReport {
        job: id.clone(),
        input: job.input.display(),
        output: output_location(store, &output_key),
        model: model_description,
        transport: transport_name,
        video: facts(&info),
        shards: plan.shards.len(),
        shards_reused: reused,
        timings,
        wall_secs: wall,
        frames_per_sec: if wall > 0.0 { stylized as f64 / wall } else { 0.0 },
        transfer: Transfer {
            bytes_sent,
            bytes_received,
            bytes_per_frame: if stylized > 0 { (bytes_sent + bytes_received) as f64 / stylized as f64 } else { 0.0 },
            raw_bytes_per_frame: 2 * raw_frame_bytes,
        },
        flicker,
        warnings: streams.warnings.clone(),
    };
    store.put(&format!("jobs/{id}/report.json"), &serde_json::to_vec_pretty(&report).expect("serialisable"))?;
    Ok(report)
}

/// A worker rank's part of the job (every rank but 0, under mpirun): run
/// the shards rank 0 sends until it says stop. The rank's GPU, if any, is
/// chosen by its local rank.
pub fn serve(job: &StyleJob, world: &SimpleCommunicator) -> Result<(), PipelineError> {
    let mut settings = job.model_settings();
    settings.device = settings.device.for_local_rank(local_rank());
    let mut handler = ShardHandler::new(settings, job.worker.clone()).map_err(|e| EngineError::Io {
        path: std::env::temp_dir(),
        op: "creating scratch directory",
        source: e,
    })?;
    mpi_serve(world, &mut handler)?;
    Ok(())
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
        ModelSpec::Learned { path, style, .. } => {
            ("learned", file_digest(path)?, json!({ "slot": style.slot, "rows": style.rows }))
        }
    };
    let precision = match job.precision {
        Precision::Fp32 => "fp32",
        Precision::Fp16 => "fp16",
    };
    let deflicker = match job.worker.deflicker {
        DeflickerMode::Off => "off",
        DeflickerMode::Still => "still",
        DeflickerMode::Motion => "motion",
    };
    Ok(json!({
        // 2: colour, depth, chroma and aspect follow the source.
        "pipeline": "video_style/2",
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

/// A stored segment counts as done only if its bytes match the manifest;
/// returns it as a local file (in place, or downloaded into `scratch`).
fn intact_segment(store: &dyn Store, id: &str, index: u32, record: &SegmentRecord, scratch: &Path) -> Option<PathBuf> {
    let key = Manifest::segment_key(id, index);
    let path = match store.local_path(&key) {
        Some(p) => p,
        None => {
            let p = scratch.join(format!("seg-{index:05}.mp4"));
            store.get_file(&key, &p).ok().filter(|found| *found)?;
            p
        }
    };
    (file_digest(&path).ok()? == record.sha256).then_some(path)
}

/// `clip.mp4` styled `mosaic` → `clip.mosaic.mp4`; the extension is the
/// container's that [`plan_streams`] chose (it follows the source).
pub fn output_name(input: &Path, label: &str, extension: &str) -> String {
    let stem = input.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "output".into());
    format!("{stem}.{label}.{extension}")
}

/// Where the output is, for the report: a path, or a redacted URL.
fn output_location(store: &dyn Store, key: &str) -> String {
    match store.local_path(key) {
        Some(p) => p.display().to_string(),
        None => format!("{}/{key}", store.describe()),
    }
}

/// The job's log: JSON lines, one per event, with seconds since the start.
#[derive(Default)]
struct JobLog {
    job: Option<String>,
    lines: Vec<String>,
    started: Option<Instant>,
}

impl JobLog {
    fn record(&mut self, event: &str, fields: serde_json::Value) {
        let t = self.started.get_or_insert_with(Instant::now).elapsed().as_secs_f64();
        let mut line = json!({ "t": t, "event": event });
        if let (Some(obj), serde_json::Value::Object(extra)) = (line.as_object_mut(), fields) {
            obj.extend(extra);
        }
        self.lines.push(line.to_string());
    }

    fn name(&self) -> String {
        self.job.clone().unwrap_or_else(|| format!("failed-{}", std::process::id()))
    }

    fn bytes(&self) -> Vec<u8> {
        let mut out = self.lines.join("\n");
        out.push('\n');
        out.into_bytes()
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
            measure_flicker: false,
        };
        let params = job_params(&job, false).unwrap();
        assert_eq!(params["precision"], "fp32");
        assert_eq!(params["deflicker"], "still");
        assert_eq!(params["style"], "0-255");
        assert_eq!(job_id(&"ab".repeat(32), &params), "PINNED");
    }
}
