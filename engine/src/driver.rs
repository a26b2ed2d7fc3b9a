//! driver: one job from submit to commit, for any pipeline. The engine owns
//! the lifecycle; a pipeline supplies its pieces through [`Pipeline`]:
//!
//! ```text
//! fetch → probe → pipeline.prepare (check, model, params) → streams
//!   → pipeline.plan → job id → manifest (resume) → scatter/gather over
//!   the launcher's transport → pipeline.stitch → commit → report, job log
//! ```
//!
//! Written once here, so a second pipeline is a new [`Pipeline`], not a
//! copy of this function.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use tracing::info;

use crate::concat::Segment;
use crate::container::{container_for, plan_streams, StreamPlan};
use crate::error::EngineError;
use crate::gather::Gather;
use crate::job::{digest, file_digest, job_id, Manifest};
use crate::job_log::JobLog;
use crate::launch::{JobContext, Launcher};
use crate::layout::JobLayout;
use crate::location::{fetch_input, open_store, Location, Remote};
use crate::output::{check_file_target, name_tag, Destination, Overwrite, Target};
use crate::plan::{Plan, Shard};
use crate::probe::{probe_program, MediaInfo};
use crate::report::{JobReport, Transfer, VideoFacts};
use crate::scatter::{cut_segment, segment_format};
use crate::store::check_writable;
use crate::task::{Payload, Task, TaskHeader, TaskOutput, VideoParams};
use crate::transport::{scatter_gather, Handler};

/// Where a job reads and writes.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// The input video: a path, or a blob URL.
    pub input: Location,
    /// The store (outputs and job state): a directory, or a container URL.
    pub store: Location,
    /// The job's log (JSON lines, `<job>.jsonl`) goes to this separate
    /// store when given: those who upload inputs need not read logs.
    pub logs: Option<Location>,
    /// What reaches remote locations (a storage adapter, or [`crate::NoRemote`]).
    pub remote: Arc<dyn Remote>,
    /// Where the output goes: a unique name in the store (the default),
    /// or exactly the key or file the user named.
    pub destination: Destination,
    /// Whether an existing output that is not this job's may be replaced.
    pub overwrite: Overwrite,
    /// The job id this run must come to (a worker finishing a detached
    /// job): another id (parameters resolved otherwise) is refused, never
    /// run as a new job.
    pub expect_job: Option<String>,
    /// The program to keep from a multiplex of programs (`--program`);
    /// `None`: the first with video.
    pub program: Option<i32>,
}

/// The whole video's counts when its frames start: a resumed job counts
/// from what an earlier run finished, not from zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Frames in the video.
    pub frames: u64,
    /// Frames an earlier run finished.
    pub frames_done: u64,
    /// Shards in the plan.
    pub shards: usize,
    /// Shards an earlier run finished.
    pub shards_done: usize,
}

/// Hears how a job advances (the CLI draws a progress bar).
pub trait Progress: Send + Sync {
    /// The job enters a stage: `probe`, `model`, `plan`, `frames`,
    /// `stitch`, then the pipeline's own (`flicker`).
    fn stage(&self, _stage: &'static str) {}
    /// The frames start.
    fn start(&self, counts: Counts);
    /// `frames` more frames are done.
    fn advance(&self, frames: u64);
    /// One more shard's segment is kept in the job's state (it survives an
    /// interrupt).
    fn shard_kept(&self) {}
    /// Something the user should know that does not stop the job
    /// (`<input>: <what was not kept and why>`): a log line unless the
    /// listener shows it its own way (the CLI: one `stylize: warning:` line).
    fn warning(&self, message: &str) {
        tracing::warn!("{message}");
    }
}

/// A progress listener that ignores everything.
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _: Counts) {}
    fn advance(&self, _: u64) {}
}

/// What a pipeline supplies to the driver.
pub trait Pipeline {
    /// The pipeline's error: the engine's errors convert into it.
    type Error: From<EngineError> + std::fmt::Display;
    /// The pipeline's own part of the job report.
    type Extra: Serialize + DeserializeOwned;

