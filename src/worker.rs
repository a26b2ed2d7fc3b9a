//! `stylize worker`: a node of an elastic pool. Takes shard tasks from a
//! queue (`stylize_azure::serve`), runs each with the pipeline's handler
//! built from the job's parameters, until stopped. SIGTERM or Ctrl-C (exit
//! 130), or an eviction announced by Azure's Scheduled Events (exit 0),
//! hands the task in hand back to the queue at once and ends the process
//! within seconds: what a Spot node needs.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use anyhow::Result;
use stylize_azure::serve::{serve, DetachedJob, HandlerSource, ServeOptions, ServeSummary};
use stylize_azure::{AzureRemote, QueueLauncher};
use stylize_pipelines::video_style::{handler_for_params, job_from_params, run as run_job, NoProgress, WorkerId};

use crate::cli::WorkerArgs;

/// Set by a signal: take no new task, hand the current one back.
static STOP: AtomicBool = AtomicBool::new(false);
/// Set by SIGTERM or Ctrl-C (not by an eviction notice).
static SIGNALLED: AtomicBool = AtomicBool::new(false);
/// Each slot's state: its task handed back, its loop returned.
static SLOTS: OnceLock<Vec<Slot>> = OnceLock::new();

/// One of the worker's task loops (`--slots`).
#[derive(Default)]
struct Slot {
    handed_back: AtomicBool,
    finished: AtomicBool,
}

fn slots() -> &'static [Slot] {
    SLOTS.get().map_or(&[], Vec::as_slice)
}

/// Every loop has returned.
fn finished() -> bool {
    slots().iter().all(|s| s.finished.load(Ordering::SeqCst))
}

/// End the process once every task in hand is back on the queue (and the
/// loops without one have returned): their handlers' threads may run for
/// minutes more, and nothing of them counts.
fn exit_once_handed_back() {
    std::thread::spawn(|| loop {
        let all = slots();
        let some = all.iter().any(|s| s.handed_back.load(Ordering::SeqCst));
        let settled = all.iter().all(|s| s.handed_back.load(Ordering::SeqCst) || s.finished.load(Ordering::SeqCst));
        if some && settled {
            eprintln!("stylize: worker stopped: task handed back");
            stylize_pipelines::remove_scratch();
            let code = if SIGNALLED.load(Ordering::SeqCst) { 130 } else { 0 };
            // SAFETY: _exit only ends the process (no unwinding under
            // libtorch's threads).
            unsafe { libc::_exit(code) };
        }
        std::thread::sleep(Duration::from_millis(50));
    });
}

/// The style pipeline's handlers, and the finishing of detached jobs.
struct StyleHandlers {
    queue: String,
    remote: AzureRemote,
}

impl HandlerSource for StyleHandlers {
    fn handler(
        &mut self,
        params: &serde_json::Value,
    ) -> std::result::Result<Box<dyn stylize_pipelines::video_style::Handler>, stylize_pipelines::video_style::TaskError>
    {
        handler_for_params(params)
    }

    fn finish(&mut self, d: &DetachedJob) -> std::result::Result<String, String> {
        let store = stylize_azure::parse_location(&d.store).map_err(|e| e.to_string())?;
        let input = stylize_azure::parse_location(&d.input).map_err(|e| e.to_string())?;
        let remote = std::sync::Arc::new(self.remote);
        let job = job_from_params(&d.params, input, store, d.output.clone(), remote, d.job.clone())
            .map_err(|e| e.to_string())?;
        // Its shards' results are all stored: the launcher takes them as
        // they are and queues nothing.
        let queue = self.remote.queue(&self.queue).map_err(|e| e.to_string())?;
        let launcher = QueueLauncher::new(queue, d.store.clone(), 16);
        let report = run_job(&job, std::sync::Arc::new(NoProgress), &launcher).map_err(|e| e.to_string())?;
        Ok(report.output)
    }
}

pub fn run(args: &WorkerArgs) -> Result<()> {
    let name = args.name.clone().unwrap_or_else(|| format!("{}-{}", WorkerId::here("").host, std::process::id()));
    let options = ServeOptions {
        queue: crate::submit::value(&args.queue)?,
        worker: WorkerId::here(name),
        visibility: Duration::from_secs(args.visibility),
        // An idle worker asks the queue four times a second: a job's first
        // tasks wait at most that long (at 1 s the queue path cost 6% of a
        // 9 s job more than in-process); the requests cost next to nothing.
        poll: Duration::from_millis(250),
        until_empty: args.until_empty,
        max_tasks: args.max_tasks,
        max_attempts: args.max_attempts,
        max_refusals: args.max_refusals,
        on_idle: Some(crate::give_back_freed_memory),
    };
    let remote = AzureRemote { sas_only: args.sas_only, managed_identity: args.managed_identity };
    exit_once_handed_back();
    let installed = ctrlc::set_handler(|| {
        SIGNALLED.store(true, Ordering::SeqCst);
        STOP.store(true, Ordering::SeqCst);
        // The loop hands its task back within a renewal period (and the
        // process ends then); give it a few seconds, then end anyway.
        let since = Instant::now();
        while since.elapsed() < Duration::from_secs(4) && !finished() {
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("stylize: worker stopped");
        stylize_pipelines::remove_scratch();
        // SAFETY: _exit only ends the process.
        unsafe { libc::_exit(130) };
    });
    if let Err(e) = installed {
        tracing::debug!(error = %e, "no interrupt handler");
    }
    if let Some(url) = &args.eviction_url {
        stylize_azure::eviction::watch(url, options.worker.host.clone(), Duration::from_secs(2), &STOP)?;
    }
    let count = usize::from(args.slots);
    let _ = SLOTS.set((0..count).map(|_| Slot::default()).collect());
    // Each slot a loop of its own, in this one process: its shards run side
    // by side as in-process shards do, on libtorch's one thread pool
    // (worker processes side by side would each spin their own).
    let summaries: Vec<Result<ServeSummary, _>> = std::thread::scope(|scope| {
        let runs: Vec<_> = slots()
            .iter()
            .enumerate()
            .map(|(k, slot)| {
                let mut options = options.clone();
                if count > 1 {
                    options.worker.name = format!("{}/{k}", options.worker.name);
                }
                scope.spawn(move || {
                    let mut handlers = StyleHandlers { queue: options.queue.clone(), remote };
                    let summary = serve(&options, &remote, &mut handlers, &STOP, &slot.handed_back);
                    slot.finished.store(true, Ordering::SeqCst);
                    summary
                })
            })
            .collect();
        runs.into_iter().map(|r| r.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    });
    let mut summary = ServeSummary::default();
    for s in summaries {
        let s = s?;
        summary.done += s.done;
        summary.failed += s.failed;
        summary.refused += s.refused;
        summary.dropped += s.dropped;
    }
    if args.json {
        outln!("{}", serde_json::to_string(&summary)?);
    } else {
        outln!(
            "{}: {} shards done, {} failed, {} handed back, {} dropped",
            options.worker,
            summary.done,
            summary.failed,
            summary.refused,
            summary.dropped
        );
    }
    Ok(())
}
