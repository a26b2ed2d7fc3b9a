//! End-to-end tests of `stylize submit` on one machine: the output keeps
//! the input's frames, rate, duration, audio bytes and rotation, is really
//! stylized, and is the same bytes every time.

mod util;

use util::*;

/// Frame count, exact rate, size and duration (within one frame) match;
/// every audio stream's packets are byte-identical to the input's.
fn assert_same_timing_and_audio(input: &std::path::Path, output: &std::path::Path, spec: &ClipSpec) {
    let (pi, po) = (probe(input), probe(output));
    let (vi, vo) = (video_stream(&pi), video_stream(&po));
    assert_eq!(vo["nb_read_frames"], vi["nb_read_frames"], "frame count");
    assert_eq!(vo["nb_read_frames"].as_str().unwrap(), spec.frames.to_string());
    assert_eq!(vo["avg_frame_rate"], vi["avg_frame_rate"], "frame rate");
    assert_eq!(vo["r_frame_rate"], vi["r_frame_rate"], "frame rate");
    assert_eq!((vo["width"].clone(), vo["height"].clone()), (vi["width"].clone(), vi["height"].clone()));
    let frame = 1.0 / rate_f64(spec.rate);
    let (di, dout) = (
        vi["duration"].as_str().unwrap().parse::<f64>().unwrap(),
        vo["duration"].as_str().unwrap().parse::<f64>().unwrap(),
    );
    assert!((di - dout).abs() < frame, "video duration {dout} vs input {di}");
    assert!((duration(&pi) - duration(&po)).abs() < frame, "container duration");
    let (ai, ao) = (audio_streams(&pi), audio_streams(&po));
    assert_eq!(ao.len(), ai.len(), "audio stream count");
    for k in 0..ai.len() {
        assert_eq!(audio_md5(output, k), audio_md5(input, k), "audio stream {k} bytes");
        assert_eq!(ao[k]["codec_name"], ai[k]["codec_name"]);
        assert_eq!(ao[k]["nb_read_frames"], ai[k]["nb_read_frames"]);
    }
}

#[test]
fn uneven_frame_count_keeps_frames_rate_duration_and_audio() {
    let dir = tempfile::tempdir().unwrap();
    // 101 frames in shards of 24 (keyframe every 12): 5 shards, the last one short.
    let spec = ClipSpec { frames: 101, gop: 12, ..ClipSpec::default() };
    let input = make_clip(dir.path(), "uneven.mp4", &spec);
    let output = submit_ok(&input, &dir.path().join("out"), &["--style", "mosaic", "--shard-frames", "24"]);
    output_key(&[output.file_name().unwrap().to_string_lossy().into_owned()], "uneven.mosaic");
    assert_same_timing_and_audio(&input, &output, &spec);
}

#[test]
fn exact_frame_rates_survive() {
    let dir = tempfile::tempdir().unwrap();
    for (k, rate) in ["30000/1001", "60", "24000/1001"].into_iter().enumerate() {
        let spec = ClipSpec { rate, frames: 40, gop: 15, ..ClipSpec::default() };
        let input = make_clip(dir.path(), &format!("rate{k}.mp4"), &spec);
        let output =
            submit_ok(&input, &dir.path().join(format!("out{k}")), &["--style", "starry", "--shard-frames", "16"]);
        assert_same_timing_and_audio(&input, &output, &spec);
        assert_eq!(video_stream(&probe(&output))["avg_frame_rate"].as_str().unwrap(), rate.replace("60", "60/1"));
    }
}

#[test]
fn no_audio_and_several_audio_streams() {
    let dir = tempfile::tempdir().unwrap();
    for audio in [0, 2] {
        let spec = ClipSpec { audio, frames: 30, ..ClipSpec::default() };
        let input = make_clip(dir.path(), &format!("a{audio}.mp4"), &spec);
        let output = submit_ok(&input, &dir.path().join(format!("out{audio}")), &[]);
        assert_same_timing_and_audio(&input, &output, &spec);
        assert_eq!(audio_streams(&probe(&output)).len(), audio as usize);
    }
}

