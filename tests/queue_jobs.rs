//! Jobs over the elastic pool, end to end against Azurite: an upload
//! whose shards run on the pool (the watcher waiting, or detached and
//! gone), `stylize jobs` following a queued job, a detached submit
//! finished by its last worker, and a worker of two slots.

mod util;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use stylize_azure::{BlobStore, EventQueue};
use stylize_engine::Store;
use util::azurite::Azurite;
use util::events::*;
use util::pool::*;
use util::*;

/// A clip uploaded to `uploads/` and its BlobCreated event queued, as
/// Event Grid would: the in-process bytes to expect, and the URLs.
struct Uploaded {
    expected: String,
    events: String,
    tasks: String,
    outputs: String,
}

fn uploaded(az: &Azurite, sas: &str, dir: &Path) -> Uploaded {
    let clip = make_clip(dir, "clip.mp4", &ClipSpec { frames: 24, gop: 12, ..ClipSpec::default() });
    let expected = digest(&submit_ok(&clip, &dir.join("here"), &ARGS));
    BlobStore::open(&with_sas(&az.container("uploads"), sas), false).unwrap();
    stylize_azure::upload_blob(&with_sas(&format!("{}/clip.mp4", az.container("uploads")), sas), &clip).unwrap();
    let events = with_sas(&az.queue("events"), sas);
    EventQueue::open(&events, false).unwrap().send(&event_grid(az, "uploads", "clip.mp4")).unwrap();
    Uploaded {
        expected,
        events,
        tasks: with_sas(&az.queue("tasks"), sas),
        outputs: with_sas(&az.container("outputs"), sas),
    }
}

#[test]
fn an_upload_triggers_a_job_whose_shards_run_on_the_pool() {
    let az = Azurite::start();
    let sas = az.account_sas("rwdlacup");
    let dir = tempfile::tempdir().unwrap();
    let Uploaded { expected, events, tasks, outputs } = uploaded(&az, &sas, dir.path());
    let pool = worker(&tasks, &["--name", "pool", "-v"], &[]).spawn().unwrap();
    let mut watch = stylize();
    watch.args(["watch", "--queue", &events, "--inputs", &with_sas(&az.container("uploads"), &sas)]);
    watch.args(["-o", &outputs, "--tasks", &tasks, "--until-empty", "--json", "--visibility", "30"]).args(ARGS);
    let out =
        wait_bounded(watch.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap(), Duration::from_secs(240));
    let log = String::from_utf8_lossy(&stop(pool).stderr).into_owned();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(summary["done"], 1, "{summary}");
    assert_eq!(starts(&log).len(), 2, "the pool ran both shards: {log}");
    assert_eq!(digest(&downloaded(&az, &sas, dir.path())), expected);
}

