//! transport: how shards reach workers and segments come back. A small
//! trait with an implementation here, [`InProcess`] (worker threads in
//! this process), and one per adapter (the MPI ranks of `stylize-mpi`).
//! Only bytes travel: a task is a shard and its stream-copied segment, a
//! result is an encoded segment; [`encode_message`] frames them for
//! transports that cross processes.
//!
//! [`scatter_gather`] is the coordinator's loop over any transport: idle
//! workers get the next shard as soon as they ask (dynamic balance: a slow
//! worker simply asks less often).

use std::sync::mpsc::{channel, sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};

use crate::error::{EngineError, Result, TransportError};
use crate::task::{Task, TaskError, TaskFailure, TaskOutput};
use crate::time::unix_now;
pub use crate::worker::hostname;
use crate::worker::WorkerId;

/// What a worker does with a task (the pipeline supplies it).
pub trait Handler: Send {
    /// Process one task; the error says what kind of failure it is (the
    /// coordinator and the trigger decide retries on the kind, never on
    /// text) and, in one line, its cause.
    fn handle(&mut self, task: Task) -> std::result::Result<TaskOutput, TaskError>;
}

/// What the coordinator hears from the workers.
#[derive(Debug)]
pub enum Event {
    /// A task is done.
    Done(TaskOutput),
    /// A task failed for good (the job stops).
    Failed(TaskFailure),
    /// An attempt failed and the task will be tried again (a queue
    /// worker's transient failure): recorded, the job goes on.
    Retried(TaskFailure),
    /// A worker became free (it asked for work).
    Idle,
    /// A worker took a task: the job's state shows it running there.
    Started {
        /// The shard.
        shard: u32,
        /// Who took it.
        worker: WorkerId,
        /// When (Unix seconds).
        at: f64,
    },
}

/// Moves tasks to workers and their results back.
pub trait Transport {
    /// What the transport is, for logs and reports (`in-process`, `MPI, 3 ranks`).
    fn describe(&self) -> String;
    /// Give `task` to a free worker; hands it back when all are busy.
    fn offer(&mut self, task: Task) -> Result<Option<Task>>;
    /// Wait for the next event.
    fn next_event(&mut self) -> Result<Event>;
    /// Tell every worker there is no more work. Called once, also on failure.
    fn finish(&mut self) -> Result<()>;
    /// Bytes sent to and received from workers on other processes.
    fn bytes_moved(&self) -> (u64, u64) {
        (0, 0)
    }
}

/// Run every task from `next_task` on the workers of `transport`, calling
/// `on_done` for each result (in completion order) and `on_note` for what
/// the job's state records besides ([`Event::Started`], and each failed
/// attempt, retried or not: [`Event::Retried`], [`Event::Failed`]). On the
/// first failure
/// no new task starts, the ones running finish (and their results are
/// still kept), and the failure is returned naming the worker, the shard
/// and the cause.
pub fn scatter_gather(
    transport: &mut dyn Transport,
    mut next_task: impl FnMut() -> Result<Option<Task>>,
    mut on_done: impl FnMut(TaskOutput) -> Result<()>,
    mut on_note: impl FnMut(&Event),
) -> Result<()> {
    let result = drive(transport, &mut next_task, &mut on_done, &mut on_note);
    let finished = transport.finish();
    result.and(finished)
}

