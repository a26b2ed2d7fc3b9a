//! work: what a worker (a thread of the coordinator, an MPI rank, a queue
//! worker) does with a task: check that it can run the job as resolved,
//! write the segment it received to scratch, run the worker stages, and
//! hand back the encoded segment's bytes.

use std::sync::Arc;
use std::time::Instant;

use stylize_engine::{Handler, Payload, ResultHeader, Task, TaskError, TaskErrorKind, TaskOutput};
use stylize_models::torch::{DeviceChoice, Precision};
use stylize_models::StyleModel;
use stylize_worker::WorkerError;
use stylize_worker::{run_shard, WorkerOptions};

use super::{ModelLoader, Progress, StyleParams};

/// Runs shards through the worker stages.
pub struct ShardHandler {
    model: Option<Box<dyn StyleModel>>,
    loader: ModelLoader,
    /// SHA-256 of this worker's model file: a task naming another is refused.
    model_sha256: String,
    device: DeviceChoice,
    precision: Precision,
    options: WorkerOptions,
    scratch: tempfile::TempDir,
    progress: Option<Arc<dyn Progress>>,
}

impl ShardHandler {
    /// A handler that loads its model with `loader` on the first task
    /// (remote workers: a load error then fails that task, naming the
    /// worker), at the precision the task's parameters name; `precision`
    /// is the one asked for here, used when the job did not resolve one.
    pub fn new(
        loader: ModelLoader,
        model_sha256: String,
        device: DeviceChoice,
        precision: Precision,
        options: WorkerOptions,
    ) -> std::io::Result<Self> {
        Ok(ShardHandler {
            model: None,
            loader,
            model_sha256,
            device,
            precision,
            options,
            scratch: stylize_engine::scratch::tempdir()?,
            progress: None,
        })
    }

    /// Use a model already loaded and checked (the coordinator's own).
    pub fn with_model(mut self, model: Option<Box<dyn StyleModel>>) -> Self {
        self.model = model;
        self
    }

    /// Report frames as they are done (the coordinator's own worker; other
    /// ranks' frames are counted as their results arrive).
    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> Self {
        self.progress = Some(progress);
        self
    }
}

impl Handler for ShardHandler {
    fn handle(&mut self, task: Task) -> Result<TaskOutput, TaskError> {
        let started = Instant::now();
        let shard = &task.header.shard;
        inject_fault(shard.index)?;
        let (_, precision) = StyleParams::for_worker(&task.header.params, shard.index, &self.model_sha256)?;
        let precision = if precision == Precision::Auto { self.precision } else { precision };
        if self.model.is_none() {
            let model = (self.loader)(self.device, precision)
                .map_err(|e| TaskError::new(TaskErrorKind::Model, format!("shard {}: {e}", shard.index)))?;
            self.options.batch = self.options.batch_for(model.is_cuda());
            self.model = Some(model);
        }
        let model = self.model.as_mut().expect("loaded above").as_mut();
        let input = self.scratch.path().join(format!("in-{:05}.nut", shard.index));
        let output = self.scratch.path().join(format!("out-{:05}.mp4", shard.index));
        let Some(segment) = task.segment.inline() else {
            let why = format!("shard {}: the task's segment was not fetched from the store", shard.index);
            return Err(TaskError::new(TaskErrorKind::Storage, why));
        };
        std::fs::write(&input, segment).map_err(|e| io_error(shard.index, "writing its segment", &e))?;
        let format = task.header.video;
        let progress = self.progress.clone();
        let on_frames = move |n: u64| {
            if let Some(p) = &progress {
                p.advance(n);
            }
        };
        let result = run_shard(shard, &input, &output, format, model, &self.options, &on_frames);
        let _ = std::fs::remove_file(&input);
        let stats = result.map_err(|e| TaskError::new(worker_error_kind(&e), e.to_string()))?;
        let segment = std::fs::read(&output).map_err(|e| io_error(shard.index, "reading its encoded segment", &e))?;
        let _ = std::fs::remove_file(&output);
        Ok(TaskOutput {
            header: ResultHeader {
                shard: shard.index,
                frames: stats.frames,
                wall_secs: started.elapsed().as_secs_f64(),
                model_secs: stats.model.as_secs_f64(),
                figures: Some(figures(&stats)),
                ..Default::default()
            },
            segment: Payload::Inline(segment),
        })
    }
}

/// Fault injection for the tests of failure handling (never set in use):
/// `STYLIZE_FAULT=error:3` fails shard 3 with an error, `panic:3` panics
/// on it, `exit:3` kills the worker process there, `sleep:3` holds it for
/// a minute (a task in hand when a worker is told to stop), `hold:3` holds
/// it until the file `STYLIZE_FAULT_RELEASE` names exists (two runs of one
/// job made to overlap; two minutes at most).
fn inject_fault(shard: u32) -> Result<(), TaskError> {
    let Ok(spec) = std::env::var("STYLIZE_FAULT") else { return Ok(()) };
    let Some((kind, at)) = spec.split_once(':') else { return Ok(()) };
    if at.parse::<u32>().ok() != Some(shard) {
        return Ok(());
    }
    match kind {
        "error" => Err(TaskError::new(TaskErrorKind::Transient, format!("shard {shard}: injected fault"))),
        "panic" => panic!("shard {shard}: injected panic"),
        "exit" => std::process::abort(),
        "sleep" => {
            std::thread::sleep(std::time::Duration::from_secs(60));
            Ok(())
        }
        "hold" => {
            let release = std::env::var_os("STYLIZE_FAULT_RELEASE").map(std::path::PathBuf::from);
            let until = std::time::Instant::now() + std::time::Duration::from_secs(120);
            while release.as_ref().is_some_and(|p| !p.exists()) && std::time::Instant::now() < until {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// The kind of a worker's failure: what the coordinator and the trigger
/// decide retries on.
fn worker_error_kind(e: &WorkerError) -> TaskErrorKind {
    match e {
        WorkerError::Decode { .. } | WorkerError::FrameCount { .. } => TaskErrorKind::BadInput,
        WorkerError::Model { .. } => TaskErrorKind::Model,
        WorkerError::Encode { .. } => TaskErrorKind::Io,
    }
}

/// A scratch-file failure on a worker (disk full, permissions): named by
/// the shard, not by the scratch path the user never saw.
fn io_error(shard: u32, op: &str, e: &std::io::Error) -> TaskError {
    TaskError::new(TaskErrorKind::Io, format!("shard {shard}: {op} in the worker's scratch directory: {e}"))
}

/// A shard's figures for the manifest: its flicker sums (when measured)
/// and how many frames stood in for ones that did not decode.
fn figures(stats: &stylize_worker::ShardStats) -> serde_json::Value {
    let mut value =
        stats.flicker.as_ref().map_or(serde_json::json!({}), |f| serde_json::to_value(f).expect("sums serialise"));
    if stats.concealed > 0 {
        value["concealed"] = stats.concealed.into();
    }
    if stats.out_of_gamut > 0 {
        value["out_of_gamut"] = stats.out_of_gamut.into();
    }
    value
}
