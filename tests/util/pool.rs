//! The elastic pool's test harness, shared by `tests/queue.rs` and
//! `tests/queue_jobs.rs`: worker processes, queued submits, their logs.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use stylize_azure::{download_blob, BlobStore};
use stylize_engine::Store;

use super::azurite::Azurite;
use super::events::*;
use super::*;

/// The settings every run of a test shares: the bytes depend on them.
pub const ARGS: [&str; 8] = ["--shard-frames", "12", "--threads", "1", "--precision", "fp32", "--deflicker", "off"];

pub fn worker(queue: &str, extra: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = stylize();
    cmd.args(["worker", "--queue", queue, "--visibility", "5"]).args(extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

pub fn submit_queued(clip: &Path, outputs: &str, queue: &str) -> Child {
    stylize()
        .arg("submit")
        .arg(clip)
        .args(["-o", outputs, "--queue", queue, "--json"])
        .args(ARGS)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// A worker's log as it runs: a signal at each `shard starts`, the whole
/// log once it ends.
pub struct ShardLog {
    pub started: std::sync::mpsc::Receiver<()>,
    pub all: std::thread::JoinHandle<String>,
}

impl ShardLog {
    pub fn of(child: &mut Child) -> ShardLog {
        let (tx, started) = std::sync::mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        let all = std::thread::spawn(move || {
            use std::io::BufRead;
            let mut all = String::new();
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("shard starts") {
                    let _ = tx.send(());
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        ShardLog { started, all }
    }
}

/// A worker named `other` takes the task handed back and the job ends:
/// the report says `other` ran it.
pub fn finished_by_another(queue: &str, job: Child) {
    let other = worker(queue, &["--name", "other"], &[]).spawn().unwrap();
    let out = wait_bounded(job, Duration::from_secs(120));
    stop(other);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["timings"][0]["worker"]["name"], "other");
}

pub fn stop(mut child: Child) -> Output {
    let _ = child.kill();
    child.wait_with_output().unwrap()
}

/// The committed output (the one video at the container's top), downloaded.
pub fn downloaded(az: &Azurite, sas: &str, dir: &Path) -> std::path::PathBuf {
    let store = BlobStore::open(&with_sas(&az.container("outputs"), sas), false).unwrap();
    let key = output_key(&store.list("").unwrap(), "clip.fauve");
    let back = dir.join("back.mp4");
    download_blob(&with_sas(&format!("{}/{key}", az.container("outputs")), sas), &back).unwrap();
    back
}

/// The `shard starts` lines of a worker's log, as (job, shard).
pub fn starts(log: &str) -> Vec<(String, u64)> {
    let field = |line: &str, name: &str| -> Option<String> {
        let at = line.find(&format!(" {name}="))? + name.len() + 2;
        Some(line[at..].split_whitespace().next()?.to_string())
    };
    log.lines()
        .filter(|l| l.contains("shard starts"))
        .filter_map(|l| Some((field(l, "job")?, field(l, "shard")?.parse().ok()?)))
        .collect()
}
