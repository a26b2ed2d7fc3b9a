//! encode: stylized RGB frames to one H.264 segment (libx264) that starts
//! on an IDR frame, with the source's own timestamps, ready to be joined
//! to its neighbours by stream copy.

use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender};

use ffmpeg_next as ff;
use stylize_engine::Shard;
use stylize_engine::ENCODED_SEGMENT_FORMAT;

use stylize_engine::VideoParams;

use crate::error::WorkerError;
use crate::frame::{Rgb, StyledFrame};
use crate::picture::{scaler, tag_codec_context};
use crate::tone::ToneMap;

/// x264 settings: they shape the output bytes, so they are job parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeSettings {
    /// Constant rate factor (0 lossless … 51 worst); 18 is visually lossless.
    pub crf: u8,
    /// x264 preset, `ultrafast` … `veryslow`.
    pub preset: String,
    /// x264 threads. A fixed number, never "auto": x264's output depends
    /// on its thread count, and the same job must give the same bytes on
    /// every machine, under any CPU binding and any number of ranks.
    pub threads: u8,
}

impl Default for EncodeSettings {
    fn default() -> Self {
        EncodeSettings { crf: 18, preset: "veryfast".into(), threads: 4 }
    }
}

/// Encode the frames received on `rx` (in shard order) into `dst`, and
/// hand each one on to `done` (the flicker measure) once it is encoded.
pub fn encode(
    dst: &Path,
    shard: &Shard,
    format: VideoParams,
    settings: &EncodeSettings,
    rx: &Receiver<StyledFrame>,
    done: Option<&SyncSender<StyledFrame>>,
) -> Result<u64, WorkerError> {
    let err = |reason: String| WorkerError::Encode { shard: shard.index, path: dst.to_path_buf(), reason };
    let codec = ff::encoder::find_by_name("libx264").ok_or_else(|| err("FFmpeg was built without libx264".into()))?;
    let mut out = ff::format::output_as(&dst, ENCODED_SEGMENT_FORMAT).map_err(|e| err(e.to_string()))?;
    let mut ctx =
        ff::codec::context::Context::new_with_codec(codec).encoder().video().map_err(|e| err(e.to_string()))?;
    ctx.set_width(format.width);
    ctx.set_height(format.height);
    let pixel = format.picture.encode_format();
    ctx.set_format(pixel);
    let matrix = format.picture.effective_matrix(format.width, format.height);
    // SAFETY: the encoder context is valid and not opened yet.
    unsafe { tag_codec_context(ctx.as_mut_ptr(), &format.picture, matrix) };
    ctx.set_time_base(ff::Rational::from(format.time_base));
    ctx.set_frame_rate(Some(ff::Rational::from(format.frame_rate)));
    // Parameter sets in the stream header (avcC), as MP4 wants them; all
    // segments of a job share them, which the stitch checks.
    ctx.set_flags(ff::codec::Flags::GLOBAL_HEADER);
    let mut opts = ff::Dictionary::new();
    opts.set("crf", &settings.crf.to_string());
    opts.set("preset", &settings.preset);
    opts.set("threads", &settings.threads.to_string());
    let params: Vec<String> =
        x264_cpu_flags().map(|flags| format!("asm={flags}")).into_iter().chain(hdr_params(&format.picture)).collect();
    if !params.is_empty() {
        opts.set("x264-params", &params.join(":"));
    }
    let mut encoder = ctx.open_as_with(codec, opts).map_err(|e| err(format!("opening libx264: {e}")))?;
    {
        let mut ost = out.add_stream(codec).map_err(|e| err(e.to_string()))?;
        ost.set_parameters(&encoder);
        ost.set_time_base(ff::Rational::from(format.time_base));
    }
    out.write_header().map_err(|e| err(e.to_string()))?;
    let ost_tb = out.stream(0).map(|s| s.time_base()).unwrap_or(format.time_base.into());

    // Frames of a deeper source come at 16 bits; an HDR source's come back
    // from the model's SDR through the tone map.
    let tone = ToneMap::new(&format.picture);
    let deep = format.picture.bit_depth > 8 || tone.is_some();
    let rgb_format = if deep { ff::format::Pixel::RGB48LE } else { ff::format::Pixel::RGB24 };
    let mut scaler = scaler(&format.picture, rgb_format, pixel, (format.width, format.height))
        .map_err(|e| err(format!("converting from RGB: {e}")))?;
    // Both frames are allocated once and zeroed, row padding included:
    // x264 and swscale's SIMD read a little past each row's end, and
    // uninitialised padding made the bitstream differ run to run.
    let mut rgb = zeroed(rgb_format, format.width, format.height);
    let mut yuv = zeroed(pixel, format.width, format.height);
    // Frames before zero (a Matroska that starts early) are coded from
    // zero: MP4 hides negative times behind an edit list, which came back
    // as garbled times. The join maps each segment by its first frame.
    let lift = shard.pts.first().copied().unwrap_or(0).min(0);
    let write_packets =
        |encoder: &mut ff::encoder::Video, out: &mut ff::format::context::Output| -> Result<(), WorkerError> {
            let mut packet = ff::Packet::empty();
            while encoder.receive_packet(&mut packet).is_ok() {
                // Every packet gets its frame's duration, or the last frame's
                // length is lost in the container.
                if let Some(i) = packet.pts().and_then(|p| shard.pts.binary_search(&(p + lift)).ok()) {
                    packet.set_duration(shard.frame_duration(i));
                }
                packet.set_stream(0);
                packet.rescale_ts(ff::Rational::from(format.time_base), ost_tb);
                packet.write(out).map_err(|e| err(e.to_string()))?;
            }
            Ok(())
        };
    let mut count = 0u64;
    for frame in rx.iter() {
        let width = format.width as usize * 3;
        let stride = rgb.stride(0);
        let data = rgb.data_mut(0);
        match (&frame.rgb, &tone) {
            (Rgb::Bytes(pixels), _) if !deep => {
                for (row, src) in pixels.chunks_exact(width).enumerate() {
                    data[row * stride..row * stride + width].copy_from_slice(src);
                }
            }
            (Rgb::Deep(pixels), None) if deep => {
                for (row, src) in pixels.chunks_exact(width).enumerate() {
                    let dst = &mut data[row * stride..row * stride + width * 2];
                    for (d, s) in dst.chunks_exact_mut(2).zip(src) {
                        d.copy_from_slice(&s.to_le_bytes());
                    }
                }
            }
            (Rgb::Deep(pixels), Some(tone)) => {
                for (row, src) in pixels.chunks_exact(width).enumerate() {
                    tone.from_sdr(src, &mut data[row * stride..row * stride + width * 2]);
                }
            }
            _ => return Err(err("a frame of another depth than the shard's".into())),
        }
        scaler.run(&rgb, &mut yuv).map_err(|e| err(format!("converting from RGB: {e}")))?;
        yuv.set_pts(Some(shard.pts[frame.index] - lift));
        if count == 0 {
            yuv.set_kind(ff::picture::Type::I);
        } else {
            yuv.set_kind(ff::picture::Type::None);
        }
        encoder.send_frame(&yuv).map_err(|e| err(e.to_string()))?;
        write_packets(&mut encoder, &mut out)?;
        count += 1;
        if let Some(done) = done {
            // A measure that stopped only loses its figures.
            let _ = done.send(frame);
        }
    }
    encoder.send_eof().map_err(|e| err(e.to_string()))?;
    write_packets(&mut encoder, &mut out)?;
    out.write_trailer().map_err(|e| err(e.to_string()))?;
    Ok(count)
}

