//! Trimmed, cut and miscounted files, as editors, recorders and muxers
//! leave them: an MP4 and a MOV trimmed with `ffmpeg -ss … -c copy` (an
//! edit list hides the pre-roll from the keyframe before the cut), an
//! MPEG-TS recording that starts in the middle of a GOP, AVIs whose header
//! counts a frame more than they hold. Each comes out as a player shows
//! it: the same frames (FFmpeg's decoded count, not the stored one), the
//! same first picture, audio in sync, audio bytes kept. A Matroska file
//! that starts before zero (its first packets come back untimed) keeps
//! those frames, a frame apart, in sync. A frame whose bytes are damaged
//! is stood in for by the one before, as players show it, and said in one
//! warning line. Chapters, which
//! editors add to such files, are kept too, and the start timecode of MXF
//! and DV files.

#[path = "media_corpus/check.rs"]
mod check;
#[path = "media_corpus/clips.rs"]
mod clips;
mod util;

use std::path::{Path, PathBuf};

use check::*;
use clips::*;
use util::*;

/// Four seconds of H.264 (B-frames, a keyframe a second) and AAC, trimmed
/// by stream copy from 1.3 s for 2 s: the cut falls mid-GOP, so the
/// container keeps the GOP's start and hides it with an edit list.
fn trimmed(dir: &Path, name: &str) -> PathBuf {
    let ext = name.rsplit('.').next().unwrap();
    let source = clip(dir, &format!("source.{ext}"), "128x72", "25", "4", true, "-c:v libx264 -g 25 -bf 2 -c:a aac");
    make(dir, name, &["-ss", "1.3", "-i", source.to_str().unwrap(), "-c", "copy", "-t", "2"])
}

/// Frames stored in the file's video stream (packets), and frames a
/// player shows (decoded, edit list applied).
fn stored_and_shown(path: &Path) -> (u64, u64) {
    let p = ffprobe_json(&["-count_frames", "-count_packets", "-show_streams"], path);
    let v = main_video(&p);
    let n = |k: &str| v[k].as_str().unwrap().parse::<u64>().unwrap();
    (n("nb_read_packets"), n("nb_read_frames"))
}

fn edit_list_is_honoured(name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let input = trimmed(dir.path(), name);
    let (stored, shown) = stored_and_shown(&input);
    assert!(stored > shown + 4, "{name} hides its pre-roll: {stored} stored, {shown} shown");
    let output = faithful(dir.path(), &input, SHARD, &FAITHFUL);
    let (_, out_shown) = stored_and_shown(&output);
    assert_eq!(out_shown, shown, "{name}: frames shown");
    // The first picture is the one the player shows first, not the
    // hidden keyframe's.
    let mad = mean_abs_diff(&frame_rgb(&input, 0), &frame_rgb(&output, 0));
    assert!(mad < 3.0, "{name}: the first frame differs by {mad:.1} levels");
    // The audio a player plays: as long as the input's, in sync with it.
    let audio_secs = |p: &Path| {
        let p = ffprobe_json(&["-show_streams", "-select_streams", "a"], p);
        secs(&p["streams"][0]["duration"]) + secs(&p["streams"][0]["start_time"])
    };
    let (a_in, a_out) = (audio_secs(&input), audio_secs(&output));
    assert!((a_in - a_out).abs() <= 0.03, "{name}: audio ends at {a_out} s, input {a_in} s");
}

#[test]
fn an_mp4_trimmed_by_stream_copy_shows_only_its_edit() {
    edit_list_is_honoured("trimmed.mp4");
}

#[test]
fn a_mov_trimmed_by_stream_copy_shows_only_its_edit() {
    edit_list_is_honoured("trimmed.mov");
}

/// A TS recording that begins mid-GOP: the bytes from a packet boundary
/// in the middle of the first GOP. FFmpeg decodes from the first
/// keyframe; the job starts there too and says so.
#[test]
fn a_transport_stream_recorded_mid_gop_starts_at_its_first_keyframe() {
    let dir = tempfile::tempdir().unwrap();
    let whole = clip(dir.path(), "whole.ts", "128x72", "25", "3", true, &format!("{X264} -pix_fmt yuv420p -c:a aac"));
    let bytes = std::fs::read(&whole).unwrap();
    // 188-byte packets; start a third of the way into the first second.
    let from = (bytes.len() / 9 / 188) * 188;
    let input = dir.path().join("recording.ts");
    std::fs::write(&input, &bytes[from..]).unwrap();
    let (_, shown) = stored_and_shown(&input);
    let (output, report) = stylize_ok(&input, &dir.path().join("out"), SHARD);
    let (_, out_shown) = stored_and_shown(&output);
    assert_eq!(out_shown, shown, "the frames FFmpeg decodes");
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("mid-GOP") && warnings.contains("first keyframe"), "{report}");
}

