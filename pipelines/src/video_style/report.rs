//! report: one record of what a job did, written beside its manifest as
//! JSON. The CLI prints its summary and the benchmark reads it.

use serde::{Deserialize, Serialize};
use stylize_engine::probe::Ratio;
use stylize_worker::flicker::FlickerPair;

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
}

/// Timing of one shard.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardTiming {
    /// Shard index.
    pub shard: u32,
    /// Rank that ran it (0: the coordinator's own worker, or in-process).
    pub rank: i32,
    /// Frames.
    pub frames: u64,
    /// Seconds the worker spent on it.
    pub wall_secs: f64,
    /// Seconds inside the model.
    pub model_secs: f64,
    /// Bytes of the compressed source segment that carried the shard.
    pub segment_in_bytes: u64,
    /// Bytes of the encoded result.
    pub segment_out_bytes: u64,
}

/// What a job did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobReport {
    /// The job id.
    pub job: String,
    /// The input file.
    pub input: String,
    /// The committed output file.
    pub output: String,
    /// What ran: model, style, device.
    pub model: String,
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
    /// Frames stylized now, per second of wall time.
    pub frames_per_sec: f64,
    /// What crossed between processes.
    pub transfer: Transfer,
    /// Temporal stability of the output against the input's own.
    pub flicker: Option<Flicker>,
    /// Streams of the source not kept in the output, and why.
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// Flicker figures (see `stylize_worker::flicker`): the input measured
/// against itself, and the output against the input.
pub type Flicker = FlickerPair;

/// Bytes that crossed between the coordinator and other ranks: compressed
/// segments both ways, against what raw RGB frames would have cost.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Transfer {
    /// Bytes sent to other ranks (source segments and headers).
    pub bytes_sent: u64,
    /// Bytes received from other ranks (encoded segments and headers).
    pub bytes_received: u64,
    /// Both directions, per frame stylized now.
    pub bytes_per_frame: f64,
    /// What one frame would cost as raw RGB24 there and back.
    pub raw_bytes_per_frame: u64,
}
