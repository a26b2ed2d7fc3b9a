//! The MPI transport: rank 0 coordinates (and, unless told not to, also
//! works on a thread of its own); every other rank serves tasks. Messages
//! are framed bytes (a JSON header, then the segment): compressed shards
//! out, encoded segments back, never raw frames.
//!
//! Only the thread that initialised MPI calls it: the coordinator's own
//! worker talks to it through an in-process channel, and a worker rank runs
//! each task on a thread of its own while its MPI thread sends heartbeats.
//!
//! A busy rank that stops being heard (its node gone, its link cut, its
//! process frozen) would hang the job: TCP alone takes minutes to notice.
//! Workers say they are alive every [`HEARTBEAT`] while a task runs, and the
//! coordinator ends the job once a busy rank has been silent for
//! [`silence_limit`], naming the rank, its node and its shard; every shard
//! stored before then is kept for the resume.
//!
//! Waiting ranks never spin in a blocking MPI call (OpenMPI polls at full
//! speed there, taking a core from the node's decoders and encoders): they
//! probe without blocking and sleep between probes, and report the CPU
//! time their wait cost.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ::mpi::point_to_point::{Destination, MatchedReceiveVec, Source};
use ::mpi::topology::Communicator;
use ::mpi::Tag;

use stylize_engine::{
    decode_message, encode_message, hostname, unix_now, while_working, EngineError, Event, Handler, InProcess, Payload,
    Result, ResultHeader, Task, TaskError, TaskFailure, TaskHeader, TaskOutput, Transport, TransportError, WorkerId,
};

/// A rank as the job names its workers: `rank 2 (node-b)`.
pub fn worker_id(rank: i32, host: impl Into<String>) -> WorkerId {
    WorkerId { name: format!("rank {rank}"), host: host.into() }
}

fn malformed(rank: i32, why: String) -> EngineError {
    TransportError::Malformed { from: format!("rank {rank}"), why }.into()
}

/// A worker is free: it sends this once at start; results imply it after.
const TAG_READY: Tag = 1;
/// Coordinator → worker: a task.
const TAG_TASK: Tag = 2;
/// Coordinator → worker: no more work.
const TAG_STOP: Tag = 3;
/// Worker → coordinator: a finished task.
const TAG_RESULT: Tag = 4;
/// Worker → coordinator: a failed task.
const TAG_FAILED: Tag = 5;
/// Worker → coordinator, while a task runs: still alive.
const TAG_HEARTBEAT: Tag = 6;

/// How often a busy worker says it is alive.
pub const HEARTBEAT: Duration = Duration::from_secs(2);

/// Who hears of a lost rank at once: the CLI says so and ends the process
/// (MPI cannot be shut down cleanly with a rank gone, and whatever else
/// the coordinator would do first could outlast mpirun's patience).
static ON_LOST: OnceLock<Box<LostListener>> = OnceLock::new();

/// What hears of a lost rank.
type LostListener = dyn Fn(&EngineError) + Send + Sync;

/// Set who hears of a lost rank (once per process).
pub fn on_rank_lost(f: impl Fn(&EngineError) + Send + Sync + 'static) {
    let _ = ON_LOST.set(Box::new(f));
}

/// Tell the listener, if any, then hand the error on.
fn lost(e: EngineError) -> EngineError {
    if let Some(f) = ON_LOST.get() {
        f(&e);
    }
    e
}

/// A blocking MPI call rank 0 is in, with a rank: a multi-megabyte
/// message waits for its peer, and a peer frozen or cut off never comes.
/// A watchdog thread ends the job when one lasts past the silence limit.
#[derive(Clone)]
struct Blocked {
    rank: i32,
    shard: u32,
    host: String,
    since: Instant,
}

/// The watchdog over [`Blocked`] calls; stops with the transport.
fn watchdog(blocked: Arc<Mutex<Option<Blocked>>>, stop: Arc<AtomicBool>, silence: Duration) {
    std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(500));
            let stuck = blocked.lock().ok().and_then(|b| b.clone()).filter(|b| b.since.elapsed() > silence);
            if let Some(b) = stuck {
                let _ = lost(EngineError::WorkerLost {
                    worker: worker_id(b.rank, b.host),
                    shard: b.shard,
                    silent_secs: b.since.elapsed().as_secs(),
                });
                return;
            }
        }
    });
}

