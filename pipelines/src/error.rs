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
    /// A worker went silent: under MPI the process cannot be shut down
    /// cleanly with it (its finalize would wait on the lost rank), so it
    /// must exit at once after saying so.
    pub fn is_worker_lost(&self) -> bool {
        matches!(self, PipelineError::Engine(stylize_engine::EngineError::WorkerLost { .. }))
    }

    /// Failures a retry cannot fix: the input is not there or not a
    /// video, the model or style is wrong.
    pub fn is_permanent(&self) -> bool {
        use stylize_engine::EngineError;
        match self {
            PipelineError::Engine(EngineError::BadInput { .. }) | PipelineError::Model(_) => true,
            PipelineError::Engine(EngineError::Worker { kind, .. }) => kind.is_permanent(),
            _ => false,
        }
    }

    /// True for a mistake on the command line itself (a style name that
    /// does not exist, a blend that cannot be): the CLI exits 2 for those,
    /// as for a bad flag.
    pub fn is_usage(&self) -> bool {
        use stylize_models::ModelError;
        matches!(self, PipelineError::Model(ModelError::UnknownStyle { .. } | ModelError::StyleSpec { .. }))
    }
}
