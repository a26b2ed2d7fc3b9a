//! A run's derived figures (efficiencies, what the default's extras
//! cost, speed-ups over the reference way), in frames/s and in CPU time a
//! frame, and the table printed at the end.

use stylize_models::torch::DeviceChoice;

use crate::end_to_end::{EndToEnd, Variant};
use crate::model::ModelOnly;
use crate::{device_name, tried_variants, Bench, Run};

/// A run's derived figures: efficiencies, the default job's cost, the
/// speed-ups over the reference way.
pub(crate) fn summarise(
    device: DeviceChoice,
    (width, height): (u32, u32),
    model_only: Vec<ModelOnly>,
    e2e: EndToEnd,
    batch: usize,
    default_precision: &str,
) -> Run {
    // The model alone at the job's batch, else its fastest.
    let model = |precision: &str| {
        let same = model_only.iter().filter(|m| m.precision == precision);
        same.clone().find(|m| m.batch == batch).or_else(|| same.max_by(|a, b| a.fps.total_cmp(&b.fps)))
    };
    let precision_of = |v: &Variant| v.precision_in(default_precision).to_string();
    let efficiency = e2e
        .variants
        .iter()
        .filter_map(|v| model(&precision_of(v)).filter(|m| m.fps > 0.0).map(|m| (v.name.clone(), v.fps / m.fps)))
        .collect();
    let cpu_over_model = e2e
        .variants
        .iter()
        .filter_map(|v| {
            model(&precision_of(v)).filter(|m| m.cpu_ms > 0.0).map(|m| (v.name.clone(), v.cpu_ms / m.cpu_ms - 1.0))
        })
        .collect();
    let variant = |name: &str| e2e.variants.iter().find(|v| v.name == name);
    let plain = variant(default_precision).map(|v| v.fps);
    let default = variant("default").map(|v| v.fps);
    // Each variant with the extras against the same precision without.
    let with_extras: Vec<(String, &Variant, &Variant)> = e2e
        .variants
        .iter()
        .filter(|v| v.deflicker != "off")
        .filter_map(|v| variant(&precision_of(v)).map(|p| (precision_of(v), v, p)))
        .collect();
    let extras_cost = with_extras.iter().map(|(p, v, plain)| (p.clone(), 1.0 - v.fps / plain.fps)).collect();
    let extras_cpu_cost = with_extras
        .iter()
        .filter(|(_, v, plain)| v.cpu_ms > 0.0 && plain.cpu_ms > 0.0)
        .map(|(p, v, plain)| (p.clone(), 1.0 - plain.cpu_ms / v.cpu_ms))
        .collect();
    let speedup_vs_reference = match &e2e.reference {
        Some(r) if r.fps > 0.0 => e2e.variants.iter().map(|v| (v.name.clone(), v.fps / r.fps)).collect(),
        _ => Vec::new(),
    };
    Run {
        device: device_name(device),
        size: format!("{width}x{height}"),
        frames: e2e.frames,
        model_only,
        end_to_end: e2e.variants,
        default_precision: default_precision.into(),
        efficiency,
        default_cost: plain.zip(default).map(|(p, d)| 1.0 - d / p),
        extras_cost,
        cpu_over_model,
        extras_cpu_cost,
        reference: e2e.reference,
        reference_rounds: e2e.reference_rounds,
        speedup_vs_reference,
    }
}