fn drive(
    transport: &mut dyn Transport,
    next_task: &mut dyn FnMut() -> Result<Option<Task>>,
    on_done: &mut dyn FnMut(TaskOutput) -> Result<()>,
    on_note: &mut dyn FnMut(&Event),
) -> Result<()> {
    let mut in_flight = 0usize;
    let mut held: Option<Task> = None;
    let mut exhausted = false;
    let mut failure: Option<EngineError> = None;
    let mut gather_failed = false;
    loop {
        while failure.is_none() {
            let task = match held.take() {
                Some(t) => t,
                None if exhausted => break,
                None => match next_task() {
                    Ok(Some(t)) => t,
                    Ok(None) => {
                        exhausted = true;
                        break;
                    }
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                },
            };
            match transport.offer(task)? {
                None => in_flight += 1,
                Some(t) => {
                    held = Some(t);
                    break;
                }
            }
        }
        let waiting_for_work = failure.is_none() && held.is_some();
        if in_flight == 0 && !waiting_for_work {
            break;
        }
        let event = transport.next_event()?;
        if matches!(event, Event::Started { .. } | Event::Retried(_) | Event::Failed(_)) {
            on_note(&event);
        }
        match event {
            Event::Idle | Event::Started { .. } | Event::Retried(_) => {}
            Event::Done(out) => {
                in_flight -= 1;
                // A shard finished after another one failed is still good
                // work: keep it for the resume (the first failure is the
                // one told). Not after gathering itself failed: the store
                // is what is failing then, and every try would wait on it.
                if !gather_failed {
                    if let Err(e) = on_done(out) {
                        gather_failed = true;
                        failure.get_or_insert(e);
                    }
                }
            }
            Event::Failed(f) => {
                in_flight -= 1;
                failure.get_or_insert(EngineError::Worker {
                    worker: f.worker,
                    shard: f.shard,
                    kind: f.error.kind,
                    message: f.error.message,
                });
            }
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Worker threads in this process, each with its own handler: several
/// shards side by side, so that while one shard's encoder drains or the
/// next one's decoder starts, the others keep the cores (and a GPU) busy.
/// Each shard's bytes depend on its segment and handler only, never on
/// which thread ran it.
pub struct InProcess {
    tasks: Option<SyncSender<Task>>,
    events: Receiver<Event>,
    busy: usize,
    threads: Vec<JoinHandle<()>>,
    name: String,
}

impl InProcess {
    /// Start one worker thread per handler, named `name` (one thread) or
    /// `name.k` (several: `local.1`, `rank 0.1`).
    pub fn start(handlers: Vec<Box<dyn Handler>>, name: &str) -> Self {
        let several = handlers.len() > 1;
        // Shards are spans under the one the job started its workers in.
        let parent = tracing::Span::current();
        // A rendezvous: a task is handed over only to a thread that is free.
        let (task_tx, task_rx) = sync_channel::<Task>(0);
        let task_rx = std::sync::Arc::new(std::sync::Mutex::new(task_rx));
        let (event_tx, event_rx) = channel();
        let threads = handlers
            .into_iter()
            .enumerate()
            .map(|(k, mut handler)| {
                let (task_rx, event_tx, parent) = (task_rx.clone(), event_tx.clone(), parent.clone());
                let worker = WorkerId::here(if several { format!("{name}.{k}") } else { name.to_string() });
                std::thread::Builder::new()
                    .name(format!("worker-{k}"))
                    .spawn(move || loop {
                        let next = task_rx.lock().map(|rx| rx.recv());
                        let Ok(Ok(task)) = next else { break };
                        let shard = task.header.shard.index;
                        // A panic in one shard must fail the job with one
                        // line, not leave the coordinator waiting for it.
                        let started = unix_now();
                        let _ = event_tx.send(Event::Started { shard, worker: worker.clone(), at: started });
                        let span = tracing::info_span!(parent: &parent, "shard", shard, worker = %worker.name);
                        let _in_shard = span.enter();
                        let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler.handle(task)));
                        let ended = unix_now();
                        let failed = |error| TaskFailure { worker: worker.clone(), started, ended, shard, error };
                        let event = match handled {
                            Ok(Ok(mut out)) => {
                                out.header.worker = worker.clone();
                                (out.header.started, out.header.ended) = (started, ended);
                                out.header.progress_told = true;
                                Event::Done(out)
                            }
                            Ok(Err(error)) => Event::Failed(failed(error)),
                            Err(panic) => Event::Failed(failed(TaskError::panicked(shard, &panic))),
                        };
                        if event_tx.send(event).is_err() {
                            break;
                        }
                    })
                    .expect("a thread can be spawned")
            })
            .collect();
        InProcess { tasks: Some(task_tx), events: event_rx, busy: 0, threads, name: name.to_string() }
    }

    /// True while every worker runs a task.
    pub fn is_busy(&self) -> bool {
        self.busy >= self.threads.len()
    }

    /// The next event if one is ready, without waiting.
    pub fn try_event(&mut self) -> Option<Event> {
        let event = self.events.try_recv().ok()?;
        self.count(&event);
        Some(event)
    }

    /// A result or a failure frees its thread; a start does not.
    fn count(&mut self, event: &Event) {
        if !matches!(event, Event::Started { .. }) {
            self.busy = self.busy.saturating_sub(1);
        }
    }
}

impl Transport for InProcess {
    fn describe(&self) -> String {
        match self.threads.len() {
            1 => format!("in-process ({})", self.name),
            k => format!("in-process ({}, {k} shards side by side)", self.name),
        }
    }

    fn offer(&mut self, task: Task) -> Result<Option<Task>> {
        if self.is_busy() {
            return Ok(Some(task));
        }
        let tx = self.tasks.as_ref().ok_or_else(|| stopped("the worker threads"))?;
        tx.send(task).map_err(|_| stopped("a worker thread"))?;
        self.busy += 1;
        Ok(None)
    }

    fn next_event(&mut self) -> Result<Event> {
        let event = self.events.recv().map_err(|_| stopped("a worker thread"))?;
        self.count(&event);
        Ok(event)
    }

    fn finish(&mut self) -> Result<()> {
        self.tasks = None;
        let mut any_panicked = false;
        for t in self.threads.drain(..) {
            any_panicked |= t.join().is_err();
        }
        if any_panicked {
            return Err(stopped("a worker thread (it panicked)"));
        }
        Ok(())
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

fn stopped(what: &str) -> EngineError {
    TransportError::Stopped { what: what.into() }.into()
}

/// Frame a message: a JSON header, then raw bytes.
pub fn encode_message<H: Serialize>(header: &H, payload: &[u8]) -> Vec<u8> {
    let json = serde_json::to_vec(header).expect("headers serialise");
    let mut buf = Vec::with_capacity(4 + json.len() + payload.len());
    buf.extend_from_slice(&(json.len() as u32).to_le_bytes());
    buf.extend_from_slice(&json);
    buf.extend_from_slice(payload);
    buf
}

/// Split a framed message from `from` into its header and payload.
pub fn decode_message<H: for<'de> Deserialize<'de>>(from: &str, mut buf: Vec<u8>) -> Result<(H, Vec<u8>)> {
    let bad = |why: &str| EngineError::from(TransportError::Malformed { from: from.into(), why: why.into() });
    if buf.len() < 4 {
        return Err(bad("shorter than its length prefix"));
    }
    let n = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if buf.len() < 4 + n {
        return Err(bad("header longer than the message"));
    }
    let header = serde_json::from_slice(&buf[4..4 + n]).map_err(|e| bad(&e.to_string()))?;
    let payload = buf.split_off(4 + n);
    Ok((header, payload))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Shard;
    use crate::ratio::Ratio;
    use crate::task::{Payload, ResultHeader, TaskErrorKind, TaskHeader, VideoParams};

    fn task(index: u32) -> Task {
        Task {
            header: TaskHeader {
                job: "j".into(),
                shard: Shard {
                    index,
                    start: u64::from(index),
                    pts: vec![i64::from(index)],
                    end_pts: i64::from(index) + 1,
                    warmup: vec![],
                    key_pts: i64::from(index),
                    by_count_skip: None,
                    dts_offset: 0,
                },
                params: serde_json::Value::Null,
                video: VideoParams {
                    width: 2,
                    height: 2,
                    time_base: Ratio { num: 1, den: 25 },
                    frame_rate: Ratio { num: 25, den: 1 },
                    picture: Default::default(),
                },
            },
            segment: Payload::Inline(vec![index as u8; 3]),
        }
    }

    struct Echo;
    impl Handler for Echo {
        fn handle(&mut self, task: Task) -> std::result::Result<TaskOutput, TaskError> {
            if task.header.shard.index == 3 {
                return Err(TaskError::new(TaskErrorKind::BadInput, "shard 3: bad"));
            }
            let bytes = task.segment.inline().expect("inline");
            Ok(TaskOutput {
                header: ResultHeader { shard: task.header.shard.index, frames: 1, ..Default::default() },
                segment: Payload::Inline(bytes.iter().map(|b| b + 1).collect()),
            })
        }
    }

    /// Panics on shard 1.
    struct Panics;
    impl Handler for Panics {
        fn handle(&mut self, task: Task) -> std::result::Result<TaskOutput, TaskError> {
            if task.header.shard.index == 1 {
                panic!("boom");
            }
            Echo.handle(task)
        }
    }

    /// Two workers side by side: every shard once, and a panic in one of
    /// them fails the job with its shard instead of hanging it.
    #[test]
    fn shards_side_by_side_and_a_panic_fails_the_job() {
        let mut t = InProcess::start(vec![Box::new(Echo), Box::new(Echo)], "local");
        let mut queue: Vec<Task> = (0..6).rev().map(task).filter(|t| t.header.shard.index != 3).collect();
        let mut done = Vec::new();
        scatter_gather(
            &mut t,
            || Ok(queue.pop()),
            |out| {
                done.push(out.header.shard);
                Ok(())
            },
            |_| (),
        )
        .unwrap();
        done.sort();
        assert_eq!(done, vec![0, 1, 2, 4, 5]);

        let mut t = InProcess::start(vec![Box::new(Panics), Box::new(Panics)], "local");
        let mut queue: Vec<Task> = (0..3).rev().map(task).collect();
        let err = scatter_gather(&mut t, || Ok(queue.pop()), |_| Ok(()), |_| ()).unwrap_err().to_string();
        assert!(err.contains("shard 1: the worker panicked: boom"), "{err}");
    }

    #[test]
    fn every_task_once_in_process() {
        let mut t = InProcess::start(vec![Box::new(Echo)], "local");
        let mut queue: Vec<Task> = (0..3).rev().map(task).collect();
        let mut done = Vec::new();
        scatter_gather(
            &mut t,
            || Ok(queue.pop()),
            |out| {
                done.push((out.header.shard, out.segment.inline().unwrap().to_vec()));
                Ok(())
            },
            |_| (),
        )
        .unwrap();
        assert_eq!(done, vec![(0, vec![1; 3]), (1, vec![2; 3]), (2, vec![3; 3])]);
    }

    #[test]
    fn a_failure_names_worker_and_shard_and_stops_new_work() {
        let mut t = InProcess::start(vec![Box::new(Echo)], "local");
        let mut queue: Vec<Task> = (0..6).rev().map(task).collect();
        let mut done = Vec::new();
        let mut failed = Vec::new();
        let err = scatter_gather(
            &mut t,
            || Ok(queue.pop()),
            |out| {
                done.push(out.header.shard);
                Ok(())
            },
            |e| {
                if let Event::Failed(f) = e {
                    failed.push(f.shard)
                }
            },
        )
        .unwrap_err()
        .to_string();
        assert_eq!(err, format!("local ({}): shard 3: bad", hostname()));
        assert_eq!(done, vec![0, 1, 2]);
        assert_eq!(failed, vec![3], "the failed attempt is recorded");
        assert_eq!(queue.len(), 1, "no shard is taken after the failure but the one held back");
    }

    #[test]
    fn messages_round_trip() {
        let t = task(7);
        let buf = encode_message(&t.header, t.segment.inline().unwrap());
        let (h, p): (TaskHeader, Vec<u8>) = decode_message("rank 1", buf).unwrap();
        assert_eq!(h.shard, t.header.shard);
        assert_eq!(Payload::Inline(p), t.segment);
        let err = decode_message::<TaskHeader>("rank 1", vec![9, 0, 0, 0, b'{']).unwrap_err().to_string();
        assert!(err.starts_with("transport: malformed message from rank 1: "), "{err}");
    }
}
