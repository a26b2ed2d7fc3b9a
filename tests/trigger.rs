//! The upload trigger under attack and under load, against Azurite: no
//! message stops the watcher or wedges the queue, each job runs once
//! across watchers, outputs are named per input path, the configuration is
//! checked before any message is taken, and logs are kept per attempt.

mod util;

use std::path::Path;
use std::process::Output;

use stylize_azure::{upload_blob, BlobStore, EventQueue, SasProtocol};
use stylize_engine::Store;
use util::azurite::{in_an_hour, key, Azurite, ACCOUNT};
use util::events::*;
use util::*;

fn watch(queue: &str, inputs: &str, outputs: &str, extra: &[&str]) -> Output {
    watch_command(queue, inputs, outputs, extra).arg("--until-empty").output().unwrap()
}

fn summary(out: &Output) -> serde_json::Value {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim()).unwrap()
}

#[test]
fn oversized_and_unmovable_messages_never_stop_the_watcher() {
    let az = Azurite::start();
    let sas = az.account_sas("rwdlacup");
    let dir = tempfile::tempdir().unwrap();
    BlobStore::open(&with_sas(&az.container("uploads"), &sas), false).unwrap();
    upload(&az, &sas, dir.path(), "a.mp4", 12);
    let outputs = with_sas(&az.container("outputs"), &sas);
    let inputs = with_sas(&az.container("uploads"), &sas);

    // 60 KB of `"` fits the queue, but escaped into a poison record it is
    // twice the 64 KiB a message may hold.
    let quotes = "\"".repeat(60_000);
    let queue_url = with_sas(&az.queue("events"), &sas);
    let queue = EventQueue::open(&queue_url, false).unwrap();
    queue.send(&quotes).unwrap();
    queue.send(&event_grid(&az, "uploads", "a.mp4")).unwrap();
    let s = summary(&watch(&queue_url, &inputs, &outputs, &[]));
    assert_eq!((s["done"].as_u64(), s["poisoned"].as_u64()), (Some(1), Some(1)), "{s}");
    let poisoned = queue.poisoned(8).unwrap();
    assert_eq!(poisoned.len(), 1);
    let record: serde_json::Value = serde_json::from_str(&poisoned[0].text).unwrap();
    assert_eq!(record["truncated"], true);
    assert_eq!(record["message_bytes"], 60_000);
    assert_eq!(record["message_sha256"], stylize_engine::digest(quotes.as_bytes()));
    assert!(record["reason"].as_str().unwrap().contains("malformed"));

    // A SAS for one queue cannot reach its poison queue: refused before
    // any message is taken...
    let scoped =
        stylize_azure::queue_sas(ACCOUNT, &key(), "scoped", "raup", in_an_hour(), SasProtocol::HttpsAndHttp).unwrap();
    EventQueue::open(&with_sas(&az.queue("scoped"), &sas), false).unwrap().send("not an event").unwrap();
    upload(&az, &sas, dir.path(), "b.mp4", 12);
    EventQueue::open(&with_sas(&az.queue("scoped"), &sas), false)
        .unwrap()
        .send(&event_grid(&az, "uploads", "b.mp4"))
        .unwrap();
    let scoped_url = with_sas(&az.queue("scoped"), &scoped);
    let out = watch(&scoped_url, &inputs, &outputs, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("scoped-poison") && err.contains("--logs"), "{err}");
    assert_no_secret(&err, &Azurite::signature(&scoped), "the refusal");
    // ...or, with a logs store, the bad message is kept there and the good
    // one behind it runs.
    let logs = with_sas(&az.container("logs"), &sas);
    let s = summary(&watch(&scoped_url, &inputs, &outputs, &["--logs", &logs]));
    assert_eq!((s["done"].as_u64(), s["poisoned"].as_u64()), (Some(1), Some(1)), "{s}");
    let logs = BlobStore::open(&logs, false).unwrap();
    let saved: Vec<String> = logs.list("poison").unwrap();
    assert_eq!(saved.len(), 1, "{saved:?}");
    let record: serde_json::Value = serde_json::from_slice(&logs.get(&saved[0]).unwrap().unwrap()).unwrap();
    assert_eq!(record["message"], "not an event");
    assert!(EventQueue::open(&with_sas(&az.queue("scoped"), &sas), false)
        .unwrap()
        .receive(8, std::time::Duration::from_secs(1))
        .unwrap()
        .is_empty());
}

