//! The model alone: frames/s on tensors already in place, at each batch
//! and precision, and each lower precision's PSNR against fp32 on a frame
//! of the clip. The variants are measured in rounds, one timing of each
//! per round (fp32 b1, fp32 b4, bf16 b1, ...), after a warm-up of each,
//! and compared by their medians: the shared machine's drift hits every
//! variant alike instead of whichever ran last.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use serde::Serialize;
use stylize_models::styles::StyleBlend;
use stylize_models::torch::{psnr, DeviceChoice, ModelSpec, Precision, TorchModel};
use stylize_models::{RgbBatch, StyleModel};

use crate::cpu;
use crate::error::{bail, Context, Result};

/// The model alone at one batch size and precision.
#[derive(Debug, Clone, Serialize)]
pub struct ModelOnly {
    pub batch: usize,
    pub precision: String,
    /// Median frames/s over the rounds.
    pub fps: f64,
    /// Every round's frames/s, in the order run.
    pub rounds: Vec<f64>,
    /// Median CPU time a frame (ms), all threads: what the engine's CPU
    /// time a frame is compared with, steadier than frames/s on a shared
    /// machine.
    pub cpu_ms: f64,
    /// Every round's CPU time a frame (ms).
    pub cpu_rounds: Vec<f64>,
    /// Achieved compute, from the model's FLOPs per pixel.
    pub gflops: Option<f64>,
    /// Achieved compute ÷ the GPU's dense peak at this precision, where
    /// the GPU is known (`nvidia-smi` name, vendor figures).
    pub share_of_peak: Option<f64>,
    /// PSNR (dB, RGB bytes) of this precision's output against fp32's on
    /// the clip's first frame; none for fp32 itself.
    pub psnr_vs_fp32: Option<f64>,
}

/// The precisions measured on `device`: fp32; bf16 on CUDA and on CPUs
/// that compute it (elsewhere libtorch emulates it at about a tenth of
/// fp32's speed: minutes of measuring what `auto` never runs); fp16 on
/// CUDA.
pub fn precisions(device: DeviceChoice) -> Vec<Precision> {
    precisions_where(device, stylize_models::torch::cpu_computes_bf16())
}

/// [`precisions`] on a CPU that does (or does not) compute bf16.
pub fn precisions_where(device: DeviceChoice, cpu_bf16: bool) -> Vec<Precision> {
    let cuda = matches!(device, DeviceChoice::Cuda(_));
    let mut out = vec![Precision::Fp32];
    if cuda || cpu_bf16 {
        out.push(Precision::Bf16);
    }
    if cuda {
        out.push(Precision::Fp16);
    }
    out
}

/// Why a precision is not measured on `device`, to say in the output.
pub fn skipped(device: DeviceChoice) -> Option<String> {
    (precisions(device).len() == 1).then(|| {
        "bf16 not measured: this CPU has no BF16 instructions (avx512_bf16, amx_bf16); libtorch would emulate \
         it at about a tenth of fp32's speed, and `--precision auto` runs fp32 here"
            .to_string()
    })
}

/// Measure every precision × batch on `device` at `w`x`h`, `repeats`
/// rounds; `frame` (the clip's first frame) for the PSNR.
#[allow(clippy::too_many_arguments)]
pub fn measure(
    device: DeviceChoice,
    (w, h): (u32, u32),
    batches: &[usize],
    threads: Option<usize>,
    flops: Option<f64>,
    repeats: usize,
    frame: &RgbBatch,
    peak_tflops: &dyn Fn(Precision) -> Option<f64>,
) -> Result<Vec<ModelOnly>> {
    let spec = ModelSpec::builtin(StyleBlend::parse("mosaic")?);
    let mut models = Vec::new();
    for precision in precisions(device) {
        eprintln!("bench: {} {w}x{h}: loading the model in {}", crate::device_name(device), precision.name());
        models.push((precision, TorchModel::load_with_threads(&spec, device, precision, threads)?));
    }
    // Quality first: each precision's output on a real frame against fp32.
    let mut outputs = Vec::new();
    for (_, model) in &mut models {
        outputs.push(model.stylize(frame.clone())?.frames.remove(0));
    }
    let quality: Vec<Option<f64>> =
        outputs.iter().enumerate().map(|(i, out)| (i > 0).then(|| psnr(&outputs[0], out).min(99.0))).collect();

    // Warm-up, and how many calls make a timing of about half a second.
    let mut variants = Vec::new();
    for (m, (_, model)) in models.iter().enumerate() {
        for &batch in batches {
            let x = model.example_input(batch, w, h);
            let _ = model.forward_tensor(&x)?;
            model.synchronize();
            let t = Instant::now();
            let _ = model.forward_tensor(&x)?;
            model.synchronize();
            let calls = ((0.5 / t.elapsed().as_secs_f64().max(1e-6)) as usize).clamp(1, 50);
            variants.push((m, batch, x, calls, Vec::new(), Vec::new()));
        }
    }
    for round in 0..repeats.max(1) {
        eprintln!(
            "bench: {} {w}x{h}: the model alone, round {}/{}",
            crate::device_name(device),
            round + 1,
            repeats.max(1)
        );
        for (m, batch, x, calls, fps, cpu_ms) in &mut variants {
            let model = &models[*m].1;
            let (t, cpu) = (Instant::now(), cpu::used());
            for _ in 0..*calls {
                let _ = model.forward_tensor(x)?;
            }
            model.synchronize();
            let frames = (*calls * *batch) as u64;
            fps.push(frames as f64 / t.elapsed().as_secs_f64());
            cpu_ms.push(cpu::ms_a_frame(cpu::used().saturating_sub(cpu), frames));
        }
    }
    Ok(variants
        .into_iter()
        .map(|(m, batch, _, _, rounds, cpu_rounds)| {
            let precision = models[m].0;
            let fps = median(&rounds);
            let gflops = flops.map(|f| f * f64::from(w) * f64::from(h) * fps / 1e9);
            ModelOnly {
                batch,
                precision: precision.name().into(),
                fps,
                rounds,
                cpu_ms: median(&cpu_rounds),
                cpu_rounds,
                gflops,
                share_of_peak: gflops.zip(peak_tflops(precision)).map(|(g, p)| g / (p * 1e3)),
                psnr_vs_fp32: quality[m],
            }
        })
        .collect())
}

/// The median of some figures (the mean of the middle two of an even
/// count); 0 for none.
pub(crate) fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The first frame of `clip` as RGB (the ffmpeg CLI, argument vector).
pub fn first_frame(clip: &Path, (w, h): (u32, u32)) -> Result<RgbBatch> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(clip)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .context("ffmpeg: cannot run")?;
    let bytes = w as usize * h as usize * 3;
    if !out.status.success() || out.stdout.len() != bytes {
        bail!("{}: cannot read its first frame", clip.display());
    }
    Ok(RgbBatch { width: w, height: h, frames: vec![out.stdout] })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_is_measured_where_it_is_computed_and_fp16_on_cuda_only() {
        use Precision::*;
        assert_eq!(precisions_where(DeviceChoice::Cpu, false), [Fp32]);
        assert_eq!(precisions_where(DeviceChoice::Cpu, true), [Fp32, Bf16]);
        assert_eq!(precisions_where(DeviceChoice::Cuda(0), false), [Fp32, Bf16, Fp16]);
    }

    #[test]
    fn median_of_odd_even_and_none() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
    }
}
