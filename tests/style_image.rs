//! Bring your own painting: `--style-image`, saved styles (`styles add`,
//! then `--style NAME`, blends of them), and the bad inputs around them.

mod util;

use std::path::{Path, PathBuf};

use util::*;

fn painting_blue_stripes(dir: &Path) -> PathBuf {
    let mut img = image::RgbImage::from_pixel(200, 160, image::Rgb([20, 40, 200]));
    for (_, y, p) in img.enumerate_pixels_mut() {
        if y % 16 < 6 {
            *p = image::Rgb([120, 170, 255]);
        }
    }
    let path = dir.join("blue-stripes.png");
    img.save(&path).unwrap();
    path
}

fn painting_red_dots(dir: &Path) -> PathBuf {
    let mut img = image::RgbImage::from_pixel(200, 160, image::Rgb([200, 30, 20]));
    for (x, y, p) in img.enumerate_pixels_mut() {
        let (dx, dy) = (x as i32 % 20 - 9, y as i32 % 20 - 9);
        if dx * dx + dy * dy < 25 {
            *p = image::Rgb([255, 200, 60]);
        }
    }
    let path = dir.join("red-dots.jpg");
    img.save(&path).unwrap();
    path
}

/// Mean blue minus mean red of a whole video's frames.
fn blueness(video: &Path, frames: u32) -> f64 {
    (0..frames)
        .step_by(4)
        .map(|n| {
            let f = frame_rgb(video, n);
            let px = f.len() as f64 / 3.0;
            let (r, b): (f64, f64) =
                f.chunks(3).fold((0.0, 0.0), |(r, b), p| (r + f64::from(p[0]), b + f64::from(p[2])));
            (b - r) / px
        })
        .sum::<f64>()
}

fn styles_env(cmd: &mut std::process::Command, dir: &Path) {
    cmd.env("STYLIZE_STYLES", dir.join("styles"));
}

/// `stylize submit CLIP -o DIR/STORE ARGS…` with the saved styles of `dir`.
fn submit_here(dir: &Path, clip: &Path, store: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = stylize();
    styles_env(&mut cmd, dir);
    cmd.current_dir(dir).arg("submit").arg(clip).arg("-o").arg(dir.join(store)).args(args).output().unwrap()
}

#[test]
fn the_output_follows_the_painting() {
    let dir = tempfile::tempdir().unwrap();
    let spec = ClipSpec { frames: 20, ..ClipSpec::default() };
    let clip = make_clip(dir.path(), "clip.mp4", &spec);
    let blue = submit_ok(
        &clip,
        &dir.path().join("blue"),
        &["--style-image", painting_blue_stripes(dir.path()).to_str().unwrap()],
    );
    let red =
        submit_ok(&clip, &dir.path().join("red"), &["--style-image", painting_red_dots(dir.path()).to_str().unwrap()]);
    output_key(&[blue.file_name().unwrap().to_string_lossy().into_owned()], "clip.blue-stripes");
    let (b, r) = (blueness(&blue, 20), blueness(&red, 20));
    assert!(b > r + 50.0, "blue painting gives blueness {b:.1}, red painting {r:.1}");
    // Like every submit: frames, rate, size and audio kept.
    let (pi, po) = (probe(&clip), probe(&blue));
    assert_eq!(video_stream(&po)["nb_read_frames"], video_stream(&pi)["nb_read_frames"]);
    assert_eq!(video_stream(&po)["avg_frame_rate"], video_stream(&pi)["avg_frame_rate"]);
    assert_eq!(video_stream(&po)["width"], video_stream(&pi)["width"]);
    assert_eq!(audio_md5(&blue, 0), audio_md5(&clip, 0));
}

