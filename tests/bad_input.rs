//! Bad input: one line `stylize: error: <file>: <cause>`, exit status 1,
//! and nothing written anywhere: no output, and no folder the job made.

mod util;

use std::path::Path;

use util::*;

/// Run submit and check the one-line error names `names` and says `cause`,
/// and that the store holds no output.
fn refused(input: &Path, store: &Path, extra: &[&str], names: &str, cause: &str) {
    refused_with(1, input, store, extra, names, cause);
}

/// A mistake on the command line (an unknown style name) exits 2, like a
/// bad flag, with the same one line.
fn refused_with(code: i32, input: &Path, store: &Path, extra: &[&str], names: &str, cause: &str) {
    let existed = store.exists();
    let out = submit(input, store, extra);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{}: {stderr}", input.display());
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one line: {stderr}");
    assert!(lines[0].starts_with("stylize: error: "), "{stderr}");
    assert!(lines[0].contains(names), "names {names}: {stderr}");
    assert!(lines[0].contains(cause), "says {cause}: {stderr}");
    assert!(outputs_in(store).is_empty(), "no output left in {}", store.display());
    assert!(existed || !store.exists(), "refused, yet {} was made", store.display());
}

/// `ffmpeg -f lavfi -i SOURCE ARGS... out`: the file made.
fn lavfi(out: &Path, source_and_args: &[&str]) -> std::path::PathBuf {
    let mut args: Vec<String> = ["-v", "error", "-f", "lavfi", "-i"].iter().map(|s| s.to_string()).collect();
    args.extend(source_and_args.iter().map(|s| s.to_string()));
    args.push(out.to_string_lossy().into_owned());
    run_ok("ffmpeg", &args);
    out.to_path_buf()
}

#[test]
fn missing_empty_text_image_and_audio_only_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let store = d.join("out");
    refused(&d.join("nope.mp4"), &store, &[], "nope.mp4", "no such file");

    std::fs::write(d.join("empty.mp4"), b"").unwrap();
    refused(&d.join("empty.mp4"), &store, &[], "empty.mp4", "empty file");

    std::fs::write(d.join("notes.mp4"), "just some text, not a video\n".repeat(20)).unwrap();
    refused(&d.join("notes.mp4"), &store, &[], "notes.mp4", "not a readable video");

    let png = d.join("still.png");
    image::RgbImage::from_pixel(64, 48, image::Rgb([200, 30, 30])).save(&png).unwrap();
    refused(&png, &store, &[], "still.png", "still image");

    let audio = lavfi(&d.join("sound.m4a"), &["sine=d=1", "-c:a", "aac"]);
    refused(&audio, &store, &[], "sound.m4a", "no video stream");

    // Its size as it is (15x15 was once said as 14x14), and no folder
    // left of the store's new path.
    let tiny = lavfi(&d.join("tiny.mkv"), &["color=red:s=15x15:r=25:d=0.4,format=yuv444p", "-c:v", "ffv1"]);
    refused(&tiny, &d.join("new/deeper/out"), &[], "tiny.mkv", "15x15 is too small");
    assert!(!d.join("new").exists());
}

#[test]
fn truncated_file() {
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), "whole.mp4", &ClipSpec { frames: 30, ..ClipSpec::default() });
    let bytes = std::fs::read(&clip).unwrap();
    let cut = dir.path().join("cut.mp4");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    refused(&cut, &dir.path().join("out"), &[], "cut.mp4", "not a readable video");
}

#[test]
fn unknown_style_and_wrong_model() {
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), "ok.mp4", &ClipSpec { frames: 10, ..ClipSpec::default() });
    let store = dir.path().join("out");
    refused_with(2, &clip, &store, &["--style", "picasso"], "picasso", "unknown style");
    refused_with(2, &clip, &store, &["--style", "mosaic:0.5,nope"], "mosaic:0.5,nope", "unknown style 'nope'");
    refused_with(2, &clip, &store, &["--style", "mosiac"], "mosiac", "did you mean 'mosaic'?");
    refused_with(2, &clip, &store, &["--style", "mosaic:x"], "mosaic:x", "not a number");
    refused_with(2, &clip, &store, &["--style", "mosaic:0,starry:0"], "mosaic:0,starry:0", "add up to zero");
    // Conflicting style flags are refused by the command line itself.
    let out = submit(&clip, &store, &["--style", "mosaic", "--model", "m.pt"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    let out = submit(&clip, &store, &["--range", "0-255"]);
    assert_eq!(out.status.code(), Some(2), "--range needs --model: {}", String::from_utf8_lossy(&out.stderr));
    let half = model_dir().join("test/half_size.pt");
    refused(&clip, &store, &["--model", half.to_str().unwrap()], "half_size.pt", "not an image-to-image model");
    let junk = dir.path().join("junk.pt");
    std::fs::write(&junk, b"not torchscript").unwrap();
    refused(&clip, &store, &["--model", junk.to_str().unwrap()], "junk.pt", "cannot load TorchScript model");
    refused(&clip, &store, &["--model", "/no/such/model.pt"], "/no/such/model.pt", "no such file");
    assert!(!store.join("jobs").exists(), "a refused model leaves no job state");
}

#[test]
fn unwritable_output_path() {
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), "ok.mp4", &ClipSpec { frames: 10, ..ClipSpec::default() });
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    refused(&clip, &file.join("store"), &[], "a-file/store", "cannot create store directory");
}
