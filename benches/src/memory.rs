//! Peak memory of whole jobs, a long and a twice as long clip: the engine
//! streams (bounded queues, a few shards at a time), so its peak must not
//! grow with the clip's length. Both are many shards long, so both
//! compare jobs that run shards side by side (a one-shard clip used half
//! the workers and read as growth). Each job runs as a child
//! `stylize submit` whose high-water mark (VmHWM) is sampled until it
//! exits.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::error::{bail, Context, Result};
use serde::Serialize;

/// Peak RSS of a short and a long job.
#[derive(Debug, Clone, Serialize)]
pub struct Memory {
    pub size: String,
    pub short_frames: u32,
    pub long_frames: u32,
    pub peak_rss_short_mb: f64,
    pub peak_rss_long_mb: f64,
    /// Long ÷ short: about 1 when memory does not grow with the clip.
    pub ratio: f64,
    /// The long job's extra peak per extra frame, in KiB.
    pub growth_per_frame_kib: f64,
    /// Whether that is under a quarter of one RGB frame.
    pub flat: bool,
}

/// Frames of the short job: thirty shards, past the point where glibc's
/// per-thread heaps have filled (measured 2026-12-03 at 320x180: 480
/// frames 333 MiB, 1440 frames 398, 2880 frames 400); the long job has
/// twice as many.
const SHORT_FRAMES: u32 = 30 * stylize_pipelines::video_style::DEFAULT_SHARD_FRAMES as u32;

impl Memory {
    /// The figures of a short and a long job at `w`x`h`, and the verdict:
    /// a pipeline that kept even a quarter of each frame it saw would grow
    /// by that much per frame; a flat one grows by noise.
    pub fn of((w, h): (u32, u32), (short_frames, long_frames): (u32, u32), (short_mb, long_mb): (f64, f64)) -> Memory {
        let extra = f64::from(long_frames.saturating_sub(short_frames).max(1));
        let growth_per_frame_kib = (long_mb - short_mb).max(0.0) * 1024.0 / extra;
        let frame_kib = f64::from(w) * f64::from(h) * 3.0 / 1024.0;
        Memory {
            size: format!("{w}x{h}"),
            short_frames,
            long_frames,
            peak_rss_short_mb: short_mb,
            peak_rss_long_mb: long_mb,
            ratio: long_mb / short_mb.max(1e-9),
            growth_per_frame_kib,
            flat: growth_per_frame_kib < frame_kib / 4.0,
        }
    }
}

pub fn measure(scratch: &Path, threads: Option<u16>) -> Result<Memory> {
    let (w, h) = (320, 180);
    let mut peaks = Vec::new();
    for frames in [SHORT_FRAMES, SHORT_FRAMES * 2] {
        eprintln!("bench: peak memory, {frames} frames");
        let clip = super::make_clip(scratch, w, h, frames)?;
        peaks.push(peak_rss_mb(&clip, scratch, threads)?);
    }
    Ok(Memory::of((w, h), (SHORT_FRAMES, SHORT_FRAMES * 2), (peaks[0], peaks[1])))
}

fn peak_rss_mb(clip: &Path, scratch: &Path, threads: Option<u16>) -> Result<f64> {
    let store = tempfile::tempdir_in(scratch)?;
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("submit").arg(clip).arg("-o").arg(store.path()).args(["--no-flicker-report", "--deflicker", "still"]);
    if let Some(n) = threads {
        cmd.args(["--threads", &n.to_string()]);
    }
    let mut child = cmd.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().context("cannot start stylize submit")?;
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_path) {
            if let Some(kb) =
                status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            {
                peak_kb = peak_kb.max(kb);
            }
        }
        if let Some(status) = child.try_wait()? {
            if !status.success() {
                bail!("stylize submit failed while measuring memory");
            }
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(peak_kb as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_measured_plateau_is_flat_and_a_kept_quarter_frame_is_not() {
        // As measured (README): 1440 frames 398 MiB, 2880 frames 400; and
        // from 480 frames, before the heaps have filled, it is not flat.
        let m = Memory::of((320, 180), (1440, 2880), (398.0, 400.0));
        assert!(m.flat, "{m:?}");
        assert!((m.growth_per_frame_kib - 2.0 * 1024.0 / 1440.0).abs() < 1e-9);
        assert!(!Memory::of((320, 180), (480, 1440), (333.0, 398.0)).flat);
        // A pipeline keeping a quarter of each 168.75 KiB frame: 42 KiB a
        // frame, 40 MB over 960 frames.
        let quarter = 320.0 * 180.0 * 3.0 / 4.0 / (1024.0 * 1024.0) * 960.0;
        assert!(!Memory::of((320, 180), (480, 1440), (361.0, 361.0 + quarter)).flat);
        assert!(Memory::of((320, 180), (480, 1440), (361.0, 361.0 + quarter * 0.9)).flat);
        // Less at the long job's peak is flat, not negative growth.
        assert_eq!(Memory::of((320, 180), (480, 1440), (361.0, 350.0)).growth_per_frame_kib, 0.0);
    }
}
