//! The Azure backend against a real Azurite: the blob store, SAS scoping,
//! `--sas-only`, crash atomicity, the event queue, and redaction. Each
//! test starts its own Azurite (a missing Azurite fails the test: setup
//! installs it).

mod azurite_support;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use azurite_support::{admin_sas, in_an_hour, key, Azurite, Shown, ACCOUNT, KEY};
use stylize_azure::{
    container_sas, decode_payload, download_blob, parse_blob_created, queue_sas, upload_blob, BlobStore, EventQueue,
    SasProtocol, BLOCK_SIZE,
};
use stylize_engine::Store;

/// A file of `len` bytes whose content depends on every offset.
fn pattern_file(dir: &Path, name: &str, len: usize) -> std::path::PathBuf {
    let path = dir.join(name);
    let mut f = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ len as u64;
    let mut left = len;
    while left > 0 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let b = x.to_le_bytes();
        let n = left.min(8);
        f.write_all(&b[..n]).unwrap();
        left -= n;
    }
    f.flush().unwrap();
    path
}

fn same_file(a: &Path, b: &Path) -> bool {
    std::fs::read(a).unwrap() == std::fs::read(b).unwrap()
}

#[test]
fn blob_store_round_trip() {
    let az = Azurite::start();
    let sas = admin_sas();
    let mut shown = Shown::default();
    shown.secret_sas(&sas);

    let store = BlobStore::open(&format!("{}/roundtrip/pre?{sas}", az.blob_endpoint()), true).unwrap();
    shown.add(store.describe());
    assert_eq!(store.describe(), format!("{}/roundtrip/pre?{}", az.blob_endpoint(), redacted(&sas)));

    assert_eq!(store.get("jobs/1/manifest.json").unwrap(), None);
    store.put("jobs/1/manifest.json", b"{\"a\":1}").unwrap();
    store.put("jobs/1/empty", b"").unwrap();
    store.put("jobs/10/other", b"x").unwrap();
    store.put("top", b"t").unwrap();
    assert_eq!(store.get("jobs/1/manifest.json").unwrap().as_deref(), Some(&b"{\"a\":1}"[..]));
    assert_eq!(store.get("jobs/1/empty").unwrap().as_deref(), Some(&b""[..]));
    store.put("jobs/1/manifest.json", b"{\"a\":2}").unwrap(); // overwrite
    assert_eq!(store.get("jobs/1/manifest.json").unwrap().as_deref(), Some(&b"{\"a\":2}"[..]));

    assert_eq!(store.list("").unwrap(), vec!["jobs/1/empty", "jobs/1/manifest.json", "jobs/10/other", "top"]);
    assert_eq!(store.list("jobs/1").unwrap(), vec!["jobs/1/empty", "jobs/1/manifest.json"]);
    assert_eq!(store.list("jobs/").unwrap(), vec!["jobs/1/empty", "jobs/1/manifest.json", "jobs/10/other"]);
    assert_eq!(store.list("nothing").unwrap(), Vec::<String>::new());

    // The prefix in the URL is where the keys live in the container.
    let root = BlobStore::open(&format!("{}/roundtrip?{sas}", az.blob_endpoint()), true).unwrap();
    assert_eq!(root.list("pre/jobs/10").unwrap(), vec!["pre/jobs/10/other"]);

    // A 9 MiB file: three blocks, streamed both ways.
    let tmp = tempfile::tempdir().unwrap();
    let big = pattern_file(tmp.path(), "big.bin", 9 * 1024 * 1024 + 123);
    assert!(std::fs::metadata(&big).unwrap().len() as usize > 2 * BLOCK_SIZE);
    store.put_file("outputs/big.bin", &big).unwrap();
    let back = tmp.path().join("back.bin");
    assert!(store.get_file("outputs/big.bin", &back).unwrap());
    assert!(same_file(&big, &back), "downloaded bytes differ");
    assert!(!store.get_file("outputs/missing.bin", &tmp.path().join("missing")).unwrap());
    assert!(!tmp.path().join("missing").exists());
    // No temporary file is left beside the destination.
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(leftovers.len(), 2, "{leftovers:?}");

    // Single blobs by full URL.
    let blob_url = format!("{}/roundtrip/single/dir%20x/file.bin?{sas}", az.blob_endpoint());
    upload_blob(&blob_url, &big).unwrap();
    let back2 = tmp.path().join("back2.bin");
    download_blob(&blob_url, &back2).unwrap();
    assert!(same_file(&big, &back2));
    assert_eq!(root.list("single").unwrap(), vec!["single/dir x/file.bin"]);
    let missing =
        download_blob(&format!("{}/roundtrip/nope.bin?{sas}", az.blob_endpoint()), &back2).unwrap_err().to_string();
    assert!(missing.contains("no such blob"), "{missing}");
    shown.add(missing);

    // delete_prefix has directory semantics: jobs/1 is not jobs/10.
    store.delete_prefix("jobs/1").unwrap();
    assert_eq!(store.list("").unwrap(), vec!["jobs/10/other", "outputs/big.bin", "top"]);
    store.delete_prefix("").unwrap();
    assert_eq!(store.list("").unwrap(), Vec::<String>::new());
    assert_eq!(root.list("").unwrap(), vec!["single/dir x/file.bin"]);
    shown.check();
}

