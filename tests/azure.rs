//! Azure Blob Storage in and out, upload-triggered jobs and the poison
//! queue, SAS-only, and no secret in any output: against Azurite, which the
//! tests start themselves.

mod util;

use std::path::Path;

use stylize_azure::{download_blob, upload_blob, BlobStore, EventQueue};
use stylize_engine::Store;
use util::azurite::{Azurite, ACCOUNT, KEY};
use util::events::*;
use util::*;

#[test]
fn submit_by_url_round_trip_with_logs_apart() {
    let az = Azurite::start();
    let sas = az.account_sas("rwdlacup");
    let sig = Azurite::signature(&sas);
    let dir = tempfile::tempdir().unwrap();
    let spec = ClipSpec { frames: 30, gop: 10, ..ClipSpec::default() };
    let clip = make_clip(dir.path(), "clip.mp4", &spec);
    BlobStore::open(&with_sas(&az.container("uploads"), &sas), false).unwrap();
    upload_blob(&with_sas(&format!("{}/in/clip.mp4", az.container("uploads")), &sas), &clip).unwrap();

    let out = submit(
        Path::new(&with_sas(&format!("{}/in/clip.mp4", az.container("uploads")), &sas)),
        Path::new(&with_sas(&az.container("outputs"), &sas)),
        &["--json", "--shard-frames", "10", "--logs", &with_sas(&az.container("logs"), &sas), "--sas-only", "-v"],
    );
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert_no_secret(&stdout, &sig, "the report");
    assert_no_secret(&stderr, &sig, "the log");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let id = report["job"].as_str().unwrap();

    let outputs = BlobStore::open(&with_sas(&az.container("outputs"), &sas), false).unwrap();
    let keys = outputs.list("").unwrap();
    // The upload's folder is kept in the output's name.
    let key = output_key(&keys, "in/clip.fauve");
    assert!(
        keys.contains(&format!("jobs/{id}/manifest.json"))
            && keys.iter().filter(|k| k.contains("/segments/")).count() == 3,
        "{keys:?}"
    );
    let manifest = String::from_utf8(outputs.get(&format!("jobs/{id}/manifest.json")).unwrap().unwrap()).unwrap();
    assert_no_secret(&manifest, &sig, "the manifest");

    let local = dir.path().join("back.mp4");
    download_blob(&with_sas(&format!("{}/{key}", az.container("outputs")), &sas), &local).unwrap();
    let (pi, po) = (probe(&clip), probe(&local));
    assert_eq!(video_stream(&po)["nb_read_frames"], video_stream(&pi)["nb_read_frames"]);
    assert_eq!(video_stream(&po)["avg_frame_rate"], video_stream(&pi)["avg_frame_rate"]);
    assert_eq!(audio_md5(&local, 0), audio_md5(&clip, 0));

    // The job's log went to its own container, not beside the outputs.
    let logs = BlobStore::open(&with_sas(&az.container("logs"), &sas), false).unwrap();
    // One log per attempt: `<job>.<time>.<nonce>.jsonl`.
    let log_keys: Vec<String> =
        logs.list("").unwrap().into_iter().filter(|k| k.starts_with(&format!("{id}."))).collect();
    assert_eq!(log_keys.len(), 1, "{log_keys:?}");
    let log = String::from_utf8(logs.get(&log_keys[0]).unwrap().expect("job log written")).unwrap();
    assert!(log.lines().count() >= 4 && log.contains("\"event\":\"done\""), "{log}");
    assert_no_secret(&log, &sig, "the job log");
    assert!(!keys.iter().any(|k| k.ends_with(".jsonl")), "no log among the outputs");

    // The same command again: already committed, nothing redone.
    let again = submit(
        Path::new(&with_sas(&format!("{}/in/clip.mp4", az.container("uploads")), &sas)),
        Path::new(&with_sas(&az.container("outputs"), &sas)),
        &["--json", "--shard-frames", "10"],
    );
    assert!(again.status.success());
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again["shards_reused"], 3);
}

