//! watch: jobs triggered by uploads. Event Grid delivers BlobCreated events
//! to a Storage queue; each one names a new video, which becomes a job.
//!
//! A message is deleted only after its output is committed, and kept
//! invisible (its visibility extended) while the job runs. A malformed
//! message, or one whose job cannot succeed (a missing blob, a file that is
//! not a video), goes at once to `<queue>-poison` with the reason; a job
//! that fails otherwise is retried when the message reappears, and after
//! `max_dequeues` attempts it is poisoned too. One bad message never blocks
//! the ones behind it: one too large for the poison queue goes there as an
//! excerpt with its digest, and one that cannot go there at all (no
//! permission) is saved in the logs store (or, without one, logged with
//! its digest); either way it leaves the work queue. The same blob
//! announced twice runs once: the job id comes from the content, a job
//! whose output exists is not redone, and a job runs once at a time across
//! watchers (the engine leases it).
//!
//! One message is held at a time, so no received message sits waiting
//! (its visibility running out) while another job runs, to be taken and
//! run again by a second watcher. The configuration is checked before any
//! message is taken; after that, a storage error is logged and retried
//! with back-off, and never ends the watcher.

use std::sync::Arc;
use std::time::Duration;

use stylize_engine::{check_writable, open_store, while_working, EngineError, Location};
use tracing::{error, info, warn};

use crate::events::{parse_blob_created, EventFilter};
use crate::queue::{EventQueue, QueueMessage};
use crate::remote::AzureRemote;
use crate::url::{Service, StorageUrl};

/// Runs the job of one upload: the watcher knows queues and events, not
/// what a job does (the CLI runs a pipeline here). Jobs run on a thread of
/// their own while the watcher keeps their message invisible.
pub trait JobRunner: Send {
    /// Run the job whose input is `input` and commit its output.
    fn run(&mut self, input: Location) -> Result<Committed, JobFailure>;
}

/// A job whose output is committed.
#[derive(Debug, Clone)]
pub struct Committed {
    /// The job id.
    pub job: String,
    /// The output, as shown.
    pub output: String,
    /// Handed to a task queue's workers, which commit it (`--detach`).
    pub detached: bool,
}

/// A job that failed, and whether a retry could help.
#[derive(Debug, Clone)]
pub struct JobFailure {
    /// True when running it again cannot succeed (not a video, a wrong
    /// model): the message is poisoned at once.
    pub permanent: bool,
    /// The one-line cause.
    pub message: String,
}

/// Where the jobs write: checked before any message is taken.
#[derive(Debug, Clone)]
pub struct JobStores {
    /// Outputs and job state.
    pub store: Location,
    /// The jobs' logs, when kept apart.
    pub logs: Option<Location>,
}

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
    /// Why each message left for a retry failed here last (by message
    /// id): the reason its poison record gives when it runs out of tries.
    #[serde(skip)]
    last_failure: std::collections::HashMap<String, String>,
}

/// Failed receives in a row before `--until-empty` gives up (a watcher
/// without it never does).
const RECEIVE_ATTEMPTS: u32 = 5;
/// The longest pause between two receives that failed.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Consume the queue, giving `runner` the job of each upload.
pub fn watch(
    options: &WatchOptions,
    template: &JobStores,
    remote: &AzureRemote,
    runner: &mut dyn JobRunner,
) -> Result<WatchSummary, EngineError> {
    let queue = Arc::new(remote.queue(&options.queue)?);
    let inputs = crate::sas::url_with_sas(&options.inputs, Service::Blob, remote.sas_only)?;
    let inputs = StorageUrl::parse(&inputs, Service::Blob)?;
    preflight(&queue, &inputs, template, remote)?;
    let mut summary = WatchSummary::default();
    info!(queue = %queue.describe(), "watching");
    let mut failures = 0u32;
    loop {
        // A SAS that expires while the watcher runs is the configuration
        // gone wrong, not each upload's fault: stop rather than poison.
        still_valid(&queue, &inputs, template)?;
        let messages = match queue.receive(1, options.visibility) {
            Ok(m) => {
                failures = 0;
                m
            }
            Err(e) => {
                failures += 1;
                // Refused credentials (a SAS revoked or past its expiry)
                // do not come back by waiting: stop, and say so.
                if denied(&e) {
                    queue.check_expiry()?;
                    return Err(e);
                }
                if options.until_empty && failures >= RECEIVE_ATTEMPTS {
                    return Err(e);
                }
                let pause = options.poll.saturating_mul(1 << failures.min(5)).min(MAX_BACKOFF);
                warn!("{e}; trying again in {} s", pause.as_secs_f64());
                std::thread::sleep(pause);
                continue;
            }
        };
        if messages.is_empty() {
            if options.until_empty {
                return Ok(summary);
            }
            std::thread::sleep(options.poll);
            continue;
        }
        for message in messages {
            let id = message.id.clone();
            if let Err(e) = handle(&queue, message, &inputs, options, (template, remote), runner, &mut summary) {
                warn!(message = %id, error = %e, "storage error: the message is left for a retry");
                summary.retried += 1;
            }
        }
    }
}

