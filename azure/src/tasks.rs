//! tasks: a job's shards on a Storage queue, for an elastic pool of
//! workers that come and go (the competing-consumers pattern). The
//! coordinator puts each shard's source segment in the job's store and one
//! small message per shard on the queue ([`TaskMessage`]: keys and
//! digests, never video); a worker (`serve`) takes one, runs it, stores
//! the encoded segment under the shard's own key and a result record
//! beside it, then deletes the message. The coordinator's transport
//! ([`QueueLauncher`]) hears of results by reading those records: no
//! process needs to live for the whole job, and a task run twice writes
//! the same bytes to the same key.

use std::collections::{BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use stylize_engine::{
    EngineError, Event, Handler, JobContext, JobLayout, Launcher, Payload, Result, ResultHeader, Store, Task,
    TaskFailure, TaskHeader, TaskOutput, Transport, TransportError,
};
use tracing::{debug, info};

use crate::queue::EventQueue;

/// What a task message says it is (a queue may carry other messages).
pub const TASK_KIND: &str = "stylize-shard";
/// The message layout's version: a worker refuses others.
pub const TASK_VERSION: u32 = 1;
/// The largest message sent: Storage queues hold 64 KiB, and a shard's
/// timestamps are the bulk of it.
pub const MAX_MESSAGE_BYTES: usize = 60 * 1024;

/// A stored object and its digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRef {
    /// Its key in the job's store.
    pub key: String,
    /// SHA-256 of its bytes.
    pub sha256: String,
    /// Its size.
    pub bytes: u64,
}

impl StoredRef {
    /// As an engine payload.
    pub fn payload(&self) -> Payload {
        Payload::Stored { key: self.key.clone(), sha256: self.sha256.clone(), bytes: self.bytes }
    }
}

/// One shard's task on the queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TaskMessage {
    /// [`TASK_KIND`].
    pub kind: String,
    /// [`TASK_VERSION`].
    pub v: u32,
    /// The job's store: a folder or container URL (with a SAS, unless the
    /// workers use a managed identity). Never logged.
    pub store: String,
    /// The task: job, shard, video, parameters.
    pub task: TaskHeader,
    /// The shard's source segment in the store.
    pub source: StoredRef,
}

impl TaskMessage {
    /// Read a message's text; `Err` says why it is not a task.
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        let m: TaskMessage = serde_json::from_str(text).map_err(|e| format!("not a shard task ({e})"))?;
        if m.kind != TASK_KIND {
            return Err(format!("not a shard task (kind {:?})", m.kind));
        }
        if m.v != TASK_VERSION {
            return Err(format!("task version {} (this worker reads {TASK_VERSION})", m.v));
        }
        Ok(m)
    }
}

/// A worker's record of a finished shard, beside its segment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ResultRecord {
    /// What the worker said of the shard.
    pub header: ResultHeader,
    /// The encoded segment.
    pub segment: StoredRef,
}

/// Jobs whose shards go to queue workers.
pub struct QueueLauncher {
    queue: EventQueue,
    /// The job store as the workers open it (the user's location).
    store: String,
    /// The longest pause between two looks for results.
    poll: Duration,
    window: usize,
    detach: bool,
}

impl QueueLauncher {
    /// Shards of jobs in the store at `store` (as the workers will open
    /// it: a URL with its SAS, or a folder they share) go on `queue`, at
    /// most `window` of a job at a time: jobs that share a queue and a
    /// pool take turns (their shards interleave) instead of the first
    /// job's whole plan going before the second's.
    pub fn new(queue: EventQueue, store: String, window: usize) -> Self {
        QueueLauncher { queue, store, poll: Duration::from_millis(200), window: window.max(1), detach: false }
    }

    /// Hand each job over once its tasks are queued: the submitter
    /// returns, and the worker that ends the last shard finishes the job.
    pub fn detached(mut self, detach: bool) -> Self {
        self.detach = detach;
        self
    }
}

/// The location (as a worker opens it) of `key` in the store at `store`.
pub fn object_location(store: &str, key: &str) -> Result<String> {
    match crate::remote::parse_location(store)? {
        stylize_engine::Location::Local(dir) => Ok(dir.join(key).display().to_string()),
        stylize_engine::Location::Remote(url) => {
            let parsed = crate::url::StorageUrl::parse(&url, crate::url::Service::Blob)?;
            let name = match parsed.blob.as_deref().map(|p| p.trim_end_matches('/')).filter(|p| !p.is_empty()) {
                Some(prefix) => format!("{prefix}/{key}"),
                None => key.to_string(),
            };
            Ok(parsed.blob_url(&name)?.to_string())
        }
    }
}

/// What a detached job's description says (see `JobLayout::description`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Description {
    /// The job id.
    pub job: String,
    /// Its input's key in the store.
    pub input: String,
    /// Its output's key in the store.
    pub output: String,
}

impl Launcher for QueueLauncher {
    fn runs_shards_here(&self) -> bool {
        false
    }

    fn detached(&self) -> bool {
        self.detach
    }

    fn stores_payloads(&self) -> bool {
        true
    }

    fn transport<'a>(&'a self, job: &JobContext<'a>, _local: Vec<Box<dyn Handler>>) -> Result<Box<dyn Transport + 'a>> {
        // A job run again is open again for its tasks.
        job.store.delete_prefix(&job.layout.closed())?;
        Ok(Box::new(QueueTransport {
            launcher: self,
            store: job.store,
            layout: job.layout.clone(),
            queued: BTreeSet::new(),
            told: BTreeSet::new(),
            ready: VecDeque::new(),
            attempts_told: BTreeSet::new(),
            waiting_since: Instant::now(),
        }))
    }
}

