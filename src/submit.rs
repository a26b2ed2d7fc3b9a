//! `stylize submit` and `stylize watch`: build the job from the flags, run
//! it (or one per upload), print a summary.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use stylize_azure::watch::{watch, Committed, JobFailure, JobRunner, JobStores, WatchOptions};
use stylize_azure::{AzureRemote, EventFilter, QueueLauncher, Service, StorageUrl};
use stylize_mpi::{Cluster, MpiLauncher};
use stylize_pipelines::flicker::Verdict;
use stylize_pipelines::styles::{model_for, StyleChoice};
use stylize_pipelines::video_style::{
    remote_handler, run as run_job, set_threads, DeflickerMode, Destination, EncodeSettings, InProcessLauncher,
    Launcher, Location, NoProgress, Overwrite, PixelRange, Precision, StyleJob, WorkerOptions,
};

use crate::cli::{DeflickerArg, JobArgs, PrecisionArg, ProgressArg, RangeArg, SubmitArgs, WatchArgs};
use crate::progress::{Mode, Reporter};
use crate::Usage;

/// Containers an output file may be (`-o result.mkv`).
const WRITABLE: [&str; 5] = ["mp4", "m4v", "mov", "qt", "mkv"];
/// Media file extensions stylize does not write (videos it reads, raw
/// streams, audio, pictures): `-o x.avi` or `-o x.wav` is a mistake, not a
/// store folder named `x.avi`.
const READ_ONLY: [&str; 43] = [
    "avi", "ts", "m2ts", "mts", "mxf", "mpg", "mpeg", "flv", "wmv", "ogv", "3gp", "3g2", "vob", "y4m", "nut", "dv",
    "asf", "f4v", "rm", "rmvb", "divx", "ivf", "m2v", "h264", "264", "h265", "265", "hevc", "yuv", "gif", "apng",
    "png", "jpg", "jpeg", "webp", "wav", "mp3", "aac", "m4a", "flac", "ogg", "opus", "webm",
];

/// A location argument's value: as given, or read from a file with
/// `@FILE` (so a SAS need not be on the command line, where `ps` shows it).
pub fn value(arg: &str) -> Result<String> {
    match arg.strip_prefix('@') {
        Some(file) => {
            let text = std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("{file}: cannot read ({e})"))?;
            let line = text.lines().map(str::trim).find(|l| !l.is_empty());
            line.map(str::to_string).ok_or_else(|| anyhow::anyhow!("{file}: empty"))
        }
        None => Ok(arg.to_string()),
    }
}

/// A location argument: a path or a valid http(s) URL, nothing else (a
/// wrong one is a wrong command line: exit 2).
pub fn location(arg: &str) -> Result<Location> {
    stylize_azure::parse_location(&value(arg)?).map_err(|e| Usage::error(e.to_string()))
}

/// Where the job state of `-o FILE` jobs lives.
pub fn state_dir() -> PathBuf {
    let cache = std::env::var_os("STYLIZE_CACHE").map(PathBuf::from).unwrap_or_else(|| {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache"));
        base.join("stylize")
    });
    cache.join("state")
}