/// How long a busy rank may stay silent before the job ends:
/// `STYLIZE_RANK_TIMEOUT` seconds, default 10 (five heartbeats): before
/// OpenMPI's own keepalive (11 s with the README's settings) ends the job
/// without saying which rank was lost.
pub fn silence_limit() -> Duration {
    let secs = std::env::var("STYLIZE_RANK_TIMEOUT").ok().and_then(|v| v.parse::<u64>().ok()).filter(|s| *s > 0);
    Duration::from_secs(secs.unwrap_or(10))
}

pub use ::mpi::environment::Universe;
pub use ::mpi::topology::SimpleCommunicator;

/// Initialise MPI when launched by mpirun (else `None`: run in-process).
/// Keep the universe alive until the end: dropping it finalises MPI.
pub fn initialize() -> Option<Universe> {
    if launched_by_mpirun() {
        ::mpi::initialize()
    } else {
        None
    }
}

/// This process's rank and the number of ranks.
pub fn rank_and_size(world: &SimpleCommunicator) -> (i32, i32) {
    (world.rank(), world.size())
}

/// The launcher's environment says this process is one rank of an MPI job.
pub fn launched_by_mpirun() -> bool {
    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"].iter().any(|v| std::env::var_os(v).is_some())
}

/// This rank's index among the ranks on its node (to pick a GPU).
pub fn local_rank() -> usize {
    ["OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "PMI_LOCAL_RANK"]
        .iter()
        .find_map(|v| std::env::var(v).ok()?.parse().ok())
        .unwrap_or(0)
}

/// Rank 0's side: remote ranks plus an optional local worker.
pub struct MpiTransport<'w> {
    world: &'w SimpleCommunicator,
    local: Option<InProcess>,
    idle: VecDeque<i32>,
    busy: usize,
    /// Each busy rank's shard and when it was last heard.
    working: HashMap<i32, (u32, Instant)>,
    /// Each rank's node, as it said when ready.
    hosts: HashMap<i32, String>,
    silence: Duration,
    /// When `next_event` last returned: time the coordinator spent away
    /// (storing a segment, cutting the next) is not a rank's silence.
    left: Option<Instant>,
    blocked: Arc<Mutex<Option<Blocked>>>,
    stop_watchdog: Arc<AtomicBool>,
    stopped: bool,
    sent: u64,
    received: u64,
    /// Starts to tell before waiting for the next message.
    notes: VecDeque<Event>,
}

impl<'w> MpiTransport<'w> {
    /// Coordinate the ranks of `world`; `local` are rank 0's own workers
    /// (none: it only coordinates).
    pub fn new(world: &'w SimpleCommunicator, local: Vec<Box<dyn Handler>>) -> Result<Self> {
        let local = (!local.is_empty()).then(|| InProcess::start(local, &format!("rank {}", world.rank())));
        if local.is_none() && world.size() < 2 {
            let why = "a coordinator that runs no shard needs at least 2 ranks";
            return Err(TransportError::Unavailable(why.into()).into());
        }
        let (blocked, stop_watchdog, silence) =
            (Arc::new(Mutex::new(None)), Arc::new(AtomicBool::new(false)), silence_limit());
        watchdog(blocked.clone(), stop_watchdog.clone(), silence);
        Ok(MpiTransport {
            world,
            local,
            idle: VecDeque::new(),
            busy: 0,
            working: HashMap::new(),
            hosts: HashMap::new(),
            silence,
            left: None,
            blocked,
            stop_watchdog,
            stopped: false,
            sent: 0,
            received: 0,
            notes: VecDeque::new(),
        })
    }

    /// Run a blocking MPI call with `rank` under the watchdog.
    fn guarded<T>(&self, rank: i32, shard: u32, call: impl FnOnce() -> T) -> T {
        let host = self.hosts.get(&rank).cloned().unwrap_or_else(|| "unknown node".into());
        if let Ok(mut b) = self.blocked.lock() {
            *b = Some(Blocked { rank, shard, host, since: Instant::now() });
        }
        let out = call();
        if let Ok(mut b) = self.blocked.lock() {
            *b = None;
        }
        out
    }

    /// A rank is ready; its message names its node.
    fn ready(&mut self, rank: i32, bytes: &[u8]) {
        if !bytes.is_empty() && bytes != [0] {
            self.hosts.insert(rank, String::from_utf8_lossy(bytes).into_owned());
        }
        self.idle.push_back(rank);
    }

    /// Note every rank that has said it is ready, without waiting.
    fn poll_ready(&mut self) {
        while let Some((msg, status)) = self.world.any_process().immediate_matched_probe_with_tag(TAG_READY) {
            let (bytes, _) = (msg, status).matched_receive_vec::<u8>();
            self.received += bytes.len() as u64;
            self.ready(status.source_rank(), &bytes);
        }
    }

