//! scatter: cut one shard out of the source as a small standalone segment,
//! by stream copy. A shard travels compressed (a few kB per frame instead
//! of megabytes of raw pixels), and no image file is ever written.

use std::path::Path;

use ffmpeg_next as ff;

use crate::error::{EngineError, Result};
use crate::plan::Shard;
use crate::probe::{open_input, MediaInfo};

/// Containers the source segments sent to workers may travel in, in order
/// of preference: NUT takes most codecs with any time base; it loses what
/// QuickTime Animation needs (its bits per pixel) and has no tag for
/// DNxHD, which MOV carries; Matroska takes what is left. The probe's
/// trial ([`segment_format`]) picks the first that gives the frames back.
pub const SEGMENT_FORMATS: [&str; 3] = ["nut", "mov", "matroska"];

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
    // Packets given decode times by the probe (untimed in the file) are
    // known by their place from the file's start: read from there.
    let fill = info.video.dts_fill;
    let from_start = from_start || fill.is_some_and(|f| key_index as u64 <= f.first_index);
    if !from_start && key_index > 0 && input.seek(seek_us, ..seek_us).is_err() {
        input.seek(i64::MIN, ..).map_err(failed("seeking"))?;
    }
    let counted = from_start || key_index == 0;

    let mut out =
        open_segment(dst, &info.video.segment_format, params.clone(), in_tb).map_err(failed("creating its segment"))?;
    out.write_header().map_err(failed("writing its segment header"))?;
    let out_tb = out.stream(0).map(|s| s.time_base()).unwrap_or(in_tb);

    let mut started = false;
    let mut found = 0u64;
    let mut packets = Vec::new();
    let mut k = 0u64;
    for (stream, mut packet) in input.packets() {
        if stream.index() != vi {
            continue;
        }
        if let (Some(fill), None, true) = (fill, packet.dts(), counted) {
            // The probe's time for it, given to the segment's muxer too (the
            // worker takes these frames by count).
            let dts = fill.at(k);
            packet.set_dts(Some(dts));
            if packet.pts().is_none() {
                packet.set_pts(Some(dts));
            }
        }
        k += 1;
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
    let packets =
        segment_packets(&info.video.codec, &params, in_tb, packets).map_err(failed("unpacking its B-frames"))?;
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

/// A cut's packets as a segment's muxer and decoder take them: DivX's
/// packed B-frames unpacked (MPEG-4 part 2), decode times where missing.
fn segment_packets(
    codec: &str,
    params: &ff::codec::Parameters,
    tb: ff::Rational,
    packets: Vec<ff::Packet>,
) -> std::result::Result<Vec<ff::Packet>, ff::Error> {
    let mut packets = if codec == "mpeg4" { unpack_b_frames(packets, params, tb)? } else { packets };
    regenerate_dts_if_needed(&mut packets);
    Ok(packets)
}

/// DivX's packed B-frames (a P- and a B-frame in one packet, an empty
/// placeholder after) as one frame a packet, by FFmpeg's
/// `mpeg4_unpack_bframes`: a decoder unpacks them itself only from the
/// packet before, which a shard's cut may not give it (a frame went
/// missing at the shard's start). Other MPEG-4 streams pass unchanged.
fn unpack_b_frames(
    packets: Vec<ff::Packet>,
    params: &ff::codec::Parameters,
    tb: ff::Rational,
) -> std::result::Result<Vec<ff::Packet>, ff::Error> {
    let check = |ret: i32| if ret < 0 { Err(ff::Error::from(ret)) } else { Ok(ret) };
    let again = ff::ffi::AVERROR(ff::ffi::EAGAIN);
    // SAFETY: the filter context is allocated, given a copy of the
    // stream's parameters, used and freed here; packets are handed over
    // (the filter takes their references) and received into fresh ones.
    unsafe {
        let filter = ff::ffi::av_bsf_get_by_name(c"mpeg4_unpack_bframes".as_ptr());
        if filter.is_null() {
            return Err(ff::Error::BsfNotFound);
        }
        let mut ctx: *mut ff::ffi::AVBSFContext = std::ptr::null_mut();
        check(ff::ffi::av_bsf_alloc(filter, &mut ctx))?;
        let run = || -> std::result::Result<Vec<ff::Packet>, ff::Error> {
            check(ff::ffi::avcodec_parameters_copy((*ctx).par_in, params.as_ptr()))?;
            (*ctx).time_base_in = tb.into();
            check(ff::ffi::av_bsf_init(ctx))?;
            let mut out = Vec::with_capacity(packets.len());
            let drain = |out: &mut Vec<ff::Packet>| -> std::result::Result<(), ff::Error> {
                loop {
                    let mut packet = ff::Packet::empty();
                    match ff::ffi::av_bsf_receive_packet(ctx, ff::packet::Mut::as_mut_ptr(&mut packet)) {
                        0 => out.push(packet),
                        e if e == again || e == ff::ffi::AVERROR_EOF => return Ok(()),
                        e => return Err(ff::Error::from(e)),
                    }
                }
            };
            for mut packet in packets {
                check(ff::ffi::av_bsf_send_packet(ctx, ff::packet::Mut::as_mut_ptr(&mut packet)))?;
                drain(&mut out)?;
            }
            check(ff::ffi::av_bsf_send_packet(ctx, std::ptr::null_mut()))?;
            drain(&mut out)?;
            Ok(out)
        };
        let result = run();
        ff::ffi::av_bsf_free(&mut ctx);
        result
    }
}

/// A segment muxer for `dst` in `format` with one stream of `params`, its
/// header not yet written.
fn open_segment(
    dst: &Path,
    format: &str,
    params: ff::codec::Parameters,
    time_base: ff::Rational,
) -> std::result::Result<ff::format::context::Output, ff::Error> {
    let mut out = ff::format::output_as(&dst, format)?;
    {
        let mut ost = out.add_stream(ff::encoder::find(ff::codec::Id::None))?;
        ost.set_parameters(params);
        ost.set_time_base(time_base);
    }
    // The source's tag where the muxer files it under the same codec (UT
    // Video's tag says its pixel layout); else 0, to let the muxer choose
    // its own; a muxer that knows no tag for the codec (NUT: ProRes,
    // DNxHR) keeps the source's, as ffmpeg does.
    // SAFETY: the output, its format and stream 0 are valid; codecpar is
    // ours to change before the header is written.
    unsafe {
        let ctx = out.as_mut_ptr();
        let par = (**(*ctx).streams).codecpar;
        let tags = (*(*ctx).oformat).codec_tag;
        let mut tag = 0u32;
        let same = !tags.is_null() && ff::ffi::av_codec_get_id(tags, (*par).codec_tag) == (*par).codec_id;
        if !same && (tags.is_null() || ff::ffi::av_codec_get_tag2(tags, (*par).codec_id, &mut tag) != 0) {
            (*par).codec_tag = 0;
        }
        // Raw video's tag is its pixel format in NUT (`Y3[11][10]` for
        // 10-bit 4:2:0): without it the worker read 10-bit samples as
        // 8-bit ones (garbage colour from a 10-bit Y4M).
        if (*par).codec_id == ff::ffi::AVCodecID::AV_CODEC_ID_RAWVIDEO && (*par).codec_tag == 0 && format == "nut" {
            let pixel = ff::format::Pixel::from(std::mem::transmute::<i32, ff::ffi::AVPixelFormat>((*par).format));
            (*par).codec_tag = ff::ffi::avcodec_pix_fmt_to_codec_tag(pixel.into());
        }
    }
    Ok(out)
}

/// The first container of [`SEGMENT_FORMATS`] that carries the video of
/// `info` whole: a trial segment from its second keyframe (its first when
/// it has one) is written to `scratch` and decoded back, and must give
/// that keyframe's picture at its time. Whatever no container carries is
/// refused here, at probe, naming the user's file, not after the work.
pub fn segment_format(info: &MediaInfo, scratch: &Path) -> Result<&'static str> {
    crate::init();
    let src = info.path.as_path();
    let v = &info.video;
    let key_index = v.keyframes.get(1).or(v.keyframes.first()).copied().unwrap_or(0) as usize;
    let Some(&key) = v.pts.get(key_index) else { return Ok(SEGMENT_FORMATS[0]) };
    let mut reasons = Vec::new();
    for format in SEGMENT_FORMATS {
        let dst = scratch.join(format!("trial.{format}"));
        let tried = trial(info, key, format, &dst);
        let _ = std::fs::remove_file(&dst);
        match tried {
            Ok(()) => return Ok(format),
            Err(why) => reasons.push(format!("{format}: {why}")),
        }
    }
    tracing::debug!(reasons = ?reasons, "no segment container carries the video");
    Err(EngineError::bad_input(
        src,
        format!("its video ({}) cannot be cut into shards and decoded back ({})", v.codec, reasons.join("; ")),
    ))
}