#[test]
fn configuration_is_checked_before_any_message_is_taken() {
    let az = Azurite::start();
    let sas = az.account_sas("rwdlacup");
    BlobStore::open(&with_sas(&az.container("uploads"), &sas), false).unwrap();
    BlobStore::open(&with_sas(&az.container("outputs"), &sas), false).unwrap();
    let queue_url = with_sas(&az.queue("events"), &sas);
    let queue = EventQueue::open(&queue_url, false).unwrap();
    queue.send(&event_grid(&az, "uploads", "a.mp4")).unwrap();
    let inputs = with_sas(&az.container("uploads"), &sas);
    let read_only = with_sas(&az.container("outputs"), &az.container_sas("outputs", "rl"));
    let expired = with_sas(&az.container("uploads"), &sas.replace(&sas_param(&sas, "se"), "2020-01-01T00%3A00%3A00Z"));
    let conn = format!(
        "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={};BlobEndpoint={};Container=outputs",
        util::azurite::KEY,
        az.blob_endpoint()
    );
    for (inputs, outputs, extra, says) in [
        (inputs.as_str(), read_only.as_str(), vec![], "403"),
        (expired.as_str(), &with_sas(&az.container("outputs"), &sas), vec![], "expired"),
        (inputs.as_str(), conn.as_str(), vec!["--sas-only"], "--sas-only"),
    ] {
        let out = watch(&queue_url, inputs, outputs, &extra);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains(says), "{says}: {err}");
    }
    let waiting = queue.receive(8, std::time::Duration::from_secs(1)).unwrap();
    assert_eq!(waiting.len(), 1, "the message was never taken");
    assert_eq!(waiting[0].dequeue_count, 1);
}

/// An account-key connection string serves for the queue (`Queue=`) and
/// the inputs (`Container=`) as it does for the outputs: a SAS is minted
/// from the key, which appears in no output.
#[test]
fn connection_strings_serve_for_the_queue_and_the_inputs() {
    let az = Azurite::start();
    let sas = az.account_sas("rwdlacup");
    let dir = tempfile::tempdir().unwrap();
    BlobStore::open(&with_sas(&az.container("uploads"), &sas), false).unwrap();
    upload(&az, &sas, dir.path(), "a.mp4", 12);
    let queue = EventQueue::open(&with_sas(&az.queue("events"), &sas), false).unwrap();
    queue.send(&event_grid(&az, "uploads", "a.mp4")).unwrap();
    let conn = |part: &str| {
        format!(
            "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={};BlobEndpoint={};QueueEndpoint={};{part}",
            util::azurite::KEY,
            az.blob_endpoint(),
            az.queue_endpoint()
        )
    };
    let out = watch(&conn("Queue=events"), &conn("Container=uploads"), &conn("Container=outputs"), &[]);
    let s = summary(&out);
    assert_eq!(s["done"].as_u64(), Some(1), "{s}");
    let store = BlobStore::open(&with_sas(&az.container("outputs"), &sas), false).unwrap();
    output_key(&store.list("").unwrap(), "a.fauve");
    for text in [String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)] {
        // The minted signature is unknown here: every `sig=` is redacted.
        assert!(text.match_indices("sig=").all(|(i, _)| text[i + 4..].starts_with("REDACTED")), "{text}");
        assert!(!text.contains(&util::azurite::KEY[..20]), "the key shown: {text}");
    }
}

/// A blob name may hold a segment longer than a file name may be (255
/// bytes): the job runs once, commits, and is not then failed by a local
/// file named after it.
#[test]
fn an_upload_whose_name_is_longer_than_a_file_name_runs_once() {
    let az = Azurite::start();
    let sas = az.account_sas("rwdlacup");
    let dir = tempfile::tempdir().unwrap();
    BlobStore::open(&with_sas(&az.container("uploads"), &sas), false).unwrap();
    let long = format!("in/{}.mp4", "v".repeat(300));
    let clip = make_clip(dir.path(), "clip.mp4", &ClipSpec { frames: 12, gop: 12, ..ClipSpec::default() });
    upload_blob(&with_sas(&format!("{}/{long}", az.container("uploads")), &sas), &clip).unwrap();
    let queue_url = with_sas(&az.queue("events"), &sas);
    EventQueue::open(&queue_url, false).unwrap().send(&event_grid(&az, "uploads", &long)).unwrap();
    let outputs = with_sas(&az.container("outputs"), &sas);
    let s = summary(&watch(&queue_url, &with_sas(&az.container("uploads"), &sas), &outputs, &[]));
    assert_eq!((s["done"].as_u64(), s["poisoned"].as_u64(), s["retried"].as_u64()), (Some(1), Some(0), Some(0)), "{s}");
    let store = BlobStore::open(&outputs, false).unwrap();
    output_key(&store.list("").unwrap(), &format!("in/{}.fauve", "v".repeat(300)));
}

