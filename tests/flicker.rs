//! Temporal consistency: `--deflicker still|motion` cut the flicker of the
//! output where the input is still, while moving things still move; and
//! `stylize flicker` measures it, refusing videos it cannot compare.

mod util;

use std::path::{Path, PathBuf};

use util::*;

/// A still, noisy test pattern with a white square moving across it.
fn moving_box(dir: &Path) -> PathBuf {
    let path = dir.join("box.mp4");
    let args: Vec<String> = [
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "smptehdbars=s=160x96:r=25",
        "-f",
        "lavfi",
        "-i",
        "color=c=white:s=20x20:r=25",
        "-filter_complex",
        "[0]noise=alls=8:allf=t[bg];[bg][1]overlay=x='8+t*100':y=38:shortest=1",
        "-frames:v",
        "40",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-g",
        "20",
        "-crf",
        "18",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([path.to_string_lossy().into_owned()])
    .collect();
    run_ok("ffmpeg", &args);
    path
}

fn flicker_json(input: &Path, output: &Path) -> serde_json::Value {
    let out = stylize().arg("flicker").arg(input).arg(output).arg("--json").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Mean absolute difference of two frames over the pixels of `mask`.
fn masked_diff(a: &[u8], b: &[u8], mask: &[bool]) -> f64 {
    let (mut sum, mut n) = (0f64, 0u64);
    for (p, m) in mask.iter().enumerate() {
        if *m {
            for c in 0..3 {
                sum += (f64::from(a[p * 3 + c]) - f64::from(b[p * 3 + c])).abs();
            }
            n += 3;
        }
    }
    sum / n.max(1) as f64
}

#[test]
fn deflicker_cuts_still_flicker_and_follows_motion() {
    let dir = tempfile::tempdir().unwrap();
    let input = moving_box(dir.path());
    let mut outputs = Vec::new();
    let mut warp = Vec::new();
    for mode in ["off", "still", "motion"] {
        let out = submit_ok(&input, &dir.path().join(mode), &["--deflicker", mode, "--crf", "12"]);
        let report = flicker_json(&input, &out);
        warp.push(report["output"]["warp_error"].as_f64().unwrap());
        outputs.push((mode, out, report["output"]["instability"].as_f64().unwrap()));
    }
    // In words: the plain output shimmers or flickers over the input's
    // own noise, `still` is as steady as the input.
    let verdict = |out: &Path| {
        let out = stylize().arg("flicker").arg(&input).arg(out).output().unwrap();
        String::from_utf8_lossy(&out.stdout).lines().last().unwrap().to_string()
    };
    let (plain, still) = (verdict(&outputs[0].1), verdict(&outputs[1].1));
    assert!(!plain.starts_with("steady") && plain.contains("levels a frame over the input's own"), "{plain}");
    assert!(still.starts_with("steady"), "{still}");
    // Along the input's motion, `motion` is the most consistent of the three
    // (Lai et al.'s warping error), `still` next, the plain output last.
    assert!(warp[2] < warp[1] && warp[1] < warp[0], "warping errors off/still/motion: {warp:?}");
    let off = outputs[0].2;
    for (mode, _, instability) in &outputs[1..] {
        assert!(
            *instability <= 0.5 * off,
            "{mode}: {instability:.2} vs off {off:.2}: less than half the flicker expected"
        );
    }
    // `still` follows the square: where it just left, the output shows what
    // the plain model output shows there (no ghost of the square left
    // behind), differing far less than the plain output changed there.
    for n in [12u32, 20, 28] {
        let (prev, cur) = (frame_rgb(&input, n - 1), frame_rgb(&input, n));
        let white = |p: &[u8]| p.iter().all(|v| *v > 230);
        let moving: Vec<bool> = prev.chunks(3).zip(cur.chunks(3)).map(|(a, b)| white(a) && !white(b)).collect();
        assert!(moving.iter().filter(|m| **m).count() > 40, "the square moved in frame {n}");
        let off_frame = frame_rgb(&outputs[0].1, n);
        let change = masked_diff(&off_frame, &frame_rgb(&outputs[0].1, n - 1), &moving);
        // `motion` carries texture along the codec's block vectors, so its
        // pixels there may come from a neighbour; `still` must match.
        for (mode, out, _) in &outputs[1..2] {
            let d = masked_diff(&frame_rgb(out, n), &off_frame, &moving);
            assert!(
                d < 0.5 * change,
                "{mode}, frame {n}: moving pixels {d:.1} from the plain output, which changed by {change:.1}"
            );
        }
    }
}

#[test]
fn the_report_of_submit_carries_the_flicker_figures() {
    let dir = tempfile::tempdir().unwrap();
    let input = moving_box(dir.path());
    let out = submit(&input, &dir.path().join("o"), &["--json"]);
    assert!(out.status.success());
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = &report["flicker"];
    assert_eq!(f["output"]["frames"], 40);
    // The source's figures are the source measured as a video of its own
    // (`stylize flicker IN IN`): the same luma (from RGB converted with the
    // file's matrix and range) and the same sums, the one shard here
    // leaving out no pair.
    assert_eq!(report["shards"], 1);
    let own = flicker_json(&input, &input);
    for key in ["still_fraction", "instability", "warp_error"] {
        assert_eq!(f["source"][key], own["output"][key], "source {key}");
    }
    assert!(f["source"]["instability"].as_f64().unwrap() > 0.0);
    let warp = f["output"]["warp_error"].as_f64().unwrap();
    assert!(warp.is_finite() && warp > 0.0, "{warp}");
}

#[test]
fn flicker_refuses_videos_it_cannot_compare() {
    let dir = tempfile::tempdir().unwrap();
    let a = make_clip(dir.path(), "a.mp4", &ClipSpec { frames: 20, ..ClipSpec::default() });
    let bigger =
        make_clip(dir.path(), "b.mp4", &ClipSpec { width: 160, height: 96, frames: 20, ..ClipSpec::default() });
    let longer = make_clip(dir.path(), "c.mp4", &ClipSpec { frames: 30, ..ClipSpec::default() });
    for (other, cause) in [(&bigger, "is 160x96"), (&longer, "frame counts differ")] {
        let out = stylize().arg("flicker").arg(&a).arg(other).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1));
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.starts_with("stylize: error: ")
                && err.contains(other.file_name().unwrap().to_str().unwrap())
                && err.contains(cause),
            "{err}"
        );
    }
    let out = stylize().arg("flicker").arg(&a).arg(dir.path().join("missing.mp4")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.mp4"));
}

