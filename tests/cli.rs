//! The command line as users of ffmpeg, ripgrep and azcopy expect it:
//! `-o FILE`, `-y`/`-n`, names unique per input and settings, refused
//! schemes and secrets, Ctrl-C, progress for scripts, the conventions
//! (completions, man page, versions, JSON lists, boolean variables).

mod util;

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use util::*;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    v.sort();
    v
}

#[test]
fn output_file_is_written_exactly_and_kept_without_leave() {
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), "clip.mp4", &ClipSpec { frames: 24, ..ClipSpec::default() });
    let cache = dir.path().join("cache");
    let run = |extra: &[&str]| {
        stylize()
            .env("STYLIZE_CACHE", &cache)
            .arg("submit")
            .arg(&clip)
            .args(["--deflicker", "off", "--no-flicker-report"])
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };

    let out = run(&["-o", &dir.path().join("result.mp4").to_string_lossy()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let result = dir.path().join("result.mp4");
    assert!(result.is_file(), "a file, not a store folder");
    assert_eq!(files_in(dir.path()), ["cache", "clip.mp4", "result.mp4"], "nothing else beside it");
    assert!(cache.join("state/jobs").is_dir(), "the job's state lives in the cache");
    assert_eq!(video_stream(&probe(&result))["nb_read_frames"], "24");
    let first = std::fs::read(&result).unwrap();

    // The same job again: its own output, nothing to overwrite.
    assert!(run(&["-o", &result.to_string_lossy()]).status.success());
    // Other settings into the same file: refused up front (no terminal to
    // ask on), the file untouched; -n the same; -y replaces it.
    for flags in [vec![], vec!["-n"]] {
        let out = run(&[&["-o", &result.to_string_lossy(), "--style", "starry"], flags.as_slice()].concat());
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("result.mp4: already exists") && err.contains("-y"), "{err}");
        assert_eq!(std::fs::read(&result).unwrap(), first);
    }
    let out = run(&["-o", &result.to_string_lossy(), "--style", "starry", "-y"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_ne!(std::fs::read(&result).unwrap(), first, "replaced with -y");

    // The container follows the name.
    let mkv = dir.path().join("result.mkv");
    assert!(run(&["-o", &mkv.to_string_lossy()]).status.success());
    assert!(probe(&mkv)["format"]["format_name"].as_str().unwrap().contains("matroska"));

    // What cannot be an output is refused before any work, exit 2.
    for (o, says) in [
        ("-", "stdout"),
        ("x.avi", "cannot write .avi"),
        ("x.wav", "cannot write .wav"),
        ("x.gif", "cannot write .gif"),
        ("x.h264", "cannot write .h264"),
        ("x.webm", "WebM allows only"),
    ] {
        let out = run(&["-o", o]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(stderr(&out).contains(says), "{}", stderr(&out));
        assert!(!Path::new(o).exists() && !dir.path().join(o).exists(), "-o {o}: nothing made");
    }
    // Not even -y writes over the input.
    let before = std::fs::read(&clip).unwrap();
    let out = run(&["-o", &clip.to_string_lossy(), "-y"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("is the input itself"), "{}", stderr(&out));
    assert_eq!(std::fs::read(&clip).unwrap(), before);
    let out = run(&["-o", &dir.path().join("nowhere/x.mp4").to_string_lossy()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("nowhere/x.mp4") && stderr(&out).contains("no such directory"), "{}", stderr(&out));
}

#[test]
fn output_names_are_unique_per_input_path_and_settings() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let x = make_clip(dir.path(), "x.mp4", &ClipSpec { frames: 24, ..ClipSpec::default() });
    let y = dir.path().join("y.mp4");
    std::fs::copy(&x, &y).unwrap();
    let fast = ["--deflicker", "off", "--no-flicker-report", "--json"];
    let report = |out: Output| -> serde_json::Value {
        assert!(out.status.success(), "{}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };

    // `-o store` makes a folder though nothing said so: a warning, once
    // (the second run finds the folder), and never for `store/`.
    let said = |out: &Output| stderr(out).contains("not a video file name");
    let first = submit(&x, &store, &[&fast[..], &["--style", "starry:0.7,mosaic:0.3"]].concat());
    assert!(said(&first) && stderr(&first).contains(&format!("-o {}", store.display())), "{}", stderr(&first));
    let a = report(first);
    let second = submit(&x, &store, &[&fast[..], &["--style", "starry:0.3,mosaic:0.7"]].concat());
    assert!(!said(&second), "{}", stderr(&second));
    let b = report(second);
    let slash = format!("{}/", dir.path().join("marked").display());
    let marked = stylize().arg("submit").arg(&x).args(["-o", &slash]).args(fast).output().unwrap();
    assert!(marked.status.success() && !said(&marked), "{}", stderr(&marked));
    assert_ne!(a["output"], b["output"], "two blends, two names");
    let names = files_in(&store);
    output_key(&names, "x.starry-70+mosaic-30");
    output_key(&names, "x.starry-30+mosaic-70");

    // A copy under another name gets its own output; the work is reused.
    let c = report(submit(&y, &store, &[&fast[..], &["--style", "starry:0.7,mosaic:0.3"]].concat()));
    assert_eq!(c["job"], a["job"], "the same content and settings: the same job");
    assert_eq!(c["shards_reused"], c["shards"], "no frame stylized again");
    assert!(c["output"].as_str().unwrap().contains("y.starry-70+mosaic-30."), "{c}");
    assert_eq!(digest(Path::new(c["output"].as_str().unwrap())), digest(Path::new(a["output"].as_str().unwrap())));
    assert_eq!(outputs_in(&store).len(), 3);
}

#[test]
fn no_scheme_typo_or_secret_reaches_the_disk_or_the_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), "clip.mp4", &ClipSpec { frames: 12, ..ClipSpec::default() });
    let secret = "SECRETsig0123456789";
    let typo = format!("htps://acct.blob.core.windows.net/c/x.mp4?sv=2022-11-02&sig={secret}");
    let plain = format!("http://acct.blob.core.windows.net/c?sv=2022-11-02&sig={secret}");
    let cases: Vec<Vec<String>> = vec![
        vec!["submit".into(), typo.clone()],
        vec!["submit".into(), clip.to_string_lossy().into(), "-o".into(), typo.clone()],
        vec!["submit".into(), clip.to_string_lossy().into(), "-o".into(), plain.clone()],
        // A second positional: clap quotes it in its error.
        vec!["submit".into(), clip.to_string_lossy().into(), plain.replace("http:", "https:")],
    ];
    for args in cases {
        let out = stylize().current_dir(dir.path()).args(&args).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(!err.contains(secret) && !String::from_utf8_lossy(&out.stdout).contains(secret), "{err}");
    }
    assert_eq!(files_in(dir.path()), ["clip.mp4"], "no folder made from a URL");

    // --help shows no secret from the environment, and a URL can come
    // from a file instead of the command line (`ps` shows arguments).
    let help = stylize().args(["submit", "--help"]).env("STYLIZE_OUTPUT", &plain).output().unwrap();
    assert!(help.status.success());
    assert!(!String::from_utf8_lossy(&help.stdout).contains(secret));
    let watch_help = stylize().args(["watch", "--help"]).env("STYLIZE_QUEUE", &plain).output().unwrap();
    assert!(!String::from_utf8_lossy(&watch_help.stdout).contains(secret));
    let url_file = dir.path().join("input.url");
    std::fs::write(&url_file, format!("{typo}\n")).unwrap();
    let out = stylize().arg("submit").arg(format!("@{}", url_file.display())).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "the URL in the file is checked like one given: {}", stderr(&out));
    assert!(stderr(&out).contains("htps") && !stderr(&out).contains(secret), "{}", stderr(&out));
}

#[test]
fn conflicting_options_and_bad_variables_exit_2_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), "clip.mp4", &ClipSpec { frames: 12, ..ClipSpec::default() });
    let painting = dir.path().join("p.png");
    image::RgbImage::from_pixel(32, 32, image::Rgb([200, 30, 30])).save(&painting).unwrap();
    let p = painting.to_string_lossy().into_owned();
    for args in [
        vec!["--style", "starry", "--style-image", &p],
        vec!["--model", &p, "--style", "starry"],
        vec!["--model", &p, "--style-image", &p],
        vec!["--range", "0-255"],
        vec!["-y", "-n"],
    ] {
        let out = stylize().arg("submit").arg(&clip).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(stderr(&out).starts_with("error: "), "{}", stderr(&out));
    }
    // Booleans from the environment take 1/0, yes/no; a bad one names
    // the variable.
    let out = stylize().arg("submit").arg(&clip).env("STYLIZE_SAS_ONLY", "maybe").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("STYLIZE_SAS_ONLY"), "{}", stderr(&out));
    let out = stylize()
        .arg("submit")
        .arg(&clip)
        .args(["-o", &dir.path().join("out/").to_string_lossy(), "--deflicker", "off"])
        .env("STYLIZE_NO_FLICKER_REPORT", "yes")
        .env("STYLIZE_JSON", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("STYLIZE_JSON=1: a JSON report");
    assert!(report["flicker"].is_null(), "STYLIZE_NO_FLICKER_REPORT=yes: {report}");
}

