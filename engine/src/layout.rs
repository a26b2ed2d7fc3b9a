//! layout: where a job's objects live in its store. Spelled out here
//! alone, so the driver, the gather, the job listing and every adapter
//! agree on one layout (and a store's own prefixes can be told from
//! inputs: nothing under [`JOBS_PREFIX`] is ever an input).

use crate::error::Result;
use crate::store::Store;

/// Every job's state lives under this prefix of its store.
pub const JOBS_PREFIX: &str = "jobs/";

/// The keys of one job: `jobs/<id>/…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLayout {
    id: String,
}

impl JobLayout {
    /// The layout of job `id`.
    pub fn new(id: impl Into<String>) -> Self {
        JobLayout { id: id.into() }
    }

    /// The job id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Everything of the job: `jobs/<id>/`.
    pub fn prefix(&self) -> String {
        format!("{JOBS_PREFIX}{}/", self.id)
    }

    /// The manifest: plan, finished shards, output.
    pub fn manifest(&self) -> String {
        format!("{}manifest.json", self.prefix())
    }

    /// The report, once the output is committed.
    pub fn report(&self) -> String {
        format!("{}report.json", self.prefix())
    }

    /// The lock that keeps the job to one process at a time.
    pub fn lock(&self) -> String {
        format!("{}lock", self.prefix())
    }

    /// The encoded segment of shard `index`.
    pub fn segment(&self, index: u32) -> String {
        format!("{}segments/{index:05}.mp4", self.prefix())
    }

    /// The source segment of shard `index`, for workers that fetch it.
    pub fn source(&self, index: u32) -> String {
        format!("{}sources/{index:05}.nut", self.prefix())
    }

    /// A queue worker's record of shard `index` done: its result header
    /// and where its segment is (`jobs/<id>/results/NNNNN.json`).
    pub fn result(&self, index: u32) -> String {
        format!("{}results/{index:05}.json", self.prefix())
    }

    /// A queue worker's record of shard `index` failed for good.
    pub fn failure(&self, index: u32) -> String {
        format!("{}failed/{index:05}.json", self.prefix())
    }

    /// A queue worker's record of a failed attempt at shard `index` that
    /// will be tried again (`n`: the attempt).
    pub fn attempt(&self, index: u32, n: u32) -> String {
        format!("{}attempts/{index:05}-{n:03}.json", self.prefix())
    }

    /// A queue worker's note that it took shard `index` (attempt `n`).
    pub fn running(&self, index: u32, n: u32) -> String {
        format!("{}running/{index:05}-{n:03}.json", self.prefix())
    }

    /// Present while no coordinator waits for the job's tasks: a worker
    /// drops what it receives for the job instead of running it.
    pub fn closed(&self) -> String {
        format!("{}closed", self.prefix())
    }

    /// A detached job's description: what the worker that finishes it
    /// needs (its input's key, its output's key).
    pub fn description(&self) -> String {
        format!("{}job.json", self.prefix())
    }

    /// A detached job's input, copied into its store (`ext` kept for
    /// FFmpeg).
    pub fn input(&self, ext: &str) -> String {
        format!("{}input.{ext}", self.prefix())
    }

    /// Where an output is staged before its commit.
    pub fn staging(&self) -> String {
        format!("{}output", self.prefix())
    }

    /// The ids of every job with a manifest in `store`, sorted.
    pub fn ids(store: &dyn Store) -> Result<Vec<String>> {
        let mut ids: Vec<String> = store
            .list(JOBS_PREFIX.trim_end_matches('/'))?
            .iter()
            .filter_map(|k| k.strip_prefix(JOBS_PREFIX)?.strip_suffix("/manifest.json").map(str::to_string))
            .filter(|id| !id.contains('/'))
            .collect();
        ids.sort();
        Ok(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_a_job() {
        let l = JobLayout::new("abc");
        assert_eq!(l.manifest(), "jobs/abc/manifest.json");
        assert_eq!(l.segment(7), "jobs/abc/segments/00007.mp4");
        assert_eq!(l.source(7), "jobs/abc/sources/00007.nut");
        assert_eq!(l.lock(), "jobs/abc/lock");
        assert!(l.report().starts_with(&l.prefix()) && l.staging().starts_with(&l.prefix()));
    }
}
