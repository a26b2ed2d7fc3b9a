//! One job, one run of its work, across processes: two watchers on one
//! queue, two submits into one folder. Each test holds the first run at a
//! known point until the second says it waits, so the runs overlap for
//! sure and the job's lock is what keeps the work single.

mod util;

use std::process::Stdio;
use std::time::{Duration, Instant};

use stylize_azure::{BlobStore, EventQueue};
use stylize_engine::Store;
use util::azurite::Azurite;
use util::events::*;
use util::*;

/// How long a job's blob lease lasts without renewal (the adapter's
/// `LEASE_SECS`): the first watcher is held longer than this.
const LEASE_SECS: u64 = 30;

/// The `job=<id>` of a log line.
fn job_field(line: &str) -> Option<String> {
    let at = line.find(" job=")? + 5;
    Some(line[at..].split_whitespace().next()?.to_string())
}

/// Watcher A is held in shard 0 of its first job for longer than a lease
/// lasts unrenewed; watcher B meets that job, waits on its lease, and runs
/// the other upload. Each job's work is planned once: B waited the whole
/// time, so A's lease was renewed (or B would have taken it and planned
/// the job again).
#[test]
fn two_watchers_run_each_job_once_and_names_keep_the_folder() {
    let az = Azurite::start();
    let sas = az.account_sas("rwdlacup");
    let dir = tempfile::tempdir().unwrap();
    BlobStore::open(&with_sas(&az.container("uploads"), &sas), false).unwrap();
    // Two uploads with one name in two folders, and other content; each
    // event twice.
    upload(&az, &sas, dir.path(), "u1/dup.mp4", 36);
    upload(&az, &sas, dir.path(), "u2/dup.mp4", 24);
    let queue_url = with_sas(&az.queue("events"), &sas);
    let queue = EventQueue::open(&queue_url, false).unwrap();
    for blob in ["u1/dup.mp4", "u2/dup.mp4", "u1/dup.mp4", "u2/dup.mp4"] {
        queue.send(&event_grid(&az, "uploads", blob)).unwrap();
    }
    let (inputs, outputs) = (with_sas(&az.container("uploads"), &sas), with_sas(&az.container("outputs"), &sas));
    let logs = with_sas(&az.container("logs"), &sas);
    let release = dir.path().join("release");
    let args = ["--until-empty", "--logs", logs.as_str(), "--shard-frames", "12", "--parallel-shards", "1"];
    let spawn = |hold: bool| {
        let mut cmd = watch_command(&queue_url, &inputs, &outputs, &args);
        if hold {
            cmd.env("STYLIZE_FAULT", "hold:0").env("STYLIZE_FAULT_RELEASE", &release);
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    };
    let mut a = spawn(true);
    let a_log = Lines::of(&mut a);
    assert!(a_log.wait_for("plan ready", Duration::from_secs(120)), "A never planned: {}", a_log.text());
    let held_since = Instant::now();
    let held_job = a_log.text().lines().find(|l| l.contains("plan ready")).and_then(job_field).unwrap();
    let mut b = spawn(false);
    let b_log = Lines::of(&mut b);
    let waited = b_log.wait_for("another process is running this job: waiting", Duration::from_secs(120));
    // Past the lease's unrenewed life, then let A go.
    std::thread::sleep((Duration::from_secs(LEASE_SECS + 5)).saturating_sub(held_since.elapsed()));
    let b_while_held = b_log.text();
    std::fs::write(&release, b"").unwrap();
    let (a, b) = (wait_bounded(a, Duration::from_secs(180)), wait_bounded(b, Duration::from_secs(180)));
    let (a_err, b_err) = (a_log.all(), b_log.all());
    assert!(waited, "B never met A's job: {b_err}");
    assert!(a.status.success() && b.status.success(), "A: {a_err}\nB: {b_err}");
    let b_planned: Vec<String> =
        b_while_held.lines().filter(|l| l.contains("plan ready")).filter_map(job_field).collect();
    assert!(!b_planned.contains(&held_job), "B planned the held job {held_job} while A held it: {b_err}");
    let (a, b): (serde_json::Value, serde_json::Value) =
        (serde_json::from_slice(&a.stdout).unwrap(), serde_json::from_slice(&b.stdout).unwrap());
    assert_eq!(a["done"].as_u64().unwrap() + b["done"].as_u64().unwrap(), 4, "{a} {b}");
    assert_eq!(a["poisoned"].as_u64().unwrap() + b["poisoned"].as_u64().unwrap(), 0, "{a} {b}");

    // Each job did its work once: one attempt with a plan, across both
    // watchers (the others found it committed).
    let logs = BlobStore::open(&logs, false).unwrap();
    let sig = Azurite::signature(&sas);
    let mut planned = std::collections::BTreeMap::<String, usize>::new();
    for key in logs.list("").unwrap() {
        let text = String::from_utf8(logs.get(&key).unwrap().unwrap()).unwrap();
        // The watcher's job logs hold the inputs' URLs, redacted.
        assert_no_secret(&text, &sig, &key);
        let job = key.split('.').next().unwrap().to_string();
        *planned.entry(job).or_default() += text.lines().filter(|l| l.contains("\"event\":\"plan\"")).count();
    }
    assert_eq!(planned.len(), 2, "{planned:?}");
    assert!(planned.values().all(|n| *n == 1), "a job's work done twice: {planned:?}");
    // So do the jobs' manifests and reports.
    let store = BlobStore::open(&outputs, false).unwrap();
    let records: Vec<String> = store.list("jobs").unwrap().into_iter().filter(|k| k.ends_with(".json")).collect();
    assert!(records.iter().filter(|k| k.ends_with("/manifest.json")).count() == 2, "{records:?}");
    for key in records {
        assert_no_secret(&String::from_utf8_lossy(&store.get(&key).unwrap().unwrap()), &sig, &key);
    }

    // `stylize jobs` reads a container too: both jobs, done.
    let out = stylize().args(["jobs", "list", "--json", "-o", &outputs]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let jobs: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let jobs = jobs.as_array().unwrap();
    assert_eq!(jobs.len(), 2, "{jobs:?}");
    assert!(jobs.iter().all(|j| j["shards_done"] == j["shards"] && j["output"].is_string()), "{jobs:?}");
    assert_no_secret(&String::from_utf8_lossy(&out.stdout), &Azurite::signature(&sas), "jobs list");

    // Outputs keep the upload's folder, one per upload, each its own video.
    let keys = store.list("").unwrap();
    let (k1, k2) = (output_key(&keys, "u1/dup.fauve"), output_key(&keys, "u2/dup.fauve"));
    for (key, frames) in [(k1, "36"), (k2, "24")] {
        let local = dir.path().join("back.mp4");
        assert!(store.get_file(&key, &local).unwrap());
        assert_eq!(video_stream(&probe(&local))["nb_read_frames"], frames, "{key}");
    }
}

/// Two submits of one job into one folder at once: one does the work, the
/// other waits on the job's lock and finds it done. The first is held in
/// its shard 0 until the second says it waits: the runs overlap for sure,
/// and the lock is what keeps the job single.
#[test]
fn two_local_submits_of_one_job_work_once() {
    let dir = tempfile::tempdir().unwrap();
    let clip =
        make_clip(dir.path(), "clip.mp4", &ClipSpec { width: 256, height: 144, frames: 72, ..ClipSpec::default() });
    let (store, logs) = (dir.path().join("store"), dir.path().join("logs"));
    let release = dir.path().join("release");
    let run = |hold: bool| {
        let mut cmd = stylize();
        cmd.arg("submit").arg(&clip).arg("-o").arg(&store);
        cmd.args(["--shard-frames", "12", "--parallel-shards", "1", "--no-flicker-report", "--logs"]).arg(&logs);
        if hold {
            cmd.env("STYLIZE_FAULT", "hold:0").env("STYLIZE_FAULT_RELEASE", &release);
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    };
    let a = run(true);
    // The job's lock is the first thing under `jobs/`; A takes it as its
    // folder appears (half a second to be sure) and keeps it while held.
    let start = std::time::Instant::now();
    while !store.join("jobs").exists() {
        assert!(start.elapsed() < std::time::Duration::from_secs(60), "the first run never started its job");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let mut b = run(false);
    let waiting = {
        use std::io::BufRead;
        let err = std::io::BufReader::new(b.stderr.take().unwrap());
        let mut seen = String::new();
        let mut lines = err.lines().map_while(Result::ok);
        let found = lines.by_ref().any(|l| {
            seen += &l;
            l.contains("another process is running this job: waiting")
        });
        std::fs::write(&release, b"").unwrap();
        let rest: Vec<String> = lines.collect();
        (found, seen + &rest.join("\n"))
    };
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(waiting.0, "the second run did not wait on the lock: {}", waiting.1);
    assert!(a.status.success() && b.status.success(), "{}{}", String::from_utf8_lossy(&a.stderr), waiting.1);
    let planned: usize = std::fs::read_dir(&logs)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .map(|log| log.lines().filter(|l| l.contains("\"event\":\"plan\"")).count())
        .sum();
    assert_eq!(planned, 1, "the job's work was done by both");
    assert_eq!(outputs_in(&store).len(), 1);
}
