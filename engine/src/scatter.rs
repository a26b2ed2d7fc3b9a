//! scatter: cut one shard out of the source as a small standalone segment,
//! by stream copy. A shard travels compressed (a few kB per frame instead
//! of megabytes of raw pixels), and no image file is ever written.

use std::path::Path;

use ffmpeg_next as ff;

use crate::error::{EngineError, Result};
use crate::plan::Shard;
use crate::probe::{open_input, MediaInfo};

/// Container of the source segments sent to workers: NUT takes any codec
/// and needs no seekable output. Decoders need no decode timestamps.
pub const SEGMENT_FORMAT: &str = "nut";

/// Container of the encoded segments workers send back: MP4 keeps every
/// packet's decode timestamp and duration, which the stitch needs.
pub const ENCODED_SEGMENT_FORMAT: &str = "mp4";

/// Write to `dst` the video packets of `shard`: from the keyframe at or
/// before its first frame (warm-up frames included), in decode order, up
/// to the last packet any of its frames needs. Leading
/// pictures of an open GOP may come along; the worker drops every frame
/// whose timestamp is not one of the shard's.
///
/// Errors name the user's file and the shard, never the segment (a
/// scratch file the user has never seen).
pub fn cut_segment(info: &MediaInfo, shard: &Shard, dst: &Path) -> Result<()> {
    crate::init();
    let src = info.path.as_path();
    let wanted = shard.all_pts();
    if wanted.is_empty() {
        return Err(EngineError::bad_input(src, format!("shard {} has no frames", shard.index)));
    }
    // A seek lands where the container's index says, which for MPEG-TS and
    // MPEG-PS (no index: a bisection on byte positions) can be after the
    // keyframe; then the cut is redone reading from the start.
    for from_start in [false, true] {
        match cut_once(info, shard, &wanted, dst, from_start)? {
            Cut::Done => return Ok(()),
            Cut::KeyframeMissed if !from_start => continue,
            Cut::KeyframeMissed => {
                return Err(EngineError::bad_input(
                    src,
                    format!("shard {}: its keyframe (timestamp {}) is not in the file", shard.index, shard.key_pts),
                ))
            }
            Cut::Short(found) => {
                return Err(EngineError::bad_input(
                    src,
                    format!("shard {}: found {found} of its {} frames in the file", shard.index, wanted.len()),
                ))
            }
        }
    }
    unreachable!("the second attempt always returns")
}

/// How one attempt at cutting went.
enum Cut {
    Done,
    KeyframeMissed,
    Short(u64),
}

