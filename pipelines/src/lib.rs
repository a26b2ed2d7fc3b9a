//! Concrete pipelines on the stylize engine. [`video_style`] is the first:
//! a whole video through a style model, shard by shard, stitched back with
//! its original audio.
#![deny(missing_docs)]

pub mod error;
pub mod flicker;
pub mod jobs;
pub mod styles;
pub mod video_style;

pub use error::PipelineError;
