//! `stylize submit` and `stylize watch`: build the job from the flags, run
//! it (or one per upload), print a summary.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use stylize_pipelines::styles::{model_for, StyleChoice};
use stylize_pipelines::video_style::watch::{watch, EventFilter, WatchOptions};
use stylize_pipelines::video_style::{
    run as run_job, serve, set_threads, Cluster, DeflickerMode, EncodeSettings, Launch, Location, PixelRange,
    Precision, RemoteOptions, StyleJob, WorkerOptions,
};

use crate::cli::{DeflickerArg, JobArgs, PrecisionArg, RangeArg, SubmitArgs, WatchArgs};
use crate::progress::Bar;

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
        store: Location::parse(&args.output.to_string_lossy()),
        logs: args.logs.as_ref().map(|l| Location::parse(&l.to_string_lossy())),
        remote: RemoteOptions { sas_only: args.sas_only, managed_identity: args.managed_identity },
        model,
        device: crate::preview::device(args.device),
        precision: match args.precision {
            PrecisionArg::Fp32 => Precision::Fp32,
            PrecisionArg::Fp16 => Precision::Fp16,
        },
        worker: WorkerOptions {
            batch: args.batch.map_or(0, usize::from),
            encode: EncodeSettings { crf: args.crf, preset: args.preset.clone(), ..EncodeSettings::default() },
            deflicker: match args.deflicker {
                DeflickerArg::Off => DeflickerMode::Off,
                DeflickerArg::Still => DeflickerMode::Still,
                DeflickerArg::Motion => DeflickerMode::Motion,
            },
        },
        measure_flicker: !args.no_flicker_report,
        threads: args.threads.map(usize::from),
        shard_frames: args.shard_frames,
        parallel_shards: usize::from(args.parallel_shards),
    })
}

/// Run the job: in-process, or as one rank of an MPI job. Worker ranks
/// are released by the cluster, once, however the job ends.
pub fn run(args: &SubmitArgs, cluster: &Cluster) -> Result<()> {
    let job = build_job(&args.job, Location::parse(&args.input.to_string_lossy()))?;
    if !cluster.is_coordinator() {
        serve(&job, cluster)?;
        return Ok(());
    }
    let bar = Arc::new(Bar::new());
    let launch = if cluster.is_mpi() || args.job.coordinator_only {
        Launch::Cluster { cluster, coordinator_only: args.job.coordinator_only }
    } else {
        Launch::InProcess
    };
    let report = run_job(&job, bar.clone(), launch);
    bar.finish();
    let report = report?;
    if args.job.json {
        outln!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let v = &report.video;
    outln!(
        "{} ({}x{}, {} frames at {} fps, {:.2} s, {} audio stream{}) in {:.1} s, {:.1} frames/s; job {}{}",
        report.output,
        v.width,
        v.height,
        v.frames,
        v.frame_rate,
        v.duration_secs,
        v.audio_streams,
        if v.audio_streams == 1 { "" } else { "s" },
        report.wall_secs,
        report.frames_per_sec,
        report.job,
        if report.shards_reused > 0 {
            format!(", {} of {} shards reused", report.shards_reused, report.shards)
        } else {
            String::new()
        },
    );
    if let Some(f) = &report.extra.flicker {
        outln!(
            "flicker where the input is still: {:.2} levels/frame (input {:.2}); warp error {}",
            f.output.instability,
            f.source.instability,
            f.output.warp_error.map_or("n/a".to_string(), |e| format!("{e:.1}")),
        );
    }
    Ok(())
}

/// `stylize watch`: one job per uploaded video, until stopped (or the
/// queue is empty, with `--until-empty`).
pub fn watch_queue(args: &WatchArgs) -> Result<()> {
    let template = build_job(&args.job, Location::Local(Default::default()))?;
    let options = WatchOptions {
        queue: args.queue.clone(),
        inputs: args.inputs.clone(),
        filter: EventFilter { container: None, suffix: Some(args.suffix.clone()) },
        max_dequeues: args.max_dequeues,
        visibility: Duration::from_secs(args.visibility),
        poll: Duration::from_secs(2),
        until_empty: args.until_empty,
    };
    let summary = watch(&options, &template)?;
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
