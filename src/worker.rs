//! `stylize worker`: a node of an elastic pool. Takes shard tasks from a
//! queue (`stylize_azure::serve`), runs each with the pipeline's handler
//! built from the job's parameters, until stopped. SIGTERM or Ctrl-C hands
//! the task in hand back to the queue at once and ends the process within
//! seconds (what a Spot node's eviction needs).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use stylize_azure::serve::{serve, HandlerSource, ServeOptions};
use stylize_azure::AzureRemote;
use stylize_pipelines::video_style::{handler_for_params, WorkerId};

use crate::cli::WorkerArgs;

/// Set by a signal: take no new task, hand the current one back.
static STOP: AtomicBool = AtomicBool::new(false);
/// Set once the task in hand went back to the queue.
static HANDED_BACK: AtomicBool = AtomicBool::new(false);
/// Set when the worker's loop has returned.
static FINISHED: AtomicBool = AtomicBool::new(false);

struct StyleHandlers;

impl HandlerSource for StyleHandlers {
    fn handler(
        &mut self,
        params: &serde_json::Value,
    ) -> std::result::Result<Box<dyn stylize_pipelines::video_style::Handler>, stylize_pipelines::video_style::TaskError>
    {
        handler_for_params(params)
    }
}

pub fn run(args: &WorkerArgs) -> Result<()> {
    let name = args.name.clone().unwrap_or_else(|| format!("{}-{}", WorkerId::here("").host, std::process::id()));
    let options = ServeOptions {
        queue: crate::submit::value(&args.queue)?,
        worker: WorkerId::here(name),
        visibility: Duration::from_secs(args.visibility),
        poll: Duration::from_secs(1),
        until_empty: args.until_empty,
        max_tasks: args.max_tasks,
        max_attempts: args.max_attempts,
        max_refusals: args.max_refusals,
    };
    let remote = AzureRemote { sas_only: args.sas_only, managed_identity: args.managed_identity };
    let installed = ctrlc::set_handler(|| {
        STOP.store(true, Ordering::SeqCst);
        // The loop hands its task back within a renewal period; give it
        // a few seconds, then end without unwinding (libtorch's threads).
        let since = Instant::now();
        while since.elapsed() < Duration::from_secs(4)
            && !HANDED_BACK.load(Ordering::SeqCst)
            && !FINISHED.load(Ordering::SeqCst)
        {
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!(
            "stylize: worker stopped{}",
            if HANDED_BACK.load(Ordering::SeqCst) { ": task handed back" } else { "" }
        );
        stylize_pipelines::remove_scratch();
        // SAFETY: _exit only ends the process.
        unsafe { libc::_exit(130) };
    });
    if let Err(e) = installed {
        tracing::debug!(error = %e, "no interrupt handler");
    }
    let summary = serve(&options, &remote, &mut StyleHandlers, &STOP, &HANDED_BACK);
    FINISHED.store(true, Ordering::SeqCst);
    let summary = summary?;
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