/// `watch --tasks --detach`: the watcher hands the upload's job to the
/// pool and is gone before any shard runs; a worker that starts later
/// runs the shards, and the one that ends the last commits the output.
/// No process waits on the job: an upload, the queue, the pool, the output.
#[test]
fn a_detached_watcher_hands_each_upload_to_the_pool_and_leaves() {
    let az = Azurite::start();
    let sas = az.account_sas("rwdlacup");
    let dir = tempfile::tempdir().unwrap();
    let Uploaded { expected, events, tasks, outputs } = uploaded(&az, &sas, dir.path());
    let mut watch = stylize();
    watch.args(["watch", "--queue", &events, "--inputs", &with_sas(&az.container("uploads"), &sas)]);
    watch.args(["-o", &outputs, "--tasks", &tasks, "--detach", "--until-empty", "--json"]).args(ARGS);
    let out =
        wait_bounded(watch.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap(), Duration::from_secs(120));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let summary: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(summary["done"], 1, "{summary}");
    assert!(err.contains("handed to the task queue's workers"), "{err}");
    let store = BlobStore::open(&outputs, false).unwrap();
    assert!(store.list("").unwrap().iter().all(|k| !k.ends_with(".mp4") || k.starts_with("jobs/")), "no output yet");

    // The pool, with no watcher alive.
    let pool = worker(&tasks, &["--name", "pool"], &[]).spawn().unwrap();
    let start = Instant::now();
    while !store.list("").unwrap().iter().any(|k| k.starts_with("clip.fauve.")) {
        assert!(start.elapsed() < Duration::from_secs(120), "the pool never committed the output");
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = String::from_utf8_lossy(&stop(pool).stderr).into_owned();
    assert_eq!(starts(&log).len(), 2, "the pool ran both shards: {log}");
    assert!(log.contains("finishing the detached job"), "{log}");
    assert_eq!(digest(&downloaded(&az, &sas, dir.path())), expected);
}

#[test]
fn jobs_list_on_a_container_shows_a_queued_job_running_then_done() {
    let az = Azurite::start();
    let sas = az.account_sas("rwdlacup");
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), "clip.mp4", &ClipSpec { frames: 24, gop: 12, ..ClipSpec::default() });
    let outputs = with_sas(&az.container("outputs"), &sas);
    let queue = with_sas(&az.queue("tasks"), &sas);
    let list = || -> serde_json::Value {
        let out = stylize().args(["jobs", "list", "-o", &outputs, "--json"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    // No worker yet: the job waits on the queue, and says so.
    let job = submit_queued(&clip, &outputs, &queue);
    let start = Instant::now();
    let running = loop {
        let l = list();
        if l.as_array().is_some_and(|a| !a.is_empty()) {
            break l;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "the job never appeared");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(running[0]["status"], "running", "{running}");
    assert_eq!(running[0]["shards_done"], 0);
    // A worker takes shard 0 and holds it: the job's state says where it
    // runs, from another process, while it runs.
    let held = worker(&queue, &["--name", "held"], &[("STYLIZE_FAULT", "sleep:0")]).spawn().unwrap();
    let start = Instant::now();
    let taken = loop {
        let l = list();
        if l[0]["running"].as_array().is_some_and(|r| !r.is_empty()) {
            break l;
        }
        assert!(start.elapsed() < Duration::from_secs(90), "no shard shown running: {l}");
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(taken[0]["running"][0]["shard"], 0, "{taken}");
    assert!(taken[0]["running"][0]["worker"].as_str().unwrap().starts_with("held ("), "{taken}");
    stop(held);
    let pool = worker(&queue, &["--name", "late"], &[]).spawn().unwrap();
    let out = wait_bounded(job, Duration::from_secs(120));
    stop(pool);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let done = list();
    assert_eq!((done[0]["status"].as_str(), done[0]["shards_done"].as_u64()), (Some("done"), Some(2)), "{done}");
    assert_eq!(done[0]["running"], serde_json::json!([]), "nothing runs once done");
    let workers: Vec<&str> = done[0]["workers"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
    assert_eq!(workers.len(), 1);
    assert!(workers[0].starts_with("late ("), "{workers:?}");
    assert_no_secret(&done.to_string(), &Azurite::signature(&sas), "jobs list");
}

#[test]
fn a_detached_job_is_finished_by_its_last_worker_with_no_coordinator_alive() {
    let az = Azurite::start();
    let sas = az.account_sas("rwdlacup");
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), "clip.mp4", &ClipSpec { frames: 48, gop: 12, ..ClipSpec::default() });
    let expected = digest(&submit_ok(&clip, &dir.path().join("here"), &ARGS));
    let outputs = with_sas(&az.container("outputs"), &sas);
    let queue = with_sas(&az.queue("tasks"), &sas);
    let out = stylize()
        .arg("submit")
        .arg(&clip)
        .args(["-o", &outputs, "--queue", &queue, "--detach"])
        .args(ARGS)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()), "the job id alone on stdout: {id:?} {err}");
    assert!(err.contains(&format!("stylize jobs show {id} --follow")), "{err}");
    assert_no_secret(&err, &Azurite::signature(&sas), "the detached submit");
    let store = BlobStore::open(&outputs, false).unwrap();
    let top = |store: &BlobStore| -> Vec<String> {
        store.list("").unwrap().into_iter().filter(|k| !k.starts_with("jobs/") && k.ends_with(".mp4")).collect()
    };
    assert!(top(&store).is_empty(), "no output before the workers ran");
    let listed = stylize().args(["jobs", "list", "-o", &outputs, "--json"]).output().unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!((listed[0]["job"].as_str(), listed[0]["status"].as_str()), (Some(id.as_str()), Some("running")));

    // No submitter alive: the pool does the shards, and the worker that
    // ends the last one stitches and commits.
    let pool = wait_bounded(
        worker(&queue, &["--name", "pool", "-v", "--until-empty"], &[]).spawn().unwrap(),
        Duration::from_secs(240),
    );
    let log = String::from_utf8_lossy(&pool.stderr);
    assert!(pool.status.success(), "{log}");
    assert!(log.contains("finishing the detached job"), "{log}");
    assert_eq!(top(&store).len(), 1, "the output is committed: {log}");
    assert_eq!(digest(&downloaded(&az, &sas, dir.path())), expected, "the same bytes as in-process");
    let shown = stylize().args(["jobs", "show", &id, "-o", &outputs]).output().unwrap();
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["report"]["job"], id.as_str(), "{shown}");
    assert_eq!(shown["report"]["shards"], 4);
}

