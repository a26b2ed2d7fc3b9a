//! planar: frames ⇄ tensors on the CPU in one pass each way, with no
//! buffer in between. Interleaved RGB bytes (what the decoder gives) are
//! written as planar values (what the network takes), in the network's
//! own kind (f32 or bf16), straight into the input tensor's storage; the
//! output tensor's values go straight back into the frames' own buffers.
//! Doing it with tensor ops (concat, copy, permute, convert, scale; scale,
//! clamp, round, convert, permute, copy, split) took a dozen full-frame
//! passes and allocations; an intermediate `Vec` and its copy into and out
//! of libtorch, and a bf16 cast each way, took more: around a fast model
//! (a GPU's, or the pipeline-ceiling bench's pass-through) that was a
//! quarter of the CPU the whole job used.
//!
//! The arithmetic is the tensor ops' own, so the bytes do not change: a
//! division by 255 in f32 on the way in (a table of the 256 quotients,
//! rounded to bf16 by libtorch itself for a bf16 network); on the way out
//! a multiplication by 255, a clamp to 0..=255 and rounding half to even
//! (libtorch's `round`) before the cast.
//!
//! Frames of a source deeper than 8 bits travel as 16-bit samples and are
//! converted the same way with 65535 for 255 (and 257 where the network
//! takes 0-255): the model reads and writes them without an 8-bit step.

use tch::{Device, Kind, Tensor};

/// Adding and taking away 2^23 rounds a float in 0..=255 to an integer,
/// half to even, in the FPU's default mode: libtorch's `round`, without a
/// library call per value.
const ROUND: f32 = 8_388_608.0;

/// Pixels converted at a time on the way out: small enough for the three
/// byte rows to stay in L1, long enough for the float loop to vectorise.
const CHUNK: usize = 64;

/// A sample of a frame: a byte, or 16 bits for deeper sources.
pub(crate) trait Sample: Copy + Default {
    /// Its largest value, white.
    const MAX: f32;
    /// As an index into a table of every value.
    fn index(self) -> usize;
    /// From an integer value in `0..=MAX`.
    fn from_int(v: i32) -> Self;
}

impl Sample for u8 {
    const MAX: f32 = 255.0;
    fn index(self) -> usize {
        usize::from(self)
    }
    fn from_int(v: i32) -> Self {
        v as u8
    }
}

impl Sample for u16 {
    const MAX: f32 = 65535.0;
    fn index(self) -> usize {
        usize::from(self)
    }
    fn from_int(v: i32) -> Self {
        v as u16
    }
}

/// What a sample is multiplied by on the way out (divided by on the way
/// in): white is 1 for a `unit` network, 255 for one that takes 0-255.
fn scale<S: Sample>(unit: bool) -> f32 {
    if unit {
        S::MAX
    } else {
        S::MAX / 255.0
    }
}

/// Interleaved RGB frames (`w*h*3` samples each) as a new planar
/// `[n,3,h,w]` tensor on the CPU, divided by white when `unit`, of `kind`
/// `BFloat16`, or `Float` for any other kind.
pub(crate) fn to_tensor<S: Sample>(frames: &[Vec<S>], w: usize, h: usize, unit: bool, kind: Kind) -> Tensor {
    let shape = [frames.len() as i64, 3, h as i64, w as i64];
    let div = scale::<S>(unit);
    let table: Vec<f32> = (0..=S::MAX as usize).map(|v| v as f32 / div).collect();
    if kind == Kind::BFloat16 {
        // libtorch's own rounding of the values, so the bytes are those of
        // a float tensor cast to bf16.
        let rounded = Tensor::from_slice(&table).to_kind(Kind::BFloat16).view_dtype(Kind::Int16);
        let bits: Vec<i16> = Vec::try_from(rounded).expect("a value each");
        let table: Vec<u16> = bits.iter().map(|b| *b as u16).collect();
        let mut x = Tensor::empty(shape, (Kind::BFloat16, Device::Cpu));
        fill(frames, elements_mut::<u16>(&mut x, Kind::BFloat16), w * h, &table);
        x
    } else {
        let mut x = Tensor::empty(shape, (Kind::Float, Device::Cpu));
        fill(frames, elements_mut::<f32>(&mut x, Kind::Float), w * h, &table);
        x
    }
}

