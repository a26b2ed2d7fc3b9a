//! container: which output container can carry the source's streams, and
//! which streams go along, decided at probe time. What MP4 cannot hold
//! (PCM audio from ProRes, MXF or AVI sources) used to fail at the final
//! stitch, after every frame had been stylized; now it picks the
//! container up front, or refuses before any work.
//!
//! The rule: the container follows the source (`.mov` -> MOV, `.mkv` and
//! `.webm` -> Matroska, everything else MP4); when that one cannot carry
//! every audio stream (and, where possible, every subtitle stream), MOV,
//! then Matroska. A container named by the user (an output file name) is
//! taken as is, and refused if it cannot carry the audio.

use std::path::Path;

use ffmpeg_next as ff;
use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result};
use crate::probe::{open_input, MediaInfo, OtherKind};

/// The output containers, by FFmpeg muxer name.
pub const CANDIDATES: [&str; 3] = ["mp4", "mov", "matroska"];

/// What goes into the output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamPlan {
    /// FFmpeg muxer name: `mp4`, `mov` or `matroska`.
    pub format: String,
    /// Stream indices (in the source) of the subtitle and data streams
    /// copied packet for packet beside the audio.
    pub copied: Vec<usize>,
    /// One line for each stream not kept, and why (also in the report).
    pub warnings: Vec<String>,
}

impl StreamPlan {
    /// The file extension for the container.
    pub fn extension(&self) -> &'static str {
        extension(&self.format)
    }
}

/// The file extension for a muxer name.
pub fn extension(format: &str) -> &'static str {
    match format {
        "mov" => "mov",
        "matroska" => "mkv",
        _ => "mp4",
    }
}

/// The muxer an output path's extension asks for, if it names one.
pub fn container_for(path: &Path) -> Option<&'static str> {
    match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
        Some("mp4" | "m4v") => Some("mp4"),
        Some("mov" | "qt") => Some("mov"),
        Some("mkv" | "webm") => Some("matroska"),
        _ => None,
    }
}