    /// Check the probed input, load what the job needs (its model), and
    /// return the parameters that shape the output bytes: with the input's
    /// digest they make the job id. Runs before any work, so a wrong
    /// model or an input the pipeline cannot take fails in one line,
    /// naming `input` (the user's input: `info.path` may be a downloaded
    /// copy in scratch).
    fn prepare(&mut self, info: &MediaInfo, input: &Path) -> Result<serde_json::Value, Self::Error>;
    /// Cut the video into shards (never depending on the worker count).
    fn plan(&self, info: &MediaInfo) -> Plan;
    /// The output's store key, for the input's path in its container
    /// (folders kept), the tag that makes it unique per input path and
    /// parameters ([`name_tag`]), and the container.
    fn output_name(&self, input_path: &str, tag: &str, streams: &StreamPlan) -> String;
    /// The workers this process runs (in-process, or the coordinator's
    /// own beside remote ones): one per shard it runs side by side.
    fn local_handlers(&mut self, progress: Arc<dyn Progress>) -> Result<Vec<Box<dyn Handler>>, Self::Error>;
    /// Join the encoded segments into `dst` (a temporary file; the driver
    /// commits it). Packets and bytes only: its errors are the engine's.
    fn stitch(
        &self,
        info: &MediaInfo,
        streams: &StreamPlan,
        segments: &[Segment],
        dst: &Path,
    ) -> Result<(), EngineError> {
        crate::concat::concat(info, segments, dst, streams)
    }
    /// The pipeline's facts once the output is committed, from what its
    /// workers measured on each shard (the manifest's segment records,
    /// reused shards included): no second pass over the files.
    fn extra(&self, manifest: &Manifest) -> Self::Extra;
    /// What the workers met that the output does not show as the input
    /// had it, one line each (no file name), from the manifest's records:
    /// said on stderr and in the report's warnings.
    fn warnings(&self, _manifest: &Manifest) -> Vec<String> {
        Vec::new()
    }
}

/// Run the whole job and commit its output; returns its report. With a
/// logs store, the job's log goes there, whether it succeeded or not.
pub fn run_job<P: Pipeline>(
    spec: &JobSpec,
    pipeline: &mut P,
    launcher: &dyn Launcher,
    progress: Arc<dyn Progress>,
) -> Result<JobReport<P::Extra>, P::Error> {
    let span = tracing::info_span!("job", job = tracing::field::Empty, input = %spec.input.display());
    let _in_job = span.enter();
    let mut log = JobLog::default();
    log.record("start", json!({ "input": spec.input.display(), "store": spec.store.display() }));
    // The logs store is checked before any work (a connection string under
    // --sas-only, a read-only SAS), not found wrong after the job.
    let logs = match &spec.logs {
        Some(at) => Some(open_store(at, spec.remote.as_ref()).and_then(|s| check_writable(s.as_ref()).map(|()| s))?),
        None => None,
    };
    let result = drive(spec, pipeline, launcher, progress, &mut log);
    if let Some(id) = &log.job {
        span.record("job", id.as_str());
    }
    match &result {
        Ok(report) => {
            log.record("done", json!({ "job": report.job, "output": report.output, "wall_secs": report.wall_secs }))
        }
        Err(e) => log.record("failed", json!({ "error": e.to_string() })),
    }
    if let Some(logs) = logs {
        // One log per attempt, never overwritten: the job (or `failed`,
        // before the job had an id), the time and this process.
        if let Err(e) = logs.put(&log.name(), &log.bytes()) {
            tracing::warn!(error = %e, "job log not written");
        }
    }
    result
}

