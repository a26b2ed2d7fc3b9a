//! hdr: an HDR master's static metadata (mastering display, light
//! levels), read at probe and written on the output's video stream. A
//! container may carry it beside the stream (MKV, MP4 `mdcv`/`clli`);
//! x265 and cameras put it in the bitstream's SEI instead, which FFmpeg
//! hands out on decoded frames only: the probe looks at both.

use ffmpeg_next as ff;

use crate::picture::{LightLevel, Mastering};

/// libavutil's `AVMasteringDisplayMetadata` (mastering_display_metadata.h,
/// a stable ABI), which ffmpeg-sys does not bind.
#[repr(C)]
#[derive(Clone, Copy)]
struct MasteringDisplayMetadata {
    display_primaries: [[ff::ffi::AVRational; 2]; 3],
    white_point: [ff::ffi::AVRational; 2],
    min_luminance: ff::ffi::AVRational,
    max_luminance: ff::ffi::AVRational,
    has_primaries: i32,
    has_luminance: i32,
}

/// libavutil's `AVContentLightMetadata`.
#[repr(C)]
#[derive(Clone, Copy)]
#[allow(non_snake_case)]
struct ContentLightMetadata {
    MaxCLL: u32,
    MaxFALL: u32,
}

/// Chromaticity and luminance denominators of ST 2086 as HEVC codes them.
const CHROMA: i32 = 50_000;
const LUMA: i32 = 10_000;

/// The mastering display and light levels of `stream`, from the container
/// or else from the first frame decoded from the file `reopen` opens anew.
pub(crate) fn metadata(
    stream: &ff::format::stream::Stream,
    reopen: impl FnOnce() -> Option<ff::format::context::Input>,
) -> (Option<Mastering>, Option<LightLevel>) {
    use ff::codec::packet::side_data::Type;
    let (mut mastering, mut light) = (None, None);
    for sd in stream.side_data() {
        match sd.kind() {
            Type::MasteringDisplayMetadata => mastering = mastering_of(sd.data()),
            Type::ContentLightLevel => light = light_of(sd.data()),
            _ => {}
        }
    }
    if mastering.is_none() || light.is_none() {
        if let Some((m, l)) = reopen().and_then(|input| first_frame(input, stream.index())) {
            mastering = mastering.or(m);
            light = light.or(l);
        }
    }
    (mastering, light)
}

/// The side data of the first frame FFmpeg decodes from the stream.
fn first_frame(mut input: ff::format::context::Input, index: usize) -> Option<(Option<Mastering>, Option<LightLevel>)> {
    use ff::frame::side_data::Type;
    let params = input.stream(index)?.parameters();
    let ctx = ff::codec::context::Context::from_parameters(params).ok()?;
    let mut decoder = ctx.decoder().video().ok()?;
    let mut frame = ff::frame::Video::empty();
    for (stream, packet) in input.packets() {
        if stream.index() != index {
            continue;
        }
        decoder.send_packet(&packet).ok()?;
        if decoder.receive_frame(&mut frame).is_ok() {
            let m = frame.side_data(Type::MasteringDisplayMetadata).and_then(|sd| mastering_of(sd.data()));
            let l = frame.side_data(Type::ContentLightLevel).and_then(|sd| light_of(sd.data()));
            return Some((m, l));
        }
    }
    None
}

fn mastering_of(data: &[u8]) -> Option<Mastering> {
    if data.len() < std::mem::size_of::<MasteringDisplayMetadata>() {
        return None;
    }
    // SAFETY: the buffer holds one AVMasteringDisplayMetadata (its size was
    // checked); read unaligned, as side data buffers promise no alignment.
    let m = unsafe { std::ptr::read_unaligned(data.as_ptr().cast::<MasteringDisplayMetadata>()) };
    if m.has_primaries == 0 || m.has_luminance == 0 {
        return None;
    }
    let at = |r: ff::ffi::AVRational, den: i32| -> u32 {
        if r.den == 0 {
            0
        } else {
            // Rounded: mkvmerge stores floats (0.292 reads as 0.29199…).
            let (num, rden) = (i64::from(r.num) * i64::from(den), i64::from(r.den));
            ((2 * num + rden) / (2 * rden)).clamp(0, i64::from(u32::MAX)) as u32
        }
    };
    let xy = |p: [ff::ffi::AVRational; 2]| [at(p[0], CHROMA), at(p[1], CHROMA)];
    Some(Mastering {
        primaries: [xy(m.display_primaries[0]), xy(m.display_primaries[1]), xy(m.display_primaries[2])],
        white: xy(m.white_point),
        max_luminance: at(m.max_luminance, LUMA),
        min_luminance: at(m.min_luminance, LUMA),
    })
}

fn light_of(data: &[u8]) -> Option<LightLevel> {
    if data.len() < std::mem::size_of::<ContentLightMetadata>() {
        return None;
    }
    // SAFETY: as in `mastering_of`.
    let l = unsafe { std::ptr::read_unaligned(data.as_ptr().cast::<ContentLightMetadata>()) };
    Some(LightLevel { max_cll: l.MaxCLL, max_fall: l.MaxFALL })
}

/// Put the metadata on an output stream, so that the container carries it
/// too (Matroska's MasteringMetadata, MP4's `mdcv` and `clli`).
pub(crate) fn write(mastering: Option<Mastering>, light: Option<LightLevel>, dst: &mut ff::format::stream::StreamMut) {
    let r = |num: u32, den: i32| ff::ffi::AVRational { num: num as i32, den };
    if let Some(m) = mastering {
        let xy = |p: [u32; 2]| [r(p[0], CHROMA), r(p[1], CHROMA)];
        let meta = MasteringDisplayMetadata {
            display_primaries: [xy(m.primaries[0]), xy(m.primaries[1]), xy(m.primaries[2])],
            white_point: xy(m.white),
            min_luminance: r(m.min_luminance, LUMA),
            max_luminance: r(m.max_luminance, LUMA),
            has_primaries: 1,
            has_luminance: 1,
        };
        put(dst, ff::ffi::AVPacketSideDataType::AV_PKT_DATA_MASTERING_DISPLAY_METADATA, &meta);
    }
    if let Some(l) = light {
        let meta = ContentLightMetadata { MaxCLL: l.max_cll, MaxFALL: l.max_fall };
        put(dst, ff::ffi::AVPacketSideDataType::AV_PKT_DATA_CONTENT_LIGHT_LEVEL, &meta);
    }
}

fn put<T>(dst: &mut ff::format::stream::StreamMut, kind: ff::ffi::AVPacketSideDataType, value: &T) {
    let size = std::mem::size_of::<T>();
    // SAFETY: av_stream_new_side_data returns a buffer of `size` bytes owned
    // by the stream, or null on allocation failure; T is a plain C struct.
    unsafe {
        let buf = ff::ffi::av_stream_new_side_data(dst.as_mut_ptr(), kind, size);
        if !buf.is_null() {
            std::ptr::copy_nonoverlapping((value as *const T).cast::<u8>(), buf, size);
        }
    }
}
