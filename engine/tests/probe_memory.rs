//! The probe reads every packet of the input and keeps only its timing:
//! its memory does not grow with the file's size. Its own test binary, so
//! that the process's peak (VmHWM) is the probe's alone.

use std::path::Path;
use std::process::Command;

/// The process's peak resident memory so far, in KiB.
fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Twenty seconds of 720p at the highest MJPEG quality: large packets.
fn large_clip(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("large.mov");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-f", "lavfi", "-i", "testsrc2=s=1280x720:r=30:d=20"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=d=20:r=48000",
            "-c:v",
            "mjpeg",
            "-qmin",
            "1",
            "-q:v",
            "1",
            "-c:a",
            "pcm_s16le",
        ])
        .arg(&path)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
    path
}

#[test]
fn probing_a_large_file_keeps_memory_flat() {
    let dir = tempfile::tempdir().unwrap();
    let clip = large_clip(dir.path());
    let size = std::fs::metadata(&clip).unwrap().len();
    assert!(size > 40 << 20, "the clip is large: {size} bytes");
    // A first probe settles FFmpeg's own allocations (codec tables).
    stylize_engine::probe(&clip).unwrap();
    let before = peak_kib();
    let info = stylize_engine::probe(&clip).unwrap();
    let grown = peak_kib().saturating_sub(before);
    assert_eq!(info.video.pts.len(), 600);
    // The file's bytes would be 40+ MiB; a few MiB of timings and buffers.
    assert!(grown < 16 << 10, "the probe's peak grew by {grown} KiB for a {size}-byte file");
}
