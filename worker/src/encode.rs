//! encode: stylized RGB frames to one H.264 segment (libx264) that starts
//! on an IDR frame, with the source's own timestamps, ready to be joined
//! to its neighbours by stream copy.

use std::path::Path;
use std::sync::mpsc::Receiver;

use ffmpeg_next as ff;
use stylize_engine::plan::Shard;
use stylize_engine::scatter::ENCODED_SEGMENT_FORMAT;

use crate::error::WorkerError;
use crate::stylize::StyledFrame;

/// x264 settings: they shape the output bytes, so they are job parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeSettings {
    /// Constant rate factor (0 lossless … 51 worst); 18 is visually lossless.
    pub crf: u8,
    /// x264 preset, `ultrafast` … `veryslow`.
    pub preset: String,
}

impl Default for EncodeSettings {
    fn default() -> Self {
        EncodeSettings { crf: 18, preset: "veryfast".into() }
    }
}

/// Geometry and timing of the video being encoded.
#[derive(Debug, Clone, Copy)]
pub struct VideoFormat {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The source stream's time base (the shard's timestamps are in it).
    pub time_base: ff::Rational,
    /// The nominal frame rate.
    pub frame_rate: ff::Rational,
}

/// Encode the frames received on `rx` (in shard order) into `dst`.
pub fn encode(dst: &Path, shard: &Shard, format: VideoFormat, settings: &EncodeSettings, rx: &Receiver<StyledFrame>) -> Result<u64, WorkerError> {
    let err = |reason: String| WorkerError::Encode { shard: shard.index, path: dst.to_path_buf(), reason };
    let codec = ff::encoder::find_by_name("libx264").ok_or_else(|| err("FFmpeg was built without libx264".into()))?;
    let mut out = ff::format::output_as(&dst, ENCODED_SEGMENT_FORMAT).map_err(|e| err(e.to_string()))?;
    let mut ctx = ff::codec::context::Context::new_with_codec(codec).encoder().video().map_err(|e| err(e.to_string()))?;
    ctx.set_width(format.width);
    ctx.set_height(format.height);
    ctx.set_format(ff::format::Pixel::YUV420P);
    ctx.set_time_base(format.time_base);
    ctx.set_frame_rate(Some(format.frame_rate));
    // Parameter sets in the stream header (avcC), as MP4 wants them; all
    // segments of a job share them, which the stitch checks.
    ctx.set_flags(ff::codec::Flags::GLOBAL_HEADER);
    let mut opts = ff::Dictionary::new();
    opts.set("crf", &settings.crf.to_string());
    opts.set("preset", &settings.preset);
    let mut encoder = ctx.open_as_with(codec, opts).map_err(|e| err(format!("opening libx264: {e}")))?;
    {
        let mut ost = out.add_stream(codec).map_err(|e| err(e.to_string()))?;
        ost.set_parameters(&encoder);
        ost.set_time_base(format.time_base);
    }
    out.write_header().map_err(|e| err(e.to_string()))?;
    let ost_tb = out.stream(0).map(|s| s.time_base()).unwrap_or(format.time_base);

    let mut scaler = ff::software::scaling::Context::get(ff::format::Pixel::RGB24, format.width, format.height, ff::format::Pixel::YUV420P, format.width, format.height, ff::software::scaling::Flags::BICUBIC)
        .map_err(|e| err(format!("no conversion from RGB: {e}")))?;
    let mut rgb = ff::frame::Video::new(ff::format::Pixel::RGB24, format.width, format.height);
    let mut yuv = ff::frame::Video::empty();
    let write_packets = |encoder: &mut ff::encoder::Video, out: &mut ff::format::context::Output| -> Result<(), WorkerError> {
        let mut packet = ff::Packet::empty();
        while encoder.receive_packet(&mut packet).is_ok() {
            // Every packet gets its frame's duration, or the last frame's
            // length is lost in the container.
            if let Some(i) = packet.pts().and_then(|p| shard.pts.binary_search(&p).ok()) {
                packet.set_duration(shard.frame_duration(i));
            }
            packet.set_stream(0);
            packet.rescale_ts(format.time_base, ost_tb);
            packet.write(out).map_err(|e| err(e.to_string()))?;
        }
        Ok(())
    };
    let mut count = 0u64;
    for frame in rx.iter() {
        let width = format.width as usize * 3;
        let stride = rgb.stride(0);
        let data = rgb.data_mut(0);
        for (row, src) in frame.rgb.chunks_exact(width).enumerate() {
            data[row * stride..row * stride + width].copy_from_slice(src);
        }
        scaler.run(&rgb, &mut yuv).map_err(|e| err(format!("converting from RGB: {e}")))?;
        yuv.set_pts(Some(shard.pts[frame.index]));
        if count == 0 {
            yuv.set_kind(ff::picture::Type::I);
        } else {
            yuv.set_kind(ff::picture::Type::None);
        }
        encoder.send_frame(&yuv).map_err(|e| err(e.to_string()))?;
        write_packets(&mut encoder, &mut out)?;
        count += 1;
    }
    encoder.send_eof().map_err(|e| err(e.to_string()))?;
    write_packets(&mut encoder, &mut out)?;
    out.write_trailer().map_err(|e| err(e.to_string()))?;
    Ok(count)
}
