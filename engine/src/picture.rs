//! picture: how the source's pixels are coded, read once at probe and
//! carried with every task, so that a worker on any rank turns them into
//! RGB with the source's own matrix and range and codes the result back the
//! same way (bit depth, chroma layout, aspect, tags). Without it every HD
//! file was read as BT.601 and written back untagged: wrong greens on
//! every player.
//!
//! Colour values are the ITU-T H.273 code points (which FFmpeg's
//! `AVColorPrimaries`, `AVColorTransferCharacteristic` and `AVColorSpace`
//! use as their values): a stable, documented serialisation.

use ffmpeg_next as ff;
use serde::{Deserialize, Serialize};

use crate::ratio::Ratio;

/// H.273 code point meaning "unspecified".
pub const UNSPECIFIED: i32 = 2;
/// Transfer characteristics of HDR: SMPTE ST 2084 (PQ).
pub const TRANSFER_PQ: i32 = 16;
/// Transfer characteristics of HDR: ARIB STD-B67 (HLG).
pub const TRANSFER_HLG: i32 = 18;

/// Chroma subsampling of a YUV picture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Chroma {
    /// Half width, half height (nearly all delivery formats).
    #[default]
    Yuv420,
    /// Half width (ProRes 422, DNxHR, XDCAM HD422, broadcast).
    Yuv422,
    /// Full resolution (ProRes 4444, RGB sources, odd sizes).
    Yuv444,
}

/// Sample range of the coded values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Range {
    /// Not said by the source: read as limited, written untagged.
    #[default]
    Unspecified,
    /// 16-235 (8-bit) "TV" range, what broadcast and most files use.
    Limited,
    /// 0-255 "PC"/JPEG range.
    Full,
}

/// Everything about the source's pixels besides size and timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Picture {
    /// Matrix coefficients (H.273 `MatrixCoefficients`): 1 BT.709,
    /// 5/6 BT.601, 9 BT.2020 NCL, 2 unspecified.
    pub matrix: i32,
    /// Colour primaries (H.273): 1 BT.709, 5/6 BT.601, 9 BT.2020.
    pub primaries: i32,
    /// Transfer characteristics (H.273): 1 BT.709, 16 PQ, 18 HLG.
    pub transfer: i32,
    /// Sample range.
    pub range: Range,
    /// Bits per sample of the output: 8, or 10 for deeper sources.
    pub bit_depth: u8,
    /// Chroma layout of the output.
    pub chroma: Chroma,
    /// Sample (pixel) aspect ratio; 0/1 when unknown, 1/1 when square.
    pub sar: Ratio,
    /// Coded as interlaced fields: deinterlaced before the model, and the
    /// output is progressive.
    pub interlaced: bool,
    /// HDR's mastering display (SMPTE ST 2086), carried to the output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mastering: Option<Mastering>,
    /// HDR's content light levels (CTA-861.3), carried to the output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub light: Option<LightLevel>,
}

/// The display an HDR master was graded on (SMPTE ST 2086), in the units
/// HEVC's SEI and x264's `mastering-display` use: chromaticities in
/// 1/50000, luminance in 1/10000 cd/m².
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mastering {
    /// Red, green and blue primaries, (x, y) each.
    pub primaries: [[u32; 2]; 3],
    /// White point (x, y).
    pub white: [u32; 2],
    /// Peak luminance.
    pub max_luminance: u32,
    /// Black level.
    pub min_luminance: u32,
}

impl Mastering {
    /// The display's peak in cd/m² (nits).
    pub fn peak_nits(&self) -> f64 {
        f64::from(self.max_luminance) / 10_000.0
    }
}

/// The brightest pixel and the brightest frame average of an HDR
/// programme (CTA-861.3 MaxCLL, MaxFALL), in cd/m².
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LightLevel {
    /// MaxCLL.
    pub max_cll: u32,
    /// MaxFALL.
    pub max_fall: u32,
}

impl Default for Picture {
    fn default() -> Self {
        Picture {
            matrix: UNSPECIFIED,
            primaries: UNSPECIFIED,
            transfer: UNSPECIFIED,
            range: Range::Unspecified,
            bit_depth: 8,
            chroma: Chroma::Yuv420,
            sar: Ratio { num: 0, den: 1 },
            interlaced: false,
            mastering: None,
            light: None,
        }
    }
}

