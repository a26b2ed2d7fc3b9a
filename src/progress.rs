//! Progress on stderr, three ways: a bar on a terminal (stage, whole-video
//! frame counts, rate to one decimal, ETA); plain lines when stderr is a
//! file or a pipe (each stage, and each tenth of the frames); or one JSON
//! object a line (`--progress json`, like ffmpeg's `-progress`) for
//! scripts. It also keeps the shard counts an interrupt reports.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use stylize_pipelines::video_style::{Counts, Progress};

/// How progress is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The indicatif bar (stderr is a terminal).
    Bar,
    /// Plain lines (stderr is a file or pipe).
    Lines,
    /// JSON lines.
    Json,
    /// Nothing (`-q`, `--progress off`).
    Off,
}

/// The job's progress, drawn in one [`Mode`].
pub struct Reporter {
    mode: Mode,
    /// `-q`: errors only, no warnings either.
    quiet: bool,
    bar: ProgressBar,
    started: Instant,
    /// When the frames began (the rate counts from there, not from the
    /// model's load or a prompt).
    frames_started: Mutex<Option<Instant>>,
    /// The last line was printed (a failure and an interrupt may both try).
    finished: std::sync::atomic::AtomicBool,
    stage: Mutex<&'static str>,
    frames: AtomicU64,
    frames_done: AtomicU64,
    /// Frames done when the frames stage began (reused ones), for the rate.
    frames_at_start: AtomicU64,
    shards: AtomicUsize,
    shards_kept: AtomicUsize,
    /// The last tenth printed in `Lines` mode.
    tenth: AtomicU64,
    /// When the last JSON frames line was printed, in ms since start.
    last_json_ms: AtomicU64,
}

impl Reporter {
    pub fn new(mode: Mode, quiet: bool) -> Self {
        let bar = ProgressBar::hidden();
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} {prefix} [{elapsed_precise}] {wide_bar} {pos}/{len} frames  {rate}  ETA {eta}",
            )
            .expect("a valid template")
            .with_key("rate", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
                let _ = write!(w, "{:.1} frames/s", s.per_sec());
            }),
        );
        Reporter {
            mode,
            quiet,
            bar,
            started: Instant::now(),
            frames_started: Mutex::new(None),
            finished: std::sync::atomic::AtomicBool::new(false),
            stage: Mutex::new("start"),
            frames: AtomicU64::new(0),
            frames_done: AtomicU64::new(0),
            frames_at_start: AtomicU64::new(0),
            shards: AtomicUsize::new(0),
            shards_kept: AtomicUsize::new(0),
            tenth: AtomicU64::new(0),
            last_json_ms: AtomicU64::new(0),
        }
    }

    /// Shards kept in the job's state and the plan's total (`None` before
    /// the plan), for the line an interrupt prints.
    pub fn shards_kept(&self) -> Option<(usize, usize)> {
        let total = self.shards.load(Ordering::SeqCst);
        (total > 0).then(|| (self.shards_kept.load(Ordering::SeqCst), total))
    }

    /// Clear the bar (before a summary or an error line); in JSON, the
    /// last line says how it ended: `done`, `failed` or `interrupted`.
    pub fn finish(&self, how: &str) {
        self.bar.finish_and_clear();
        if self.mode == Mode::Json && !self.finished.swap(true, Ordering::SeqCst) {
            self.json(how);
        }
    }

    fn rate(&self) -> f64 {
        let Some(since) = *self.frames_started.lock().expect("not poisoned") else { return 0.0 };
        let secs = since.elapsed().as_secs_f64();
        let new = self.frames_done.load(Ordering::SeqCst).saturating_sub(self.frames_at_start.load(Ordering::SeqCst));
        if secs > 0.0 {
            new as f64 / secs
        } else {
            0.0
        }
    }

    fn json(&self, stage: &str) {
        let line = serde_json::json!({
            "stage": stage,
            "elapsed_secs": (self.started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
            "frames_done": self.frames_done.load(Ordering::SeqCst),
            "frames": self.frames.load(Ordering::SeqCst),
            "shards_done": self.shards_kept.load(Ordering::SeqCst),
            "shards": self.shards.load(Ordering::SeqCst),
            "frames_per_sec": (self.rate() * 10.0).round() / 10.0,
        });
        eprintln!("{line}");
    }
}

impl Progress for Reporter {
    fn stage(&self, stage: &'static str) {
        *self.stage.lock().expect("not poisoned") = stage;
        match self.mode {
            Mode::Bar => self.bar.set_prefix(stage),
            Mode::Lines => eprintln!("stylize: {stage}"),
            // The frames stage's line comes from `start`, with its counts.
            Mode::Json if stage != "frames" => self.json(stage),
            _ => {}
        }
    }

    fn start(&self, counts: Counts) {
        *self.frames_started.lock().expect("not poisoned") = Some(Instant::now());
        self.frames.store(counts.frames, Ordering::SeqCst);
        self.frames_done.store(counts.frames_done, Ordering::SeqCst);
        self.frames_at_start.store(counts.frames_done, Ordering::SeqCst);
        self.shards.store(counts.shards, Ordering::SeqCst);
        self.shards_kept.store(counts.shards_done, Ordering::SeqCst);
        if let Some(tenth) = (counts.frames_done * 10).checked_div(counts.frames) {
            self.tenth.store(tenth, Ordering::SeqCst);
        }
        match self.mode {
            Mode::Bar => {
                self.bar.set_length(counts.frames);
                self.bar.set_position(counts.frames_done);
                self.bar.reset_eta();
                self.bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
            }
            Mode::Lines if counts.shards_done > 0 => eprintln!(
                "stylize: resuming: {} of {} shards ({} of {} frames) done earlier",
                counts.shards_done, counts.shards, counts.frames_done, counts.frames
            ),
            Mode::Json => self.json("frames"),
            _ => {}
        }
    }

    fn advance(&self, frames: u64) {
        let done = self.frames_done.fetch_add(frames, Ordering::SeqCst) + frames;
        let total = self.frames.load(Ordering::SeqCst).max(1);
        match self.mode {
            Mode::Bar => self.bar.inc(frames),
            Mode::Lines => {
                let tenth = done * 10 / total;
                if tenth > self.tenth.swap(tenth, Ordering::SeqCst) {
                    eprintln!("stylize: frames {done}/{total} ({}%), {:.1} frames/s", done * 100 / total, self.rate());
                }
            }
            Mode::Json => {
                // At most two lines a second, and always the last one.
                let now = self.started.elapsed().as_millis() as u64;
                if now >= self.last_json_ms.load(Ordering::SeqCst) + 500 || done >= total {
                    self.last_json_ms.store(now, Ordering::SeqCst);
                    self.json("frames");
                }
            }
            Mode::Off => {}
        }
    }

    fn shard_kept(&self) {
        self.shards_kept.fetch_add(1, Ordering::SeqCst);
    }

    fn warning(&self, message: &str) {
        match self.mode {
            _ if self.quiet => {}
            Mode::Json => {
                let stage = *self.stage.lock().expect("not poisoned");
                eprintln!("{}", serde_json::json!({ "stage": stage, "warning": message }));
            }
            Mode::Bar => self.bar.suspend(|| eprintln!("stylize: warning: {message}")),
            Mode::Lines | Mode::Off => eprintln!("stylize: warning: {message}"),
        }
    }
}
