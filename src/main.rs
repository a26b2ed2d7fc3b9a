//! `stylize`: neural style transfer for whole videos.
//!
//! Exit status: 0 success, 1 the job failed (one line on stderr says which
//! file and why), 2 the command line was wrong.

/// `println!` that ends the process quietly when stdout's reader has gone
/// (`stylize jobs show ID | head -1`), as Unix tools do, instead of
/// panicking; any other failure to write (a full disk) is one error line.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        crate::stdout_written(writeln!(std::io::stdout(), $($arg)*));
    }};
}

/// `print!`, likewise.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        crate::stdout_written(write!(std::io::stdout(), $($arg)*));
    }};
}

mod cli;
mod interrupt;
mod jobs;
mod manual;
mod preview;
mod progress;
mod submit;
mod trace;
mod worker;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

/// A wrong command line found after clap's own checks: exit status 2.
#[derive(Debug)]
pub struct Usage(String);

impl Usage {
    pub fn error(message: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(Usage(message.into()))
    }
}

impl std::fmt::Display for Usage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Usage {}

fn main() -> ExitCode {
    keep_freed_memory();
    let cli = parse();
    let color = match cli.color {
        cli::ColorArg::Always => true,
        cli::ColorArg::Never => false,
        cli::ColorArg::Auto => std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    // A worker or a watcher is a long-running service: its operator reads
    // what it took, ran and handed back (info) without asking; `-q`
    // quiets it.
    let daemon = u8::from(matches!(cli.command, cli::Command::Worker(_) | cli::Command::Watch(_)));
    let verbose = if cli.quiet { None } else { Some(cli.verbose.max(daemon)) };
    let traces = match init_logging(verbose, color, cli.otlp.as_deref()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("stylize: error: {}", stylize_azure::redact(&format!("{e:#}")));
            return ExitCode::from(2);
        }
    };
    // Under mpirun every rank runs this same command; MPI lives as long as
    // `cluster` does.
    let cluster = stylize_mpi::Cluster::init();
    if cluster.is_mpi() {
        abort_on_panic(cluster.rank(), cluster.host());
        // Said the moment it is noticed, on whatever thread notices it:
        // nothing the coordinator would do first may delay the line.
        stylize_mpi::Cluster::on_rank_lost(|e| {
            eprintln!("stylize: error: {}", stylize_azure::redact(&e.to_string()));
            end_after_lost_rank();
        });
    }
    let result = match cli.command {
        cli::Command::Submit(args) => submit::run(&args, &cluster, cli.quiet),
        cli::Command::Watch(args) => submit::watch_queue(&args),
        cli::Command::Worker(args) => worker::run(&args),
        cli::Command::Bench(args) => stylize_bench::run(&args.options()).map_err(Into::into),
        cli::Command::Jobs(args) => jobs::run(&args),
        cli::Command::Flicker(args) => flicker(&args),
        cli::Command::Network { command: cli::NetworkCommand::Check(args) } => network_check(&args),
        cli::Command::Styles { command } => match command {
            cli::StylesCommand::List { json } => preview::list(json),
            cli::StylesCommand::Preview(args) => preview::run(&args),
            cli::StylesCommand::Add(args) => preview::add(&args),
            cli::StylesCommand::Remove { name } => preview::remove(&name),
            cli::StylesCommand::Learn(args) => preview::learn(&args, cli.quiet),
        },
        cli::Command::Completions { shell } => {
            let mut out = Vec::new();
            clap_complete::generate(shell, &mut cli::Cli::command(), "stylize", &mut out);
            out!("{}", String::from_utf8_lossy(&out));
            Ok(())
        }
        cli::Command::Man { command, dir } => manual::run(&command, dir.as_deref()),
    };
    if let Some(t) = traces {
        t.flush();
    }
    // Every job's scratch is gone by now; its root (and lock file) too.
    stylize_pipelines::remove_scratch();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, the file and the cause: no backtrace, no chain dump.
            // Redacted once more: no secret reaches the terminal, whatever
            // the error quoted.
            let msg = stylize_azure::redact(&e.to_string().replace('\n', " "));
            eprintln!("stylize: error: {msg}{}", hint(&e));
            if e.downcast_ref::<stylize_pipelines::PipelineError>().is_some_and(|e| e.is_worker_lost()) {
                end_after_lost_rank();
            }
            let usage = e.downcast_ref::<stylize_pipelines::PipelineError>().is_some_and(|e| e.is_usage())
                || e.downcast_ref::<Usage>().is_some();
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
}

/// What the user can do about an error, in the CLI's own words (the
/// libraries do not know its flags).
fn hint(e: &anyhow::Error) -> &'static str {
    use stylize_pipelines::PipelineError;
    match e.downcast_ref::<PipelineError>() {
        Some(PipelineError::Engine(stylize_pipelines::EngineError::OutputExists { .. })) => {
            "; run with -y to overwrite it (-n never does)"
        }
        _ => "",
    }
}

