//! The pipeline's error: one of the layers below it, passed through as is
//! (each already names its file, shard or model).

/// What can go wrong while a pipeline runs.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// Media, storage or job state.
    #[error(transparent)]
    Engine(#[from] stylize_engine::EngineError),
    /// A shard's decode, model or encode stage.
    #[error(transparent)]
    Worker(#[from] stylize_worker::WorkerError),
    /// Loading or checking the model.
    #[error(transparent)]
    Model(#[from] stylize_models::ModelError),
    /// A file or name the user gave that cannot be used (an image, a style
    /// name, a job id), with the reason.
    #[error("{}: {reason}", path.display())]
    Input {
        /// The file or name at fault.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// Measuring flicker failed.
    #[error(transparent)]
    Flicker(#[from] crate::flicker::FlickerError),
}

impl PipelineError {
    /// A rank went silent: MPI cannot be shut down cleanly with it (its
    /// finalize would wait on the lost rank), so the process must exit
    /// at once after saying so.
    pub fn is_rank_lost(&self) -> bool {
        matches!(self, PipelineError::Engine(stylize_engine::EngineError::RankLost { .. }))
    }

    /// True for a mistake on the command line itself (a style name that
    /// does not exist): the CLI exits 2 for those, as for a bad flag.
    pub fn is_usage(&self) -> bool {
        matches!(self, PipelineError::Model(stylize_models::ModelError::UnknownStyle { .. }))
    }
}
