//! Elastic scale-out against Azurite: `submit --queue` puts one task per
//! shard on a Storage queue and `stylize worker` processes take them. The
//! output is the same bytes as an in-process run whatever workers ran
//! which shards; a worker killed mid-shard costs no rerun (its task
//! reappears for another); a worker told to stop hands its task back at
//! once; a worker with another model file refuses, and the shard fails
//! naming it; messages that are not tasks, or name no job, are poisoned.

mod util;

use std::path::Path;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use stylize_azure::{BlobStore, EventQueue};
use stylize_engine::Store;
use util::azurite::Azurite;
use util::events::*;
use util::pool::*;
use util::*;

#[test]
fn queue_workers_give_the_same_bytes_and_a_killed_worker_costs_no_rerun() {
    let az = Azurite::start();
    let sas = az.account_sas("rwdlacup");
    let sig = Azurite::signature(&sas);
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), "clip.mp4", &ClipSpec { frames: 48, gop: 12, ..ClipSpec::default() });
    let expected = digest(&submit_ok(&clip, &dir.path().join("here"), &ARGS));
    let outputs = with_sas(&az.container("outputs"), &sas);
    let queue = with_sas(&az.queue("tasks"), &sas);

    // The first worker dies inside shard 0 (as a Spot node taken away).
    let doomed = worker(&queue, &["--name", "doomed"], &[("STYLIZE_FAULT", "exit:0")]).spawn().unwrap();
    let job = submit_queued(&clip, &outputs, &queue);
    let died = wait_bounded(doomed, Duration::from_secs(120));
    assert!(!died.status.success(), "the worker was killed in its shard");
    // Two workers join later; shard 0 reappears for them after the
    // doomed worker's visibility (5 s): no rerun of the job.
    let a = worker(&queue, &["--name", "a"], &[]).spawn().unwrap();
    let b = worker(&queue, &["--name", "b"], &[]).spawn().unwrap();
    let out = wait_bounded(job, Duration::from_secs(240));
    let (a, b) = (stop(a), stop(b));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}\nworker a: {}", String::from_utf8_lossy(&a.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["transport"].as_str().unwrap().starts_with("queue "), "{report}");
    assert_eq!(digest(&downloaded(&az, &sas, dir.path())), expected, "the same bytes as in-process");
    // The report names the output as a URL: the blob in the path, the
    // (redacted) SAS after it.
    let shown = report["output"].as_str().unwrap();
    let (path, query) = shown.split_once('?').unwrap();
    assert!(path.starts_with(&format!("{}/clip.fauve.", az.container("outputs"))) && path.ends_with(".mp4"), "{shown}");
    assert!(query.ends_with("sig=REDACTED"), "{shown}");

    // Every shard once in the report, each by a worker that lived.
    let timings = report["timings"].as_array().unwrap();
    let mut shards: Vec<u64> = timings.iter().map(|t| t["shard"].as_u64().unwrap()).collect();
    shards.sort();
    assert_eq!(shards, vec![0, 1, 2, 3]);
    let names: Vec<&str> = timings.iter().map(|t| t["worker"]["name"].as_str().unwrap()).collect();
    assert!(names.iter().all(|n| ["a", "b"].contains(n)), "{names:?}");
    let workers: Vec<&str> =
        report["workers"].as_array().unwrap().iter().map(|w| w["worker"]["name"].as_str().unwrap()).collect();
    assert!(!workers.is_empty() && !workers.contains(&"doomed"), "{workers:?}");
    // The job's source segments are gone; no secret in any output.
    let store = BlobStore::open(&outputs, false).unwrap();
    assert!(!store.list("jobs").unwrap().iter().any(|k| k.contains("/sources/")));
    for (what, text) in [("submit", err.to_string()), ("worker a", String::from_utf8_lossy(&a.stderr).into_owned())] {
        assert_no_secret(&text, &sig, what);
    }
    assert_no_secret(&String::from_utf8_lossy(&b.stdout), &sig, "worker b");
}

