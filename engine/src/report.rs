//! report: one record of what a job did, written beside its manifest as
//! JSON. The CLI prints its summary, `stylize watch` logs it and the
//! benchmark reads it: one record, not three. The engine fills what every
//! job has; a pipeline adds its own facts (`extra`, flattened into the
//! same JSON object).

use serde::{Deserialize, Serialize};

use crate::probe::MediaInfo;
use crate::ratio::Ratio;
use crate::task::{ResultHeader, WorkerId};

/// Facts about a video file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VideoFacts {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Frame count.
    pub frames: u64,
    /// Exact nominal frame rate.
    pub frame_rate: Ratio,
    /// Seconds.
    pub duration_secs: f64,
    /// Audio streams copied.
    pub audio_streams: usize,
    /// Display rotation in degrees (a phone's portrait clip: 90 or -90),
    /// kept in the output; the coded size above is before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotation: Option<f64>,
}

impl VideoFacts {
    /// The facts of a probed input.
    pub fn of(info: &MediaInfo) -> Self {
        VideoFacts {
            width: info.video.width,
            height: info.video.height,
            frames: info.video.frames(),
            frame_rate: info.video.frame_rate,
            duration_secs: info.video.duration_secs(),
            audio_streams: info.audio.len(),
            rotation: info.video.rotation,
        }
    }
}

/// Timing of one shard: what its worker said of it, and the bytes that
/// carried it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardTiming {
    /// The worker's own account (shard, worker, frames, seconds).
    #[serde(flatten)]
    pub result: ResultHeader,
    /// Bytes of the compressed source segment that carried the shard.
    pub segment_in_bytes: u64,
    /// Bytes of the encoded result.
    pub segment_out_bytes: u64,
}

/// One worker's part in a job: to see a slow or lost node at a glance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerSummary {
    /// The worker.
    pub worker: WorkerId,
    /// Shards it ran in this run.
    pub shards: usize,
    /// Frames it stylized.
    pub frames: u64,
    /// Seconds it worked on shards.
    pub busy_secs: f64,
    /// Seconds it waited for work (measured where the transport can).
    pub idle_secs: f64,
    /// CPU used while waiting, as a share of one core (0 to 1).
    pub idle_cpu_share: f64,
}

impl WorkerSummary {
    /// Per-worker sums of `timings`, by worker.
    pub fn of(timings: &[ShardTiming]) -> Vec<WorkerSummary> {
        let mut workers: std::collections::BTreeMap<&WorkerId, (WorkerSummary, f64)> = Default::default();
        for t in timings {
            let h = &t.result;
            let (w, idle_cpu) = workers.entry(&h.worker).or_insert_with(|| {
                let summary = WorkerSummary {
                    worker: h.worker.clone(),
                    shards: 0,
                    frames: 0,
                    busy_secs: 0.0,
                    idle_secs: 0.0,
                    idle_cpu_share: 0.0,
                };
                (summary, 0.0)
            });
            w.shards += 1;
            w.frames += h.frames;
            w.busy_secs += h.wall_secs;
            w.idle_secs += h.idle_secs;
            *idle_cpu += h.idle_cpu_secs;
        }
        workers
            .into_values()
            .map(|(mut w, idle_cpu)| {
                w.idle_cpu_share = if w.idle_secs > 0.0 { (idle_cpu / w.idle_secs).min(1.0) } else { 0.0 };
                w
            })
            .collect()
    }
}

/// Bytes that crossed between the coordinator and other workers: compressed
/// segments both ways, against what raw RGB frames would have cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transfer {
    /// Bytes sent to other processes (source segments and headers).
    pub bytes_sent: u64,
    /// Bytes received from other processes (encoded segments and headers).
    pub bytes_received: u64,
    /// Both directions, per frame stylized now.
    pub bytes_per_frame: f64,
    /// What raw RGB frames there and back would have cost per frame.
    pub raw_bytes_per_frame: u64,
}

/// What a job did; `X` is the pipeline's own part.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobReport<X> {
    /// The job id.
    pub job: String,
    /// The input file.
    pub input: String,
    /// The committed output file.
    pub output: String,
    /// How shards reached workers (`in-process`, `MPI, 3 ranks`).
    pub transport: String,
    /// The input.
    pub video: VideoFacts,
    /// Shards in the plan.
    pub shards: usize,
    /// Shards found already done (resume) and not redone.
    pub shards_reused: usize,
    /// Per-shard timings of the shards run now.
    pub timings: Vec<ShardTiming>,
    /// Seconds of the whole job.
    pub wall_secs: f64,
    /// Frames processed now, per second of wall time.
    pub frames_per_sec: f64,
    /// What crossed between processes.
    pub transfer: Transfer,
    /// Each worker's part in this run.
    #[serde(default)]
    pub workers: Vec<WorkerSummary>,
    /// Streams of the source not kept in the output, and why.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// True when the job was handed over to its workers (detached): the
    /// output is not committed yet, and most figures are not known.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub detached: bool,
    /// True when the output was committed by an earlier run and nothing
    /// ran now: the figures are that run's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub already_done: bool,
    /// The pipeline's facts (model, flicker...), in the same JSON object.
    #[serde(flatten)]
    pub extra: X,
}