/// How long rank 0 waits, after a rank went silent, for mpirun to end the
/// job itself: a node that is gone (not merely frozen) is noticed by
/// OpenMPI's own keepalive (11 s with the settings in the README), and
/// mpirun then ends every rank. Were rank 0 to exit first, mpirun would
/// try to reach the lost node's daemon with data in flight, where TCP
/// keepalive no longer applies, and hang for the kernel's retransmission
/// timeout (15 minutes).
const LOST_RANK_GRACE: std::time::Duration = std::time::Duration::from_secs(12);

/// After a lost rank: wait for mpirun's end (a SIGTERM, taken quietly),
/// else exit without MPI's finalize, which would wait on the lost rank.
fn end_after_lost_rank() -> ! {
    interrupt::ENDING.store(true, std::sync::atomic::Ordering::SeqCst);
    std::thread::sleep(LOST_RANK_GRACE);
    // SAFETY: _exit only ends the process.
    unsafe { libc::_exit(1) }
}

/// The end of a write to stdout: a reader gone ends the process (status
/// 0, like `yes | head`); another failure is an error.
fn stdout_written(result: std::io::Result<()>) {
    match result {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            eprintln!("stylize: error: writing to stdout: {e}");
            std::process::exit(1);
        }
    }
}

/// `stylize flicker`: the output's figures beside the input's own.
fn flicker(args: &cli::FlickerArgs) -> anyhow::Result<()> {
    let stylize_pipelines::flicker::FlickerPair { source, output } =
        stylize_pipelines::flicker::measure(&args.input, &args.output)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&serde_json::json!({ "input": source, "output": output }))?);
    } else {
        let warp =
            |r: &stylize_pipelines::flicker::FlickerReport| r.warp_error.map_or("n/a".into(), |e| format!("{e:.2}"));
        outln!("{:<10} {:>14} {:>12} {:>12}", "", "instability", "warp error", "still share");
        outln!("{:<10} {:>14.3} {:>12} {:>12.3}", "input", source.instability, warp(&source), source.still_fraction);
        outln!("{:<10} {:>14.3} {:>12} {:>12.3}", "output", output.instability, warp(&output), output.still_fraction);
        outln!("{} frames; instability: mean |ΔY| (0-255) over pixels whose input is still", output.frames);
        let pair = stylize_pipelines::flicker::FlickerPair { source, output };
        outln!(
            "{}: {:+.1} levels a frame over the input's own (a job's summary measures before encoding, a little higher)",
            stylize_pipelines::flicker::Verdict::of(&pair).words(),
            pair.output.instability - pair.source.instability
        );
    }
    Ok(())
}

/// A panicking rank must take the whole MPI job down at once: unwinding
/// would finalise MPI while the other ranks wait for it, and hang.
fn abort_on_panic(rank: i32, host: String) {
    std::panic::set_hook(Box::new(move |info| {
        let msg = stylize_azure::redact(&info.to_string().replace('\n', " "));
        eprintln!("stylize: error: rank {rank} ({host}): {msg}");
        // Exit without finalising MPI: mpirun sees a rank gone and ends
        // every other one at once. _exit, not exit: libtorch's static
        // destructors must not run under threads still using them.
        // SAFETY: _exit only ends the process.
        unsafe { libc::_exit(101) };
    }));
}

/// How wide stdout's lines may be: `COLUMNS` when set (as `ls` reads
/// it), else the terminal's width; unbounded into a pipe or file.
fn columns() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|c| *c > 0)
        .or_else(|| console::Term::stdout().size_checked().map(|(_, cols)| usize::from(cols)))
        .unwrap_or(usize::MAX)
}

/// `stylize network check`: the table (or JSON) on stdout; a failed
/// requirement is an error of its own (exit 1), after the table.
fn network_check(args: &cli::NetworkCheckArgs) -> anyhow::Result<()> {
    let report = stylize_network::check(&args.inputs())?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        out!("{}", report.to_table_fitting(columns()));
    }
    if report.passed() {
        Ok(())
    } else {
        let failed: Vec<_> = report.failures().map(|f| f.id).collect();
        anyhow::bail!("{}: network check failed: {}", args.nsg.display(), failed.join(", "))
    }
}