/// FFmpeg's AVI muxer writes one frame more in the header than it stores
/// for MJPEG and FFV1: a hint, not a sign of a truncated file.
#[test]
fn avis_whose_header_counts_one_frame_more_are_not_truncated() {
    for (name, codec) in [("mjpeg.avi", "-c:v mjpeg -q:v 3"), ("ffv1.avi", "-c:v ffv1")] {
        let dir = tempfile::tempdir().unwrap();
        let input = clip(dir.path(), name, "128x72", "25", "1.2", true, &format!("{codec} -c:a libmp3lame"));
        let p = ffprobe_json(&["-count_packets", "-show_streams"], &input);
        let v = main_video(&p);
        assert_ne!(v["nb_frames"], v["nb_read_packets"], "{name}: the header's count is off: {v}");
        // Its first frame lasts two (the frame the header counts more), so
        // the frames' own times are what must match, not an average rate.
        let (output, _) = stylize_ok(&input, &dir.path().join("out"), SHARD);
        assert_eq!(frame_times(&output), frame_times(&input), "{name}: frame times");
    }
}

/// H.264 with B-frames in AVI: AVI has no presentation times, so the
/// demuxer's guesses follow decode order; the frames are taken in the
/// order the decoder shows them, as players do (it failed mid-job).
#[test]
fn h264_with_b_frames_in_avi_comes_out_in_display_order() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path(), "camera.avi", "128x72", "25", "2", true, &format!("{X264} -c:a libmp3lame"));
    let p = ffprobe_json(&["-show_streams"], &input);
    assert_eq!(
        (main_video(&p)["codec_name"].as_str(), main_video(&p)["has_b_frames"].as_i64()),
        (Some("h264"), Some(2))
    );
    let output = faithful(dir.path(), &input, SHARD, &FAITHFUL);
    // Every shard's frames in order: the middle of a later shard too.
    let mad = mean_abs_diff(&frame_rgb(&input, 30), &frame_rgb(&output, 30));
    assert!(mad < 3.0, "frame 30 differs by {mad:.1} levels");
}

/// Chapters (titles and times) come through in MP4, MOV and Matroska.
#[test]
fn chapters_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let meta = dir.path().join("chapters.txt");
    std::fs::write(
        &meta,
        ";FFMETADATA1\n[CHAPTER]\nTIMEBASE=1/1000\nSTART=0\nEND=600\ntitle=Opening\n\
         [CHAPTER]\nTIMEBASE=1/1000\nSTART=600\nEND=1200\ntitle=Second part\n",
    )
    .unwrap();
    let chapters = |p: &Path| -> Vec<(String, String, String)> {
        let p = ffprobe_json(&["-show_chapters"], p);
        let list = p["chapters"].as_array().unwrap();
        list.iter()
            .map(|c| {
                let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
                (s("start_time"), s("end_time"), c["tags"]["title"].as_str().unwrap_or_default().to_string())
            })
            .collect()
    };
    for ext in ["mp4", "mov", "mkv"] {
        let (v, a) = (pic("128x72", "25", "1.2"), tone("1.2", 440));
        let m = meta.to_string_lossy().into_owned();
        let mut args = vec!["-f", "lavfi", "-i", v.as_str(), "-f", "lavfi", "-i", a.as_str(), "-i", m.as_str()];
        args.extend(words("-map 0 -map 1 -map_chapters 2 -c:v libx264 -preset ultrafast -g 12 -c:a aac"));
        let input = make(dir.path(), &format!("edited.{ext}"), &args);
        let want = chapters(&input);
        assert_eq!(want.len(), 2, "{ext}: the input has its chapters");
        let output = faithful(&dir.path().join(ext), &input, SHARD, &FAITHFUL);
        assert_eq!(chapters(&output), want, "{ext}");
    }
}

