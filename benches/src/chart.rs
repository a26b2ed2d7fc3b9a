//! The chart of `stylize bench`: frames/s per device and method, one bar
//! each, readable at a glance (`bench.png`).

use std::path::Path;

use crate::error::{BenchError, Context, Result};
use plotters::prelude::*;

use super::Bench;

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

pub fn draw(bench: &Bench, path: &Path) -> Result<()> {
    // plotters draws text with a font we hand it; DejaVu comes with
    // Debian's fonts-dejavu-core (scripts/setup.sh installs it).
    let font = std::fs::read(FONT).with_context(|| format!("{FONT}: font for the chart"))?;
    let font: &'static [u8] = Box::leak(font.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, font)
        .map_err(|_| BenchError::Step(format!("{FONT}: not a usable font")))?;

    let mut bars: Vec<(String, f64, RGBColor)> = Vec::new();
    for r in &bench.runs {
        let tag = format!("{} {}", r.device, r.size);
        for precision in ["fp32", "bf16", "fp16"] {
            let best = r.model_only.iter().filter(|m| m.precision == precision).max_by(|a, b| a.fps.total_cmp(&b.fps));
            if let Some(m) = best {
                bars.push((
                    format!("{tag}  model alone ({} b{})", m.precision, m.batch),
                    m.fps,
                    RGBColor(120, 120, 120),
                ));
            }
        }
        for v in &r.end_to_end {
            let (label, color) = match v.name.as_str() {
                "default" => (format!("{tag}  stylize default ({})", r.default_precision), RGBColor(44, 160, 44)),
                name => (format!("{tag}  stylize {name}"), RGBColor(31, 119, 180)),
            };
            bars.push((label, v.fps, color));
        }
        if let Some(x) = &r.reference {
            bars.push((format!("{tag}  reference way"), x.fps, RGBColor(214, 39, 40)));
        }
    }
    // The CPU variants the model export tried (its own 640x360 frames), in
    // a paler grey: measured, labelled, shipped only past the bar.
    for v in crate::tried_variants(bench) {
        if let (Some(name), Some(ms), Some(db)) = (v["name"].as_str(), v["ms"].as_f64(), v["psnr_min_db"].as_f64()) {
            let shipped = if v["shipped"].as_bool() == Some(true) { "shipped" } else { "not shipped" };
            let quality = if db >= 100.0 { "exact".to_string() } else { format!("{db:.0} dB") };
            bars.push((format!("export: {name} ({quality}, {shipped})"), 1000.0 / ms, RGBColor(190, 190, 190)));
        }
    }
    let max = bars.iter().map(|b| b.1).fold(1.0, f64::max) * 1.15;
    let height = 150 + 40 * bars.len() as u32;
    let root = BitMapBackend::new(path, (1000, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| BenchError::Step(format!("{}: {e}", path.display())))?;
    let title = format!("stylize bench {} — {}", bench.date, bench.machine);
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .margin_bottom(45)
        .x_label_area_size(40)
        .y_label_area_size(330)
        .build_cartesian_2d(0.0..max, (0..bars.len()).into_segmented())
        .map_err(|e| BenchError::Step(format!("chart: {e}")))?;
    let labels: Vec<String> = bars.iter().map(|b| b.0.clone()).collect();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc("frames per second (higher is better)")
        .y_labels(bars.len())
        .y_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) => labels.get(*i).cloned().unwrap_or_default(),
            _ => String::new(),
        })
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(|e| BenchError::Step(format!("chart: {e}")))?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, (_, fps, color))| {
            let mut bar =
                Rectangle::new([(0.0, SegmentValue::Exact(i)), (*fps, SegmentValue::Exact(i + 1))], color.filled());
            bar.set_margin(6, 6, 0, 0);
            bar
        }))
        .map_err(|e| BenchError::Step(format!("chart: {e}")))?;
    chart
        .draw_series(bars.iter().enumerate().map(|(i, (_, fps, _))| {
            Text::new(format!("{fps:.1}"), (*fps + max * 0.01, SegmentValue::CenterOf(i)), ("sans-serif", 14))
        }))
        .map_err(|e| BenchError::Step(format!("chart: {e}")))?;
    if let Some(c) = &bench.ceiling {
        let line = format!(
            "pipeline ceiling ({} frames): stylize with a pass-through model {:.0} frames/s, FFmpeg alone {:.0}: {:.2}",
            c.frames, c.stylize_fps, c.ffmpeg_fps, c.ratio
        );
        root.draw(&Text::new(line, (20, height as i32 - 22), ("sans-serif", 14)))
            .map_err(|e| BenchError::Step(format!("chart: {e}")))?;
    }
    root.present().map_err(|e| BenchError::Step(format!("{}: {e}", path.display())))?;
    Ok(())
}
