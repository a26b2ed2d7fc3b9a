//! The built-in model gives the same bytes for the same frames, every call:
//! the engine's byte-identical outputs rest on it. (A batch may round a
//! level otherwise than a frame alone, as convolution kernels differ by
//! batch: the plan fixes every batch, so the bytes do not change.)

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

/// The arbitrary-style network takes a batch with one style, each frame
/// normalised on its own: a batch gives each frame what it gets alone, to
/// within a level's rounding.
#[test]
fn a_painting_style_batch_gives_each_frames_own_bytes() {
    use stylize_models::arbitrary::StyleVector;
    use stylize_models::styles::Style;
    let painting: Vec<u8> = (0..64 * 48 * 3).map(|i| ((i * 31) % 256) as u8).collect();
    let vector =
        StyleVector::from_image(&painting, 64, 48, std::path::Path::new("painting.png"), DeviceChoice::Cpu).unwrap();
    let spec = ModelSpec::for_style(Style::Image { vector, label: "painting".into() });
    let mut model = TorchModel::load_with_threads(&spec, DeviceChoice::Cpu, Precision::Fp32, Some(1)).unwrap();
    let batch = frames(3, 96, 64);
    let together = model.stylize(batch.clone()).unwrap();
    for (k, frame) in batch.frames.iter().enumerate() {
        let alone = model.stylize(RgbBatch { width: 96, height: 64, frames: vec![frame.clone()] }).unwrap();
        let most = alone.frames[0].iter().zip(&together.frames[k]).map(|(a, b)| a.abs_diff(*b)).max();
        assert!(most <= Some(1), "frame {k} differs in a batch by {most:?} levels");
    }
    assert!(together.frames[0] != together.frames[1], "distinct frames, distinct outputs");
}

/// 16-bit frames holding 8-bit values (v · 257) give the 8-bit output to
/// within the 8-bit rounding: the deep path scales as the byte path does.
#[test]
fn deep_frames_of_byte_values_give_the_byte_output() {
    use stylize_models::DeepBatch;
    for precision in [Precision::Fp32, Precision::Bf16] {
        let mut model = TorchModel::load_with_threads(
            &ModelSpec::builtin(StyleBlend::parse("mosaic").unwrap()),
            DeviceChoice::Cpu,
            precision,
            Some(1),
        )
        .unwrap();
        let input = frames(1, 96, 64);
        let bytes = model.stylize(input.clone()).unwrap();
        let deep = DeepBatch {
            width: 96,
            height: 64,
            frames: input.frames.iter().map(|f| f.iter().map(|v| u16::from(*v) * 257).collect()).collect(),
        };
        let out = model.stylize_deep(deep).unwrap();
        let most = bytes.frames[0]
            .iter()
            .zip(&out.frames[0])
            .map(|(b, d)| (f64::from(*b) - f64::from(*d) / 257.0).abs())
            .fold(0.0, f64::max);
        assert!(most <= 0.51, "{precision:?}: {most} levels apart");
    }
}