#[test]
fn saved_styles_work_by_name_and_in_blends() {
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), "clip.mp4", &ClipSpec { frames: 8, audio: 0, ..ClipSpec::default() });
    for (name, painting) in [("sea", painting_blue_stripes(dir.path())), ("fire", painting_red_dots(dir.path()))] {
        let mut cmd = stylize();
        styles_env(&mut cmd, dir.path());
        let out = cmd.args(["styles", "add", name, "--from-image"]).arg(&painting).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let mut cmd = stylize();
    styles_env(&mut cmd, dir.path());
    let list = String::from_utf8(cmd.args(["styles", "list"]).output().unwrap().stdout).unwrap();
    assert!(list.contains("sea") && list.contains("fire"), "{list}");
    // A saved style is not replaced without --force.
    let styles = |args: &[&str]| {
        let mut cmd = stylize();
        styles_env(&mut cmd, dir.path());
        cmd.arg("styles").args(args).output().unwrap()
    };
    let blue = painting_blue_stripes(dir.path());
    let before = std::fs::read(dir.path().join("styles/fire.json")).unwrap();
    let out = styles(&["add", "fire", "--from-image", &blue.to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"));
    assert_eq!(std::fs::read(dir.path().join("styles/fire.json")).unwrap(), before);
    assert!(styles(&["add", "spare", "--from-image", &blue.to_string_lossy()]).status.success());
    assert!(styles(&["add", "spare", "--from-image", &blue.to_string_lossy(), "--force"]).status.success());
    assert!(styles(&["remove", "spare"]).status.success());
    assert!(!dir.path().join("styles/spare.json").exists());
    let out = styles(&["remove", "spare"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no saved style 'spare'"));
    let json: serde_json::Value = serde_json::from_slice(&styles(&["list", "--json"]).stdout).unwrap();
    let kinds: Vec<&str> = json["saved"].as_array().unwrap().iter().map(|s| s["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["painting", "painting"], "{json}");

    let run = |store: &str, style: &str| {
        let out = submit_here(dir.path(), &clip, store, &["--style", style]);
        assert!(out.status.success(), "{style}: {}", String::from_utf8_lossy(&out.stderr));
        outputs_in(&dir.path().join(store)).remove(0)
    };
    let sea = blueness(&run("sea", "sea"), 8);
    let fire = blueness(&run("fire", "fire"), 8);
    let mix = blueness(&run("mix", "sea:0.5,fire:0.5"), 8);
    assert!(sea > mix && mix > fire, "blueness sea {sea:.1} > mix {mix:.1} > fire {fire:.1}");

    // A saved style cannot blend with a built-in one (another network).
    // A mistake in the command line, as an unknown style is: exit 2.
    let out = submit_here(dir.path(), &clip, "x", &["--style", "sea:0.5,mosaic:0.5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot blend built-in style 'mosaic'"));
}

#[test]
fn bad_paintings_and_style_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let clip = make_clip(d, "clip.mp4", &ClipSpec { frames: 8, audio: 0, ..ClipSpec::default() });
    std::fs::write(d.join("notes.png"), "not an image at all").unwrap();
    std::fs::write(d.join("empty.jpg"), b"").unwrap();
    image::RgbImage::from_pixel(16, 12, image::Rgb([0, 0, 255])).save(d.join("tiny.png")).unwrap();
    std::fs::create_dir_all(d.join("styles")).unwrap();
    std::fs::write(d.join("styles/broken.json"), b"{ not json").unwrap();
    std::fs::write(d.join("styles/alien.json"), br#"{"model": "some-other-net", "values": [0.0]}"#).unwrap();
    let cases: [(&[&str], &str, &str); 6] = [
        (&["--style-image", "notes.png"], "notes.png", "not a readable image"),
        (&["--style-image", "empty.jpg"], "empty.jpg", "empty file"),
        (&["--style-image", "tiny.png"], "tiny.png", "too small"),
        (&["--style", "nonesuch"], "nonesuch", "unknown style"),
        (&["--style", "broken"], "broken.json", "not a saved style"),
        (&["--style", "alien"], "alien.json", "another model"),
    ];
    for (args, names, cause) in cases {
        let store = d.join("out");
        let out = submit_here(d, &clip, "out", args);
        let err = String::from_utf8_lossy(&out.stderr);
        let usage = args[1] == "nonesuch";
        assert_eq!(out.status.code(), Some(if usage { 2 } else { 1 }), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("stylize: error: ") && err.contains(names) && err.contains(cause), "{args:?}: {err}");
        assert!(outputs_in(&store).is_empty() && !store.join("jobs").exists(), "{args:?}: nothing written");
    }
}

#[test]
fn a_learned_style_runs_by_name_and_bad_learned_files_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let clip = make_clip(d, "clip.mp4", &ClipSpec { frames: 8, audio: 0, ..ClipSpec::default() });
    let painting = painting_red_dots(d);
    let mut cmd = stylize();
    styles_env(&mut cmd, d);
    let out = cmd
        .args(["styles", "learn"])
        .arg(&painting)
        .args(["--name", "mine", "--steps", "4", "--size", "64", "--device", "cpu"])
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("learned style mine") && stdout.contains("% of the closest built-in style's"), "{stdout}");
    // Piped, it says what it does before the first step, then the steps
    // with a readable loss.
    for line in ["stylize: loading the network and VGG-19", "stylize: trying the 26 built-in styles as a start"] {
        assert!(stderr.contains(line), "{line}: {stderr}");
    }
    assert!(stderr.contains("stylize: step 1/4: style loss 100% of the start's"), "{stderr}");
    assert!(stderr.contains("stylize: step 4/4: style loss "), "{stderr}");
    let saved: serde_json::Value = serde_json::from_slice(&std::fs::read(d.join("styles/mine.json")).unwrap()).unwrap();
    assert_eq!(saved["model"], "multistyle26-cin-v1");

    let out = submit_here(d, &clip, "o", &["--style", "mine", "--deflicker", "off"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let output = outputs_in(&d.join("o")).remove(0);
    output_key(&[output.file_name().unwrap().to_string_lossy().into_owned()], "clip.mine");
    // The learned style is not the built-in style it started from.
    let slot = saved["slot"].as_u64().unwrap().to_string();
    let builtin = submit_ok(&clip, &d.join("b"), &["--style", &slot, "--deflicker", "off"]);
    assert!(psnr(&frame_rgb(&output, 3), &frame_rgb(&builtin, 3)) < 40.0);

    // It blends with built-in styles (the same network), even the one
    // whose slot it took: between its two parts.
    let out = submit_here(d, &clip, "m", &["--style", &format!("mine:0.5,{slot}:0.5"), "--deflicker", "off"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mixed = outputs_in(&d.join("m")).remove(0);
    let (to_mine, to_builtin) =
        (psnr(&frame_rgb(&mixed, 3), &frame_rgb(&output, 3)), psnr(&frame_rgb(&mixed, 3), &frame_rgb(&builtin, 3)));
    let apart = psnr(&frame_rgb(&output, 3), &frame_rgb(&builtin, 3));
    assert!(to_mine > apart && to_builtin > apart, "blend {to_mine:.1}/{to_builtin:.1} dB, parts {apart:.1} dB apart");
    // One learned style per blend.
    std::fs::copy(d.join("styles/mine.json"), d.join("styles/mine2.json")).unwrap();
    let out = submit_here(d, &clip, "n", &["--style", "mine,mine2"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("one learned style per blend"));

    // A learned file for another network, or with rows that do not fit.
    std::fs::write(d.join("styles/bent.json"), br#"{"model": "multistyle26-cin-v1", "slot": 3, "rows": [[1.0, 2.0]]}"#)
        .unwrap();
    let out = submit_here(d, &clip, "x", &["--style", "bent"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.lines().count() == 1 && err.contains("does not fit this network"), "{err}");
    assert!(outputs_in(&d.join("x")).is_empty());
}

/// Ctrl-C while learning: one line saying nothing was saved, exit 130,
/// no style file and no scratch left.
#[test]
fn interrupted_learning_saves_nothing_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let painting = painting_red_dots(d);
    let tmp = d.join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let mut cmd = stylize();
    styles_env(&mut cmd, d);
    let mut child = cmd
        .args(["styles", "learn"])
        .arg(&painting)
        .args(["--name", "halfway", "--steps", "100000", "--size", "64", "--device", "cpu"])
        .env("TMPDIR", &tmp)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let log = Lines::of(&mut child);
    assert!(log.wait_for("stylize: step 1/", std::time::Duration::from_secs(120)), "{}", log.text());
    std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    let status = child.wait().unwrap();
    let err = log.all();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.lines().last().unwrap().contains("interrupted: style halfway not learned, nothing saved"), "{err}");
    assert!(!d.join("styles/halfway.json").exists());
    let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().collect();
    assert!(left.is_empty(), "scratch left: {left:?}");
}