fn redacted(sas: &str) -> String {
    let sig = sas.split('&').find(|p| p.starts_with("sig=")).unwrap();
    sas.replace(sig, "sig=REDACTED")
}

#[test]
fn read_only_sas_cannot_write() {
    let az = Azurite::start();
    let admin = admin_sas();
    let writer = BlobStore::open(&format!("{}/videos?{admin}", az.blob_endpoint()), true).unwrap();
    writer.put("in/a.txt", b"hello").unwrap();

    let ro = container_sas(ACCOUNT, &key(), "videos", "rl", in_an_hour(), SasProtocol::HttpsAndHttp).unwrap();
    let mut shown = Shown::default();
    shown.secret_sas(&admin);
    shown.secret_sas(&ro);
    let reader = BlobStore::open(&format!("{}/videos?{ro}", az.blob_endpoint()), true).unwrap();
    shown.add(reader.describe());
    // The service SAS's signature is accepted for reading and listing…
    assert_eq!(reader.get("in/a.txt").unwrap().as_deref(), Some(&b"hello"[..]));
    assert_eq!(reader.list("in").unwrap(), vec!["in/a.txt"]);
    // …and refused for writing, in one line, without the signature.
    let err = reader.put("in/b.txt", b"nope").unwrap_err().to_string();
    assert!(!err.contains('\n'), "{err}");
    assert!(err.contains("403"), "{err}");
    assert!(err.contains("/videos/in/b.txt"), "{err}");
    shown.add(err);
    let tmp = tempfile::tempdir().unwrap();
    let f = pattern_file(tmp.path(), "f", 1000);
    shown.add(reader.put_file("in/c.txt", &f).unwrap_err().to_string());
    shown.add(reader.delete_prefix("in").unwrap_err().to_string());
    assert_eq!(writer.list("").unwrap(), vec!["in/a.txt"]);

    // A tampered signature is refused too, and not echoed.
    let forged = ro.replace("sig=", "sig=AAAA");
    shown.secret_sas(&forged);
    let bad = BlobStore::open(&format!("{}/videos?{forged}", az.blob_endpoint()), true).unwrap();
    let err = bad.get("in/a.txt").unwrap_err().to_string();
    assert!(err.contains("403"), "{err}");
    shown.add(err);
    shown.check();
}

#[test]
fn sas_only_refuses_keys_and_bare_urls() {
    let az = Azurite::start();
    let mut shown = Shown::default();
    let bare = format!("{}/videos", az.blob_endpoint());
    let err = BlobStore::open(&bare, true).unwrap_err().to_string();
    assert_eq!(err, format!("{bare}: no SAS token"));
    shown.add(err);
    // A query without a signature is not a SAS either.
    let err = BlobStore::open(&format!("{bare}?sv=2021-08-06&sp=r"), true).unwrap_err().to_string();
    assert!(err.ends_with(": no SAS token"), "{err}");
    shown.add(err);

    let conn = format!(
        "DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};BlobEndpoint={}/;QueueEndpoint={}/;Container=videos/k",
        az.blob_endpoint(),
        az.queue_endpoint()
    );
    let err = BlobStore::open(&conn, true).unwrap_err().to_string();
    assert!(err.ends_with(": --sas-only: an account key is not allowed"), "{err}");
    assert!(err.contains("AccountKey=REDACTED"), "{err}");
    shown.add(err);
    let err =
        stylize_azure::EventQueue::open(&format!("{}/events", az.queue_endpoint()), true).unwrap_err().to_string();
    assert!(err.ends_with(": no SAS token"), "{err}");
    shown.add(err);

    // Without --sas-only the key is accepted: a SAS is minted from it.
    let store = BlobStore::open(&conn, false).unwrap();
    shown.add(store.describe());
    store.put("x", b"1").unwrap();
    assert_eq!(store.get("x").unwrap().as_deref(), Some(&b"1"[..]));
    let admin = admin_sas();
    shown.secret_sas(&admin);
    let root = BlobStore::open(&format!("{}/videos?{admin}", az.blob_endpoint()), true).unwrap();
    assert_eq!(root.list("").unwrap(), vec!["k/x"]);
    let err = BlobStore::open(&conn.replace(";Container=videos/k", ""), false).unwrap_err().to_string();
    assert!(err.contains("no Container="), "{err}");
    shown.add(err);
    shown.check();
}

