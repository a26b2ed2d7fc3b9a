//! The engine end to end (decode → model → encode → stitch, a whole
//! `submit` in-process) in several variants, and the reference way, on one
//! clip: measured in rounds (each variant once per round, in turn) and
//! compared by their medians, so the shared machine's drift hits them
//! alike.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;
use stylize_engine::{Location, NoRemote};
use stylize_models::styles::StyleBlend;
use stylize_models::torch::{DeviceChoice, ModelSpec, Precision};
use stylize_pipelines::video_style::{run as run_job, InProcessLauncher, NoProgress, StyleJob, DEFAULT_SHARD_FRAMES};
use stylize_worker::{DeflickerMode, WorkerOptions};

use crate::cpu;
use crate::error::Result;
use crate::model::median;
use crate::reference::{self, Reference};

/// One way of running the engine.
#[derive(Debug, Clone, Serialize)]
pub struct Variant {
    /// What it is: `fp32`, `bf16`, `fp16`, or `default` (what `submit`
    /// does unless told otherwise: precision auto, deflicker still, flicker
    /// report).
    pub name: String,
    /// The precision asked for (`auto` resolved by the engine).
    pub precision: String,
    pub deflicker: String,
    pub flicker_report: bool,
    /// Median frames/s over the rounds.
    pub fps: f64,
    /// Every round's frames/s, in the order run.
    pub rounds: Vec<f64>,
    /// Median CPU time a frame (ms), all the job's threads.
    pub cpu_ms: f64,
    /// Every round's CPU time a frame (ms).
    pub cpu_rounds: Vec<f64>,
}

impl Variant {
    /// The precision it ran at: `default`'s is what `auto` resolved to.
    pub fn precision_in<'a>(&'a self, default_precision: &'a str) -> &'a str {
        if self.name == "default" {
            default_precision
        } else {
            &self.precision
        }
    }
}

/// The engine's variants and the reference way, measured together.
#[derive(Debug, Clone, Serialize)]
pub struct EndToEnd {
    pub frames: u64,
    pub variants: Vec<Variant>,
    pub reference: Option<Reference>,
    /// Every round's frames/s of the reference way.
    pub reference_rounds: Vec<f64>,
}

struct Setup {
    name: &'static str,
    precision: Precision,
    deflicker: DeflickerMode,
    flicker_report: bool,
}

/// Run each variant (and the reference way, unless `no_reference`)
/// `repeats` times, interleaved: each precision plain, the default job
/// (precision `auto`, which resolves to `default_precision`, deflicker
/// `still`, flicker report), and the default job's extras at the other
/// precisions (`fp32+deflicker`), so that what the extras cost is known at
/// every precision.
#[allow(clippy::too_many_arguments)]
pub fn measure(
    clip: &Path,
    device: DeviceChoice,
    default_precision: Precision,
    batch: usize,
    threads: Option<u16>,
    repeats: usize,
    no_reference: bool,
    scratch: &Path,
) -> Result<EndToEnd> {
    let precisions = crate::model::precisions(device);
    let mut setups: Vec<Setup> = precisions
        .iter()
        .map(|&p| Setup { name: p.name(), precision: p, deflicker: DeflickerMode::Off, flicker_report: false })
        .collect();
    setups.extend(precisions.iter().filter(|&&p| p != default_precision).map(|&p| Setup {
        name: extras_name(p),
        precision: p,
        deflicker: DeflickerMode::Still,
        flicker_report: true,
    }));
    setups.push(Setup {
        name: "default",
        precision: Precision::Auto,
        deflicker: DeflickerMode::Still,
        flicker_report: true,
    });
    let mut rounds: Vec<Vec<f64>> = vec![Vec::new(); setups.len()];
    let mut cpu_rounds: Vec<Vec<f64>> = vec![Vec::new(); setups.len()];
    let (mut frames, mut reference, mut reference_rounds) = (0, None::<Reference>, Vec::new());
    for round in 0..repeats.max(1) {
        for ((setup, fps), cpu_ms) in setups.iter().zip(&mut rounds).zip(&mut cpu_rounds) {
            eprintln!(
                "bench: {}: end to end, {}, round {}/{}",
                crate::device_name(device),
                setup.name,
                round + 1,
                repeats.max(1)
            );
            let (f, n, c) = run_once(clip, device, batch, threads.map(usize::from), setup, scratch)?;
            fps.push(f);
            cpu_ms.push(c);
            frames = n;
        }
        if !no_reference {
            eprintln!("bench: the reference way, round {}/{}", round + 1, repeats.max(1));
            if let Some(r) = reference::run(clip, device, threads, scratch) {
                reference_rounds.push(r.fps);
                reference = Some(r);
            }
        }
    }
    // The reported reference run is the median one.
    if let Some(r) = &mut reference {
        r.fps = median(&reference_rounds);
    }
    let variants = setups
        .iter()
        .zip(rounds)
        .zip(cpu_rounds)
        .map(|((s, rounds), cpu_rounds)| Variant {
            name: s.name.into(),
            precision: s.precision.name().into(),
            deflicker: format!("{:?}", s.deflicker).to_lowercase(),
            flicker_report: s.flicker_report,
            fps: median(&rounds),
            rounds,
            cpu_ms: median(&cpu_rounds),
            cpu_rounds,
        })
        .collect();
    Ok(EndToEnd { frames, variants, reference, reference_rounds })
}

/// The variant of the default job's extras (deflicker `still` and the
/// flicker report) at precision `p`.
pub fn extras_name(p: Precision) -> &'static str {
    match p {
        Precision::Fp32 => "fp32+deflicker",
        Precision::Bf16 => "bf16+deflicker",
        Precision::Fp16 => "fp16+deflicker",
        Precision::Auto => "default",
    }
}

/// Frames/s of one whole job on `clip`, its frame count, and its CPU time
/// a frame (ms).
fn run_once(
    clip: &Path,
    device: DeviceChoice,
    batch: usize,
    threads: Option<usize>,
    setup: &Setup,
    scratch: &Path,
) -> Result<(f64, u64, f64)> {
    let store = tempfile::tempdir_in(scratch)?;
    let job = StyleJob {
        input: Location::Local(clip.to_path_buf()),
        store: Location::Local(store.path().to_path_buf()),
        logs: None,
        remote: Arc::new(NoRemote),
        model: ModelSpec::builtin(StyleBlend::parse("mosaic")?),
        device,
        precision: setup.precision,
        worker: WorkerOptions {
            batch,
            deflicker: setup.deflicker,
            measure_flicker: setup.flicker_report,
            ..WorkerOptions::default()
        },
        threads,
        shard_frames: DEFAULT_SHARD_FRAMES,
        parallel_shards: 2,
        destination: Default::default(),
        overwrite: Default::default(),
        expect_job: None,
        program: None,
    };
    let cpu = cpu::used();
    let report = run_job(&job, Arc::new(NoProgress), &InProcessLauncher)?;
    let frames = report.video.frames;
    Ok((frames as f64 / report.wall_secs, frames, cpu::ms_a_frame(cpu::used().saturating_sub(cpu), frames)))
}
