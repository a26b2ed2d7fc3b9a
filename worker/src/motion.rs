//! motion: the H.264 motion vectors FFmpeg exports with each decoded frame
//! (`flags2 +export_mvs`), turned into a per-pixel flow field. A flow for
//! free: the encoder of the source already searched for it.

use ffmpeg_next as ff;

/// Per-pixel displacement to the matching pixel of the previous frame,
/// in whole pixels; (0, 0) where no vector covers the pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flow {
    /// Width of the field.
    pub width: usize,
    /// Height of the field.
    pub height: usize,
    /// (dx, dy) per pixel, row-major.
    pub vectors: Vec<(i16, i16)>,
}

impl Flow {
    /// The source pixel (in the previous frame) of pixel (x, y), clamped
    /// to the frame.
    #[inline]
    pub fn source(&self, x: usize, y: usize) -> (usize, usize) {
        let (dx, dy) = self.vectors[y * self.width + x];
        let sx = (x as i64 + i64::from(dx)).clamp(0, self.width as i64 - 1) as usize;
        let sy = (y as i64 + i64::from(dy)).clamp(0, self.height as i64 - 1) as usize;
        (sx, sy)
    }
}

/// The flow of a decoded frame, from its exported motion vectors; `None`
/// when it has none (an intra frame, or a codec that exports none).
/// Only vectors into the past are used: the previous output is the one
/// to follow. A vector may point further back than one frame (multiple
/// reference frames); the deflicker's trust mask catches where that fails.
pub fn flow_of(frame: &ff::frame::Video) -> Option<Flow> {
    let side = frame.side_data(ff::frame::side_data::Type::MotionVectors)?;
    let data = side.data();
    let size = std::mem::size_of::<ff::ffi::AVMotionVector>();
    let count = data.len() / size;
    if count == 0 {
        return None;
    }
    let (width, height) = (frame.width() as usize, frame.height() as usize);
    let mut vectors = vec![(0i16, 0i16); width * height];
    let mut any = false;
    for k in 0..count {
        // SAFETY: the side data is an array of `count` AVMotionVector
        // structs; read_unaligned copes with any alignment of the buffer.
        let mv: ff::ffi::AVMotionVector = unsafe { std::ptr::read_unaligned(data.as_ptr().add(k * size).cast()) };
        if mv.source >= 0 {
            continue;
        }
        let (dx, dy) = (mv.src_x - mv.dst_x, mv.src_y - mv.dst_y);
        if dx == 0 && dy == 0 {
            continue;
        }
        any = true;
        let (w, h) = (i32::from(mv.w), i32::from(mv.h));
        let (x0, y0) = (i32::from(mv.dst_x) - w / 2, i32::from(mv.dst_y) - h / 2);
        for y in y0.max(0)..(y0 + h).min(height as i32) {
            for x in x0.max(0)..(x0 + w).min(width as i32) {
                vectors[y as usize * width + x as usize] = (dx, dy);
            }
        }
    }
    // A frame whose vectors are all zero still has motion information: it
    // is still. Keep the (zero) field so callers know vectors were there.
    let _ = any;
    Some(Flow { width, height, vectors })
}

/// Luma (BT.601 weights, 0–255) of packed RGB24.
pub fn luma_of(rgb: &[u8]) -> Vec<u8> {
    rgb.chunks_exact(3)
        .map(|p| ((77 * u32::from(p[0]) + 150 * u32::from(p[1]) + 29 * u32::from(p[2]) + 128) >> 8) as u8)
        .collect()
}

/// A 5x5 box blur of a luma plane, as floats: the deflicker and the
/// flicker measure compare blurred luma, so that sensor and compression
/// noise does not read as motion.
pub fn blurred(luma: &[u8], width: usize, height: usize) -> Vec<f32> {
    const R: usize = 2;
    let mut rows = vec![0f32; width * height];
    for y in 0..height {
        let line = &luma[y * width..(y + 1) * width];
        let mut acc: u32 = 0;
        let mut count: u32 = 0;
        for v in &line[..width.min(R + 1)] {
            acc += u32::from(*v);
            count += 1;
        }
        for x in 0..width {
            rows[y * width + x] = acc as f32 / count as f32;
            if x + R + 1 < width {
                acc += u32::from(line[x + R + 1]);
                count += 1;
            }
            if x >= R {
                acc -= u32::from(line[x - R]);
                count -= 1;
            }
        }
    }
    let mut out = vec![0f32; width * height];
    for x in 0..width {
        let mut acc = 0f32;
        let mut count = 0f32;
        for y in 0..height.min(R + 1) {
            acc += rows[y * width + x];
            count += 1.0;
        }
        for y in 0..height {
            out[y * width + x] = acc / count;
            if y + R + 1 < height {
                acc += rows[(y + R + 1) * width + x];
                count += 1.0;
            }
            if y >= R {
                acc -= rows[(y - R) * width + x];
                count -= 1.0;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_keeps_flat_planes_and_smooths_spikes() {
        let flat = vec![100u8; 8 * 6];
        assert!(blurred(&flat, 8, 6).iter().all(|v| (v - 100.0).abs() < 1e-3));
        let mut spike = vec![0u8; 9 * 9];
        spike[4 * 9 + 4] = 250;
        let b = blurred(&spike, 9, 9);
        assert!((b[4 * 9 + 4] - 10.0).abs() < 1e-3, "{}", b[4 * 9 + 4]);
        assert!(b[0] == 0.0);
    }

    #[test]
    fn flow_source_is_clamped() {
        let f = Flow { width: 4, height: 3, vectors: vec![(-9, 7); 12] };
        assert_eq!(f.source(1, 1), (0, 2));
    }
}