fn drive<P: Pipeline>(
    spec: &JobSpec,
    pipeline: &mut P,
    launcher: &dyn Launcher,
    progress: Arc<dyn Progress>,
    log: &mut JobLog,
) -> Result<JobReport<P::Extra>, P::Error> {
    let started = Instant::now();
    progress.stage("probe");
    // One span per stage of the job (for traces): each ends where the
    // next begins.
    let mut stage = tracing::info_span!("probe").entered();
    let scratch =
        crate::scratch::tempdir().map_err(EngineError::io_at(std::env::temp_dir(), "creating scratch directory"))?;
    if let Destination::File(path) = &spec.destination {
        check_file_target(path, &spec.input)?;
    }
    // The store first: a read-only or expired SAS fails before a long
    // download and before the model loads.
    let remote = spec.remote.as_ref();
    let store = open_store(&spec.store, remote)?;
    let store = store.as_ref();
    if matches!(spec.store, Location::Remote(_)) {
        check_writable(store)?;
    }
    let input = fetch_input(&spec.input, scratch.path(), remote)?;
    // Errors about a downloaded copy name the user's input, never scratch.
    let mut info = probe_program(&input, spec.program).map_err(|e| rename_input(e, &input, &spec.input))?;
    // The shards' container: a trial segment decoded back, so that what
    // cannot be cut fails here, before any frame.
    info.video.segment_format =
        segment_format(&info, scratch.path()).map_err(|e| rename_input(e, &input, &spec.input))?.to_string();
    progress.stage("model");
    stage = {
        drop(stage);
        tracing::info_span!("prepare").entered()
    };
    let params = pipeline.prepare(&info, Path::new(&spec.input.display()))?;
    // Whatever would fail at the stitch fails here, before any frame.
    let requested = match &spec.destination {
        Destination::Named => None,
        Destination::Key(key) => container_for(Path::new(key)),
        Destination::File(path) => container_for(path),
    };
    let streams = plan_streams(&info, requested).map_err(|e| rename_input(e, &input, &spec.input))?;
    for w in &streams.warnings {
        progress.warning(&format!("{}: {w}", spec.input.display()));
    }
    progress.stage("plan");
    stage = {
        drop(stage);
        tracing::info_span!("plan").entered()
    };
    let plan = pipeline.plan(&info);
    let input_digest = file_digest(&input).map_err(|e| rename_input(e, &input, &spec.input))?;
    let id = job_id(&input_digest, &params);
    let layout = JobLayout::new(&id);
    if let Some(expected) = spec.expect_job.as_deref().filter(|e| *e != id) {
        return Err(EngineError::BadInput {
            path: spec.input.display().into(),
            reason: format!("job {expected} resolves here as job {id} (other parameters): not run"),
        }
        .into());
    }
    log.job = Some(id.clone());
    info!(job = %id, input = %spec.input.display(), frames = info.video.frames(), "job starts");
    let target = match &spec.destination {
        Destination::Named => Target::Key(pipeline.output_name(
            &spec.input.path_in_container(remote),
            &name_tag(&spec.input, &params),
            &streams,
        )),
        Destination::Key(key) => Target::Key(key.clone()),
        Destination::File(path) => Target::File(path.clone()),
    };

    // One process at a time on a job, across submits and watchers: a
    // second one waits here, then finds the job done.
    let _held = store.lock(&layout.lock(), &|| {
        tracing::warn!(job = %id, "another process is running this job: waiting for it");
    })?;
    store.remove_leftovers(&layout.prefix())?;
    if let Target::File(path) = &target {
        crate::output::remove_file_leftovers(path);
    }
    let loaded = match Manifest::load(store, &id) {
        // Written atomically, so only damage from outside breaks it; the
        // job starts over rather than failing until cleaned by hand. Any
        // other error (a store that times out) is not damage: it fails,
        // and the kept shards stay for the next run.
        Err(e @ EngineError::Corrupt { .. }) => {
            tracing::warn!(error = %e, "the job's manifest is damaged: starting the job over");
            None
        }
        other => other?,
    };
    let manifest = match loaded {
        Some(m) if m.plan == plan => m,
        _ => Manifest {
            job: id.clone(),
            input: spec.input.display(),
            input_digest,
            params,
            plan: plan.clone(),
            done: Default::default(),
            output: None,
            output_sha256: None,
            status: Default::default(),
            error: None,
            started: 0.0,
            updated: 0.0,
            failures: Vec::new(),
            running: Default::default(),
        },
    };
    // Sent with every task: workers run the job as resolved here.
    let job_params = manifest.params.clone();
    if output_is_ours(store, &manifest, &target, scratch.path())? {
        if let Some(mut report) = committed_report::<P::Extra>(store, &manifest) {
            info!(job = %id, output = %target.label(), "already committed");
            report.already_done = true;
            return Ok(report);
        }
    } else {
        target.check_overwrite(store, &spec.overwrite)?;
    }
    let gather = Gather::resume(store, manifest, scratch.path())?;
    let reused = gather.reused();
    log.record("plan", json!({ "job": id, "shards": plan.shards.len(), "reused": reused, "frames": plan.frames() }));
    let pending: VecDeque<&Shard> = plan.shards.iter().filter(|s| !gather.is_done(s.index)).collect();
    progress.stage("frames");
    stage = {
        drop(stage);
        tracing::info_span!("frames", shards = plan.shards.len()).entered()
    };
    progress.start(Counts {
        frames: plan.frames(),
        frames_done: plan.frames() - pending.iter().map(|s| s.len()).sum::<u64>(),
        shards: plan.shards.len(),
        shards_done: reused,
    });

    // The transport is made after everything that may refuse the job, so
    // remote workers are released once, by it (or by the launcher's drop).
    let local = if launcher.runs_shards_here() { pipeline.local_handlers(progress.clone())? } else { Vec::new() };
    // Each local worker down a run of its own: its next shard follows the
    // one it just did, whose last frames a worker may keep for the next
    // one's warm-up. Only the order: the bytes do not depend on it.
    let mut pending = crate::plan::in_runs(pending, local.len());
    let mut transport = launcher.transport(&JobContext { id: &id, store, layout: &layout }, local)?;
    let transport_name = transport.describe();
    info!(job = %id, shards = plan.shards.len(), reused, transport = %transport_name, "plan ready");
    let stored_inputs = launcher.stores_payloads();

    let video = VideoParams {
        width: info.video.width,
        height: info.video.height,
        time_base: info.video.time_base,
        frame_rate: info.video.frame_rate,
        picture: info.video.picture,
    };
    // Bytes of each shard's source segment, for the report.
    let segment_in = std::cell::RefCell::new(HashMap::<u32, u64>::new());
    let mut next_task = || -> Result<Option<Task>, EngineError> {
        let Some(shard) = pending.pop_front() else { return Ok(None) };
        let cut = scratch.path().join(format!("in-{:05}.nut", shard.index));
        cut_segment(&info, shard, &cut).map_err(|e| rename_input(e, &input, &spec.input))?;
        let bytes = std::fs::read(&cut).map_err(EngineError::io_at(&cut, "reading segment"))?;
        let _ = std::fs::remove_file(&cut);
        segment_in.borrow_mut().insert(shard.index, bytes.len() as u64);
        // Workers that reach the store fetch the segment themselves: the
        // task carries its key and digest, never the video.
        let segment = if stored_inputs {
            let key = layout.source(shard.index);
            store.put(&key, &bytes)?;
            Payload::Stored { key, sha256: digest(&bytes), bytes: bytes.len() as u64 }
        } else {
            Payload::Inline(bytes)
        };
        let params = job_params.clone();
        Ok(Some(Task { header: TaskHeader { job: id.clone(), shard: shard.clone(), video, params }, segment }))
    };
    if launcher.detached() {
        let Target::Key(output) = &target else {
            let reason = "a detached job's output goes into its store: name a folder or a container, not a file";
            return Err(EngineError::BadInput { path: spec.store.display().into(), reason: reason.into() }.into());
        };
        // What the worker that ends the last shard needs to finish it.
        let name = spec.input.file_name();
        let ext = Path::new(&name).extension().and_then(|e| e.to_str()).filter(|e| e.len() <= 8).unwrap_or("bin");
        let input_key = layout.input(ext);
        store.put_file(&input_key, &input)?;
        let description =
            json!({ "job": id, "input": input_key, "input_name": spec.input.display(), "output": output });
        store.put(&layout.description(), description.to_string().as_bytes())?;
        let mut queued = 0usize;
        while let Some(task) = next_task()? {
            if transport.offer(task)?.is_some() {
                let why = "a detached launcher must take every task at once";
                return Err(EngineError::from(crate::error::TransportError::Unavailable(why.into())).into());
            }
            queued += 1;
        }
        info!(job = %id, shards = queued, "detached: the workers finish the job");
        let manifest = gather.finish_detached();
        let extra = pipeline.extra(&manifest);
        return Ok(JobReport {
            job: id.clone(),
            input: spec.input.display(),
            output: target.display(store),
            transport: transport_name,
            video: VideoFacts::of(&info),
            shards: plan.shards.len(),
            shards_reused: reused,
            timings: Vec::new(),
            wall_secs: started.elapsed().as_secs_f64(),
            frames_per_sec: 0.0,
            transfer: Transfer { bytes_sent: 0, bytes_received: 0, bytes_per_frame: 0.0, raw_bytes_per_frame: 0 },
            workers: Vec::new(),
            warnings: streams.warnings.clone(),
            detached: true,
            already_done: false,
            extra,
        });
    }
    let gather = std::cell::RefCell::new(gather);
    let on_done = |out: TaskOutput| -> Result<(), EngineError> {
        let sent = segment_in.borrow().get(&out.header.shard).copied().unwrap_or(0);
        let (frames, told) = (out.header.frames, out.header.progress_told);
        gather.borrow_mut().store_result(out, sent)?;
        progress.shard_kept();
        // The coordinator's own workers report their frames as they go.
        if !told {
            progress.advance(frames);
        }
        Ok(())
    };
    let on_note = |e: &crate::transport::Event| match e {
        crate::transport::Event::Started { shard, worker, at } => gather.borrow_mut().record_start(*shard, worker, *at),
        crate::transport::Event::Retried(f) | crate::transport::Event::Failed(f) => {
            gather.borrow_mut().record_failure(f)
        }
        _ => {}
    };
    let gathered = scatter_gather(transport.as_mut(), next_task, on_done, on_note).map_err(|e| match e {
        // A worker knows its shard, not the user's file: name it here.
        EngineError::Worker { worker, shard, kind, message } => {
            EngineError::Worker { worker, shard, kind, message: format!("{message} (in {})", spec.input.display()) }
        }
        e => e,
    });
    let gather = gather.into_inner();
    if let Err(e) = gathered {
        // Said in the job's state unless the store is what failed: then
        // the write would only wait on it again (the error says it all).
        if !matches!(e, EngineError::Remote { .. } | EngineError::Io { .. }) {
            gather.record_end(&e.to_string());
        }
        return Err(e.into());
    }
    let (bytes_sent, bytes_received) = transport.bytes_moved();
    drop(transport);
    let (segments, mut manifest, timings) = gather.finish(&plan)?;
    for t in &timings {
        let r = &t.result;
        log.record(
            "shard",
            json!({ "shard": r.shard, "worker": r.worker, "frames": r.frames, "wall_secs": r.wall_secs }),
        );
    }
    if stored_inputs {
        // The sources were for the workers; the job's segments stay.
        let _ = store.delete_prefix(&format!("{}sources", layout.prefix()));
    }

    progress.stage("stitch");
    stage = {
        drop(stage);
        tracing::info_span!("stitch").entered()
    };
    let shown = target.display(store);
    // Errors name the output and the input as the user knows them, never
    // the temporary file or a downloaded copy.
    let stitch = |dst: &Path| {
        pipeline.stitch(&info, &streams, &segments, dst).map_err(|e| {
            let e = rename_path(e, dst, Path::new(&shown));
            rename_input(e, &input, &spec.input)
        })
    };
    let output_file = match &target {
        Target::Key(key) => crate::commit::commit(store, key, &layout.staging(), scratch.path(), stitch)?,
        Target::File(path) => {
            crate::output::commit_file(path, stitch)?;
            path.clone()
        }
    };
    manifest.output = Some(target.label());
    manifest.output_sha256 = Some(file_digest(&output_file)?);
    manifest.status = crate::job::JobStatus::Done;
    manifest.save(store)?;

    drop(stage);
    let extra = pipeline.extra(&manifest);
    let mut warnings = streams.warnings.clone();
    for w in pipeline.warnings(&manifest) {
        progress.warning(&format!("{}: {w}", spec.input.display()));
        warnings.push(w);
    }
    let processed: u64 = timings.iter().map(|t| t.result.frames).sum();
    let wall = started.elapsed().as_secs_f64();
    let raw_frame_bytes = u64::from(info.video.width) * u64::from(info.video.height) * 3;
    let report = JobReport {
        job: id.clone(),
        input: spec.input.display(),
        output: shown.clone(),
        transport: transport_name,
        video: VideoFacts::of(&info),
        shards: plan.shards.len(),
        shards_reused: reused,
        timings: timings.clone(),
        wall_secs: wall,
        frames_per_sec: if wall > 0.0 { processed as f64 / wall } else { 0.0 },
        transfer: Transfer {
            bytes_sent,
            bytes_received,
            bytes_per_frame: if processed > 0 { (bytes_sent + bytes_received) as f64 / processed as f64 } else { 0.0 },
            raw_bytes_per_frame: 2 * raw_frame_bytes,
        },
        workers: crate::report::WorkerSummary::of(&timings),
        detached: false,
        already_done: false,
        warnings,
        extra,
    };
    let bytes = serde_json::to_vec_pretty(&report)
        .map_err(|e| EngineError::Corrupt { path: layout.report().into(), reason: e.to_string() })?;
    store.put(&layout.report(), &bytes)?;
    Ok(report)
}

