//! Helpers of the end-to-end tests: make tiny clips with FFmpeg's lavfi
//! sources, run the built `stylize`, and read facts back with ffprobe.
//! Tools are called with argument vectors, never through a shell.
#![allow(dead_code)]

// The one Azurite harness, shared with the engine's tests.
#[path = "../../azure/tests/azurite_support/mod.rs"]
pub mod azurite;
pub mod events;
pub mod nodes;
pub mod pool;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// What a generated test clip looks like.
#[derive(Debug, Clone)]
pub struct ClipSpec {
    pub width: u32,
    pub height: u32,
    /// Frame rate as FFmpeg takes it: `25`, `30000/1001`, `60`.
    pub rate: &'static str,
    pub frames: u32,
    /// Keyframe interval.
    pub gop: u32,
    /// Number of audio streams (sines of different pitch).
    pub audio: u32,
    /// Display rotation in degrees, written as stream metadata.
    pub rotate: Option<i32>,
    /// Use B-frames (x264 default) or not.
    pub bframes: bool,
}

impl Default for ClipSpec {
    fn default() -> Self {
        ClipSpec { width: 128, height: 72, rate: "25", frames: 50, gop: 12, audio: 1, rotate: None, bframes: true }
    }
}

pub fn rate_f64(rate: &str) -> f64 {
    match rate.split_once('/') {
        Some((n, d)) => n.parse::<f64>().unwrap() / d.parse::<f64>().unwrap(),
        None => rate.parse().unwrap(),
    }
}

/// Make a clip at `dir/name` with ffmpeg (testsrc2 video, sine audio).
pub fn make_clip(dir: &Path, name: &str, spec: &ClipSpec) -> PathBuf {
    let path = dir.join(name);
    let secs = f64::from(spec.frames) / rate_f64(spec.rate);
    let mut args: Vec<String> = vec!["-v".into(), "error".into(), "-y".into(), "-f".into(), "lavfi".into()];
    args.push("-i".into());
    args.push(format!("testsrc2=s={}x{}:r={}", spec.width, spec.height, spec.rate));
    for k in 0..spec.audio {
        args.extend([
            "-f".into(),
            "lavfi".into(),
            "-i".into(),
            format!("sine=f={}:r=48000:d={secs:.4}", 330 + 110 * k),
        ]);
    }
    args.extend(["-map".into(), "0:v".into()]);
    for k in 0..spec.audio {
        args.extend(["-map".into(), format!("{}:a", k + 1)]);
    }
    args.extend(["-frames:v".into(), spec.frames.to_string()]);
    args.extend([
        "-c:v".into(),
        "libx264".into(),
        "-preset".into(),
        "ultrafast".into(),
        "-pix_fmt".into(),
        "yuv420p".into(),
    ]);
    args.extend([
        "-g".into(),
        spec.gop.to_string(),
        "-keyint_min".into(),
        spec.gop.to_string(),
        "-sc_threshold".into(),
        "0".into(),
    ]);
    if spec.bframes {
        args.extend(["-bf".into(), "2".into()]);
    }
    if spec.audio > 0 {
        args.extend(["-c:a".into(), "aac".into(), "-b:a".into(), "64k".into()]);
    }
    let encoded = if spec.rotate.is_some() { dir.join(format!("unrotated-{name}")) } else { path.clone() };
    args.push(encoded.to_string_lossy().into_owned());
    run_ok("ffmpeg", &args);
    if let Some(r) = spec.rotate {
        // FFmpeg 5.1 writes a display matrix from `rotate` only on a remux.
        let remux: Vec<String> = vec![
            "-v".into(),
            "error".into(),
            "-y".into(),
            "-i".into(),
            encoded.to_string_lossy().into_owned(),
            "-c".into(),
            "copy".into(),
            "-map".into(),
            "0".into(),
            "-metadata:s:v:0".into(),
            format!("rotate={r}"),
            path.to_string_lossy().into_owned(),
        ];
        run_ok("ffmpeg", &remux);
    }
    path
}