/// `-o`: a file (exactly that output), a blob (exactly that key in its
/// container), or a store (a unique name in it).
fn destination(arg: &str) -> Result<(Location, Destination)> {
    if arg == "-" {
        return Err(Usage::error(
            "-o -: an output cannot go to stdout (MP4 and MOV need a seekable file); name a file",
        ));
    }
    let extension = |p: &Path| p.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let refuse = |ext: &str| {
        let why = if ext == "webm" {
            " (WebM allows only VP8/VP9/AV1 video and Vorbis/Opus audio; stylize writes H.264)"
        } else {
            ""
        };
        Usage::error(format!(
            "-o {arg}: cannot write .{ext} files{why}; name a .mp4, .mov or .mkv file, or a folder ending in /"
        ))
    };
    let raw = value(arg)?;
    match location(&raw)? {
        Location::Local(path) => {
            let ext = extension(&path);
            if raw.ends_with('/') || path.is_dir() {
                // `out/` and `out` are one store (and print as `out/x`).
                let trimmed = raw.trim_end_matches('/');
                let dir = if trimmed.is_empty() { path } else { PathBuf::from(trimmed) };
                Ok((Location::Local(dir), Destination::Named))
            } else if ext.as_deref().is_some_and(|e| WRITABLE.contains(&e)) {
                Ok((Location::Local(state_dir()), Destination::File(path)))
            } else if let Some(e) = ext.filter(|e| READ_ONLY.contains(&e.as_str())) {
                Err(refuse(&e))
            } else {
                Ok((Location::Local(path), Destination::Named))
            }
        }
        Location::Remote(url) => {
            let Ok(parsed) = StorageUrl::parse(&url, Service::Blob) else {
                return Ok((Location::Remote(url), Destination::Named));
            };
            let blob = parsed.blob.clone().unwrap_or_default();
            match extension(Path::new(&blob)) {
                Some(e) if WRITABLE.contains(&e.as_str()) => {
                    let container = parsed.container_url()?.to_string();
                    Ok((Location::Remote(container), Destination::Key(blob)))
                }
                Some(e) if READ_ONLY.contains(&e.as_str()) => Err(refuse(&e)),
                _ => Ok((Location::Remote(url), Destination::Named)),
            }
        }
    }
}

/// `-o NAME` that will be made a folder though nothing says it is one:
/// no such folder yet, no trailing `/`, not a video file name, not the
/// default folder. A user who meant a file hears of it before the work.
fn unmarked_new_folder(arg: &str) -> Option<&str> {
    let path = Path::new(arg);
    let named_file = path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
        let e = e.to_ascii_lowercase();
        WRITABLE.contains(&e.as_str()) || READ_ONLY.contains(&e.as_str())
    });
    let plain = !arg.ends_with('/') && !arg.starts_with('@') && !arg.contains("://") && arg != "stylize-out";
    (plain && !named_file && !path.exists()).then_some(arg)
}

/// May an existing output be replaced: `-y`, `-n`, or ask on a terminal.
fn overwrite(args: &SubmitArgs) -> Overwrite {
    if args.overwrite {
        Overwrite::Always
    } else if args.no_overwrite || !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        Overwrite::Never
    } else {
        Overwrite::Ask(Arc::new(|name: &str| {
            eprint!("stylize: {name} exists; overwrite? [y/N] ");
            let mut answer = String::new();
            std::io::stdin().read_line(&mut answer).is_ok() && matches!(answer.trim(), "y" | "Y" | "yes" | "Yes")
        }))
    }
}

/// `--network-check DIR`: the subnet's NSG, firewalls and routes must
/// pass before any work, unless `--force`.
fn network_gate(args: &JobArgs) -> Result<()> {
    let Some(dir) = &args.network_check else { return Ok(()) };
    let present = |name: &str| Some(dir.join(name)).filter(|p| p.is_file());
    let check = stylize_network::CheckArgs {
        nsg: dir.join("nsg.json"),
        subnet: present("subnet.json"),
        storage: present("storage.json"),
        keyvault: present("keyvault.json"),
        route_table: present("route-table.json"),
        ..Default::default()
    };
    let report = stylize_network::check(&check)?;
    if report.passed() {
        tracing::info!(dir = %dir.display(), "network check passed");
        return Ok(());
    }
    eprint!("{}", report.to_table());
    let failed: Vec<_> = report.failures().map(|f| f.id).collect();
    if args.force {
        tracing::warn!(failed = ?failed, "network check failed; running anyway (--force)");
        Ok(())
    } else {
        anyhow::bail!("{}: network check failed ({}); fix it, or run with --force", dir.display(), failed.join(", "))
    }
}

