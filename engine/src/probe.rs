//! probe: what a video holds, read once from its packets before any work.
//!
//! The plan needs every frame's presentation timestamp and the keyframe
//! positions, so the probe demuxes the whole file (packets only, no
//! decoding: a few milliseconds per second of video). Anything the engine
//! cannot handle is refused here, with one line naming the file.

use std::path::{Path, PathBuf};

use ff::media::Type;
use ffmpeg_next as ff;
use serde::{Deserialize, Serialize};

use crate::dts_fill::DtsFill;
use crate::error::{EngineError, Result};
use crate::picture::Picture;
use crate::stream_facts::{display_rotation, only_program, pixel_has_alpha, programs};

pub use crate::ratio::Ratio;

/// The video stream that gets stylized.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VideoInfo {
    /// Index of the stream in the container.
    pub stream_index: usize,
    /// Codec name, e.g. `h264`.
    pub codec: String,
    /// Coded width in pixels.
    pub width: u32,
    /// Coded height in pixels.
    pub height: u32,
    /// Nominal frame rate, exact.
    pub frame_rate: Ratio,
    /// The stream's time base: every timestamp below is in it.
    pub time_base: Ratio,
    /// Presentation timestamps of every frame, in presentation order. Its
    /// length is the frame count; the output reuses these timestamps.
    pub pts: Vec<i64>,
    /// Frame indices (into `pts`) of the keyframes, ascending.
    pub keyframes: Vec<u64>,
    /// How long the last frame lasts, in the time base.
    pub last_frame_duration: i64,
    /// Rotation from the display matrix, in degrees, if the file has one.
    pub rotation: Option<f64>,
    /// True when frame intervals are not all equal.
    pub variable_rate: bool,
    /// How the pixels are coded: colour, depth, chroma, aspect, fields.
    #[serde(default)]
    pub picture: Picture,
    /// Some keyframe is followed (in decode order) by frames shown before
    /// it: leading pictures of an open GOP, which need the GOP before.
    #[serde(default)]
    pub open_gop: bool,
    /// Where decoding starts for the first frame when that frame is not a
    /// keyframe: the hidden keyframe of an edit list's pre-roll (a trimmed
    /// MP4/MOV). Its frames are decoded as references, never shown.
    #[serde(default)]
    pub lead_key_pts: Option<i64>,
    /// Frames before the first keyframe (a recording started mid-GOP):
    /// nothing can decode them, so the video starts at that keyframe, as
    /// FFmpeg's does.
    #[serde(default)]
    pub undecodable_lead: u64,
    /// The container gives no presentation times and the codec reorders
    /// (H.264 or HEVC with B-frames in AVI): the demuxer's guessed times
    /// follow decode order, so workers take decoded frames by count, in
    /// the order the decoder shows them, as players do.
    #[serde(default)]
    pub times_by_count: bool,
    /// With `times_by_count`: what a packet's decode time plus this is
    /// the time FFmpeg shows its frame at (the decoder's reorder delay;
    /// the AVI muxer moved the video that much to keep decode times
    /// non-negative, and players show it so).
    #[serde(default)]
    pub dts_offset: i64,
    /// The first packets had no time at all (Matroska before zero): the
    /// decode times they were given (times then go by count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dts_fill: Option<DtsFill>,
    /// The picture has an alpha channel (ProRes 4444, VP8/VP9 with alpha,
    /// PNG, QuickTime Animation): the model sees colour only, so the
    /// output is opaque, and the report says so.
    #[serde(default)]
    pub alpha: bool,
    /// The container its shards travel in to the workers (one of
    /// `scatter::SEGMENT_FORMATS`), chosen by a trial after the probe.
    #[serde(default = "nut")]
    pub segment_format: String,
    /// Its program, in a multiplex of programs (a broadcast TS).
    #[serde(default)]
    pub program: Option<i32>,
}

fn nut() -> String {
    "nut".into()
}

impl VideoInfo {
    /// Number of frames.
    pub fn frames(&self) -> u64 {
        self.pts.len() as u64
    }

    /// Duration from the first frame's start to the last frame's end, in seconds.
    pub fn duration_secs(&self) -> f64 {
        match (self.pts.first(), self.pts.last()) {
            (Some(first), Some(last)) => (last - first + self.last_frame_duration) as f64 * self.time_base.as_f64(),
            _ => 0.0,
        }
    }

