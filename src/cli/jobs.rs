//! The commands of the elastic pool and of job state: `stylize worker`,
//! `stylize jobs`.

use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{Args, Subcommand};

/// `stylize worker`: shard tasks from a queue, one at a time (or `--slots`).
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The task queue (URL with SAS, or `@FILE` holding it).
    #[arg(long, env = "STYLIZE_TASK_QUEUE", hide_env_values = true)]
    pub queue: String,
    /// Seconds a taken task stays hidden from other workers; renewed while
    /// it runs, so a lost worker's task reappears this long after.
    #[arg(long, env = "STYLIZE_VISIBILITY", default_value_t = 60, value_parser = clap::value_parser!(u64).range(3..=604800))]
    pub visibility: u64,
    /// Stop when the queue is empty (batch pools, tests).
    #[arg(long, env = "STYLIZE_UNTIL_EMPTY", value_parser = BoolishValueParser::new())]
    pub until_empty: bool,
    /// Stop after this many tasks (per slot).
    #[arg(long, alias = "max-jobs", env = "STYLIZE_MAX_TASKS")]
    pub max_tasks: Option<u64>,
    /// Tasks taken at once, side by side in this process (as an in-process
    /// job runs 2 shards): 2 suits a CPU node, 1 (the default) a GPU.
    #[arg(long, env = "STYLIZE_SLOTS", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=16))]
    pub slots: u8,
    /// Attempts of a shard before it fails its job (permanent errors fail at once).
    #[arg(long, env = "STYLIZE_MAX_ATTEMPTS", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub max_attempts: u32,
    /// Times a task may be handed back by workers that cannot run it
    /// (another model file, no GPU) before its shard fails the job.
    #[arg(long, env = "STYLIZE_MAX_REFUSALS", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub max_refusals: u32,
    /// Poll Azure's Scheduled Events here (inside Azure:
    /// http://169.254.169.254/metadata/scheduledevents?api-version=2020-07-01);
    /// a Preempt or Terminate of this node stops the worker, handing its
    /// task back at once. Off when not given.
    #[arg(long, env = "STYLIZE_EVICTION_URL", value_name = "URL")]
    pub eviction_url: Option<String>,
    /// This worker's name in records and logs (default: node-pid).
    #[arg(long, env = "STYLIZE_WORKER_NAME")]
    pub name: Option<String>,
    /// Refuse any credential but a SAS token (no account keys).
    #[arg(long, env = "STYLIZE_SAS_ONLY", value_parser = BoolishValueParser::new(), help_heading = "Security")]
    pub sas_only: bool,
    /// Reach stores without a SAS as the machine's managed identity.
    #[arg(long, env = "STYLIZE_MANAGED_IDENTITY", value_parser = BoolishValueParser::new(), help_heading = "Security")]
    pub managed_identity: bool,
    /// Print the worker's summary as JSON.
    #[arg(long, env = "STYLIZE_JSON", value_parser = BoolishValueParser::new())]
    pub json: bool,
}

/// `stylize jobs`
#[derive(Debug, Args)]
pub struct JobsArgs {
    /// The store: a directory (it must exist), or a container URL (SAS in
    /// the query, or `@FILE` holding it). Without it: the default folder
    /// (stylize-out) and the state of `submit -o FILE.mp4` jobs
    /// ($STYLIZE_CACHE/state), together.
    #[arg(short, long, env = "STYLIZE_OUTPUT", hide_env_values = true, global = true)]
    pub output: Option<String>,
    /// Refuse any credential but a SAS token (no account keys).
    #[arg(long, env = "STYLIZE_SAS_ONLY", value_parser = BoolishValueParser::new(), global = true)]
    pub sas_only: bool,
    /// Authenticate as the machine's managed identity where a URL has no SAS.
    #[arg(long, env = "STYLIZE_MANAGED_IDENTITY", value_parser = BoolishValueParser::new(), global = true)]
    pub managed_identity: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: JobsCommand,
}

/// `stylize jobs …`
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// One line per job: id, state, shards and frames done, workers, age,
    /// output (or input).
    List {
        /// Print JSON (one array).
        #[arg(long, env = "STYLIZE_JSON", value_parser = BoolishValueParser::new())]
        json: bool,
    },
    /// A job's manifest and report, as JSON (the id, or a unique prefix).
    Show {
        /// The job id, or its first digits.
        id: String,
        /// Follow a running job: its progress per worker and an ETA, every
        /// 2 s, until it ends.
        #[arg(long, short = 'f')]
        follow: bool,
    },
    /// Draw what a job did: a page (a lane per worker, a bar per shard
    /// attempt, frames/s, slowest shards, failures) and a PNG timeline.
    Report {
        /// The job id, or its first digits.
        id: String,
        /// Write the page (self-contained HTML) here.
        #[arg(long, value_name = "FILE")]
        html: Option<PathBuf>,
        /// Write the timeline as a PNG here.
        #[arg(long, value_name = "FILE")]
        png: Option<PathBuf>,
    },
    /// Remove a job's state (its segments, manifest and report); outputs stay.
    Clean {
        /// The job id.
        id: Option<String>,
        /// Every job in the store.
        #[arg(long)]
        all: bool,
    },
}
