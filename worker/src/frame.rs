//! frame: the types that travel between the worker's stages (decode →
//! stylize → deflicker → encode), apart from the stages themselves so no
//! stage imports another.

use crate::motion::{luma_of, BoxBlur, Flow};

/// A frame's pixels, packed RGB: bytes, or 16-bit samples for a source
/// deeper than 8 bits or HDR, so that the decoded depth reaches the model
/// and the model's output reaches the encoder without an 8-bit step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rgb {
    /// RGB24.
    Bytes(Vec<u8>),
    /// RGB of 16-bit samples (0..=65535).
    Deep(Vec<u16>),
}

impl Rgb {
    /// Luma (BT.601 weights), a byte a pixel: what the deflicker and the
    /// flicker measure compare, at any depth.
    pub fn luma(&self) -> Vec<u8> {
        match self {
            Rgb::Bytes(rgb) => luma_of(rgb),
            Rgb::Deep(rgb) => rgb
                .chunks_exact(3)
                .map(|p| {
                    // 256·257 per level: white stays 255, and v·257 samples
                    // give the bytes' own luma.
                    let y = 77 * u32::from(p[0]) + 150 * u32::from(p[1]) + 29 * u32::from(p[2]);
                    ((y + 32_896) / 65_792) as u8
                })
                .collect(),
        }
    }
}

/// One decoded frame, tagged with its position: warm-up frames first,
/// then the shard's own.
#[derive(Debug)]
pub struct DecodedFrame {
    /// Position among the warm-up frames and the shard's frames.
    pub index: usize,
    /// Tightly packed.
    pub rgb: Rgb,
    /// What the deflicker needs of the input, when it runs.
    pub guide: Option<Guide>,
}

/// What the decoder should hand on besides pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuideKind {
    /// Pixels only.
    None,
    /// Luma for the still mask.
    Luma,
    /// Luma and the source's motion vectors.
    LumaAndMotion,
}

/// What the deflicker and the flicker measure need to know about the
/// input frame, worked out once on the decoder's thread.
#[derive(Debug, Clone)]
pub struct Guide {
    /// Input luma, one byte per pixel.
    pub luma: Vec<u8>,
    /// Its 5x5 box sums ([`BoxBlur::sums`]).
    pub boxed: Vec<u16>,
    /// The input's motion to its previous frame, when known.
    pub flow: Option<Flow>,
}

impl Guide {
    /// The guide of a frame whose luma is `luma`.
    pub fn new(luma: Vec<u8>, blur: &BoxBlur, flow: Option<Flow>) -> Self {
        Guide { boxed: blur.sums(&luma), luma, flow }
    }
}

/// One stylized frame, tagged with its position (warm-up frames first
/// until the deflicker stage drops them and renumbers from 0).
#[derive(Debug)]
pub struct StyledFrame {
    /// Position of the frame.
    pub index: usize,
    /// Tightly packed.
    pub rgb: Rgb,
    /// The input's guide for the deflicker, passed through.
    pub guide: Option<Guide>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_luma_is_the_bytes_luma_and_white_stays_white() {
        let bytes: Vec<u8> = (0..=255u8).flat_map(|v| [v, 255 - v, v / 2]).collect();
        let deep: Vec<u16> = bytes.iter().map(|v| u16::from(*v) * 257).collect();
        assert_eq!(Rgb::Deep(deep).luma(), Rgb::Bytes(bytes).luma());
        assert_eq!(Rgb::Deep(vec![65_535; 3]).luma(), vec![255]);
    }
}
