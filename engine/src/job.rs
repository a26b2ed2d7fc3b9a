//! job: a job's identity and its manifest. The id is a hash of the input's
//! content and the parameters, so the same command on the same video finds
//! its earlier, interrupted run and redoes only the shards not yet done.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::TaskErrorKind;
use crate::error::{EngineError, Result};
use crate::layout::JobLayout;
use crate::plan::Plan;
use crate::store::Store;
use crate::worker::WorkerId;

/// SHA-256 of a file's content, hex.
pub fn file_digest(path: &Path) -> Result<String> {
    let mut file = std::fs::File::open(path).map_err(EngineError::io(path, "opening"))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(EngineError::io(path, "reading"))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// SHA-256 of bytes, hex.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The id of a job: 16 hex digits of SHA-256 over the input digest and the
/// canonical JSON of the parameters.
pub fn job_id(input_digest: &str, params: &serde_json::Value) -> String {
    let mut hasher = Sha256::new();
    hasher.update(input_digest.as_bytes());
    hasher.update([0]);
    hasher.update(params.to_string().as_bytes());
    hex::encode(hasher.finalize())[..16].to_string()
}

/// A finished shard: its encoded segment is in the store with this digest,
/// and who made it when (the job's timeline, readable while it runs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentRecord {
    /// SHA-256 of the segment file.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Frames in the segment.
    pub frames: u64,
    /// The pipeline's own figures of the shard (see
    /// [`crate::ResultHeader::figures`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub figures: Option<serde_json::Value>,
    /// The worker that made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<WorkerId>,
    /// When its worker started and ended it (Unix seconds, 0: unknown).
    #[serde(default)]
    pub started: f64,
    /// See `started`.
    #[serde(default)]
    pub ended: f64,
    /// Bytes of the source segment that carried it.
    #[serde(default)]
    pub bytes_in: u64,
    /// Attempts it took (failed ones are in [`Manifest::failures`]).
    #[serde(default = "one")]
    pub attempts: u32,
}

fn one() -> u32 {
    1
}

/// An attempt at a shard that failed: who, when, why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailedAttempt {
    /// The shard.
    pub shard: u32,
    /// The worker.
    pub worker: WorkerId,
    /// When it started and failed (Unix seconds, 0: unknown).
    pub started: f64,
    /// See `started`.
    pub ended: f64,
    /// The failure's kind (decides retries).
    pub kind: TaskErrorKind,
    /// The cause, one line.
    pub cause: String,
}

/// A shard in a worker's hands now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunningShard {
    /// Who has it.
    pub worker: WorkerId,
    /// Since when (Unix seconds).
    pub started: f64,
}

/// Where a job is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    /// Started and not ended (or its process was killed: its `updated`
    /// time stops moving).
    #[default]
    Running,
    /// Its output is committed.
    Done,
    /// It ended with an error; a rerun resumes it.
    Failed,
}

/// The state of one job, kept at `jobs/<id>/manifest.json` in the store.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// The job id.
    pub job: String,
    /// The input, as given.
    pub input: String,
    /// SHA-256 of the input's content.
    pub input_digest: String,
    /// The parameters that shaped the output.
    pub params: serde_json::Value,
    /// The plan: shards of the input.
    pub plan: Plan,
    /// Finished shards by index.
    pub done: BTreeMap<u32, SegmentRecord>,
    /// The committed output's key, once the job is complete.
    pub output: Option<String>,
    /// SHA-256 of the committed output: another job may write the same
    /// name later, and its bytes must not pass for this job's.
    #[serde(default)]
    pub output_sha256: Option<String>,
    /// Where the job is.
    #[serde(default)]
    pub status: JobStatus,
    /// The error that ended it, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When this run of the job started, and when its state was last
    /// written (Unix seconds).
    #[serde(default)]
    pub started: f64,
    /// See `started`.
    #[serde(default)]
    pub updated: f64,
    /// Shards in workers' hands now, by index.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub running: BTreeMap<u32, RunningShard>,
    /// Every failed attempt at a shard, in the order they were heard of.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<FailedAttempt>,
}

impl Manifest {
    /// Load the manifest of job `id`, if there is one.
    pub fn load(store: &dyn Store, id: &str) -> Result<Option<Manifest>> {
        let key = JobLayout::new(id).manifest();
        let Some(bytes) = store.get(&key)? else { return Ok(None) };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| EngineError::Corrupt { path: store.describe_key(&key).into(), reason: e.to_string() })
    }

    /// Save atomically (its `updated` time set to now).
    pub fn save(&mut self, store: &dyn Store) -> Result<()> {
        self.updated = crate::time::unix_now();
        let bytes = serde_json::to_vec_pretty(self).expect("a manifest always serialises");
        store.put(&JobLayout::new(&self.job).manifest(), &bytes)
    }
}