/// x264's SEI for an HDR master's mastering display and light levels, so
/// that players and TVs map the output as they mapped the source.
fn hdr_params(picture: &stylize_engine::picture::Picture) -> Vec<String> {
    let mut params = Vec::new();
    if let Some(m) = picture.mastering {
        let [r, g, b] = m.primaries;
        params.push(format!(
            "mastering-display=G({},{})B({},{})R({},{})WP({},{})L({},{})",
            g[0], g[1], b[0], b[1], r[0], r[1], m.white[0], m.white[1], m.max_luminance, m.min_luminance
        ));
    }
    if let Some(l) = picture.light {
        params.push(format!("cll={},{}", l.max_cll, l.max_fall));
    }
    params
}

/// A frame whose every byte, padding included, is zero.
fn zeroed(format: ff::format::Pixel, width: u32, height: u32) -> ff::frame::Video {
    let mut frame = ff::frame::Video::new(format, width, height);
    for plane in 0..frame.planes() {
        frame.data_mut(plane).fill(0);
    }
    frame
}

/// The CPU features x264 may use: all it would detect itself but AVX-512.
/// x264's AVX-512 code reads uninitialised heap memory: the first segment
/// of a process came out the same every time, later ones (heap reused)
/// differed in their P-frames, breaking byte-identical outputs. Its other
/// SIMD paths are bit-exact with the C code, so the bytes do not depend on
/// the machine. `None` off x86, where x264's own detection stands.
fn x264_cpu_flags() -> Option<String> {
    #[cfg(target_arch = "x86_64")]
    {
        let mut flags = Vec::new();
        let has = |ok: bool, name: &'static str, flags: &mut Vec<&'static str>| {
            if ok {
                flags.push(name);
            }
        };
        has(std::arch::is_x86_feature_detected!("sse"), "MMX2", &mut flags);
        has(std::arch::is_x86_feature_detected!("sse2"), "SSE2Fast", &mut flags);
        has(std::arch::is_x86_feature_detected!("ssse3"), "SSSE3", &mut flags);
        has(std::arch::is_x86_feature_detected!("sse4.1"), "SSE4", &mut flags);
        has(std::arch::is_x86_feature_detected!("sse4.2"), "SSE4.2", &mut flags);
        has(std::arch::is_x86_feature_detected!("lzcnt"), "LZCNT", &mut flags);
        let avx = std::arch::is_x86_feature_detected!("avx");
        has(avx, "AVX", &mut flags);
        has(avx && std::arch::is_x86_feature_detected!("fma"), "FMA3", &mut flags);
        has(std::arch::is_x86_feature_detected!("bmi1"), "BMI1", &mut flags);
        has(std::arch::is_x86_feature_detected!("bmi2"), "BMI2", &mut flags);
        has(avx && std::arch::is_x86_feature_detected!("avx2"), "AVX2", &mut flags);
        Some(flags.join(","))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}
