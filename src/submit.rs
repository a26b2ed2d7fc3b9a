//! `stylize submit`: build the job from the flags, run it, print a summary.

use anyhow::Result;
use stylize_models::styles::StyleBlend;
use stylize_models::torch::{set_threads, DeviceChoice, ModelSpec, PixelRange, Precision};
use stylize_pipelines::video_style::{run as run_job, StyleJob};
use stylize_worker::{EncodeSettings, WorkerOptions};

use crate::cli::{DeviceArg, PrecisionArg, RangeArg, SubmitArgs};
use crate::progress::Bar;

pub fn run(args: &SubmitArgs) -> Result<()> {
    let model = match &args.model {
        Some(path) => ModelSpec::User {
            path: path.clone(),
            range: match args.range {
                RangeArg::Unit => PixelRange::Unit,
                RangeArg::Byte => PixelRange::Byte,
            },
        },
        None => ModelSpec::builtin(StyleBlend::parse(&args.style)?),
    };
    if let Some(n) = args.threads {
        set_threads(n.into());
    }
    let job = StyleJob {
        input: args.input.clone(),
        store: args.output.clone(),
        model,
        device: match args.device {
            DeviceArg::Auto => DeviceChoice::Auto,
            DeviceArg::Cpu => DeviceChoice::Cpu,
            DeviceArg::Cuda => DeviceChoice::Cuda(0),
        },
        precision: match args.precision {
            PrecisionArg::Fp32 => Precision::Fp32,
            PrecisionArg::Fp16 => Precision::Fp16,
        },
        worker: WorkerOptions {
            batch: args.batch.into(),
            encode: EncodeSettings { crf: args.crf, preset: args.preset.clone() },
        },
        shard_frames: args.shard_frames,
    };
    let bar = Bar::new();
    let report = run_job(&job, &bar);
    bar.finish();
    let report = report?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let v = &report.video;
        println!(
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
            if report.shards_reused > 0 { format!(", {} of {} shards reused", report.shards_reused, report.shards) } else { String::new() },
        );
    }
    Ok(())
}
