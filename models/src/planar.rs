//! planar: frames ⇄ tensors on the CPU in one pass each way, with no
//! buffer in between. Interleaved RGB bytes (what the decoder gives) are
//! written as planar floats (what the network takes) straight into the
//! input tensor's storage, and the output tensor's floats straight back
//! into the frames' own buffers. Doing it with tensor ops (concat, copy,
//! permute, convert, scale; scale, clamp, round, convert, permute, copy,
//! split) took a dozen full-frame passes and allocations; an intermediate
//! `Vec` and its copy into and out of libtorch took two more: around a
//! fast model (a GPU's, or the pipeline-ceiling bench's pass-through) that
//! was a quarter of the CPU the whole job used.
//!
//! The arithmetic is the tensor ops' own, so the bytes do not change: a
//! division by 255 in f32 on the way in (a table of the 256 quotients); on
//! the way out a multiplication by 255, a clamp to 0..=255 and rounding
//! half to even (libtorch's `round`) before the cast.

use tch::{Device, Kind, Tensor};

/// Adding and taking away 2^23 rounds a float in 0..=255 to an integer,
/// half to even, in the FPU's default mode: libtorch's `round`, without a
/// library call per value.
const ROUND: f32 = 8_388_608.0;

/// Pixels converted at a time on the way out: small enough for the three
/// byte rows to stay in L1, long enough for the float loop to vectorise.
const CHUNK: usize = 64;

/// Interleaved RGB frames (`w*h*3` bytes each) as a new planar
/// `[n,3,h,w]` float tensor on the CPU, divided by 255 when `unit`.
pub(crate) fn to_tensor(frames: &[Vec<u8>], w: usize, h: usize, unit: bool) -> Tensor {
    let plane = w * h;
    let shape = [frames.len() as i64, 3, h as i64, w as i64];
    let mut x = Tensor::empty(shape, (Kind::Float, Device::Cpu));
    let div = if unit { 255.0 } else { 1.0 };
    let table: [f32; 256] = std::array::from_fn(|v| v as f32 / div);
    let dst = floats_mut(&mut x);
    for (frame, dst) in frames.iter().zip(dst.chunks_exact_mut(3 * plane)) {
        let (r, rest) = dst.split_at_mut(plane);
        let (g, b) = rest.split_at_mut(plane);
        let src = &frame[..3 * plane];
        for i in 0..plane {
            r[i] = table[usize::from(src[3 * i])];
            g[i] = table[usize::from(src[3 * i + 1])];
            b[i] = table[usize::from(src[3 * i + 2])];
        }
    }
    x
}

/// A planar `[n,3,h,w]` float tensor back into `frames` (`n` buffers of
/// `w*h*3` bytes, reused: the batch's own input frames), multiplied by 255
/// first when `unit`. The tensor is made contiguous float on the CPU first
/// if it is not already (then it costs nothing). A tensor of another
/// shape is an error, never a partly written batch.
pub(crate) fn into_frames(
    y: &Tensor,
    frames: &mut [Vec<u8>],
    w: usize,
    h: usize,
    unit: bool,
) -> Result<(), tch::TchError> {
    let plane = w * h;
    let expected = [frames.len() as i64, 3, h as i64, w as i64];
    if y.size() != expected {
        return Err(tch::TchError::Shape(format!("the model gave {:?} for {expected:?}", y.size())));
    }
    let y = y.to_device(Device::Cpu).to_kind(Kind::Float).contiguous();
    let mul = if unit { 255.0 } else { 1.0 };
    for (src, frame) in floats(&y).chunks_exact(3 * plane).zip(frames.iter_mut()) {
        frame.resize(3 * plane, 0);
        let (r, rest) = src.split_at(plane);
        let (g, b) = rest.split_at(plane);
        let (mut rb, mut gb, mut bb) = ([0u8; CHUNK], [0u8; CHUNK], [0u8; CHUNK]);
        let mut start = 0;
        while start < plane {
            let n = CHUNK.min(plane - start);
            to_bytes(&r[start..start + n], &mut rb[..n], mul);
            to_bytes(&g[start..start + n], &mut gb[..n], mul);
            to_bytes(&b[start..start + n], &mut bb[..n], mul);
            let out = &mut frame[3 * start..3 * (start + n)];
            for k in 0..n {
                out[3 * k] = rb[k];
                out[3 * k + 1] = gb[k];
                out[3 * k + 2] = bb[k];
            }
            start += n;
        }
    }
    Ok(())
}

