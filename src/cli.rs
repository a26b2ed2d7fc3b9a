//! The command line, declared with clap. Every option of a job has an
//! environment fallback (`STYLIZE_…`), which is handy under mpirun and in
//! containers; boolean ones take 1/0, yes/no, true/false, on/off.

use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand, ValueEnum};

mod examples;
mod jobs;
mod network;
mod parsers;
use examples::{MAN_EXAMPLES, SUBMIT_EXAMPLES, TOP_EXAMPLES, WATCH_EXAMPLES};
pub use jobs::{JobsArgs, JobsCommand, WorkerArgs};
pub use network::{NetworkCheckArgs, NetworkCommand};
use parsers::{poll_secs, StyleSpecParser};

/// Neural style transfer for whole videos, from one laptop to a GPU cluster.
#[derive(Debug, Parser)]
#[command(name = "stylize", version, about, after_help = TOP_EXAMPLES)]
pub struct Cli {
    /// More log output (-v info, -vv debug); RUST_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Print nothing but errors: no progress, no summary, no warnings.
    #[arg(short, long, global = true, env = "STYLIZE_QUIET", value_parser = BoolishValueParser::new())]
    pub quiet: bool,
    /// Export spans (job, stages, shards) over OTLP/HTTP to this collector
    /// (default: OTEL_EXPORTER_OTLP_ENDPOINT when set; off otherwise).
    #[arg(long, global = true, value_name = "URL", env = "STYLIZE_OTLP")]
    pub otlp: Option<String>,
    /// Colour in messages: auto (a terminal, and NO_COLOR unset), always, never.
    #[arg(long, global = true, value_enum, env = "STYLIZE_COLOR", default_value = "auto")]
    pub color: ColorArg,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// When to colour messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorArg {
    /// On a terminal, unless NO_COLOR is set.
    Auto,
    /// Always (also when piped).
    Always,
    /// Never.
    Never,
}

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProgressArg {
    /// A bar on a terminal; a line per stage and per tenth of the frames
    /// when stderr is a file or a pipe.
    Auto,
    /// One JSON object a line on stderr, for scripts.
    Json,
    /// None.
    Off,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Stylize a whole video: same frames, rate, duration and audio.
    #[command(after_help = SUBMIT_EXAMPLES)]
    Submit(SubmitArgs),
    /// Run a job for every video uploaded to a watched container.
    #[command(after_help = WATCH_EXAMPLES)]
    Watch(WatchArgs),
    /// Take shard tasks from a queue until stopped (a node of an elastic
    /// pool: `submit --queue` puts the tasks there).
    Worker(WorkerArgs),
    /// Jobs kept in a store: their state, and cleaning it up.
    Jobs(JobsArgs),
    /// Measure flicker: a video against its source (see README for formulas).
    Flicker(FlickerArgs),
    /// Measure the model's own speed and the whole pipeline's on one clip.
    Bench(BenchArgs),
    /// Check an Azure compute subnet's network setup (from `az … show` JSON).
    Network {
        /// What to check.
        #[command(subcommand)]
        command: NetworkCommand,
    },
    /// The built-in styles.
    Styles {
        /// What to do with them.
        #[command(subcommand)]
        command: StylesCommand,
    },
    /// Print a shell completion script (e.g. `stylize completions bash >
    /// /etc/bash_completion.d/stylize`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print a manual page (`stylize man submit | man -l -`), or write one
    /// page per command into a folder.
    #[command(after_help = MAN_EXAMPLES)]
    Man {
        /// The command whose page to print (`submit`, `jobs list`; none:
        /// the top-level page).
        #[arg(value_name = "COMMAND", conflicts_with = "dir")]
        command: Vec<String>,
        /// Write `stylize.1`, `stylize-submit.1`, … into this folder.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

/// `stylize styles …`
#[derive(Debug, Subcommand)]
pub enum StylesCommand {
    /// List the built-in styles (index and name) and the saved ones.
    List {
        /// Print JSON.
        #[arg(long, env = "STYLIZE_JSON", value_parser = BoolishValueParser::new())]
        json: bool,
    },
    /// Save a painting's style under a name: then `--style NAME` works.
    Add(AddStyleArgs),
    /// Remove a saved or learned style.
    Remove {
        /// Its name.
        name: String,
    },
    /// Learn a painting's style for the built-in network (best quality).
    Learn(LearnArgs),
    /// Render one image in every built-in style, as one contact-sheet PNG.
    Preview(PreviewArgs),
}

/// Where the model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceArg {
    /// CUDA when present, else CPU.
    Auto,
    /// The CPU.
    Cpu,
    /// The first GPU.
    Cuda,
}

/// Numeric precision of the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PrecisionArg {
    /// 32-bit floats.
    Fp32,
    /// 16-bit floats (CUDA only; fp32 on CPU).
    Fp16,
    /// bfloat16 (CPU and CUDA): 2.3x the model's speed on CPUs with
    /// AVX-512 BF16 or AMX, at about 45 dB PSNR against fp32.
    Bf16,
    /// bf16 on a CPU that computes it (AVX-512 BF16, AMX) when a check
    /// picture stays within 40 dB PSNR of fp32; fp32 otherwise and on CUDA.
    Auto,
}

