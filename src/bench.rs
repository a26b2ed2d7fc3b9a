//! `stylize bench`: how fast the model runs alone, and how close the whole
//! pipeline (decode → model → encode → stitch) comes to it, on the same
//! clip, device and batch. Writes `bench.json`; the same figures go to
//! stdout as a table.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde_json::json;
use stylize_models::styles::StyleBlend;
use stylize_models::torch::{set_threads, DeviceChoice, ModelSpec, Precision, TorchModel};
use stylize_pipelines::video_style::{run as run_job, Launch, NoProgress, StyleJob, DEFAULT_SHARD_FRAMES};
use stylize_worker::WorkerOptions;

use crate::cli::BenchArgs;

pub fn run(args: &BenchArgs) -> Result<()> {
    if let Some(n) = args.threads {
        set_threads(n.into());
    }
    std::fs::create_dir_all(&args.out).with_context(|| format!("{}: cannot create directory", args.out.display()))?;
    let scratch = tempfile::tempdir()?;
    let (width, height) = parse_size(&args.size)?;
    let frames = if args.quick { 24 } else { args.frames };
    let clip = match &args.clip {
        Some(c) => c.clone(),
        None => make_clip(scratch.path(), width, height, frames)?,
    };
    let device = if args.cpu { DeviceChoice::Cpu } else { DeviceChoice::Auto };
    let blend = StyleBlend::parse("mosaic")?;
    let model = TorchModel::load_with_threads(&ModelSpec::builtin(blend.clone()), device, Precision::Fp32, args.threads.map(usize::from))?;

    // 1. The model alone, on a tensor already in place.
    let x = model.example_input(args.batch.into(), width, height);
    let _ = model.forward_tensor(&x)?;
    model.synchronize();
    let iters = if args.quick { 2 } else { 4 };
    let t = Instant::now();
    for _ in 0..iters {
        let _ = model.forward_tensor(&x)?;
    }
    model.synchronize();
    let model_fps = (iters * usize::from(args.batch)) as f64 / t.elapsed().as_secs_f64();
    drop(model);

    // 2. The whole pipeline on the clip.
    let job = StyleJob {
        input: clip.clone(),
        store: scratch.path().join("store"),
        model: ModelSpec::builtin(blend),
        device,
        precision: Precision::Fp32,
        worker: WorkerOptions { batch: args.batch.into(), ..WorkerOptions::default() },
        threads: args.threads.map(usize::from),
        shard_frames: DEFAULT_SHARD_FRAMES,
        measure_flicker: false,
    };
    let report = run_job(&job, std::sync::Arc::new(NoProgress), Launch::InProcess)?;
    let e2e_fps = report.video.frames as f64 / report.wall_secs;
    let efficiency = e2e_fps / model_fps;

    let result = json!({
        "date": chrono_free_date(),
        "machine": machine(),
        "device": report.model,
        "size": format!("{width}x{height}"),
        "frames": report.video.frames,
        "batch": args.batch,
        "model_fps": model_fps,
        "end_to_end_fps": e2e_fps,
        "efficiency": efficiency,
        "report": report,
    });
    let path = args.out.join("bench.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&result)?).with_context(|| format!("{}: cannot write", path.display()))?;
    println!("{:<28} {:>10}", "measure", "frames/s");
    println!("{:<28} {:>10.2}", format!("model only (batch {})", args.batch), model_fps);
    println!("{:<28} {:>10.2}", "end to end", e2e_fps);
    println!("{:<28} {:>10.3}", "efficiency", efficiency);
    println!("{} frames at {width}x{height}; written {}", report.video.frames, path.display());
    Ok(())
}

fn parse_size(s: &str) -> Result<(u32, u32)> {
    let (w, h) = s.split_once('x').with_context(|| format!("{s}: size must look like 640x360"))?;
    Ok((w.parse().with_context(|| format!("{s}: bad width"))?, h.parse().with_context(|| format!("{s}: bad height"))?))
}

/// A synthetic clip with motion and audio, made by the ffmpeg CLI (argument
/// vector, no shell).
fn make_clip(dir: &Path, width: u32, height: u32, frames: u32) -> Result<PathBuf> {
    let path = dir.join(format!("bench-{width}x{height}.mp4"));
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=s={width}x{height}:r=25"))
        .args(["-f", "lavfi", "-i", "sine=f=440:r=48000", "-frames:v"])
        .arg(frames.to_string())
        .args(["-shortest", "-c:v", "libx264", "-preset", "veryfast", "-g", "48", "-c:a", "aac"])
        .arg(&path)
        .status()
        .context("ffmpeg: cannot run (is FFmpeg installed? scripts/setup.sh installs it)")?;
    if !status.success() {
        bail!("ffmpeg: could not make the benchmark clip");
    }
    Ok(path)
}

/// Today's date (UTC) from the system clock, as YYYY-MM-DD.
fn chrono_free_date() -> String {
    let days = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() / 86_400).unwrap_or(0) as i64;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("model name")).map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string()))
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    format!("{cpu}, {cores} cores")
}
