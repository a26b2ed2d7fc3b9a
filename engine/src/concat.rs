//! concat: join encoded segments into one file by stream copy, with every
//! audio stream of the source copied packet for packet (never re-encoded)
//! and the source's rotation kept. Video timestamps are the ones the
//! workers gave the frames, which are the source's own: the output has the
//! source's exact frame rate and duration, constant or variable. Every
//! stream is shifted by the source's start time, so the output starts at
//! zero (a broadcast TS starting at 10 h gets no 10 h lead-in) with its
//! audio/video sync as in the source. Subtitle and data streams that the
//! container can carry are copied like the audio.

use std::path::{Path, PathBuf};

use ffmpeg_next as ff;

use crate::container::StreamPlan;
use crate::error::{EngineError, Result};
use crate::probe::{open_input, MediaInfo};

/// An encoded segment and the source timestamp of its first frame.
///
/// Muxers may shift a segment's timestamps (NUT keeps them non-negative);
/// the first packet of an encoded segment is its IDR frame, the shard's
/// first frame, so this one number restores all of them.
#[derive(Debug, Clone)]
pub struct Segment {
    /// The segment file.
    pub path: PathBuf,
    /// Timestamp of its first frame, in the source video's time base.
    pub first_pts: i64,
}

/// Write to `dst` the video packets of `segments`, in order, and the audio
/// and copied streams of `source`, interleaved by time, in the container
/// `streams` chose.
pub fn concat(source: &MediaInfo, segments: &[Segment], dst: &Path, streams: &StreamPlan) -> Result<()> {
    let format = streams.format.as_str();
    crate::init();
    let src_path = source.path.as_path();
    let first = &segments.first().ok_or_else(|| EngineError::bad_input(dst, "no segments to join"))?.path;
    let seg0 = ff::format::input(first).map_err(EngineError::media(first.as_path(), "opening segment"))?;
    let video_params =
        seg0.stream(0).ok_or_else(|| EngineError::bad_input(first, "segment has no stream"))?.parameters();
    let extradata = extradata(&video_params);
    drop(seg0);

    let mut src = open_input(src_path).map_err(EngineError::media(src_path, "opening"))?;
    let mut out = ff::format::output_as(&crate::probe::file_url(dst), format)
        .map_err(EngineError::media(dst, "creating output"))?;

    // Output stream 0 is the video; audio streams follow in source order.
    let src_video = src
        .stream(source.video.stream_index)
        .ok_or_else(|| EngineError::bad_input(src_path, "video stream vanished"))?;
    {
        let mut ost = out
            .add_stream(ff::encoder::find(ff::codec::Id::None))
            .map_err(EngineError::media(dst, "adding video stream"))?;
        ost.set_parameters(video_params);
        ost.set_time_base(src_video.time_base());
        ost.set_avg_frame_rate(src_video.avg_frame_rate());
        ost.set_rate(src_video.rate());
        // MXF and DV keep their start timecode in the file's own tags: the
        // video stream takes it (MOV and MP4 write a timecode track from
        // it, Matroska a tag), unless it has its own.
        let mut tags = src_video.metadata().to_owned();
        if tags.get("timecode").is_none() {
            if let Some(tc) = src.metadata().get("timecode") {
                tags.set("timecode", tc);
            }
        }
        ost.set_metadata(tags);
        // SAFETY: the stream is ours and mutable; codecpar is valid.
        // The worker deinterlaced what was interlaced; the aspect is the
        // source's (MOV writes it from the stream, MP4 from the codec).
        // SAFETY: as above.
        unsafe {
            let st = ost.as_mut_ptr();
            (*(*st).codecpar).codec_tag = 0;
            (*(*st).codecpar).field_order = ff::ffi::AVFieldOrder::AV_FIELD_PROGRESSIVE;
            if let Some(sar) = source.video.picture.anamorphic() {
                (*st).sample_aspect_ratio = ff::ffi::AVRational { num: sar.num, den: sar.den };
                (*(*st).codecpar).sample_aspect_ratio = (*st).sample_aspect_ratio;
            }
        }
        copy_display_matrix(&src_video, &mut ost);
        let picture = &source.video.picture;
        crate::hdr::write(picture.mastering, picture.light, &mut ost);
    }
    let mut audio_map = vec![None; src.nb_streams() as usize];
    let copied = source.audio.iter().map(|a| a.stream_index).chain(streams.copied.iter().copied());
    for index in copied {
        let ist = src.stream(index).ok_or_else(|| EngineError::bad_input(src_path, "a stream vanished"))?;
        let mut ost = out
            .add_stream(ff::encoder::find(ff::codec::Id::None))
            .map_err(EngineError::media(src_path, "adding a copied stream to the output"))?;
        ost.set_parameters(ist.parameters());
        ost.set_time_base(ist.time_base());
        ost.set_metadata(ist.metadata().to_owned());
        // SAFETY: as above; the disposition (default, forced, language
        // flags) goes along.
        unsafe {
            (*(*ost.as_mut_ptr()).codecpar).codec_tag = 0;
            (*ost.as_mut_ptr()).disposition = (*ist.as_ptr()).disposition;
        }
        audio_map[index] = Some((ost.index(), ist.time_base()));
    }
    // Chapters, on the output's clock (shifted as every stream is).
    let chapters: Vec<(i64, ff::Rational, i64, i64, String)> = src
        .chapters()
        .map(|c| {
            let shift = ff::Rescale::rescale(&source.start_us(), ff::Rational::new(1, 1_000_000), c.time_base());
            let title = c.metadata().get("title").unwrap_or_default().to_string();
            (c.id(), c.time_base(), (c.start() - shift).max(0), (c.end() - shift).max(0), title)
        })
        .collect();
    for (id, tb, start, end, title) in chapters {
        out.add_chapter(id, tb, start, end.max(start), title).map_err(EngineError::media(dst, "adding a chapter"))?;
    }
    let mut opts = ff::Dictionary::new();
    if matches!(format, "mp4" | "mov") {
        // Index at the front: the output plays while it streams.
        opts.set("movflags", "+faststart");
    }
    if format == "matroska" {
        // Matroska stores presentation times only, so the B-frames'
        // negative decode times are harmless; its muxer would otherwise
        // move the video by the audio's pre-skip (Opus), 7 ms out of sync.
        opts.set("avoid_negative_ts", "disabled");
    }
    out.write_header_with(opts).map_err(EngineError::media(dst, "writing header"))?;
    let out_tbs: Vec<ff::Rational> = out.streams().map(|s| s.time_base()).collect();
    // Matroska's muxer writes a stream's timestamps less its codec delay
    // (Opus pre-skip), which its demuxer had already taken off: add it
    // back, or the audio lands one pre-skip early (7 ms; `ffmpeg -c copy`
    // does the same to WebM files).
    let delays: Vec<i64> = out
        .streams()
        .map(|st| {
            let par = st.parameters();
            // SAFETY: the parameters are valid for the stream's lifetime.
            let (padding, rate) = unsafe { ((*par.as_ptr()).initial_padding, (*par.as_ptr()).sample_rate) };
            if format == "matroska" && padding > 0 && rate > 0 {
                ff::Rescale::rescale(&i64::from(padding), ff::Rational::new(1, rate), st.time_base())
            } else {
                0
            }
        })
        .collect();
    // The source's start, in each output stream's time base.
    let start_us = source.start_us();
    let starts: Vec<i64> =
        out_tbs.iter().map(|tb| ff::Rescale::rescale(&start_us, ff::Rational::new(1, 1_000_000), *tb)).collect();

    let src_tb: ff::Rational = source.video.time_base.into();
    let decode_times = DecodeTimes::of(segments, src_tb, out_tbs[0], starts[0])?;
    let mut video = SegmentPackets { segments, next: 0, current: None, extradata, src_tb, shift: None };
    let mut next_video = video.next_packet()?;
    let mut next_audio = read_audio(&mut src, &audio_map, src_path)?;
    let mut decoded = 0usize;
    loop {
        let take_video = match (&next_video, &next_audio) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some((v, vtb)), Some((a, _, atb))) => seconds(v, *vtb) <= seconds(a, *atb),
        };
        if take_video {
            let (mut packet, tb) = next_video.take().expect("checked above");
            packet.set_stream(0);
            packet.set_position(-1);
            packet.rescale_ts(tb, out_tbs[0]);
            let shift = video.shift_in(out_tbs[0]) + starts[0];
            packet.set_pts(packet.pts().map(|t| t - shift));
            packet.set_dts(Some(decode_times.at(decoded)));
            decoded += 1;
            packet.write_interleaved(&mut out).map_err(EngineError::media(dst, "writing video"))?;
            next_video = video.next_packet()?;
        } else {
            let (mut packet, index, tb) = next_audio.take().expect("checked above");
            packet.set_stream(index);
            packet.set_position(-1);
            packet.rescale_ts(tb, out_tbs[index]);
            packet.set_pts(packet.pts().map(|t| t - starts[index] + delays[index]));
            packet.set_dts(packet.dts().map(|t| t - starts[index] + delays[index]));
            packet.write_interleaved(&mut out).map_err(EngineError::media(src_path, "writing a copied stream"))?;
            next_audio = read_audio(&mut src, &audio_map, src_path)?;
        }
    }
    out.write_trailer().map_err(EngineError::media(dst, "finishing output"))?;
    Ok(())
}