/// Wait until `store` holds at least `n` finished segments of a job.
fn wait_for_segments(store: &Path, n: usize, child: &mut std::process::Child) {
    let start = Instant::now();
    loop {
        let count = std::fs::read_dir(store.join("jobs"))
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|job| std::fs::read_dir(job.path().join("segments")).ok())
            .flat_map(|d| d.flatten())
            .filter(|f| f.file_name().to_string_lossy().ends_with(".mp4"))
            .count();
        if count >= n {
            return;
        }
        assert!(child.try_wait().unwrap().is_none(), "the job ended before {n} segments");
        assert!(start.elapsed() < Duration::from_secs(120), "no segment stored");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn interrupt_keeps_the_shards_and_leaves_no_scratch() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    // What a killed run left: its scratch (its process gone).
    std::fs::create_dir_all(tmp.join("stylize-4194999/job-x")).unwrap();
    let clip = make_clip(
        dir.path(),
        "long.mp4",
        &ClipSpec { width: 256, height: 144, frames: 240, gop: 12, ..ClipSpec::default() },
    );
    let store = dir.path().join("store");
    let args = ["--shard-frames", "12", "--threads", "1", "--parallel-shards", "1", "--no-flicker-report"];
    let mut child = stylize()
        .env("TMPDIR", &tmp)
        .arg("submit")
        .arg(&clip)
        .arg("-o")
        .arg(&store)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_segments(&store, 2, &mut child);
    assert!(!tmp.join("stylize-4194999").exists(), "a killed run's scratch is removed by the next");
    assert!(tmp.join(format!("stylize-{}", child.id())).is_dir(), "this run's scratch lives under one folder");
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(130), "{err}");
    let line = err.lines().last().unwrap_or_default();
    assert!(
        line.starts_with("stylize: interrupted: ") && line.ends_with("run the same command again to resume"),
        "{err}"
    );
    let kept: usize = line["stylize: interrupted: ".len()..].split(' ').next().unwrap().parse().unwrap();
    assert!(kept >= 2, "{line}");
    assert!(line.contains(" of 20 shards kept"), "{line}");
    assert_eq!(files_in(&tmp), Vec::<String>::new(), "no scratch left");
    assert!(outputs_in(&store).is_empty(), "no partial output");

    // A write cut off half-way, and a damaged manifest: the next run
    // removes the one and starts over from the other, with the whole
    // video's counts in its progress.
    let job = std::fs::read_dir(store.join("jobs")).unwrap().next().unwrap().unwrap().path();
    std::fs::write(job.join("segments/.tmp-cut"), b"half a segment").unwrap();
    let out = stylize()
        .arg("submit")
        .arg(&clip)
        .arg("-o")
        .arg(&store)
        .args(args)
        .args(["--progress", "json", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["shards_reused"].as_u64().unwrap() >= kept as u64, "{report}");
    assert!(!job.join("segments/.tmp-cut").exists(), "the cut write is removed");
    let lines: Vec<serde_json::Value> =
        stderr(&out).lines().map(|l| serde_json::from_str(l).expect("one JSON object a line")).collect();
    let stages: Vec<&str> = lines.iter().map(|l| l["stage"].as_str().unwrap()).collect();
    for stage in ["probe", "model", "plan", "frames", "stitch", "done"] {
        assert!(stages.contains(&stage), "{stages:?}");
    }
    let first_frames = lines.iter().find(|l| l["stage"] == "frames").unwrap();
    assert_eq!(first_frames["frames"], 240, "whole-video counts on resume");
    assert!(first_frames["frames_done"].as_u64().unwrap() >= 24, "{first_frames}");
    assert_eq!(lines.last().unwrap()["frames_done"], 240);

    let first = outputs_in(&store);
    assert_eq!(first.len(), 1);
    let first = digest(&first[0]);
    std::fs::write(job.join("manifest.json"), b"{\"job\": \"trunc").unwrap();
    let out =
        stylize().arg("submit").arg(&clip).arg("-o").arg(&store).args(args).args(["-y", "--json"]).output().unwrap();
    assert!(out.status.success(), "a damaged manifest is not fatal: {}", stderr(&out));
    assert!(stderr(&out).contains("damaged"), "{}", stderr(&out));
    // Started over: every shard ran again, to the same bytes.
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["shards_reused"], 0, "{report}");
    assert_eq!(report["timings"].as_array().unwrap().len(), 20);
    assert_eq!(digest(&outputs_in(&store)[0]), first);
}