/// Whether `target` holds this job's own committed output (the same
/// upload announced twice, or a re-run): then nothing is redone. Another
/// name for the same work (a copy of the video under another name) is not:
/// it gets its own output, stitched from the kept segments.
fn output_is_ours(
    store: &dyn crate::store::Store,
    manifest: &Manifest,
    target: &Target,
    scratch: &Path,
) -> Result<bool, EngineError> {
    let (Some(recorded), Some(sha256)) = (&manifest.output, &manifest.output_sha256) else { return Ok(false) };
    if *recorded != target.label() || !target.exists(store)? {
        return Ok(false);
    }
    let local = match target {
        Target::File(path) => path.clone(),
        Target::Key(key) => match store.local_path(key) {
            Some(p) => p,
            None => {
                let p = scratch.join("committed-output");
                if !store.get_file(key, &p)? {
                    return Ok(false);
                }
                p
            }
        },
    };
    // The name may hold other bytes by now (edited, or replaced by hand).
    Ok(&file_digest(&local)? == sha256)
}

/// The stored report of a committed job, marked as all reused.
fn committed_report<X: DeserializeOwned>(store: &dyn crate::store::Store, manifest: &Manifest) -> Option<JobReport<X>> {
    let bytes = store.get(&JobLayout::new(&manifest.job).report()).ok()??;
    let mut report = serde_json::from_slice::<JobReport<X>>(&bytes).ok()?;
    report.shards_reused = report.shards;
    report.timings.clear();
    report.workers.clear();
    Some(report)
}

/// An error about the local copy of a remote input names the input as the
/// user gave it (redacted URL), never the scratch file.
fn rename_input(e: EngineError, local: &Path, input: &Location) -> EngineError {
    match input {
        Location::Remote(_) => rename_path(e, local, Path::new(&input.display())),
        Location::Local(_) => e,
    }
}

/// The same error, naming `to` where it named `from`.
fn rename_path(e: EngineError, from: &Path, to: &Path) -> EngineError {
    match e {
        EngineError::BadInput { path, reason } if path == from => EngineError::BadInput { path: to.into(), reason },
        EngineError::Media { path, op, source } if path == from => EngineError::Media { path: to.into(), op, source },
        EngineError::Io { path, op, source } if path == from => EngineError::Io { path: to.into(), op, source },
        e => e,
    }
}
