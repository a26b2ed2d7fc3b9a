//! serve: a queue worker (`stylize worker --queue URL`), a long-running
//! process on any node of an elastic pool. It takes one shard task at a
//! time, keeps its message invisible while it works (renewals), fetches
//! the source segment from the job's store, runs the pipeline's handler,
//! stores the encoded segment under the shard's key and a result record
//! beside it, and only then deletes the message. If it dies, the message
//! reappears after the visibility timeout and another worker takes it; a
//! task run twice writes the same bytes to the same key.
//!
//! What it cannot run is never run into other bytes: a task whose
//! parameters or model it cannot match is handed back for another worker
//! (and fails the shard after `max_refusals` refusals); a malformed
//! message or one naming a job that does not exist goes to
//! `<queue>-poison` with the reason; a shard whose task failed
//! `max_attempts` times (permanent errors at once) is failed in the job's
//! store, naming the worker and the cause, for the coordinator to report.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use stylize_engine::{
    digest, open_store, unix_now, while_working, EngineError, Handler, JobLayout, Payload, Result, Store, Task,
    TaskError, TaskErrorKind, TaskFailure, WorkerId,
};
use tracing::{info, warn};

use crate::queue::{EventQueue, QueueMessage};
use crate::remote::{parse_location, AzureRemote};
use crate::tasks::{object_location, Description, ResultRecord, StoredRef, TaskMessage};

/// The first pause after a look at an empty queue.
const FIRST_PAUSE: Duration = Duration::from_millis(50);

/// How a worker runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The task queue (URL with SAS).
    pub queue: String,
    /// This worker's id in records and logs.
    pub worker: WorkerId,
    /// How long a taken message stays invisible (renewed while working).
    pub visibility: Duration,
    /// The longest pause between two looks at an empty queue (the pause
    /// starts at 50 ms after a task and doubles while the queue stays
    /// empty: new work is seen at once, an idle pool costs few requests).
    pub poll: Duration,
    /// Return when the queue is empty (batch pools).
    pub until_empty: bool,
    /// Return after this many tasks.
    pub max_tasks: Option<u64>,
    /// Attempts of a shard before it fails the job.
    pub max_attempts: u32,
    /// Refusals of a task (another model, other parameters) after which
    /// its shard fails: no worker of the pool can run it.
    pub max_refusals: u32,
    /// Called when the queue is found empty after some work (the CLI hands
    /// the memory its allocator kept back to the kernel there).
    pub on_idle: Option<fn()>,
}

/// Makes the handler of a job's tasks (the CLI builds the pipeline's):
/// `Err` when this worker cannot run the job as resolved.
pub trait HandlerSource: Send {
    /// The handler for tasks with these parameters (called once per job).
    fn handler(&mut self, params: &serde_json::Value) -> std::result::Result<Box<dyn Handler>, TaskError>;

    /// Finish a detached job whose every shard is done (stitch, commit,
    /// report, under the job's lock); the committed output, or why not.
    fn finish(&mut self, job: &DetachedJob) -> std::result::Result<String, String> {
        Err(format!("job {}: this worker does not finish jobs", job.job))
    }
}

/// A detached job ready to be finished: every shard has its result.
#[derive(Debug, Clone)]
pub struct DetachedJob {
    /// The job id.
    pub job: String,
    /// Its store, as the task named it.
    pub store: String,
    /// Its input's copy in the store, as a location.
    pub input: String,
    /// Its output's key in the store.
    pub output: String,
    /// The job's parameters.
    pub params: serde_json::Value,
}

/// What a worker did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ServeSummary {
    /// Shards done and stored.
    pub done: u64,
    /// Shards whose attempt failed (left for a retry, or failed for good).
    pub failed: u64,
    /// Tasks handed back (another model, parameters, a stop).
    pub refused: u64,
    /// Messages poisoned or dropped (malformed, no such job, closed job).
    pub dropped: u64,
}

/// Take tasks from the queue until it is empty (`until_empty`), `max_tasks`
/// are done, or `stop` is set (a SIGTERM, an eviction notice): then the
/// task in hand goes back to the queue at once and `handed_back` is set
/// (while its handler may still run: the caller ends the process).
pub fn serve(
    options: &ServeOptions,
    remote: &AzureRemote,
    source: &mut dyn HandlerSource,
    stop: &AtomicBool,
    handed_back: &AtomicBool,
) -> Result<ServeSummary> {
    let queue = remote.queue(&options.queue)?;
    queue.check()?;
    info!(queue = %queue.describe(), worker = %options.worker, "worker ready");
    let mut worker = Worker { options, remote, queue: &queue, handlers: HashMap::new(), stores: HashMap::new() };
    let mut summary = ServeSummary::default();
    let mut tasks = 0u64;
    let mut pause = FIRST_PAUSE;
    while !stop.load(Ordering::SeqCst) && options.max_tasks.is_none_or(|m| tasks < m) {
        let Some(message) = queue.receive(1, options.visibility)?.pop() else {
            if let (Some(idle), true) = (options.on_idle, tasks > 0 && pause == FIRST_PAUSE) {
                idle();
            }
            if options.until_empty {
                break;
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(options.poll.max(FIRST_PAUSE));
            continue;
        };
        pause = FIRST_PAUSE;
        tasks += 1;
        match worker.take(message, source, stop, handed_back)? {
            Outcome::Done => summary.done += 1,
            Outcome::Failed => summary.failed += 1,
            Outcome::Refused => summary.refused += 1,
            Outcome::Dropped => summary.dropped += 1,
            Outcome::HandedBack => {
                summary.refused += 1;
                break;
            }
        }
    }
    Ok(summary)
}

enum Outcome {
    Done,
    Failed,
    Refused,
    Dropped,
    HandedBack,
}

struct Worker<'a> {
    options: &'a ServeOptions,
    remote: &'a AzureRemote,
    queue: &'a EventQueue,
    /// One handler per job (its model loaded once).
    handlers: HashMap<String, Box<dyn Handler>>,
    stores: HashMap<String, Box<dyn Store>>,
}