#[test]
fn uploads_trigger_jobs_and_bad_messages_go_to_the_poison_queue() {
    let az = Azurite::start();
    let sas = az.account_sas("rwdlacup");
    let sig = Azurite::signature(&sas);
    let dir = tempfile::tempdir().unwrap();
    BlobStore::open(&with_sas(&az.container("uploads"), &sas), false).unwrap();
    for (name, frames) in [("a.mp4", 12), ("b.mp4", 14)] {
        let clip = make_clip(dir.path(), name, &ClipSpec { frames, gop: 12, ..ClipSpec::default() });
        upload_blob(&with_sas(&format!("{}/{name}", az.container("uploads")), &sas), &clip).unwrap();
    }
    let fake = dir.path().join("fake.mp4");
    std::fs::write(&fake, "just some text, not a video\n".repeat(20)).unwrap();
    upload_blob(&with_sas(&format!("{}/fake.mp4", az.container("uploads")), &sas), &fake).unwrap();
    let queue_url = with_sas(&az.queue("uploads-events"), &sas);
    let queue = EventQueue::open(&queue_url, false).unwrap();
    queue.send("this is not an event").unwrap(); // malformed, first in line
    queue.send(&event_grid(&az, "uploads", "fake.mp4")).unwrap(); // not a video: poisoned at once
    queue.send(&event_grid(&az, "uploads", "missing.mp4")).unwrap(); // no such blob
    queue.send(&event_grid(&az, "uploads", "a.mp4")).unwrap();
    queue.send(&cloud_event(&az, "uploads", "b.mp4")).unwrap();
    queue.send(&event_grid(&az, "uploads", "a.mp4")).unwrap(); // announced twice
    queue.send(&event_grid(&az, "uploads", "notes.txt")).unwrap(); // not a video: ignored

    let mut cmd = stylize();
    let out = cmd
        .args([
            "watch",
            "--queue",
            &queue_url,
            "--inputs",
            &with_sas(&az.container("uploads"), &sas),
            "-o",
            &with_sas(&az.container("outputs"), &sas),
        ])
        .args(["--until-empty", "--json", "--visibility", "5", "--deflicker", "off", "--sas-only"])
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{stderr}");
    assert_no_secret(&stdout, &sig, "watch's output");
    assert_no_secret(&stderr, &sig, "watch's log");
    let summary: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(summary["done"], 3, "{summary}");
    assert_eq!(summary["poisoned"], 3, "{summary}");
    assert_eq!(summary["ignored"], 1, "{summary}");
    // Bad input is not retried: no attempt was left for another try.
    assert_eq!(summary["retried"], 0, "{summary}");

    let outputs = BlobStore::open(&with_sas(&az.container("outputs"), &sas), false).unwrap();
    let keys = outputs.list("").unwrap();
    output_key(&keys, "a.fauve");
    output_key(&keys, "b.fauve");
    assert_eq!(keys.iter().filter(|k| k.ends_with("/manifest.json")).count(), 2, "a.mp4 ran once: {keys:?}");

    let poisoned = queue.poisoned(32).unwrap();
    assert_eq!(poisoned.len(), 3);
    let reasons: Vec<String> = poisoned.iter().map(|m| m.payload()).collect();
    assert!(reasons.iter().any(|r| r.contains("fake.mp4") && !r.contains("malformed")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("malformed") && r.contains("this is not an event")), "{reasons:?}");
    assert!(reasons.iter().any(|r| r.contains("no such blob") && r.contains("missing.mp4")), "{reasons:?}");
    for r in &reasons {
        assert_no_secret(r, &sig, "a poison reason");
    }
    assert!(queue.receive(32, std::time::Duration::from_secs(1)).unwrap().is_empty(), "nothing left in the queue");
}

