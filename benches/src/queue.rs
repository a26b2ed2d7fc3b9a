//! queue: what the elastic path costs against in-process, on loopback
//! Azurite: the same default job stored in the same container, run here
//! (`submit`, as by default and one shard at a time) and through a task
//! queue by one worker process (`submit --queue`; a node runs one worker
//! process: two on this machine's two cores would each spin libtorch's
//! pool, measured 5x slower per shard), taking one task at a time, and
//! with `--slots 2` two at once as the in-process default runs two shards.
//! Every round runs all four, interleaved; medians compared. Against the
//! run of the same concurrency the difference is the queue's own cost
//! (messages, records, source and segment round trips, polling).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use stylize_azure::{account_sas, AccountKey, SasProtocol};

use crate::error::{bail, Context, Result};

/// Azurite's well-known development account and key (public).
const ACCOUNT: &str = "devstoreaccount1";
const KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// Workers of the queue variant: one, as on a node.
const WORKERS: usize = 1;

/// The queue path against in-process.
#[derive(Debug, Clone, Serialize)]
pub struct QueueOverhead {
    pub clip: String,
    pub frames: u64,
    pub shards: u64,
    pub rounds: usize,
    /// Median wall seconds of `submit` in-process, one shard at a time.
    pub in_process_secs: f64,
    /// Median wall seconds of `submit` in-process as by default (shards
    /// side by side).
    pub default_secs: f64,
    /// Median wall seconds of `submit --queue` with the workers ready.
    pub queue_secs: f64,
    /// The same with one worker of two slots (`--slots 2`).
    pub queue_slots_secs: f64,
    pub in_process_rounds: Vec<f64>,
    pub default_rounds: Vec<f64>,
    pub queue_rounds: Vec<f64>,
    pub queue_slots_rounds: Vec<f64>,
    /// (queue with two slots - default) / default: the same concurrency.
    pub slots_against_default: f64,
    /// (queue - in-process) / in-process, one shard at a time both.
    pub overhead_share: f64,
    /// (queue - default) / default.
    pub against_default: f64,
    /// (queue - in-process) / shards.
    pub per_shard_secs: f64,
}