/// Temporal consistency mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeflickerArg {
    /// Frames as the model made them.
    Off,
    /// Carry the previous output where the input is still.
    Still,
    /// Carry the previous output along the input's motion.
    Motion,
}

/// Pixel range of a user's model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RangeArg {
    /// Pixels from 0 to 1.
    #[value(name = "0-1")]
    Unit,
    /// Pixels from 0 to 255.
    #[value(name = "0-255")]
    Byte,
}

/// `stylize submit`
#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The video to stylize: a path, or a blob URL (SAS in the query). A
    /// value `@FILE` is read from FILE, so no SAS need be on the command
    /// line (or set STYLIZE_INPUT).
    #[arg(env = "STYLIZE_INPUT", hide_env_values = true)]
    pub input: String,
    /// Overwrite an existing output without asking.
    #[arg(short = 'y', long = "overwrite", env = "STYLIZE_OVERWRITE", value_parser = BoolishValueParser::new(), help_heading = "Output")]
    pub overwrite: bool,
    /// Never overwrite an existing output: stop with an error instead
    /// (the default when there is no terminal to ask on).
    #[arg(short = 'n', long = "no-overwrite", conflicts_with = "overwrite", help_heading = "Output")]
    pub no_overwrite: bool,
    /// Progress on stderr.
    #[arg(long, value_enum, env = "STYLIZE_PROGRESS", default_value = "auto", help_heading = "Output")]
    pub progress: ProgressArg,
    /// Put the shards on this Storage queue (URL with SAS, or `@FILE`) for
    /// `stylize worker` processes on any nodes, instead of running them
    /// here; `-o` must be a store they reach (a container URL, or a folder
    /// they share).
    #[arg(long, env = "STYLIZE_TASK_QUEUE", hide_env_values = true, help_heading = "Scale-out")]
    pub queue: Option<String>,
    /// Tasks of this job on the queue at once: jobs sharing a pool take
    /// turns; at least the pool's size keeps every worker busy.
    #[arg(long, env = "STYLIZE_QUEUE_WINDOW", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=10000), requires = "queue", help_heading = "Scale-out")]
    pub queue_window: u32,
    /// Return as soon as the shards are queued, printing the job id: the
    /// worker that ends the last shard stitches and commits (follow it with
    /// `stylize jobs show ID --follow`). `-o` must be a store.
    #[arg(long, env = "STYLIZE_DETACH", value_parser = BoolishValueParser::new(), requires = "queue", help_heading = "Scale-out")]
    pub detach: bool,
    /// What to do with it, and where the result goes.
    #[command(flatten)]
    pub job: JobArgs,
}