#[test]
fn keyframe_every_frame_and_one_keyframe_only() {
    let dir = tempfile::tempdir().unwrap();
    for (gop, bframes) in [(1, false), (300, true)] {
        let spec = ClipSpec { gop, bframes, frames: 45, ..ClipSpec::default() };
        let input = make_clip(dir.path(), &format!("g{gop}.mp4"), &spec);
        let output = submit_ok(&input, &dir.path().join(format!("out{gop}")), &["--shard-frames", "10"]);
        assert_same_timing_and_audio(&input, &output, &spec);
    }
}

#[test]
fn rotation_metadata_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClipSpec { rotate: Some(90), frames: 20, ..ClipSpec::default() };
    let input = make_clip(dir.path(), "rot.mp4", &spec);
    let rotation = |p: &serde_json::Value| video_stream(p)["side_data_list"][0]["rotation"].clone();
    assert!(rotation(&probe(&input)).is_i64(), "the test clip has a display matrix");
    let output = submit_ok(&input, &dir.path().join("out"), &[]);
    assert_eq!(rotation(&probe(&output)), rotation(&probe(&input)));
    // The summary gives the size as it displays (portrait), and says why.
    let out = submit(&input, &dir.path().join("again"), &[]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.lines().any(|l| l.starts_with("  72x128 (rotated ")), "{said}");
}

/// A decoded output frame is the model applied to the decoded input frame
/// (up to colour conversion and x264), and far from the input itself.
#[test]
fn frames_are_really_stylized() {
    use stylize_models::styles::StyleBlend;
    use stylize_models::torch::{DeviceChoice, ModelSpec, Precision, TorchModel};
    use stylize_models::{RgbBatch, StyleModel};

    let dir = tempfile::tempdir().unwrap();
    let spec = ClipSpec { frames: 30, ..ClipSpec::default() };
    let input = make_clip(dir.path(), "look.mp4", &spec);
    let output =
        submit_ok(&input, &dir.path().join("out"), &["--style", "starry", "--crf", "12", "--deflicker", "off"]);
    let mut model =
        TorchModel::load(&ModelSpec::builtin(StyleBlend::parse("starry").unwrap()), DeviceChoice::Cpu, Precision::Fp32)
            .unwrap();
    for n in [0, 17, 29] {
        let source = frame_rgb(&input, n);
        let direct =
            model.stylize(RgbBatch { width: 128, height: 72, frames: vec![source.clone()] }).unwrap().frames.remove(0);
        let direct = through_yuv420(&direct, 128, 72);
        let produced = frame_rgb(&output, n);
        let to_model = psnr(&produced, &direct);
        let to_input = psnr(&produced, &source);
        assert!(to_model > 35.0, "frame {n}: {to_model:.1} dB from the model's own output");
        assert!(to_input < 20.0, "frame {n}: {to_input:.1} dB from the input: not stylized");
    }
}

#[test]
fn odd_size_is_padded_for_the_model_and_cropped_back() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClipSpec { width: 642, height: 362, frames: 12, gop: 6, audio: 1, ..ClipSpec::default() };
    let input = make_clip(dir.path(), "odd.mp4", &spec);
    let output = submit_ok(
        &input,
        &dir.path().join("out"),
        &["--style", "mosaic", "--batch", "2", "--crf", "12", "--deflicker", "off"],
    );
    assert_same_timing_and_audio(&input, &output, &spec);
    // The right and bottom edges are stylized content, not padding garbage:
    // in the last columns and rows the output is the model's own output on
    // the whole frame, and far from the input.
    use stylize_models::styles::StyleBlend;
    use stylize_models::torch::{DeviceChoice, ModelSpec, Precision, TorchModel};
    use stylize_models::{RgbBatch, StyleModel};
    let mut model =
        TorchModel::load(&ModelSpec::builtin(StyleBlend::parse("mosaic").unwrap()), DeviceChoice::Cpu, Precision::Fp32)
            .unwrap();
    let (w, h) = (spec.width as usize, spec.height as usize);
    let source = frame_rgb(&input, 5);
    let direct = model.stylize(RgbBatch { width: 642, height: 362, frames: vec![source.clone()] }).unwrap();
    let direct = through_yuv420(&direct.frames[0], 642, 362);
    let produced = frame_rgb(&output, 5);
    // Pixels of the last 4 columns, then of the last 4 rows.
    let band = |img: &[u8], right: bool| -> Vec<u8> {
        let mut out = Vec::new();
        for y in 0..h {
            for x in 0..w {
                if (right && x >= w - 4) || (!right && y >= h - 4) {
                    out.extend_from_slice(&img[(y * w + x) * 3..][..3]);
                }
            }
        }
        out
    };
    for (right, edge) in [(true, "right"), (false, "bottom")] {
        let to_model = psnr(&band(&produced, right), &band(&direct, right));
        let to_input = psnr(&band(&produced, right), &band(&source, right));
        assert!(to_model > 30.0, "{edge} edge: {to_model:.1} dB from the model's own output");
        assert!(to_input < 20.0, "{edge} edge: {to_input:.1} dB from the input: not stylized");
    }
}

