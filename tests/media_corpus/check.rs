#![allow(dead_code)]
//! Running a clip through `stylize submit` with the pass-through model, and
//! the checks of its output: faithful, refused, or a stream dropped with a
//! warning.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use crate::util::*;

pub const SHARD: &str = "12";

/// What a faithful output may differ by.
pub struct Expect {
    /// Largest mean absolute difference of frame 0 as RGB24, in levels (and
    /// the largest shift of a channel on the last frame).
    pub max_mad: f64,
}

pub const FAITHFUL: Expect = Expect { max_mad: 3.0 };
/// A deinterlaced frame is not the woven input frame, but it is the same picture.
pub const DEINTERLACED: Expect = Expect { max_mad: 30.0 };

pub fn identity_model() -> String {
    let m = model_dir().join("test/identity.pt");
    assert!(m.is_file(), "{} is missing: run scripts/setup.sh", m.display());
    m.to_string_lossy().into_owned()
}

/// `stylize submit INPUT -o STORE` with the pass-through model.
pub fn pass_through(input: &Path, store: &Path, shard: &str, json: bool) -> Output {
    let model = identity_model();
    let mut args = vec!["--model", model.as_str(), "--deflicker", "off", "--shard-frames", shard, "--crf", "12"];
    if json {
        args.push("--json");
    }
    submit(input, store, &args)
}

/// Run it with `--json`, insist on success and one output: the output and the report.
pub fn stylize_ok(input: &Path, store: &Path, shard: &str) -> (PathBuf, Value) {
    let out = pass_through(input, store, shard, true);
    assert!(out.status.success(), "{}: {}", input.display(), String::from_utf8_lossy(&out.stderr));
    let outputs = outputs_in(store);
    assert_eq!(outputs.len(), 1, "one output expected in {}: {outputs:?}", store.display());
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("job report: {e}: {}", String::from_utf8_lossy(&out.stdout)));
    (outputs[0].clone(), report)
}

/// Run INPUT through the pass-through model and check the output is
/// faithful to it; a clip longer than two shards must have been cut.
pub fn faithful(dir: &Path, input: &Path, shard: &str, expect: &Expect) -> PathBuf {
    let (output, report) = stylize_ok(input, &dir.join("out"), shard);
    let pi = check_faithful(input, &output, expect);
    let frames: u64 = main_video(&pi)["nb_read_frames"].as_str().unwrap().parse().unwrap();
    if frames > 2 * shard.parse::<u64>().unwrap() {
        let shards = report["timings"].as_array().map_or(0, Vec::len);
        assert!(shards >= 2, "{frames} frames in shards of {shard}: {shards} shards in {report}");
    }
    output
}

/// The chroma layout of a YUV pix_fmt (`yuvj420p` and `p010le` are 4:2:0),
/// `None` for others (RGB, gray, packed).
pub fn chroma(pix_fmt: &str) -> Option<&'static str> {
    ["444", "422", "420", "411", "440"]
        .into_iter()
        .find(|l| pix_fmt.contains(l))
        .or_else(|| matches!(pix_fmt, "nv12" | "nv21" | "p010le" | "p010be" | "p016le").then_some("420"))
}

/// Bits per sample of a pix_fmt: the number after its last `p`
/// (`yuv420p10le`: 10, `p010le`: 10), 8 when there is none (`yuvj420p`).
pub fn bit_depth(pix_fmt: &str) -> u32 {
    let tail = pix_fmt.rsplit_once('p').map_or("", |(_, t)| t);
    let digits: String = tail.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or(8)
}

/// Audio that MP4 cannot carry as itself: PCM, and MP2 (an MP4 reads it
/// back as MP3, so its codec would change).
pub fn mp4_cannot_hold(p: &Value) -> bool {
    streams_of(p, "audio").iter().any(|a| {
        let codec = a["codec_name"].as_str().unwrap_or_default();
        codec.starts_with("pcm_") || codec == "mp2" || codec.starts_with("wma")
    })
}

/// The container rule: the source's own kind for MP4, MOV and Matroska;
/// otherwise MP4, or, where MP4 cannot hold the audio, MOV or MKV; MKV for
/// FLAC and TrueHD whatever the source.
pub fn containers_for(input: &Path, pi: &Value) -> &'static [&'static str] {
    // FLAC and TrueHD: MP4's muxer calls them experimental, MOV's refuses.
    let lossless = streams_of(pi, "audio").iter().any(|a| matches!(a["codec_name"].as_str(), Some("flac" | "truehd")));
    match input.extension().and_then(|e| e.to_str()).unwrap_or_default() {
        _ if lossless => &["mkv"],
        "mp4" => &["mp4"],
        "mov" => &["mov"],
        "mkv" | "webm" => &["mkv"],
        _ if mp4_cannot_hold(pi) => &["mov", "mkv"],
        _ => &["mp4"],
    }
}

