//! Costs of styles from paintings: the style vector per painting, the
//! arbitrary-style transformer per frame against the 26-style network at
//! the same size (at each precision the device computes, in interleaved
//! rounds), and one learning step.

use std::time::Instant;

use crate::error::Result;
use serde::Serialize;
use stylize_models::arbitrary::StyleVector;
use stylize_models::learn::{learn, Image, LearnOptions};
use stylize_models::styles::{Style, StyleBlend};
use stylize_models::torch::{DeviceChoice, ModelSpec, TorchModel};
use stylize_models::{RgbBatch, StyleModel};

#[derive(Debug, Clone, Serialize)]
pub struct StylesBench {
    pub device: String,
    pub size: String,
    /// Milliseconds to turn one painting into a style vector.
    pub predict_ms: f64,
    /// Frames/s of the arbitrary-style transformer (batch 1, fp32).
    pub arbitrary_fps: f64,
    /// Frames/s of the 26-style network (batch 1, fp32), same frames.
    pub builtin_fps: f64,
    /// Both at each precision the device computes: what `--style-image`
    /// costs against a built-in style (the goal: at most 1.5x).
    pub by_precision: Vec<StyleCost>,
    /// Seconds per learning step (2 content images).
    pub learn_step_secs: f64,
    pub learn_size: i64,
}

/// The two networks at one precision, medians of interleaved rounds.
#[derive(Debug, Clone, Serialize)]
pub struct StyleCost {
    pub precision: String,
    pub arbitrary_fps: f64,
    pub builtin_fps: f64,
    /// A frame of `--style-image` over a frame of a built-in style.
    pub cost_ratio: f64,
}

fn picture(w: u32, h: u32) -> Vec<u8> {
    (0..w * h)
        .flat_map(|i| {
            let (x, y) = (i % w, i / w);
            [(x * 255 / w) as u8, (y * 255 / h) as u8, ((x ^ y) % 256) as u8]
        })
        .collect()
}

fn frames_per_sec(model: &mut dyn StyleModel, batch: &RgbBatch) -> Result<f64> {
    let (t, n) = (Instant::now(), 2);
    for _ in 0..n {
        model.stylize(batch.clone())?;
    }
    Ok(f64::from(n) / t.elapsed().as_secs_f64())
}

/// Rounds of the two networks, interleaved.
const ROUNDS: usize = 3;

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

    let arbitrary_spec = ModelSpec::for_style(Style::Image { vector, label: "bench".into() });
    let builtin_spec = ModelSpec::builtin(StyleBlend::parse("mosaic")?);
    let batch = RgbBatch { width: w, height: h, frames: vec![picture(w, h)] };
    let mut by_precision = Vec::new();
    for precision in crate::model::precisions(device) {
        let mut arbitrary = TorchModel::load_with_threads(&arbitrary_spec, device, precision, threads)?;
        let mut builtin = TorchModel::load_with_threads(&builtin_spec, device, precision, threads)?;
        for model in [&mut arbitrary, &mut builtin] {
            for _ in 0..3 {
                model.stylize(batch.clone())?;
            }
        }
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            a.push(frames_per_sec(&mut arbitrary, &batch)?);
            b.push(frames_per_sec(&mut builtin, &batch)?);
        }
        let (arbitrary_fps, builtin_fps) = (crate::model::median(&a), crate::model::median(&b));
        by_precision.push(StyleCost {
            precision: precision.name().into(),
            arbitrary_fps,
            builtin_fps,
            cost_ratio: builtin_fps / arbitrary_fps.max(f64::MIN_POSITIVE),
        });
    }
    let (arbitrary_fps, builtin_fps) = (by_precision[0].arbitrary_fps, by_precision[0].builtin_fps);

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
        by_precision,
        learn_step_secs,
        learn_size: size,
    })
}
