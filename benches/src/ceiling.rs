//! The pipeline ceiling: how fast the engine goes when the model costs
//! nothing (the pass-through TorchScript model `test/identity.pt`), against
//! FFmpeg's own decode → RGB → x264 of the same clip with the same preset,
//! CRF and x264 threads. On a GPU node, where the model runs at hundreds
//! of frames/s, this ceiling is the throughput. The two are run
//! interleaved (FFmpeg, stylize, FFmpeg, stylize...) so the shared
//! machine's drift hits both alike, and compared by their medians.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use serde::Serialize;

use crate::error::{bail, Context, Result};

/// Frames of the synthetic clip measured when none is given: long enough
/// that both sides' start (libtorch's own start-up is 0.3 s) is not what
/// is compared.
pub const FRAMES: u32 = 1000;

/// Both ways' frames/s and their ratio.
#[derive(Debug, Clone, Serialize)]
pub struct Ceiling {
    /// The clip measured.
    pub clip: String,
    /// Its frames.
    pub frames: u64,
    /// FFmpeg's own decode → RGB → x264, median frames/s.
    pub ffmpeg_fps: f64,
    /// `stylize submit` with the identity model, median frames/s.
    pub stylize_fps: f64,
    /// stylize ÷ FFmpeg (the goal is 0.9 or more).
    pub ratio: f64,
    /// Runs of each.
    pub repeats: usize,
    /// Every run's seconds, FFmpeg then stylize, in the order run.
    pub seconds: Vec<(f64, f64)>,
}

/// Measure on `clip` (`frames` frames), `repeats` times each.
pub fn measure(clip: &Path, frames: u64, scratch: &Path, repeats: usize, threads: Option<u16>) -> Result<Ceiling> {
    let identity = stylize_models::model_dir().join("test/identity.pt");
    if !identity.is_file() {
        bail!("{}: missing (scripts/setup.sh exports it)", identity.display());
    }
    let mut seconds = Vec::new();
    for run in 0..repeats.max(1) {
        eprintln!("bench: pipeline ceiling, run {}/{}", run + 1, repeats.max(1));
        let out = scratch.join("ceiling-ffmpeg.mp4");
        let t = Instant::now();
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(clip)
            .args(["-map", "0:v:0", "-vf", "format=rgb24,format=yuv420p", "-c:v", "libx264"])
            .args(["-preset", "veryfast", "-crf", "18", "-threads", "4", "-f", "mp4"])
            .arg(&out)
            .stdout(Stdio::null())
            .status()
            .context("ffmpeg: cannot run")?;
        let ffmpeg = t.elapsed().as_secs_f64();
        if !status.success() {
            bail!("{}: ffmpeg could not transcode it", clip.display());
        }
        let store = tempfile::tempdir_in(scratch)?;
        let mut cmd = Command::new(std::env::current_exe()?);
        cmd.arg("submit").arg(clip).arg("-o").arg(store.path()).arg("--model").arg(&identity);
        // fp32, as `auto` is on a GPU (no precision check at start): the
        // identity model stands in for a GPU's.
        cmd.args(["--deflicker", "off", "--no-flicker-report", "--crf", "18", "--preset", "veryfast"]);
        cmd.args(["--precision", "fp32"]);
        if let Some(n) = threads {
            cmd.args(["--threads", &n.to_string()]);
        }
        let t = Instant::now();
        let status = cmd.stdout(Stdio::null()).status().context("cannot start stylize submit")?;
        let stylize = t.elapsed().as_secs_f64();
        if !status.success() {
            bail!("{}: stylize submit failed in the ceiling run", clip.display());
        }
        seconds.push((ffmpeg, stylize));
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let ffmpeg_fps = frames as f64 / median(seconds.iter().map(|s| s.0).collect());
    let stylize_fps = frames as f64 / median(seconds.iter().map(|s| s.1).collect());
    Ok(Ceiling {
        clip: clip.display().to_string(),
        frames,
        ffmpeg_fps,
        stylize_fps,
        ratio: stylize_fps / ffmpeg_fps,
        repeats: seconds.len(),
        seconds,
    })
}
