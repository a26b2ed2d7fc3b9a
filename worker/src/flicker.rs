//! flicker: the flicker figures of a shard, measured on the frames as they
//! leave for the encoder, in the same pass as the work (a stage of its
//! own, beside the encoder, off the frames' critical path). The job's
//! report used to decode the input and the committed output again after
//! the job for them, which cost almost as much as the job itself.
//!
//! The figures are sums, kept per shard (in the job's manifest, so a
//! resumed job still reports every shard) and added up: integers, so the
//! same plan gives the same figures on any number of ranks. A pair of
//! frames across a shard boundary is not counted (one in a shard's
//! length). The definitions are in `stylize_pipelines::flicker`, which
//! turns the sums into the report's figures.

use std::sync::mpsc::Receiver;

use serde::{Deserialize, Serialize};

use crate::frame::{Guide, StyledFrame};
use crate::motion::BoxBlur;

/// Luma change (blurred) under which a source pixel counts as still.
pub const STILL_LEVEL: f32 = 1.0;
/// Source mismatch along the flow under which a pixel is trusted.
pub const TRUST_LEVEL: f32 = 8.0;

/// The running sums behind the flicker figures of some frames. Luma is
/// whole levels, so every sum is an integer: exact, and the same in any
/// order of adding up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlickerSums {
    /// Frames seen.
    pub frames: u64,
    /// Pixel pairs compared (consecutive frames).
    pub pairs: u64,
    /// Pairs where the source was still.
    pub still: u64,
    /// Sum of the source's |ΔY| over still pairs.
    pub source_change: u64,
    /// Sum of the video's |ΔY| over still pairs.
    pub output_change: u64,
    /// Pairs trusted along the source's motion.
    pub warp_pairs: u64,
    /// Sum of the video's squared warping error over trusted pairs.
    pub warp_sum: u64,
    /// The same for the source itself.
    pub source_warp_sum: u64,
}

impl FlickerSums {
    /// Add another shard's sums.
    pub fn merge(&mut self, other: &FlickerSums) {
        self.frames += other.frames;
        self.pairs += other.pairs;
        self.still += other.still;
        self.source_change += other.source_change;
        self.output_change += other.output_change;
        self.warp_pairs += other.warp_pairs;
        self.warp_sum += other.warp_sum;
        self.source_warp_sum += other.source_warp_sum;
    }
}

/// The previous frame, as the next pair needs it.
struct Previous {
    boxed: Vec<u16>,
    luma: Vec<u8>,
    out: Vec<u8>,
}

/// Accumulates [`FlickerSums`] over consecutive frames of one sequence.
pub struct FlickerMeter {
    width: usize,
    height: usize,
    blur: BoxBlur,
    prev: Option<Previous>,
    sums: FlickerSums,
}

impl FlickerMeter {
    /// A meter for frames of `width` x `height`.
    pub fn new(width: usize, height: usize) -> Self {
        FlickerMeter { width, height, blur: BoxBlur::new(width, height), prev: None, sums: FlickerSums::default() }
    }

    /// The blur this meter compares with: a guide made with it is right
    /// for [`FlickerMeter::add`].
    pub fn blur(&self) -> &BoxBlur {
        &self.blur
    }

    /// The next frame: the source's guide (luma, its box sums, motion),
    /// and the video's luma.
    pub fn add(&mut self, source: Guide, out: Vec<u8>) {
        let (w, h) = (self.width, self.height);
        let s = &mut self.sums;
        s.frames += 1;
        let Guide { luma, boxed, flow } = source;
        if let Some(p) = &self.prev {
            s.pairs += (w * h) as u64;
            // A pixel is still when its blurred luma moved less than one
            // level: |Σa/n − Σb/n| < 1, that is |Σa − Σb| < n, in integers.
            // Per row, in u32 (a row's sums cannot overflow it): loops the
            // compiler vectorises.
            for y in 0..h {
                let row = y * w..(y + 1) * w;
                let (mut still, mut src, mut vid) = (0u32, 0u32, 0u32);
                let (a, b) = (&boxed[row.clone()], &p.boxed[row.clone()]);
                let (la, lb, oa, ob) = (&luma[row.clone()], &p.luma[row.clone()], &out[row.clone()], &p.out[row]);
                let (n, cols) = self.blur.row_areas(y);
                for x in 0..w {
                    let keep = u32::from(a[x].abs_diff(b[x]) < n * cols[x]);
                    still += keep;
                    src += keep * u32::from(la[x].abs_diff(lb[x]));
                    vid += keep * u32::from(oa[x].abs_diff(ob[x]));
                }
                s.still += u64::from(still);
                s.source_change += u64::from(src);
                s.output_change += u64::from(vid);
            }
            if let Some(flow) = &flow {
                // Per row, in local sums (a row's squares fit a u64).
                // Integer positions, clamped as `Flow::source` does.
                let trust = TRUST_LEVEL as u32;
                let (last_x, last_y) = (w as i32 - 1, h as i32 - 1);
                for y in 0..h {
                    let (mut warp, mut source, mut trusted) = (0u64, 0u64, 0u64);
                    for (x, &(dx, dy)) in flow.vectors[y * w..(y + 1) * w].iter().enumerate() {
                        let sx = (x as i32 + i32::from(dx)).clamp(0, last_x) as usize;
                        let sy = (y as i32 + i32::from(dy)).clamp(0, last_y) as usize;
                        let (i, q) = (y * w + x, sy * w + sx);
                        let d = u32::from(luma[i].abs_diff(p.luma[q]));
                        let e = u32::from(out[i].abs_diff(p.out[q]));
                        let keep = u32::from(d < trust);
                        warp += u64::from(keep * e * e);
                        source += u64::from(keep * d * d);
                        trusted += u64::from(keep);
                    }
                    s.warp_sum += warp;
                    s.source_warp_sum += source;
                    s.warp_pairs += trusted;
                }
            }
        }
        self.prev = Some(Previous { boxed, luma, out });
    }

