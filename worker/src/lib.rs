//! What one rank does with one shard: decode its segment, run the model,
//! encode a segment of the result. The three stages run on their own
//! threads joined by small bounded queues, so the model never waits on
//! the codec and memory stays flat whatever the shard's length.
//!
//! The worker works on pixels and never knows where its bytes came from:
//! the same code runs in-process and on an MPI rank.
#![deny(missing_docs)]

pub mod decode;
pub mod deflicker;
pub mod encode;
pub mod error;
pub mod flicker;
pub mod frame;
mod memo;
pub mod motion;
mod picture;
pub mod stylize;
pub mod tone;

use std::path::Path;
use std::sync::mpsc::sync_channel;
use std::time::{Duration, Instant};

use stylize_engine::{Shard, VideoParams};
use stylize_models::StyleModel;

pub use deflicker::DeflickerMode;
pub use encode::EncodeSettings;
pub use error::WorkerError;
pub use flicker::FlickerSums;
pub use picture::scaler;

/// How the worker runs a shard.
#[derive(Debug, Clone, Default)]
pub struct WorkerOptions {
    /// Frames per model call; 0 for the device's best (see
    /// [`WorkerOptions::batch_for`]).
    pub batch: usize,
    /// x264 settings.
    pub encode: EncodeSettings,
    /// Temporal consistency after the model.
    pub deflicker: DeflickerMode,
    /// Measure the shard's flicker on the way (for the job's report).
    /// Not a job parameter: the bytes do not depend on it.
    pub measure_flicker: bool,
}

impl WorkerOptions {
    /// The batch to use on a device: the one asked for, or by default 1 on
    /// a CPU (measured fastest at 640x360: batches outgrow the caches) and
    /// 8 on a GPU (which needs the parallelism).
    pub fn batch_for(&self, cuda: bool) -> usize {
        match self.batch {
            0 if cuda => 8,
            0 => 1,
            n => n,
        }
    }
}

/// What a shard cost, for the job's report.
#[derive(Debug, Clone, Default)]
pub struct ShardStats {
    /// Frames written.
    pub frames: u64,
    /// Wall time of the whole shard.
    pub wall: Duration,
    /// Time inside the model.
    pub model: Duration,
    /// The shard's flicker sums, when measured.
    pub flicker: Option<FlickerSums>,
    /// Frames the decoder could not make (corrupt data), stood in for by
    /// a neighbour.
    pub concealed: u64,
    /// Pixels (of the shard's frames) with a colour outside BT.709, which
    /// the model's side clipped.
    pub out_of_gamut: u64,
}

/// Stylize the shard whose source segment is `segment` into `output`.
pub fn run_shard(
    shard: &Shard,
    segment: &Path,
    output: &Path,
    format: VideoParams,
    model: &mut dyn StyleModel,
    options: &WorkerOptions,
    on_frames: &dyn Fn(u64),
) -> Result<ShardStats, WorkerError> {
    stylize_engine::init();
    let started = Instant::now();
    let depth = options.batch.max(1) * 2;
    let warmup = shard.warmup.len();
    // The flicker measure follows the source's motion too; the deflicker
    // needs luma, and motion in its motion mode.
    let guide = match (options.deflicker, options.measure_flicker) {
        (DeflickerMode::Motion, _) | (_, true) => frame::GuideKind::LumaAndMotion,
        (DeflickerMode::Still, false) => frame::GuideKind::Luma,
        (DeflickerMode::Off, false) => frame::GuideKind::None,
    };
    let (decoded_tx, decoded_rx) = sync_channel(depth);
    let (styled_tx, styled_rx) = sync_channel(depth);
    let (encoded_tx, encoded_rx) = sync_channel(depth);
    // Each stage is a span of its own under the shard's (for traces).
    let shard_span = tracing::Span::current();
    let (decode_span, model_span, encode_span) = (
        tracing::info_span!(parent: &shard_span, "decode", shard = shard.index),
        tracing::info_span!(parent: &shard_span, "model", shard = shard.index),
        tracing::info_span!(parent: &shard_span, "encode", shard = shard.index),
    );
    let (decoded, model_time, encoded, flicker) = std::thread::scope(|s| {
        let decoder = s.spawn(move || {
            let _stage = decode_span.entered();
            decode::decode(segment, shard, format.time_base.into(), &format.picture, guide, &decoded_tx)
        });
        let encoder_rx = styled_rx;
        // The measure takes the frames the encoder is done with.
        let (done_tx, meter) = if options.measure_flicker {
            let meter = s.spawn(move || flicker::measure(format.width, format.height, &encoded_rx));
            (Some(encoded_tx), Some(meter))
        } else {
            (None, None)
        };
        let encoder = s.spawn(move || {
            let _stage = encode_span.entered();
            encode::encode(output, shard, format, &options.encode, &encoder_rx, done_tx.as_ref())
        });
        let stage = model_span.entered();
        // The deflicker runs on this thread, after each batch.
        let mut smoothing = deflicker::Smoothing::new(options.deflicker, (format.width, format.height), warmup);
        // The next shard's warm-up frames are this one's last.
        let remember_from = match options.deflicker {
            DeflickerMode::Off => usize::MAX,
            _ => (warmup + shard.len() as usize).saturating_sub(deflicker::WARMUP_FRAMES),
        };
        let model_time = stylize::stylize(
            shard.index,
            model,
            (format.width, format.height),
            options.batch,
            &mut smoothing,
            warmup,
            remember_from,
            &decoded_rx,
            &styled_tx,
            on_frames,
        );
        drop(stage);
        // Unblock the decoder if the model stage stopped early, and let the
        // encoder see the end of its input.
        drop(decoded_rx);
        drop(styled_tx);
        let decoded = decoder.join().expect("decoder thread panicked");
        let encoded = encoder.join().expect("encoder thread panicked");
        let flicker = meter.map(|m| m.join().expect("flicker thread panicked"));
        (decoded, model_time, encoded, flicker)
    });
    // The first stage's error is the cause; later ones are its echo.
    let decode::Decoded { frames: decoded, concealed, out_of_gamut } = decoded?;
    let model_time = model_time?;
    let encoded = encoded?;
    if decoded != shard.len() + warmup as u64 || encoded != shard.len() {
        return Err(WorkerError::FrameCount {
            shard: shard.index,
            path: segment.to_path_buf(),
            expected: shard.len(),
            got: decoded.saturating_sub(warmup as u64).min(encoded),
        });
    }
    Ok(ShardStats { frames: encoded, wall: started.elapsed(), model: model_time, flicker, concealed, out_of_gamut })
}