#[test]
fn quiet_lines_and_summary_width() {
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), "clip.mp4", &ClipSpec { frames: 24, ..ClipSpec::default() });
    let base = ["--deflicker", "off", "--no-flicker-report"];
    let out =
        stylize().arg("submit").arg(&clip).arg("-o").arg(dir.path().join("a/")).args(base).arg("-q").output().unwrap();
    assert!(out.status.success());
    assert!(out.stdout.is_empty() && out.stderr.is_empty(), "-q prints nothing");

    // Piped: a line per stage and per tenth; the summary fits 100 columns
    // but for the output's own name.
    let out = stylize()
        .arg("submit")
        .arg(&clip)
        .arg("-o")
        .arg(dir.path().join("b/"))
        .args(base)
        .env("STYLIZE_PROGRESS", "auto")
        .output()
        .unwrap();
    let (text, err) = (String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(err.contains("stylize: probe") && err.contains("stylize: stitch"), "{err}");
    assert!(err.contains("frames 24/24 (100%)"), "{err}");
    assert!(!err.contains('\u{1b}'), "no colour codes when piped: {err}");
    assert!(text.starts_with("wrote "), "{text}");
    for line in text.lines().skip(1) {
        assert!(line.len() <= 100, "{line}");
    }
    let rate = text.lines().nth(2).unwrap();
    let fps = rate.split(" at ").nth(1).unwrap().split(' ').next().unwrap();
    assert_eq!(fps.split('.').nth(1).map(str::len), Some(1), "one decimal: {rate}");
}

