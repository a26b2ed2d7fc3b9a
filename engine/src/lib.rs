//! The generic batch-scoring engine under stylize.
//!
//! It works on packets and bytes, never on pixels: [`probe`] reads what a
//! video holds, [`plan`] holds the shard types, [`scatter`] cuts a shard
//! into a small standalone segment by stream copy, [`concat`] joins encoded
//! segments and copies the source audio untouched, [`store`] keeps job
//! state and commits outputs atomically, and [`job`] names a job and keeps
//! its manifest so that a re-run redoes only what is missing.
#![deny(missing_docs)]

pub mod azure;
pub mod concat;
pub mod container;
pub mod error;
pub mod job;
pub mod location;
pub mod picture;
pub mod plan;
pub mod probe;
pub mod scatter;
pub mod store;
pub mod task;
pub mod transport;

pub use error::{EngineError, Result};

/// Initialise FFmpeg once per process and keep its own logging quiet: the
/// engine reports problems through its errors, not through FFmpeg's stderr.
pub fn init() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        ffmpeg_next::init().expect("FFmpeg initialisation cannot fail after linking");
        ffmpeg_next::log::set_level(ffmpeg_next::log::Level::Fatal);
    });
}
