//! Errors of the model layer: each names the model file or the style spec.

use std::path::PathBuf;

/// What can go wrong loading or running a style model.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The model file could not be loaded as TorchScript.
    #[error("{}: cannot load TorchScript model ({reason})", path.display())]
    Load {
        /// The model file.
        path: PathBuf,
        /// libtorch's reason, first line only.
        reason: String,
    },
    /// The model loaded but does not map images to images of the same size.
    #[error("{}: {reason}", path.display())]
    Shape {
        /// The model file.
        path: PathBuf,
        /// What was expected and what came out.
        reason: String,
    },
    /// A style name, index or blend that does not parse.
    #[error("{spec}: {reason}")]
    Style {
        /// The style spec as given.
        spec: String,
        /// Why it was refused.
        reason: String,
    },
    /// A style spec that names styles which cannot go together or weighs
    /// them wrongly: a mistake on the command line (the CLI exits 2).
    #[error("{spec}: {reason}")]
    StyleSpec {
        /// The style spec as given.
        spec: String,
        /// Why it was refused.
        reason: String,
    },
    /// A style name that is neither built in nor saved: a mistake on the
    /// command line (the CLI exits 2), with the closest name when near.
    #[error("{spec}: {reason}")]
    UnknownStyle {
        /// The style spec as given.
        spec: String,
        /// Which name is unknown, and what it may have meant.
        reason: String,
    },
    /// The requested device is not there (e.g. `cuda` without a GPU).
    #[error("device {device}: {reason}")]
    Device {
        /// The device asked for.
        device: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// The forward pass failed.
    #[error("{}: inference failed on a batch of {batch} frames of {width}x{height} ({reason})", path.display())]
    Forward {
        /// The model file.
        path: PathBuf,
        /// Frames in the batch.
        batch: usize,
        /// Frame width.
        width: u32,
        /// Frame height.
        height: u32,
        /// libtorch's reason, first line only.
        reason: String,
    },
}

/// The first line of a libtorch error: its messages carry C++ backtraces.
pub(crate) fn first_line(e: &tch::TchError) -> String {
    e.to_string().lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("unknown error").to_string()
}