/// Logs go to stderr, filtered by RUST_LOG (default: warnings, info for
/// `worker`; `-v` info; `-q` (None) errors only), with colour codes only when asked for.
fn init_logging(verbose: Option<u8>, color: bool, otlp: Option<&str>) -> anyhow::Result<Option<trace::Traces>> {
    use tracing_subscriber::prelude::*;
    let default = match verbose {
        None => "error",
        Some(0) => "warn",
        Some(1) => "info",
        Some(_) => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let (otel, traces) = match trace::endpoint(otlp) {
        Some(url) => {
            let (layer, traces) = trace::layer(&url)?;
            (Some(layer), Some(traces))
        }
        None => (None, None),
    };
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(color)
        .with_filter(filter);
    tracing_subscriber::registry().with(otel).with(fmt).init();
    Ok(traces)
}

/// Parse the command line. Whatever clap prints (an error quoting an
/// argument, `--help` showing `[env: …=value]`) is redacted first: a SAS
/// given by mistake never reaches the terminal. `--version` names the
/// libraries this build runs on.
fn parse() -> cli::Cli {
    let mut command = cli::Cli::command();
    if std::env::args().any(|a| a == "--version") {
        command = command.long_version(long_version());
    }
    match command.try_get_matches().and_then(|m| cli::Cli::from_arg_matches(&m)) {
        Ok(cli) => cli,
        Err(e) => {
            let mut text = stylize_azure::redact(&e.render().to_string());
            if let Some(var) = env_source(&e) {
                text = text.replacen('\n', &format!(" (from the environment variable {var})\n"), 1);
            }
            if e.use_stderr() {
                eprint!("{text}");
            } else {
                out!("{text}");
            }
            std::process::exit(e.exit_code());
        }
    }
}

/// The environment variable an invalid value came from, when it was not
/// on the command line.
fn env_source(e: &clap::Error) -> Option<String> {
    let arg = match e.get(clap::error::ContextKind::InvalidArg)? {
        clap::error::ContextValue::String(s) => s.clone(),
        _ => return None,
    };
    let long = arg.split_whitespace().next()?.trim_start_matches('-').to_string();
    let on_command_line = std::env::args().any(|a| a.trim_start_matches('-').split('=').next() == Some(&long));
    if on_command_line {
        return None;
    }
    fn find(cmd: &clap::Command, long: &str) -> Option<String> {
        cmd.get_arguments()
            .find(|a| a.get_long() == Some(long))
            .and_then(|a| a.get_env())
            .map(|v| v.to_string_lossy().into_owned())
            .or_else(|| cmd.get_subcommands().find_map(|c| find(c, long)))
    }
    find(&cli::Cli::command(), &long).filter(|var| std::env::var_os(var).is_some())
}

fn long_version() -> &'static str {
    let mut v = format!(
        "{}\nlibtorch {}",
        env!("CARGO_PKG_VERSION"),
        option_env!("STYLIZE_LIBTORCH_VERSION").unwrap_or("unknown")
    );
    let mpi = ("MPI", stylize_mpi::library_version());
    for (name, version) in stylize_pipelines::library_versions().into_iter().chain([mpi]) {
        v.push_str(&format!("\n{name} {version}"));
    }
    // Printed once, then the process exits.
    Box::leak(v.into_boxed_str())
}

/// Let glibc keep and reuse freed memory instead of handing it back to
/// the kernel. The model's tensors (tens of MB a frame at 640x360, hundreds
/// at 1080p) and the frame buffers are freed and allocated again every
/// frame; by default glibc maps the large ones fresh, trims its heaps, and
/// gives each thread a heap of its own of at most 64 MB that it unmaps as
/// soon as it is empty, so every frame paid for page faults and zeroed
/// pages. Three settings stop it:
///
/// - a heap is trimmed only past 2 GB free at its top (first with a
///   32 MB mapping threshold, the largest glibc takes: a bf16 job at
///   640x360, 96 frames, spent 3.0 s of its 15 s of CPU in the kernel,
///   0.6 s after; wall 9.1 -> 7.2 s);
/// - one heap for all threads (`M_ARENA_MAX`): the model's threads each
///   churned a heap of their own of fp32 tensors (400 frames at 640x360,
///   fp32: 9-16 s of kernel time, 1.2 after; wall 31 -> 25-27 s, and 200 MB
///   less memory); the allocations are a few hundred a frame: at 320x180,
///   where frames come fastest, waits on the one lock are about 1% of the
///   job's CPU time;
/// - nothing mapped on its own (`M_MMAP_MAX` 0: past 32 MB, the largest
///   threshold glibc takes, every tensor of a 1080p frame was mapped fresh
///   and faulted in page by page): 72 frames at 1080p, fp32, wall 95 -> 49
///   s (kernel 83 -> 4 s of CPU), bf16 49 -> 30 s.
///
/// Outputs are the same bytes. Memory stays flat with the video's length,
/// and lower (the bench's memory check): at 320x180, 1440, 2880 and 5760
/// frames peak at 294, 295 and 299 MB (with a heap per thread: 406 and 412
/// for the first two).
///
/// An operator's own tuning wins: with any `MALLOC_*` variable or a
/// `glibc.malloc` tunable in the environment, nothing is changed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    let tuned = std::env::vars_os().any(|(name, value)| {
        let name = name.to_string_lossy();
        name.starts_with("MALLOC_") || (name == "GLIBC_TUNABLES" && value.to_string_lossy().contains("glibc.malloc."))
    });
    if tuned {
        return;
    }
    // SAFETY: mallopt only sets allocator parameters; called first thing
    // in main, before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

/// Other C libraries keep their own habits.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}

/// Hand the memory [`keep_freed_memory`] kept back to the kernel: a
/// process that lives on between jobs (`worker`, `watch`) would otherwise
/// hold its largest job's peak for the rest of its life. Called when it
/// goes idle, not between a job's shards, which would fault it all in again.
pub(crate) fn give_back_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's.
    unsafe {
        libc::malloc_trim(0);
    }
}