    /// How long frame `i` lasts, in the time base (the gap to the next frame).
    pub fn frame_duration(&self, i: usize) -> i64 {
        match self.pts.get(i + 1) {
            Some(next) => next - self.pts[i],
            None => self.last_frame_duration,
        }
    }
}

/// An audio stream, copied packet for packet into the output.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AudioInfo {
    /// Index of the stream in the container.
    pub stream_index: usize,
    /// Codec name, e.g. `aac`.
    pub codec: String,
    /// Number of packets.
    pub packets: u64,
    /// Timestamp of its first packet, in microseconds.
    #[serde(default)]
    pub start_us: Option<i64>,
}

/// What a stream that is neither the stylized video nor audio is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OtherKind {
    /// Subtitles: copied when the output container can hold them.
    Subtitle,
    /// Timecode or other data: copied when the container can hold it.
    Data,
    /// A picture attached to the file (cover art): not kept.
    CoverArt,
    /// A second video stream: only one video is stylized; not kept.
    Video,
    /// A font or other attachment: not kept.
    Attachment,
    /// Any stream of another program of a multi-program transport stream
    /// (a broadcast multiplex): one program is kept, the first with video.
    OtherProgram,
}

/// A stream besides the stylized video and the audio.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OtherStream {
    /// Index of the stream in the container.
    pub stream_index: usize,
    /// What it is.
    pub kind: OtherKind,
    /// Codec name, e.g. `mov_text`.
    pub codec: String,
    /// Number of packets.
    pub packets: u64,
    /// Timestamp of its first packet, in microseconds.
    #[serde(default)]
    pub start_us: Option<i64>,
    /// The timecode a timecode track (MOV/MP4 `tmcd`) starts at.
    #[serde(default)]
    pub timecode: Option<String>,
    /// The program it belongs to, in a multiplex of programs.
    #[serde(default)]
    pub program: Option<i32>,
}

/// Everything the plan and the stitch need to know about an input.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MediaInfo {
    /// The file probed.
    pub path: PathBuf,
    /// Container format name, e.g. `mov,mp4,m4a,3gp,3g2,mj2`.
    pub format: String,
    /// The video stream.
    pub video: VideoInfo,
    /// Audio streams, in container order.
    pub audio: Vec<AudioInfo>,
    /// Subtitle, data, attached-picture and extra video streams.
    #[serde(default)]
    pub others: Vec<OtherStream>,
}

impl MediaInfo {
    /// Where the output's time zero falls in the source, in microseconds:
    /// the earliest first timestamp of the video and audio streams. Every
    /// copied stream is shifted by this same amount, so a file that starts
    /// at 10 h (broadcast TS) starts at 0 with its sync kept. A video that
    /// starts at or after 0 is never shifted below 0: audio before it
    /// (AAC priming in MP4, Opus pre-skip in WebM) is codec delay the
    /// container already hides, not picture time.
    pub fn start_us(&self) -> i64 {
        let v = &self.video;
        let video =
            (i128::from(v.pts[0]) * i128::from(v.time_base.num) * 1_000_000 / i128::from(v.time_base.den)) as i64;
        let earliest = self.audio.iter().filter_map(|a| a.start_us).fold(video, i64::min);
        if video >= 0 {
            earliest.max(0)
        } else {
            earliest
        }
    }
}

/// Open a media file for reading packets. `genpts` makes the demuxer fill
/// in presentation timestamps that some containers leave out (AVI with
/// B-frames, MPEG-PS), so every container gives every frame its timestamp.
pub fn open_input(path: &Path) -> std::result::Result<ff::format::context::Input, ff::Error> {
    let mut opts = ff::Dictionary::new();
    opts.set("fflags", "+genpts");
    ff::format::input_with_dictionary(&file_url(path), opts)
}

/// `path` as libavformat must be given a local file: behind `file:`, so
/// that a name with a colon (`10:30 interview.mp4`) is never read as a
/// protocol.
pub fn file_url(path: &Path) -> String {
    format!("file:{}", path.display())
}

/// Probe `path`: check it is a video the engine can handle and read its
/// frame timestamps and keyframes.
pub fn probe(path: &Path) -> Result<MediaInfo> {
    probe_program(path, None)
}