impl Worker<'_> {
    fn take(
        &mut self,
        message: QueueMessage,
        source: &mut dyn HandlerSource,
        stop: &AtomicBool,
        given_back: &AtomicBool,
    ) -> Result<Outcome> {
        let task = match TaskMessage::parse(&message.payload()) {
            Ok(t) => t,
            Err(why) => {
                warn!(message = %message.id, %why, "poisoned");
                self.queue.poison(&message, &why)?;
                return Ok(Outcome::Dropped);
            }
        };
        let (job, shard) = (task.task.job.clone(), task.task.shard.index);
        let layout = JobLayout::new(&job);
        match self.open(&task.store) {
            Ok(()) => {}
            Err(e @ EngineError::BadInput { .. }) => {
                self.queue.poison(&message, &format!("job {job}: its store cannot be used: {e}"))?;
                return Ok(Outcome::Dropped);
            }
            Err(e) => return Err(e),
        }
        let Worker { options, queue, handlers, stores, .. } = self;
        let store = stores[&task.store].as_ref();
        let ctx = Ctx { options, queue, store };
        if !store.exists(&layout.manifest())? {
            let why = format!("job {job} does not exist in {}", store.describe());
            warn!(message = %message.id, %why, "poisoned");
            self.queue.poison(&message, &why)?;
            return Ok(Outcome::Dropped);
        }
        if store.exists(&layout.closed())? || store.exists(&layout.result(shard))? {
            info!(%job, shard, "task no longer needed: dropped");
            self.queue.delete(&message)?;
            return Ok(Outcome::Dropped);
        }
        if !handlers.contains_key(&job) {
            match source.handler(&task.task.params) {
                Ok(h) => {
                    handlers.insert(job.clone(), h);
                }
                Err(e) => return ctx.refuse(message, &task, e),
            }
        }
        let started = Instant::now();
        let input = match task.source.payload().fetch(store) {
            Ok(bytes) => bytes,
            Err(e @ EngineError::Corrupt { .. }) => {
                let error = TaskError::new(TaskErrorKind::BadInput, format!("shard {shard}: {e}"));
                return ctx.fail(message, &task, error);
            }
            Err(e) => return Err(e),
        };
        let handler = handlers.get_mut(&job).expect("made above").as_mut();
        info!(%job, shard, attempt = message.dequeue_count, "shard starts");
        // Where it runs, for the job's state (best effort).
        let note = stylize_engine::RunningShard { worker: options.worker.clone(), started: unix_now() };
        let _ =
            store.put(&layout.running(shard, message.dequeue_count), &serde_json::to_vec(&note).unwrap_or_default());
        let work = Task { header: task.task.clone(), segment: Payload::Inline(input) };
        let mut held = message;
        let mut handed_back = false;
        let visibility = options.visibility;
        let span = tracing::info_span!("shard", shard, worker = %options.worker.name, job = %job);
        let result = while_working(
            || span.in_scope(|| handler.handle(work)),
            (visibility / 3).min(Duration::from_secs(2)).max(Duration::from_millis(200)),
            || {
                if handed_back {
                    return;
                }
                if stop.load(Ordering::SeqCst) {
                    // Back to the queue at once: another worker takes it.
                    match queue.extend(&held, Duration::ZERO) {
                        Ok(receipt) => held.pop_receipt = receipt,
                        Err(e) => warn!(error = %e, "could not hand the task back"),
                    }
                    handed_back = true;
                    info!(shard, "stopping: task handed back");
                    // Said now: the handler's thread may run on for
                    // minutes, and the process ends without it.
                    given_back.store(true, Ordering::SeqCst);
                    return;
                }
                match queue.extend(&held, visibility) {
                    Ok(receipt) => held.pop_receipt = receipt,
                    Err(e) => warn!(error = %e, "could not extend the task's visibility"),
                }
            },
        )
        .unwrap_or_else(|panic| Err(TaskError::panicked(shard, &panic)));
        if handed_back {
            return Ok(Outcome::HandedBack);
        }
        let message = held;
        match result {
            Ok(mut out) => {
                let Payload::Inline(bytes) = out.segment else {
                    let error = TaskError::new(TaskErrorKind::Io, format!("shard {shard}: no segment came back"));
                    return ctx.fail(message, &task, error);
                };
                let key = layout.segment(shard);
                store.put(&key, &bytes)?;
                out.header.worker = options.worker.clone();
                out.header.wall_secs = started.elapsed().as_secs_f64();
                out.header.ended = unix_now();
                out.header.started = out.header.ended - out.header.wall_secs;
                let record = ResultRecord {
                    header: out.header,
                    segment: StoredRef { key, sha256: digest(&bytes), bytes: bytes.len() as u64 },
                };
                let text = serde_json::to_vec_pretty(&record).expect("records serialise");
                store.put(&layout.result(shard), &text)?;
                queue.delete(&message)?;
                info!(%job, shard, frames = record.header.frames, secs = record.header.wall_secs, "shard stored");
                if let Some(detached) = ready_to_finish(store, &task)? {
                    info!(%job, "every shard done: finishing the detached job");
                    match source.finish(&detached) {
                        Ok(output) => info!(%job, %output, "committed"),
                        Err(e) => warn!(%job, error = %e, "the job was not finished here"),
                    }
                }
                Ok(Outcome::Done)
            }
            Err(e) if e.kind == TaskErrorKind::Mismatch => ctx.refuse(message, &task, e),
            Err(e) => ctx.fail(message, &task, e),
        }
    }

    /// Open the job's store, once per location.
    fn open(&mut self, at: &str) -> Result<()> {
        if !self.stores.contains_key(at) {
            let location = parse_location(at)?;
            self.stores.insert(at.to_string(), open_store(&location, self.remote)?);
        }
        Ok(())
    }
}