/// The report's figures, measured on the way through the job (on the
/// frames given to the encoder, shard by shard), agree with `stylize
/// flicker` measuring the committed file afterwards (the encoder's own
/// noise and the pairs across shard boundaries apart), and do not depend
/// on how many shards ran side by side.
#[test]
fn the_figures_measured_in_the_job_agree_with_a_second_pass() {
    let dir = tempfile::tempdir().unwrap();
    let input = moving_box(dir.path());
    let mut reports = Vec::new();
    for parallel in ["1", "2"] {
        let store = dir.path().join(format!("o{parallel}"));
        let args = ["--json", "--deflicker", "off", "--shard-frames", "10", "--parallel-shards", parallel];
        let out = submit(&input, &store, &args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        reports.push(serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap());
    }
    assert_eq!(reports[0]["flicker"], reports[1]["flicker"], "the figures depend on the plan only");
    let inline = &reports[0]["flicker"]["output"];
    let outputs = outputs_in(&dir.path().join("o1"));
    assert_eq!(outputs.len(), 1, "{outputs:?}");
    let again = flicker_json(&input, &outputs[0]);
    let after = &again["output"];
    let close = |key: &str, tolerance: f64| {
        let (a, b) = (inline[key].as_f64().unwrap(), after[key].as_f64().unwrap());
        assert!((a - b).abs() <= tolerance * b.abs().max(1e-9), "{key}: in the job {a}, after it {b}");
    };
    close("still_fraction", 0.1);
    close("instability", 0.25);
    close("warp_error", 0.25);
    assert!(inline["instability"].as_f64().unwrap() > 0.0);
}
