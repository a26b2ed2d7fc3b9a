//! png: the timeline as a picture for a README or a ticket: a lane per
//! worker, a bar per shard attempt (green done, red failed).

use std::path::Path;

use plotters::prelude::*;
use stylize_engine::Manifest;

use crate::model::{Outcome, Timeline};
use crate::TimelineError;

const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Draw the timeline of `manifest` into `path` (`width` x `height` pixels).
pub fn draw_png(manifest: &Manifest, path: &Path, (width, height): (u32, u32)) -> Result<(), TimelineError> {
    let fail = |reason: String| TimelineError::Write { path: path.display().to_string(), reason };
    // plotters draws text with a font we hand it: DejaVu, from Debian's
    // fonts-dejavu-core (scripts/setup.sh installs it).
    let font = std::fs::read(FONT).map_err(|e| fail(format!("{FONT}: {e}")))?;
    let font: &'static [u8] = Box::leak(font.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, font)
        .map_err(|_| fail(format!("{FONT}: not a font")))?;
    let t = Timeline::of(manifest);
    let root = BitMapBackend::new(path, (width, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    let lanes = t.workers.len().max(1);
    let mut chart = ChartBuilder::on(&root)
        .caption(format!("job {} ({} of {} shards)", t.job, t.shards.1, t.shards.0), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(200)
        .build_cartesian_2d(0f64..t.span, 0f64..lanes as f64)
        .map_err(|e| fail(e.to_string()))?;
    let workers = t.workers.clone();
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc("seconds")
        .y_labels(lanes * 2 + 1)
        .y_label_formatter(&|y| {
            let k = (y - 0.5).round();
            if (y - 0.5 - k).abs() < 1e-6 && k >= 0.0 {
                workers.get(k as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .draw()
        .map_err(|e| fail(e.to_string()))?;
    chart
        .draw_series(t.attempts.iter().map(|a| {
            let lane = t.lane_of(a) as f64;
            let colour = match a.outcome {
                Outcome::Done => RGBColor(44, 160, 44),
                Outcome::Failed => RGBColor(214, 39, 40),
                Outcome::Running => RGBColor(31, 119, 180),
            };
            Rectangle::new(
                [(a.start, lane + 0.15), (a.end.max(a.start + t.span / 500.0), lane + 0.85)],
                colour.filled(),
            )
        }))
        .map_err(|e| fail(e.to_string()))?;
    root.present().map_err(|e| fail(e.to_string()))?;
    Ok(())
}
