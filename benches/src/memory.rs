//! Peak memory of whole jobs, a short and a 10x longer clip: the engine
//! streams (bounded queues, a few shards at a time), so its peak must not
//! grow with the clip's length. The short clip is two shards long, so
//! both compare jobs that run shards side by side (a one-shard clip used
//! half the workers and read as growth). Each job runs as a child
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
}

pub fn measure(scratch: &Path, threads: Option<u16>) -> Result<Memory> {
    let (w, h, short) = (320, 180, 2 * stylize_pipelines::video_style::DEFAULT_SHARD_FRAMES as u32);
    let mut peaks = Vec::new();
    for frames in [short, short * 10] {
        eprintln!("bench: peak memory, {frames} frames");
        let clip = super::make_clip(scratch, w, h, frames)?;
        peaks.push(peak_rss_mb(&clip, scratch, threads)?);
    }
    Ok(Memory {
        size: format!("{w}x{h}"),
        short_frames: short,
        long_frames: short * 10,
        peak_rss_short_mb: peaks[0],
        peak_rss_long_mb: peaks[1],
        ratio: peaks[1] / peaks[0],
    })
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
