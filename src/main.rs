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
mod jobs;
mod preview;
mod progress;
mod submit;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_logging(cli.verbose);
    // Under mpirun every rank runs this same command; MPI lives as long as
    // `cluster` does.
    let cluster = stylize_pipelines::video_style::Cluster::init();
    if cluster.is_mpi() {
        abort_on_panic(cluster.rank());
    }
    let result = match cli.command {
        cli::Command::Submit(args) => submit::run(&args, &cluster),
        cli::Command::Watch(args) => submit::watch_queue(&args),
        cli::Command::Bench(args) => stylize_bench::run(&args.options()).map_err(Into::into),
        cli::Command::Jobs(args) => jobs::run(&args),
        cli::Command::Flicker(args) => flicker(&args),
        cli::Command::Network { command: cli::NetworkCommand::Check(args) } => network_check(&args),
        cli::Command::Styles { command } => match command {
            cli::StylesCommand::List => {
                preview::list();
                Ok(())
            }
            cli::StylesCommand::Preview(args) => preview::run(&args),
            cli::StylesCommand::Add(args) => preview::add(&args),
            cli::StylesCommand::Learn(args) => preview::learn(&args),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // One line, the file and the cause: no backtrace, no chain dump.
            let msg = e.to_string().replace('\n', " ");
            eprintln!("stylize: error: {msg}");
            let usage = e.downcast_ref::<stylize_pipelines::PipelineError>().is_some_and(|e| e.is_usage());
            ExitCode::from(if usage { 2 } else { 1 })
        }
    }
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
    }
    Ok(())
}

/// A panicking rank must take the whole MPI job down at once: unwinding
/// would finalise MPI while the other ranks wait for it, and hang.
fn abort_on_panic(rank: i32) {
    std::panic::set_hook(Box::new(move |info| {
        let msg = info.to_string().replace('\n', " ");
        eprintln!("stylize: error: rank {rank}: {msg}");
        // Exit without finalising MPI: mpirun sees a rank gone and ends
        // every other one at once (abort() would do too, with a backtrace).
        std::process::exit(101);
    }));
}

/// `stylize network check`: the table (or JSON) on stdout; a failed
/// requirement is an error of its own (exit 1), after the table.
fn network_check(args: &cli::NetworkCheckArgs) -> anyhow::Result<()> {
    let report = stylize_network::check(&args.inputs())?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        out!("{}", report.to_table());
    }
    if report.passed() {
        Ok(())
    } else {
        let failed: Vec<_> = report.failures().map(|f| f.id).collect();
        anyhow::bail!("{}: network check failed: {}", args.nsg.display(), failed.join(", "))
    }
}

/// Logs go to stderr, filtered by RUST_LOG (default: warnings; `-v` info).
fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}