/// `stylize watch`: jobs triggered by uploads (BlobCreated events).
#[derive(Debug, Args)]
pub struct WatchArgs {
    /// The Storage queue Event Grid delivers BlobCreated events to (URL with
    /// SAS, or `@FILE` holding it).
    #[arg(long, env = "STYLIZE_QUEUE", hide_env_values = true, help_heading = "Trigger")]
    pub queue: String,
    /// The container uploads land in (URL with a SAS that can read them, or
    /// `@FILE` holding it).
    #[arg(long, env = "STYLIZE_INPUTS", hide_env_values = true, help_heading = "Trigger")]
    pub inputs: String,
    /// Only uploads whose name ends so (case-insensitive).
    #[arg(long, env = "STYLIZE_SUFFIX", default_value = ".mp4", help_heading = "Trigger")]
    pub suffix: String,
    /// Attempts before a message goes to the poison queue.
    #[arg(long, env = "STYLIZE_MAX_DEQUEUES", default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..=100), help_heading = "Trigger")]
    pub max_dequeues: u32,
    /// Seconds a message stays invisible, extended while its job runs.
    #[arg(long, env = "STYLIZE_VISIBILITY", default_value_t = 120, value_parser = clap::value_parser!(u64).range(3..=604800), help_heading = "Trigger")]
    pub visibility: u64,
    /// Seconds between looks at an empty queue; after a failed receive
    /// the pause doubles each time, up to 60 s.
    #[arg(long, env = "STYLIZE_POLL", default_value_t = 2.0, value_parser = poll_secs, help_heading = "Trigger")]
    pub poll: f64,
    /// Stop when the queue is empty (batch runs, tests).
    #[arg(long, env = "STYLIZE_UNTIL_EMPTY", value_parser = BoolishValueParser::new(), help_heading = "Trigger")]
    pub until_empty: bool,
    /// Run each upload's shards on `stylize worker` processes through this
    /// task queue (URL with SAS, or `@FILE`) instead of here.
    #[arg(long, env = "STYLIZE_TASK_QUEUE", hide_env_values = true, help_heading = "Trigger")]
    pub tasks: Option<String>,
    /// With `--tasks`: hand each upload's job to the pool and take the
    /// next event at once; the worker that ends a job's last shard
    /// stitches and commits it (no watcher waits on any job).
    #[arg(long, env = "STYLIZE_DETACH", value_parser = BoolishValueParser::new(), requires = "tasks", help_heading = "Trigger")]
    pub detach: bool,
    /// What to do with each upload, and where the results go.
    #[command(flatten)]
    pub job: JobArgs,
}

/// The job's settings, shared by `submit` and `watch`.
#[derive(Debug, Args)]
pub struct JobArgs {
    /// Built-in style: a name, an index, or a blend such as `starry:0.7,mosaic:0.3`.
    #[arg(short, long, env = "STYLIZE_STYLE", default_value = stylize_pipelines::styles::DEFAULT_STYLE, value_parser = StyleSpecParser, hide_possible_values = true, conflicts_with_all = ["style_image", "model"], help_heading = "Style")]
    pub style: String,
    /// Any painting as the style (arbitrary style transfer), instead of a built-in style.
    #[arg(long, env = "STYLIZE_STYLE_IMAGE", conflicts_with = "model", help_heading = "Style")]
    pub style_image: Option<PathBuf>,
    /// Your own TorchScript model ([N,3,H,W] image in, same-size image out) instead of a built-in style.
    #[arg(long, env = "STYLIZE_MODEL", conflicts_with = "style_image", help_heading = "Style")]
    pub model: Option<PathBuf>,
    /// Of a broadcast multiplex (a TS of several programs), keep this
    /// program (its id, as `ffprobe -show_programs` lists it) instead of
    /// the first with video.
    #[arg(long, value_name = "ID", help_heading = "Output")]
    pub program: Option<i32>,
    /// Pixel range of `--model`.
    #[arg(long, env = "STYLIZE_RANGE", value_enum, default_value = "0-1", requires = "model", help_heading = "Style")]
    pub range: RangeArg,

