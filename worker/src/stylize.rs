//! stylize: the model stage. Frames arrive one by one from the decoder
//! and leave one by one for the encoder; in between they go through the
//! model in batches, which is what keeps a GPU busy.

use std::sync::mpsc::{Receiver, SyncSender};
use std::time::{Duration, Instant};

use stylize_models::{DeepBatch, RgbBatch, StyleModel};

use crate::deflicker::Smoothing;
use crate::error::WorkerError;
use crate::frame::{DecodedFrame, Rgb, StyledFrame};
use crate::memo;

/// Run batches of up to `batch` frames through `model`, then through
/// `smoothing` (deflicker, warm-up frames dropped). `on_frames` hears how
/// many of the shard's frames (warm-up frames not counted) each batch
/// finished, for progress. Frames from `remember_from` on leave their
/// output in the `memo` for the next shard's warm-up, which takes it from
/// there (frames one at a time only). Returns the time spent inside the
/// model.
#[allow(clippy::too_many_arguments)]
pub fn stylize(
    shard: u32,
    model: &mut dyn StyleModel,
    (width, height): (u32, u32),
    batch: usize,
    smoothing: &mut Smoothing,
    warmup: usize,
    remember_from: usize,
    rx: &Receiver<DecodedFrame>,
    tx: &SyncSender<StyledFrame>,
    on_frames: &dyn Fn(u64),
) -> Result<Duration, WorkerError> {
    let mut busy = Duration::ZERO;
    let mut pending: Vec<DecodedFrame> = Vec::with_capacity(batch);
    let mut frames = rx.iter();
    let one_by_one = batch.max(1) == 1;
    let model_id = if one_by_one { model.describe() } else { String::new() };
    loop {
        pending.extend(frames.by_ref().take(batch.max(1)));
        if pending.is_empty() {
            return Ok(busy);
        }
        let first = pending[0].index;
        let n = pending.len();
        let digest = (one_by_one && (first < warmup || first >= remember_from)).then(|| memo::key(&pending[0].rgb));
        if let (Some(key), true) = (&digest, first < warmup) {
            if let Some(rgb) = memo::take(&model_id, key) {
                let frame = pending.pop().expect("one frame");
                // A warm-up frame only primes the deflicker: nothing leaves.
                let _ = smoothing.frame(StyledFrame { index: first, rgb, guide: frame.guide });
                continue;
            }
        }
        let mut guides = Vec::with_capacity(n);
        let (mut bytes, mut deep) = (Vec::new(), Vec::new());
        for frame in pending.drain(..) {
            guides.push(frame.guide);
            match frame.rgb {
                Rgb::Bytes(rgb) => bytes.push(rgb),
                Rgb::Deep(rgb) => deep.push(rgb),
            }
        }
        let t = Instant::now();
        // A shard's frames are all of one depth (its source's).
        let output: Vec<Rgb> = if deep.is_empty() {
            let out = model.stylize(RgbBatch { width, height, frames: bytes });
            out.map(|b| b.frames.into_iter().map(Rgb::Bytes).collect())
        } else {
            let out = model.stylize_deep(DeepBatch { width, height, frames: deep });
            out.map(|b| b.frames.into_iter().map(Rgb::Deep).collect())
        }
        .map_err(|source| WorkerError::Model { shard, source })?;
        busy += t.elapsed();
        if let (Some(key), true, Some(rgb)) = (digest, first >= remember_from, output.first()) {
            memo::keep(&model_id, key, rgb.clone());
        }
        for (k, (rgb, guide)) in output.into_iter().zip(guides).enumerate() {
            let Some(frame) = smoothing.frame(StyledFrame { index: first + k, rgb, guide }) else { continue };
            if tx.send(frame).is_err() {
                return Ok(busy);
            }
        }
        let shown = (first..first + n).filter(|i| *i >= warmup).count();
        on_frames(shown as u64);
    }
}
