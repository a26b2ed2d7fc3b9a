//! The MPI transport: rank 0 coordinates (and, unless told not to, also
//! works on a thread of its own); every other rank serves tasks. Messages
//! are framed bytes (a JSON header, then the segment): compressed shards
//! out, encoded segments back, never raw frames.
//!
//! Only the thread that initialised MPI calls it: the coordinator's own
//! worker talks to it through an in-process channel.

use std::collections::VecDeque;
use std::time::Duration;

use ::mpi::point_to_point::{Destination, MatchedReceiveVec, Source};
use ::mpi::topology::Communicator;
use ::mpi::Tag;

use super::{
    decode_message, encode_message, Event, Handler, InProcess, ResultHeader, Task, TaskFailure, TaskHeader, TaskOutput,
    Transport,
};
use crate::error::{EngineError, Result};

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
    stopped: bool,
    sent: u64,
    received: u64,
}

impl<'w> MpiTransport<'w> {
    /// Coordinate the ranks of `world`; `local` are rank 0's own workers
    /// (none: it only coordinates).
    pub fn new(world: &'w SimpleCommunicator, local: Vec<Box<dyn Handler>>) -> Result<Self> {
        let local = (!local.is_empty()).then(|| InProcess::start(local, world.rank()));
        if local.is_none() && world.size() < 2 {
            return Err(EngineError::Transport("--coordinator-only needs at least 2 ranks".into()));
        }
        Ok(MpiTransport { world, local, idle: VecDeque::new(), busy: 0, stopped: false, sent: 0, received: 0 })
    }

    /// Note every rank that has said it is ready, without waiting.
    fn poll_ready(&mut self) {
        while let Some((msg, status)) = self.world.any_process().immediate_matched_probe_with_tag(TAG_READY) {
            let (bytes, _) = (msg, status).matched_receive_vec::<u8>();
            self.received += bytes.len() as u64;
            self.idle.push_back(status.source_rank());
        }
    }

    /// Take one message from any remote rank, if one waits.
    fn poll_remote(&mut self) -> Result<Option<Event>> {
        let Some((msg, status)) = self.world.any_process().immediate_matched_probe() else { return Ok(None) };
        let (bytes, _) = (msg, status).matched_receive_vec::<u8>();
        self.received += bytes.len() as u64;
        let rank = status.source_rank();
        match status.tag() {
            TAG_READY => {
                self.idle.push_back(rank);
                Ok(Some(Event::Idle))
            }
            TAG_RESULT => {
                let (header, segment): (ResultHeader, Vec<u8>) = decode_message(bytes)?;
                self.busy -= 1;
                self.idle.push_back(rank);
                Ok(Some(Event::Done(TaskOutput { header, segment })))
            }
            TAG_FAILED => {
                let (failure, _): (TaskFailure, Vec<u8>) = decode_message(bytes)?;
                self.busy -= 1;
                self.idle.push_back(rank);
                Ok(Some(Event::Failed(failure)))
            }
            tag => Err(EngineError::Transport(format!("rank {rank} sent unknown message tag {tag}"))),
        }
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
            let buf = encode_message(&task.header, &task.segment);
            self.sent += buf.len() as u64;
            self.world.process_at_rank(rank).send_with_tag(&buf[..], TAG_TASK);
            self.busy += 1;
            return Ok(None);
        }
        match self.local.as_mut() {
            Some(local) if !local.is_busy() => local.offer(task),
            _ => Ok(Some(task)),
        }
    }

    fn next_event(&mut self) -> Result<Event> {
        let mut pause = Duration::from_micros(50);
        loop {
            if let Some(event) = self.local.as_mut().and_then(InProcess::try_event) {
                return Ok(event);
            }
            if let Some(event) = self.poll_remote()? {
                return Ok(event);
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(5));
        }
    }

    fn finish(&mut self) -> Result<()> {
        if self.stopped {
            return Ok(());
        }
        self.stopped = true;
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

/// A worker rank's loop: ask for work, run each task through `handler`,
/// send back the encoded segment (or the failure), until told to stop.
pub fn serve(world: &SimpleCommunicator, handler: &mut dyn Handler) -> Result<()> {
    let rank = world.rank();
    let root = world.process_at_rank(0);
    root.send_with_tag(&[0u8][..], TAG_READY);
    loop {
        let (msg, status) = root.matched_probe();
        let (bytes, _) = (msg, status).matched_receive_vec::<u8>();
        match status.tag() {
            TAG_STOP => return Ok(()),
            TAG_TASK => {
                let (header, segment): (TaskHeader, Vec<u8>) = decode_message(bytes)?;
                let shard = header.shard.index;
                tracing::debug!(rank, shard, bytes = segment.len(), "task received");
                match handler.handle(Task { header, segment }) {
                    Ok(mut out) => {
                        out.header.rank = rank;
                        root.send_with_tag(&encode_message(&out.header, &out.segment)[..], TAG_RESULT);
                    }
                    Err(error) => {
                        root.send_with_tag(&encode_message(&TaskFailure { rank, shard, error }, &[])[..], TAG_FAILED);
                    }
                }
            }
            tag => return Err(EngineError::Transport(format!("rank {rank}: unknown message tag {tag} from rank 0"))),
        }
    }
}