impl Picture {
    /// Read from a stream's parameters and its decoder's pixel format.
    pub fn from_stream(params: &ff::codec::Parameters, pixel: ff::format::Pixel, width: u32, height: u32) -> Self {
        // SAFETY: params wraps a valid AVCodecParameters for its lifetime.
        // Its enum fields are read as plain integers: a demuxer may copy
        // any value a file says (Matroska does), and no Rust enum value
        // must be made of one that is not a variant.
        let p = unsafe { &*params.as_ptr() };
        fn raw<T>(field: *const T) -> i32 {
            // SAFETY: each field passed is a C enum of `p`: an int in memory.
            unsafe { field.cast::<i32>().read() }
        }
        let known = |v: i32| if (0..=22).contains(&v) { v } else { UNSPECIFIED };
        let desc = pixel_descriptor(pixel);
        let (depth, log2_w, log2_h, is_rgb, comps) = desc.unwrap_or((8, 1, 1, false, 3));
        let jpeg_format =
            matches!(pixel, ff::format::Pixel::YUVJ420P | ff::format::Pixel::YUVJ422P | ff::format::Pixel::YUVJ444P);
        let range = match raw(std::ptr::addr_of!(p.color_range)) {
            1 => Range::Limited,
            2 => Range::Full,
            _ if jpeg_format => Range::Full,
            _ => Range::Unspecified,
        };
        // x264 cannot code odd sizes in 4:2:0 or 4:2:2: 4:4:4 keeps them exact.
        let odd = width % 2 == 1 || height % 2 == 1;
        let chroma = match (is_rgb, comps, log2_w, log2_h) {
            _ if odd => Chroma::Yuv444,
            (true, _, _, _) => Chroma::Yuv444,
            (_, 1, _, _) => Chroma::Yuv420,
            (_, _, 0, 0) => Chroma::Yuv444,
            (_, _, 1, 0) => Chroma::Yuv422,
            _ => Chroma::Yuv420,
        };
        let field_order = raw(std::ptr::addr_of!(p.field_order));
        Picture {
            matrix: known(raw(std::ptr::addr_of!(p.color_space))),
            primaries: known(raw(std::ptr::addr_of!(p.color_primaries))),
            transfer: known(raw(std::ptr::addr_of!(p.color_trc))),
            range,
            bit_depth: if depth > 8 { 10 } else { 8 },
            chroma,
            sar: Ratio { num: p.sample_aspect_ratio.num, den: p.sample_aspect_ratio.den },
            // AV_FIELD_PROGRESSIVE is 1, AV_FIELD_UNKNOWN 0; TT, BB, TB, BT follow.
            interlaced: field_order > 1,
            mastering: None,
            light: None,
        }
    }

    /// True for PQ or HLG: pictures the model (trained on SDR images)
    /// takes only through a tone map (the worker's `tone`).
    pub fn is_hdr(&self) -> bool {
        matches!(self.transfer, TRANSFER_PQ | TRANSFER_HLG)
    }

    /// The matrix to convert with: the source's, or when it says nothing,
    /// BT.709 for HD and BT.601 for SD, as players assume (and as the
    /// output is then tagged). HD is a long side from 1280 or a short side
    /// from 720, not a height over 576 as mpv guesses: a portrait phone
    /// clip (720x1280) is HD, IMX's 720x608 (576 lines and 32 of vertical
    /// blanking) and a 20x640 strip are SD.
    pub fn effective_matrix(&self, width: u32, height: u32) -> i32 {
        match self.matrix {
            0 | UNSPECIFIED | 3 => {
                if width.max(height) >= 1280 || width.min(height) >= 720 {
                    1
                } else {
                    6
                }
            }
            m => m,
        }
    }

    /// True when the samples use the full 0-255 range.
    pub fn full_range(&self) -> bool {
        self.range == Range::Full
    }

    /// The output's pixel format for libx264.
    pub fn encode_format(&self) -> ff::format::Pixel {
        use ff::format::Pixel as P;
        // HDR at 10 bits at least: 8-bit PQ bands visibly.
        match (self.chroma, self.bit_depth > 8 || self.is_hdr()) {
            (Chroma::Yuv420, false) => P::YUV420P,
            (Chroma::Yuv422, false) => P::YUV422P,
            (Chroma::Yuv444, false) => P::YUV444P,
            (Chroma::Yuv420, true) => P::YUV420P10LE,
            (Chroma::Yuv422, true) => P::YUV422P10LE,
            (Chroma::Yuv444, true) => P::YUV444P10LE,
        }
    }

    /// The peak the tone map treats as the source's brightest, in nits:
    /// for PQ the mastering display's, else MaxCLL, else 1000 (HDR10's
    /// common grade), never under 400 (a wrong tag must not flatten the
    /// picture); for HLG its nominal display's 1000 (HLG is relative: its
    /// signal's peak is that display's whatever was mastered).
    pub fn peak_nits(&self) -> f64 {
        let said = self.mastering.map(|m| m.peak_nits()).or(self.light.map(|l| f64::from(l.max_cll)));
        match (self.transfer, said) {
            (TRANSFER_PQ, Some(nits)) if nits > 0.0 => nits.clamp(400.0, 10_000.0),
            _ => 1000.0,
        }
    }

    /// The source's sample aspect ratio when it is known and not square.
    pub fn anamorphic(&self) -> Option<Ratio> {
        (self.sar.num > 0 && self.sar.den > 0 && self.sar.num != self.sar.den).then_some(self.sar)
    }
}

/// (bit depth, log2 chroma width, log2 chroma height, is RGB, components).
fn pixel_descriptor(pixel: ff::format::Pixel) -> Option<(u32, u32, u32, bool, u32)> {
    let raw: ff::ffi::AVPixelFormat = pixel.into();
    // SAFETY: av_pix_fmt_desc_get returns a static descriptor or null.
    unsafe {
        let d = ff::ffi::av_pix_fmt_desc_get(raw);
        if d.is_null() {
            return None;
        }
        let d = &*d;
        let rgb = d.flags & (ff::ffi::AV_PIX_FMT_FLAG_RGB as u64) != 0;
        let alpha = d.flags & (ff::ffi::AV_PIX_FMT_FLAG_ALPHA as u64) != 0;
        let comps = u32::from(d.nb_components) - u32::from(alpha);
        Some((d.comp[0].depth as u32, u32::from(d.log2_chroma_w), u32::from(d.log2_chroma_h), rgb, comps))
    }
}
