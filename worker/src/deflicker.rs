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

use crate::frame::{Guide, Rgb, StyledFrame};
use crate::motion::BoxBlur;

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
    blur: BoxBlur,
    /// The previous output, unrounded (empty before the first frame), and
    /// a buffer of the same size for the next one: no allocation a frame.
    prev_out: Vec<f32>,
    next_out: Vec<f32>,
    prev_boxed: Vec<u16>,
    prev_sharp: Vec<u8>,
    /// The carry for a blurred change of `i / STEPS` levels.
    weights: Vec<f32>,
    /// The same per box area (up to 5x5) and change in box sums, so that
    /// a pixel costs a lookup, not a division: `by_area[n][k]` is the
    /// weight of a change of `k / n` levels.
    by_area: Vec<Vec<f32>>,
    sharp_weights: Vec<f32>,
}

/// Lookup steps per luma level: the weight curve is a table, so the
/// result does not depend on a platform's `exp`.
const STEPS: u32 = 16;
/// The largest box (5x5) and the largest change of its sum.
const MAX_AREA: usize = 25;
const MAX_SUM: usize = MAX_AREA * 255;

impl Deflicker {
    /// A fresh state for frames of `width` x `height`.
    pub fn new(mode: DeflickerMode, width: u32, height: u32) -> Self {
        let weights: Vec<f32> = (0..256 * STEPS)
            .map(|i| {
                let d = i as f32 / STEPS as f32;
                CARRY * (-(d / SIGMA) * (d / SIGMA)).exp()
            })
            .collect();
        let at = |i: usize| weights.get(i).copied().unwrap_or(0.0);
        let by_area = (0..=MAX_AREA)
            .map(|n| if n == 0 { Vec::new() } else { (0..=MAX_SUM).map(|k| at(k * STEPS as usize / n)).collect() })
            .collect();
        let sharp_weights = (0..256).map(|d| (-(d as f32 / SIGMA_SHARP) * (d as f32 / SIGMA_SHARP)).exp()).collect();
        Deflicker {
            mode,
            width: width as usize,
            height: height as usize,
            blur: BoxBlur::new(width as usize, height as usize),
            prev_out: Vec::new(),
            next_out: Vec::new(),
            prev_boxed: Vec::new(),
            prev_sharp: Vec::new(),
            weights,
            by_area,
            sharp_weights,
        }
    }

    /// The carry for a blurred change of `num / den` levels (exact: the
    /// floor of `num * STEPS / den` indexes the curve).
    #[inline]
    fn weight(&self, num: u32, den: u32) -> f32 {
        match self.by_area.get(den as usize) {
            Some(table) if den > 0 => table.get(num as usize).copied().unwrap_or(0.0),
            _ => self.weights.get((num * STEPS / den) as usize).copied().unwrap_or(0.0),
        }
    }

    /// Blend `rgb` (the model's output, at its depth) with the previous
    /// output in place.
    pub fn apply(&mut self, rgb: &mut Rgb, guide: &Guide) {
        match rgb {
            Rgb::Bytes(rgb) => self.apply_to(rgb, guide),
            Rgb::Deep(rgb) => self.apply_to(rgb, guide),
        }
    }

    /// Two passes a row: each pixel's carry (lookups: the blur comes with
    /// the guide as box sums), then the blend, branch-free, which the
    /// compiler vectorises.
    fn apply_to<S: Sample>(&mut self, rgb: &mut [S], guide: &Guide) {
        let (w, h) = (self.width, self.height);
        if self.prev_out.len() != rgb.len() {
            self.prev_out = rgb.iter().map(|v| v.to_f32()).collect();
            self.next_out = self.prev_out.clone();
            self.prev_boxed.clone_from(&guide.boxed);
            self.prev_sharp.clone_from(&guide.luma);
            return;
        }
        let flow = if self.mode == DeflickerMode::Motion { guide.flow.as_ref() } else { None };
        let (mut carry, mut from) = (vec![0f32; w], vec![0usize; w]);
        for y in 0..h {
            let (rows, cols) = self.blur.row_areas(y);
            let row = y * w..(y + 1) * w;
            for x in 0..w {
                let p = y * w + x;
                let np = u32::from(rows * cols[x]);
                let sp = u32::from(guide.boxed[p]);
                // The blurred change in place is |Σp − Σ'p| / np.
                let still = sp.abs_diff(u32::from(self.prev_boxed[p]));
                // Along the motion vector, or in place, whichever the
                // input agrees with better: codec vectors are chosen for
                // bits, not truth, and wander on still noise.
                let (q, num, den) = match flow.map(|f| f.source(x, y)) {
                    Some((sx, sy)) if (sx, sy) != (x, y) => {
                        let q = sy * w + sx;
                        let nq = u32::from(self.blur.area(q));
                        // |Σp/np − Σ'q/nq| = |Σp·nq − Σ'q·np| / (np·nq)
                        let moved = (sp * nq).abs_diff(u32::from(self.prev_boxed[q]) * np);
                        if moved < still * nq {
                            (q, moved, np * nq)
                        } else {
                            (p, still, np)
                        }
                    }
                    _ => (p, still, np),
                };
                let sharp = guide.luma[p].abs_diff(self.prev_sharp[q]) as usize;
                carry[x] = self.weight(num, den) * self.sharp_weights[sharp];
                from[x] = q;
            }
            // o = a·O'(q) + (1 − a)·S(p); where a = 0 that is S exactly.
            let pixels = rgb[row.start * 3..row.end * 3].chunks_exact_mut(3);
            let next = self.next_out[row.start * 3..row.end * 3].chunks_exact_mut(3);
            if flow.is_none() {
                let prev = self.prev_out[row.start * 3..row.end * 3].chunks_exact(3);
                for (((px, o), p), a) in pixels.zip(next).zip(prev).zip(&carry) {
                    blend(px, o, p, *a);
                }
            } else {
                for (((px, o), q), a) in pixels.zip(next).zip(&from).zip(&carry) {
                    blend(px, o, &self.prev_out[q * 3..q * 3 + 3], *a);
                }
            }
        }
        std::mem::swap(&mut self.prev_out, &mut self.next_out);
        self.prev_boxed.clone_from(&guide.boxed);
        self.prev_sharp.clone_from(&guide.luma);
    }
}