/// [`probe`], keeping `program` of a multiplex of programs (a broadcast
/// TS): its first video and its audio. `None`: the first program with
/// video. A program the file does not have is refused, naming the ones it
/// has.
pub fn probe_program(path: &Path, program: Option<i32>) -> Result<MediaInfo> {
    crate::init();
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => EngineError::bad_input(path, "no such file"),
        _ => EngineError::io(path, "reading")(e),
    })?;
    if meta.is_dir() {
        return Err(EngineError::bad_input(path, "is a directory, not a video file"));
    }
    if meta.len() == 0 {
        return Err(EngineError::bad_input(path, "empty file (0 bytes)"));
    }
    let mut input = open_input(path)
        .map_err(|e| EngineError::bad_input(path, format!("not a readable video ({})", describe(&e))))?;
    let format = input.format().name().to_string();
    if format == "image2" || format.ends_with("_pipe") {
        return Err(EngineError::bad_input(path, format!("a still image ({format}), not a video")));
    }

    // A multiplex of programs (a broadcast TS): the one asked for, else
    // the video's.
    let programs = programs(&input);
    let wanted: Option<&Vec<usize>> = match program {
        None => None,
        Some(p) => match programs.iter().find(|(id, _)| *id == p) {
            Some((_, streams)) => Some(streams),
            None if programs.is_empty() && only_program(&input).is_none_or(|id| id == p) => None,
            None => {
                let ids: Vec<String> = match programs.is_empty() {
                    true => only_program(&input).into_iter().map(|id| id.to_string()).collect(),
                    false => programs.iter().map(|(id, _)| id.to_string()).collect(),
                };
                return Err(EngineError::bad_input(
                    path,
                    format!(
                        "has no program {p} (its programs: {})",
                        if ids.is_empty() { "none".into() } else { ids.join(", ") }
                    ),
                ));
            }
        },
    };
    let video_stream = input
        .streams()
        .filter(|s| s.parameters().medium() == Type::Video && wanted.is_none_or(|w| w.contains(&s.index())))
        .find(|s| !s.disposition().contains(ff::format::stream::Disposition::ATTACHED_PIC))
        .ok_or_else(|| match program {
            Some(p) if wanted.is_some() => EngineError::bad_input(path, format!("program {p} has no video stream")),
            _ => EngineError::bad_input(path, "no video stream (audio-only or data file)"),
        })?;
    let stream_index = video_stream.index();
    let params = video_stream.parameters();
    let codec_ctx = ff::codec::context::Context::from_parameters(params)
        .map_err(EngineError::media(path, "reading video parameters"))?;
    let codec_id = codec_ctx.id();
    let decoder = codec_ctx.decoder().video().map_err(|e| {
        EngineError::bad_input(path, format!("no decoder for video codec {codec_id:?} ({})", describe(&e)))
    })?;
    let (width, height) = (decoder.width(), decoder.height());
    if width == 0 || height == 0 {
        return Err(EngineError::bad_input(path, "video stream has no frame size"));
    }
    let mut picture = Picture::from_stream(&video_stream.parameters(), decoder.format(), width, height);
    // The container's aspect (MP4/MOV `pasp`, `-aspect` on a stream copy,
    // 3GP's over H.263's, DV's) wins over the codec's, as FFmpeg's players
    // take it (`av_guess_sample_aspect_ratio`).
    // SAFETY: the stream is valid for the input's lifetime.
    let container_sar = unsafe { (*video_stream.as_ptr()).sample_aspect_ratio };
    if container_sar.num > 0 && container_sar.den > 0 {
        picture.sar = Ratio { num: container_sar.num, den: container_sar.den }.reduced();
    }
    if picture.is_hdr() {
        // Kept as HDR: the worker's tone map takes it to the model's SDR and
        // back; the mastering display and light levels go to the output.
        (picture.mastering, picture.light) = crate::hdr::metadata(&video_stream, || open_input(path).ok());
    }
    let time_base: Ratio = video_stream.time_base().into();
    let avg = video_stream.avg_frame_rate();
    let frame_rate: Ratio = if avg.numerator() > 0 && avg.denominator() > 0 { avg } else { video_stream.rate() }.into();
    let rotation = display_rotation(&video_stream);
    let header_frames = video_stream.frames();
    // Frames the decoder holds back for reordering (B-frames).
    // SAFETY: the parameters are valid for the stream's lifetime.
    let delay = i64::from(unsafe { (*video_stream.parameters().as_ptr()).video_delay });
    let mut times_by_count =
        format == "avi" && delay > 0 && matches!(codec_id, ff::codec::Id::H264 | ff::codec::Id::HEVC);
    let mut dts_offset = if times_by_count { delay * nominal_duration(frame_rate, time_base) } else { 0 };
    let codec = format!("{codec_id:?}").to_lowercase();
    // WebM's VP8/VP9 alpha travels beside the picture (FFmpeg's own
    // decoders drop it; the stream says so in its `alpha_mode` tag).
    let alpha = pixel_has_alpha(decoder.format()) || video_stream.metadata().get("alpha_mode") == Some("1");

    // A multiplex of programs (a broadcast TS): the video's program only.
    let kept = programs.iter().find(|(_, streams)| streams.contains(&stream_index));
    let program_of = |index: usize| -> Option<i32> {
        programs.iter().find(|(_, streams)| streams.contains(&index)).map(|(id, _)| *id)
    };
    let elsewhere = |index: usize| kept.is_some_and(|(_, streams)| !streams.contains(&index));
    let mut audio: Vec<AudioInfo> = input
        .streams()
        .filter(|s| s.parameters().medium() == Type::Audio && !elsewhere(s.index()))
        .map(|s| AudioInfo {
            stream_index: s.index(),
            codec: format!("{:?}", s.parameters().id()).to_lowercase(),
            packets: 0,
            start_us: None,
        })
        .collect();
    let mut others: Vec<OtherStream> = input
        .streams()
        .filter(|s| s.index() != stream_index && (s.parameters().medium() != Type::Audio || elsewhere(s.index())))
        .filter_map(|s| {
            let attached = s.disposition().contains(ff::format::stream::Disposition::ATTACHED_PIC);
            let kind = match s.parameters().medium() {
                _ if elsewhere(s.index()) => OtherKind::OtherProgram,
                Type::Video if attached => OtherKind::CoverArt,
                Type::Video => OtherKind::Video,
                Type::Subtitle => OtherKind::Subtitle,
                Type::Data => OtherKind::Data,
                Type::Attachment => OtherKind::Attachment,
                _ => return None,
            };
            let codec = format!("{:?}", s.parameters().id()).to_lowercase();
            let timecode = s.metadata().get("timecode").map(str::to_string);
            let program = program_of(s.index());
            Some(OtherStream { stream_index: s.index(), kind, codec, packets: 0, start_us: None, timecode, program })
        })
        .collect();

    // (time, is_key, duration, hidden) for every video packet, in decode
    // order, and its decode time; a time is `None` where the packet has
    // none at all.
    let mut packets: Vec<(Option<i64>, bool, i64, bool)> = Vec::new();
    let mut decode_times: Vec<Option<i64>> = Vec::new();
    // Presentation times that only follow decode order (guesses).
    let (mut guessed, mut last_pts) = (true, None);
    loop {
        // A fresh packet each time: `Packet::read` does not unreference the
        // last one, so a reused packet kept every byte of the file.
        let mut packet = ff::Packet::empty();
        match packet.read(&mut input) {
            Ok(()) => {}
            Err(ff::Error::Eof) => break,
            Err(e) => return Err(EngineError::bad_input(path, format!("truncated or corrupt ({})", describe(&e)))),
        }
        if packet.stream() == stream_index {
            // Times by count: an AVI frame's place is its decode time (the
            // demuxer's guessed presentation time is one frame later).
            let time =
                if times_by_count { packet.dts().map(|t| t + dts_offset) } else { packet.pts().or(packet.dts()) };
            if packet.is_corrupt() {
                let at = time.map_or(String::from("with no time"), |t| format!("at timestamp {t}"));
                return Err(EngineError::bad_input(path, format!("corrupt video packet {at}")));
            }
            decode_times.push(packet.dts());
            if let Some(p) = packet.pts() {
                guessed &= last_pts.is_none_or(|l| p > l);
                last_pts = Some(p);
            }
            // An edit list's pre-roll: FFmpeg's demuxer flags what it hides
            // (read raw: ffmpeg-next's `Flags` knows only KEY and CORRUPT).
            // SAFETY: the packet is valid; its flags are a plain int.
            let hidden = unsafe { (*ff::packet::Ref::as_ptr(&packet)).flags } & ff::ffi::AV_PKT_FLAG_DISCARD != 0;
            packets.push((time, packet.is_key(), packet.duration(), hidden));
        } else if let Some(a) = audio.iter_mut().find(|a| a.stream_index == packet.stream()) {
            a.packets += 1;
            if a.start_us.is_none() {
                a.start_us = packet_start_us(&input, &packet);
            }
        } else if let Some(o) = others.iter_mut().find(|o| o.stream_index == packet.stream()) {
            o.packets += 1;
            if o.start_us.is_none() {
                o.start_us = packet_start_us(&input, &packet);
            }
        }
    }
    audio.retain(|a| a.packets > 0);
    others.retain(|o| o.packets > 0 || o.kind == OtherKind::Attachment);
    if packets.is_empty() {
        return Err(EngineError::bad_input(path, "video stream has no frames"));
    }
    // MPEG-4 part 2 with B-frames in AVI whose presentation times are only
    // libavformat's guesses in decode order (DivX's packed B-frames, which
    // its parser cannot split): frames by count, as for H.264 there.
    if !times_by_count && guessed && format == "avi" && delay > 0 && codec_id == ff::codec::Id::MPEG4 {
        times_by_count = true;
        dts_offset = delay * nominal_duration(frame_rate, time_base);
        for (p, d) in packets.iter_mut().zip(&decode_times) {
            p.0 = d.map(|d| d + dts_offset);
        }
    }
    // Untimed leading packets: decode times a frame apart, frames by count.
    let mut dts_fill = None;
    if packets.iter().any(|p| p.0.is_none()) {
        let step = nominal_duration(frame_rate, time_base);
        let Some((filled, fill)) = DtsFill::fill(&decode_times, step) else {
            return Err(EngineError::bad_input(path, "video packets carry no timestamps"));
        };
        (times_by_count, dts_offset, dts_fill) = (true, delay * step, Some(fill));
        for (p, d) in packets.iter_mut().zip(filled) {
            p.0 = Some(d + dts_offset);
        }
    }
    let packets: Vec<(i64, bool, i64, bool)> =
        packets.into_iter().map(|(t, key, d, hidden)| (t.unwrap_or_default(), key, d, hidden)).collect();
    // Only MP4/MOV count their frames exactly (one sample table entry a
    // frame); an AVI's header count is a hint (FFmpeg's own muxer writes
    // one more than it stores for MJPEG and FFV1, Xvid counts its dummy
    // frames), and Matroska and TS say nothing.
    let exact_count = format.starts_with("mov,mp4");
    if exact_count && header_frames > 0 && (packets.len() as i64) < header_frames {
        return Err(EngineError::bad_input(
            path,
            format!("truncated: header announces {header_frames} frames, file holds {}", packets.len()),
        ));
    }

    let lead = shown_frames(&packets)
        .ok_or_else(|| EngineError::bad_input(path, "no keyframe in the video: nothing can be decoded"))?;
    let packets = lead.shown;
    // Leading pictures: after a keyframe (not the first) in decode order,
    // a frame that is shown before it.
    let open_gop = packets
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(_, p)| p.1)
        .any(|(i, key)| packets[i + 1..].iter().take_while(|p| !p.1).any(|p| p.0 < key.0));
    let mut order: Vec<(i64, bool, i64)> = packets.clone();
    order.sort_by_key(|p| p.0);
    if order.windows(2).any(|w| w[0].0 == w[1].0) {
        return Err(EngineError::bad_input(path, "two video frames share one timestamp"));
    }
    let pts: Vec<i64> = order.iter().map(|p| p.0).collect();
    let keyframes: Vec<u64> = order.iter().enumerate().filter(|(_, p)| p.1).map(|(i, _)| i as u64).collect();
    if keyframes.first() != Some(&0) && lead.key_pts.is_none() {
        return Err(EngineError::bad_input(path, "the first frame is not a keyframe"));
    }
    let gaps: Vec<i64> = pts.windows(2).map(|w| w[1] - w[0]).collect();
    let variable_rate = gaps.windows(2).any(|w| w[0] != w[1]);
    let nominal = nominal_duration(frame_rate, time_base);
    let last_frame_duration = match order.last() {
        Some(&(_, _, d)) if d > 0 => d,
        _ => gaps.last().copied().unwrap_or(nominal).max(1),
    };

    Ok(MediaInfo {
        path: path.to_path_buf(),
        format,
        video: VideoInfo {
            stream_index,
            codec,
            width,
            height,
            frame_rate,
            time_base,
            pts,
            keyframes,
            last_frame_duration,
            rotation,
            variable_rate,
            picture,
            open_gop,
            lead_key_pts: lead.key_pts,
            undecodable_lead: lead.undecodable,
            times_by_count,
            dts_offset,
            dts_fill,
            alpha,
            segment_format: nut(),
            program: kept.map(|(id, _)| *id),
        },
        audio,
        others,
    })
}