#[test]
fn completions_man_page_versions_and_json_lists() {
    let bash = stylize().args(["completions", "bash"]).output().unwrap();
    assert!(bash.status.success());
    let script = String::from_utf8_lossy(&bash.stdout);
    assert!(script.contains("complete") && script.contains("submit") && script.contains("--overwrite"));
    // `--style` completes to the built-in names (it still takes blends).
    assert!(script.contains("fauve") && script.contains("stained-glass"), "no style names to complete");
    let man = stylize().arg("man").output().unwrap();
    let page = String::from_utf8_lossy(&man.stdout);
    assert!(man.status.success() && page.contains(".TH stylize") && page.contains("watch"), "{page}");
    // A command's own page, with the sections a reader looks for.
    let man = stylize().args(["man", "jobs", "list"]).output().unwrap();
    let page = String::from_utf8_lossy(&man.stdout);
    assert!(man.status.success() && page.contains(".TH stylize-jobs-list"), "{page}");
    let man = stylize().args(["man", "submit"]).output().unwrap();
    let page = String::from_utf8_lossy(&man.stdout);
    for section in ["EXAMPLES", "EXIT STATUS", "ENVIRONMENT"] {
        assert!(page.contains(&format!(".SH \"{section}\"")), "{section}: {page}");
    }
    assert!(page.contains("STYLIZE_STYLE") && page.contains("\\fB130\\fR"), "{page}");
    assert_eq!(stylize().args(["man", "nosuch"]).output().unwrap().status.code(), Some(2));
    let help = stylize().args(["submit", "--help"]).output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("Examples:\n  stylize submit clip.mp4"));
    let dir = tempfile::tempdir().unwrap();
    assert!(stylize().args(["man", "--dir"]).arg(dir.path()).status().unwrap().success());
    for page in ["stylize.1", "stylize-submit.1", "stylize-jobs-list.1", "stylize-styles-learn.1"] {
        assert!(dir.path().join(page).is_file(), "{page}");
    }

    let version = stylize().arg("--version").output().unwrap();
    let v = String::from_utf8_lossy(&version.stdout);
    for lib in ["libtorch 2.", "FFmpeg ", "MPI ", "CUDA devices "] {
        assert!(v.contains(lib), "{v}");
    }

    let styles = stylize().args(["styles", "list", "--json"]).output().unwrap();
    let styles: serde_json::Value = serde_json::from_slice(&styles.stdout).unwrap();
    assert_eq!(styles["builtin"].as_array().unwrap().len(), 26);
    assert_eq!(styles["builtin"][17]["name"], "mosaic");

    // `jobs` on a folder that is not there: an error, and no folder made
    // (`-o json` is a store named json, not a format).
    let out = stylize().current_dir(dir.path()).args(["jobs", "list", "-o", "json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("json: no such store directory"), "{}", stderr(&out));
    assert!(!dir.path().join("json").exists());
    let store = dir.path().join("empty");
    std::fs::create_dir(&store).unwrap();
    let out = stylize().args(["jobs", "list", "--json", "-o"]).arg(&store).output().unwrap();
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(), serde_json::json!([]));
}