    /// Where the result goes. A file name ending in .mp4, .mov or .mkv
    /// (`-o result.mp4`) is written exactly (its job state is kept in
    /// $STYLIZE_CACHE/state, default ~/.cache/stylize/state); a directory
    /// (`-o out/`) or a container URL (SAS in the query) is a store,
    /// holding the output under a name unique to the input and settings,
    /// and the job's state. `@FILE` reads the value from FILE.
    #[arg(
        short,
        long,
        env = "STYLIZE_OUTPUT",
        hide_env_values = true,
        default_value = "stylize-out",
        help_heading = "Output"
    )]
    pub output: String,
    /// Where the job's log (JSON lines) goes: a directory or a container
    /// URL, apart from inputs and outputs (`@FILE` reads it from FILE).
    #[arg(long, env = "STYLIZE_LOGS", hide_env_values = true, help_heading = "Output")]
    pub logs: Option<String>,
    /// Refuse any credential but a SAS token (no account keys).
    #[arg(long, env = "STYLIZE_SAS_ONLY", value_parser = BoolishValueParser::new(), help_heading = "Security")]
    pub sas_only: bool,
    /// In Azure: authenticate as the machine's managed identity where a
    /// URL has no SAS (https only; no secret anywhere).
    #[arg(long, env = "STYLIZE_MANAGED_IDENTITY", value_parser = BoolishValueParser::new(), help_heading = "Security")]
    pub managed_identity: bool,
    /// Check the compute subnet first: a directory with the `az … show`
    /// JSON of `nsg.json` (and `subnet.json`, `storage.json`,
    /// `keyvault.json`, `route-table.json` when present). A failing check
    /// stops the job.
    #[arg(long, env = "STYLIZE_NETWORK_CHECK", value_name = "DIR", help_heading = "Security")]
    pub network_check: Option<PathBuf>,
    /// Run even when the network check fails.
    #[arg(long, requires = "network_check", env = "STYLIZE_FORCE", value_parser = BoolishValueParser::new(), help_heading = "Security")]
    pub force: bool,
    /// x264 constant rate factor (lower is better; 18 is visually lossless).
    #[arg(long, env = "STYLIZE_CRF", default_value_t = 18, value_parser = clap::value_parser!(u8).range(0..=51), help_heading = "Output")]
    pub crf: u8,
    /// x264 preset.
    #[arg(long, env = "STYLIZE_PRESET", default_value = "veryfast", value_parser = ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"], help_heading = "Output")]
    pub preset: String,

    /// Where the model runs.
    #[arg(long, env = "STYLIZE_DEVICE", value_enum, default_value = "auto", help_heading = "Compute")]
    pub device: DeviceArg,
    /// Model precision: `auto` takes bf16 where the CPU computes it and a
    /// check picture stays within 40 dB of fp32 (the report says which).
    #[arg(long, env = "STYLIZE_PRECISION", value_enum, default_value = "auto", help_heading = "Compute")]
    pub precision: PrecisionArg,
    /// Frames per model call (default: 1 on CPU, 8 on CUDA).
    #[arg(long, env = "STYLIZE_BATCH", value_parser = clap::value_parser!(u16).range(1..=256), help_heading = "Compute")]
    pub batch: Option<u16>,
    /// CPU threads for the model (default: all cores).
    #[arg(long, env = "STYLIZE_THREADS", value_parser = clap::value_parser!(u16).range(1..=1024), help_heading = "Compute")]
    pub threads: Option<u16>,
    /// Temporal consistency: carry the previous output where the input is
    /// still, or along the input's motion vectors.
    #[arg(long, env = "STYLIZE_DEFLICKER", value_enum, default_value = "still", help_heading = "Style")]
    pub deflicker: DeflickerArg,
    /// Skip measuring the output's flicker for the job report.
    #[arg(long, env = "STYLIZE_NO_FLICKER_REPORT", value_parser = BoolishValueParser::new(), help_heading = "Output")]
    pub no_flicker_report: bool,
    /// Under mpirun: rank 0 only coordinates and runs no shard itself.
    #[arg(long, env = "STYLIZE_COORDINATOR_ONLY", value_parser = BoolishValueParser::new(), help_heading = "Compute")]
    pub coordinator_only: bool,
    /// Target shard length in frames (shards are cut at keyframes).
    #[arg(long, env = "STYLIZE_SHARD_FRAMES", default_value_t = 48, value_parser = clap::value_parser!(u64).range(1..), help_heading = "Compute")]
    pub shard_frames: u64,
    /// Shards this process runs side by side, each with its own model: keeps
    /// the cores busy while one shard's encoder drains (measured 1.45x on a
    /// free model, 1.1x on the 26-style network, 2 cores; +100 MB). The
    /// bytes do not change.
    #[arg(long, env = "STYLIZE_PARALLEL_SHARDS", default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64), help_heading = "Compute")]
    pub parallel_shards: u16,

    /// Print the job report as JSON on stdout instead of a summary.
    #[arg(long, env = "STYLIZE_JSON", value_parser = BoolishValueParser::new())]
    pub json: bool,
}