/// Refuse, before taking any message, a configuration under which every
/// job would fail: an expired SAS, a queue or inputs container that cannot
/// be read, outputs or logs that cannot be written, a poison queue out of
/// reach with nowhere else to record bad messages.
fn preflight(
    queue: &EventQueue,
    inputs: &StorageUrl,
    template: &JobStores,
    remote: &AzureRemote,
) -> Result<(), EngineError> {
    inputs.check_expiry()?;
    if inputs.container.is_none() {
        return Err(inputs.error("--inputs names no container"));
    }
    if inputs.sas_param("sp").is_some_and(|sp| !sp.contains('r')) {
        return Err(inputs.error("--inputs: the SAS cannot read blobs (no 'r' in sp)"));
    }
    // Outputs, job state or logs in the watched container would be new
    // uploads: the watcher would trigger itself, without end.
    for (flag, at) in [("-o", Some(&template.store)), ("--logs", template.logs.as_ref())] {
        if let Some(Location::Remote(url)) = at {
            if let Ok(other) = StorageUrl::parse(url, Service::Blob) {
                if same_container(&other, inputs) {
                    return Err(other.error(format!(
                        "{flag} is the watched container (--inputs): every output would trigger a new job; \
                         write to another container"
                    )));
                }
            }
        }
    }
    let store = open_store(&template.store, remote)?;
    check_writable(store.as_ref())?;
    if let Some(logs) = &template.logs {
        check_writable(open_store(logs, remote)?.as_ref())?;
    }
    queue.check_readable()?;
    match queue.check_poison() {
        Ok(()) => Ok(()),
        Err(e) if template.logs.is_some() => {
            warn!("{e}: messages that cannot run will be saved in the logs store instead");
            Ok(())
        }
        Err(e) => Err(EngineError::Remote {
            url: queue.describe(),
            reason: format!("{e}; give a SAS that reaches the poison queue too, or --logs to keep bad messages there"),
        }),
    }
}

/// Every SAS the watcher uses is still within its expiry.
fn still_valid(queue: &EventQueue, inputs: &StorageUrl, template: &JobStores) -> Result<(), EngineError> {
    queue.check_expiry()?;
    inputs.check_expiry()?;
    for at in std::iter::once(&template.store).chain(template.logs.as_ref()) {
        if let Location::Remote(url) = at {
            if let Ok(parsed) = StorageUrl::parse(url, Service::Blob) {
                parsed.check_expiry()?;
            }
        }
    }
    Ok(())
}

/// Whether `e` is the service refusing our credentials (HTTP 401 or 403).
fn denied(e: &EngineError) -> bool {
    matches!(e, EngineError::Remote { reason, .. } if reason.contains("HTTP 403") || reason.contains("HTTP 401"))
}

/// Take `message` off the work queue as poison: into `<queue>-poison`
/// (whole, or as an excerpt when too large), else into the logs store,
/// else into this watcher's own log; in every case it leaves the queue.
fn poison(
    queue: &EventQueue,
    message: &QueueMessage,
    reason: &str,
    (template, remote): (&JobStores, &AzureRemote),
) -> Result<(), EngineError> {
    let Err(e) = queue.poison(message, reason) else { return Ok(()) };
    let record = serde_json::json!({
        "reason": reason,
        "message": message.text,
        "message_id": message.id,
        "poison_queue_error": e.to_string(),
    });
    let key = format!("poison/{}.json", message.id);
    let saved = template
        .logs
        .as_ref()
        .map(|logs| open_store(logs, remote).and_then(|s| s.put(&key, record.to_string().as_bytes())));
    match saved {
        Some(Ok(())) => {
            warn!(message = %message.id, %reason, "poison queue unreachable ({e}): saved as {key} in the logs store")
        }
        other => {
            let excerpt = crate::queue::poison_excerpt(message, reason);
            let why = match other {
                Some(Err(logs_error)) => format!("{e}; logs store: {logs_error}"),
                _ => e.to_string(),
            };
            error!(message = %message.id, %why, record = %excerpt, "poison message recorded only here");
        }
    }
    queue.delete(message)?;
    Ok(())
}

