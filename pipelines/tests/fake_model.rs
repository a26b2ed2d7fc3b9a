//! The pipeline's logic (plan, naming, resume, report, errors) through the
//! engine's driver with a cheap fake model: no libtorch weights needed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use stylize_engine::EngineError;
use stylize_engine::{run_job, InProcessLauncher, JobSpec};
use stylize_engine::{Location, NoRemote};
use stylize_models::torch::{DeviceChoice, ModelSpec, PixelRange, Precision};
use stylize_models::{ModelError, RgbBatch, StyleModel};
use stylize_pipelines::video_style::{Destination, ModelLoader, NoProgress, Overwrite, StyleJob, VideoStyle};
use stylize_pipelines::PipelineError;
use stylize_worker::{DeflickerMode, WorkerOptions};

/// Inverts every pixel; fails on the frame `fail_at` calls in, if set.
struct Invert {
    calls: Arc<AtomicUsize>,
    fail_at: Option<usize>,
}

impl StyleModel for Invert {
    fn describe(&self) -> String {
        "invert (test)".into()
    }
    fn label(&self) -> String {
        "invert".into()
    }
    fn stylize(&mut self, mut batch: RgbBatch) -> Result<RgbBatch, ModelError> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        if Some(n) == self.fail_at {
            return Err(ModelError::Forward {
                path: "invert".into(),
                batch: batch.frames.len(),
                width: batch.width,
                height: batch.height,
                reason: "injected".into(),
            });
        }
        for f in &mut batch.frames {
            f.iter_mut().for_each(|b| *b = 255 - *b);
        }
        Ok(batch)
    }
}

fn loader(calls: Arc<AtomicUsize>, fail_at: Option<usize>) -> ModelLoader {
    Arc::new(move |_, _| Ok(Box::new(Invert { calls: calls.clone(), fail_at }) as Box<dyn StyleModel>))
}

fn clip(dir: &Path) -> PathBuf {
    let path = dir.join("clip.mp4");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=64x48:r=25:d=1.2"])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "6", "-bf", "0"])
        .arg(&path)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
    path
}

fn job(dir: &Path, input: &Path) -> StyleJob {
    let model = dir.join("model.pt");
    std::fs::write(&model, b"the fake model's identity").unwrap();
    StyleJob {
        input: Location::Local(input.to_path_buf()),
        store: Location::Local(dir.join("store")),
        logs: None,
        remote: Arc::new(NoRemote),
        model: ModelSpec::User { path: model, range: PixelRange::Unit },
        device: DeviceChoice::Cpu,
        precision: Precision::Fp32,
        worker: WorkerOptions { deflicker: DeflickerMode::Off, ..WorkerOptions::default() },
        threads: Some(1),
        shard_frames: 12,
        parallel_shards: 1,
        destination: Destination::Named,
        overwrite: Overwrite::Never,
        expect_job: None,
        program: None,
    }
}

fn spec(job: &StyleJob) -> JobSpec {
    job.spec()
}

#[test]
fn plan_name_report_and_resume_with_a_fake_model() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path());
    let job = job(dir.path(), &input);
    let calls = Arc::new(AtomicUsize::new(0));
    let mut pipeline = VideoStyle::new(&job, loader(calls.clone(), None));
    let report = run_job(&spec(&job), &mut pipeline, &InProcessLauncher, Arc::new(NoProgress)).expect("the job runs");
    // 30 frames, keyframes every 6, shards of at least 12: 12, 12, 6.
    assert_eq!(report.shards, 3);
    assert_eq!(report.video.frames, 30);
    assert_eq!(report.timings.iter().map(|t| t.result.frames).sum::<u64>(), 30);
    assert_eq!(report.extra.model, "invert (test)");
    let name = Path::new(&report.output).file_name().unwrap().to_string_lossy().into_owned();
    let tag = name.strip_prefix("clip.invert.").and_then(|n| n.strip_suffix(".mp4")).expect("clip.invert.<tag>.mp4");
    assert!(tag.len() == 6 && tag.chars().all(|c| c.is_ascii_hexdigit()), "{name}");
    assert!(Path::new(&report.output).is_file());
    assert_eq!(calls.load(Ordering::SeqCst), 30, "one model call per frame at batch 1");

    // The same job again: committed already, nothing redone.
    let mut again = VideoStyle::new(&job, loader(calls.clone(), None));
    let report2 =
        run_job(&spec(&job), &mut again, &InProcessLauncher, Arc::new(NoProgress)).expect("the job runs again");
    assert_eq!(report2.job, report.job);
    assert_eq!(report2.shards_reused, 3);
    assert_eq!(calls.load(Ordering::SeqCst), 30, "no frame stylized twice");

    // The output was replaced by hand since: its bytes do not pass for
    // this job's output, and it is not overwritten without leave (-y)...
    let output = Path::new(&report.output);
    let ours = std::fs::read(output).unwrap();
    std::fs::write(output, b"another job's output").unwrap();
    let mut third = VideoStyle::new(&job, loader(calls.clone(), None));
    let refused = run_job(&spec(&job), &mut third, &InProcessLauncher, Arc::new(NoProgress))
        .expect_err("an existing output is kept without -y")
        .to_string();
    assert!(refused.contains(&name) && refused.contains("already exists"), "{refused}");
    assert_eq!(std::fs::read(output).unwrap(), b"another job's output");
    // ...with it, the job's output is stitched again from the segments.
    let job = StyleJob { overwrite: Overwrite::Always, ..job };
    let mut third = VideoStyle::new(&job, loader(calls.clone(), None));
    run_job(&spec(&job), &mut third, &InProcessLauncher, Arc::new(NoProgress)).expect("the job runs a third time");
    assert_eq!(std::fs::read(output).unwrap(), ours, "this job's output, again");
    assert_eq!(calls.load(Ordering::SeqCst), 30, "from the stored segments, no frame stylized");
}

#[test]
fn a_model_failure_is_typed_and_leaves_no_output_but_the_finished_shards() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path());
    let job = job(dir.path(), &input);
    let calls = Arc::new(AtomicUsize::new(0));
    let mut pipeline = VideoStyle::new(&job, loader(calls.clone(), Some(20)));
    let err = run_job(&spec(&job), &mut pipeline, &InProcessLauncher, Arc::new(NoProgress))
        .expect_err("the model fails on frame 20");
    match &err {
        PipelineError::Engine(EngineError::Worker { kind, shard, .. }) => {
            assert!(kind.is_permanent(), "a model failure is not retried: {kind:?}");
            assert_eq!(*shard, 1);
        }
        other => panic!("expected a worker error, got {other}"),
    }
    assert!(err.to_string().contains("clip.mp4"), "names the input: {err}");
    let store = dir.path().join("store");
    let videos = |dir: &Path| -> usize {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "mp4"))
            .count()
    };
    assert_eq!(videos(&store), 0, "no output after a failure");

    // Resume: shard 0 is reused, the rest is done now.
    let calls2 = Arc::new(AtomicUsize::new(0));
    let mut resumed = VideoStyle::new(&job, loader(calls2.clone(), None));
    let report =
        run_job(&spec(&job), &mut resumed, &InProcessLauncher, Arc::new(NoProgress)).expect("the resumed job runs");
    assert_eq!(report.shards_reused, 1);
    assert_eq!(calls2.load(Ordering::SeqCst), 18, "only the missing shards' frames");
    assert!(Path::new(&report.output).is_file() && videos(&store) == 1);
}