/// What deciding a task's fate needs.
struct Ctx<'a> {
    options: &'a ServeOptions,
    queue: &'a EventQueue,
    store: &'a dyn Store,
}

impl Ctx<'_> {
    /// This worker cannot run the task: back to the queue for another,
    /// until so many refusals that no worker of the pool can.
    fn refuse(&self, message: QueueMessage, task: &TaskMessage, e: TaskError) -> Result<Outcome> {
        if message.dequeue_count >= self.options.max_refusals {
            return self.fail(message, task, e);
        }
        warn!(worker = %self.options.worker, error = %e, "task refused: left for another worker");
        // Visible again soon, not at once: this worker would take it back.
        self.queue.extend(&message, Duration::from_secs(2))?;
        Ok(Outcome::Refused)
    }

    /// A failed attempt: left for a retry, or the shard fails for good
    /// (permanent, or its last attempt).
    fn fail(&self, message: QueueMessage, task: &TaskMessage, mut error: TaskError) -> Result<Outcome> {
        let shard = task.task.shard.index;
        let last = error.kind.is_permanent() || message.dequeue_count >= self.options.max_attempts;
        warn!(worker = %self.options.worker, shard, attempt = message.dequeue_count, error = %error, last, "shard failed");
        let ended = unix_now();
        let failure = |error| TaskFailure { worker: self.options.worker.clone(), started: 0.0, ended, shard, error };
        let layout = JobLayout::new(&task.task.job);
        if !last {
            // Told to the coordinator (the job's timeline), then retried.
            let text = serde_json::to_vec_pretty(&failure(error)).expect("records serialise");
            self.store.put(&layout.attempt(shard, message.dequeue_count), &text)?;
            self.queue.extend(&message, Duration::from_secs(1))?;
            return Ok(Outcome::Failed);
        }
        if !error.kind.is_permanent() {
            error.message =
                format!("{} (attempt {} of {})", error.message, message.dequeue_count, self.options.max_attempts);
        }
        let text = serde_json::to_vec_pretty(&failure(error)).expect("records serialise");
        self.store.put(&layout.failure(shard), &text)?;
        self.queue.delete(&message)?;
        Ok(Outcome::Failed)
    }
}

/// A detached job whose every shard has a result, once the last one is in.
fn ready_to_finish(store: &dyn Store, task: &TaskMessage) -> Result<Option<DetachedJob>> {
    let layout = JobLayout::new(&task.task.job);
    let Some(bytes) = store.get(&layout.description())? else { return Ok(None) };
    let Ok(description) = serde_json::from_slice::<Description>(&bytes) else { return Ok(None) };
    let Some(manifest) = stylize_engine::Manifest::load(store, &task.task.job)? else { return Ok(None) };
    let done = store.list(&format!("{}results/", layout.prefix()))?.len();
    if done < manifest.plan.shards.len() || manifest.output.is_some() {
        return Ok(None);
    }
    Ok(Some(DetachedJob {
        job: task.task.job.clone(),
        store: task.store.clone(),
        input: object_location(&task.store, &description.input)?,
        output: description.output,
        params: task.task.params.clone(),
    }))
}
