//! page: the job as one self-contained HTML page. Inline SVG only, no
//! script and no fetch: it opens from a file, a mail or a ticket, and
//! every bar says what it is on hover (its SVG `<title>`).

use std::fmt::Write as _;

use stylize_engine::{redact, Manifest};

use crate::model::{Outcome, Timeline};

/// Width of the drawing, lanes' labels included.
const WIDTH: f64 = 1000.0;
/// Room for the lanes' names.
const LABELS: f64 = 230.0;
const LANE: f64 = 26.0;

/// `s` safe inside HTML text and attributes.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

fn colour(o: Outcome) -> &'static str {
    match o {
        Outcome::Done => "#2ca02c",
        Outcome::Failed => "#d62728",
        Outcome::Running => "#1f77b4",
    }
}

/// The page of the job whose state is `manifest` (and whose committed
/// report is `report`, when it has one).
pub fn html(manifest: &Manifest, report: Option<&serde_json::Value>) -> String {
    let t = Timeline::of(manifest);
    let mut p = String::new();
    let status = format!("{:?}", t.status).to_lowercase();
    let _ = write!(
        p,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>stylize job {job}</title>\n\
         <style>body{{font:14px/1.4 sans-serif;margin:24px;color:#222}}h1{{font-size:20px}}h2{{font-size:16px;margin-top:28px}}\
         table{{border-collapse:collapse}}td,th{{padding:3px 10px;border-bottom:1px solid #ddd;text-align:left}}\
         .status-done{{color:#2ca02c}}.status-failed{{color:#d62728}}.status-running{{color:#1f77b4}}\
         pre{{background:#f6f6f6;padding:8px;overflow:auto}}svg text{{font:12px sans-serif}}</style></head><body>\n\
         <h1>Job {job} <span id=\"status\" class=\"status-{status}\">{status}</span></h1>\n",
        job = esc(&t.job)
    );
    let _ = writeln!(
        p,
        "<p id=\"summary\">{} of {} shards, {} of {} frames; {} worker{}; {:.1} s from the first shard's start to the last \
         one's end.<br>Input: {}<br>Output: {}</p>",
        t.shards.1,
        t.shards.0,
        t.frames.1,
        t.frames.0,
        t.workers.len(),
        if t.workers.len() == 1 { "" } else { "s" },
        t.span,
        esc(&redact(&manifest.input)),
        esc(&redact(manifest.output.as_deref().unwrap_or("(not committed)")))
    );
    if let Some(e) = &manifest.error {
        let _ = writeln!(p, "<p id=\"error\" class=\"status-failed\">{}</p>", esc(&redact(e)));
    }
    timeline_svg(&mut p, &t);
    rate_svg(&mut p, &t);
    slowest(&mut p, &t);
    failures(&mut p, &t);
    if let Some(flicker) = report.and_then(|r| r.get("flicker")).filter(|f| !f.is_null()) {
        let _ = writeln!(p, "<h2>Flicker</h2><pre id=\"flicker\">{}</pre>", esc(&pretty(flicker)));
    }
    let _ = writeln!(p, "<h2>Parameters</h2><pre id=\"params\">{}</pre>", esc(&redact(&pretty(&manifest.params))));
    p.push_str("</body></html>\n");
    p
}

fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

/// A lane per worker, a bar per attempt (green done, red failed).
fn timeline_svg(p: &mut String, t: &Timeline) {
    let height = 40.0 + LANE * t.workers.len().max(1) as f64;
    let scale = (WIDTH - LABELS - 20.0) / t.span;
    let _ = writeln!(
        p,
        "<h2>Timeline</h2><svg id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" \
         viewBox=\"0 0 {WIDTH} {height}\">"
    );
    for (k, w) in t.workers.iter().enumerate() {
        let y = 10.0 + LANE * k as f64;
        let _ = writeln!(
            p,
            "<text class=\"lane\" x=\"4\" y=\"{:.1}\">{}</text><line x1=\"{LABELS}\" x2=\"{}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"#eee\"/>",
            y + 16.0,
            esc(w),
            WIDTH - 10.0,
            y + LANE - 1.0,
            y + LANE - 1.0
        );
    }
    for a in &t.attempts {
        let y = 10.0 + LANE * t.lane_of(a) as f64 + 3.0;
        let x = LABELS + a.start * scale;
        let w = ((a.end - a.start) * scale).max(4.0);
        let worker = a.worker.as_ref().map_or_else(|| "unknown".into(), |w| w.to_string());
        let what = match (&a.cause, a.outcome) {
            (Some(c), _) => format!("failed: {}", redact(c)),
            (None, Outcome::Running) => "running".to_string(),
            (None, _) => format!("{} frames, {:.1} frames/s", a.frames, a.frames as f64 / (a.end - a.start).max(1e-3)),
        };
        let _ = writeln!(
            p,
            "<rect class=\"attempt\" data-shard=\"{}\" data-worker=\"{}\" data-outcome=\"{}\" x=\"{x:.1}\" y=\"{y:.1}\" \
             width=\"{w:.1}\" height=\"{:.1}\" fill=\"{}\" stroke=\"#fff\"><title>shard {} on {}: {:.1}-{:.1} s, {}</title></rect>",
            a.shard,
            esc(&worker),
            a.outcome.name(),
            LANE - 6.0,
            colour(a.outcome),
            a.shard,
            esc(&worker),
            a.start,
            a.end,
            esc(&what)
        );
    }
    let axis_y = height - 14.0;
    for k in 0..=5 {
        let secs = t.span * k as f64 / 5.0;
        let _ = writeln!(p, "<text x=\"{:.1}\" y=\"{axis_y:.1}\">{secs:.1} s</text>", LABELS + secs * scale - 8.0);
    }
    p.push_str("</svg>\n");
}

/// Frames per second over the job's time.
fn rate_svg(p: &mut String, t: &Timeline) {
    let buckets = 60;
    let rate = t.rate(buckets);
    let top = rate.iter().copied().fold(0.0, f64::max).max(1e-6);
    let (w, h) = (WIDTH - LABELS - 20.0, 120.0);
    let points: Vec<String> = rate
        .iter()
        .enumerate()
        .map(|(k, r)| format!("{:.1},{:.1}", LABELS + (k as f64 + 0.5) * w / buckets as f64, 10.0 + h - r / top * h))
        .collect();
    let _ = writeln!(
        p,
        "<h2>Frames per second</h2><svg id=\"rate\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{}\">\
         <text x=\"4\" y=\"20\">{top:.1} frames/s</text><text x=\"4\" y=\"{:.1}\">0</text>\
         <polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"{}\"/></svg>",
        h + 20.0,
        h + 10.0,
        points.join(" ")
    );
}

fn slowest(p: &mut String, t: &Timeline) {
    let rows = t.slowest(5);
    if rows.is_empty() {
        return;
    }
    p.push_str("<h2>Slowest shards</h2><table id=\"slowest\"><tr><th>shard</th><th>worker</th><th>frames</th><th>s a frame</th></tr>\n");
    for (a, per_frame) in rows {
        let worker = a.worker.as_ref().map_or_else(|| "unknown".into(), |w| w.to_string());
        let _ = writeln!(
            p,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{per_frame:.3}</td></tr>",
            a.shard,
            esc(&worker),
            a.frames
        );
    }
    p.push_str("</table>\n");
}

fn failures(p: &mut String, t: &Timeline) {
    let failed: Vec<_> = t.attempts.iter().filter(|a| a.outcome == Outcome::Failed).collect();
    if failed.is_empty() {
        return;
    }
    p.push_str("<h2>Retries and failures</h2><table id=\"failures\"><tr><th>shard</th><th>worker</th><th>at</th><th>cause</th></tr>\n");
    for a in failed {
        let worker = a.worker.as_ref().map_or_else(|| "unknown".into(), |w| w.to_string());
        let cause = redact(a.cause.as_deref().unwrap_or_default());
        let _ = writeln!(
            p,
            "<tr><td>{}</td><td>{}</td><td>{:.1} s</td><td>{}</td></tr>",
            a.shard,
            esc(&worker),
            a.end,
            esc(&cause)
        );
    }
    p.push_str("</table>\n");
}