#[test]
fn a_crash_mid_upload_leaves_no_blob() {
    let mut az = Azurite::start();
    let sas = admin_sas();
    let mut shown = Shown::default();
    shown.secret_sas(&sas);
    let url = format!("{}/atomic?{sas}", az.blob_endpoint());
    let store = BlobStore::open(&url, true).unwrap();
    store.put("marker", b"m").unwrap();
    // The container must survive the crash: wait until Azurite has saved
    // its metadata (every 5 s) with the marker in it.
    let tmp = tempfile::tempdir().unwrap();
    let big = pattern_file(tmp.path(), "big.bin", 160 * 1024 * 1024);
    let db = az.dir.path().join("__azurite_db_blob__.json");
    let saved = Instant::now();
    while !std::fs::read_to_string(&db).is_ok_and(|t| t.contains("\"marker\"")) {
        assert!(saved.elapsed() < Duration::from_secs(60), "Azurite never saved its metadata to {}", db.display());
        std::thread::sleep(Duration::from_millis(100));
    }

    let before = az.data_bytes();
    let result = std::thread::scope(|s| {
        let upload = s.spawn(|| store.put_file("big.bin", &big));
        // Kill Azurite once a few blocks have landed, well before the end.
        let deadline = Instant::now() + Duration::from_secs(60);
        while az.data_bytes() < before + 2 * BLOCK_SIZE as u64 && !upload.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(!upload.is_finished(), "the upload finished before Azurite could be killed");
        az.kill();
        let t = Instant::now();
        let r = upload.join().unwrap();
        assert!(t.elapsed() < Duration::from_secs(40), "a dead endpoint took {:?} to fail", t.elapsed());
        r
    });
    let err = result.expect_err("put_file succeeded although Azurite was killed").to_string();
    assert!(!err.contains('\n'), "{err}");
    shown.add(err);

    az.restart();
    let store = BlobStore::open(&url, true).unwrap();
    // What was saved survived: the absence below is no lost database.
    assert_eq!(store.get("marker").unwrap().as_deref(), Some(&b"m"[..]), "the marker survived the crash");
    assert_eq!(store.get("big.bin").unwrap(), None, "a partial blob is visible after the crash");
    assert!(!store.list("").unwrap().contains(&"big.bin".to_string()));
    store.put_file("big.bin", &big).unwrap();
    let back = tmp.path().join("back.bin");
    assert!(store.get_file("big.bin", &back).unwrap());
    assert!(same_file(&big, &back));
    shown.check();
}

#[test]
fn a_dead_endpoint_fails_fast() {
    // Nothing listens there: every connection is refused.
    let port = azurite_support::free_port();
    let ro = container_sas(ACCOUNT, &key(), "videos", "rl", in_an_hour(), SasProtocol::HttpsAndHttp).unwrap();
    let store = BlobStore::open(&format!("http://127.0.0.1:{port}/{ACCOUNT}/videos?{ro}"), true).unwrap();
    let t = Instant::now();
    let err = store.get("x").unwrap_err().to_string();
    assert!(t.elapsed() < Duration::from_secs(30), "took {:?}", t.elapsed());
    let mut shown = Shown::default();
    shown.secret_sas(&ro);
    shown.add(err);
    shown.check();
}

const EVENT: &str = r#"{"topic":"/subscriptions/0/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/devstoreaccount1","subject":"/blobServices/default/containers/inputs/blobs/a.mp4","eventType":"Microsoft.Storage.BlobCreated","id":"1","data":{"api":"PutBlockList","url":"http://127.0.0.1/devstoreaccount1/inputs/a.mp4"},"dataVersion":"","metadataVersion":"1","eventTime":"2024-01-01T00:00:00Z"}"#;
const CLOUD_EVENT: &str = r#"{"specversion":"1.0","type":"Microsoft.Storage.BlobCreated","source":"/subscriptions/0/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/devstoreaccount1","subject":"/blobServices/default/containers/inputs/blobs/b.mp4","id":"2","data":{"api":"PutBlob","url":"http://127.0.0.1/devstoreaccount1/inputs/b.mp4"}}"#;