/// Scale, clamp, round and cast a row of floats; a loop the compiler
/// vectorises (no interleaving inside it).
#[inline(always)]
fn to_bytes(src: &[f32], out: &mut [u8], mul: f32) {
    for (o, v) in out.iter_mut().zip(src) {
        // `max` takes the number when one side is NaN, so NaN becomes 0,
        // as libtorch's cast of a NaN does on x86 (`clamp` keeps the NaN).
        #[allow(clippy::manual_clamp)]
        let v = (v * mul).max(0.0).min(255.0);
        // SAFETY: v is a finite integer value in 0..=255 here.
        *o = unsafe { ((v + ROUND) - ROUND).to_int_unchecked::<i32>() } as u8;
    }
}

/// The floats of a contiguous float CPU tensor, in place.
fn floats(t: &Tensor) -> &[f32] {
    assert!(t.kind() == Kind::Float && t.device() == Device::Cpu && t.is_contiguous());
    let len = t.numel();
    // SAFETY: checked above: `len` contiguous f32 values on the CPU, alive
    // as long as `t` is borrowed.
    unsafe { std::slice::from_raw_parts(t.data_ptr().cast::<f32>(), len) }
}

/// The floats of a contiguous float CPU tensor, in place, to write.
fn floats_mut(t: &mut Tensor) -> &mut [f32] {
    assert!(t.kind() == Kind::Float && t.device() == Device::Cpu && t.is_contiguous());
    let len = t.numel();
    // SAFETY: as in `floats`; the tensor was just made and shares its
    // storage with no other tensor, and `t` is borrowed mutably.
    unsafe { std::slice::from_raw_parts_mut(t.data_ptr().cast::<f32>(), len) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-pass conversions give exactly the bytes of the tensor ops
    /// they replace.
    #[test]
    fn same_bytes_as_the_tensor_ops() {
        let (w, h, n) = (7usize, 5usize, 2usize);
        let frames: Vec<Vec<u8>> =
            (0..n).map(|k| (0..w * h * 3).map(|i| ((i * 37 + k * 11) % 256) as u8).collect()).collect();
        let flat: Vec<u8> = frames.concat();
        for unit in [true, false] {
            let x = Tensor::from_slice(&flat).view([n as i64, h as i64, w as i64, 3]);
            let x = x.permute([0, 3, 1, 2]).to_kind(Kind::Float);
            let x = if unit { x / 255.0 } else { x };
            let planar = to_tensor(&frames, w, h, unit);
            assert!(planar.equal(&x.contiguous()), "unit {unit}");

            // Values that need rounding, clamping and ties, and a NaN.
            let scale = if unit { 1.0 } else { 255.0 };
            let y: Vec<f32> = Vec::<f32>::try_from(planar.flatten(0, -1))
                .unwrap()
                .iter()
                .enumerate()
                .map(
                    |(i, v)| {
                        if i == 5 {
                            f32::NAN
                        } else {
                            v * 1.3 - 0.1 * scale + (i % 3) as f32 * 0.5 * scale / 255.0
                        }
                    },
                )
                .collect();
            let t = Tensor::from_slice(&y).view([n as i64, 3, h as i64, w as i64]);
            let t = if unit { t * 255.0 } else { t };
            let bytes =
                t.clamp(0.0, 255.0).round().to_kind(Kind::Uint8).permute([0, 2, 3, 1]).contiguous().flatten(0, -1);
            let mut out = vec![Vec::new(); n];
            into_frames(&Tensor::from_slice(&y).view([n as i64, 3, h as i64, w as i64]), &mut out, w, h, unit).unwrap();
            assert_eq!(Vec::<u8>::try_from(bytes).unwrap(), out.concat(), "unit {unit}");
        }
    }

    /// Sizes that are not a multiple of the chunk, and a transposed
    /// (non-contiguous) output, come back right.
    #[test]
    fn odd_sizes_and_strided_outputs() {
        let (w, h) = (67usize, 3usize);
        let frame: Vec<u8> = (0..w * h * 3).map(|i| (i * 13 % 256) as u8).collect();
        let x = to_tensor(std::slice::from_ref(&frame), w, h, true);
        let mut out = vec![vec![0u8; 1]];
        into_frames(&x, &mut out, w, h, true).unwrap();
        assert_eq!(out[0], frame);
        let t = x.transpose(2, 3).contiguous().transpose(2, 3);
        assert!(!t.is_contiguous());
        into_frames(&t, &mut out, w, h, true).unwrap();
        assert!(into_frames(&t.narrow(1, 0, 2), &mut out, w, h, true).is_err());
        assert_eq!(out[0], frame);
    }
}