/// One message may carry several events: a missing blob beside a good one
/// does not keep the good one from its job; the message is poisoned naming
/// only the event that failed.
#[test]
fn a_bad_event_beside_a_good_one_in_one_message_poisons_only_itself() {
    use base64::Engine as _;
    let az = Azurite::start();
    let sas = az.account_sas("rwdlacup");
    let dir = tempfile::tempdir().unwrap();
    BlobStore::open(&with_sas(&az.container("uploads"), &sas), false).unwrap();
    upload(&az, &sas, dir.path(), "ok.mp4", 12);
    let one = |blob: &str| -> serde_json::Value {
        let b64 = event_grid(&az, "uploads", blob);
        let text = base64::engine::general_purpose::STANDARD.decode(b64).unwrap();
        serde_json::from_slice::<serde_json::Value>(&text).unwrap()[0].clone()
    };
    let both = serde_json::json!([one("missing.mp4"), one("ok.mp4")]).to_string();
    let queue_url = with_sas(&az.queue("events"), &sas);
    let queue = EventQueue::open(&queue_url, false).unwrap();
    queue.send(&both).unwrap();
    let outputs = with_sas(&az.container("outputs"), &sas);
    let s = summary(&watch(&queue_url, &with_sas(&az.container("uploads"), &sas), &outputs, &[]));
    assert_eq!(s["poisoned"].as_u64(), Some(1), "{s}");
    let store = BlobStore::open(&outputs, false).unwrap();
    output_key(&store.list("").unwrap(), "ok.fauve");
    let poisoned = queue.poisoned(8).unwrap();
    assert_eq!(poisoned.len(), 1);
    let record: serde_json::Value = serde_json::from_str(&poisoned[0].text).unwrap();
    let reason = record["reason"].as_str().unwrap();
    assert!(reason.starts_with("missing.mp4: ") && reason.ends_with("; 1 of 2 events committed"), "{reason}");
    assert!(!reason.contains("ok.mp4"), "{reason}");
}