/// `stylize flicker`
#[derive(Debug, Args)]
pub struct FlickerArgs {
    /// The source video.
    pub input: PathBuf,
    /// The stylized video (same size and frame count).
    pub output: PathBuf,
    /// Print JSON.
    #[arg(long, env = "STYLIZE_JSON", value_parser = BoolishValueParser::new())]
    pub json: bool,
}

/// `stylize bench`
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// A clip to measure on (default: a synthetic clip made with FFmpeg).
    #[arg(long)]
    pub clip: Option<PathBuf>,
    /// Devices to compare (those present): cpu, cuda.
    #[arg(long, default_value = "cpu,cuda")]
    pub devices: String,
    /// Frame sizes of the synthetic clip, comma-separated.
    #[arg(long, default_value = "640x360")]
    pub sizes: String,
    /// Frames in the synthetic clip.
    #[arg(long, default_value_t = 48)]
    pub frames: u32,
    /// Fewer frames, batches and no memory check: a smoke run.
    #[arg(long)]
    pub quick: bool,
    /// Skip the reference way (it needs the Python venv).
    #[arg(long)]
    pub no_reference: bool,
    /// The model alone and end to end only, with every round: no memory,
    /// pipeline ceiling or painting styles (for a size or CPU of its own).
    #[arg(long, conflicts_with = "quick")]
    pub end_to_end_only: bool,
    /// Frames per model call in the end-to-end runs (default: 1 on CPU, 8 on CUDA).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub batch: Option<u16>,
    /// CPU threads for the model.
    #[arg(long, env = "STYLIZE_THREADS")]
    pub threads: Option<u16>,
    /// Where `bench.json` and `bench.png` go (a folder).
    #[arg(short, long = "output", visible_alias = "out", default_value = "bench-out")]
    pub out: PathBuf,
    /// Measure only the pipeline ceiling: the engine with a pass-through
    /// model against FFmpeg's own decode -> RGB -> x264 (`ceiling.json`).
    #[arg(long, conflicts_with = "queue")]
    pub ceiling: bool,
    /// Measure only the queue path (`submit --queue` with worker
    /// processes, on a private Azurite) against in-process (`queue.json`).
    #[arg(long)]
    pub queue: bool,
    /// Runs of each side in the ceiling measurement (medians compared).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=50))]
    pub repeats: u16,
}