/// The frames a player shows, of `packets` (pts, key, duration, hidden;
/// in decode order).
struct Shown {
    /// (pts, key, duration) of each shown frame, in decode order.
    shown: Vec<(i64, bool, i64)>,
    /// The hidden keyframe the first shown frame decodes from, if any.
    key_pts: Option<i64>,
    /// Frames dropped before the first keyframe.
    undecodable: u64,
}

/// Which frames a player shows, and where decoding starts for the first.
/// Frames before the first keyframe in decode order (a recording started
/// mid-GOP) cannot be decoded: FFmpeg starts at the keyframe, and so does
/// the job. Frames the demuxer flags hidden (an edit list's pre-roll) are
/// decoded for reference, not shown: when the first shown frame is not a
/// keyframe, decoding starts at the hidden keyframe before it. `None`
/// when there is no keyframe at all.
fn shown_frames(packets: &[(i64, bool, i64, bool)]) -> Option<Shown> {
    let first_key = packets.iter().position(|p| p.1)?;
    let undecodable = packets[..first_key].iter().filter(|p| !p.3).count() as u64;
    let decodable = &packets[first_key..];
    let shown: Vec<(i64, bool, i64)> = decodable.iter().filter(|p| !p.3).map(|p| (p.0, p.1, p.2)).collect();
    let first = shown.iter().map(|p| p.0).min()?;
    let first_at = decodable.iter().position(|p| !p.3 && p.0 == first)?;
    let key_pts = match decodable[..=first_at].iter().rev().find(|p| p.1) {
        Some(k) if k.3 => Some(k.0),
        _ => None,
    };
    Some(Shown { shown, key_pts, undecodable })
}

