//! Style models behind one trait.
//!
//! The engine and the worker see a [`StyleModel`]: RGB frames in, RGB
//! frames of the same size out. The libtorch implementation
//! ([`torch::TorchModel`]) runs the built-in 26-style network or a user's
//! TorchScript module; tests of the pipeline can plug in anything cheaper.
#![deny(missing_docs)]

pub mod arbitrary;
pub mod catalog;
pub mod device;
pub mod error;
pub mod learn;
mod planar;
mod saved;
pub mod styles;
pub mod torch;

use std::path::PathBuf;

pub use error::ModelError;

/// A batch of same-sized RGB24 frames (row-major, 3 bytes a pixel).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbBatch {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// One buffer of `width * height * 3` bytes per frame.
    pub frames: Vec<Vec<u8>>,
}

impl RgbBatch {
    /// Bytes in one frame.
    pub fn frame_bytes(&self) -> usize {
        self.width as usize * self.height as usize * 3
    }
}

/// A batch of same-sized RGB frames of 16-bit samples (0..=65535, three a
/// pixel), for sources deeper than 8 bits and HDR: the decoded depth goes
/// into the model, and its float output comes back without an 8-bit step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeepBatch {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// One buffer of `width * height * 3` samples per frame.
    pub frames: Vec<Vec<u16>>,
}

/// Maps images to stylized images of the same size.
pub trait StyleModel: Send {
    /// What runs, for logs and reports (model file, style, device).
    fn describe(&self) -> String;
    /// A short label of the style, for output names (`mosaic`).
    fn label(&self) -> String;
    /// True when it runs on a GPU (which wants larger batches).
    fn is_cuda(&self) -> bool {
        false
    }
    /// The precision it runs in (`auto` resolved): it shapes the output
    /// bytes, so it is a job parameter.
    fn precision(&self) -> crate::torch::Precision {
        crate::torch::Precision::Fp32
    }
    /// Stylize every frame of the batch.
    fn stylize(&mut self, batch: RgbBatch) -> Result<RgbBatch, ModelError>;
    /// Stylize frames of 16-bit samples. A model that computes in floats
    /// (libtorch's) takes and gives them as they are; by default they go
    /// through [`StyleModel::stylize`] at 8 bits.
    fn stylize_deep(&mut self, batch: DeepBatch) -> Result<DeepBatch, ModelError> {
        let narrow = |f: &Vec<u16>| f.iter().map(|v| ((u32::from(*v) * 255 + 32_767) / 65_535) as u8).collect();
        let out = self.stylize(RgbBatch {
            width: batch.width,
            height: batch.height,
            frames: batch.frames.iter().map(narrow).collect(),
        })?;
        let frames = out.frames.iter().map(|f| f.iter().map(|v| u16::from(*v) * 257).collect()).collect();
        Ok(DeepBatch { width: batch.width, height: batch.height, frames })
    }
}

/// Where named styles saved from paintings live: `$STYLIZE_STYLES`, else
/// `$XDG_DATA_HOME/stylize/styles`, else `~/.local/share/stylize/styles`.
pub fn styles_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("STYLIZE_STYLES") {
        return PathBuf::from(dir);
    }
    if let Some(data) = std::env::var_os("XDG_DATA_HOME") {
        return PathBuf::from(data).join("stylize/styles");
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/share/stylize/styles")
}

/// Where converted models live: `$STYLIZE_MODELS`, else
/// `~/.cache/stylize/models` (filled by `scripts/setup.sh`).
pub fn model_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("STYLIZE_MODELS") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache/stylize/models")
}

/// The CUDA devices libtorch sees here (0 without a GPU or a CUDA build).
pub fn cuda_devices() -> i64 {
    tch::Cuda::device_count()
}