/// Deinterleave each frame into its three planes through `table`.
fn fill<S: Sample, T: Copy>(frames: &[Vec<S>], dst: &mut [T], plane: usize, table: &[T]) {
    assert_eq!(table.len(), S::MAX as usize + 1, "a value for every sample");
    for (frame, dst) in frames.iter().zip(dst.chunks_exact_mut(3 * plane)) {
        let (r, rest) = dst.split_at_mut(plane);
        let (g, b) = rest.split_at_mut(plane);
        let src = &frame[..3 * plane];
        for i in 0..plane {
            // SAFETY: a sample's index is at most MAX, and the table has a
            // value for each of 0..=MAX (asserted above).
            unsafe {
                r[i] = *table.get_unchecked(src[3 * i].index());
                g[i] = *table.get_unchecked(src[3 * i + 1].index());
                b[i] = *table.get_unchecked(src[3 * i + 2].index());
            }
        }
    }
}

/// A planar `[n,3,h,w]` tensor back into `frames` (`n` buffers of
/// `w*h*3` bytes, reused: the batch's own input frames), multiplied by 255
/// first when `unit`. A bf16 tensor is read as it is (a bf16 value is the
/// top half of an f32); any other is made contiguous float on the CPU first
/// (nothing to do for the usual float output). A tensor of another shape
/// is an error, never a partly written batch.
pub(crate) fn into_frames<S: Sample>(
    y: &Tensor,
    frames: &mut [Vec<S>],
    w: usize,
    h: usize,
    unit: bool,
) -> Result<(), tch::TchError> {
    let expected = [frames.len() as i64, 3, h as i64, w as i64];
    if y.size() != expected {
        return Err(tch::TchError::Shape(format!("the model gave {:?} for {expected:?}", y.size())));
    }
    let mul = scale::<S>(unit);
    let y = y.to_device(Device::Cpu);
    if y.kind() == Kind::BFloat16 {
        let y = y.contiguous();
        let widen = |src: &[u16], dst: &mut [f32]| {
            dst.iter_mut().zip(src).for_each(|(d, s)| *d = f32::from_bits(u32::from(*s) << 16));
        };
        interleave(elements::<u16>(&y, Kind::BFloat16), frames, w * h, mul, widen);
    } else {
        let y = y.to_kind(Kind::Float).contiguous();
        let same = |src: &[f32], dst: &mut [f32]| dst.copy_from_slice(src);
        interleave(elements::<f32>(&y, Kind::Float), frames, w * h, mul, same);
    }
    Ok(())
}

/// Planar values (`widen`ed to floats a chunk at a time) into interleaved
/// RGB frames.
fn interleave<T, S: Sample>(
    data: &[T],
    frames: &mut [Vec<S>],
    plane: usize,
    mul: f32,
    widen: impl Fn(&[T], &mut [f32]),
) {
    let mut wide = [0f32; CHUNK];
    for (src, frame) in data.chunks_exact(3 * plane).zip(frames.iter_mut()) {
        frame.resize(3 * plane, S::default());
        let (r, rest) = src.split_at(plane);
        let (g, b) = rest.split_at(plane);
        let (mut rb, mut gb, mut bb) = ([S::default(); CHUNK], [S::default(); CHUNK], [S::default(); CHUNK]);
        let mut start = 0;
        while start < plane {
            let n = CHUNK.min(plane - start);
            for (values, bytes) in [(r, &mut rb), (g, &mut gb), (b, &mut bb)] {
                widen(&values[start..start + n], &mut wide[..n]);
                to_bytes(&wide[..n], &mut bytes[..n], mul);
            }
            let out = &mut frame[3 * start..3 * (start + n)];
            for k in 0..n {
                out[3 * k] = rb[k];
                out[3 * k + 1] = gb[k];
                out[3 * k + 2] = bb[k];
            }
            start += n;
        }
    }
}

