//! flicker: how much a video flickers where its source is still, and how
//! well it follows the source's motion. Measured on luma (0–255):
//!
//! ```text
//! still(p, t)  = | blur(Y_t)(p) − blur(Y_{t−1})(p) | < 1        (source pixel did not change)
//! instability  = mean over still pixels, all t, of | O_t(p) − O_{t−1}(p) |
//! warp error   = mean over trusted pixels of ( O_t(p) − O_{t−1}(p + flow(p)) )²
//! ```
//!
//! where O is the video measured (stylized output, or the input itself for
//! reference), Y the source, blur a 5x5 box, and flow the source's H.264
//! motion vectors. The warp error is Lai et al.'s (2018) measure with the
//! codec's motion in place of optical flow; a pixel is trusted when the
//! source itself matches along the flow (|Y_t(p) − Y_{t−1}(p+flow)| < 8),
//! which masks occlusions. Frames without vectors (intra) are skipped.

use std::path::{Path, PathBuf};

use ffmpeg_next as ff;
use serde::{Deserialize, Serialize};

use stylize_worker::flicker::FlickerMeter;
pub use stylize_worker::flicker::{FlickerSums, STILL_LEVEL, TRUST_LEVEL};
use stylize_worker::frame::Guide;
use stylize_worker::motion::{flow_of, luma_of, Flow};

/// Flicker figures of a video against its source.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FlickerReport {
    /// Frames compared.
    pub frames: u64,
    /// Share of pixel pairs where the source was still.
    pub still_fraction: f64,
    /// Mean |ΔY| of the source over its still pixels (its own noise).
    pub source_instability: f64,
    /// Mean |ΔY| of the video over the source's still pixels.
    pub instability: f64,
    /// Mean squared warping error along the source's motion, if any frame
    /// had motion vectors.
    pub warp_error: Option<f64>,
}

/// Errors of the measure: each names the file.
#[derive(Debug, thiserror::Error)]
pub enum FlickerError {
    /// A file could not be decoded.
    #[error("{}: {reason}", path.display())]
    Decode {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The two videos cannot be compared frame by frame.
    #[error("{}: {reason}", path.display())]
    Mismatch {
        /// The second file.
        path: PathBuf,
        /// How it differs from the first.
        reason: String,
    },
}

/// A frame's luma plane and, when known, its motion.
type LumaFrame = (Vec<u8>, Option<Flow>);

/// Luma frames (and optionally motion) of a whole file, in order.
struct Frames {
    path: PathBuf,
    input: ff::format::context::Input,
    stream: usize,
    decoder: ff::decoder::Video,
    scaler: ff::software::scaling::Context,
    frame: ff::frame::Video,
    rgb: ff::frame::Video,
    eof: bool,
}

impl Frames {
    fn open(path: &Path, motion: bool) -> Result<Self, FlickerError> {
        stylize_engine::init();
        let fail = |reason: String| FlickerError::Decode { path: path.to_path_buf(), reason };
        let input = ff::format::input(&stylize_engine::file_url(path))
            .map_err(|e| fail(format!("not a readable video ({e})")))?;
        let stream = input.streams().best(ff::media::Type::Video).ok_or_else(|| fail("no video stream".into()))?;
        let index = stream.index();
        let ctx = ff::codec::context::Context::from_parameters(stream.parameters()).map_err(|e| fail(e.to_string()))?;
        let decoder = stylize_worker::decode::open_video_decoder(ctx, motion).map_err(|e| fail(e.to_string()))?;
        let (w, h) = (decoder.width(), decoder.height());
        // Luma as the job's meter takes it: from RGB converted with the
        // file's own matrix and range (full range), not the coded Y plane
        // (limited range: its differences read 16% smaller).
        let picture = stylize_engine::picture::Picture::from_stream(&stream.parameters(), decoder.format(), w, h);
        let scaler =
            stylize_worker::scaler(&picture, decoder.format(), ff::format::Pixel::RGB24, (w, h)).map_err(fail)?;
        Ok(Frames {
            path: path.to_path_buf(),
            input,
            stream: index,
            decoder,
            scaler,
            frame: ff::frame::Video::empty(),
            rgb: ff::frame::Video::empty(),
            eof: false,
        })
    }

    fn size(&self) -> (usize, usize) {
        (self.decoder.width() as usize, self.decoder.height() as usize)
    }

