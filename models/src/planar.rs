//! planar: frames ⇄ tensors on the CPU in one pass each way. Interleaved
//! RGB bytes (what the decoder gives) become planar floats (what the
//! network takes), and back, without the dozen full-frame passes and
//! allocations of doing it with tensor ops (concat, copy, permute,
//! convert, scale; scale, clamp, round, convert, permute, copy, split),
//! which cost as much as the rest of the pipeline around a fast model.
//!
//! The arithmetic is the tensor ops' own, so the bytes do not change: a
//! division by 255 in f32 on the way in; on the way out a multiplication
//! by 255, a clamp to 0..=255 and rounding half to even (libtorch's
//! `round`) before the cast.

/// Interleaved RGB frames (`w*h*3` bytes each) to planar `[n,3,h,w]`
/// floats, divided by 255 when `unit` (models in the 0-1 range).
pub(crate) fn to_planar(frames: &[Vec<u8>], w: usize, h: usize, unit: bool) -> Vec<f32> {
    let plane = w * h;
    let div = if unit { 255.0 } else { 1.0 };
    let mut out = vec![0f32; frames.len() * 3 * plane];
    for (frame, dst) in frames.iter().zip(out.chunks_exact_mut(3 * plane)) {
        let (r, rest) = dst.split_at_mut(plane);
        let (g, b) = rest.split_at_mut(plane);
        for (((px, r), g), b) in frame.chunks_exact(3).zip(r).zip(g).zip(b) {
            *r = f32::from(px[0]) / div;
            *g = f32::from(px[1]) / div;
            *b = f32::from(px[2]) / div;
        }
    }
    out
}

/// Planar `[n,3,h,w]` floats back to interleaved RGB frames, multiplied by
/// 255 first when `unit`.
pub(crate) fn from_planar(data: &[f32], w: usize, h: usize, unit: bool) -> Vec<Vec<u8>> {
    let plane = w * h;
    let mul = if unit { 255.0 } else { 1.0 };
    // Adding and taking away 2^23 rounds a float in 0..=255 to an integer,
    // half to even, in the FPU's default mode: libtorch's `round`, without
    // a library call per value.
    const ROUND: f32 = 8_388_608.0;
    let byte = |v: f32| {
        // NaN fails both comparisons of `clamp`'s max/min and casts to 0,
        // as libtorch's does.
        let v = (v * mul).clamp(0.0, 255.0);
        ((v + ROUND) - ROUND) as u8
    };
    data.chunks_exact(3 * plane)
        .map(|src| {
            let (r, rest) = src.split_at(plane);
            let (g, b) = rest.split_at(plane);
            let mut frame = vec![0u8; 3 * plane];
            for (((px, r), g), b) in frame.chunks_exact_mut(3).zip(r).zip(g).zip(b) {
                px[0] = byte(*r);
                px[1] = byte(*g);
                px[2] = byte(*b);
            }
            frame
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Kind, Tensor};

    /// The one-pass conversions give exactly the bytes of the tensor ops
    /// they replace.
    #[test]
    fn same_bytes_as_the_tensor_ops() {
        let (w, h, n) = (7usize, 5usize, 2usize);
        let frames: Vec<Vec<u8>> =
            (0..n).map(|k| (0..w * h * 3).map(|i| ((i * 37 + k * 11) % 256) as u8).collect()).collect();
        let flat: Vec<u8> = frames.concat();
        let x = Tensor::from_slice(&flat).view([n as i64, h as i64, w as i64, 3]);
        let x = x.permute([0, 3, 1, 2]).to_kind(Kind::Float) / 255.0;
        let planar = to_planar(&frames, w, h, true);
        assert_eq!(Vec::<f32>::try_from(x.contiguous().flatten(0, -1)).unwrap(), planar);

        // Values that need rounding, clamping and ties.
        let y: Vec<f32> =
            planar.iter().enumerate().map(|(i, v)| v * 1.3 - 0.1 + (i % 3) as f32 * 0.5 / 255.0).collect();
        let t = Tensor::from_slice(&y).view([n as i64, 3, h as i64, w as i64]);
        let bytes = (t * 255.0)
            .clamp(0.0, 255.0)
            .round()
            .to_kind(Kind::Uint8)
            .permute([0, 2, 3, 1])
            .contiguous()
            .flatten(0, -1);
        assert_eq!(Vec::<u8>::try_from(bytes).unwrap(), from_planar(&y, w, h, true).concat());
    }
}
