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

/// Radius of the box blur (5x5).
const R: usize = 2;

/// A 5x5 box blur of luma planes of one size, kept as exact integers: the
/// sum under each box and how many pixels the box holds (fewer at the
/// edges). The deflicker and the flicker measure compare blurred luma, so
/// that sensor and compression noise does not read as motion; fractions of
/// integers compare exactly, the same on every machine, and one blur of a
/// frame serves both stages (it was once two float blurs, the deflicker's
/// walking columns across rows: 15 ms a 1080p frame).
#[derive(Debug, Clone)]
pub struct BoxBlur {
    width: usize,
    height: usize,
    cols: Vec<u16>,
    rows: Vec<u16>,
}

impl BoxBlur {
    /// The blur of `width` x `height` planes.
    pub fn new(width: usize, height: usize) -> Self {
        let under = |n: usize| -> Vec<u16> { (0..n).map(|i| (i.min(R) + (n - 1 - i).min(R) + 1) as u16).collect() };
        BoxBlur { width, height, cols: under(width), rows: under(height) }
    }

    /// Pixels under the box of pixel `p` (row-major index).
    #[inline]
    pub fn area(&self, p: usize) -> u16 {
        self.rows[p / self.width] * self.cols[p % self.width]
    }

    /// Pixels under the boxes of row `y`, per column: the row's count
    /// times these.
    pub fn row_areas(&self, y: usize) -> (u16, &[u16]) {
        (self.rows[y], &self.cols)
    }

    /// Sums of luma over the box around each pixel (at most 25 x 255: a
    /// u16); the blur is each sum over its [`BoxBlur::area`].
    pub fn sums(&self, luma: &[u8]) -> Vec<u16> {
        let (w, h) = (self.width, self.height);
        let mut rows = vec![0u16; w * h];
        for (line, dst) in luma.chunks_exact(w).zip(rows.chunks_exact_mut(w)) {
            let mut acc: u16 = line[..w.min(R + 1)].iter().map(|v| u16::from(*v)).sum();
            for x in 0..w {
                dst[x] = acc;
                if x + R + 1 < w {
                    acc += u16::from(line[x + R + 1]);
                }
                if x >= R {
                    acc -= u16::from(line[x - R]);
                }
            }
        }
        // Down the columns a row at a time: loops the compiler vectorises.
        let mut out = vec![0u16; w * h];
        let mut acc = vec![0u16; w];
        for row in rows.chunks_exact(w).take(R + 1) {
            acc.iter_mut().zip(row).for_each(|(a, v)| *a += v);
        }
        for y in 0..h {
            out[y * w..(y + 1) * w].copy_from_slice(&acc);
            if y + R + 1 < h {
                let add = &rows[(y + R + 1) * w..(y + R + 2) * w];
                acc.iter_mut().zip(add).for_each(|(a, v)| *a += v);
            }
            if y >= R {
                let sub = &rows[(y - R) * w..(y - R + 1) * w];
                acc.iter_mut().zip(sub).for_each(|(a, v)| *a -= v);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blur_keeps_flat_planes_and_smooths_spikes() {
        let flat = BoxBlur::new(8, 6);
        let sums = flat.sums(&[100u8; 8 * 6]);
        assert!(sums.iter().enumerate().all(|(p, s)| *s == 100 * flat.area(p)));
        // Corners hold 3x3 pixels, edges 3x5, the inside 5x5.
        assert_eq!((flat.area(0), flat.area(1), flat.area(2), flat.area(2 * 8 + 2)), (9, 12, 15, 25));
        let blur = BoxBlur::new(9, 9);
        let mut spike = vec![0u8; 9 * 9];
        spike[4 * 9 + 4] = 250;
        let b = blur.sums(&spike);
        assert_eq!(b[4 * 9 + 4] / blur.area(4 * 9 + 4), 10);
        assert_eq!((b[2 * 9 + 2], b[9 + 1], b[0]), (250, 0, 0));
    }

    #[test]
    fn flow_source_is_clamped() {
        let f = Flow { width: 4, height: 3, vectors: vec![(-9, 7); 12] };
        assert_eq!(f.source(1, 1), (0, 2));
    }
}