pub(crate) fn table(b: &Bench) -> String {
    let mut s = format!("{:<8} {:<10} {:<26} {:>10} {:>9}\n", "device", "size", "method", "frames/s", "CPU ms");
    let row = |s: &mut String, r: &Run, what: &str, fps: f64, cpu_ms: Option<f64>, note: &str| {
        let cpu = cpu_ms.map(|c| format!("{c:.1}")).unwrap_or_default();
        *s += &format!("{:<8} {:<10} {:<26} {:>10.2} {cpu:>9}   {note}\n", r.device, r.size, what, fps);
    };
    for r in &b.runs {
        for m in &r.model_only {
            let mut note = m.psnr_vs_fp32.map(|p| format!("PSNR {p:.1} dB vs fp32")).unwrap_or_default();
            if let Some(p) = m.share_of_peak {
                note += &format!(" {:.0}% of GPU peak", 100.0 * p);
            }
            row(&mut s, r, &format!("model b{} {}", m.batch, m.precision), m.fps, Some(m.cpu_ms), &note);
        }
        for v in &r.end_to_end {
            // The engine cannot beat the model it runs, nor a stage cost
            // less than nothing: such figures are the machine's noise.
            let mut note = match r.efficiency.iter().find(|e| e.0 == v.name) {
                Some((_, e)) if *e > 1.0 => format!("efficiency {e:.2}: noise (above 1), measure again"),
                Some((_, e)) => format!("efficiency {e:.2}"),
                None => String::new(),
            };
            if let Some((_, c)) = r.cpu_over_model.iter().find(|e| e.0 == v.name) {
                note += &format!(", CPU {:+.1}% over the model's", 100.0 * c);
                if *c < 0.0 {
                    note += ": noise";
                }
            }
            if let Some((_, x)) = r.speedup_vs_reference.iter().find(|e| e.0 == v.name) {
                note += &format!(", {x:.2}x the reference way");
            }
            if v.deflicker != "off" {
                let precision = v.precision_in(&r.default_precision);
                match r.extras_cost.iter().find(|e| e.0 == precision).map(|e| e.1) {
                    Some(c) if c < 0.0 => note += &format!(", deflicker+report cost {:.1}%: noise", 100.0 * c),
                    Some(c) => note += &format!(", deflicker+report cost {:.1}%", 100.0 * c),
                    None => {}
                }
                if let Some((_, c)) = r.extras_cpu_cost.iter().find(|e| e.0 == precision) {
                    note += &format!(" (CPU {:.1}%{})", 100.0 * c, if *c < 0.0 { ": noise" } else { "" });
                }
            }
            let what = if v.name == "default" {
                format!("engine default ({})", r.default_precision)
            } else {
                format!("engine {}", v.name)
            };
            row(&mut s, r, &what, v.fps, Some(v.cpu_ms), &note);
        }
        if let Some(x) = &r.reference {
            row(&mut s, r, "reference way", x.fps, None, "");
        }
    }
    for v in tried_variants(b) {
        let bar = &b.cpu_variants.as_ref().expect("tried")["bar"];
        s += &format!(
            "cpu variant (model export): {}: {} ms a 640x360 frame, {}x fp32, PSNR min {} dB: {}\n",
            v["name"].as_str().unwrap_or("?"),
            v["ms"],
            v["speedup_vs_fp32"],
            v["psnr_min_db"],
            if v["shipped"].as_bool() == Some(true) {
                "shipped".to_string()
            } else {
                format!("not shipped (the bar: {}x at {} dB)", bar["speedup"], bar["psnr_db"])
            }
        );
    }
    if let Some(c) = &b.ceiling {
        s += &format!(
            "pipeline ceiling ({} frames, medians of {}): FFmpeg {:.1} frames/s, stylize with a free model {:.1}: {:.2}\n",
            c.frames, c.repeats, c.ffmpeg_fps, c.stylize_fps, c.ratio
        );
    }
    if let Some(st) = &b.styles {
        let costs: Vec<String> = st
            .by_precision
            .iter()
            .map(|c| {
                format!(
                    "{} {:.2} frames/s vs 26-style {:.2} ({:.2}x the cost)",
                    c.precision, c.arbitrary_fps, c.builtin_fps, c.cost_ratio
                )
            })
            .collect();
        s += &format!(
            "styles ({}, {}): style vector {:.0} ms/painting; arbitrary transformer {}; learning {:.2} s/step at {}px\n",
            st.device,
            st.size,
            st.predict_ms,
            costs.join(", "),
            st.learn_step_secs,
            st.learn_size
        );
    }
    if let Some(m) = &b.memory {
        s += &format!(
            "peak RSS: {:.0} MB for {} frames, {:.0} MB for {} frames ({:.1} KiB a frame): {}\n",
            m.peak_rss_short_mb,
            m.short_frames,
            m.peak_rss_long_mb,
            m.long_frames,
            m.growth_per_frame_kib,
            if m.flat { "flat" } else { "GROWS with the clip" }
        );
    }
    for note in &b.skipped {
        s += &format!("skipped: {note}\n");
    }
    s
}