pub fn run_ok(program: &str, args: &[String]) -> Output {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(out.status.success(), "{program} {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

/// The built `stylize` binary.
pub fn stylize() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stylize"));
    // Two CPU threads for the model keep tests steady on small machines.
    // No progress lines: tests read stderr for the one error line (the
    // progress modes have tests of their own).
    cmd.env("STYLIZE_THREADS", "2").env("STYLIZE_PROGRESS", "off").env_remove("RUST_LOG");
    cmd
}

/// Run `stylize submit INPUT -o STORE EXTRA...` and return its output.
pub fn submit(input: &Path, store: &Path, extra: &[&str]) -> Output {
    let mut cmd = stylize();
    cmd.arg("submit").arg(input).arg("-o").arg(store).args(extra);
    cmd.output().expect("stylize runs")
}

/// Run submit, insist on success, and return the output file.
pub fn submit_ok(input: &Path, store: &Path, extra: &[&str]) -> PathBuf {
    let out = submit(input, store, extra);
    assert!(out.status.success(), "stylize failed: {}", String::from_utf8_lossy(&out.stderr));
    let outputs = outputs_in(store);
    assert_eq!(outputs.len(), 1, "one output expected in {}: {outputs:?}", store.display());
    outputs.into_iter().next().unwrap()
}

/// Video files at the top of a store (job state under `jobs/` excluded).
pub fn outputs_in(store: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(store) else { return Vec::new() };
    let mut v: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    v.sort();
    v
}

/// ffprobe's JSON about a file, frames counted by decoding.
pub fn probe(path: &Path) -> serde_json::Value {
    let args: Vec<String> = ["-v", "error", "-count_frames", "-show_streams", "-show_format", "-of", "json"]
        .iter()
        .map(|s| s.to_string())
        // `file:`, so that a name with a colon is not read as a protocol.
        .chain([format!("file:{}", path.to_string_lossy())])
        .collect();
    let out = run_ok("ffprobe", &args);
    serde_json::from_slice(&out.stdout).unwrap()
}

pub fn video_stream(p: &serde_json::Value) -> &serde_json::Value {
    p["streams"].as_array().unwrap().iter().find(|s| s["codec_type"] == "video").unwrap()
}

pub fn audio_streams(p: &serde_json::Value) -> Vec<&serde_json::Value> {
    p["streams"].as_array().unwrap().iter().filter(|s| s["codec_type"] == "audio").collect()
}

pub fn duration(p: &serde_json::Value) -> f64 {
    p["format"]["duration"].as_str().unwrap().parse().unwrap()
}

/// MD5 of the packets of audio stream `k`, stream-copied (never decoded).
pub fn audio_md5(path: &Path, k: usize) -> String {
    packets_md5(path, &format!("0:a:{k}"), &[])
}

/// Frame `n` of a video as packed RGB24, decoded by the ffmpeg CLI.
pub fn frame_rgb(path: &Path, n: u32) -> Vec<u8> {
    let args: Vec<String> = vec![
        "-v".into(),
        "error".into(),
        "-i".into(),
        path.to_string_lossy().into_owned(),
        "-vf".into(),
        format!("select=eq(n\\,{n})"),
        "-frames:v".into(),
        "1".into(),
        "-f".into(),
        "rawvideo".into(),
        "-pix_fmt".into(),
        "rgb24".into(),
        "-".into(),
    ];
    run_ok("ffmpeg", &args).stdout
}

/// An RGB24 image after a trip through YUV 4:2:0 and back (by the ffmpeg
/// CLI): what any H.264 output can hold of it at best.
pub fn through_yuv420(rgb: &[u8], width: u32, height: u32) -> Vec<u8> {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", &format!("{width}x{height}"), "-i", "-"])
        .args(["-vf", "format=yuv420p,format=rgb24", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = rgb.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success());
    out.stdout
}

/// Peak signal-to-noise ratio of two same-sized 8-bit images, in dB.
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "images differ in size");
    let mse: f64 = a.iter().zip(b).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum::<f64>() / a.len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}

/// The directory of converted models (as scripts/setup.sh fills it).
pub fn model_dir() -> PathBuf {
    stylize_models::model_dir()
}

/// A short fingerprint of a file's bytes, for equality checks that print
/// something readable when they fail.
pub fn digest(path: &Path) -> String {
    let out = run_ok("sha256sum", &[path.to_string_lossy().into_owned()]);
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_string()
}

/// MD5 of the packets of stream `kind:k` (`"v"`, `"a"`, `"s"`), stream-copied
/// (never decoded): the bytes of all its packets, in order.
pub fn stream_md5(path: &Path, kind: &str, k: usize) -> String {
    packets_md5(path, &format!("0:{kind}:{k}"), &[])
}