#[test]
fn a_stopped_worker_hands_its_task_back_at_once() {
    let az = Azurite::start();
    let sas = az.account_sas("rwdlacup");
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), "clip.mp4", &ClipSpec { frames: 12, gop: 12, ..ClipSpec::default() });
    let outputs = with_sas(&az.container("outputs"), &sas);
    let queue = with_sas(&az.queue("tasks"), &sas);
    let mut held = worker(&queue, &["--name", "held", "-v"], &[("STYLIZE_FAULT", "sleep:0")]).spawn().unwrap();
    let job = submit_queued(&clip, &outputs, &queue);
    // Wait until the task is in the worker's hands (its log says so).
    let reader = ShardLog::of(&mut held);
    reader.started.recv_timeout(Duration::from_secs(90)).expect("the worker takes the task");
    std::thread::sleep(Duration::from_secs(1));
    // SAFETY: kill only sends a signal to our own child.
    unsafe { libc::kill(held.id() as i32, libc::SIGTERM) };
    let stopped_at = Instant::now();
    let out = wait_bounded(held, Duration::from_secs(30));
    let took = stopped_at.elapsed();
    let err = reader.all.join().unwrap();
    assert!(took < Duration::from_secs(5), "stopped {took:?} after SIGTERM: {err}");
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("task handed back"), "{err}");
    // Visible again at once: another worker finishes the job well before
    // the held task's visibility (5 s) would have run out.
    finished_by_another(&queue, job);
}

#[test]
fn a_worker_with_another_model_refuses_and_the_shard_fails_naming_it() {
    let az = Azurite::start();
    let sas = az.account_sas("rwdlacup");
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), "clip.mp4", &ClipSpec { frames: 12, gop: 12, ..ClipSpec::default() });
    let outputs = with_sas(&az.container("outputs"), &sas);
    let queue = with_sas(&az.queue("tasks"), &sas);
    // Its models folder: the same files, but another multistyle26.pt.
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    for entry in std::fs::read_dir(model_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            std::fs::copy(&path, models.join(path.file_name().unwrap())).unwrap();
        }
    }
    let mut other = std::fs::read(models.join("multistyle26.pt")).unwrap();
    other.push(0);
    std::fs::write(models.join("multistyle26.pt"), other).unwrap();
    let stranger =
        worker(&queue, &["--name", "stranger", "--max-refusals", "2"], &[("STYLIZE_MODELS", models.to_str().unwrap())])
            .spawn()
            .unwrap();
    let out = wait_bounded(submit_queued(&clip, &outputs, &queue), Duration::from_secs(120));
    let w = stop(stranger);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(lines[0].starts_with("stylize: error: stranger ("), "names the worker: {err}");
    assert!(lines[0].contains("the job's model file has SHA-256 "), "names the mismatch: {err}");
    assert!(lines[0].contains("clip.mp4"), "names the input: {err}");
    assert!(!String::from_utf8_lossy(&w.stderr).contains("shard stored"), "never ran it into other bytes");
    let store = BlobStore::open(&outputs, false).unwrap();
    assert!(!store.list("").unwrap().iter().any(|k| k.ends_with(".mp4") && !k.starts_with("jobs/")), "no output");
}