/// A job that keeps failing for a reason that may pass (a transient shard
/// error) is retried, then poisoned after `--max-dequeues` with the last
/// failure's cause as its reason; the watcher goes on.
#[test]
fn a_job_failing_every_try_is_poisoned_after_max_dequeues_with_its_cause() {
    let az = Azurite::start();
    let sas = az.account_sas("rwdlacup");
    let dir = tempfile::tempdir().unwrap();
    BlobStore::open(&with_sas(&az.container("uploads"), &sas), false).unwrap();
    upload(&az, &sas, dir.path(), "a.mp4", 12);
    let queue_url = with_sas(&az.queue("events"), &sas);
    let queue = EventQueue::open(&queue_url, false).unwrap();
    queue.send(&event_grid(&az, "uploads", "a.mp4")).unwrap();
    let mut watcher = stylize()
        .args(["watch", "--queue", &queue_url, "--inputs", &with_sas(&az.container("uploads"), &sas)])
        .args(["-o", &with_sas(&az.container("outputs"), &sas), "--visibility", "3", "--max-dequeues", "2"])
        .args(["--deflicker", "off", "--no-flicker-report"])
        .env("STYLIZE_FAULT", "error:0")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let poisoned = loop {
        // The watcher creates the poison queue as it starts.
        let p = queue.poisoned(8).unwrap_or_default();
        if !p.is_empty() {
            break p;
        }
        assert!(watcher.try_wait().unwrap().is_none(), "the watcher ended");
        assert!(start.elapsed() < std::time::Duration::from_secs(180), "nothing poisoned");
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let _ = watcher.kill();
    let log = String::from_utf8_lossy(&watcher.wait_with_output().unwrap().stderr).into_owned();
    assert_eq!(poisoned.len(), 1);
    let record: serde_json::Value = serde_json::from_str(&poisoned[0].text).unwrap();
    let reason = record["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("gave up after 2 attempts; the last: ") && reason.contains("injected fault"),
        "{reason}"
    );
    assert_eq!(log.matches("left for a retry").count(), 2, "{log}");
    assert!(queue.receive(8, std::time::Duration::from_secs(1)).unwrap().is_empty(), "the message left the queue");
}

/// A SAS that runs out while `watch` runs is the configuration gone
/// wrong: the watcher stops with exit 1 and one line saying which SAS
/// expired, instead of retrying the service's 403 while uploads wait;
/// for the queue's SAS as for the inputs'.
#[test]
fn a_sas_expiring_while_watching_stops_the_watcher() {
    let az = Azurite::start();
    let sas = az.account_sas("rwdlacup");
    BlobStore::open(&with_sas(&az.container("uploads"), &sas), false).unwrap();
    let soon = || {
        let at = std::time::SystemTime::now() + std::time::Duration::from_secs(6);
        stylize_azure::account_sas(ACCOUNT, &key(), "bq", "sco", "rwdlacup", at, SasProtocol::HttpsAndHttp).unwrap()
    };
    for which in ["queue", "inputs"] {
        let (queue_sas, inputs_sas) = if which == "queue" { (soon(), sas.clone()) } else { (sas.clone(), soon()) };
        let child = stylize()
            .args(["watch", "--queue", &with_sas(&az.queue("events"), &queue_sas)])
            .args(["--inputs", &with_sas(&az.container("uploads"), &inputs_sas)])
            .args(["-o", &with_sas(&az.container("outputs"), &sas), "--visibility", "5"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let out = wait_bounded(child, std::time::Duration::from_secs(60));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{which}: {err}");
        let ours: Vec<&str> = err.lines().filter(|l| l.starts_with("stylize: ")).collect();
        assert_eq!(ours.len(), 1, "{which}: {err}");
        let what = if which == "queue" { az.queue("events") } else { az.container("uploads") };
        assert!(ours[0].contains(&what) && ours[0].contains("the SAS expired at"), "{which}: {err}");
        assert_no_secret(&err, &Azurite::signature(&queue_sas), which);
        assert_no_secret(&err, &Azurite::signature(&inputs_sas), which);
    }
}

/// The value of `name` in a SAS query string, as written.
fn sas_param(sas: &str, name: &str) -> String {
    sas.split('&').find_map(|kv| kv.strip_prefix(&format!("{name}="))).unwrap().to_string()
}

#[test]
fn logs_are_kept_per_attempt_and_submit_checks_them_first() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    for _ in 0..2 {
        let out =
            submit(&dir.path().join("missing.mp4"), &dir.path().join("out"), &["--logs", &logs.to_string_lossy()]);
        assert_eq!(out.status.code(), Some(1));
    }
    let names: Vec<String> =
        std::fs::read_dir(&logs).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(names.len(), 2, "two attempts, two logs: {names:?}");
    assert!(names.iter().all(|n| n.starts_with("failed.") && n.ends_with(".jsonl")), "{names:?}");

    // --sas-only with an account key for the logs: refused before any work.
    let clip = make_clip(dir.path(), "clip.mp4", &ClipSpec { frames: 12, ..ClipSpec::default() });
    let conn = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:9/devstoreaccount1;Container=logs";
    let out = submit(&clip, &dir.path().join("out2"), &["--sas-only", "--logs", conn]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("--sas-only") && !err.contains("a2V5"), "{err}");
    assert!(!dir.path().join("out2").exists() || outputs_in(&dir.path().join("out2")).is_empty(), "no work done");
}

/// An Event Grid event as a whole account's subscription sends it, for a
/// blob `url` that the subject says is `container`/`blob`.
fn event_for(url: &str, container: &str, blob: &str) -> String {
    serde_json::json!([{
        "topic": "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/other",
        "subject": format!("/blobServices/default/containers/{container}/blobs/{blob}"),
        "eventType": "Microsoft.Storage.BlobCreated",
        "id": format!("id-{blob}"),
        "data": { "api": "PutBlob", "url": url, "blobType": "BlockBlob" },
        "dataVersion": "", "metadataVersion": "1", "eventTime": "2026-12-02T08:00:00Z"
    }])
    .to_string()
}

#[test]
fn outputs_or_logs_in_the_watched_container_are_refused_at_start() {
    let az = Azurite::start();
    let sas = az.account_sas("rwdlacup");
    let sig = Azurite::signature(&sas);
    BlobStore::open(&with_sas(&az.container("uploads"), &sas), false).unwrap();
    let inputs = with_sas(&az.container("uploads"), &sas);
    let queue_url = with_sas(&az.queue("events"), &sas);
    for (flag, value) in [("-o", inputs.clone()), ("--logs", inputs.clone())] {
        let mut extra: Vec<&str> = Vec::new();
        let outputs = with_sas(&az.container("outputs"), &sas);
        let out = if flag == "-o" {
            watch(&queue_url, &inputs, &value, &extra)
        } else {
            extra.extend(["--logs", value.as_str()]);
            watch(&queue_url, &inputs, &outputs, &extra)
        };
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{flag}: {err}");
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(lines.len(), 1, "{flag}: {err}");
        assert!(lines[0].contains(&format!("{flag} is the watched container")), "{flag}: {err}");
        assert_no_secret(&err, &sig, flag);
    }
}

#[test]
fn events_are_trusted_only_for_the_watched_account_and_container_and_never_for_the_tools_own_writes() {
    let az = Azurite::start();
    let sas = az.account_sas("rwdlacup");
    let dir = tempfile::tempdir().unwrap();
    BlobStore::open(&with_sas(&az.container("uploads"), &sas), false).unwrap();
    BlobStore::open(&with_sas(&az.container("other"), &sas), false).unwrap();
    // The same name in the watched container and in another one.
    upload(&az, &sas, dir.path(), "a.mp4", 12);
    let clip = make_clip(dir.path(), "b.mp4", &ClipSpec { frames: 12, gop: 12, ..ClipSpec::default() });
    upload_blob(&with_sas(&format!("{}/a.mp4", az.container("other")), &sas), &clip).unwrap();
    upload_blob(&with_sas(&format!("{}/jobs/x/segments/00000.mp4", az.container("uploads")), &sas), &clip).unwrap();
    let outputs = with_sas(&az.container("outputs"), &sas);
    let inputs = with_sas(&az.container("uploads"), &sas);
    let queue_url = with_sas(&az.queue("events"), &sas);
    let queue = EventQueue::open(&queue_url, false).unwrap();
    let blob_port = az.container("uploads").split(':').nth(2).unwrap().split('/').next().unwrap().to_string();
    // Another container of the same account, named like ours.
    queue.send(&event_grid(&az, "other", "a.mp4")).unwrap();
    // Another account, same container and name.
    queue
        .send(&event_for(&format!("http://127.0.0.1:{blob_port}/otheraccount/uploads/a.mp4"), "uploads", "a.mp4"))
        .unwrap();
    // A subject that names our blob over a URL that is another's.
    queue.send(&event_for(&format!("{}/a.mp4", az.container("other")), "uploads", "a.mp4")).unwrap();
    // The tool's own segment, as a whole-account subscription reports it.
    queue.send(&event_grid(&az, "uploads", "jobs/x/segments/00000.mp4")).unwrap();
    let s = summary(&watch(&queue_url, &inputs, &outputs, &[]));
    assert_eq!((s["done"].as_u64(), s["ignored"].as_u64(), s["poisoned"].as_u64()), (Some(0), Some(4), Some(0)), "{s}");
    let store = BlobStore::open(&outputs, false).unwrap();
    assert!(store.list("").unwrap().is_empty(), "nothing ran");
    assert!(queue.poisoned(8).unwrap().is_empty(), "dropped, not poisoned as failures");

    // Our own upload still runs, once.
    queue.send(&event_grid(&az, "uploads", "a.mp4")).unwrap();
    let s = summary(&watch(&queue_url, &inputs, &outputs, &[]));
    assert_eq!(s["done"], 1, "{s}");
}

/// The README's walk-through of `watch` runs as written: Azurite, an
/// upload, the event Event Grid would deliver, the watcher, the result
/// downloaded next to the video (`scripts/try-watch.sh`).
#[test]
fn the_watch_walkthrough_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), "mine.mp4", &ClipSpec { frames: 25, ..ClipSpec::default() });
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/try-watch.sh");
    let out = std::process::Command::new(script)
        .arg(&clip)
        .env("STYLIZE_BIN", env!("CARGO_BIN_EXE_stylize"))
        .env("STYLIZE_THREADS", "2")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    for step in 1..=5 {
        assert!(err.contains(&format!("try-watch: {step}/5 ")), "step {step}: {err}");
    }
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("1 done, 0 poisoned") && said.contains("done"), "{said}");
    let result = dir.path().join("mine.watched.mp4");
    assert_eq!(video_stream(&probe(&result))["nb_read_frames"], "25");
    for text in [&err, &said] {
        assert!(!text.contains(&util::azurite::KEY[..20]), "the key shown: {text}");
    }
}

