//! The built-in model gives the same bytes for the same frames, every call:
//! the engine's byte-identical outputs rest on it.

use stylize_models::styles::StyleBlend;
use stylize_models::torch::{DeviceChoice, ModelSpec, Precision, TorchModel};
use stylize_models::{RgbBatch, StyleModel};

fn frames(n: usize, w: u32, h: u32) -> RgbBatch {
    let frames = (0..n).map(|k| (0..w * h * 3).map(|i| ((i as usize * 7 + k * 13) % 251) as u8).collect()).collect();
    RgbBatch { width: w, height: h, frames }
}

#[test]
fn same_frames_same_bytes_on_repeated_calls() {
    let mut model = TorchModel::load_with_threads(
        &ModelSpec::builtin(StyleBlend::parse("mosaic").unwrap()),
        DeviceChoice::Cpu,
        Precision::Fp32,
        Some(1),
    )
    .unwrap();
    let input = frames(4, 320, 180);
    let first = model.stylize(input.clone()).unwrap();
    for _ in 0..4 {
        assert!(model.stylize(input.clone()).unwrap() == first, "output changed between calls");
    }
}