impl BenchArgs {
    /// The bench crate's plain options (it owns no command line).
    pub fn options(&self) -> stylize_bench::BenchOptions {
        stylize_bench::BenchOptions {
            clip: self.clip.clone(),
            devices: self.devices.clone(),
            sizes: self.sizes.clone(),
            frames: self.frames,
            quick: self.quick,
            no_reference: self.no_reference,
            end_to_end_only: self.end_to_end_only,
            batch: self.batch,
            threads: self.threads,
            out: self.out.clone(),
            ceiling_only: self.ceiling,
            queue_only: self.queue,
            repeats: usize::from(self.repeats),
        }
    }
}

/// `stylize styles add`
#[derive(Debug, Args)]
pub struct AddStyleArgs {
    /// The name (letters, digits, '-' and '_').
    pub name: String,
    /// The painting whose style to save.
    #[arg(long)]
    pub from_image: PathBuf,
    /// Replace a saved style of that name.
    #[arg(long)]
    pub force: bool,
}

/// `stylize styles learn`
#[derive(Debug, Args)]
pub struct LearnArgs {
    /// The painting.
    pub painting: PathBuf,
    /// The name to save the style under.
    #[arg(long)]
    pub name: String,
    /// Content images to learn on: frames of your video (repeatable;
    /// default: the painting itself).
    #[arg(long)]
    pub content: Vec<PathBuf>,
    /// Adam steps.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100000))]
    pub steps: u32,
    /// Side in pixels images are resized to while learning.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(32..=1024))]
    pub size: u32,
    /// Where to train.
    #[arg(long, value_enum, default_value = "auto")]
    pub device: DeviceArg,
    /// Replace a saved style of that name.
    #[arg(long)]
    pub force: bool,
}

/// `stylize styles preview`
#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// An image (PNG or JPEG) to render in every style.
    pub image: PathBuf,
    /// The contact sheet to write.
    #[arg(short, long, default_value = "styles-preview.png")]
    pub output: PathBuf,
    /// Longest side of each tile, in pixels.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u32).range(16..=2048))]
    pub tile: u32,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser, Debug)]
    struct Check {
        #[command(flatten)]
        check: NetworkCheckArgs,
    }

    /// The flags, their env fallbacks and value checks (env variables are
    /// set only in this one test of the binary's).
    #[test]
    fn network_check_flags_parse_and_env_fills_in() {
        let cli = Check::try_parse_from([
            "check",
            "--nsg",
            "n.json",
            "--subnet",
            "s.json",
            "--route-table",
            "rt.json",
            "--max-nodes",
            "8",
            "--ssh",
            "--region",
            "westeurope",
            "--json",
        ])
        .unwrap();
        let a = cli.check.inputs();
        assert_eq!(a.nsg.to_str(), Some("n.json"));
        assert_eq!(a.route_table.as_deref().and_then(|p| p.to_str()), Some("rt.json"));
        assert_eq!(a.max_nodes, Some(8));
        assert!(a.ssh && a.json);
        assert_eq!(a.region.as_deref(), Some("westeurope"));
        assert!(Check::try_parse_from(["check", "--nsg", "n.json", "--max-nodes", "0"]).is_err());

        std::env::set_var("STYLIZE_NETWORK_NSG", "env-nsg.json");
        std::env::set_var("STYLIZE_NETWORK_MAX_NODES", "3");
        let a = Check::try_parse_from(["check"]).unwrap().check.inputs();
        assert_eq!(a.nsg.to_str(), Some("env-nsg.json"));
        assert_eq!(a.max_nodes, Some(3));
        std::env::remove_var("STYLIZE_NETWORK_NSG");
        std::env::remove_var("STYLIZE_NETWORK_MAX_NODES");
        assert!(Check::try_parse_from(["check"]).is_err(), "--nsg is required");

        use clap::CommandFactory;
        let help = Check::command().render_help().to_string();
        for heading in ["Inputs (az ... show JSON):", "Cluster:", "Output:", "[env: STYLIZE_NETWORK_ROUTE_TABLE="] {
            assert!(help.contains(heading), "{heading} missing from\n{help}");
        }
    }
}