/// A packet's first timestamp, in microseconds.
fn packet_start_us(input: &ff::format::context::Input, packet: &ff::Packet) -> Option<i64> {
    let tb = input.stream(packet.stream())?.time_base();
    let ts = packet.pts().or(packet.dts())?;
    Some(ff::Rescale::rescale(&ts, tb, ff::Rational::new(1, 1_000_000)))
}

/// One frame's duration at the nominal rate, in the time base.
fn nominal_duration(rate: Ratio, tb: Ratio) -> i64 {
    if rate.num <= 0 || tb.num <= 0 {
        return 1;
    }
    let d = (i64::from(rate.den) * i64::from(tb.den)) / (i64::from(rate.num) * i64::from(tb.num));
    d.max(1)
}

/// FFmpeg's error in words, without the Rust enum name.
pub(crate) fn describe(e: &ff::Error) -> String {
    let s = e.to_string();
    if s.is_empty() {
        format!("{e:?}")
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_edit_lists_pre_roll_is_decoded_from_its_keyframe_not_shown() {
        // Decode order: hidden I at -8, hidden B/P before the edit, then
        // shown frames from 0 (a B-frame, not a keyframe).
        let p = [(-8, true, 1, true), (-2, false, 1, true), (-5, false, 1, true), (1, false, 1, false)];
        let p = [&p[..], &[(0, false, 1, false), (4, true, 1, false), (2, false, 1, false)]].concat();
        let s = shown_frames(&p).unwrap();
        assert_eq!(s.shown.iter().map(|f| f.0).collect::<Vec<_>>(), [1, 0, 4, 2]);
        assert_eq!((s.key_pts, s.undecodable), (Some(-8), 0));
    }

    #[test]
    fn a_recording_cut_mid_gop_starts_at_its_first_keyframe() {
        let p = [(3, false, 1, false), (4, false, 1, false), (5, true, 1, false), (6, false, 1, false)];
        let s = shown_frames(&p).unwrap();
        assert_eq!(s.shown.iter().map(|f| f.0).collect::<Vec<_>>(), [5, 6]);
        assert_eq!((s.key_pts, s.undecodable), (None, 2));
        assert!(shown_frames(&[(0, false, 1, false)]).is_none(), "no keyframe at all");
    }
}
