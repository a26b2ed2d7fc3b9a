//! Costs of styles from paintings: the style vector per painting, the
//! arbitrary-style transformer per frame against the 26-style network at
//! the same size, and one learning step.

use std::time::Instant;

use crate::error::Result;
use serde::Serialize;
use stylize_models::arbitrary::StyleVector;
use stylize_models::learn::{learn, Image, LearnOptions};
use stylize_models::styles::{Style, StyleBlend};
use stylize_models::torch::{DeviceChoice, ModelSpec, Precision, TorchModel};
use stylize_models::{RgbBatch, StyleModel};

#[derive(Debug, Clone, Serialize)]
pub struct StylesBench {
    pub device: String,
    pub size: String,
    /// Milliseconds to turn one painting into a style vector.
    pub predict_ms: f64,
    /// Frames/s of the arbitrary-style transformer (batch 1).
    pub arbitrary_fps: f64,
    /// Frames/s of the 26-style network (batch 1), same frames.
    pub builtin_fps: f64,
    /// Seconds per learning step (2 content images).
    pub learn_step_secs: f64,
    pub learn_size: i64,
}

fn picture(w: u32, h: u32) -> Vec<u8> {
    (0..w * h)
        .flat_map(|i| {
            let (x, y) = (i % w, i / w);
            [(x * 255 / w) as u8, (y * 255 / h) as u8, ((x ^ y) % 256) as u8]
        })
        .collect()
}

fn frames_per_sec(model: &mut dyn StyleModel, w: u32, h: u32) -> Result<f64> {
    let batch = RgbBatch { width: w, height: h, frames: vec![picture(w, h)] };
    for _ in 0..2 {
        model.stylize(batch.clone())?;
    }
    let (t, n) = (Instant::now(), 4);
    for _ in 0..n {
        model.stylize(batch.clone())?;
    }
    Ok(f64::from(n) / t.elapsed().as_secs_f64())
}

/// Whether the models this measures are here (a bundle carried to a GPU
/// machine leaves them out).
pub fn models_present() -> bool {
    let dir = stylize_models::model_dir();
    ["arbitrary_predict.pt", "arbitrary_transform.pt", "vgg19_features.pt"].iter().all(|f| dir.join(f).is_file())
}

pub fn measure(device: DeviceChoice, w: u32, h: u32, threads: Option<usize>) -> Result<StylesBench> {
    let painting = picture(300, 240);
    let source = std::path::Path::new("bench-painting");
    // The first calls of a TorchScript module are slow (profiling): warm up.
    let mut vector = StyleVector::from_image(&painting, 300, 240, source, device)?;
    vector = StyleVector::from_image(&painting, 300, 240, source, device).unwrap_or(vector);
    let t = Instant::now();
    let runs = 3;
    for _ in 0..runs {
        vector = StyleVector::from_image(&painting, 300, 240, source, device)?;
    }
    let predict_ms = t.elapsed().as_secs_f64() * 1000.0 / f64::from(runs);

    let mut arbitrary = TorchModel::load_with_threads(
        &ModelSpec::for_style(Style::Image { vector, label: "bench".into() }),
        device,
        Precision::Fp32,
        threads,
    )?;
    let arbitrary_fps = frames_per_sec(&mut arbitrary, w, h)?;
    let mut builtin = TorchModel::load_with_threads(
        &ModelSpec::builtin(StyleBlend::parse("mosaic")?),
        device,
        Precision::Fp32,
        threads,
    )?;
    let builtin_fps = frames_per_sec(&mut builtin, w, h)?;

    // Learning: the difference between 4 and 2 steps is 2 steps' cost,
    // without the start-up (loading, scoring the 26 styles).
    let size = 128;
    let contents = [picture(160, 120), picture(160, 120)];
    let images: Vec<Image> = contents.iter().map(|c| Image { rgb: c, width: 160, height: 120 }).collect();
    let timed = |steps: usize| -> Result<f64> {
        let options = LearnOptions { steps, size, device, ..LearnOptions::default() };
        let t = Instant::now();
        learn(&Image { rgb: &painting, width: 300, height: 240 }, &images, &options, &|_| {})?;
        Ok(t.elapsed().as_secs_f64())
    };
    let learn_step_secs = ((timed(4)? - timed(2)?) / 2.0).max(0.0);
    Ok(StylesBench {
        device: if matches!(device, DeviceChoice::Cuda(_)) { "cuda".into() } else { "cpu".into() },
        size: format!("{w}x{h}"),
        predict_ms,
        arbitrary_fps,
        builtin_fps,
        learn_step_secs,
        learn_size: size,
    })
}