/// Scale, clamp, round and cast a row of floats; a loop the compiler
/// vectorises (no interleaving inside it).
#[inline(always)]
fn to_bytes<S: Sample>(src: &[f32], out: &mut [S], mul: f32) {
    for (o, v) in out.iter_mut().zip(src) {
        // `max` takes the number when one side is NaN, so NaN becomes 0,
        // as libtorch's cast of a NaN does on x86 (`clamp` keeps the NaN).
        #[allow(clippy::manual_clamp)]
        let v = (v * mul).max(0.0).min(S::MAX);
        // SAFETY: v is a finite integer value in 0..=MAX (under 2^23) here.
        *o = S::from_int(unsafe { ((v + ROUND) - ROUND).to_int_unchecked::<i32>() });
    }
}

/// The elements of a contiguous CPU tensor of `kind` (whose elements are
/// `T`'s size), in place.
fn elements<T>(t: &Tensor, kind: Kind) -> &[T] {
    assert!(t.kind() == kind && t.device() == Device::Cpu && t.is_contiguous());
    assert_eq!(kind.elt_size_in_bytes(), std::mem::size_of::<T>());
    // SAFETY: checked above: `numel` contiguous elements of T's size on the
    // CPU, alive as long as `t` is borrowed; T is a plain number type.
    unsafe { std::slice::from_raw_parts(t.data_ptr().cast::<T>(), t.numel()) }
}

/// The same, to write.
fn elements_mut<T>(t: &mut Tensor, kind: Kind) -> &mut [T] {
    assert!(t.kind() == kind && t.device() == Device::Cpu && t.is_contiguous());
    assert_eq!(kind.elt_size_in_bytes(), std::mem::size_of::<T>());
    // SAFETY: as in `elements`; the tensor was just made and shares its
    // storage with no other tensor, and `t` is borrowed mutably.
    unsafe { std::slice::from_raw_parts_mut(t.data_ptr().cast::<T>(), t.numel()) }
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
            let planar = to_tensor(&frames, w, h, unit, Kind::Float);
            let half = to_tensor(&frames, w, h, unit, Kind::BFloat16);
            assert!(half.equal(&x.to_kind(Kind::BFloat16).contiguous()), "bf16, unit {unit}");
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
            let mut out = vec![Vec::<u8>::new(); n];
            into_frames(&Tensor::from_slice(&y).view([n as i64, 3, h as i64, w as i64]), &mut out, w, h, unit).unwrap();
            assert_eq!(Vec::<u8>::try_from(bytes).unwrap(), out.concat(), "unit {unit}");
            // A bf16 output gives the bytes of its cast to float.
            let b = Tensor::from_slice(&y).view([n as i64, 3, h as i64, w as i64]).to_kind(Kind::BFloat16);
            let mut via_float = vec![Vec::<u8>::new(); n];
            into_frames(&b.to_kind(Kind::Float), &mut via_float, w, h, unit).unwrap();
            into_frames(&b, &mut out, w, h, unit).unwrap();
            assert_eq!(via_float, out, "bf16, unit {unit}");
        }
    }

    /// 16-bit frames go in as v/65535 (v/257 for a 0-255 network) and come
    /// back exactly, every value of a ramp distinct: no 8-bit step.
    #[test]
    fn sixteen_bit_samples_keep_their_depth() {
        let (w, h) = (100usize, 2usize);
        let frame: Vec<u16> = (0..w * h * 3).map(|i| (20_000 + i * 7) as u16).collect();
        for unit in [true, false] {
            let x = to_tensor(std::slice::from_ref(&frame), w, h, unit, Kind::Float);
            let first = f64::from(Vec::<f32>::try_from(x.flatten(0, -1)).unwrap()[0]);
            let want = if unit { 20_000.0 / 65_535.0 } else { 20_000.0 / 257.0 };
            assert!((first - want).abs() < 1e-5, "{first} against {want}");
            let mut out = vec![Vec::<u16>::new()];
            into_frames(&x, &mut out, w, h, unit).unwrap();
            assert_eq!(out[0], frame, "unit {unit}");
        }
    }

    /// Sizes that are not a multiple of the chunk, and a transposed
    /// (non-contiguous) output, come back right.
    #[test]
    fn odd_sizes_and_strided_outputs() {
        let (w, h) = (67usize, 3usize);
        let frame: Vec<u8> = (0..w * h * 3).map(|i| (i * 13 % 256) as u8).collect();
        let x = to_tensor(std::slice::from_ref(&frame), w, h, true, Kind::Float);
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
