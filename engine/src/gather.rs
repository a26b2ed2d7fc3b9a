//! gather: finished segments into the store, each one's digest in the
//! job's manifest before the next result is taken, so an interrupted job,
//! run again, redoes only what is missing; and, on that re-run, the check
//! of what is already stored (a segment counts as done only if its bytes
//! match the manifest).
//!
//! Each segment is kept as a local file for the stitch: in place in a
//! local store, downloaded once from a remote one, or written to scratch as
//! soon as a worker returns it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use tracing::debug;

use crate::concat::Segment;
use crate::error::{EngineError, Result};
use crate::job::{digest, file_digest, FailedAttempt, JobStatus, Manifest, RunningShard, SegmentRecord};
use crate::layout::JobLayout;
use crate::plan::Plan;
use crate::report::ShardTiming;
use crate::store::Store;
use crate::task::{Payload, TaskFailure, TaskOutput};
use crate::time::unix_now;

/// The gathering side of a running job.
pub struct Gather<'a> {
    store: &'a dyn Store,
    scratch: &'a Path,
    manifest: Manifest,
    layout: JobLayout,
    local: HashMap<u32, PathBuf>,
    timings: Vec<ShardTiming>,
    reused: usize,
    /// A best-effort save of the job's state failed: the store is in
    /// trouble (its client already retried). The next result fails with
    /// that error at once, and the job's end is not written: against a
    /// frozen store each would have waited out its own time limit (the
    /// job took over four minutes to fail instead of one).
    store_error: Option<EngineError>,
    store_down: bool,
}

impl<'a> Gather<'a> {
    /// Start from `manifest`: keep the segments it lists that are intact
    /// in the store, forget the others, and save the result.
    pub fn resume(store: &'a dyn Store, mut manifest: Manifest, scratch: &'a Path) -> Result<Self> {
        let mut local = HashMap::new();
        let layout = JobLayout::new(&manifest.job);
        let done: Vec<u32> = manifest.done.keys().copied().collect();
        for index in done {
            match intact_segment(store, &layout, index, &manifest.done[&index], scratch) {
                Some(path) => {
                    local.insert(index, path);
                }
                None => {
                    manifest.done.remove(&index);
                }
            }
        }
        let reused = manifest.done.len();
        // This run's state: running again, from now; earlier failures stay
        // (the timeline shows a failed and resumed job's both attempts).
        (manifest.status, manifest.error, manifest.started) = (JobStatus::Running, None, unix_now());
        // Shards an earlier run had in hand are not running now.
        manifest.running.clear();
        manifest.save(store)?;
        Ok(Gather {
            store,
            scratch,
            manifest,
            layout,
            local,
            timings: Vec::new(),
            reused,
            store_error: None,
            store_down: false,
        })
    }

    /// Shards found done and intact, not to be redone.
    pub fn reused(&self) -> usize {
        self.reused
    }

    /// True if shard `index` needs no work.
    pub fn is_done(&self, index: u32) -> bool {
        self.manifest.done.contains_key(&index)
    }

    /// Store a worker's result and record it in the manifest. A result
    /// already in the store under the shard's key, with the digest it
    /// claims, is recorded without being written again.
    pub fn store_result(&mut self, out: TaskOutput, segment_in_bytes: u64) -> Result<()> {
        if let Some(e) = self.store_error.take() {
            return Err(e);
        }
        // A failure here ends the job: its end is then not written to the
        // store that just failed (another time limit waited out).
        let stored = self.store_result_now(out, segment_in_bytes);
        self.store_down |= stored.is_err();
        stored
    }