/// Decode timestamps for the joined video, even across the joins. Each
/// segment is encoded apart, and a short one holds back fewer frames for
/// B-frame reordering than the others: its own decode times left a gap
/// at the join, which MP4 counts as a frame lasting several (a 25 fps
/// ProRes master of 25 frames in shards of 12 came out at 23.15 fps
/// average). So the `n`th packet in decode order gets the presentation
/// time `depth` frames before the `n`th in presentation order, `depth`
/// being the deepest reordering of any segment: never after its own
/// presentation time, and evenly spaced as one encode's would be.
struct DecodeTimes {
    /// Every frame's output presentation time, ascending.
    pts: Vec<i64>,
    /// Frames held back by the deepest reordering.
    depth: usize,
}

impl DecodeTimes {
    /// Read the segments' packet times (no decoding), mapped to the
    /// output as the join maps them.
    fn of(segments: &[Segment], src_tb: ff::Rational, out_tb: ff::Rational, start: i64) -> Result<DecodeTimes> {
        let mut pts = Vec::new();
        let mut depth = 0usize;
        for segment in segments {
            let path = &segment.path;
            let mut input = ff::format::input(path).map_err(EngineError::media(path.as_path(), "opening segment"))?;
            let tb = input.stream(0).ok_or_else(|| EngineError::bad_input(path, "segment has no stream"))?.time_base();
            let expected = ff::Rescale::rescale(&segment.first_pts, src_tb, tb);
            let mut own: Vec<i64> = Vec::new();
            for (_, packet) in input.packets() {
                let t = packet.pts().unwrap_or(expected + own.len() as i64);
                own.push(t);
            }
            let shift = own.first().map_or(0, |first| first - expected);
            let mut sorted = own.clone();
            sorted.sort_unstable();
            // How far a packet comes before its place in presentation order.
            for (i, t) in own.iter().enumerate() {
                let rank = sorted.partition_point(|x| x < t);
                depth = depth.max(i.saturating_sub(rank));
            }
            let shift_out = ff::Rescale::rescale(&shift, tb, out_tb);
            pts.extend(sorted.iter().map(|t| ff::Rescale::rescale(t, tb, out_tb) - shift_out - start));
        }
        Ok(DecodeTimes { pts, depth })
    }