/// The coordinator's side of one job on the queue.
struct QueueTransport<'a> {
    launcher: &'a QueueLauncher,
    store: &'a dyn Store,
    layout: JobLayout,
    /// Shards whose task is out (or whose result was already there).
    queued: BTreeSet<u32>,
    /// Shards whose result or failure was handed on.
    told: BTreeSet<u32>,
    ready: VecDeque<Event>,
    /// Records of starts and failed attempts already told.
    attempts_told: BTreeSet<String>,
    waiting_since: Instant,
}

impl QueueTransport<'_> {
    /// The record of shard `index` when a worker left one.
    fn event_for(&self, index: u32) -> Result<Option<Event>> {
        if let Some(bytes) = self.store.get(&self.layout.result(index))? {
            let record: ResultRecord = serde_json::from_slice(&bytes).map_err(|e| malformed(&self.layout, index, e))?;
            return Ok(Some(Event::Done(TaskOutput { header: record.header, segment: record.segment.payload() })));
        }
        if let Some(bytes) = self.store.get(&self.layout.failure(index))? {
            let failure: TaskFailure = serde_json::from_slice(&bytes).map_err(|e| malformed(&self.layout, index, e))?;
            return Ok(Some(Event::Failed(failure)));
        }
        Ok(None)
    }

    /// Every new record, as events.
    fn poll(&mut self) -> Result<()> {
        for key in self.store.list(&format!("{}running/", self.layout.prefix()))? {
            if self.attempts_told.contains(&key) {
                continue;
            }
            let shard: Option<u32> =
                key.rsplit('/').next().and_then(|n| n.split('-').next()).and_then(|n| n.parse().ok());
            let note =
                self.store.get(&key)?.and_then(|b| serde_json::from_slice::<stylize_engine::RunningShard>(&b).ok());
            if let (Some(shard), Some(note)) = (shard, note) {
                if self.queued.contains(&shard) && !self.told.contains(&shard) {
                    self.ready.push_back(Event::Started { shard, worker: note.worker, at: note.started });
                }
            }
            self.attempts_told.insert(key);
        }
        for key in self.store.list(&format!("{}attempts/", self.layout.prefix()))? {
            if self.attempts_told.contains(&key) {
                continue;
            }
            if let Some(bytes) = self.store.get(&key)? {
                let failure: TaskFailure = serde_json::from_slice(&bytes).map_err(|e| {
                    EngineError::from(TransportError::Malformed { from: key.clone(), why: e.to_string() })
                })?;
                self.ready.push_back(Event::Retried(failure));
            }
            self.attempts_told.insert(key);
        }
        let mut found: BTreeSet<u32> = BTreeSet::new();
        for dir in ["results/", "failed/"] {
            for key in self.store.list(&format!("{}{dir}", self.layout.prefix()))? {
                let index: Option<u32> =
                    key.rsplit('/').next().and_then(|n| n.strip_suffix(".json")).and_then(|n| n.parse().ok());
                found.extend(index);
            }
        }
        for index in found {
            if self.queued.contains(&index) && !self.told.contains(&index) {
                if let Some(event) = self.event_for(index)? {
                    self.told.insert(index);
                    self.ready.push_back(event);
                }
            }
        }
        Ok(())
    }
}

fn malformed(layout: &JobLayout, index: u32, e: serde_json::Error) -> EngineError {
    TransportError::Malformed { from: layout.result(index), why: e.to_string() }.into()
}

impl Transport for QueueTransport<'_> {
    fn describe(&self) -> String {
        format!("queue {}", self.launcher.queue.describe())
    }

    fn offer(&mut self, task: Task) -> Result<Option<Task>> {
        let index = task.header.shard.index;
        if !self.launcher.detach && self.queued.len() - self.told.len() >= self.launcher.window {
            return Ok(Some(task));
        }
        self.queued.insert(index);
        // A worker finished it while no coordinator listened: taken as is.
        if let Some(event) = self.event_for(index)? {
            debug!(shard = index, "result already stored");
            self.told.insert(index);
            self.ready.push_back(event);
            return Ok(None);
        }
        let Payload::Stored { key, sha256, bytes } = task.segment else {
            let why = "queue workers take segments from the store, not inline";
            return Err(TransportError::Unavailable(why.into()).into());
        };
        let message = TaskMessage {
            kind: TASK_KIND.into(),
            v: TASK_VERSION,
            store: self.launcher.store.clone(),
            task: task.header,
            source: StoredRef { key, sha256, bytes },
        };
        let text = serde_json::to_string(&message).expect("tasks serialise");
        if text.len() > MAX_MESSAGE_BYTES {
            let why = format!("shard {index}: its task takes {} bytes, more than a queue message holds", text.len());
            return Err(TransportError::Unavailable(why).into());
        }
        self.launcher.queue.send(&text)?;
        debug!(shard = index, "task queued");
        Ok(None)
    }

    fn next_event(&mut self) -> Result<Event> {
        // Records are looked for at once, then ever less often while none
        // comes (a shard's end is near when the last one came).
        let mut pause = Duration::from_millis(25);
        loop {
            if let Some(event) = self.ready.pop_front() {
                self.waiting_since = Instant::now();
                return Ok(event);
            }
            self.poll()?;
            if self.ready.is_empty() {
                if self.waiting_since.elapsed() > Duration::from_secs(60) {
                    let left = self.queued.len() - self.told.len();
                    info!(job = self.layout.id(), shards = left, "waiting for queue workers");
                    self.waiting_since = Instant::now();
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(self.launcher.poll);
            }
        }
    }

    fn finish(&mut self) -> Result<()> {
        // Tasks still queued (a failed job, a task run twice) are dropped
        // by the workers that take them.
        self.store.put(&self.layout.closed(), b"")
    }
}
