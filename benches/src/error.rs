//! The bench's error: a step that could not be measured, said in words,
//! or the pipeline's or the model's own error.

use stylize_models::ModelError;
use stylize_pipelines::PipelineError;

/// What can stop a benchmark.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// A step failed (a tool missing, a file not written), with its cause.
    #[error("{0}")]
    Step(String),
    /// A job of the engine failed.
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    /// The model failed to load or run.
    #[error(transparent)]
    Model(#[from] ModelError),
}

impl From<std::io::Error> for BenchError {
    fn from(e: std::io::Error) -> Self {
        BenchError::Step(format!("bench scratch space: {e}"))
    }
}

/// The bench's result type.
pub type Result<T, E = BenchError> = std::result::Result<T, E>;

/// Says what was being done when a step failed.
pub(crate) trait Context<T> {
    fn context(self, what: &str) -> Result<T>;
    fn with_context(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T, E: std::fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, what: &str) -> Result<T> {
        self.map_err(|e| BenchError::Step(format!("{what}: {e}")))
    }
    fn with_context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| BenchError::Step(format!("{}: {e}", what())))
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, what: &str) -> Result<T> {
        self.ok_or_else(|| BenchError::Step(what.to_string()))
    }
    fn with_context(self, what: impl FnOnce() -> String) -> Result<T> {
        self.ok_or_else(|| BenchError::Step(what()))
    }
}

/// Stop with a step's error, `format!`-style.
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::error::BenchError::Step(format!($($arg)*)))
    };
}
pub(crate) use bail;