fn handle(
    queue: &Arc<EventQueue>,
    message: QueueMessage,
    inputs: &StorageUrl,
    options: &WatchOptions,
    template: (&JobStores, &AzureRemote),
    runner: &mut dyn JobRunner,
    summary: &mut WatchSummary,
) -> Result<(), EngineError> {
    if message.dequeue_count > options.max_dequeues {
        let last = match summary.last_failure.remove(&message.id) {
            Some(why) => format!("the last: {why}"),
            None => "the last failed on another watcher (see its log)".into(),
        };
        let why = format!("gave up after {} attempts; {last}", message.dequeue_count - 1);
        poison(queue, &message, &why, template)?;
        summary.poisoned += 1;
        return Ok(());
    }
    let events = match parse_blob_created(&message.payload()) {
        Ok(events) => events,
        Err(e) => {
            warn!(message = %message.id, reason = %e, "malformed message poisoned");
            poison(queue, &message, &format!("malformed event: {e}"), template)?;
            summary.poisoned += 1;
            return Ok(());
        }
    };
    let work: Vec<_> = events
        .into_iter()
        .filter(|e| options.filter.matches(e))
        .filter(|e| match untrusted(e, inputs) {
            Some(why) => {
                info!(message = %message.id, blob = %e.blob, %why, "event dropped");
                false
            }
            None => true,
        })
        .collect();
    if work.is_empty() {
        queue.delete(&message)?;
        summary.ignored += 1;
        return Ok(());
    }
    // Keep the message invisible while its jobs run (renewed on this
    // thread, the jobs on their own).
    let mut message = message;
    // Every event of the message runs, whatever another's fate: one bad
    // upload must not keep the good ones beside it from their jobs. The
    // message is retried if any failure may pass (the jobs done are then
    // found committed), else poisoned naming only the events that failed.
    let many = work.len() > 1;
    let jobs = || -> Result<Result<(), (bool, String)>, EngineError> {
        let mut failed: Vec<(bool, String)> = Vec::new();
        for event in &work {
            let input = Location::Remote(inputs.blob_url(&event.blob)?.to_string());
            info!(blob = %event.blob, container = %event.container, "job for upload");
            match runner.run(input) {
                Ok(done) if done.detached => {
                    info!(job = %done.job, output = %done.output, "handed to the task queue's workers")
                }
                Ok(done) => info!(job = %done.job, output = %done.output, "committed"),
                Err(e) if many => failed.push((e.permanent, format!("{}: {}", event.blob, e.message))),
                Err(e) => failed.push((e.permanent, e.message)),
            }
        }
        if failed.is_empty() {
            return Ok(Ok(()));
        }
        let permanent = failed.iter().all(|(p, _)| *p);
        let mut why: Vec<String> = failed.into_iter().map(|(_, m)| m).collect();
        if many {
            why.push(format!("{} of {} events committed", work.len() - why.len(), work.len()));
        }
        Ok(Err((permanent, why.join("; "))))
    };
    let renew = || match queue.extend(&message, options.visibility) {
        Ok(receipt) => message.pop_receipt = receipt,
        Err(e) => warn!(error = %e, "could not extend the message's visibility"),
    };
    let outcome =
        while_working(jobs, options.visibility / 3, renew).unwrap_or_else(|p| std::panic::resume_unwind(p))?;
    match outcome {
        Ok(()) => {
            queue.delete(&message)?;
            summary.last_failure.remove(&message.id);
            summary.done += 1;
        }
        Err((true, reason)) => {
            warn!(message = %message.id, %reason, "job cannot succeed: poisoned");
            poison(queue, &message, &reason, template)?;
            summary.poisoned += 1;
        }
        Err((false, reason)) => {
            warn!(message = %message.id, %reason, "job failed: left for a retry");
            summary.retried += 1;
            // Bounded: a message that never comes back (another watcher
            // took it) must not grow a long-lived watcher.
            if summary.last_failure.len() >= 1024 {
                summary.last_failure.clear();
            }
            summary.last_failure.insert(message.id.clone(), reason);
        }
    }
    Ok(())
}

/// Two storage URLs name the same container of the same account.
fn same_container(a: &StorageUrl, b: &StorageUrl) -> bool {
    a.account.eq_ignore_ascii_case(&b.account)
        && a.container.as_deref().map(str::to_ascii_lowercase) == b.container.as_deref().map(str::to_ascii_lowercase)
        && a.endpoint.host_str() == b.endpoint.host_str()
        && a.endpoint.port_or_known_default() == b.endpoint.port_or_known_default()
}

/// Why an event is not work for this watcher, if it is not: an event is
/// trusted only for what it names. Its blob must be in the watched
/// account and container (its URL's, which must agree with its subject),
/// and never under the tool's own prefixes (job state, poison records,
/// write checks): those are the tool's writes, not uploads.
fn untrusted(e: &crate::events::BlobCreated, inputs: &StorageUrl) -> Option<String> {
    let Ok(url) = StorageUrl::parse(&e.url, Service::Blob) else {
        return Some("its URL is not a blob URL".into());
    };
    if !same_container(&url, inputs) {
        return Some(format!(
            "from account {} container {}, not the watched one",
            url.account,
            url.container.as_deref().unwrap_or("?")
        ));
    }
    if url.container.as_deref() != Some(e.container.as_str()) || url.blob.as_deref() != Some(e.blob.as_str()) {
        return Some("its subject and its URL name different blobs".into());
    }
    let own = [stylize_engine::JOBS_PREFIX, "poison/", stylize_engine::WRITE_CHECK_KEY];
    if own.iter().any(|p| e.blob.starts_with(p)) {
        return Some("the tool's own object (job state, poison record, write check)".into());
    }
    None
}
