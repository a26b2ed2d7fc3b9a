//! deflicker: temporal consistency after the model. Per-frame style
//! transfer flickers: a pixel that does not move in the input changes
//! colour in the output from frame to frame. This stage carries the
//! previous output forward where the input did not change (`still`), or
//! where it moved along the source's own motion vectors (`motion`), with a
//! soft weight so that edges do not pop:
//!
//! ```text
//! d   = | blur(Y_t)(p) − blur(Y_{t−1})(q) |,   q = p + flow(p)
//! e   = | Y_t(p) − Y_{t−1}(q) |
//! a   = β · exp(−(d/σ)²) · exp(−(e/σ_sharp)²)
//! O_t = a · O_{t−1}(p + flow(p)) + (1 − a) · S_t(p)
//! ```
//!
//! with S the model's output, Y the input's luma, β the carry, σ the
//! change (in luma levels) at which trust fades. In `motion` mode each
//! pixel takes the motion vector or no motion, whichever the input agrees
//! with better; frames whose motion is unknown (intra frames, other
//! codecs) use no motion, as `still` does everywhere.
//!
//! A shard starts its state on a few warm-up frames decoded and stylized
//! before its first one (fixed by the plan), so the output depends on the
//! plan only, never on which rank ran which shard.

use std::sync::mpsc::{Receiver, SyncSender};

use crate::frame::{Guide, StyledFrame};
use crate::motion::blurred;

/// How to reduce flicker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeflickerMode {
    /// Frames as the model made them.
    Off,
    /// Carry the previous output where the input is still. The default:
    /// on a still background with sensor noise it cut flicker by 77%
    /// (motion: 68%) without the blocky traces codec vectors leave.
    #[default]
    Still,
    /// Carry the previous output along the input's motion vectors: for
    /// pans and tracking shots, where nothing is still.
    Motion,
}

/// The previous output's weight where the input did not change at all.
pub const CARRY: f32 = 0.85;
/// Input change (luma levels, blurred) at which the carry has faded to 1/e.
pub const SIGMA: f32 = 4.0;
/// The same for the unblurred luma: noise-tolerant, but it stops the carry
/// at sharp edges that the blur would smear over.
pub const SIGMA_SHARP: f32 = 24.0;
/// Warm-up frames before each shard (none before the first).
pub const WARMUP_FRAMES: usize = 4;

/// The deflicker's state across the frames of one shard.
pub struct Deflicker {
    mode: DeflickerMode,
    width: usize,
    height: usize,
    prev_out: Option<Vec<f32>>,
    prev_luma: Vec<f32>,
    prev_sharp: Vec<u8>,
    weights: Vec<f32>,
    sharp_weights: Vec<f32>,
}

/// Lookup steps per luma level: the weight curve is a table, so the
/// result does not depend on a platform's `exp`.
const STEPS: f32 = 16.0;

impl Deflicker {
    /// A fresh state for frames of `width` x `height`.
    pub fn new(mode: DeflickerMode, width: u32, height: u32) -> Self {
        let weights = (0..(256.0 * STEPS) as usize)
            .map(|i| {
                let d = i as f32 / STEPS;
                CARRY * (-(d / SIGMA) * (d / SIGMA)).exp()
            })
            .collect();
        let sharp_weights = (0..256).map(|d| (-(d as f32 / SIGMA_SHARP) * (d as f32 / SIGMA_SHARP)).exp()).collect();
        Deflicker {
            mode,
            width: width as usize,
            height: height as usize,
            prev_out: None,
            prev_luma: Vec::new(),
            prev_sharp: Vec::new(),
            weights,
            sharp_weights,
        }
    }

    #[inline]
    fn weight(&self, d: f32) -> f32 {
        let i = (d.abs() * STEPS) as usize;
        self.weights.get(i).copied().unwrap_or(0.0)
    }

    /// Blend `rgb` (the model's output) with the previous output in place.
    pub fn apply(&mut self, rgb: &mut [u8], guide: &Guide) {
        let (w, h) = (self.width, self.height);
        let luma = blurred(&guide.luma, w, h);
        let mut out: Vec<f32> = rgb.iter().map(|v| f32::from(*v)).collect();
        if let Some(prev) = &self.prev_out {
            let flow = if self.mode == DeflickerMode::Motion { guide.flow.as_ref() } else { None };
            for y in 0..h {
                for x in 0..w {
                    let p = y * w + x;
                    // Along the motion vector, or in place, whichever the
                    // input agrees with better: codec vectors are chosen
                    // for bits, not truth, and wander on still noise.
                    let still = (luma[p] - self.prev_luma[p]).abs();
                    let (q, d) = match flow.map(|f| f.source(x, y)) {
                        Some((sx, sy)) if (sx, sy) != (x, y) => {
                            let q = sy * w + sx;
                            let moved = (luma[p] - self.prev_luma[q]).abs();
                            if moved < still {
                                (q, moved)
                            } else {
                                (p, still)
                            }
                        }
                        _ => (p, still),
                    };
                    let sharp = (i16::from(guide.luma[p]) - i16::from(self.prev_sharp[q])).unsigned_abs() as usize;
                    let a = self.weight(d) * self.sharp_weights[sharp.min(255)];
                    if a > 0.0 {
                        for c in 0..3 {
                            let o = &mut out[p * 3 + c];
                            *o = a * prev[q * 3 + c] + (1.0 - a) * *o;
                        }
                    }
                }
            }
            for (dst, v) in rgb.iter_mut().zip(&out) {
                *dst = v.round().clamp(0.0, 255.0) as u8;
            }
        }
        self.prev_out = Some(out);
        self.prev_luma = luma;
        self.prev_sharp = guide.luma.clone();
    }
}

/// The stage: frames `0..warmup` only prime the state and are dropped;
/// the rest leave blended, renumbered from 0, in order.
pub fn deflicker(
    mode: DeflickerMode,
    (width, height): (u32, u32),
    warmup: usize,
    rx: &Receiver<StyledFrame>,
    tx: &SyncSender<StyledFrame>,
) {
    let mut state = Deflicker::new(mode, width, height);
    for mut frame in rx.iter() {
        // Frames carry a guide for the flicker measure too: blend only in
        // a deflicker mode.
        if let (Some(guide), false) = (&frame.guide, mode == DeflickerMode::Off) {
            state.apply(&mut frame.rgb, guide);
        }
        if frame.index < warmup {
            continue;
        }
        frame.index -= warmup;
        if tx.send(frame).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guide(luma: u8, n: usize) -> Guide {
        Guide { luma: vec![luma; n], flow: None }
    }

    #[test]
    fn still_input_damps_output_changes_and_moving_input_does_not() {
        let (w, h) = (8u32, 8u32);
        let n = (w * h) as usize;
        let mut d = Deflicker::new(DeflickerMode::Still, w, h);
        let mut a = vec![100u8; n * 3];
        d.apply(&mut a, &guide(50, n));
        // Same input, the model's output jumps by 40: most of it is held back.
        let mut b = vec![140u8; n * 3];
        d.apply(&mut b, &guide(50, n));
        assert_eq!(b[0], (0.85f32 * 100.0 + 0.15 * 140.0).round() as u8);
        // The input changes a lot: the new output passes through.
        let mut c = vec![200u8; n * 3];
        d.apply(&mut c, &guide(120, n));
        assert_eq!(c[0], 200);
    }
}