/// A storage error while watching (here the queue deleted under the
/// watchers) is retried with a pause that doubles from twice `--poll`,
/// never an exit; with `--until-empty` the fifth failed receive in a row
/// ends the watcher with the cause. The watcher that stays takes the next
/// upload once the queue is back.
#[test]
fn failed_receives_back_off_and_until_empty_gives_up_after_five() {
    let az = Azurite::start();
    let sas = az.account_sas("rwdlacup");
    let dir = tempfile::tempdir().unwrap();
    BlobStore::open(&with_sas(&az.container("uploads"), &sas), false).unwrap();
    upload(&az, &sas, dir.path(), "first.mp4", 12);
    upload(&az, &sas, dir.path(), "late.mp4", 12);
    let queue_url = with_sas(&az.queue("events"), &sas);
    let (inputs, outputs) = (with_sas(&az.container("uploads"), &sas), with_sas(&az.container("outputs"), &sas));
    let release = dir.path().join("release");
    let spawn = |extra: &[&str], hold: bool| {
        let mut cmd = watch_command(&queue_url, &inputs, &outputs, &["--poll", "0.1"]);
        cmd.args(extra).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        if hold {
            cmd.env("STYLIZE_FAULT", "hold:0").env("STYLIZE_FAULT_RELEASE", &release);
        }
        cmd.spawn().unwrap()
    };
    // The batch watcher would end at once on an empty queue: it is held in
    // the first upload's job while the queue goes.
    EventQueue::open(&queue_url, false).unwrap().send(&event_grid(&az, "uploads", "first.mp4")).unwrap();
    let mut batch = spawn(&["--until-empty"], true);
    let batch_log = Lines::of(&mut batch);
    assert!(batch_log.wait_for("plan ready", std::time::Duration::from_secs(60)), "{}", batch_log.text());
    let mut service = spawn(&[], false);
    let service_log = Lines::of(&mut service);
    assert!(service_log.wait_for("watching", std::time::Duration::from_secs(60)), "{}", service_log.text());
    let gone = std::process::Command::new("curl").args(["-sf", "-X", "DELETE", &queue_url]).status().unwrap();
    assert!(gone.success());
    std::fs::write(&release, b"").unwrap();

    let batch = wait_bounded(batch, std::time::Duration::from_secs(120));
    let err = batch_log.all();
    assert_eq!(batch.status.code(), Some(1), "{err}");
    let pauses: Vec<f64> =
        err.lines().filter_map(|l| l.split("trying again in ").nth(1)?.strip_suffix(" s")?.parse().ok()).collect();
    assert_eq!(pauses, [0.2, 0.4, 0.8, 1.6], "four pauses, doubling, then the fifth failure ends it: {err}");
    let last = err.lines().last().unwrap();
    assert!(last.starts_with("stylize: ") && last.contains("events") && last.contains("404"), "{err}");
    assert_no_secret(&err, &Azurite::signature(&sas), "the watcher's log");

    // The service watcher keeps trying past five failures, up to the
    // pause's cap, and runs the next upload when the queue is back.
    assert!(service_log.wait_for_n("trying again in", 6, std::time::Duration::from_secs(60)), "{}", service_log.text());
    assert!(service.try_wait().unwrap().is_none(), "the watcher ended: {}", service_log.text());
    EventQueue::open(&queue_url, false).unwrap().send(&event_grid(&az, "uploads", "late.mp4")).unwrap();
    let store = BlobStore::open(&outputs, false).unwrap();
    let start = std::time::Instant::now();
    while !store.list("").unwrap().iter().any(|k| k.starts_with("late.fauve")) {
        assert!(start.elapsed() < std::time::Duration::from_secs(120), "no output: {}", service_log.text());
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // Ctrl-C ends a watcher with a word on what happens to its work.
    std::process::Command::new("kill").args(["-INT", &service.id().to_string()]).status().unwrap();
    let status = service.wait().unwrap();
    let err = service_log.all();
    assert_eq!(status.code(), Some(130), "{err}");
    assert!(err.lines().last().unwrap().starts_with("stylize: interrupted: the watcher stops"), "{err}");
}
