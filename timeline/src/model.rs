//! model: a job's attempts on a time axis, from its manifest.

use std::collections::BTreeSet;

use stylize_engine::{unix_now, JobStatus, Manifest, WorkerId};

/// How an attempt at a shard ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Its segment is kept.
    Done,
    /// It failed (retried, or it ended the job).
    Failed,
    /// A worker has it now (drawn up to now).
    Running,
}

impl Outcome {
    /// Its name, as the page's `data-outcome` says it.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Failed => "failed",
            Outcome::Running => "running",
        }
    }
}

/// One attempt at one shard.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The shard.
    pub shard: u32,
    /// Who ran it (`None`: not recorded, a job from before records).
    pub worker: Option<WorkerId>,
    /// Seconds since the job's start (this run's first attempt).
    pub start: f64,
    /// See `start`.
    pub end: f64,
    /// Frames (0 for a failed attempt).
    pub frames: u64,
    /// How it ended.
    pub outcome: Outcome,
    /// Why it failed.
    pub cause: Option<String>,
}

/// A job, ready to draw.
#[derive(Debug, Clone)]
pub struct Timeline {
    /// The job id.
    pub job: String,
    /// Where it is.
    pub status: JobStatus,
    /// Every attempt with a time, by start.
    pub attempts: Vec<Attempt>,
    /// The lanes: every worker that ran an attempt, sorted.
    pub workers: Vec<String>,
    /// Seconds from the first start to the last end (or now, running).
    pub span: f64,
    /// Shards in the plan, and done.
    pub shards: (usize, usize),
    /// Frames in the plan, and done.
    pub frames: (u64, u64),
    /// The first start, Unix seconds.
    pub origin: f64,
}

impl Timeline {
    /// The timeline of `manifest`.
    pub fn of(manifest: &Manifest) -> Timeline {
        let mut attempts: Vec<Attempt> = Vec::new();
        for (shard, r) in &manifest.done {
            attempts.push(Attempt {
                shard: *shard,
                worker: r.worker.clone(),
                start: r.started,
                end: r.ended,
                frames: r.frames,
                outcome: Outcome::Done,
                cause: None,
            });
        }
        for f in &manifest.failures {
            let start = if f.started > 0.0 { f.started } else { f.ended };
            attempts.push(Attempt {
                shard: f.shard,
                worker: Some(f.worker.clone()),
                start,
                end: f.ended,
                frames: 0,
                outcome: Outcome::Failed,
                cause: Some(f.cause.clone()),
            });
        }
        let now = unix_now();
        for (shard, r) in &manifest.running {
            attempts.push(Attempt {
                shard: *shard,
                worker: Some(r.worker.clone()),
                start: r.started,
                end: now.max(r.started),
                frames: 0,
                outcome: Outcome::Running,
                cause: None,
            });
        }
        // Records without times (reused from before records existed) are
        // not drawn on the axis.
        attempts.retain(|a| a.start > 0.0 && a.end >= a.start);
        let origin = attempts.iter().map(|a| a.start).fold(f64::INFINITY, f64::min);
        let origin = if origin.is_finite() { origin } else { manifest.started };
        let last = attempts.iter().map(|a| a.end).fold(origin, f64::max);
        let last = if manifest.status == JobStatus::Running { last.max(unix_now()) } else { last };
        for a in &mut attempts {
            a.start -= origin;
            a.end -= origin;
        }
        attempts.sort_by(|a, b| a.start.total_cmp(&b.start).then(a.shard.cmp(&b.shard)));
        let workers: BTreeSet<String> = attempts.iter().map(|a| lane(&a.worker)).collect();
        Timeline {
            job: manifest.job.clone(),
            status: manifest.status,
            workers: workers.into_iter().collect(),
            span: (last - origin).max(0.001),
            shards: (manifest.plan.shards.len(), manifest.done.len()),
            frames: (manifest.plan.frames(), manifest.done.values().map(|r| r.frames).sum()),
            origin,
            attempts,
        }
    }

    /// The lane of an attempt.
    pub fn lane_of(&self, a: &Attempt) -> usize {
        let name = lane(&a.worker);
        self.workers.iter().position(|w| *w == name).unwrap_or(0)
    }

    /// Frames per second over time: `buckets` equal slices of the span,
    /// each attempt's frames spread evenly over its own time.
    pub fn rate(&self, buckets: usize) -> Vec<f64> {
        let width = self.span / buckets as f64;
        let mut out = vec![0.0; buckets];
        for a in self.attempts.iter().filter(|a| a.outcome == Outcome::Done && a.end > a.start) {
            let per_sec = a.frames as f64 / (a.end - a.start);
            for (k, slot) in out.iter_mut().enumerate() {
                let (lo, hi) = (k as f64 * width, (k + 1) as f64 * width);
                let overlap = (a.end.min(hi) - a.start.max(lo)).max(0.0);
                *slot += per_sec * overlap / width;
            }
        }
        out
    }

    /// The `n` slowest finished shards: (shard, seconds a frame).
    pub fn slowest(&self, n: usize) -> Vec<(&Attempt, f64)> {
        let mut v: Vec<(&Attempt, f64)> = self
            .attempts
            .iter()
            .filter(|a| a.outcome == Outcome::Done && a.frames > 0)
            .map(|a| (a, (a.end - a.start) / a.frames as f64))
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        v.truncate(n);
        v
    }
}

/// A worker's lane name.
fn lane(worker: &Option<WorkerId>) -> String {
    worker.as_ref().map_or_else(|| "unknown".to_string(), |w| w.to_string())
}