/// Decide the container and the streams for `info`. `requested` is the
/// container a user's output file name asks for, if any.
pub fn plan_streams(info: &MediaInfo, requested: Option<&str>) -> Result<StreamPlan> {
    crate::init();
    // The header again (cheap): the probe keeps codec names, FFmpeg's
    // tables want ids.
    let input = open_input(&info.path).map_err(EngineError::media(&info.path, "opening"))?;
    let codec_id =
        |_: &MediaInfo, index: usize| input.stream(index).map_or(ff::codec::Id::None, |s| s.parameters().id());
    let audio: Vec<ff::codec::Id> = info.audio.iter().map(|a| codec_id(info, a.stream_index)).collect();
    let subs: Vec<(usize, ff::codec::Id)> = info
        .others
        .iter()
        .filter(|o| matches!(o.kind, OtherKind::Subtitle | OtherKind::Data))
        .map(|o| (o.stream_index, codec_id(info, o.stream_index)))
        .collect();
    let sub_ids: Vec<ff::codec::Id> = subs.iter().map(|s| s.1).collect();
    let audio_streams: Vec<usize> = info.audio.iter().map(|a| a.stream_index).collect();
    // FFmpeg's tables, then its muxer itself: a trial header with the
    // audio as it would be copied (some pairs the tables take fail only
    // there, and would fail the stitch after all the work).
    let holds = |format: &str, ids: &[ff::codec::Id]| ids.iter().all(|id| can_hold(format, *id));
    // Matroska carries any audio (ACM for those without an id of their
    // own: WMA), though its table says no at normal compliance: its
    // header alone decides.
    let takes_audio =
        |format: &str| (format == "matroska" || holds(format, &audio)) && header_takes(format, &input, &audio_streams);
    // MP2 in MP4 (FFmpeg writes it, byte for byte, under the MPEG audio
    // object type that tools read back as MP3): only when asked for.
    let mp4_mp2 = |format: &str| {
        format == "mp4"
            && audio.iter().all(|id| *id == ff::codec::Id::MP2 || can_hold(format, *id))
            && header_takes(format, &input, &audio_streams)
    };
    let format = match requested {
        Some(f) => {
            if !takes_audio(f) && !mp4_mp2(f) {
                let names: Vec<&str> = info.audio.iter().map(|a| a.codec.as_str()).collect();
                let others: Vec<String> = CANDIDATES
                    .iter()
                    .filter(|c| **c != f && takes_audio(c))
                    .map(|c| format!(".{}", extension(c)))
                    .collect();
                let instead = match others.len() {
                    0 => "nor can MP4, MOV or MKV".to_string(),
                    _ => format!("name a {} output", others.join(" or ")),
                };
                return Err(EngineError::bad_input(
                    &info.path,
                    format!("{} cannot carry its audio ({}): {instead}", extension(f), names.join(", ")),
                ));
            }
            f.to_string()
        }
        None => {
            let preferred = container_for(&info.path).unwrap_or("mp4");
            let order: Vec<&str> =
                std::iter::once(preferred).chain(CANDIDATES.iter().copied().filter(|c| *c != preferred)).collect();
            let all = order.iter().find(|f| takes_audio(f) && holds(f, &sub_ids));
            let audio_only = order.iter().find(|f| takes_audio(f));
            match all.or(audio_only) {
                Some(f) => f.to_string(),
                None => {
                    let names: Vec<&str> = info.audio.iter().map(|a| a.codec.as_str()).collect();
                    return Err(EngineError::bad_input(
                        &info.path,
                        format!("no output container (MP4, MOV, MKV) can carry its audio ({})", names.join(", ")),
                    ));
                }
            }
        }
    };
    let mut copied = Vec::new();
    let mut warnings = Vec::new();
    if info.video.undecodable_lead > 0 {
        warnings.push(format!(
            "the first {} frames come before any keyframe (a recording started mid-GOP) and cannot be decoded: \
             the output starts at the first keyframe, as FFmpeg's does",
            info.video.undecodable_lead
        ));
    }
    if info.video.alpha {
        warnings.push(
            "the picture's alpha channel (transparency) is not kept: the style network paints colour only, \
             so the output is opaque"
                .to_string(),
        );
    }
    // A multiplex: one line a program left out, naming its streams.
    let mut left_out: Vec<(i32, Vec<String>)> = Vec::new();
    for o in info.others.iter().filter(|o| o.kind == OtherKind::OtherProgram) {
        let stream = format!("#{} {}", o.stream_index, o.codec);
        match left_out.iter_mut().find(|(p, _)| Some(*p) == o.program) {
            Some((_, streams)) => streams.push(stream),
            None => left_out.push((o.program.unwrap_or_default(), vec![stream])),
        }
    }
    for (program, streams) in left_out {
        warnings.push(format!(
            "program {program} ({}) not kept: one program is kept, the video's (program {})",
            streams.join(", "),
            info.video.program.unwrap_or_default()
        ));
    }
    for o in &info.others {
        let what = match o.kind {
            OtherKind::Subtitle => "subtitle",
            OtherKind::Data => "data",
            OtherKind::CoverArt => "cover art",
            OtherKind::Video => "second video",
            OtherKind::Attachment => "attachment",
            OtherKind::OtherProgram => continue,
        };
        let why = match o.kind {
            OtherKind::Subtitle | OtherKind::Data if can_hold(&format, codec_id(info, o.stream_index)) => {
                copied.push(o.stream_index);
                continue;
            }
            // A timecode track: MOV's and MP4's muxers write their own from
            // the video's `timecode` tag, which the output keeps (drop-frame
            // too): not a loss.
            OtherKind::Data if o.timecode.is_some() && matches!(format.as_str(), "mov" | "mp4") => continue,
            OtherKind::Subtitle | OtherKind::Data => format!("{} cannot carry it", extension(&format).to_uppercase()),
            OtherKind::CoverArt => "cover art is not stylized".to_string(),
            OtherKind::Video => "only the first video stream is stylized".to_string(),
            OtherKind::Attachment => "attachments are not copied".to_string(),
            OtherKind::OtherProgram => continue,
        };
        warnings.push(format!("{what} stream #{} ({}) not kept: {why}", o.stream_index, o.codec));
    }
    Ok(StreamPlan { format, copied, warnings })
}

/// Whether muxer `format` writes a header for `streams` of `input` copied
/// as they are. FFmpeg's tables list FLAC and TrueHD for MP4 and MOV, yet
/// its MP4 muxer calls them experimental and its MOV muxer refuses them:
/// only writing the header (to /dev/null) tells.
fn header_takes(format: &str, input: &ff::format::context::Input, streams: &[usize]) -> bool {
    if streams.is_empty() {
        return true;
    }
    let Ok(mut out) = ff::format::output_as(&"/dev/null", format) else { return false };
    for &index in streams {
        let Some(ist) = input.stream(index) else { return false };
        let Ok(mut ost) = out.add_stream(ff::encoder::find(ff::codec::Id::None)) else { return false };
        ost.set_parameters(ist.parameters());
        ost.set_time_base(ist.time_base());
        // SAFETY: the stream was just added and owns its codecpar; the
        // source's tag may not suit this container (as in the stitch).
        unsafe {
            (*(*ost.as_mut_ptr()).codecpar).codec_tag = 0;
        }
    }
    out.write_header().is_ok()
}

/// True if muxer `format` can store codec `id` (FFmpeg's own table), and
/// read it back as the same codec: MP4 stores MP2 under the MPEG audio
/// object type, which comes back as MP3.
fn can_hold(format: &str, id: ff::codec::Id) -> bool {
    if format == "mp4" && id == ff::codec::Id::MP2 {
        return false;
    }
    let Ok(name) = std::ffi::CString::new(format) else { return false };
    // SAFETY: av_guess_format returns a static muxer description or null;
    // avformat_query_codec only reads it.
    unsafe {
        let oformat = ff::ffi::av_guess_format(name.as_ptr(), std::ptr::null(), std::ptr::null());
        if oformat.is_null() {
            return false;
        }
        ff::ffi::avformat_query_codec(oformat, id.into(), ff::ffi::FF_COMPLIANCE_NORMAL) == 1
    }
}