#[test]
fn the_same_job_twice_gives_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClipSpec { frames: 40, ..ClipSpec::default() };
    let input = make_clip(dir.path(), "twice.mp4", &spec);
    let a = submit_ok(&input, &dir.path().join("a"), &["--shard-frames", "12"]);
    let b = submit_ok(&input, &dir.path().join("b"), &["--shard-frames", "12"]);
    assert_eq!(digest(&a), digest(&b));
}

/// A job whose stored segments are partly gone redoes only those shards,
/// and its output is byte-identical to an uninterrupted run.
#[test]
fn rerun_redoes_only_missing_shards() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClipSpec { frames: 48, gop: 12, ..ClipSpec::default() };
    let input = make_clip(dir.path(), "resume.mp4", &spec);
    let store = dir.path().join("out");
    let first = digest(&submit_ok(&input, &store, &["--shard-frames", "12"]));
    let jobs: Vec<_> = std::fs::read_dir(store.join("jobs")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(jobs.len(), 1);
    let segments = jobs[0].join("segments");
    let mut names: Vec<_> = std::fs::read_dir(&segments).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    assert_eq!(names.len(), 4, "48 frames in shards of 12");
    // As if the job had died before its stitch: no output yet, one
    // segment lost and one damaged.
    let committed = outputs_in(&store).remove(0);
    std::fs::remove_file(&committed).unwrap();
    std::fs::remove_file(&names[1]).unwrap();
    std::fs::write(&names[3], b"corrupt").unwrap();
    let out = submit(&input, &store, &["--shard-frames", "12", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["shards_reused"], 2);
    let redone: Vec<u64> = report["timings"].as_array().unwrap().iter().map(|t| t["shard"].as_u64().unwrap()).collect();
    assert_eq!(redone, vec![1, 3]);
    let second = digest(&outputs_in(&store)[0]);
    assert_eq!(first, second);
    // The flicker figures cover the reused shards too (kept in the
    // manifest with their segments).
    assert_eq!(report["flicker"]["output"]["frames"], 48, "{}", report["flicker"]);

    // Once committed, the same command again redoes nothing.
    let out = submit(&input, &store, &["--shard-frames", "12", "--json"]);
    let again: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again["shards_reused"], 4);
    assert!(again["timings"].as_array().unwrap().is_empty());
    assert_eq!(digest(&outputs_in(&store)[0]), first);

    // `jobs list|show|clean` see and remove the job's state, not its output.
    let list = stylize().args(["jobs", "list", "-o"]).arg(&store).output().unwrap();
    let text = String::from_utf8_lossy(&list.stdout);
    let id = report["job"].as_str().unwrap();
    assert!(
        text.contains(id) && text.contains("4/4") && text.contains(" done ") && text.contains("resume.fauve."),
        "{text}"
    );
    let show = stylize().args(["jobs", "show", id, "-o"]).arg(&store).output().unwrap();
    let shown: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(shown["done"], serde_json::json!([0, 1, 2, 3]));
    assert_eq!(shown["frames"], 48);
    let clean = stylize().args(["jobs", "clean", id, "-o"]).arg(&store).output().unwrap();
    assert!(clean.status.success());
    assert!(!store.join("jobs").join(id).exists());
    assert_eq!(outputs_in(&store).len(), 1, "the output stays");
}

