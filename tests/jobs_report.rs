//! Seeing a job: its state names every shard's worker with times and
//! attempts as it runs, `jobs list` and `jobs show` read it (prefixes of
//! ids too), and `jobs report` draws it: the page opened in a real
//! headless browser (Debian's Chromium) shows one bar per shard attempt,
//! and the PNG is a real image of the size asked. A screenshot of the page
//! is kept under target/test-output for a person to look at.

mod util;

use std::path::{Path, PathBuf};
use std::process::Command;

use util::*;

fn stylize_ok(args: &[&str]) -> String {
    let out = stylize().args(args).output().unwrap();
    assert!(out.status.success(), "stylize {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser"] {
        for dir in ["/usr/bin", "/usr/local/bin"] {
            let p = Path::new(dir).join(name);
            if p.is_file() {
                return p;
            }
        }
    }
    panic!("chromium is not installed: scripts/setup.sh installs it");
}

/// The page as the browser built it (after parsing), and a screenshot.
fn render(page: &Path, shot: &Path) -> String {
    let common = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"];
    let url = format!("file://{}", page.display());
    let out = Command::new(chromium()).args(common).args(["--dump-dom", &url]).output().unwrap();
    assert!(out.status.success(), "chromium: {}", String::from_utf8_lossy(&out.stderr));
    let shot_arg = format!("--screenshot={}", shot.display());
    let taken =
        Command::new(chromium()).args(common).args([&shot_arg, "--window-size=1100,900", &url]).output().unwrap();
    assert!(taken.status.success(), "chromium screenshot: {}", String::from_utf8_lossy(&taken.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The elements of the DOM dump that carry `class="attempt"`.
fn attempts(dom: &str) -> Vec<String> {
    dom.split("<rect")
        .skip(1)
        .filter(|r| r.contains("class=\"attempt\""))
        .map(|r| r.split('>').next().unwrap().to_string())
        .collect()
}

fn output_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-output");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_job_is_recorded_listed_and_drawn() {
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), "clip.mp4", &ClipSpec { frames: 48, gop: 12, ..ClipSpec::default() });
    let store = dir.path().join("out");
    let s = store.to_str().unwrap();
    // Two shards side by side: two workers of this process.
    submit_ok(&clip, &store, &["--shard-frames", "12", "--parallel-shards", "2"]);
    let list: serde_json::Value = serde_json::from_str(&stylize_ok(&["jobs", "list", "-o", s, "--json"])).unwrap();
    let job = &list[0];
    assert_eq!(
        (job["status"].as_str(), job["shards_done"].as_u64(), job["frames_done"].as_u64()),
        (Some("done"), Some(4), Some(48))
    );
    let workers: Vec<&str> = job["workers"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
    assert!(!workers.is_empty() && workers.iter().all(|w| w.starts_with("local.")), "{workers:?}");
    let id = job["job"].as_str().unwrap();
    let line = stylize_ok(&["jobs", "list", "-o", s]);
    assert!(line.starts_with(id) && line.contains("done") && line.contains("4/4") && line.contains("48/48"), "{line}");

    // The record of every shard: its worker, ordered times, one attempt.
    let shown: serde_json::Value = serde_json::from_str(&stylize_ok(&["jobs", "show", &id[..6], "-o", s])).unwrap();
    assert_eq!(shown["job"], id, "a prefix names the job");
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.join("jobs").join(id).join("manifest.json")).unwrap()).unwrap();
    for (shard, r) in manifest["done"].as_object().unwrap() {
        let (start, end) = (r["started"].as_f64().unwrap(), r["ended"].as_f64().unwrap());
        assert!(start > 1.7e9 && start <= end, "shard {shard}: {r}");
        assert_eq!(r["attempts"], 1);
        assert!(manifest.get("running").is_none(), "nothing runs once done: {manifest}");
        assert!(r["bytes_in"].as_u64().unwrap() > 0 && r["bytes"].as_u64().unwrap() > 0);
    }
    let follow = stylize_ok(&["jobs", "show", id, "--follow", "-o", s]);
    assert!(follow.starts_with(&format!("job {id} done: 4/4 shards, 48/48 frames")), "{follow}");

    // The page, in a real browser: one bar per attempt, all done.
    let page = dir.path().join("report.html");
    let png = dir.path().join("timeline.png");
    stylize_ok(&[
        "jobs",
        "report",
        &id[..8],
        "-o",
        s,
        "--html",
        page.to_str().unwrap(),
        "--png",
        png.to_str().unwrap(),
    ]);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains("http://") || !html.contains("src=\"http"), "no fetch from the network");
    let shot = output_dir().join("jobs_report_done.png");
    let dom = render(&page, &shot);
    let bars = attempts(&dom);
    assert_eq!(bars.len(), 4, "one bar per shard attempt: {dom}");
    assert!(bars.iter().all(|b| b.contains("data-outcome=\"done\"")), "{bars:?}");
    assert!(dom.contains("id=\"status\" class=\"status-done\""), "{dom}");
    assert!(image::image_dimensions(&shot).is_ok(), "a screenshot for a person: {}", shot.display());
    let (w, h) = image::image_dimensions(&png).unwrap();
    assert_eq!(w, 1200);
    assert_eq!(h, 140 + 40 * workers.len() as u32);
}

#[test]
fn a_failed_and_resumed_job_shows_both_attempts() {
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), "clip.mp4", &ClipSpec { frames: 36, gop: 12, ..ClipSpec::default() });
    let store = dir.path().join("out");
    let s = store.to_str().unwrap();
    let args = ["--shard-frames", "12", "--parallel-shards", "1"];
    let failed =
        stylize().arg("submit").arg(&clip).args(["-o", s]).args(args).env("STYLIZE_FAULT", "error:1").output().unwrap();
    assert_eq!(failed.status.code(), Some(1));
    let list: serde_json::Value = serde_json::from_str(&stylize_ok(&["jobs", "list", "-o", s, "--json"])).unwrap();
    assert_eq!(list[0]["status"], "failed", "{list}");
    assert!(list[0]["error"].as_str().unwrap().contains("shard 1: injected fault"), "{list}");
    submit_ok(&clip, &store, &args);
    let id = list[0]["job"].as_str().unwrap();
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(store.join("jobs").join(id).join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["status"], "done");
    assert_eq!(manifest["done"]["1"]["attempts"], 2, "{manifest}");
    let failures = manifest["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!((failures[0]["shard"].as_u64(), failures[0]["worker"]["name"].as_str()), (Some(1), Some("local")));
    assert!(failures[0]["cause"].as_str().unwrap().contains("injected fault"));

    let page = dir.path().join("report.html");
    stylize_ok(&["jobs", "report", id, "-o", s, "--html", page.to_str().unwrap()]);
    let dom = render(&page, &output_dir().join("jobs_report_resumed.png"));
    let bars = attempts(&dom);
    assert_eq!(bars.len(), 4, "three shards done and one failed attempt: {bars:?}");
    assert_eq!(bars.iter().filter(|b| b.contains("data-outcome=\"failed\"")).count(), 1);
    assert!(dom.contains("id=\"failures\"") && dom.contains("injected fault"), "the cause is on the page");
}