    /// The decode time of the `n`th packet (decode order); before the
    /// first frame, whole frame steps back from it.
    fn at(&self, n: usize) -> i64 {
        match n.checked_sub(self.depth) {
            Some(k) if k < self.pts.len() => self.pts[k],
            Some(_) => self.pts.last().copied().unwrap_or(0) + 1,
            None => {
                // The shortest frame's length (a first frame may last two).
                let step = self.pts.windows(2).map(|w| w[1] - w[0]).filter(|d| *d > 0).min().unwrap_or(1);
                self.pts.first().copied().unwrap_or(0) - (self.depth - n) as i64 * step
            }
        }
    }
}

/// Reads the video packets of the segments one after the other.
struct SegmentPackets<'a> {
    segments: &'a [Segment],
    next: usize,
    current: Option<(ff::format::context::Input, ff::Rational)>,
    extradata: Vec<u8>,
    src_tb: ff::Rational,
    /// How far the current segment's timestamps are from the source's, in
    /// the segment's time base; known from its first packet.
    shift: Option<i64>,
}

impl SegmentPackets<'_> {
    /// The current segment's shift, in time base `tb`.
    fn shift_in(&self, tb: ff::Rational) -> i64 {
        let seg_tb = self.current.as_ref().map_or(tb, |c| c.1);
        ff::Rescale::rescale(&self.shift.unwrap_or(0), seg_tb, tb)
    }

    fn next_packet(&mut self) -> Result<Option<(ff::Packet, ff::Rational)>> {
        loop {
            if self.current.is_none() {
                let Some(segment) = self.segments.get(self.next) else { return Ok(None) };
                let path = &segment.path;
                self.next += 1;
                self.shift = None;
                let input = ff::format::input(path).map_err(EngineError::media(path.as_path(), "opening segment"))?;
                let stream = input.stream(0).ok_or_else(|| EngineError::bad_input(path, "segment has no stream"))?;
                if extradata(&stream.parameters()) != self.extradata {
                    return Err(EngineError::Corrupt {
                        path: path.clone(),
                        reason: "segment was encoded with other codec settings than the first".into(),
                    });
                }
                let tb = stream.time_base();
                self.current = Some((input, tb));
            }
            let (input, tb) = self.current.as_mut().expect("set above");
            let mut packet = ff::Packet::empty();
            match packet.read(input) {
                Ok(()) => {
                    if self.shift.is_none() {
                        let expected = ff::Rescale::rescale(&self.segments[self.next - 1].first_pts, self.src_tb, *tb);
                        self.shift = Some(packet.pts().unwrap_or(expected) - expected);
                    }
                    return Ok(Some((packet, *tb)));
                }
                Err(ff::Error::Eof) => self.current = None,
                Err(e) => {
                    let path = &self.segments[self.next - 1].path;
                    return Err(EngineError::media(path.as_path(), "reading segment")(e));
                }
            }
        }
    }
}