/// The start timecode of an MXF (XDCAM-style MPEG-2) and a DV file, which
/// both keep it in the file's own tags, is the output's: on its video
/// stream, and as a timecode track in MOV.
#[test]
fn mxf_and_dv_start_timecode_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let timecode = |p: &Path, entries: &str| -> Vec<String> {
        let p = ffprobe_json(&["-show_entries", entries], p);
        let tags = |v: &serde_json::Value| v["tags"]["timecode"].as_str().map(str::to_string);
        let streams = p["streams"].as_array().cloned().unwrap_or_default();
        tags(&p["format"]).into_iter().chain(streams.iter().filter_map(tags)).collect()
    };
    for (name, size, args) in [
        ("master.mxf", "720x576", "-c:v mpeg2video -pix_fmt yuv422p -c:a pcm_s16le"),
        ("tape.dv", "720x576", "-c:v dvvideo -pix_fmt yuv420p -c:a pcm_s16le -ac 2 -ar 48000"),
    ] {
        let input = clip(dir.path(), name, size, "25", "1", true, &format!("{args} -timecode 10:00:00:00"));
        assert_eq!(timecode(&input, "format_tags=timecode"), ["10:00:00:00"], "{name}: the file's own tag");
        let output = dir.path().join(format!("{name}.mov"));
        let out = pass_through(&input, &output, SHARD, false);
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let p = ffprobe_json(&["-show_streams"], &output);
        assert_eq!(main_video(&p)["tags"]["timecode"], "10:00:00:00", "{name}: the video stream's");
        let tmcd = streams_of(&p, "data").iter().any(|s| s["codec_tag_string"] == "tmcd");
        assert!(tmcd, "{name}: a timecode track in the MOV: {p}");
    }
}

#[test]
fn a_matroska_starting_before_zero_keeps_its_untimed_frames_in_sync() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(
        dir.path(),
        "early.mkv",
        "128x72",
        "25",
        "2",
        true,
        "-c:v libx264 -g 12 -c:a aac -output_ts_offset -0.5 -avoid_negative_ts disabled",
    );
    // The case: Matroska stores no time before zero, so FFmpeg reads the
    // first packets untimed (the video's first half second), yet decodes
    // and shows all 50 frames; the audio starts at -0.523 s.
    let packets = ffprobe_json(&["-select_streams", "v:0", "-show_entries", "packet=pts"], &input);
    let untimed = packets["packets"].as_array().unwrap().iter().filter(|p| p["pts"].is_null()).count();
    assert!(untimed >= 12, "{untimed} untimed packets");
    claim(&probe(&input), &[("nb_read_frames", "50")]);
    let (output, _) = stylize_ok(&input, &dir.path().join("out"), SHARD);
    let po = probe(&output);
    claim(&po, &[("nb_read_frames", "50")]);
    // A frame every 40 ms from the first, which shows 23 ms after the audio
    // starts, as in the source (-0.500 against -0.523).
    let times = frame_times(&output);
    assert!(times.windows(2).all(|w| (w[1] - w[0] - 0.04).abs() < 0.002), "{times:?}");
    let audio_start = secs(&audio_streams(&po)[0]["start_time"]);
    assert!((times[0] - audio_start - 0.023).abs() < 0.002, "video {} audio {audio_start}", times[0]);
    assert_eq!(audio_md5(&output, 0), audio_md5(&input, 0), "the audio's bytes");
    // The same pictures, in the same order, the untimed ones included.
    for n in [0u32, 6, 12, 13, 30, 49] {
        let d = mean_abs_diff(&frame_rgb(&input, n), &frame_rgb(&output, n));
        assert!(d < FAITHFUL.max_mad, "frame {n}: {d:.1} levels from the source's");
    }
}

#[test]
fn a_damaged_frame_is_stood_in_for_and_said() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path(), "damaged.mp4", "160x120", "25", "2", true, "-c:v libx264 -g 25 -bf 0 -c:a aac");
    // Frame 37's bytes (past its first NAL's length and header) overwritten,
    // as a bad sector or a torn download leaves them.
    let p = ffprobe_json(&["-select_streams", "v:0", "-show_entries", "packet=pos,size"], &input);
    let packet = &p["packets"][37];
    let num = |k: &str| packet[k].as_str().unwrap().parse::<usize>().unwrap();
    let (pos, size) = (num("pos"), num("size"));
    let mut bytes = std::fs::read(&input).unwrap();
    bytes[pos + 6..pos + size].iter_mut().enumerate().for_each(|(i, b)| *b = (i * 151 % 256) as u8);
    std::fs::write(&input, bytes).unwrap();
    // FFmpeg decodes the rest (and says the frame is damaged).
    let ffmpeg =
        std::process::Command::new("ffmpeg").args(["-v", "error", "-i"]).arg(&input).args(["-f", "null", "-"]).output();
    let ffmpeg = ffmpeg.unwrap();
    assert!(!ffmpeg.stderr.is_empty(), "the damage shows");
    let (lines, warnings, output) = warned(dir.path(), &input);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("damaged.mp4") && lines[0].contains("did not decode"), "{lines:?}");
    assert!(warnings.contains("did not decode"), "{warnings}");
    let po = probe(&output);
    claim(&po, &[("nb_read_frames", "50")]);
    let times = frame_times(&output);
    assert!(times.windows(2).all(|w| (w[1] - w[0] - 0.04).abs() < 0.002), "{times:?}");
    assert_eq!(audio_md5(&output, 0), audio_md5(&input, 0), "the audio's bytes");
}
