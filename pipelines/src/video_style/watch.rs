//! watch: jobs triggered by uploads. Event Grid delivers BlobCreated events
//! to a Storage queue; each one names a new video, which becomes a job.
//!
//! A message is deleted only after its output is committed, and kept
//! invisible (its visibility extended) while the job runs. A malformed
//! message, or one whose job cannot succeed (a missing blob, a file that is
//! not a video), goes at once to `<queue>-poison` with the reason; a job
//! that fails otherwise is retried when the message reappears, and after
//! `max_dequeues` attempts it is poisoned too. One bad message never blocks
//! the ones behind it. The same blob announced twice runs once: the job id
//! comes from the content, and a job whose output exists is not redone.

use std::sync::{Arc, Mutex};
use std::time::Duration;

pub use stylize_engine::azure::EventFilter;
use stylize_engine::azure::{parse_blob_created, EventQueue, QueueMessage, Service, StorageUrl};
use stylize_engine::location::Location;
use stylize_engine::EngineError;
use tracing::{info, warn};

use super::{run, Launch, NoProgress, StyleJob};
use crate::error::PipelineError;

/// What to watch and how.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// The queue URL (SAS in the query).
    pub queue: String,
    /// The container uploads land in, with a SAS that can read them.
    pub inputs: String,
    /// Which events are work (container, suffix).
    pub filter: EventFilter,
    /// Attempts before a message is poisoned.
    pub max_dequeues: u32,
    /// How long a received message stays invisible (extended while its
    /// job runs).
    pub visibility: Duration,
    /// Pause when the queue is empty.
    pub poll: Duration,
    /// Return when the queue is empty instead of waiting for more.
    pub until_empty: bool,
}

/// What a watch did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct WatchSummary {
    /// Jobs whose output was committed (or already there).
    pub done: u64,
    /// Messages that were not work for this watcher (deleted).
    pub ignored: u64,
    /// Messages moved to the poison queue.
    pub poisoned: u64,
    /// Jobs that failed and were left for a retry.
    pub retried: u64,
}

/// Consume the queue, running `template` (its input replaced) per event.
pub fn watch(options: &WatchOptions, template: &StyleJob) -> Result<WatchSummary, PipelineError> {
    let queue = Arc::new(EventQueue::open(&options.queue, template.remote.sas_only)?);
    let inputs = StorageUrl::parse(&options.inputs, Service::Blob)?;
    let mut summary = WatchSummary::default();
    info!(queue = %queue.describe(), "watching");
    loop {
        let messages = queue.receive(16, options.visibility)?;
        if messages.is_empty() {
            if options.until_empty {
                return Ok(summary);
            }
            std::thread::sleep(options.poll);
            continue;
        }
        for message in messages {
            handle(&queue, message, &inputs, options, template, &mut summary)?;
        }
    }
}

fn handle(
    queue: &Arc<EventQueue>,
    message: QueueMessage,
    inputs: &StorageUrl,
    options: &WatchOptions,
    template: &StyleJob,
    summary: &mut WatchSummary,
) -> Result<(), PipelineError> {
    if message.dequeue_count > options.max_dequeues {
        queue.poison(&message, &format!("gave up after {} attempts", message.dequeue_count - 1))?;
        summary.poisoned += 1;
        return Ok(());
    }
    let events = match parse_blob_created(&message.payload()) {
        Ok(events) => events,
        Err(e) => {
            warn!(message = %message.id, reason = %e, "malformed message poisoned");
            queue.poison(&message, &format!("malformed event: {e}"))?;
            summary.poisoned += 1;
            return Ok(());
        }
    };
    let work: Vec<_> = events.into_iter().filter(|e| options.filter.matches(e)).collect();
    if work.is_empty() {
        queue.delete(&message)?;
        summary.ignored += 1;
        return Ok(());
    }
    // Keep the message invisible while its jobs run.
    let current = Arc::new(Mutex::new(message));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let keeper = {
        let (queue, current, stop, visibility) = (queue.clone(), current.clone(), stop.clone(), options.visibility);
        std::thread::spawn(move || {
            let step = visibility / 3;
            let mut waited = Duration::ZERO;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(100));
                waited += Duration::from_millis(100);
                if waited >= step {
                    waited = Duration::ZERO;
                    let mut msg = current.lock().expect("not poisoned");
                    match queue.extend(&msg, visibility) {
                        Ok(receipt) => msg.pop_receipt = receipt,
                        Err(e) => warn!(error = %e, "could not extend the message's visibility"),
                    }
                }
            }
        })
    };
    let mut outcome: Result<(), (bool, String)> = Ok(());
    for event in &work {
        let mut job = template.clone();
        job.input = Location::Remote(inputs.blob_url(&event.blob)?.to_string());
        // The same path uploaded again is new content for the same output.
        job.overwrite = super::Overwrite::Always;
        info!(blob = %event.blob, container = %event.container, "job for upload");
        match run(&job, Arc::new(NoProgress), Launch::InProcess) {
            Ok(report) => info!(job = %report.job, output = %report.output, "committed"),
            Err(e) => {
                outcome = Err((is_permanent(&e), e.to_string()));
                break;
            }
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = keeper.join();
    let message = current.lock().expect("not poisoned").clone();
    match outcome {
        Ok(()) => {
            queue.delete(&message)?;
            summary.done += 1;
        }
        Err((true, reason)) => {
            warn!(message = %message.id, %reason, "job cannot succeed: poisoned");
            queue.poison(&message, &reason)?;
            summary.poisoned += 1;
        }
        Err((false, reason)) => {
            warn!(message = %message.id, %reason, "job failed: left for a retry");
            summary.retried += 1;
        }
    }
    Ok(())
}

/// Failures a retry cannot fix: the input is not there or not a video,
/// the model or style is wrong.
fn is_permanent(e: &PipelineError) -> bool {
    match e {
        PipelineError::Engine(EngineError::BadInput { .. }) | PipelineError::Model(_) => true,
        PipelineError::Engine(EngineError::Worker { kind, .. }) => kind.is_permanent(),
        _ => false,
    }
}