/// Colour in logs: `--color always` even when piped, `never` never, and on
/// a terminal (a pty made by script(1)) by default unless `NO_COLOR`. A
/// closed pipe ends quietly: exit 0, nothing on stderr. A finished run
/// leaves no scratch (`$TMPDIR/stylize-<pid>`). SIGTERM is an
/// interrupt as Ctrl-C is: the one line, exit 130.
#[test]
fn colour_closed_pipes_and_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), "c.mp4", &ClipSpec { frames: 12, ..ClipSpec::default() });
    let job = |store: &str| {
        vec![
            "-v".to_string(),
            "submit".into(),
            clip.display().to_string(),
            "-o".into(),
            dir.path().join(store).display().to_string(),
        ]
    };
    const ESC: &str = "\u{1b}[";
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    for (color, coloured) in [("always", true), ("never", false)] {
        let out = stylize().env("TMPDIR", &tmp).args(["--color", color]).args(job(color)).output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let left: Vec<_> = std::fs::read_dir(&tmp).unwrap().flatten().map(|e| e.path()).collect();
        assert!(left.is_empty(), "a finished run leaves no scratch: {left:?}");
        assert_eq!(stderr(&out).contains(ESC), coloured, "--color {color}: {}", stderr(&out));
        assert!(stderr(&out).contains(" INFO"), "logs at -v: {}", stderr(&out));
    }
    for (no_color, coloured) in [(None, true), (Some("1"), false)] {
        let line = job(if coloured { "tty" } else { "tty-no-color" }).join(" ");
        let mut cmd = std::process::Command::new("script");
        cmd.args(["-qec", &format!("{} {line}", env!("CARGO_BIN_EXE_stylize")), "/dev/null"])
            .env("STYLIZE_THREADS", "2")
            .env("STYLIZE_PROGRESS", "off")
            .env_remove("RUST_LOG")
            .env_remove("NO_COLOR");
        if let Some(v) = no_color {
            cmd.env("NO_COLOR", v);
        }
        let out = cmd.output().expect("script(1) runs");
        let shown = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success() && shown.contains(" INFO"), "{shown}");
        assert_eq!(shown.contains(ESC), coloured, "on a terminal, NO_COLOR={no_color:?}: {shown}");
    }

    // stdout a pipe whose reader is gone before anything is written.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = stylize().args(["styles", "list"]).stdout(writer).stderr(Stdio::piped()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "", "a closed pipe ends quietly");

    let long = make_clip(
        dir.path(),
        "long.mp4",
        &ClipSpec { width: 256, height: 144, frames: 240, gop: 12, ..ClipSpec::default() },
    );
    let store = dir.path().join("term");
    let mut child = stylize()
        .arg("submit")
        .arg(&long)
        .arg("-o")
        .arg(&store)
        .args(["--shard-frames", "12", "--threads", "1", "--parallel-shards", "1", "--no-flicker-report"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_segments(&store, 1, &mut child);
    assert!(std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let line = stderr(&out).lines().last().unwrap_or_default().to_string();
    assert!(
        line.starts_with("stylize: interrupted: ") && line.ends_with("run the same command again to resume"),
        "{line}"
    );
}

/// The summary claims only the work done now: a job committed by an
/// earlier run says so, with no time or rate of its own. The first run
/// says what it keeps beside the output.
#[test]
fn a_rerun_of_a_done_job_says_nothing_ran() {
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), "c.mp4", &ClipSpec { frames: 12, ..ClipSpec::default() });
    let store = dir.path().join("out");
    let run =
        || stylize().arg("submit").arg(&clip).arg("-o").arg(&store).args(["--deflicker", "off"]).output().unwrap();
    let first = run();
    assert!(first.status.success(), "{}", stderr(&first));
    let first = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(first.starts_with("wrote ") && first.contains(" frames/s"), "{first}");
    // What stays beside the output is said, with how to remove it.
    let kept = first.lines().find(|l| l.trim_start().starts_with("kept ")).unwrap_or_else(|| panic!("{first}"));
    assert!(kept.contains(" of segments for reruns: stylize jobs clean "), "{kept}");
    let again = run();
    assert!(again.status.success(), "{}", stderr(&again));
    let again = String::from_utf8_lossy(&again.stdout).into_owned();
    assert!(again.starts_with("already done: ") && again.contains("nothing ran now"), "{again}");
    assert!(!again.contains("wrote") && !again.contains("frames/s"), "{again}");
    assert_eq!(outputs_in(&store).len(), 1);
}