/// Items 1-7 of the corpus's promise; returns the input's probe.
pub fn check_faithful(input: &Path, output: &Path, expect: &Expect) -> Value {
    let (pi, po) = (probe(input), probe(output));
    let name = input.file_name().unwrap().to_string_lossy().into_owned();

    let ext = output.extension().and_then(|e| e.to_str()).unwrap_or_default();
    let allowed = containers_for(input, &pi);
    assert!(allowed.contains(&ext), "{name}: output {} is not one of {allowed:?}", output.display());
    let format = po["format"]["format_name"].as_str().unwrap();
    let kind = if ext == "mkv" { "matroska" } else { "mp4" };
    assert!(format.contains(kind), "{name}: a .{ext} output holds {format}");

    let (vi, vo) = (main_video(&pi), main_video(&po));
    assert_eq!(streams_of(&po, "video").len(), 1, "{name}: one video stream out");
    assert_eq!(vo["nb_read_frames"], vi["nb_read_frames"], "{name}: frame count");
    assert_eq!(vo["avg_frame_rate"], vi["avg_frame_rate"], "{name}: frame rate");
    assert_eq!((&vo["width"], &vo["height"]), (&vi["width"], &vi["height"]), "{name}: size");
    if let Some(sar) = vi["sample_aspect_ratio"].as_str().filter(|s| !matches!(*s, "1:1" | "0:1")) {
        assert_eq!(vo["sample_aspect_ratio"], sar, "{name}: sample aspect ratio");
    }

    let frame = 1.0 / rate_f64(vi["avg_frame_rate"].as_str().unwrap());
    // The decoded frames say when the video starts and how long it lasts:
    // a container may only estimate the duration (MPEG-PS), and a stream's
    // start_time may be its first packet's, not its first frame's (AVI
    // with B-frames).
    let ((v0_in, end_in), (v0_out, end_out)) = (decoded_span(input), decoded_span(output));
    let di = end_in - v0_in;
    for (what, dout) in [("decoded", end_out - v0_out), ("as the container says", video_duration(&po))] {
        assert!((di - dout).abs() < frame, "{name}: video lasts {dout} s {what}, input {di} s");
    }
    let start = secs(&po["format"]["start_time"]);
    assert!(start.abs() < frame, "{name}: output starts at {start} s, not 0");

    let (ai, ao) = (streams_of(&pi, "audio"), streams_of(&po, "audio"));
    assert_eq!(ao.len(), ai.len(), "{name}: audio stream count");
    for k in 0..ai.len() {
        assert_eq!(ao[k]["codec_name"], ai[k]["codec_name"], "{name}: audio {k} codec");
        let codec = ai[k]["codec_name"].as_str().unwrap();
        assert_eq!(audio_payload_md5(output, k, codec), audio_payload_md5(input, k, codec), "{name}: audio {k} bytes");
        let skew_in = secs(&ai[k]["start_time"]) - v0_in;
        let skew_out = secs(&ao[k]["start_time"]) - v0_out;
        assert!((skew_in - skew_out).abs() <= 0.002, "{name}: audio {k} - video start {skew_out} s, input {skew_in} s");
    }

    let (si, so) = (streams_of(&pi, "subtitle"), streams_of(&po, "subtitle"));
    assert_eq!(so.len(), si.len(), "{name}: subtitle stream count");
    for k in 0..si.len() {
        assert_eq!(so[k]["codec_name"], si[k]["codec_name"], "{name}: subtitle {k} codec");
        assert_eq!(stream_md5(output, "s", k), stream_md5(input, "s", k), "{name}: subtitle {k} bytes");
    }

    for key in ["color_space", "color_primaries", "color_transfer", "color_range"] {
        if let Some(want) = vi[key].as_str().filter(|v| !matches!(*v, "unknown" | "unspecified" | "reserved")) {
            assert_eq!(vo[key], want, "{name}: {key}");
        }
    }
    let (pfi, pfo) = (vi["pix_fmt"].as_str().unwrap(), vo["pix_fmt"].as_str().unwrap());
    if bit_depth(pfi) > 8 {
        assert!(bit_depth(pfo) >= 10, "{name}: {pfi} in, {pfo} out");
    }
    // The chroma layout is kept (an odd size is coded 4:4:4 to stay exact).
    let odd = vi["width"].as_u64().unwrap() % 2 == 1 || vi["height"].as_u64().unwrap() % 2 == 1;
    if let (Some(a), Some(b)) = (chroma(pfi), chroma(pfo)) {
        assert_eq!(b, if odd { "444" } else { a }, "{name}: {pfi} in, {pfo} out");
    }
    if matches!(vi["field_order"].as_str(), Some("tt" | "bb" | "tb" | "bt")) {
        assert_eq!(vo["field_order"], "progressive", "{name}: interlaced in, progressive out");
    }

    let mad = mean_abs_diff(&frame_rgb(input, 0), &frame_rgb(output, 0));
    assert!(mad <= expect.max_mad, "{name}: frame 0 differs by {mad:.2} levels on average");
    // The colour of a later shard too (the last frame): no channel shifted
    // (the mean signed difference; the re-encode's noise on a P-frame of a
    // tiny picture reaches 5 levels on average, but averages out).
    let last: u32 = vi["nb_read_frames"].as_str().and_then(|n| n.parse().ok()).unwrap_or(1).max(1) - 1;
    let (a, b) = (frame_rgb(input, last), frame_rgb(output, last));
    assert_eq!(a.len(), b.len(), "{name}: frame {last} size");
    for (c, channel) in ["R", "G", "B"].iter().enumerate() {
        let shift: f64 = a.iter().zip(&b).skip(c).step_by(3).map(|(x, y)| f64::from(*y) - f64::from(*x)).sum::<f64>()
            / (a.len() / 3) as f64;
        assert!(shift.abs() <= expect.max_mad, "{name}: frame {last}: {channel} shifted by {shift:.2} levels");
    }
    pi
}