    fn store_result_now(&mut self, out: TaskOutput, segment_in_bytes: u64) -> Result<()> {
        let h = out.header;
        let key = self.layout.segment(h.shard);
        let kept = self.scratch.join(format!("seg-{:05}.mp4", h.shard));
        let (sha256, bytes) = match out.segment {
            Payload::Inline(segment) => {
                self.store.put(&key, &segment)?;
                if self.store.local_path(&key).is_none() {
                    std::fs::write(&kept, &segment).map_err(EngineError::io_at(&kept, "keeping segment"))?;
                }
                (digest(&segment), segment.len() as u64)
            }
            Payload::Stored { key: at, sha256, bytes } => {
                let segment = Payload::Stored { key: at.clone(), sha256: sha256.clone(), bytes }.fetch(self.store)?;
                if at != key {
                    self.store.put(&key, &segment)?;
                }
                if self.store.local_path(&key).is_none() {
                    std::fs::write(&kept, &segment).map_err(EngineError::io_at(&kept, "keeping segment"))?;
                }
                (sha256, bytes)
            }
        };
        let local = self.store.local_path(&key).unwrap_or(kept);
        self.local.insert(h.shard, local);
        let attempts = 1 + self.manifest.failures.iter().filter(|f| f.shard == h.shard).count() as u32;
        let record = SegmentRecord {
            sha256,
            bytes,
            frames: h.frames,
            figures: h.figures.clone(),
            worker: Some(h.worker.clone()),
            started: h.started,
            ended: h.ended,
            bytes_in: segment_in_bytes,
            attempts,
        };
        self.manifest.done.insert(h.shard, record);
        self.manifest.running.remove(&h.shard);
        self.manifest.save(self.store)?;
        debug!(job = %self.manifest.job, shard = h.shard, worker = %h.worker, frames = h.frames, "shard stored");
        self.timings.push(ShardTiming { result: h, segment_in_bytes, segment_out_bytes: bytes });
        Ok(())
    }

    /// Record that `worker` took shard `shard` at `at` (best effort: the
    /// job's state shows where each running shard runs).
    pub fn record_start(&mut self, shard: u32, worker: &crate::task::WorkerId, at: f64) {
        let running = RunningShard { worker: worker.clone(), started: at };
        self.manifest.running.insert(shard, running);
        if self.store_down {
            return;
        }
        if let Err(e) = self.manifest.save(self.store) {
            tracing::debug!(error = %e, "shard's start not recorded");
            self.store_failed(e);
        }
    }

    /// Record a failed attempt at a shard (best effort: the failure itself
    /// is what the job reports, a store that fails here too is not news).
    pub fn record_failure(&mut self, f: &TaskFailure) {
        self.manifest.running.remove(&f.shard);
        self.manifest.failures.push(FailedAttempt {
            shard: f.shard,
            worker: f.worker.clone(),
            started: f.started,
            ended: if f.ended > 0.0 { f.ended } else { unix_now() },
            kind: f.error.kind,
            cause: f.error.message.clone(),
        });
        if self.store_down {
            return;
        }
        if let Err(e) = self.manifest.save(self.store) {
            tracing::debug!(error = %e, "failed attempt not recorded");
            self.store_failed(e);
        }
    }

    fn store_failed(&mut self, e: EngineError) {
        self.store_down = true;
        self.store_error.get_or_insert(e);
    }

    /// The manifest as it stands, the job handed over to its workers.
    pub fn finish_detached(self) -> Manifest {
        self.manifest
    }

    /// Mark the job failed with `error` in its state (best effort).
    pub fn record_end(mut self, error: &str) {
        (self.manifest.status, self.manifest.error) = (JobStatus::Failed, Some(error.to_string()));
        self.manifest.running.clear();
        if self.store_down {
            tracing::debug!("job's end not recorded: the store failed before");
            return;
        }
        if let Err(e) = self.manifest.save(self.store) {
            tracing::debug!(error = %e, "job's end not recorded");
        }
    }

    /// Every segment of `plan`, in order, as local files; the manifest and
    /// the timings of the shards run now.
    pub fn finish(mut self, plan: &Plan) -> Result<(Vec<Segment>, Manifest, Vec<ShardTiming>)> {
        let mut segments = Vec::with_capacity(plan.shards.len());
        for s in &plan.shards {
            let path = self.local.remove(&s.index).ok_or_else(|| EngineError::Corrupt {
                path: self.layout.segment(s.index).into(),
                reason: "segment missing after all shards ran".into(),
            })?;
            segments.push(Segment { path, first_pts: s.pts[0] });
        }
        self.timings.sort_by_key(|t| t.result.shard);
        Ok((segments, self.manifest, self.timings))
    }
}

/// A stored segment counts as done only if its bytes match the manifest;
/// returns it as a local file (in place, or downloaded into `scratch`).
fn intact_segment(
    store: &dyn Store,
    layout: &JobLayout,
    index: u32,
    record: &SegmentRecord,
    scratch: &Path,
) -> Option<PathBuf> {
    let key = layout.segment(index);
    let path = match store.local_path(&key) {
        Some(p) => p,
        None => {
            let p = scratch.join(format!("seg-{index:05}.mp4"));
            store.get_file(&key, &p).ok().filter(|found| *found)?;
            p
        }
    };
    (file_digest(&path).ok()? == record.sha256).then_some(path)
}
