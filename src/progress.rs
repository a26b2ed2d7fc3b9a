//! The progress bar: one line on stderr with frames/s and ETA. Hidden
//! automatically when stderr is not a terminal (CI, logs, mpirun).

use indicatif::{ProgressBar, ProgressStyle};
use stylize_pipelines::video_style::Progress;

/// An indicatif bar behind the pipeline's [`Progress`] trait.
pub struct Bar(ProgressBar);

impl Bar {
    pub fn new() -> Self {
        let bar = ProgressBar::hidden();
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} frames  {per_sec}  ETA {eta}",
            )
            .expect("a valid template"),
        );
        Bar(bar)
    }

    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Progress for Bar {
    fn start(&self, frames: u64) {
        self.0.set_length(frames);
        self.0.set_draw_target(indicatif::ProgressDrawTarget::stderr());
    }

    fn advance(&self, frames: u64) {
        self.0.inc(frames);
    }
}
