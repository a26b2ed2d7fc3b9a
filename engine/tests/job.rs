//! Whole jobs through the engine's driver with no model, no disk store and
//! no cloud: a tiny pipeline that copies each shard's segment through (the
//! way ripgrep's searcher is tested with its own small matcher), an
//! in-memory store, and launchers made here. What a job promises holds
//! whatever runs it: every video packet of the input reaches the output
//! once and in order, a resume redoes only what is missing, a failing
//! shard or a lost worker ends the job naming them and keeps what was
//! finished, a damaged manifest starts the job over, and two jobs never
//! overwrite each other's output unless told to.
//!
//! FFmpeg's command-line tools make the clips and read the outputs back.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use stylize_engine::{
    run_job, Destination, EngineError, Event, Handler, InProcess, InProcessLauncher, JobContext, JobLayout, JobReport,
    JobSpec, Launcher, Location, Manifest, MediaInfo, MemoryRemote, MemoryStore, NoProgress, Overwrite, Payload,
    Pipeline, Plan, Result, ResultHeader, Shard, Store, StreamPlan, Task, TaskError, TaskErrorKind, TaskOutput,
    Transport, WorkerId,
};

/// Frames per GOP in the test clips: one shard per GOP.
const GOP: u64 = 8;

/// A clip of `frames` frames, all-keyframe-aligned GOPs of [`GOP`] frames,
/// no B-frames (so a shard's segment holds exactly its own packets), with
/// an audio stream that must come through untouched.
fn clip(dir: &Path, name: &str, frames: u64, pattern: &str) -> PathBuf {
    let path = dir.join(name);
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("{pattern}=size=96x64:rate=12"))
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=8000"])
        .args(["-frames:v", &frames.to_string(), "-shortest"])
        .args(["-c:v", "mpeg4", "-g", &GOP.to_string(), "-bf", "0", "-q:v", "5", "-c:a", "aac"])
        .arg(&path)
        .output()
        .expect("ffmpeg runs (scripts/setup.sh installs it)");
    assert!(out.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
    path
}

/// The video packets of a file, as (size, MD5) in order: stream copies
/// keep both, whatever timestamps they are given.
fn video_packets(path: &Path) -> Vec<String> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-map", "0:v", "-c", "copy", "-f", "framemd5", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(out.status.success(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split(',').skip(4).map(str::trim).collect::<Vec<_>>().join(" "))
        .collect()
}

/// Copies each shard's segment through; fails on the shards it is told to.
#[derive(Clone, Default)]
struct Copy {
    fail: Arc<Mutex<Vec<u32>>>,
    runs: Arc<AtomicUsize>,
}

impl Handler for Copy {
    fn handle(&mut self, task: Task) -> std::result::Result<TaskOutput, TaskError> {
        let shard = task.header.shard.index;
        if self.fail.lock().unwrap().contains(&shard) {
            return Err(TaskError::new(TaskErrorKind::Transient, format!("shard {shard}: injected failure")));
        }
        self.runs.fetch_add(1, Ordering::SeqCst);
        let bytes = task.segment.inline().expect("the transport hands segments inline").to_vec();
        Ok(TaskOutput {
            header: ResultHeader { shard, frames: task.header.shard.len(), ..Default::default() },
            segment: Payload::Inline(bytes),
        })
    }
}

/// The copy pipeline: one shard per GOP, segments copied through, the
/// engine's own stitch.
struct CopyPipeline {
    handler: Copy,
    /// Handlers side by side in this process.
    side_by_side: usize,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct CopyFacts {
    copied_shards: usize,
}

impl Pipeline for CopyPipeline {
    type Error = EngineError;
    type Extra = CopyFacts;

    fn prepare(&mut self, _info: &MediaInfo, _input: &Path) -> Result<serde_json::Value> {
        Ok(serde_json::json!({ "pipeline": "copy/1" }))
    }

    fn plan(&self, info: &MediaInfo) -> Plan {
        let v = &info.video;
        let mut cuts = v.keyframes.clone();
        cuts.push(v.frames());
        let shards = cuts
            .windows(2)
            .enumerate()
            .map(|(i, w)| {
                let (start, end) = (w[0] as usize, w[1] as usize);
                let end_pts = v.pts.get(end).copied().unwrap_or(v.pts[end - 1] + v.last_frame_duration);
                Shard {
                    index: i as u32,
                    start: w[0],
                    pts: v.pts[start..end].to_vec(),
                    end_pts,
                    warmup: vec![],
                    key_pts: v.pts[start],
                    by_count_skip: None,
                    dts_offset: 0,
                }
            })
            .collect();
        Plan { target_len: GOP, shards }
    }

    fn output_name(&self, input_path: &str, tag: &str, streams: &StreamPlan) -> String {
        format!("{input_path}.copy.{tag}.{}", streams.extension())
    }