    /// The sums so far.
    pub fn sums(&self) -> &FlickerSums {
        &self.sums
    }
}

/// The stage: measure the frames the encoder is done with (each carries
/// its source's guide), in order. Frames without a guide are not counted.
pub fn measure(width: u32, height: u32, rx: &Receiver<StyledFrame>) -> FlickerSums {
    let mut meter = FlickerMeter::new(width as usize, height as usize);
    for frame in rx.iter() {
        if let Some(guide) = frame.guide {
            meter.add(guide, frame.rgb.luma());
        }
    }
    meter.sums
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::motion::Flow;

    /// The source's guide as the decoder makes it.
    fn guide(m: &FlickerMeter, luma: Vec<u8>, flow: Option<Flow>) -> Guide {
        Guide::new(luma, m.blur(), flow)
    }

    /// A still source whose video alternates by 10 levels: every pair is
    /// still, the video's change is 10, the source's 0.
    #[test]
    fn a_flickering_video_over_a_still_source() {
        let (w, h) = (6, 4);
        let mut m = FlickerMeter::new(w, h);
        for t in 0..3u8 {
            m.add(guide(&m, vec![50; w * h], None), vec![100 + 10 * (t % 2); w * h]);
        }
        let s = m.sums();
        assert_eq!((s.frames, s.pairs, s.still), (3, 2 * (w * h) as u64, 2 * (w * h) as u64));
        assert_eq!(s.output_change, 10 * s.still);
        assert_eq!(s.source_change, 0);
        assert_eq!(s.warp_pairs, 0);
    }

    /// The warp error by hand: a 4x1 source moving one pixel right (flow
    /// -1), the video's pixels compared with their motion source. Pixel 0
    /// (clamped to itself) and 1 match exactly, pixel 2 differs by 5 in the
    /// source (trusted, < 8), pixel 3 by 15 (an occlusion: not trusted).
    #[test]
    fn warp_error_by_hand() {
        let mut m = FlickerMeter::new(4, 1);
        let flow = Flow { width: 4, height: 1, vectors: vec![(-1, 0); 4] };
        m.add(guide(&m, vec![10, 20, 30, 40], None), vec![100, 110, 120, 130]);
        m.add(guide(&m, vec![10, 10, 25, 45], Some(flow)), vec![100, 103, 110, 125]);
        let s = m.sums();
        // Video: |100-100|, |103-100|, |110-110| over the trusted three.
        assert_eq!((s.warp_pairs, s.warp_sum), (3, 3 * 3));
        // Source: 0, 0, 5.
        assert_eq!(s.source_warp_sum, 5 * 5);
    }

    /// Merging two halves gives the sums of the whole but for the pair
    /// across the cut.
    #[test]
    fn merged_halves_miss_only_the_pair_across() {
        let (w, h) = (5, 5);
        let frame = |t: u8| -> Vec<u8> { (0..w * h).map(|i| (i as u8).wrapping_mul(7).wrapping_add(t * 3)).collect() };
        let mut whole = FlickerMeter::new(w, h);
        let (mut a, mut b) = (FlickerMeter::new(w, h), FlickerMeter::new(w, h));
        for t in 0..6u8 {
            whole.add(guide(&whole, frame(t), None), frame(t + 1));
            let half = if t < 3 { &mut a } else { &mut b };
            half.add(guide(half, frame(t), None), frame(t + 1));
        }
        let mut merged = a.sums().clone();
        merged.merge(b.sums());
        assert_eq!(merged.frames, whole.sums().frames);
        assert_eq!(merged.pairs, whole.sums().pairs - (w * h) as u64);
    }
}
