//! report: the video style pipeline's part of the job report (the engine
//! writes the rest, `stylize_engine::JobReport`).

use crate::flicker::FlickerPair;
use serde::{Deserialize, Serialize};

pub use stylize_engine::{ShardTiming, Transfer, VideoFacts, WorkerSummary};

/// What a style job did: the engine's report with the pipeline's facts.
pub type JobReport = stylize_engine::JobReport<StyleFacts>;

/// The video style pipeline's part of the report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StyleFacts {
    /// What ran: model, style, device.
    pub model: String,
    /// Temporal stability of the output against the input's own.
    pub flicker: Option<Flicker>,
}

/// Flicker figures (see `stylize_worker::flicker`): the input measured
/// against itself, and the output against the input.
pub type Flicker = FlickerPair;