/// A private Azurite on free loopback ports, killed on drop.
struct Azurite {
    child: Child,
    _dir: tempfile::TempDir,
    blob: u16,
    queue: u16,
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn azurite() -> Result<Azurite> {
    let cache = std::env::var_os("STYLIZE_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/stylize"));
    let binary = cache.join("azurite/node_modules/.bin/azurite");
    if !binary.is_file() {
        bail!("{}: Azurite is not installed (scripts/setup.sh installs it)", binary.display());
    }
    let dir = tempfile::tempdir()?;
    let (blob, queue, table) = (free_port()?, free_port()?, free_port()?);
    let child = Command::new(&binary)
        .args(["--silent", "--disableTelemetry", "--skipApiVersionCheck", "--loose", "--location"])
        .arg(dir.path())
        .args(["--blobHost", "127.0.0.1", "--queueHost", "127.0.0.1", "--tableHost", "127.0.0.1"])
        .args(["--blobPort", &blob.to_string(), "--queuePort", &queue.to_string(), "--tablePort", &table.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("{}: cannot start", binary.display()))?;
    let az = Azurite { child, _dir: dir, blob, queue };
    let answers =
        |port: u16| TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok();
    let start = Instant::now();
    while !(answers(az.blob) && answers(az.queue)) {
        if start.elapsed() > Duration::from_secs(45) {
            bail!("Azurite did not answer within 45 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(az)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

/// Run a job (`--json`), insisting on success; its wall seconds and its
/// shard count.
fn timed(mut cmd: Command, what: &str) -> Result<(f64, u64)> {
    let start = Instant::now();
    let out = cmd.arg("--json").output().with_context(|| format!("{what}: cannot run"))?;
    let secs = start.elapsed().as_secs_f64();
    if !out.status.success() {
        bail!("{what} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).context("the job's report")?;
    Ok((secs, report["shards"].as_u64().unwrap_or(1)))
}

/// Measure a default job on `clip` (`frames` frames) `rounds` times each
/// way.
pub fn measure(clip: &Path, frames: u64, rounds: usize, threads: Option<u16>) -> Result<QueueOverhead> {
    let exe = std::env::current_exe()?;
    let az = azurite()?;
    let key = AccountKey::from_base64(KEY).context("Azurite's key")?;
    let expiry = SystemTime::now() + Duration::from_secs(6 * 3600);
    let sas = account_sas(ACCOUNT, &key, "bq", "sco", "rwdlacup", expiry, SasProtocol::HttpsAndHttp)
        .context("a SAS for Azurite")?;
    let container = |name: &str| format!("http://127.0.0.1:{}/{ACCOUNT}/{name}?{sas}", az.blob);
    let tasks = format!("http://127.0.0.1:{}/{ACCOUNT}/tasks?{sas}", az.queue);
    let threads = threads.map(|t| t.to_string());
    let job = |cmd: &mut Command| {
        cmd.arg("submit").arg(clip).args(["--progress", "off"]);
        if let Some(t) = &threads {
            cmd.args(["--threads", t]);
        }
    };
    let slotted = format!("http://127.0.0.1:{}/{ACCOUNT}/slotted?{sas}", az.queue);
    let mut workers: Vec<Child> = (0..WORKERS)
        .map(|k| {
            let mut cmd = Command::new(&exe);
            cmd.args(["worker", "--queue", &tasks, "--name", &format!("bench-{k}"), "-q"]);
            cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().context("starting a worker")
        })
        .collect::<Result<_>>()?;
    let mut cmd = Command::new(&exe);
    cmd.args(["worker", "--queue", &slotted, "--name", "bench-slots", "--slots", "2", "-q"]);
    workers.push(cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn().context("starting a worker")?);
    let mut workers = Workers(workers);
    let (mut here, mut default, mut queued, mut shards) = (Vec::new(), Vec::new(), Vec::new(), 1);
    let mut slots = Vec::new();
    for round in 0..rounds.max(1) {
        let mut cmd = Command::new(&exe);
        job(&mut cmd);
        cmd.args(["-o", &container(&format!("default{round}"))]);
        let (secs, n) = timed(cmd, "submit")?;
        (shards, default) = (n, [default, vec![secs]].concat());
        let mut cmd = Command::new(&exe);
        job(&mut cmd);
        cmd.args(["-o", &container(&format!("here{round}")), "--parallel-shards", "1"]);
        here.push(timed(cmd, "submit --parallel-shards 1")?.0);
        let mut cmd = Command::new(&exe);
        job(&mut cmd);
        cmd.args(["-o", &container(&format!("queued{round}")), "--queue", &tasks]);
        queued.push(timed(cmd, "submit --queue")?.0);
        let mut cmd = Command::new(&exe);
        job(&mut cmd);
        cmd.args(["-o", &container(&format!("slotted{round}")), "--queue", &slotted]);
        slots.push(timed(cmd, "submit --queue (a worker of two slots)")?.0);
        eprintln!(
            "queue bench: round {}: in-process {:.2} s (one shard at a time {:.2} s), queue {:.2} s (two slots {:.2} s)",
            round + 1,
            default[round],
            here[round],
            queued[round],
            slots[round]
        );
    }
    workers.stop();
    let (a, b, d, e) = (median(&here), median(&queued), median(&default), median(&slots));
    Ok(QueueOverhead {
        clip: clip.display().to_string(),
        frames,
        shards,
        rounds: here.len(),
        in_process_secs: a,
        default_secs: d,
        queue_secs: b,
        queue_slots_secs: e,
        in_process_rounds: here,
        default_rounds: default,
        queue_rounds: queued,
        queue_slots_rounds: slots,
        slots_against_default: (e - d) / d,
        overhead_share: (b - a) / a,
        against_default: (b - d) / d,
        per_shard_secs: (b - a) / shards as f64,
    })
}

/// Worker processes, killed when done with (or on an early return).
struct Workers(Vec<Child>);

impl Workers {
    fn stop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop();
    }
}