    /// The next frame's luma and flow.
    fn next(&mut self) -> Result<Option<LumaFrame>, FlickerError> {
        loop {
            if self.decoder.receive_frame(&mut self.frame).is_ok() {
                self.scaler
                    .run(&self.frame, &mut self.rgb)
                    .map_err(|e| FlickerError::Decode { path: self.path.clone(), reason: e.to_string() })?;
                let (w, h) = self.size();
                let stride = self.rgb.stride(0);
                let data = self.rgb.data(0);
                let rgb: Vec<u8> = (0..h).flat_map(|y| data[y * stride..y * stride + 3 * w].iter().copied()).collect();
                let luma = luma_of(&rgb);
                return Ok(Some((luma, flow_of(&self.frame))));
            }
            if self.eof {
                return Ok(None);
            }
            let mut packet = ff::Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) if packet.stream() == self.stream => {
                    let _ = self.decoder.send_packet(&packet);
                }
                Ok(()) => {}
                Err(_) => {
                    self.eof = true;
                    let _ = self.decoder.send_eof();
                }
            }
        }
    }
}

/// Flicker figures of a video, and of its source measured the same way
/// (its own noise and motion: the floor the video is compared with).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FlickerPair {
    /// The source against itself.
    pub source: FlickerReport,
    /// The video against its source.
    pub output: FlickerReport,
}

/// How flicker reads to a viewer, from what the stylizing added to the
/// input's own frame-to-frame change where the input is still (0-255
/// luma levels a frame): under 1 level the output is as steady as its
/// input; under 3, a slight shimmer; more is visible flicker (the
/// deflicker test's pattern: off 2.8 above its input, `still` below it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// As steady as the input.
    Steady,
    /// A slight shimmer.
    Slight,
    /// Visible flicker.
    Visible,
}

impl Verdict {
    /// The verdict on `pair`'s output.
    pub fn of(pair: &FlickerPair) -> Verdict {
        match pair.output.instability - pair.source.instability {
            x if x < 1.0 => Verdict::Steady,
            x if x < 3.0 => Verdict::Slight,
            _ => Verdict::Visible,
        }
    }

    /// In words.
    pub fn words(self) -> &'static str {
        match self {
            Verdict::Steady => "steady",
            Verdict::Slight => "a slight shimmer",
            Verdict::Visible => "visible flicker",
        }
    }
}

/// Measure `video` against its `source`, and the source itself, in one
/// pass over both files.
pub fn measure(source: &Path, video: &Path) -> Result<FlickerPair, FlickerError> {
    let mut src = Frames::open(source, true)?;
    let mut out = Frames::open(video, false)?;
    if src.size() != out.size() {
        let ((a, b), (c, d)) = (src.size(), out.size());
        return Err(FlickerError::Mismatch {
            path: video.to_path_buf(),
            reason: format!("is {c}x{d}, its source {} is {a}x{b}", source.display()),
        });
    }
    let (w, h) = src.size();
    let mut meter = FlickerMeter::new(w, h);
    loop {
        let (a, b) = (src.next()?, out.next()?);
        let ((luma, flow), out_luma) = match (a, b) {
            (Some(a), Some(b)) => (a, b.0),
            (None, None) => break,
            (Some(_), None) | (None, Some(_)) => {
                return Err(FlickerError::Mismatch {
                    path: video.to_path_buf(),
                    reason: format!(
                        "frame counts differ from its source {} (after {} frames)",
                        source.display(),
                        meter.sums().frames
                    ),
                })
            }
        };
        let guide = Guide::new(luma, meter.blur(), flow);
        meter.add(guide, out_luma);
    }
    let frames = meter.sums().frames;
    if frames < 2 {
        return Err(FlickerError::Mismatch {
            path: video.to_path_buf(),
            reason: "fewer than 2 frames: nothing to compare".into(),
        });
    }
    Ok(FlickerPair::of(meter.sums()))
}

impl FlickerPair {
    /// The figures of `sums` (of a whole file, or of a job's shards added
    /// up in order).
    pub fn of(s: &FlickerSums) -> FlickerPair {
        let per = |sum: u64, n: u64| if n == 0 { 0.0 } else { sum as f64 / n as f64 };
        let report = |instability: f64, warp: u64| FlickerReport {
            frames: s.frames,
            still_fraction: per(s.still, s.pairs),
            source_instability: per(s.source_change, s.still),
            instability,
            warp_error: (s.warp_pairs > 0).then(|| per(warp, s.warp_pairs)),
        };
        FlickerPair {
            source: report(per(s.source_change, s.still), s.source_warp_sum),
            output: report(per(s.output_change, s.still), s.warp_sum),
        }
    }
}

#[cfg(test)]
mod verdict_tests {
    use super::*;

    fn pair(source: f64, output: f64) -> FlickerPair {
        let report = |instability| FlickerReport {
            frames: 60,
            still_fraction: 0.5,
            source_instability: source,
            instability,
            warp_error: None,
        };
        FlickerPair { source: report(source), output: report(output) }
    }

    #[test]
    fn what_stylizing_adds_decides() {
        assert_eq!(Verdict::of(&pair(3.95, 1.57)), Verdict::Steady);
        assert_eq!(Verdict::of(&pair(3.95, 6.73)), Verdict::Slight);
        assert_eq!(Verdict::of(&pair(0.32, 6.62)), Verdict::Visible);
    }
}