/// Like `audio_md5`, but AAC is hashed as its raw frames: MPEG-TS carries
/// AAC with an ADTS header on every frame, MP4 and Matroska without, and
/// `aac_adtstoasc` strips the headers (and leaves raw AAC as it is).
pub fn audio_payload_md5(path: &Path, k: usize, codec: &str) -> String {
    if codec != "aac" {
        return audio_md5(path, k);
    }
    packets_md5(path, &format!("0:a:{k}"), &["-bsf:a", "aac_adtstoasc"])
}

/// MD5 of the packets of the streams `map` selects, stream-copied through
/// the extra `filters` (bitstream filters only: never decoded).
fn packets_md5(path: &Path, map: &str, filters: &[&str]) -> String {
    let mut args: Vec<String> = vec!["-v".into(), "error".into(), "-i".into(), path.to_string_lossy().into_owned()];
    args.extend(["-map".into(), map.to_string(), "-c".into(), "copy".into()]);
    args.extend(filters.iter().map(|f| f.to_string()));
    args.extend(["-f".into(), "md5".into(), "-".into()]);
    String::from_utf8(run_ok("ffmpeg", &args).stdout).unwrap().trim().to_string()
}

/// Mean absolute difference of two same-sized 8-bit images, in levels.
pub fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len(), "images differ in size");
    assert!(!a.is_empty(), "empty images");
    a.iter().zip(b).map(|(x, y)| f64::from(x.abs_diff(*y))).sum::<f64>() / a.len() as f64
}

/// `ffprobe -v error -of json ARGS... PATH`, parsed.
pub fn ffprobe_json(args: &[&str], path: &Path) -> serde_json::Value {
    let mut v: Vec<String> = ["-v", "error", "-of", "json"].iter().map(|s| s.to_string()).collect();
    v.extend(args.iter().map(|s| s.to_string()));
    v.push(path.to_string_lossy().into_owned());
    serde_json::from_slice(&run_ok("ffprobe", &v).stdout).unwrap()
}

/// A time as ffprobe prints it (`"1.480000"`), in seconds.
pub fn secs(v: &serde_json::Value) -> f64 {
    v.as_str().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("not a time: {v}"))
}

/// The streams of one `codec_type` (`"video"`, `"audio"`, `"subtitle"`).
pub fn streams_of<'a>(p: &'a serde_json::Value, kind: &str) -> Vec<&'a serde_json::Value> {
    p["streams"].as_array().unwrap().iter().filter(|s| s["codec_type"] == kind).collect()
}

/// The first video stream that is a picture sequence, not cover art.
pub fn main_video(p: &serde_json::Value) -> &serde_json::Value {
    streams_of(p, "video")
        .into_iter()
        .find(|s| s["disposition"]["attached_pic"] != 1)
        .expect("a video stream that is not cover art")
}

/// How long the main video stream lasts: its duration where the container
/// gives one, else Matroska's `DURATION` tag (an end time) less its start.
pub fn video_duration(p: &serde_json::Value) -> f64 {
    let v = main_video(p);
    if let Some(d) = v["duration"].as_str().and_then(|s| s.parse::<f64>().ok()) {
        return d;
    }
    if let Some(t) = v["tags"]["DURATION"].as_str() {
        let end = t.split(':').fold(0.0, |acc, part| acc * 60.0 + part.parse::<f64>().unwrap());
        return end - secs(&v["start_time"]);
    }
    secs(&p["format"]["duration"])
}

/// Presentation time and duration of each frame of the first video stream,
/// decoded. A frame the demuxer gives no time (the last one of an MPEG-PS,
/// say) is placed right after the one before it.
pub fn frame_timeline(path: &Path) -> Vec<(f64, f64)> {
    let entries = "frame=pts_time,best_effort_timestamp_time,pkt_duration_time,duration_time";
    let p = ffprobe_json(&["-select_streams", "v:0", "-show_entries", entries], path);
    let time = |f: &serde_json::Value, keys: &[&str]| {
        keys.iter().find_map(|k| f[*k].as_str().and_then(|s| s.parse::<f64>().ok()))
    };
    let mut out: Vec<(f64, f64)> = Vec::new();
    for f in p["frames"].as_array().unwrap() {
        let step = match out.as_slice() {
            [.., a, b] => b.0 - a.0,
            _ => 0.0,
        };
        let dur = time(f, &["duration_time", "pkt_duration_time"]).unwrap_or(step);
        let pts = time(f, &["pts_time", "best_effort_timestamp_time"]).unwrap_or_else(|| match out.last() {
            Some(&(t, d)) => t + d,
            None => panic!("{}: the first frame has no time", path.display()),
        });
        out.push((pts, dur));
    }
    out
}