/// Exit status 1, one line `stylize: error: ` naming the input and saying
/// `needle`, and nothing at the top of the store.
pub fn check_refused(input: &Path, store: &Path, out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{}: {stderr}", input.display());
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "exactly one line: {stderr}");
    assert!(lines[0].starts_with("stylize: error:"), "{stderr}");
    assert!(lines[0].contains(&*input.to_string_lossy()), "names {}: {stderr}", input.display());
    assert!(lines[0].contains(needle), "says {needle}: {stderr}");
    assert!(outputs_in(store).is_empty(), "no output left in {}", store.display());
}

/// The stream at `index` is dropped with a warning on stderr and in the
/// report (naming it by its index and codec), and the output is otherwise
/// faithful.
pub fn check_drops_with_warning(dir: &Path, input: &Path, index: usize) {
    let codec = probe(input)["streams"][index]["codec_name"].as_str().unwrap().to_string();
    let names = |text: &str| {
        text.split(|c: char| !c.is_ascii_alphanumeric()).any(|t| t == index.to_string()) && text.contains(&codec)
    };
    let store = dir.join("plain");
    let out = pass_through(input, &store, SHARD, false);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(outputs_in(&store).len(), 1);
    // One `stylize: warning: <input>: …` line, not a log line.
    let warned: Vec<&str> = stderr.lines().filter(|l| l.contains("not kept") && names(l)).collect();
    assert_eq!(warned.len(), 1, "one warning that stream {index} is not kept: {stderr}");
    let file = input.display().to_string();
    assert!(warned[0].starts_with(&format!("stylize: warning: {file}: ")), "{stderr}");
    let (output, report) = stylize_ok(input, &dir.join("json"), SHARD);
    let warnings = report["warnings"].as_array().unwrap_or_else(|| panic!("a warnings array: {report}"));
    let about = warnings.iter().filter(|w| names(&w.to_string())).count();
    assert_eq!(about, 1, "one warning about stream {index}: {warnings:?}");
    check_faithful(input, &output, &FAITHFUL);
}

/// Run the pass-through model on `input` into a store: stderr's warning
/// lines, the report's warnings, the output.
pub fn warned(dir: &Path, input: &Path) -> (Vec<String>, String, PathBuf) {
    // A folder store that is there: no word about making one.
    let store = dir.join("out");
    std::fs::create_dir_all(&store).unwrap();
    let out = pass_through(input, &store, SHARD, true);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{}: {err}", input.display());
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let lines = err.lines().filter(|l| l.starts_with("stylize: warning: ")).map(str::to_string).collect();
    let outputs = outputs_in(&store);
    assert_eq!(outputs.len(), 1, "{outputs:?}");
    (lines, report["warnings"].to_string(), outputs[0].clone())
}