    fn local_handlers(
        &mut self,
        _progress: Arc<dyn stylize_engine::Progress>,
    ) -> Result<Vec<Box<dyn Handler>>, EngineError> {
        Ok((0..self.side_by_side).map(|_| Box::new(self.handler.clone()) as Box<dyn Handler>).collect())
    }

    fn extra(&self, manifest: &Manifest) -> CopyFacts {
        CopyFacts { copied_shards: manifest.done.len() }
    }
}

/// A job on `input` into the memory store `out` of `remote`.
fn spec(input: &Path, remote: &MemoryRemote, destination: Destination, overwrite: Overwrite) -> JobSpec {
    JobSpec {
        input: Location::Local(input.to_path_buf()),
        store: Location::Remote("memory://out".into()),
        logs: Some(Location::Remote("memory://logs".into())),
        remote: Arc::new(remote.clone()),
        destination,
        overwrite,
        expect_job: None,
        program: None,
    }
}

fn run(
    spec: &JobSpec,
    handler: &Copy,
    launcher: &dyn Launcher,
) -> std::result::Result<JobReport<CopyFacts>, EngineError> {
    let mut pipeline = CopyPipeline { handler: handler.clone(), side_by_side: 1 };
    run_job(spec, &mut pipeline, launcher, Arc::new(NoProgress))
}

/// The committed output, copied out of the memory store into `dir`.
fn output_file(store: &MemoryStore, key: &str, dir: &Path) -> PathBuf {
    let path = dir.join(Path::new(key).file_name().unwrap());
    assert!(store.get_file(key, &path).unwrap(), "{key} committed");
    path
}

fn manifest(store: &MemoryStore, job: &str) -> Manifest {
    serde_json::from_slice(&store.get(&JobLayout::new(job).manifest()).unwrap().unwrap()).unwrap()
}

#[test]
fn a_copy_job_keeps_every_video_packet_and_the_audio() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path(), "clip.mp4", 40, "testsrc2");
    let remote = MemoryRemote::default();
    let handler = Copy::default();
    let mut pipeline = CopyPipeline { handler: handler.clone(), side_by_side: 2 };
    let spec = spec(&input, &remote, Destination::Named, Overwrite::Never);
    let report = run_job(&spec, &mut pipeline, &InProcessLauncher, Arc::new(NoProgress)).unwrap();

    assert_eq!(report.shards, 5);
    assert_eq!(handler.runs.load(Ordering::SeqCst), 5, "each shard once");
    assert_eq!(report.extra.copied_shards, 5);
    let store = remote.store("out");
    let key = report.output.strip_prefix("memory://out/").expect("a key in the store");
    assert!(key.starts_with("clip.mp4.copy.") && key.ends_with(".mp4"), "{key}");
    let output = output_file(&store, key, dir.path());
    assert_eq!(video_packets(&input).len(), 40);
    assert_eq!(video_packets(&output), video_packets(&input), "every video packet once, in order");
    let audio = |p: &Path| {
        let out = Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(p)
            .args(["-map", "0:a", "-c", "copy", "-f", "md5", "-"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(audio(&output), audio(&input), "the audio is copied byte for byte");

    // The report names the workers: two threads of this process.
    let workers: Vec<&WorkerId> = report.workers.iter().map(|w| &w.worker).collect();
    assert!(!workers.is_empty() && workers.len() <= 2, "{workers:?}");
    assert!(workers.iter().all(|w| w.name.starts_with("local.") && !w.host.is_empty()), "{workers:?}");
    assert_eq!(report.workers.iter().map(|w| w.shards).sum::<usize>(), 5);
    assert!(report.timings.iter().all(|t| workers.contains(&&t.result.worker)));
    let keys = store.keys();
    let layout = JobLayout::new(&report.job);
    for k in [layout.manifest(), layout.report(), layout.segment(0), layout.segment(4)] {
        assert!(keys.contains(&k), "{k} in {keys:?}");
    }
    assert!(!keys.iter().any(|k| k.contains("/sources/")), "inline tasks store no source: {keys:?}");
    // The job's log went to the logs store, one JSON line per event.
    let logs = remote.store("logs").keys();
    assert_eq!(logs.len(), 1, "{logs:?}");
    assert!(logs[0].starts_with(&report.job) && logs[0].ends_with(".jsonl"));

    // The same job again: already committed, nothing runs.
    let again = run(&spec, &handler, &InProcessLauncher).unwrap();
    assert_eq!((again.job, again.output, again.shards_reused), (report.job, report.output, 5));
    assert_eq!(handler.runs.load(Ordering::SeqCst), 5, "no shard ran twice");
}

#[test]
fn a_failing_shard_ends_the_job_naming_it_and_the_rerun_redoes_only_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path(), "clip.mp4", 40, "testsrc2");
    let remote = MemoryRemote::default();
    let handler = Copy::default();
    handler.fail.lock().unwrap().push(2);
    let spec = spec(&input, &remote, Destination::Key("styled/out.mp4".into()), Overwrite::Never);
    let err = run(&spec, &handler, &InProcessLauncher).unwrap_err();
    let EngineError::Worker { worker, shard, kind, message } = &err else { panic!("not a worker failure: {err}") };
    assert_eq!((worker.name.as_str(), *shard, *kind), ("local", 2, TaskErrorKind::Transient));
    assert!(message.starts_with("shard 2: injected failure (in ") && message.contains("clip.mp4"), "{message}");
    assert!(err.to_string().starts_with(&format!("local ({}): shard 2: ", worker.host)), "{err}");
    let store = remote.store("out");
    assert!(!store.exists("styled/out.mp4").unwrap(), "no output from a failed job");
    let job =
        store.keys().iter().find_map(|k| k.strip_prefix("jobs/")?.strip_suffix("/manifest.json").map(String::from));
    let job = job.expect("the failed job's manifest is kept");
    assert_eq!(manifest(&store, &job).done.keys().copied().collect::<Vec<_>>(), vec![0, 1]);

    handler.fail.lock().unwrap().clear();
    let runs_before = handler.runs.load(Ordering::SeqCst);
    let report = run(&spec, &handler, &InProcessLauncher).unwrap();
    assert_eq!(report.job, job);
    assert_eq!(report.shards_reused, 2);
    assert_eq!(handler.runs.load(Ordering::SeqCst) - runs_before, 3, "only the missing shards ran");
    let redone: Vec<u32> = report.timings.iter().map(|t| t.result.shard).collect();
    assert_eq!(redone, vec![2, 3, 4]);
    let output = output_file(&store, "styled/out.mp4", dir.path());
    assert_eq!(video_packets(&output), video_packets(&input));
}

