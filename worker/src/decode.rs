//! decode: a shard's segment to RGB frames, in memory. Frames whose
//! timestamp is not one of the shard's (leading pictures of an open GOP,
//! frames past the shard's end) are dropped here.

use std::path::Path;
use std::sync::mpsc::SyncSender;

use ffmpeg_next as ff;
use stylize_engine::plan::Shard;

use crate::error::WorkerError;

/// One decoded frame, tagged with its position in the shard.
#[derive(Debug)]
pub struct DecodedFrame {
    /// Index of the frame within the shard.
    pub index: usize,
    /// RGB24, tightly packed.
    pub rgb: Vec<u8>,
}

/// Decode `segment` and send the shard's frames, in order, to `tx`.
/// Returns the number of frames sent; stops early (without error) when the
/// receiver is gone, since that means a later stage failed.
pub fn decode(segment: &Path, shard: &Shard, time_base: ff::Rational, tx: &SyncSender<DecodedFrame>) -> Result<u64, WorkerError> {
    let err = |reason: String| WorkerError::Decode { shard: shard.index, path: segment.to_path_buf(), reason };
    let mut input = ff::format::input(&segment).map_err(|e| err(e.to_string()))?;
    let stream = input.stream(0).ok_or_else(|| err("segment has no stream".into()))?;
    let seg_tb = stream.time_base();
    let mut ctx = ff::codec::context::Context::from_parameters(stream.parameters()).map_err(|e| err(e.to_string()))?;
    let mut threading = ff::codec::threading::Config::kind(ff::codec::threading::Type::Frame);
    threading.count = 0;
    ctx.set_threading(threading);
    let mut decoder = ctx.decoder().video().map_err(|e| err(e.to_string()))?;
    let (w, h) = (decoder.width(), decoder.height());
    let mut scaler = ff::software::scaling::Context::get(decoder.format(), w, h, ff::format::Pixel::RGB24, w, h, ff::software::scaling::Flags::BICUBIC)
        .map_err(|e| err(format!("no conversion to RGB: {e}")))?;

    // Muxers may shift a segment's timestamps (NUT keeps them non-negative)
    // and change its time base. The first packet is the shard's keyframe,
    // whose source timestamp is known: it anchors every other one.
    let mut offset: Option<i64> = None;
    let mut sent = 0u64;
    let mut next_index = 0usize;
    let mut frame = ff::frame::Video::empty();
    let mut rgb = ff::frame::Video::empty();
    let mut drain = |decoder: &mut ff::decoder::Video, sent: &mut u64, next_index: &mut usize, offset: i64| -> Result<bool, WorkerError> {
        while decoder.receive_frame(&mut frame).is_ok() {
            let Some(ts) = frame.timestamp() else { continue };
            let ts = ff::Rescale::rescale(&ts, seg_tb, time_base) - offset;
            let Ok(index) = shard.pts.binary_search(&ts) else { continue };
            if index < *next_index {
                continue;
            }
            if index != *next_index {
                return Err(err(format!("frame {} of the shard is missing", *next_index)));
            }
            scaler.run(&frame, &mut rgb).map_err(|e| err(format!("converting to RGB: {e}")))?;
            if tx.send(DecodedFrame { index, rgb: packed_rgb(&rgb) }).is_err() {
                return Ok(false);
            }
            *sent += 1;
            *next_index += 1;
        }
        Ok(true)
    };
    for (_, packet) in input.packets() {
        let anchor = *offset.get_or_insert_with(|| {
            packet.pts().map_or(0, |p| ff::Rescale::rescale(&p, seg_tb, time_base) - shard.pts[0])
        });
        decoder.send_packet(&packet).map_err(|e| err(e.to_string()))?;
        if !drain(&mut decoder, &mut sent, &mut next_index, anchor)? {
            return Ok(sent);
        }
        if next_index == shard.pts.len() {
            break;
        }
    }
    decoder.send_eof().map_err(|e| err(e.to_string()))?;
    drain(&mut decoder, &mut sent, &mut next_index, offset.unwrap_or(0))?;
    Ok(sent)
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