#[test]
fn messages_that_are_not_tasks_or_name_no_job_are_poisoned() {
    let az = Azurite::start();
    let sas = az.account_sas("rwdlacup");
    let outputs = with_sas(&az.container("outputs"), &sas);
    BlobStore::open(&outputs, false).unwrap();
    let queue = with_sas(&az.queue("tasks"), &sas);
    let q = EventQueue::open(&queue, false).unwrap();
    q.send("{ not json").unwrap();
    let task = serde_json::json!({
        "kind": "stylize-shard", "v": 1, "store": outputs,
        "task": { "job": "0123456789abcdef", "shard": { "index": 0, "start": 0, "pts": [0], "end_pts": 1, "key_pts": 0 },
                  "video": { "width": 64, "height": 64, "time_base": { "num": 1, "den": 25 },
                             "frame_rate": { "num": 25, "den": 1 } }, "params": {} },
        "source": { "key": "jobs/0123456789abcdef/sources/00000.nut", "sha256": "00", "bytes": 1 },
    });
    q.send(&task.to_string()).unwrap();
    let out = worker(&queue, &["--until-empty", "--json"], &[]).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    let summary: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap();
    assert_eq!(summary["dropped"], 2, "{summary}");
    let poisoned = q.poisoned(8).unwrap();
    let reasons: Vec<String> = poisoned
        .iter()
        .map(|m| serde_json::from_str::<serde_json::Value>(&m.text).unwrap()["reason"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons.iter().any(|r| r.starts_with("not a shard task")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.starts_with("job 0123456789abcdef does not exist in ")), "{reasons:?}");
    assert!(q.receive(1, Duration::from_secs(1)).unwrap().is_empty(), "the queue is not wedged");
    assert_no_secret(&reasons.join(" "), &Azurite::signature(&sas), "the poison reasons");
}

#[test]
fn two_jobs_share_one_pool_and_take_turns() {
    let az = Azurite::start();
    let sas = az.account_sas("rwdlacup");
    let dir = tempfile::tempdir().unwrap();
    let spec = ClipSpec { frames: 36, gop: 12, ..ClipSpec::default() };
    let first = make_clip(dir.path(), "first.mp4", &spec);
    let second = make_clip(dir.path(), "second.mp4", &ClipSpec { width: 144, ..spec.clone() });
    let outputs = with_sas(&az.container("outputs"), &sas);
    let queue = with_sas(&az.queue("tasks"), &sas);
    let submit = |clip: &Path| {
        let mut cmd = stylize();
        cmd.arg("submit").arg(clip).args(["-o", &outputs, "--queue", &queue, "--queue-window", "1", "--json"]);
        cmd.args(ARGS).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
    };
    let (a, b) = (submit(&first), submit(&second));
    // Both jobs' first tasks are queued before the pool starts.
    std::thread::sleep(Duration::from_secs(8));
    let pool = worker(&queue, &["--name", "pool", "-v"], &[]).spawn().unwrap();
    let (a, b) = (wait_bounded(a, Duration::from_secs(240)), wait_bounded(b, Duration::from_secs(240)));
    let log = String::from_utf8_lossy(&stop(pool).stderr).into_owned();
    for out in [&a, &b] {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let job = |out: &Output| {
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()["job"].as_str().unwrap().to_string()
    };
    let (ja, jb) = (job(&a), job(&b));
    let order: Vec<String> = starts(&log).into_iter().map(|(j, _)| j).collect();
    assert_eq!(order.len(), 6, "each shard once: {log}");
    // Neither job's shards all go before the other's first one.
    let last_of = |j: &str| order.iter().rposition(|x| x == j).unwrap();
    let first_of = |j: &str| order.iter().position(|x| x == j).unwrap();
    assert!(first_of(&jb) < last_of(&ja) && first_of(&ja) < last_of(&jb), "the jobs took turns: {order:?}");
}

#[test]
fn a_coordinator_killed_and_started_again_redoes_no_finished_shard() {
    let az = Azurite::start();
    let sas = az.account_sas("rwdlacup");
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), "clip.mp4", &ClipSpec { frames: 48, gop: 12, ..ClipSpec::default() });
    let expected = digest(&submit_ok(&clip, &dir.path().join("here"), &ARGS));
    let outputs = with_sas(&az.container("outputs"), &sas);
    let queue = with_sas(&az.queue("tasks"), &sas);
    let pool = worker(&queue, &["--name", "pool", "-v"], &[]).spawn().unwrap();
    let mut first = submit_queued(&clip, &outputs, &queue);
    let store = BlobStore::open(&outputs, false).unwrap();
    let start = Instant::now();
    while !store.list("jobs").unwrap().iter().any(|k| k.contains("/results/")) {
        assert!(start.elapsed() < Duration::from_secs(120), "no shard done");
        std::thread::sleep(Duration::from_millis(200));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    let out = wait_bounded(submit_queued(&clip, &outputs, &queue), Duration::from_secs(240));
    let log = String::from_utf8_lossy(&stop(pool).stderr).into_owned();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut ran: Vec<u64> = starts(&log).into_iter().map(|(_, s)| s).collect();
    ran.sort();
    assert_eq!(ran, vec![0, 1, 2, 3], "every shard ran once, across both coordinators: {log}");
    assert_eq!(digest(&downloaded(&az, &sas, dir.path())), expected);
}

#[test]
fn a_shard_failing_every_attempt_fails_the_job_naming_worker_and_cause() {
    let az = Azurite::start();
    let sas = az.account_sas("rwdlacup");
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), "clip.mp4", &ClipSpec { frames: 24, gop: 12, ..ClipSpec::default() });
    let outputs = with_sas(&az.container("outputs"), &sas);
    let queue = with_sas(&az.queue("tasks"), &sas);
    let flaky = worker(&queue, &["--name", "flaky", "--max-attempts", "2", "-v"], &[("STYLIZE_FAULT", "error:1")])
        .spawn()
        .unwrap();
    let out = wait_bounded(submit_queued(&clip, &outputs, &queue), Duration::from_secs(120));
    let log = String::from_utf8_lossy(&stop(flaky).stderr).into_owned();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let line = err.lines().find(|l| l.starts_with("stylize: error: ")).unwrap();
    assert!(line.starts_with("stylize: error: flaky ("), "{err}");
    assert!(line.contains("shard 1: injected fault (attempt 2 of 2) (in "), "{err}");
    assert_eq!(starts(&log).iter().filter(|(_, s)| *s == 1).count(), 2, "two attempts: {log}");
}