#[test]
fn event_queue_receive_extend_delete_poison() {
    use base64::Engine as _;
    let az = Azurite::start();
    let sas = admin_sas();
    let mut shown = Shown::default();
    shown.secret_sas(&sas);
    let q = EventQueue::open(&format!("{}/events?{sas}", az.queue_endpoint()), true).unwrap();
    shown.add(q.describe());

    // As Event Grid would write them (base64), as CloudEvents (plain), and junk.
    q.send(&base64::engine::general_purpose::STANDARD.encode(EVENT)).unwrap();
    q.send(CLOUD_EVENT).unwrap();
    q.send("this is not an event").unwrap();

    let msgs = q.receive(32, Duration::from_secs(2)).unwrap();
    assert_eq!(msgs.len(), 3, "{msgs:?}");
    assert!(msgs.iter().all(|m| m.dequeue_count == 1));
    let by_text = |needle: &str| msgs.iter().find(|m| decode_payload(&m.text).contains(needle)).unwrap().clone();
    let (a, b, junk) = (by_text("a.mp4"), by_text("b.mp4"), by_text("not an event"));

    // a: parse, extend while "working", delete with the new receipt.
    let evs = parse_blob_created(&a.payload()).unwrap();
    assert_eq!((evs[0].container.as_str(), evs[0].blob.as_str()), ("inputs", "a.mp4"));
    let receipt = q.extend(&a, Duration::from_secs(60)).unwrap();
    assert_ne!(receipt, a.pop_receipt);
    // The old receipt no longer deletes it; that is not fatal (another
    // watcher may hold the message now), and the message stays...
    q.delete(&a).expect("a stale receipt is not an error");
    // (an update with the new receipt succeeds only on a message that is
    // still there: a deleted one answers 404)...
    let held = stylize_azure::QueueMessage { pop_receipt: receipt, ..a.clone() };
    let receipt = q.extend(&held, Duration::from_secs(60)).expect("the message stayed after the stale delete");
    // ...until deleted with the new receipt; then it is gone.
    let held = stylize_azure::QueueMessage { pop_receipt: receipt, ..a.clone() };
    q.delete(&held).unwrap();
    assert!(q.extend(&held, Duration::from_secs(60)).is_err(), "deleted with the right receipt, it is gone");

    // junk: poison with the parser's reason.
    let reason = parse_blob_created(&junk.payload()).unwrap_err().to_string();
    q.poison(&junk, &reason).unwrap();
    let poisoned = q.poisoned(32).unwrap();
    assert_eq!(poisoned.len(), 1);
    let body: serde_json::Value = serde_json::from_str(&poisoned[0].text).unwrap();
    assert_eq!(body["reason"], reason.as_str());
    assert_eq!(body["message"], "this is not an event");

    // b was neither deleted nor extended: it comes back, dequeued twice.
    std::thread::sleep(Duration::from_millis(2500));
    let again = q.receive(32, Duration::from_secs(30)).unwrap();
    assert_eq!(again.len(), 1, "{again:?}");
    assert_eq!(again[0].id, b.id);
    assert_eq!(again[0].dequeue_count, 2);
    assert_eq!(parse_blob_created(&again[0].payload()).unwrap()[0].blob, "b.mp4");

    // A queue service SAS (`raup`) scoped to one queue works on that queue.
    let qsas = queue_sas(ACCOUNT, &key(), "scoped", "raup", in_an_hour(), SasProtocol::HttpsAndHttp).unwrap();
    shown.secret_sas(&qsas);
    let _create = EventQueue::open(&format!("{}/scoped?{sas}", az.queue_endpoint()), true).unwrap();
    let scoped = EventQueue::open(&format!("{}/scoped?{qsas}", az.queue_endpoint()), true).unwrap();
    scoped.send("hello").unwrap();
    let got = scoped.receive(1, Duration::from_secs(30)).unwrap();
    assert_eq!(got.len(), 1);
    scoped.delete(&got[0]).unwrap();
    // …but not on another queue.
    let other = EventQueue::open(&format!("{}/events?{qsas}", az.queue_endpoint()), true).unwrap();
    let err = other.send("x").unwrap_err().to_string();
    assert!(err.contains("403"), "{err}");
    shown.add(err);
    shown.check();
}