    /// Take one message from any remote rank, if one waits (a heartbeat
    /// is an [`Event::Idle`]).
    fn poll_remote(&mut self) -> Result<Option<Event>> {
        let Some((msg, status)) = self.world.any_process().immediate_matched_probe() else { return Ok(None) };
        let rank = status.source_rank();
        let shard = self.working.get(&rank).map_or(0, |w| w.0);
        let (bytes, _) = self.guarded(rank, shard, || (msg, status).matched_receive_vec::<u8>());
        self.received += bytes.len() as u64;
        if let Some((_, heard)) = self.working.get_mut(&rank) {
            *heard = Instant::now();
        }
        match status.tag() {
            TAG_HEARTBEAT => Ok(Some(Event::Idle)),
            TAG_READY => {
                self.ready(rank, &bytes);
                Ok(Some(Event::Idle))
            }
            TAG_RESULT => {
                let (header, segment): (ResultHeader, Vec<u8>) = decode_message(&format!("rank {rank}"), bytes)?;
                self.busy -= 1;
                self.working.remove(&rank);
                self.idle.push_back(rank);
                Ok(Some(Event::Done(TaskOutput { header, segment: Payload::Inline(segment) })))
            }
            TAG_FAILED => {
                let (failure, _): (TaskFailure, Vec<u8>) = decode_message(&format!("rank {rank}"), bytes)?;
                self.busy -= 1;
                self.working.remove(&rank);
                self.idle.push_back(rank);
                Ok(Some(Event::Failed(failure)))
            }
            tag => Err(malformed(rank, format!("unknown message tag {tag}"))),
        }
    }

    /// The next event; a silent rank is checked for only once no message
    /// waits (all of them read, heartbeats included).
    fn wait_event(&mut self) -> Result<Event> {
        let mut pause = Duration::from_micros(50);
        loop {
            if let Some(event) = self.local.as_mut().and_then(InProcess::try_event) {
                return Ok(event);
            }
            if let Some(event) = self.poll_remote()? {
                return Ok(event);
            }
            if let Some(lost) = self.silent_rank() {
                return Err(lost);
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(5));
        }
    }

    /// The first busy rank silent for longer than the limit, as an error.
    fn silent_rank(&self) -> Option<EngineError> {
        let (rank, (shard, heard)) = self.working.iter().find(|(_, (_, heard))| heard.elapsed() > self.silence)?;
        Some(lost(EngineError::WorkerLost {
            worker: worker_id(*rank, self.hosts.get(rank).cloned().unwrap_or_else(|| "unknown node".into())),
            shard: *shard,
            silent_secs: heard.elapsed().as_secs(),
        }))
    }
}

impl Transport for MpiTransport<'_> {
    fn describe(&self) -> String {
        format!("MPI, {} ranks{}", self.world.size(), if self.local.is_some() { "" } else { ", coordinator only" })
    }

    fn offer(&mut self, task: Task) -> Result<Option<Task>> {
        // Remote ranks first: rank 0's own worker shares its node with the
        // coordinator and should pick up only what the others leave.
        if self.idle.is_empty() {
            self.poll_ready();
        }
        if let Some(rank) = self.idle.pop_front() {
            let Some(segment) = task.segment.inline() else {
                self.idle.push_front(rank);
                let why = "MPI ranks take segments inline, not from the store";
                return Err(TransportError::Unavailable(why.into()).into());
            };
            let buf = encode_message(&task.header, segment);
            self.sent += buf.len() as u64;
            let shard = task.header.shard.index;
            self.guarded(rank, shard, || self.world.process_at_rank(rank).send_with_tag(&buf[..], TAG_TASK));
            self.busy += 1;
            self.working.insert(rank, (task.header.shard.index, Instant::now()));
            let host = self.hosts.get(&rank).cloned().unwrap_or_else(|| "unknown node".into());
            self.notes.push_back(Event::Started { shard, worker: worker_id(rank, host), at: unix_now() });
            return Ok(None);
        }
        match self.local.as_mut() {
            Some(local) if !local.is_busy() => local.offer(task),
            _ => Ok(Some(task)),
        }
    }

    fn next_event(&mut self) -> Result<Event> {
        if let Some(note) = self.notes.pop_front() {
            return Ok(note);
        }
        // Away for a while (a slow store): every busy rank gets a fresh
        // window, its messages may be waiting unread.
        if self.left.is_some_and(|t| t.elapsed() > Duration::from_secs(1)) {
            self.working.values_mut().for_each(|w| w.1 = Instant::now());
        }
        let event = self.wait_event();
        self.left = Some(Instant::now());
        event
    }

    fn finish(&mut self) -> Result<()> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
        self.stop_watchdog.store(true, Ordering::SeqCst);
        for rank in 1..self.world.size() {
            self.world.process_at_rank(rank).send_with_tag(&[0u8][..], TAG_STOP);
        }
        match self.local.as_mut() {
            Some(local) => local.finish(),
            None => Ok(()),
        }
    }

    fn bytes_moved(&self) -> (u64, u64) {
        (self.sent, self.received)
    }
}