/// `--slots 2`: one worker process takes two tasks at once (as an
/// in-process job runs two shards side by side, on one libtorch pool),
/// each slot named `<name>/<k>` in the records; the bytes are an
/// in-process run's. Stopped while one slot holds a task, it hands that
/// task back and ends at once; another worker finishes the job.
#[test]
fn a_worker_with_two_slots_runs_two_tasks_at_once_and_hands_back_what_it_holds() {
    let az = Azurite::start();
    let sas = az.account_sas("rwdlacup");
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), "clip.mp4", &ClipSpec { frames: 36, gop: 12, ..ClipSpec::default() });
    let expected = digest(&submit_ok(&clip, &dir.path().join("here"), &ARGS));
    let outputs = with_sas(&az.container("outputs"), &sas);
    let queue = with_sas(&az.queue("tasks"), &sas);
    // Shard 0 holds its slot (a minute); the other slot runs shards 1 and 2.
    let mut pool =
        worker(&queue, &["--name", "pool", "--slots", "2"], &[("STYLIZE_FAULT", "sleep:0")]).spawn().unwrap();
    let job = submit_queued(&clip, &outputs, &queue);
    let LogLines { lines, all: reader } = LogLines::of(&mut pool);
    let (mut holding, mut stored) = (false, 0);
    while !(holding && stored == 2) {
        let line = lines.recv_timeout(Duration::from_secs(120)).expect("the pool takes the tasks");
        holding |= line.contains("shard starts") && line.contains("shard=0");
        stored += usize::from(line.contains("shard stored"));
    }
    // SAFETY: kill only sends a signal to our own child.
    unsafe { libc::kill(pool.id() as i32, libc::SIGTERM) };
    let stopped_at = Instant::now();
    let out = wait_bounded(pool, Duration::from_secs(30));
    let took = stopped_at.elapsed();
    let err = reader.join().unwrap();
    assert!(took < Duration::from_secs(5), "stopped {took:?} after SIGTERM: {err}");
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("task handed back"), "{err}");

    let other = worker(&queue, &["--name", "other"], &[]).spawn().unwrap();
    let out = wait_bounded(job, Duration::from_secs(120));
    stop(other);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for t in report["timings"].as_array().unwrap() {
        let name = t["worker"]["name"].as_str().unwrap();
        match t["shard"].as_u64().unwrap() {
            0 => assert_eq!(name, "other", "{report}"),
            _ => assert!(name == "pool/0" || name == "pool/1", "{report}"),
        }
    }
    assert_eq!(digest(&downloaded(&az, &sas, dir.path())), expected, "the same bytes as in-process");
}