/// The job the flags describe, for `input`.
fn build_job(args: &JobArgs, input: Location) -> Result<StyleJob> {
    let (store, destination) = destination(&args.output)?;
    let logs = args.logs.as_deref().map(location).transpose()?;
    network_gate(args)?;
    let choice = match (&args.model, &args.style_image) {
        (Some(path), _) => StyleChoice::Model {
            path: path.clone(),
            range: match args.range {
                RangeArg::Unit => PixelRange::Unit,
                RangeArg::Byte => PixelRange::Byte,
            },
        },
        (None, Some(painting)) => StyleChoice::Painting(painting.clone()),
        (None, None) => StyleChoice::Named(args.style.clone()),
    };
    let model = model_for(&choice)?;
    if let Some(n) = args.threads {
        set_threads(n.into());
    }
    Ok(StyleJob {
        input,
        store,
        logs,
        remote: Arc::new(AzureRemote { sas_only: args.sas_only, managed_identity: args.managed_identity }),
        model,
        device: crate::preview::device(args.device),
        precision: match args.precision {
            PrecisionArg::Fp32 => Precision::Fp32,
            PrecisionArg::Fp16 => Precision::Fp16,
            PrecisionArg::Bf16 => Precision::Bf16,
            PrecisionArg::Auto => Precision::Auto,
        },
        worker: WorkerOptions {
            batch: args.batch.map_or(0, usize::from),
            encode: EncodeSettings { crf: args.crf, preset: args.preset.clone(), ..EncodeSettings::default() },
            deflicker: match args.deflicker {
                DeflickerArg::Off => DeflickerMode::Off,
                DeflickerArg::Still => DeflickerMode::Still,
                DeflickerArg::Motion => DeflickerMode::Motion,
            },
            measure_flicker: !args.no_flicker_report,
        },
        threads: args.threads.map(usize::from),
        shard_frames: args.shard_frames,
        parallel_shards: usize::from(args.parallel_shards),
        destination,
        overwrite: Overwrite::Never,
        expect_job: None,
        program: args.program,
    })
}