impl Drop for MpiTransport<'_> {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// Tell every worker rank to stop: for rank 0 when the job fails before
/// any shard went out (a bad input), so that no rank waits forever.
pub fn release_workers(world: &SimpleCommunicator) {
    for rank in 1..world.size() {
        world.process_at_rank(rank).send_with_tag(&[0u8][..], TAG_STOP);
    }
}

/// A worker rank's loop: say it is ready (naming its node), run each task
/// through `handler` on a thread of its own while this thread sends
/// heartbeats, send back the encoded segment (or the failure), until told
/// to stop. Between tasks it waits without spinning.
pub fn serve(world: &SimpleCommunicator, handler: &mut dyn Handler) -> Result<()> {
    let rank = world.rank();
    let host = hostname();
    let root = world.process_at_rank(0);
    root.send_with_tag(host.as_bytes(), TAG_READY);
    let mut idle = IdleClock::start();
    loop {
        let (msg, status) = wait_for(&root);
        let (bytes, _) = (msg, status).matched_receive_vec::<u8>();
        match status.tag() {
            TAG_STOP => return Ok(()),
            TAG_TASK => {
                let (idle_secs, idle_cpu_secs) = idle.stop();
                let (header, segment): (TaskHeader, Vec<u8>) = decode_message("rank 0", bytes)?;
                let shard = header.shard.index;
                tracing::debug!(rank, shard, bytes = segment.len(), "task received");
                let task = Task { header, segment: Payload::Inline(segment) };
                let started = unix_now();
                let span = tracing::info_span!("shard", shard, worker = %format!("rank {rank}"));
                let result = while_working(
                    || span.in_scope(|| handler.handle(task)),
                    HEARTBEAT,
                    || {
                        root.send_with_tag(&[0u8][..], TAG_HEARTBEAT);
                    },
                )
                .unwrap_or_else(|panic| Err(TaskError::panicked(shard, &panic)));
                match result {
                    Ok(mut out) => {
                        out.header.worker = worker_id(rank, host.clone());
                        (out.header.started, out.header.ended) = (started, unix_now());
                        out.header.idle_secs = idle_secs;
                        out.header.idle_cpu_secs = idle_cpu_secs;
                        let Some(segment) = out.segment.inline() else {
                            let why = "a rank's handler must return its segment inline";
                            return Err(TransportError::Unavailable(why.into()).into());
                        };
                        root.send_with_tag(&encode_message(&out.header, segment)[..], TAG_RESULT);
                    }
                    Err(error) => {
                        let worker = worker_id(rank, host.clone());
                        let failure = TaskFailure { worker, started, ended: unix_now(), shard, error };
                        root.send_with_tag(&encode_message(&failure, &[])[..], TAG_FAILED);
                    }
                }
                idle = IdleClock::start();
            }
            tag => return Err(malformed(0, format!("unknown message tag {tag} (to rank {rank})"))),
        }
    }
}

/// The next message from `root`, probing without blocking and sleeping
/// between probes (up to 10 ms: a task waits that long at most).
fn wait_for(root: &::mpi::topology::Process<'_>) -> (::mpi::point_to_point::Message, ::mpi::point_to_point::Status) {
    let mut pause = Duration::from_micros(50);
    loop {
        if let Some(found) = root.immediate_matched_probe() {
            return found;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}

/// Wall and CPU time of this thread while it waits for work.
struct IdleClock {
    wall: Instant,
    cpu: f64,
}

impl IdleClock {
    fn start() -> Self {
        IdleClock { wall: Instant::now(), cpu: thread_cpu_secs() }
    }

    /// Seconds waited and CPU seconds spent waiting.
    fn stop(&self) -> (f64, f64) {
        (self.wall.elapsed().as_secs_f64(), (thread_cpu_secs() - self.cpu).max(0.0))
    }
}

/// CPU seconds this thread has used.
fn thread_cpu_secs() -> f64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `t` is a valid timespec for clock_gettime to fill.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) } != 0 {
        return 0.0;
    }
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}
