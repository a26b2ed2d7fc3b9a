//! The queue mode rehearsed across nodes (`tests/nodes/`): Azurite on node
//! 0, served over TLS as real storage is (plain http reaches only
//! loopback), one `stylize worker` on each of nodes 0-2, the coordinator on
//! the host. Node 2's link is cut while it runs a shard, as a Spot node
//! taken away or a dropped link would: its task reappears after the
//! visibility timeout, the nodes left finish the job with no rerun, and the
//! output is the bytes of an in-process run.
//!
//! Needs root (`ip netns`, `unshare`); under `CI=true` their absence fails.

mod util;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stylize_azure::{download_blob, BlobStore};
use stylize_engine::Store;
use util::azurite::{Azurite, Listen};
use util::events::*;
use util::nodes::Nodes;
use util::*;

const ARGS: [&str; 8] = ["--shard-frames", "12", "--threads", "1", "--precision", "fp32", "--deflicker", "off"];

/// A certificate authority and a certificate for `ip`, as PEM files in
/// `dir`: (CA, certificate, key).
fn certificates(dir: &Path, ip: &str) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let f = |n: &str| dir.join(n);
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl runs");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=rehearsal CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    std::fs::write(f("leaf.ext"), format!("subjectAltName=IP:{ip}\nbasicConstraints=CA:FALSE\n")).unwrap();
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        &format!("/CN={ip}"),
        "-keyout",
        "key.pem",
        "-out",
        "leaf.csr",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "leaf.ext",
        "-out",
        "cert.pem",
    ]);
    (f("ca.pem"), f("cert.pem"), f("key.pem"))
}

#[test]
fn a_node_cut_mid_shard_costs_no_rerun_and_the_nodes_left_finish_the_same_bytes() {
    let Some(nodes) = Nodes::up_or_skip(3, "tests/queue_nodes.rs") else { return };
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path(), &nodes.address(0));
    // Every client here (the coordinator, the workers, this test's own
    // reads) trusts the rehearsal's CA, and only it.
    std::env::set_var("SSL_CERT_FILE", &ca);
    let az = Azurite::start_at(Listen {
        wrapper: vec!["ip".into(), "netns".into(), "exec".into(), nodes.name(0)],
        address: Some(nodes.address(0)),
        tls: Some((cert, key)),
    });
    let sas = az.account_sas("rwdlacup");
    let outputs = with_sas(&az.container("outputs"), &sas);
    let queue = with_sas(&az.queue("tasks"), &sas);

    let spec = ClipSpec { width: 320, height: 180, frames: 240, gop: 12, ..ClipSpec::default() };
    let clip = make_clip(dir.path(), "clip.mp4", &spec);
    let expected = digest(&submit_ok(&clip, &dir.path().join("here"), &ARGS));

    let mut workers: Vec<(Child, LogLines)> = (0..3)
        .map(|i| {
            let mut child = nodes
                .command(i, env!("CARGO_BIN_EXE_stylize"))
                // The SAS by environment, out of the nodes' process lists.
                .args(["worker", "--visibility", "5", "--name", &format!("node-{i}")])
                .env("STYLIZE_TASK_QUEUE", &queue)
                .env("STYLIZE_THREADS", "1")
                .env("STYLIZE_PROGRESS", "off")
                .env("SSL_CERT_FILE", &ca)
                .env_remove("RUST_LOG")
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let log = LogLines::of(&mut child);
            (child, log)
        })
        .collect();
    // Every worker polls the queue before the job comes (node 2 too, or
    // the others could finish it before node 2 has started).
    for (i, (_, log)) in workers.iter().enumerate() {
        let ready = log.lines.iter().any(|l| l.contains("worker ready"));
        assert!(ready, "node {i} ended before it was ready");
    }
    let mut job = stylize()
        .arg("submit")
        .arg(&clip)
        .args(["-o", &outputs, "--queue", &queue, "--json"])
        .args(ARGS)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();

    // Node 2's link is cut as soon as it starts its first shard.
    let start = Instant::now();
    let mut seen = String::new();
    loop {
        match workers[2].1.lines.recv_timeout(Duration::from_millis(200)) {
            Ok(line) if line.contains("shard starts") => break,
            Ok(line) => seen += &(line + "\n"),
            Err(_) if job.try_wait().unwrap().is_some() || start.elapsed() > Duration::from_secs(180) => {
                let _ = job.kill();
                let out = job.wait_with_output().unwrap();
                panic!(
                    "node 2 started no shard: {seen}\nsubmit: {} {} {}",
                    out.status,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            Err(_) => {}
        }
    }
    nodes.cut(2);
    let cut_at = Instant::now();
    let out = wait_bounded(job, Duration::from_secs(300));
    eprintln!("the job ended {:.1} s after the cut", cut_at.elapsed().as_secs_f64());
    let logs: Vec<String> = workers
        .drain(..)
        .map(|(mut child, log)| {
            let _ = child.kill();
            let _ = child.wait();
            log.all.join().unwrap()
        })
        .collect();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}\nnode 0: {}\nnode 1: {}", logs[0], logs[1]);

    // Every shard once, each counted from a node that kept its link.
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let timings = report["timings"].as_array().unwrap();
    let mut shards: Vec<u64> = timings.iter().map(|t| t["shard"].as_u64().unwrap()).collect();
    shards.sort();
    assert_eq!(shards, (0..20).collect::<Vec<_>>());
    let names: Vec<&str> = timings.iter().map(|t| t["worker"]["name"].as_str().unwrap()).collect();
    assert!(names.iter().all(|n| *n == "node-0" || *n == "node-1"), "{names:?}");
    let hosts: std::collections::BTreeSet<&str> =
        timings.iter().map(|t| t["worker"]["host"].as_str().unwrap()).collect();
    assert_eq!(hosts, [nodes.name(0), nodes.name(1)].iter().map(String::as_str).collect(), "each worker on its node");
    assert!(logs[2].contains("shard starts"), "node 2 ran a shard before the cut: {}", logs[2]);

    // The bytes of one process.
    let store = BlobStore::open(&outputs, false).unwrap();
    let key = output_key(&store.list("").unwrap(), "clip.fauve");
    let back = dir.path().join("back.mp4");
    download_blob(&with_sas(&format!("{}/{key}", az.container("outputs")), &sas), &back).unwrap();
    assert_eq!(digest(&back), expected, "the same bytes as in-process");
    let sig = Azurite::signature(&sas);
    assert_no_secret(&err, &sig, "submit");
    for (i, log) in logs.iter().enumerate() {
        assert_no_secret(log, &sig, &format!("node {i}"));
    }
    drop(az);
    drop(nodes);
}