type AudioPacket = (ff::Packet, usize, ff::Rational);

/// The next packet of a copied audio stream, with its output index.
fn read_audio(
    src: &mut ff::format::context::Input,
    map: &[Option<(usize, ff::Rational)>],
    path: &Path,
) -> Result<Option<AudioPacket>> {
    if map.iter().all(Option::is_none) {
        return Ok(None);
    }
    loop {
        let mut packet = ff::Packet::empty();
        match packet.read(src) {
            Ok(()) => {
                if let Some(Some((index, tb))) = map.get(packet.stream()) {
                    return Ok(Some((packet, *index, *tb)));
                }
            }
            Err(ff::Error::Eof) => return Ok(None),
            Err(e) => return Err(EngineError::media(path, "reading audio")(e)),
        }
    }
}

/// A packet's decode time in seconds, for interleaving streams.
fn seconds(p: &ff::Packet, tb: ff::Rational) -> f64 {
    p.dts().or(p.pts()).unwrap_or(0) as f64 * f64::from(tb)
}

fn extradata(params: &ff::codec::Parameters) -> Vec<u8> {
    // SAFETY: extradata/extradata_size describe one buffer owned by params.
    unsafe {
        let p = params.as_ptr();
        if (*p).extradata.is_null() || (*p).extradata_size <= 0 {
            Vec::new()
        } else {
            std::slice::from_raw_parts((*p).extradata, (*p).extradata_size as usize).to_vec()
        }
    }
}

/// Keep the source's rotation: players read it from the display matrix.
fn copy_display_matrix(src: &ff::format::stream::Stream, dst: &mut ff::format::stream::StreamMut) {
    for sd in src.side_data() {
        if sd.kind() != ff::codec::packet::side_data::Type::DisplayMatrix {
            continue;
        }
        let data = sd.data();
        // SAFETY: av_stream_new_side_data returns a buffer of data.len() bytes
        // owned by the stream, or null on allocation failure.
        unsafe {
            let buf = ff::ffi::av_stream_new_side_data(
                dst.as_mut_ptr(),
                ff::ffi::AVPacketSideDataType::AV_PKT_DATA_DISPLAYMATRIX,
                data.len(),
            );
            if !buf.is_null() {
                std::ptr::copy_nonoverlapping(data.as_ptr(), buf, data.len());
            }
        }
    }
}