/// Packets of a trial segment: enough to decode the first pictures.
const TRIAL_PACKETS: usize = 12;

fn trial(info: &MediaInfo, key: i64, format: &str, dst: &Path) -> std::result::Result<(), String> {
    let vi = info.video.stream_index;
    let mut input = open_input(&info.path).map_err(|e| e.to_string())?;
    let stream = input.stream(vi).ok_or("no video stream")?;
    let (in_tb, params) = (stream.time_base(), stream.parameters());
    let mut out = open_segment(dst, format, params.clone(), in_tb).map_err(|e| format!("creating: {e}"))?;
    out.write_header().map_err(|e| format!("header: {e}"))?;
    let out_tb = out.stream(0).map(|s| s.time_base()).unwrap_or(in_tb);
    let mut packets = Vec::new();
    for (stream, packet) in input.packets() {
        if stream.index() != vi || (packets.is_empty() && !(packet.is_key() && packet.pts() == Some(key))) {
            continue;
        }
        packets.push(packet);
        if packets.len() == TRIAL_PACKETS {
            break;
        }
    }
    if packets.is_empty() {
        // Times go by count (no usable timestamps): the cut itself tells.
        return Ok(());
    }
    let packets =
        segment_packets(&info.video.codec, &params, in_tb, packets).map_err(|e| format!("unpacking B-frames: {e}"))?;
    for mut packet in packets {
        packet.set_stream(0);
        packet.rescale_ts(in_tb, out_tb);
        packet.set_position(-1);
        packet.write(&mut out).map_err(|e| format!("writing: {e}"))?;
    }
    out.write_trailer().map_err(|e| format!("finishing: {e}"))?;
    drop(out);

    let mut seg = ff::format::input(&dst).map_err(|e| format!("reading back: {e}"))?;
    let stream = seg.stream(0).ok_or("no stream read back")?;
    let seg_tb = stream.time_base();
    let ctx = ff::codec::context::Context::from_parameters(stream.parameters()).map_err(|e| e.to_string())?;
    let codec = ff::decoder::find(ctx.id()).ok_or("no decoder")?;
    let mut decoder = ctx.decoder().open_as(codec).and_then(|d| d.video()).map_err(|e| format!("decoder: {e}"))?;
    let mut frame = ff::frame::Video::empty();
    let at_key = |f: &ff::frame::Video| {
        f.pts().or(f.timestamp()).is_some_and(|t| ff::Rescale::rescale(&t, seg_tb, in_tb) == key)
    };
    for (_, packet) in seg.packets() {
        decoder.send_packet(&packet).map_err(|e| format!("decoding: {e}"))?;
        while decoder.receive_frame(&mut frame).is_ok() {
            if at_key(&frame) {
                return Ok(());
            }
        }
    }
    decoder.send_eof().map_err(|e| format!("decoding: {e}"))?;
    while decoder.receive_frame(&mut frame).is_ok() {
        if at_key(&frame) {
            return Ok(());
        }
    }
    Err("the keyframe's picture did not come back".into())
}

/// Give every packet a decode timestamp when some have none or they do
/// not increase: Matroska stores none, and after a seek libavformat's
/// guess for the first packets of a B-frame codec (MPEG-2 in Matroska)
/// can go backwards, which NUT refuses.
fn regenerate_dts_if_needed(packets: &mut [ff::Packet]) {
    let dts: Vec<Option<i64>> = packets.iter().map(ff::Packet::dts).collect();
    let increasing = dts.windows(2).all(|w| matches!((w[0], w[1]), (Some(a), Some(b)) if a < b));
    if dts.iter().any(Option::is_none) || !increasing {
        regenerate_dts(packets);
    }
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
