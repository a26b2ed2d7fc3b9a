//! decode: a shard's segment to RGB frames, in memory. Frames whose
//! timestamp is neither a warm-up frame nor one of the shard's (leading
//! pictures of an open GOP, the start of the GOP before a warm-up frame,
//! frames past the shard's end) are dropped here.

use std::path::Path;
use std::sync::mpsc::SyncSender;

use ffmpeg_next as ff;
use stylize_engine::Shard;

use stylize_engine::picture::Picture;

use crate::error::WorkerError;
use crate::frame::{DecodedFrame, Guide, GuideKind, Rgb};
use crate::motion::{flow_of, BoxBlur};
use crate::picture::{self, Deinterlacer};
use crate::tone::ToneMap;

/// Decode `segment` and send the frames of `shard` (warm-up first), in
/// order, to `tx`, as RGB converted with the source's matrix and range
/// (`picture`), deinterlaced first when the source is interlaced, tone
/// mapped to SDR when it is HDR. A frame the decoder cannot make (corrupt
/// data, which FFmpeg's players step over) is stood in for by the frame
/// before, as they show it (a shard's first frames by the first that
/// decodes; not where frames go by count, which cannot tell which one is
/// missing). Returns what it sent ([`Decoded`]); stops early (without
/// error) when the receiver is gone, since that means a later stage
/// failed.
pub fn decode(
    segment: &Path,
    shard: &Shard,
    time_base: ff::Rational,
    picture: &Picture,
    guide: GuideKind,
    tx: &SyncSender<DecodedFrame>,
) -> Result<Decoded, WorkerError> {
    let err = |reason: String| WorkerError::Decode { shard: shard.index, path: segment.to_path_buf(), reason };
    let wanted = shard.all_pts();
    let mut input = ff::format::input(&segment).map_err(|e| err(e.to_string()))?;
    let stream = input.stream(0).ok_or_else(|| err("segment has no stream".into()))?;
    let seg_tb = stream.time_base();
    let mut ctx = ff::codec::context::Context::from_parameters(stream.parameters()).map_err(|e| err(e.to_string()))?;
    // Frame threads speed decoding up, but the motion vectors FFmpeg exports
    // were seen to differ between runs with them: one thread when motion is
    // exported (the deflicker's motion mode, the flicker measure), so the
    // output and its figures stay the same on any rank. Shards decode side
    // by side, which keeps the cores busy all the same.
    let mut threading = ff::codec::threading::Config::kind(ff::codec::threading::Type::Frame);
    threading.count = if guide == GuideKind::LumaAndMotion { 1 } else { 0 };
    ctx.set_threading(threading);
    let mut decoder = open_video_decoder(ctx, guide == GuideKind::LumaAndMotion).map_err(|e| err(e.to_string()))?;
    let (w, h) = (decoder.width(), decoder.height());
    let mut deinterlacer =
        if picture.interlaced { Some(Deinterlacer::new(decoder.format(), (w, h), seg_tb).map_err(err)?) } else { None };
    let mut scaler: Option<ff::software::scaling::Context> = None;

    // Muxers may shift a segment's timestamps (NUT keeps them non-negative)
    // and change its time base. The first packet is the keyframe the plan
    // chose, whose source timestamp is known: it anchors every other one.
    let mut offset: Option<i64> = None;
    let mut sent = 0u64;
    let mut next_index = 0usize;
    // By count (a video whose times do not order its frames): frames the
    // decoder shows after the keyframe, before the first wanted one.
    let mut to_skip = shard.by_count_skip;
    let blur = BoxBlur::new(w as usize, h as usize);
    let tone = ToneMap::new(picture);
    let deep = picture.bit_depth > 8 || tone.is_some();
    let rgb_format = if deep { ff::format::Pixel::RGB48LE } else { ff::format::Pixel::RGB24 };
    let mut decoded = ff::frame::Video::empty();
    let mut progressive = ff::frame::Video::empty();
    let mut rgb = ff::frame::Video::empty();
    let concealed = std::cell::Cell::new(0u64);
    let out_of_gamut = std::cell::Cell::new(0u64);
    // A frame that stands in for one the decoder could not make.
    let stand_in = |rgb: &ff::frame::Video, index: usize| {
        let (pixels, _) = pixels_of(rgb, tone.as_ref(), deep);
        let guide = guide_of(&pixels, guide, &blur, None);
        if index >= shard.warmup.len() {
            concealed.set(concealed.get() + 1);
        }
        DecodedFrame { index, rgb: pixels, guide }
    };
    // Hands one decoded (and deinterlaced) frame on if it is wanted;
    // false when the receiver is gone.
    let mut accept =
        |frame: &ff::frame::Video, tb: ff::Rational, offset: i64, sent: &mut u64, next_index: &mut usize| {
            let index = match &mut to_skip {
                Some(0) => *next_index,
                Some(n) => {
                    *n -= 1;
                    return Ok(true);
                }
                None => {
                    let Some(ts) = frame.pts().or(frame.timestamp()) else { return Ok(true) };
                    let ts = ff::Rescale::rescale(&ts, tb, time_base) - offset;
                    tracing::trace!(shard = shard.index, ts, "decoded frame");
                    let Ok(index) = wanted.binary_search(&ts) else { return Ok(true) };
                    index
                }
            };
            if index < *next_index {
                return Ok(true);
            }
            // `rgb` still holds the frame before, once one was sent.
            if *next_index > 0 {
                while *next_index < index {
                    if tx.send(stand_in(&rgb, *next_index)).is_err() {
                        return Ok(false);
                    }
                    *sent += 1;
                    *next_index += 1;
                }
            }
            if scaler.is_none() {
                // Made from the first frame: its format is the decoder's real
                // one (hardware-agnostic, after any deinterlacer).
                let s = picture::scaler(picture, frame.format(), rgb_format, (w, h)).map_err(err)?;
                scaler = Some(s);
            }
            let sc = scaler.as_mut().expect("made above");
            sc.run(frame, &mut rgb).map_err(|e| err(format!("converting to RGB: {e}")))?;
            // A shard whose first frames did not decode: this one stands in.
            while *next_index < index {
                if tx.send(stand_in(&rgb, *next_index)).is_err() {
                    return Ok(false);
                }
                *sent += 1;
                *next_index += 1;
            }
            let (pixels, outside) = pixels_of(&rgb, tone.as_ref(), deep);
            if index >= shard.warmup.len() {
                out_of_gamut.set(out_of_gamut.get() + outside);
            }
            let flow = if guide == GuideKind::LumaAndMotion { flow_of(frame) } else { None };
            let guide = guide_of(&pixels, guide, &blur, flow);
            if tx.send(DecodedFrame { index, rgb: pixels, guide }).is_err() {
                return Ok(false);
            }
            *sent += 1;
            *next_index += 1;
            Ok(true)
        };
    let mut drain = |decoder: &mut ff::decoder::Video,
                     deinterlacer: &mut Option<Deinterlacer>,
                     at_end: bool,
                     sent: &mut u64,
                     next_index: &mut usize,
                     offset: i64|
     -> Result<bool, WorkerError> {
        loop {
            match decoder.receive_frame(&mut decoded) {
                Ok(()) => {}
                // A frame the decoder gave up on: the ones after may follow.
                Err(ff::Error::InvalidData) => continue,
                Err(_) => break,
            }
            match deinterlacer.as_mut() {
                None => {
                    if !accept(&decoded, seg_tb, offset, sent, next_index)? {
                        return Ok(false);
                    }
                }
                Some(d) => {
                    d.push(Some(&decoded)).map_err(err)?;
                    let tb = d.time_base();
                    while d.pull(&mut progressive) {
                        if !accept(&progressive, tb, offset, sent, next_index)? {
                            return Ok(false);
                        }
                    }
                }
            }
        }
        if let (true, Some(d)) = (at_end, deinterlacer.as_mut()) {
            d.push(None).map_err(err)?;
            let tb = d.time_base();
            while d.pull(&mut progressive) {
                if !accept(&progressive, tb, offset, sent, next_index)? {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    };
    for (_, packet) in input.packets() {
        let anchor = *offset.get_or_insert_with(|| {
            packet.pts().map_or(0, |p| ff::Rescale::rescale(&p, seg_tb, time_base) - shard.key_pts)
        });
        match decoder.send_packet(&packet) {
            // Corrupt data: FFmpeg's players step over the packet.
            Err(ff::Error::InvalidData) => tracing::debug!(shard = shard.index, "a packet did not decode"),
            other => other.map_err(|e| err(e.to_string()))?,
        }
        if !drain(&mut decoder, &mut deinterlacer, false, &mut sent, &mut next_index, anchor)? {
            return Ok(Decoded { frames: sent, concealed: concealed.get(), out_of_gamut: out_of_gamut.get() });
        }
        if next_index == wanted.len() {
            break;
        }
    }
    if next_index < wanted.len() {
        decoder.send_eof().map_err(|e| err(e.to_string()))?;
        drain(&mut decoder, &mut deinterlacer, true, &mut sent, &mut next_index, offset.unwrap_or(0))?;
    }
    // The shard's last frames did not decode: the last that did stands in
    // (by count, a frame lost anywhere would show here: left short).
    while shard.by_count_skip.is_none() && next_index > 0 && next_index < wanted.len() {
        if tx.send(stand_in(&rgb, next_index)).is_err() {
            break;
        }
        sent += 1;
        next_index += 1;
    }
    Ok(Decoded { frames: sent, concealed: concealed.get(), out_of_gamut: out_of_gamut.get() })
}

/// What a shard's decode sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct Decoded {
    /// Frames sent, warm-up frames included.
    pub frames: u64,
    /// Of the shard's own, those that stood in for one that did not decode.
    pub concealed: u64,
    /// Pixels of the shard's own frames with a colour outside BT.709 (an
    /// HDR source's wide gamut, clipped for the model).
    pub out_of_gamut: u64,
}

/// The pixels of a converted frame (RGB24, or RGB48LE for a deep or HDR
/// source), tone mapped when there is a map, and how many of them had a
/// colour outside BT.709 there.
fn pixels_of(rgb: &ff::frame::Video, tone: Option<&ToneMap>, deep: bool) -> (Rgb, u64) {
    let outside = std::cell::Cell::new(0u64);
    let pixels = match (tone, deep) {
        (None, false) => Rgb::Bytes(packed_rgb(rgb)),
        (None, true) => Rgb::Deep(packed_rgb48(rgb, |row, dst| {
            for (d, s) in dst.iter_mut().zip(row.chunks_exact(2)) {
                *d = u16::from_le_bytes([s[0], s[1]]);
            }
        })),
        (Some(tone), _) => Rgb::Deep(packed_rgb48(rgb, |row, dst| {
            outside.set(outside.get() + u64::from(tone.to_sdr(row, dst)));
        })),
    };
    (pixels, outside.get())
}

/// What the deflicker and the flicker measure need of a frame.
fn guide_of(pixels: &Rgb, kind: GuideKind, blur: &BoxBlur, flow: Option<crate::motion::Flow>) -> Option<Guide> {
    match kind {
        GuideKind::None => None,
        GuideKind::Luma => Some(Guide::new(pixels.luma(), blur, None)),
        GuideKind::LumaAndMotion => Some(Guide::new(pixels.luma(), blur, flow)),
    }
}

/// Open a video decoder, asking it to export motion vectors if `motion`.
pub fn open_video_decoder(ctx: ff::codec::context::Context, motion: bool) -> Result<ff::decoder::Video, ff::Error> {
    let mut options = ff::Dictionary::new();
    if motion {
        options.set("flags2", "+export_mvs");
    }
    let codec = ff::decoder::find(ctx.id()).ok_or(ff::Error::DecoderNotFound)?;
    ctx.decoder().open_as_with(codec, options).and_then(|d| d.video())
}

/// An RGB48LE frame as packed 16-bit samples, each row (its bytes)
/// converted by `convert`.
fn packed_rgb48(frame: &ff::frame::Video, convert: impl Fn(&[u8], &mut [u16])) -> Vec<u16> {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let stride = frame.stride(0);
    let data = frame.data(0);
    let mut out = vec![0u16; w * h * 3];
    for (row, dst) in out.chunks_exact_mut(w * 3).enumerate() {
        convert(&data[row * stride..row * stride + w * 6], dst);
    }
    out
}

/// Copy an RGB24 frame without its row padding.
fn packed_rgb(frame: &ff::frame::Video) -> Vec<u8> {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let stride = frame.stride(0);
    let data = frame.data(0);
    let mut out = Vec::with_capacity(w * h * 3);
    for row in 0..h {
        out.extend_from_slice(&data[row * stride..row * stride + w * 3]);
    }
    out
}
