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

use stylize_worker::motion::{blurred, flow_of, Flow};

/// Luma change (blurred) under which a source pixel counts as still.
pub const STILL_LEVEL: f32 = 1.0;
/// Source mismatch along the flow under which a pixel is trusted.
pub const TRUST_LEVEL: f32 = 8.0;

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
    gray: ff::frame::Video,
    eof: bool,
}

impl Frames {
    fn open(path: &Path, motion: bool) -> Result<Self, FlickerError> {
        stylize_engine::init();
        let fail = |reason: String| FlickerError::Decode { path: path.to_path_buf(), reason };
        let input = ff::format::input(&path).map_err(|e| fail(format!("not a readable video ({e})")))?;
        let stream = input.streams().best(ff::media::Type::Video).ok_or_else(|| fail("no video stream".into()))?;
        let index = stream.index();
        let ctx = ff::codec::context::Context::from_parameters(stream.parameters()).map_err(|e| fail(e.to_string()))?;
        let decoder = stylize_worker::decode::open_video_decoder(ctx, motion).map_err(|e| fail(e.to_string()))?;
        let (w, h) = (decoder.width(), decoder.height());
        let scaler = ff::software::scaling::Context::get(
            decoder.format(),
            w,
            h,
            ff::format::Pixel::GRAY8,
            w,
            h,
            ff::software::scaling::Flags::BICUBIC,
        )
        .map_err(|e| fail(e.to_string()))?;
        Ok(Frames {
            path: path.to_path_buf(),
            input,
            stream: index,
            decoder,
            scaler,
            frame: ff::frame::Video::empty(),
            gray: ff::frame::Video::empty(),
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
                    .run(&self.frame, &mut self.gray)
                    .map_err(|e| FlickerError::Decode { path: self.path.clone(), reason: e.to_string() })?;
                let (w, h) = self.size();
                let stride = self.gray.stride(0);
                let data = self.gray.data(0);
                let luma = (0..h).flat_map(|y| data[y * stride..y * stride + w].iter().copied()).collect();
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
    let (mut frames, mut pairs, mut still) = (0u64, 0u64, 0u64);
    let (mut src_change, mut out_change) = (0f64, 0f64);
    let (mut warp_sum, mut warp_n, mut src_warp_sum) = (0f64, 0u64, 0f64);
    let mut prev: Option<(Vec<f32>, Vec<u8>, Vec<u8>)> = None;
    loop {
        let (a, b) = (src.next()?, out.next()?);
        let ((luma, flow), out_luma) = match (a, b) {
            (Some(a), Some(b)) => (a, b.0),
            (None, None) => break,
            (Some(_), None) | (None, Some(_)) => {
                return Err(FlickerError::Mismatch {
                    path: video.to_path_buf(),
                    reason: format!("frame counts differ from its source {} (after {frames} frames)", source.display()),
                })
            }
        };
        frames += 1;
        let blur = blurred(&luma, w, h);
        if let Some((pblur, pluma, pout)) = &prev {
            for p in 0..w * h {
                pairs += 1;
                if (blur[p] - pblur[p]).abs() < STILL_LEVEL {
                    still += 1;
                    src_change += f64::from((i16::from(luma[p]) - i16::from(pluma[p])).abs());
                    out_change += f64::from((i16::from(out_luma[p]) - i16::from(pout[p])).abs());
                }
            }
            if let Some(flow) = &flow {
                for y in 0..h {
                    for x in 0..w {
                        let (sx, sy) = flow.source(x, y);
                        let (p, q) = (y * w + x, sy * w + sx);
                        if (f32::from(luma[p]) - f32::from(pluma[q])).abs() < TRUST_LEVEL {
                            let e = f64::from(out_luma[p]) - f64::from(pout[q]);
                            let s = f64::from(luma[p]) - f64::from(pluma[q]);
                            warp_sum += e * e;
                            src_warp_sum += s * s;
                            warp_n += 1;
                        }
                    }
                }
            }
        }
        prev = Some((blur, luma, out_luma));
    }
    if frames < 2 {
        return Err(FlickerError::Mismatch {
            path: video.to_path_buf(),
            reason: "fewer than 2 frames: nothing to compare".into(),
        });
    }
    let per = |sum: f64, n: u64| if n == 0 { 0.0 } else { sum / n as f64 };
    let report = |instability: f64, warp: f64| FlickerReport {
        frames,
        still_fraction: per(still as f64, pairs),
        source_instability: per(src_change, still),
        instability,
        warp_error: (warp_n > 0).then(|| warp / warp_n as f64),
    };
    Ok(FlickerPair {
        source: report(per(src_change, still), src_warp_sum),
        output: report(per(out_change, still), warp_sum),
    })
}
