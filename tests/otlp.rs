//! Traces for the operator's own tools: with `--otlp URL` a job exports a
//! span for the job, each of its stages, each shard (on whatever worker
//! ran it) and each shard's decode, model and encode, one trace, parents
//! right, over OTLP/HTTP (JSON) to a collector: here a small one on
//! loopback that keeps what it receives. Without the flag nothing is sent.

mod util;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use util::*;

/// A collector on loopback: every request body, as received.
fn collector() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = bodies.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(200) {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let (mut length, mut first) = (0usize, String::new());
            let _ = reader.read_line(&mut first);
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0u8; length];
            let _ = reader.read_exact(&mut body);
            if first.starts_with("POST /v1/traces") {
                kept.lock().unwrap().push(String::from_utf8_lossy(&body).into_owned());
            }
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
        }
    });
    (url, bodies)
}

/// A span received: (name, span id, parent id, trace id, attributes).
type Span = (String, String, String, String, HashMap<String, String>);

/// Every span received.
fn spans(bodies: &[String]) -> Vec<Span> {
    let mut out = Vec::new();
    for body in bodies {
        let doc: serde_json::Value = serde_json::from_str(body).expect("OTLP JSON");
        for rs in doc["resourceSpans"].as_array().unwrap() {
            for ss in rs["scopeSpans"].as_array().unwrap() {
                for s in ss["spans"].as_array().unwrap() {
                    let attrs = s["attributes"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|a| {
                            let v = &a["value"];
                            let text = v["stringValue"].as_str().map(str::to_string).unwrap_or_else(|| {
                                v["intValue"].as_str().map(str::to_string).unwrap_or_else(|| v.to_string())
                            });
                            (a["key"].as_str().unwrap().to_string(), text)
                        })
                        .collect();
                    let field = |k: &str| s[k].as_str().unwrap_or_default().to_string();
                    out.push((field("name"), field("spanId"), field("parentSpanId"), field("traceId"), attrs));
                }
            }
        }
    }
    out
}

#[test]
fn a_job_exports_its_spans_to_an_otlp_collector() {
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), "clip.mp4", &ClipSpec { frames: 36, gop: 12, ..ClipSpec::default() });
    let (url, bodies) = collector();
    let out = submit(&clip, &dir.path().join("out"), &["--shard-frames", "12", "--otlp", &url, "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let spans = spans(&bodies.lock().unwrap());
    let named = |n: &str| spans.iter().filter(|s| s.0 == n).collect::<Vec<_>>();
    let job = named("job");
    assert_eq!(job.len(), 1, "one job span: {:?}", spans.iter().map(|s| &s.0).collect::<Vec<_>>());
    assert_eq!(job[0].4.get("job").map(String::as_str), report["job"].as_str(), "the job span names the job");
    assert!(spans.iter().all(|s| s.3 == job[0].3), "one trace");
    for stage in ["probe", "prepare", "plan", "frames", "stitch"] {
        let s = named(stage);
        assert_eq!(s.len(), 1, "{stage}");
        assert_eq!(s[0].2, job[0].1, "{stage} is under the job");
    }
    let frames = named("frames")[0].1.clone();
    let shards = named("shard");
    assert_eq!(shards.len(), 3, "one span per shard");
    let mut indices: Vec<&str> = shards.iter().map(|s| s.4["shard"].as_str()).collect();
    indices.sort();
    assert_eq!(indices, vec!["0", "1", "2"]);
    for s in &shards {
        assert_eq!(s.2, frames, "shards are under the frames stage");
        assert!(s.4["worker"].starts_with("local"), "{:?}", s.4);
        for stage in ["decode", "model", "encode"] {
            assert_eq!(spans.iter().filter(|x| x.0 == stage && x.2 == s.1).count(), 1, "{stage} under shard {:?}", s.4);
        }
    }
}

#[test]
fn without_otlp_nothing_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let clip = make_clip(dir.path(), "clip.mp4", &ClipSpec { frames: 12, gop: 12, ..ClipSpec::default() });
    let (url, bodies) = collector();
    let out = stylize()
        .arg("submit")
        .arg(&clip)
        .args(["-o", dir.path().join("out").to_str().unwrap()])
        .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
        .output()
        .unwrap();
    assert!(out.status.success());
    // And the standard variable alone turns it on.
    let out = stylize()
        .arg("submit")
        .arg(&clip)
        .args(["-o", dir.path().join("again").to_str().unwrap()])
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", &url)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let received = spans(&bodies.lock().unwrap());
    assert!(received.iter().any(|s| s.0 == "job"), "the variable's endpoint got the spans");
    assert_eq!(received.iter().filter(|s| s.0 == "job").count(), 1, "the run without it sent none");
}
