//! CUDA paths: fp32 and fp16 on the GPU agree with the CPU. Where no GPU
//! is present these tests say so (counted as skipped by `scripts/test.sh`)
//! and pass without checking anything else, except where the run is meant
//! to have one: with `STYLIZE_REQUIRE_CUDA=1` (set by `scripts/gpu-check.sh`)
//! a CUDA that did not register fails them.

use stylize_models::styles::StyleBlend;
use stylize_models::torch::{psnr, DeviceChoice, ModelSpec, Precision, TorchModel};
use stylize_models::{RgbBatch, StyleModel};

/// Say that `test` did not run, where a person sees it: cargo's capture
/// swallows stderr, so `scripts/test.sh` collects these lines from the
/// file `STYLIZE_SKIP_LOG` names and prints them with its counts.
fn skipped(test: &str, why: &str) {
    eprintln!("skipped: {why}");
    if let Some(path) = std::env::var_os("STYLIZE_SKIP_LOG") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new().append(true).create(true).open(path) {
            let _ = writeln!(f, "models/tests/cuda.rs {test}: {why}");
        }
    }
}

fn gpu(test: &str) -> bool {
    let ok = DeviceChoice::Cuda(0).resolve().is_ok();
    assert!(
        ok || std::env::var("STYLIZE_REQUIRE_CUDA").as_deref() != Ok("1"),
        "STYLIZE_REQUIRE_CUDA=1: no CUDA device (did libtorch_cuda register CUDA?)"
    );
    if !ok {
        skipped(test, "no CUDA device on this machine");
    }
    ok
}

fn frames(n: usize, w: u32, h: u32) -> RgbBatch {
    let frames = (0..n).map(|k| (0..w * h * 3).map(|i| ((i as usize * 7 + k * 13) % 251) as u8).collect()).collect();
    RgbBatch { width: w, height: h, frames }
}

#[test]
fn cuda_fp32_and_fp16_match_the_cpu() {
    if !gpu("cuda_fp32_and_fp16_match_the_cpu") {
        return;
    }
    let spec = ModelSpec::builtin(StyleBlend::parse("starry").unwrap());
    let input = frames(8, 322, 182);
    let cpu = TorchModel::load(&spec, DeviceChoice::Cpu, Precision::Fp32).unwrap().stylize(input.clone()).unwrap();
    for precision in [Precision::Fp32, Precision::Fp16] {
        let mut model = TorchModel::load(&spec, DeviceChoice::Cuda(0), precision).unwrap();
        let gpu = model.stylize(input.clone()).unwrap();
        for (a, b) in cpu.frames.iter().zip(&gpu.frames) {
            let p = psnr(a, b);
            assert!(p > 35.0, "{precision:?}: {p:.1} dB from the CPU result");
        }
    }
}

#[test]
fn cuda_is_refused_cleanly_when_absent() {
    if DeviceChoice::Cuda(0).resolve().is_ok() {
        skipped("cuda_is_refused_cleanly_when_absent", "a CUDA device is present");
        return;
    }
    let err = DeviceChoice::Cuda(0).resolve().unwrap_err().to_string();
    assert!(err.contains("no CUDA device"), "{err}");
}