/// Run the job: in-process, or as one rank of an MPI job. Worker ranks
/// are released by the cluster, once, however the job ends.
pub fn run(args: &SubmitArgs, cluster: &Cluster, quiet: bool) -> Result<()> {
    let new_folder = unmarked_new_folder(&args.job.output);
    let mut job = build_job(&args.job, location(&args.input)?)?;
    job.overwrite = overwrite(args);
    if args.job.coordinator_only && !cluster.is_mpi() {
        return Err(Usage::error("--coordinator-only needs mpirun and at least 2 ranks"));
    }
    if !cluster.is_coordinator() {
        on_interrupt(None);
        cluster.serve(remote_handler(&job, cluster.local_rank())?.as_mut())?;
        return Ok(());
    }
    let mode = match args.progress {
        _ if quiet => Mode::Off,
        ProgressArg::Off => Mode::Off,
        ProgressArg::Json => Mode::Json,
        ProgressArg::Auto if std::io::stderr().is_terminal() => Mode::Bar,
        ProgressArg::Auto => Mode::Lines,
    };
    let reporter = Arc::new(Reporter::new(mode, quiet));
    on_interrupt(Some(reporter.clone()));
    let mpi = MpiLauncher { cluster, coordinator_only: args.job.coordinator_only };
    let queued = match &args.queue {
        Some(queue) => Some(queue_launcher(queue, &job, &args.job, args.queue_window as usize)?.detached(args.detach)),
        None => None,
    };
    let launcher: &dyn Launcher = match &queued {
        Some(q) => q,
        None if cluster.is_mpi() => &mpi,
        None => &InProcessLauncher,
    };
    let missing = missing_folders(&job.store);
    let report = run_job(&job, reporter.clone(), launcher);
    reporter.finish(if report.is_ok() { "done" } else { "failed" });
    if report.is_err() {
        // A refused input leaves no empty folder behind (a job that failed
        // later keeps its state there for the rerun: not empty, kept).
        for dir in &missing {
            let _ = std::fs::remove_dir(dir);
        }
    }
    let report = report?;
    // Said once the folder is there (a refused input leaves none, and its
    // error stays one line).
    if let Some(dir) = new_folder {
        stylize_pipelines::video_style::Progress::warning(reporter.as_ref(), &format!(
            "-o {dir}: not a video file name (.mp4, .mov, .mkv): the output went into a new folder {dir}/ (end it with / to say so)"
        ));
    }
    if report.detached && !args.job.json {
        if !quiet {
            outln!("{}", report.job);
            eprintln!(
                "stylize: job {} handed to the queue's workers ({} shards); follow it with `stylize jobs show {} --follow -o <store>`",
                report.job, report.shards, report.job
            );
        }
        return Ok(());
    }
    if args.job.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    if quiet {
        return Ok(());
    }
    // Lines that fit 100 columns (but the output's own name).
    let v = &report.video;
    let plural = if v.audio_streams == 1 { "" } else { "s" };
    if report.already_done {
        outln!("already done: {} (job {}, committed by an earlier run; nothing ran now)", report.output, report.job);
        return Ok(());
    }
    outln!("wrote {}", report.output);
    // As it displays: a portrait phone clip is coded landscape, rotated.
    let quarter = v.rotation.is_some_and(|r| (r.abs() - 90.0).abs() < 1.0 || (r.abs() - 270.0).abs() < 1.0);
    let (shown_w, shown_h) = if quarter { (v.height, v.width) } else { (v.width, v.height) };
    let turned = match v.rotation {
        Some(r) if r.abs() > 0.5 => format!(" (rotated {}°)", r.round()),
        _ => String::new(),
    };
    outln!(
        "  {}x{}{turned}, {} frames at {} fps, {:.2} s, {} audio stream{plural}",
        shown_w,
        shown_h,
        v.frames,
        v.frame_rate,
        v.duration_secs,
        v.audio_streams
    );
    let reused = if report.shards_reused > 0 {
        format!(", {} of {} shards reused", report.shards_reused, report.shards)
    } else {
        String::new()
    };
    if report.timings.is_empty() {
        // Every shard was done before: this run only stitched.
        outln!("  {:.1} s, stitched from shards done earlier; job {}{reused}", report.wall_secs, report.job);
    } else {
        outln!("  {:.1} s at {:.1} frames/s; job {}{reused}", report.wall_secs, report.frames_per_sec, report.job);
    }
    // Per worker only where workers are other processes (ranks, queue
    // workers), not this process's own threads.
    if report.workers.iter().any(|w| !w.worker.name.starts_with("local")) {
        for r in &report.workers {
            outln!(
                "  {}: {} shards, {} frames, busy {:.1} s, idle {:.1} s at {:.0}% CPU",
                r.worker,
                r.shards,
                r.frames,
                r.busy_secs,
                r.idle_secs,
                r.idle_cpu_share * 100.0
            );
        }
    }
    if let Some(f) = &report.extra.flicker {
        // As the model made the frames, before encoding (which smooths a
        // little away: `stylize flicker` on the file reads lower).
        let verdict = stylize_pipelines::flicker::Verdict::of(f);
        let advice = match (verdict, job.worker.deflicker) {
            (Verdict::Visible | Verdict::Slight, DeflickerMode::Off) => ", try --deflicker still",
            (Verdict::Visible, DeflickerMode::Still) => ", try --deflicker motion",
            _ => "",
        };
        outln!(
            "  flicker where still: {:.1} levels a frame (input {:.1}): {}{advice}",
            f.output.instability,
            f.source.instability,
            verdict.words(),
        );
    }
    // What stays beside the output, so that disk use is no surprise.
    if let Location::Local(dir) = &job.store {
        let segments = dir.join("jobs").join(&report.job).join("segments");
        let bytes: u64 = std::fs::read_dir(&segments)
            .map(|d| d.flatten().filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
            .unwrap_or(0);
        if bytes > 0 {
            let size = if bytes < 1_000_000 {
                format!("{} KB", bytes.div_ceil(1000))
            } else {
                format!("{:.1} MB", bytes as f64 / 1e6)
            };
            outln!("  kept {size} of segments for reruns: stylize jobs clean {} -o {}", report.job, dir.display());
        }
    }
    Ok(())
}

/// The folders a local store's path names that are not there yet, deepest
/// first: the store makes them when it opens.
fn missing_folders(store: &Location) -> Vec<std::path::PathBuf> {
    let Location::Local(dir) = store else { return Vec::new() };
    dir.ancestors().take_while(|d| !d.as_os_str().is_empty() && !d.exists()).map(std::path::Path::to_path_buf).collect()
}

/// The shards of `job` go on `queue` for `stylize worker` processes, which
/// open the job's store as given (a folder by its absolute path).
fn queue_launcher(queue: &str, job: &StyleJob, args: &JobArgs, window: usize) -> Result<QueueLauncher> {
    let store = match &job.store {
        Location::Local(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
            std::fs::canonicalize(dir)?.display().to_string()
        }
        Location::Remote(url) => url.clone(),
    };
    let remote = AzureRemote { sas_only: args.sas_only, managed_identity: args.managed_identity };
    Ok(QueueLauncher::new(remote.queue(&value(queue)?)?, store, window))
}

/// Ctrl-C or SIGTERM: one line saying what is kept, exit 130. Every
/// stored segment is already committed, so the same command resumes from
/// them; what was half-written is removed by the job's next run. Worker
/// ranks (no reporter) leave quietly.
fn on_interrupt(reporter: Option<Arc<Reporter>>) {
    crate::interrupt::on_interrupt(move || {
        if let Some(r) = &reporter {
            r.finish("interrupted");
            match r.shards_kept() {
                Some((kept, total)) => eprintln!(
                    "stylize: interrupted: {kept} of {total} shards kept; run the same command again to resume"
                ),
                None => eprintln!("stylize: interrupted before any frame was stylized"),
            }
        }
    });
}

/// `stylize watch`: one job per uploaded video, until stopped (or the
/// queue is empty, with `--until-empty`).
pub fn watch_queue(args: &WatchArgs) -> Result<()> {
    let template = build_job(&args.job, Location::Local(Default::default()))?;
    crate::interrupt::on_interrupt(|| {
        eprintln!(
            "stylize: interrupted: the watcher stops; a job it was running keeps its finished shards, and its \
             message returns to the queue for the next watcher"
        )
    });
    if template.destination != Destination::Named {
        return Err(Usage::error("watch writes one output per upload: -o must be a folder or a container URL"));
    }
    let options = WatchOptions {
        queue: value(&args.queue)?,
        inputs: value(&args.inputs)?,
        filter: EventFilter { container: None, suffix: Some(args.suffix.clone()) },
        max_dequeues: args.max_dequeues,
        visibility: Duration::from_secs(args.visibility),
        poll: Duration::from_secs_f64(args.poll),
        until_empty: args.until_empty,
    };
    let stores = JobStores { store: template.store.clone(), logs: template.logs.clone() };
    let remote = AzureRemote { sas_only: args.job.sas_only, managed_identity: args.job.managed_identity };
    let tasks = match &args.tasks {
        Some(queue) => Some(queue_launcher(queue, &template, &args.job, 16)?.detached(args.detach)),
        None => None,
    };
    let summary = watch(&options, &stores, &remote, &mut UploadJobs { template, tasks })?;
    if args.job.json {
        outln!("{}", serde_json::to_string(&summary)?);
    } else {
        outln!(
            "{} done, {} poisoned, {} left for a retry, {} ignored",
            summary.done,
            summary.poisoned,
            summary.retried,
            summary.ignored
        );
    }
    Ok(())
}

/// The style job of each upload: the template with the upload as input,
/// run here or through a task queue.
struct UploadJobs {
    template: StyleJob,
    tasks: Option<QueueLauncher>,
}

impl JobRunner for UploadJobs {
    fn run(&mut self, input: Location) -> Result<Committed, JobFailure> {
        let mut job = self.template.clone();
        job.input = input;
        // The same path uploaded again is new content for the same output.
        job.overwrite = Overwrite::Always;
        let launcher: &dyn Launcher = match &self.tasks {
            Some(queue) => queue,
            None => &InProcessLauncher,
        };
        let outcome = match run_job(&job, Arc::new(NoProgress), launcher) {
            Ok(report) => Ok(Committed { job: report.job, output: report.output, detached: report.detached }),
            Err(e) => Err(JobFailure { permanent: e.is_permanent(), message: e.to_string() }),
        };
        // Back to waiting for uploads.
        crate::give_back_freed_memory();
        outcome
    }
}
