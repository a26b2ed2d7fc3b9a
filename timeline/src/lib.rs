//! What a job did, drawn from its state (the manifest the engine keeps as
//! shards finish, and the report once committed), for a person: a lane per
//! worker and a bar per shard attempt, frames per second over time, the
//! slowest shards, retries and failures with their causes, the flicker
//! figures, the job's parameters and output. One self-contained HTML page
//! (inline SVG, no fetch, no script) and the same timeline as a PNG.
//! Works for running, failed and finished jobs alike: it draws what is
//! recorded.
#![deny(missing_docs)]

mod model;
mod page;
mod png;

pub use model::{Attempt, Outcome, Timeline};
pub use page::html;
pub use png::draw_png;

/// What can go wrong while drawing.
#[derive(Debug, thiserror::Error)]
pub enum TimelineError {
    /// Writing the picture failed.
    #[error("{path}: {reason}")]
    Write {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
}