/// A sample of the model's output: a byte, or 16 bits.
trait Sample: Copy {
    fn to_f32(self) -> f32;
    /// Rounded half up from a value in the sample's range.
    fn from_f32(v: f32) -> Self;
}

impl Sample for u8 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f32::from(self)
    }
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        (v + 0.5) as u8
    }
}

impl Sample for u16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        f32::from(self)
    }
    #[inline(always)]
    fn from_f32(v: f32) -> Self {
        (v + 0.5) as u16
    }
}

/// One pixel: the model's `px` blended with the previous output `prev` by
/// `a`, kept unrounded in `out` and rounded into `px` (half up: every
/// value is in the sample's range).
#[inline]
fn blend<S: Sample>(px: &mut [S], out: &mut [f32], prev: &[f32], a: f32) {
    for c in 0..3 {
        let o = a * prev[c] + (1.0 - a) * px[c].to_f32();
        out[c] = o;
        px[c] = S::from_f32(o);
    }
}

/// The stage, run on the model's thread after each batch: frames
/// `0..warmup` only prime the state and are dropped; the rest leave
/// blended, renumbered from 0, in order. Not a thread of its own: beside
/// the model's two it took a core from under them at every frame, and
/// they wait for each other.
pub struct Smoothing {
    state: Option<Deflicker>,
    warmup: usize,
}

impl Smoothing {
    /// The stage for a shard with `warmup` warm-up frames.
    pub fn new(mode: DeflickerMode, (width, height): (u32, u32), warmup: usize) -> Self {
        Smoothing { state: (mode != DeflickerMode::Off).then(|| Deflicker::new(mode, width, height)), warmup }
    }

    /// The frame to hand on, if any. Frames carry a guide for the flicker
    /// measure too: blended only in a deflicker mode.
    pub fn frame(&mut self, mut frame: StyledFrame) -> Option<StyledFrame> {
        if let (Some(state), Some(guide)) = (&mut self.state, &frame.guide) {
            state.apply(&mut frame.rgb, guide);
        }
        frame.index = frame.index.checked_sub(self.warmup)?;
        Some(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn guide(luma: u8, w: u32, h: u32) -> Guide {
        Guide::new(vec![luma; (w * h) as usize], &BoxBlur::new(w as usize, h as usize), None)
    }

    #[test]
    fn still_input_damps_output_changes_and_moving_input_does_not() {
        let (w, h) = (8u32, 8u32);
        let n = (w * h) as usize;
        let mut d = Deflicker::new(DeflickerMode::Still, w, h);
        let mut a = Rgb::Bytes(vec![100u8; n * 3]);
        d.apply(&mut a, &guide(50, w, h));
        // Same input, the model's output jumps by 40: most of it is held back.
        let mut b = Rgb::Bytes(vec![140u8; n * 3]);
        d.apply(&mut b, &guide(50, w, h));
        assert_eq!(b, Rgb::Bytes(vec![(0.85f32 * 100.0 + 0.15 * 140.0).round() as u8; n * 3]));
        // The input changes a lot: the new output passes through.
        let mut c = Rgb::Bytes(vec![200u8; n * 3]);
        d.apply(&mut c, &guide(120, w, h));
        assert_eq!(c, Rgb::Bytes(vec![200; n * 3]));
    }

    #[test]
    fn sixteen_bit_frames_blend_at_their_depth() {
        let (w, h) = (8u32, 8u32);
        let n = (w * h) as usize;
        let mut d = Deflicker::new(DeflickerMode::Still, w, h);
        d.apply(&mut Rgb::Deep(vec![25_700u16; n * 3]), &guide(50, w, h));
        let mut b = Rgb::Deep(vec![35_981u16; n * 3]);
        d.apply(&mut b, &guide(50, w, h));
        // 0.85 · 25700 + 0.15 · 35981 = 27242.15: not a multiple of 257.
        assert_eq!(b, Rgb::Deep(vec![27_242; n * 3]));
    }
}