#[test]
fn a_damaged_manifest_starts_the_job_over() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path(), "clip.mp4", 24, "testsrc2");
    let remote = MemoryRemote::default();
    let handler = Copy::default();
    handler.fail.lock().unwrap().push(2);
    let spec = spec(&input, &remote, Destination::Key("out.mp4".into()), Overwrite::Never);
    run(&spec, &handler, &InProcessLauncher).unwrap_err();
    let store = remote.store("out");
    let key = store.keys().into_iter().find(|k| k.ends_with("/manifest.json")).unwrap();
    store.put(&key, b"{ half a manifest").unwrap();

    handler.fail.lock().unwrap().clear();
    let report = run(&spec, &handler, &InProcessLauncher).unwrap();
    assert_eq!(report.shards_reused, 0, "nothing is trusted from a damaged manifest");
    assert_eq!(report.timings.len(), 3);
    assert_eq!(video_packets(&output_file(&store, "out.mp4", dir.path())), video_packets(&input));
}

#[test]
fn two_jobs_never_overwrite_each_other_unless_told() {
    let dir = tempfile::tempdir().unwrap();
    let first = clip(dir.path(), "a.mp4", 16, "testsrc2");
    let second = clip(dir.path(), "b.mp4", 16, "smptebars");
    let remote = MemoryRemote::default();
    let handler = Copy::default();
    let store = remote.store("out");
    run(&spec(&first, &remote, Destination::Key("same.mp4".into()), Overwrite::Never), &handler, &InProcessLauncher)
        .unwrap();
    let kept = store.get("same.mp4").unwrap().unwrap();

    let refused = run(
        &spec(&second, &remote, Destination::Key("same.mp4".into()), Overwrite::Never),
        &handler,
        &InProcessLauncher,
    )
    .unwrap_err();
    assert!(matches!(refused, EngineError::OutputExists { .. }), "{refused}");
    assert_eq!(refused.to_string(), "memory://out/same.mp4: already exists");
    assert_eq!(store.get("same.mp4").unwrap().unwrap(), kept, "the first job's output is untouched");

    run(&spec(&second, &remote, Destination::Key("same.mp4".into()), Overwrite::Always), &handler, &InProcessLauncher)
        .unwrap();
    assert_eq!(video_packets(&output_file(&store, "same.mp4", dir.path())), video_packets(&second));
}

/// A launcher whose transport loses its worker after `keep` results (as
/// the MPI and queue launchers do when a node goes away), or one whose
/// workers take their segments from the store.
struct TestLauncher {
    lose_after: Option<usize>,
    stored: bool,
}

struct TestTransport<'a> {
    inner: InProcess,
    lose_after: Option<usize>,
    done: usize,
    store: Option<&'a dyn Store>,
    layout: JobLayout,
}