fn cut_once(info: &MediaInfo, shard: &Shard, wanted: &[i64], dst: &Path, from_start: bool) -> Result<Cut> {
    let src = info.path.as_path();
    let failed = |op: &'static str| {
        move |e: ff::Error| EngineError::BadInput {
            path: src.to_path_buf(),
            reason: format!("shard {}: {op}: {}", shard.index, crate::probe::describe(&e)),
        }
    };
    let (first, last) = (wanted[0], wanted[wanted.len() - 1]);
    // The segment starts on the keyframe the plan chose (a warm-up frame
    // may sit in the middle of a GOP).
    let key = shard.key_pts;
    let key_index = info.video.pts.binary_search(&key).unwrap_or(0);
    let vi = info.video.stream_index;
    let mut input = open_input(src).map_err(EngineError::media(src, "opening"))?;
    let in_stream = input.stream(vi).ok_or_else(|| EngineError::bad_input(src, "video stream vanished"))?;
    let in_tb = in_stream.time_base();
    let params = in_stream.parameters();

    // Seek to at or before the shard's keyframe; rounding down means we may
    // land one GOP early, never late (except in containers without an
    // index: see above).
    let tb = info.video.time_base;
    let seek_us = (i128::from(key) * i128::from(tb.num) * 1_000_000 / i128::from(tb.den)) as i64;
    if !from_start && key_index > 0 && input.seek(seek_us, ..seek_us).is_err() {
        input.seek(i64::MIN, ..).map_err(failed("seeking"))?;
    }

    let mut out = ff::format::output_as(&dst, SEGMENT_FORMAT).map_err(failed("creating its segment"))?;
    {
        let mut ost = out.add_stream(ff::encoder::find(ff::codec::Id::None)).map_err(failed("adding a stream"))?;
        ost.set_parameters(params);
        ost.set_time_base(in_tb);
    }
    // A tag of 0 lets the muxer choose its own; NUT knows no tag for some
    // codecs (ProRes, DNxHR) and then keeps the source's, as ffmpeg does.
    // SAFETY: the output, its format and stream 0 are valid; codecpar is
    // ours to change before the header is written.
    unsafe {
        let ctx = out.as_mut_ptr();
        let par = (**(*ctx).streams).codecpar;
        let mut tag = 0u32;
        let tags = (*(*ctx).oformat).codec_tag;
        if tags.is_null() || ff::ffi::av_codec_get_tag2(tags, (*par).codec_id, &mut tag) != 0 {
            (*par).codec_tag = 0;
        }
        // Raw video's tag is its pixel format in NUT (`Y3[11][10]` for
        // 10-bit 4:2:0): without it the worker read 10-bit samples as
        // 8-bit ones (garbage colour from a 10-bit Y4M).
        if (*par).codec_id == ff::ffi::AVCodecID::AV_CODEC_ID_RAWVIDEO && (*par).codec_tag == 0 {
            let pixel = ff::format::Pixel::from(std::mem::transmute::<i32, ff::ffi::AVPixelFormat>((*par).format));
            (*par).codec_tag = ff::ffi::avcodec_pix_fmt_to_codec_tag(pixel.into());
        }
    }
    out.write_header().map_err(failed("writing its segment header"))?;
    let out_tb = out.stream(0).map(|s| s.time_base()).unwrap_or(in_tb);

    let mut started = false;
    let mut found = 0u64;
    let mut packets = Vec::new();
    for (stream, packet) in input.packets() {
        if stream.index() != vi {
            continue;
        }
        // As the probe timed them (decode times where times go by count).
        let time = if shard.by_count_skip.is_some() {
            packet.dts().map(|t| t + shard.dts_offset)
        } else {
            packet.pts().or(packet.dts())
        };
        let ts = time.unwrap_or(i64::MIN);
        if !started {
            if !(packet.is_key() && ts == key) {
                continue;
            }
            started = true;
        }
        if (first..=last).contains(&ts) && wanted.binary_search(&ts).is_ok() {
            found += 1;
        }
        packets.push(packet);
        if found == wanted.len() as u64 {
            break;
        }
    }
    if packets.iter().any(|p| p.dts().is_none()) {
        regenerate_dts(&mut packets);
    }
    for mut packet in packets {
        packet.set_stream(0);
        packet.rescale_ts(in_tb, out_tb);
        packet.set_position(-1);
        packet.write(&mut out).map_err(failed("writing its segment"))?;
    }
    out.write_trailer().map_err(failed("finishing its segment"))?;
    Ok(match (started, found == wanted.len() as u64) {
        (false, _) => Cut::KeyframeMissed,
        (true, true) => Cut::Done,
        (true, false) => Cut::Short(found),
    })
}

/// Give every packet a decode timestamp, for containers that store none
/// (Matroska, and so the first packets after a seek in one): the sorted
/// presentation timestamps, moved back just enough that no packet is
/// decoded after it is shown. Decoders go by packet order; the segment's
/// muxer only needs the timestamps to increase.
fn regenerate_dts(packets: &mut [ff::Packet]) {
    let pts: Vec<i64> = packets.iter().map(|p| p.pts().or(p.dts()).unwrap_or(0)).collect();
    let mut sorted = pts.clone();
    sorted.sort_unstable();
    let delay = sorted.iter().zip(&pts).map(|(s, p)| s - p).max().unwrap_or(0).max(0);
    for (packet, s) in packets.iter_mut().zip(&sorted) {
        packet.set_dts(Some(s - delay));
    }
}