/// Presentation times of the frames of the first video stream, decoded.
pub fn frame_times(path: &Path) -> Vec<f64> {
    frame_timeline(path).into_iter().map(|(t, _)| t).collect()
}

/// When the decoded frames of the first video stream start, and when the
/// last one ends.
pub fn decoded_span(path: &Path) -> (f64, f64) {
    let frames = frame_timeline(path);
    let start = frames.iter().map(|f| f.0).fold(f64::INFINITY, f64::min);
    let end = frames.iter().map(|f| f.0 + f.1).fold(f64::NEG_INFINITY, f64::max);
    (start, end)
}

/// The one output key in `keys` named `<stem>.<label>.<tag>.<ext>` (the
/// tag: six hex digits making it unique per input path and settings).
pub fn output_key(keys: &[String], stem_label: &str) -> String {
    let found: Vec<&String> = keys
        .iter()
        .filter(|k| {
            k.strip_prefix(stem_label).and_then(|rest| rest.strip_prefix('.')).is_some_and(|rest| {
                let mut parts = rest.split('.');
                let tag = parts.next().unwrap_or_default();
                tag.len() == 6 && tag.chars().all(|c| c.is_ascii_hexdigit()) && parts.count() == 1
            })
        })
        .collect();
    assert_eq!(found.len(), 1, "one output named {stem_label}.<tag>.<ext> in {keys:?}");
    found[0].clone()
}

/// Wait for `child`, at most `limit`, killing it past that.
pub fn wait_bounded(mut child: Child, limit: Duration) -> Output {
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("still running after {limit:?}: {}", String::from_utf8_lossy(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().unwrap()
}

/// Record that `test` did not run, and why: cargo's capture swallows
/// `eprintln!`, so `scripts/test.sh` reads the file `STYLIZE_SKIP_LOG`
/// names and prints the skipped tests with its counts.
pub fn skipped(test: &str, why: &str) {
    eprintln!("skipped: {why}");
    if let Some(path) = std::env::var_os("STYLIZE_SKIP_LOG") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new().append(true).create(true).open(path) {
            let _ = writeln!(f, "{test}: {why}");
        }
    }
}

/// A child's stderr read as it comes: each line on `lines`, the whole text
/// from `all` once the child ends.
pub struct LogLines {
    pub lines: std::sync::mpsc::Receiver<String>,
    pub all: std::thread::JoinHandle<String>,
}

impl LogLines {
    /// Take `child`'s piped stderr.
    pub fn of(child: &mut Child) -> LogLines {
        let (tx, lines) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().expect("stderr piped");
        let all = std::thread::spawn(move || {
            use std::io::BufRead;
            let mut all = String::new();
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line.clone());
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        LogLines { lines, all }
    }
}

/// A child's stderr as it comes, read on a thread: wait for a line, count
/// lines, or take it all once the child ends.
pub struct Lines {
    seen: std::sync::Arc<(std::sync::Mutex<(String, bool)>, std::sync::Condvar)>,
}

impl Lines {
    pub fn of(child: &mut Child) -> Lines {
        let seen = std::sync::Arc::new((std::sync::Mutex::new((String::new(), false)), std::sync::Condvar::new()));
        let stderr = child.stderr.take().expect("stderr piped");
        let shared = seen.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut text = shared.0.lock().unwrap();
                text.0.push_str(&line);
                text.0.push('\n');
                shared.1.notify_all();
            }
            shared.0.lock().unwrap().1 = true;
            shared.1.notify_all();
        });
        Lines { seen }
    }

    /// Wait at most `limit` until `count` lines hold `needle`; whether they do.
    pub fn wait_for_n(&self, needle: &str, count: usize, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let mut text = self.seen.0.lock().unwrap();
        loop {
            if text.0.lines().filter(|l| l.contains(needle)).count() >= count {
                return true;
            }
            let now = Instant::now();
            if text.1 || now >= deadline {
                return false;
            }
            text = self.seen.1.wait_timeout(text, deadline - now).unwrap().0;
        }
    }

    /// Wait at most `limit` for a line holding `needle`; whether one came.
    pub fn wait_for(&self, needle: &str, limit: Duration) -> bool {
        self.wait_for_n(needle, 1, limit)
    }

    /// Everything read so far.
    pub fn text(&self) -> String {
        self.seen.0.lock().unwrap().0.clone()
    }

    /// Everything, once the child has closed its stderr.
    pub fn all(&self) -> String {
        self.wait_for_n("\u{0}never", 1, Duration::from_secs(600));
        self.text()
    }
}