#[test]
fn sas_rules_and_no_secret_in_errors() {
    let az = Azurite::start();
    let sas = az.account_sas("rwdlacup");
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), "clip.mp4", &ClipSpec { frames: 8, audio: 0, ..ClipSpec::default() });
    BlobStore::open(&with_sas(&az.container("outputs"), &sas), false).unwrap();

    // A read-only SAS cannot write: one line, no signature, no output.
    let read_only = az.container_sas("outputs", "rl");
    let ro_sig = Azurite::signature(&read_only);
    let out = submit(&clip, Path::new(&with_sas(&az.container("outputs"), &read_only)), &["--deflicker", "off"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err} / {}", String::from_utf8_lossy(&out.stdout));
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("stylize: error: ") && err.contains("outputs"), "{err}");
    assert_no_secret(&err, &ro_sig, "the error");
    let outputs = BlobStore::open(&with_sas(&az.container("outputs"), &sas), false).unwrap();
    assert!(outputs.list("").unwrap().is_empty(), "nothing written");

    // --sas-only refuses an account key (connection string) and a URL
    // without a SAS; the key never appears.
    let conn = format!(
        "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};BlobEndpoint=http://127.0.0.1:{}/{ACCOUNT};Container=outputs",
        az.blob_port
    );
    for store in [conn.as_str(), az.container("outputs").as_str()] {
        let out = submit(&clip, Path::new(store), &["--sas-only"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("--sas-only") || err.contains("no SAS"), "{err}");
        assert!(!err.contains(KEY) && !err.contains(&KEY[..20]), "{err}");
    }
    // A managed identity is for https endpoints in Azure: against Azurite's
    // http it is refused up front, in one line.
    let out = submit(&clip, Path::new(&az.container("outputs")), &["--managed-identity"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.lines().count() == 1 && err.contains("https"), "{err}");

    // Without --sas-only the connection string works (a SAS is minted from
    // the key, which is then dropped).
    let out = submit(&clip, Path::new(&conn), &["--deflicker", "off", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Dropped: in no output, log, manifest or report.
    for text in [String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)] {
        assert!(!text.contains(KEY) && !text.contains(&KEY[..20]), "{text}");
    }
    let store = BlobStore::open(&conn, false).unwrap();
    let records: Vec<String> = store.list("jobs").unwrap().into_iter().filter(|k| !k.ends_with(".mp4")).collect();
    assert!(records.iter().any(|k| k.ends_with("manifest.json")), "{records:?}");
    for key in records {
        let text = String::from_utf8_lossy(&store.get(&key).unwrap().unwrap_or_default()).into_owned();
        assert!(!text.contains(KEY) && !text.contains(&KEY[..20]), "{key}: {text}");
    }
}

/// Storage stops answering in the middle of a job: the job fails cleanly
/// (one line, no output blob, no hang); once storage is back, the same
/// command finishes from the segments the manifest lists, and gives the
/// bytes of a clean run.
#[test]
fn storage_outage_mid_job_then_resume() {
    use std::process::Stdio;
    use std::time::{Duration, Instant};

    let az = Azurite::start();
    let sas = az.account_sas("rwdlacup");
    let sig = Azurite::signature(&sas);
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(
        dir.path(),
        "long.mp4",
        &ClipSpec { width: 320, height: 180, frames: 120, gop: 12, ..ClipSpec::default() },
    );
    let outputs = with_sas(&az.container("outputs"), &sas);
    let store = BlobStore::open(&outputs, false).unwrap();
    let args = ["--shard-frames", "12", "--threads", "1", "--no-flicker-report"];

    // Its log says where it waits, should it hang.
    let mut child = stylize()
        .arg("submit")
        .arg(&clip)
        .arg("-o")
        .arg(&outputs)
        .args(args)
        .arg("-v")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    loop {
        let segments = store.list("jobs").map(|k| k.iter().filter(|k| k.contains("/segments/")).count()).unwrap_or(0);
        if segments >= 3 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "no segment stored");
        std::thread::sleep(Duration::from_millis(100));
    }
    az.pause();
    // What the code promises: the first write that meets the frozen store
    // (a segment's block, or the job state's own save) gives up within
    // BLOCK_TIMEOUT; after it nothing more is written there (no second
    // upload, no end record), only the log and the lease's release within
    // OP_TIMEOUT each; the margin is for a shared machine. (Before, a
    // failed state save was ignored and the next segment's upload waited
    // out its own limit: over 270 s.)
    let promise = stylize_azure::BLOCK_TIMEOUT + 3 * stylize_azure::OP_TIMEOUT;
    let frozen = Instant::now();
    let deadline = frozen + promise + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "the job hangs without its storage ({promise:?} promised): {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("the job ended {:.1} s after storage froze", frozen.elapsed().as_secs_f64());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    // One error line (the log lines before it come from -v).
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("stylize: error:")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert_eq!(err.lines().last(), errors.last().copied(), "{err}");
    assert_no_secret(&err, &sig, "the error and the log");

    az.resume();
    let store = BlobStore::open(&outputs, false).unwrap();
    assert!(!store.list("").unwrap().iter().any(|k| k.starts_with("long.fauve.")), "no output after the failure");
    let out = submit(&clip, Path::new(&outputs), &[args.as_slice(), &["--json"]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reused = report["shards_reused"].as_u64().unwrap();
    assert!((2..10).contains(&reused), "{reused} of 10 shards reused");

    let back = dir.path().join("back.mp4");
    let key = output_key(&store.list("").unwrap(), "long.fauve");
    download_blob(&with_sas(&format!("{}/{key}", az.container("outputs")), &sas), &back).unwrap();
    let clean = submit_ok(&clip, &dir.path().join("clean"), &args);
    assert_eq!(digest(&back), digest(&clean), "resumed output differs from a clean run");
}