/// Azure's Scheduled Events on loopback: answers every request with the
/// document `doc` holds at that moment.
fn scheduled_events(doc: std::sync::Arc<std::sync::Mutex<String>>) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/metadata/scheduledevents?api-version=2020-07-01", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().take(1000) {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            let asked = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
            let body = if asked.contains("metadata: true") { doc.lock().unwrap().clone() } else { "{}".into() };
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body.as_bytes()));
        }
    });
    url
}

#[test]
fn an_eviction_notice_hands_the_task_back_and_another_node_finishes() {
    let az = Azurite::start();
    let sas = az.account_sas("rwdlacup");
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), "clip.mp4", &ClipSpec { frames: 12, gop: 12, ..ClipSpec::default() });
    let outputs = with_sas(&az.container("outputs"), &sas);
    let queue = with_sas(&az.queue("tasks"), &sas);
    let doc = std::sync::Arc::new(std::sync::Mutex::new(r#"{"DocumentIncarnation":1,"Events":[]}"#.to_string()));
    let url = scheduled_events(doc.clone());
    let mut spot = worker(&queue, &["--name", "spot", "-v", "--eviction-url", &url], &[("STYLIZE_FAULT", "sleep:0")])
        .spawn()
        .unwrap();
    let job = submit_queued(&clip, &outputs, &queue);
    let reader = ShardLog::of(&mut spot);
    reader.started.recv_timeout(Duration::from_secs(90)).expect("the Spot worker takes the task");
    let node = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap().trim().to_string();
    *doc.lock().unwrap() = format!(
        r#"{{"DocumentIncarnation":2,"Events":[{{"EventId":"e1","EventType":"Preempt","ResourceType":"VirtualMachine","Resources":["{node}"],"EventStatus":"Scheduled","NotBefore":"Mon, 19 Sep 2016 18:29:47 GMT"}}]}}"#
    );
    let noticed = Instant::now();
    while spot.try_wait().unwrap().is_none() && noticed.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = noticed.elapsed();
    let _ = spot.kill();
    let out = spot.wait_with_output().unwrap();
    let log = reader.all.join().unwrap();
    assert!(took < Duration::from_secs(8), "stopped {took:?} after the notice: {log}");
    assert_eq!(out.status.code(), Some(0), "{log}");
    assert!(log.contains("eviction announced") && log.contains("task handed back"), "{log}");
    finished_by_another(&queue, job);
}