/// A local single-process job killed outright (SIGKILL: no handler runs)
/// resumes: the rerun reuses the shards recorded before the kill, runs
/// only the rest, and gives the bytes of an uninterrupted run; with `-o FILE` too, whose job state
/// lives in `$STYLIZE_CACHE/state`. No partial output is ever visible.
#[test]
fn a_killed_job_resumes_with_a_folder_or_a_file_output() {
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(
        dir.path(),
        "k.mp4",
        &ClipSpec { width: 256, height: 144, frames: 240, gop: 12, ..ClipSpec::default() },
    );
    let args = ["--shard-frames", "12", "--threads", "1", "--parallel-shards", "1", "--no-flicker-report"];
    let reference = digest(&submit_ok(&clip, &dir.path().join("clean"), &args));
    let cache = dir.path().join("cache");
    let file = dir.path().join("k-styled.mp4");
    for (target, state) in [(dir.path().join("store"), dir.path().join("store")), (file.clone(), cache.join("state"))] {
        let run = || {
            let mut cmd = stylize();
            cmd.env("STYLIZE_CACHE", &cache).arg("submit").arg(&clip).arg("-o").arg(&target).args(args);
            cmd
        };
        let mut child = run().stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        wait_for_segments(&state, 2, &mut child);
        child.kill().unwrap();
        let _ = child.wait();
        let outputs = if target == file { usize::from(file.exists()) } else { outputs_in(&target).len() };
        assert_eq!(outputs, 0, "{}: no output after the kill", target.display());
        let out = run().arg("--json").output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        // Two segments were stored; the kill may fall between the second's
        // write and its record in the manifest: then it is redone.
        let reused = report["shards_reused"].as_u64().unwrap() as usize;
        assert!(reused >= 1, "{}: {report}", target.display());
        assert_eq!(reused + report["timings"].as_array().unwrap().len(), 20, "only the rest ran: {report}");
        let output = if target == file { file.clone() } else { outputs_in(&target).remove(0) };
        assert_eq!(digest(&output), reference, "{}", target.display());
    }
}