impl Transport for TestTransport<'_> {
    fn describe(&self) -> String {
        "test".into()
    }

    fn offer(&mut self, mut task: Task) -> Result<Option<Task>> {
        if let (Some(store), Payload::Stored { .. }) = (self.store, &task.segment) {
            task.segment = Payload::Inline(task.segment.clone().fetch(store)?);
        }
        self.inner.offer(task)
    }

    fn next_event(&mut self) -> Result<Event> {
        if self.lose_after == Some(self.done) {
            return Err(EngineError::WorkerLost {
                worker: WorkerId { name: "node-3".into(), host: "spot-7".into() },
                shard: self.done as u32,
                silent_secs: 30,
            });
        }
        match self.inner.next_event()? {
            Event::Done(mut out) => {
                self.done += 1;
                // A worker that reaches the store leaves its result there
                // under the shard's key: the coordinator takes it as is.
                if let (Some(store), Payload::Inline(bytes)) = (self.store, &out.segment) {
                    let key = self.layout.segment(out.header.shard);
                    store.put(&key, bytes).unwrap();
                    let (sha256, len) = (stylize_engine::digest(bytes), bytes.len() as u64);
                    out.segment = Payload::Stored { key, sha256, bytes: len };
                }
                Ok(Event::Done(out))
            }
            other => Ok(other),
        }
    }

    fn finish(&mut self) -> Result<()> {
        self.inner.finish()
    }
}

impl Launcher for TestLauncher {
    fn stores_payloads(&self) -> bool {
        self.stored
    }

    fn transport<'a>(&'a self, job: &JobContext<'a>, local: Vec<Box<dyn Handler>>) -> Result<Box<dyn Transport + 'a>> {
        Ok(Box::new(TestTransport {
            inner: InProcess::start(local, "node-1"),
            lose_after: self.lose_after,
            done: 0,
            store: self.stored.then_some(job.store),
            layout: job.layout.clone(),
        }))
    }
}

#[test]
fn a_lost_worker_ends_the_job_naming_it_and_nothing_finished_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path(), "clip.mp4", 40, "testsrc2");
    let remote = MemoryRemote::default();
    let handler = Copy::default();
    let spec = spec(&input, &remote, Destination::Key("out.mp4".into()), Overwrite::Never);
    let err = run(&spec, &handler, &TestLauncher { lose_after: Some(3), stored: false }).unwrap_err();
    assert!(
        err.to_string().starts_with("node-3 (spot-7) has been silent for 30 s on shard 3"),
        "the error names the worker, its node and its shard: {err}"
    );
    let store = remote.store("out");
    assert!(!store.exists("out.mp4").unwrap());
    let job =
        store.keys().iter().find_map(|k| k.strip_prefix("jobs/")?.strip_suffix("/manifest.json").map(String::from));
    assert_eq!(manifest(&store, &job.unwrap()).done.len(), 3, "the three finished shards are kept");

    let report = run(&spec, &handler, &InProcessLauncher).unwrap();
    assert_eq!((report.shards_reused, report.timings.len()), (3, 2));
    assert_eq!(video_packets(&output_file(&store, "out.mp4", dir.path())), video_packets(&input));
}

#[test]
fn stored_payloads_travel_as_keys_and_are_never_uploaded_twice() {
    let dir = tempfile::tempdir().unwrap();
    let input = clip(dir.path(), "clip.mp4", 24, "testsrc2");
    let remote = MemoryRemote::default();
    let handler = Copy::default();
    let spec = spec(&input, &remote, Destination::Key("out.mp4".into()), Overwrite::Never);
    let report = run(&spec, &handler, &TestLauncher { lose_after: None, stored: true }).unwrap();
    let store = remote.store("out");
    let keys = store.keys();
    assert!(!keys.iter().any(|k| k.contains("/sources/")), "the sources go once the job is done: {keys:?}");
    let m = manifest(&store, &report.job);
    for (index, record) in &m.done {
        let bytes = store.get(&JobLayout::new(&report.job).segment(*index)).unwrap().unwrap();
        assert_eq!(stylize_engine::digest(&bytes), record.sha256, "shard {index}: recorded as stored");
        let key = JobLayout::new(&report.job).segment(*index);
        assert_eq!(store.writes(&key), 1, "{key}: written by its worker only, not again by the gather");
        assert_eq!(store.writes(&JobLayout::new(&report.job).source(*index)), 1, "each source stored once");
    }
    assert_eq!(
        report.timings.iter().map(|t| t.segment_out_bytes).sum::<u64>(),
        m.done.values().map(|r| r.bytes).sum::<u64>()
    );
    assert_eq!(video_packets(&output_file(&store, "out.mp4", dir.path())), video_packets(&input));
}