/// `--model`: a user's TorchScript module in the 0-255 range (here the
/// negative of the image) is applied to every frame.
#[test]
fn user_torchscript_model_in_byte_range() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClipSpec { frames: 20, ..ClipSpec::default() };
    let input = make_clip(dir.path(), "user.mp4", &spec);
    let model = model_dir().join("test/invert255.pt");
    let output = submit_ok(
        &input,
        &dir.path().join("out"),
        &["--model", model.to_str().unwrap(), "--range", "0-255", "--crf", "12", "--deflicker", "off"],
    );
    output_key(&[output.file_name().unwrap().to_string_lossy().into_owned()], "user.invert255");
    assert_same_timing_and_audio(&input, &output, &spec);
    let source = frame_rgb(&input, 10);
    let negative: Vec<u8> = through_yuv420(&source.iter().map(|v| 255 - v).collect::<Vec<u8>>(), 128, 72);
    let got = psnr(&frame_rgb(&output, 10), &negative);
    assert!(got > 35.0, "{got:.1} dB from the negative");
}

#[test]
fn style_blends_differ_from_their_parts() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClipSpec { frames: 10, audio: 0, ..ClipSpec::default() };
    let input = make_clip(dir.path(), "blend.mp4", &spec);
    let blend = submit_ok(&input, &dir.path().join("b"), &["--style", "starry:0.5,mosaic:0.5"]);
    output_key(&[blend.file_name().unwrap().to_string_lossy().into_owned()], "blend.starry-50+mosaic-50");
    let starry = submit_ok(&input, &dir.path().join("s"), &["--style", "16"]);
    let mosaic = submit_ok(&input, &dir.path().join("m"), &["--style", "mosaic"]);
    let (fb, fs, fm) = (frame_rgb(&blend, 3), frame_rgb(&starry, 3), frame_rgb(&mosaic, 3));
    assert!(psnr(&fb, &fs) < 30.0 && psnr(&fb, &fm) < 30.0 && psnr(&fs, &fm) < 30.0);
}

/// `--precision bf16`: close to fp32 (PSNR of 40 dB or more on a frame,
/// coded losslessly so the encoder hides nothing), and the same bytes on
/// a second run.
#[test]
fn bf16_is_close_to_fp32_and_deterministic() {
    let dir = tempfile::tempdir().unwrap();
    let clip =
        make_clip(dir.path(), "clip.mp4", &ClipSpec { width: 160, height: 96, frames: 12, ..ClipSpec::default() });
    let base = ["--deflicker", "off", "--no-flicker-report", "--crf", "0"];
    let bf16_args = [&base[..], &["--precision", "bf16"]].concat();
    let fp32 = submit_ok(&clip, &dir.path().join("a"), &[&base[..], &["--precision", "fp32"]].concat());
    let bf16 = submit_ok(&clip, &dir.path().join("b"), &bf16_args);
    let again = submit_ok(&clip, &dir.path().join("c"), &bf16_args);
    assert_eq!(digest(&bf16), digest(&again), "bf16 is deterministic");
    let p = psnr(&frame_rgb(&fp32, 5), &frame_rgb(&bf16, 5));
    assert!((40.0..90.0).contains(&p), "bf16 against fp32: {p:.1} dB");

    // `auto` (the default) takes bf16 exactly where this CPU computes it,
    // says so in the report, and gives bf16's bytes (or fp32's).
    let out = submit(&clip, &dir.path().join("d"), &[&base[..], &["--json"]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let model = report["model"].as_str().unwrap();
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap();
    let has_bf16 = cpuinfo.split_whitespace().any(|f| f == "avx512_bf16" || f == "amx_bf16");
    let auto = outputs_in(&dir.path().join("d")).remove(0);
    if has_bf16 {
        assert!(model.contains("(bf16, auto: "), "{model}");
        assert_eq!(digest(&auto), digest(&bf16));
    } else {
        assert!(model.contains("(fp32"), "{model}");
        assert_eq!(digest(&auto), digest(&fp32));
    }
}
