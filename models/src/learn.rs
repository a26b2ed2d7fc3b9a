//! learn: a new style for the built-in network, fitted to a painting.
//!
//! Dumoulin et al. (2017) show that a style of their network lives in the
//! conditional instance-norm parameters alone: a scale and a shift per
//! channel of each norm layer (here 18 layers, 2 x 26 x C numbers, a few
//! thousand per style). Learning one keeps every convolution frozen and
//! fits one row of those tables with Adam, on a perceptual loss (Gatys et
//! al.): Gram matrices of VGG19 activations (relu1_1 … relu4_1) against
//! the painting's, plus VGG19 relu4_2 against the content images', over
//! frames of the user's video or a few sample images. The row starts from
//! the built-in style closest to the painting. The result is a small JSON
//! file; with it, the network runs as for a built-in style.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::{CModule, Device, IValue, Kind, Reduction, Tensor};

use crate::catalog::NUM_STYLES;
use crate::device::DeviceChoice;
use crate::error::{first_line, ModelError};

/// The network a learned style belongs to.
pub const LEARNED_MODEL: &str = "multistyle26-cin-v1";

/// A learned style: one row of every conditional instance-norm table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LearnedStyle {
    /// The network ([`LEARNED_MODEL`]).
    pub model: String,
    /// The row of the tables it replaces when used.
    pub slot: usize,
    /// One row per norm table, in the module's parameter order.
    pub rows: Vec<Vec<f32>>,
}

/// How to learn.
#[derive(Debug, Clone)]
pub struct LearnOptions {
    /// Adam steps.
    pub steps: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Side (pixels) the painting and content images are resized to.
    pub size: i64,
    /// Weight of the style term.
    pub style_weight: f64,
    /// Weight of the content term.
    pub content_weight: f64,
    /// Where to train.
    pub device: DeviceChoice,
}

impl Default for LearnOptions {
    fn default() -> Self {
        LearnOptions {
            steps: 200,
            learning_rate: 0.02,
            size: 256,
            style_weight: 1e3,
            content_weight: 1.0,
            device: DeviceChoice::Auto,
        }
    }
}

/// What learning achieved, in the style loss (Gram distance to the painting).
#[derive(Debug, Clone, Serialize)]
pub struct LearnReport {
    /// The built-in style closest to the painting, and its style loss.
    pub closest_builtin: (usize, f64),
    /// Style loss at step 0 (the closest built-in style).
    pub initial_style_loss: f64,
    /// Style loss after learning.
    pub final_style_loss: f64,
}

/// An RGB24 image.
pub struct Image<'a> {
    /// Packed RGB24.
    pub rgb: &'a [u8],
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

fn vgg_path() -> PathBuf {
    crate::model_dir().join("vgg19_features.pt")
}

/// The conditional instance-norm tables of the network: its `[26, C]`
/// parameters, in order.
pub(crate) fn norm_tables(module: &CModule, path: &Path) -> Result<Vec<Tensor>, ModelError> {
    let params =
        module.named_parameters().map_err(|e| ModelError::Load { path: path.to_path_buf(), reason: first_line(&e) })?;
    let tables: Vec<Tensor> =
        params.into_iter().filter(|(_, t)| t.dim() == 2 && t.size()[0] == NUM_STYLES as i64).map(|(_, t)| t).collect();
    if tables.is_empty() {
        return Err(ModelError::Load {
            path: path.to_path_buf(),
            reason: "no style tables (re-run scripts/setup.sh to convert the model)".into(),
        });
    }
    Ok(tables)
}

impl LearnedStyle {
    /// Put this style into its row of the network's tables.
    pub(crate) fn install(&self, module: &CModule, path: &Path) -> Result<(), ModelError> {
        let tables = norm_tables(module, path)?;
        if tables.len() != self.rows.len() || tables.iter().zip(&self.rows).any(|(t, r)| t.size()[1] != r.len() as i64)
        {
            return Err(ModelError::Shape {
                path: path.to_path_buf(),
                reason: "the learned style does not fit this network".into(),
            });
        }
        tch::no_grad(|| {
            for (t, r) in tables.iter().zip(&self.rows) {
                let row = Tensor::from_slice(r).to_device(t.device()).to_kind(t.kind());
                t.get(self.slot as i64).copy_(&row);
            }
        });
        Ok(())
    }

    /// Read a saved learned style, refusing corrupt files and other networks.
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let s: LearnedStyle = crate::saved::read_saved(path, LEARNED_MODEL, |s: &LearnedStyle| &s.model)?;
        if s.slot >= NUM_STYLES || s.rows.is_empty() || s.rows.iter().flatten().any(|x| !x.is_finite()) {
            return Err(ModelError::Style { spec: path.display().to_string(), reason: "corrupt learned style".into() });
        }
        Ok(s)
    }

    /// Save atomically (temp file + rename).
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        crate::saved::write_saved(self, path)
    }
}

fn to_tensor(img: &Image, size: i64, device: Device) -> Result<Tensor, tch::TchError> {
    let x = Tensor::from_slice(img.rgb)
        .view([1, i64::from(img.height), i64::from(img.width), 3])
        .permute([0, 3, 1, 2])
        .to_kind(Kind::Float)
        / 255.0;
    Ok(x.f_internal_upsample_bilinear2d_aa([size, size], false, None, None)?.clamp(0.0, 1.0).to_device(device))
}

fn gram(f: &Tensor) -> Tensor {
    let s = f.size();
    let (n, c, hw) = (s[0], s[1], s[2] * s[3]);
    let f = f.view([n, c, hw]);
    f.bmm(&f.transpose(1, 2)) / (c * hw) as f64
}

fn features(vgg: &CModule, x: &Tensor) -> Result<Vec<Tensor>, tch::TchError> {
    match vgg.forward_is(&[IValue::Tensor(x.shallow_clone())])? {
        IValue::Tuple(items) => items
            .into_iter()
            .map(|v| match v {
                IValue::Tensor(t) => Ok(t),
                _ => Err(tch::TchError::Kind("VGG output is not a tensor".into())),
            })
            .collect(),
        _ => Err(tch::TchError::Kind("VGG output is not a tuple".into())),
    }
}

/// Where a learning run is, for a progress display: loading takes
/// seconds and trying the 26 built-in styles as a start tens of seconds
/// on a CPU, before the first step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LearnProgress {
    /// The network and VGG-19 are loaded.
    Loaded,
    /// `tried` of the 26 built-in styles scored as a start.
    Closest {
        /// How many so far.
        tried: usize,
    },
    /// Step `step` done.
    Step {
        /// 1-based.
        step: usize,
        /// The loss minimised (style and content, weighted).
        loss: f64,
        /// The style loss against the closest built-in style's: 1 at the
        /// start, lower as the painting's style is learned.
        style_share: f64,
    },
}

/// Fit a new style to `painting` over `contents`; `progress` hears what it
/// is doing (for a progress display).
pub fn learn(
    painting: &Image,
    contents: &[Image],
    options: &LearnOptions,
    progress: &dyn Fn(LearnProgress),
) -> Result<(LearnedStyle, LearnReport), ModelError> {
    let net_path = crate::model_dir().join("multistyle26.pt");
    let device = options.device.resolve()?;
    let load = |p: &Path| {
        CModule::load_on_device(p, device)
            .map_err(|e| ModelError::Load { path: p.to_path_buf(), reason: first_line(&e) })
    };
    let mut net = load(&net_path)?;
    net.set_eval();
    let mut vgg = load(&vgg_path())?;
    vgg.set_eval();
    progress(LearnProgress::Loaded);
    let fail = |e: tch::TchError| ModelError::Forward {
        path: net_path.clone(),
        batch: contents.len(),
        width: options.size as u32,
        height: options.size as u32,
        reason: first_line(&e),
    };
    tch::manual_seed(0);

    let size = options.size;
    let style_img = to_tensor(painting, size, device).map_err(fail)?;
    let content = Tensor::cat(
        &contents.iter().map(|c| to_tensor(c, size, device)).collect::<Result<Vec<_>, _>>().map_err(fail)?,
        0,
    );
    let n = content.size()[0];
    let (targets, content_target) = tch::no_grad(|| -> Result<(Vec<Tensor>, Tensor), tch::TchError> {
        let fs = features(&vgg, &style_img)?;
        let grams = fs[..4].iter().map(|f| gram(f).expand([n, -1, -1], false)).collect();
        let fc = features(&vgg, &content)?;
        Ok((grams, fc[4].shallow_clone()))
    })
    .map_err(fail)?;
    let one_hot = |slot: usize| {
        let mut w = vec![0f32; NUM_STYLES];
        w[slot] = 1.0;
        Tensor::from_slice(&w).to_device(device)
    };
    let style_loss = |y: &Tensor| -> Result<(Tensor, Tensor), tch::TchError> {
        let fs = features(&vgg, y)?;
        let mut s = Tensor::zeros([], (Kind::Float, device));
        for (f, g) in fs[..4].iter().zip(&targets) {
            s += gram(f).mse_loss(g, Reduction::Mean);
        }
        let c = fs[4].mse_loss(&content_target, Reduction::Mean);
        Ok((s, c))
    };
    let run = |net: &CModule, slot: usize| net.forward_ts(&[content.shallow_clone(), one_hot(slot)]);

    // Start from the closest built-in style.
    let mut losses = Vec::with_capacity(NUM_STYLES);
    tch::no_grad(|| -> Result<(), tch::TchError> {
        for slot in 0..NUM_STYLES {
            losses.push(style_loss(&run(&net, slot)?)?.0.double_value(&[]));
            progress(LearnProgress::Closest { tried: slot + 1 });
        }
        Ok(())
    })
    .map_err(fail)?;
    let (slot, best) = losses.iter().copied().enumerate().min_by(|a, b| a.1.total_cmp(&b.1)).expect("26 styles");

    let tables = norm_tables(&net, &net_path)?;
    for t in &tables {
        let _ = t.set_requires_grad(true);
    }
    let (b1, b2, eps) = (0.9f64, 0.999f64, 1e-8f64);
    let mut moments: Vec<(Tensor, Tensor)> =
        tables.iter().map(|t| (t.get(slot as i64).zeros_like(), t.get(slot as i64).zeros_like())).collect();
    for step in 1..=options.steps {
        for t in &tables {
            let mut g = t.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
        let y = run(&net, slot).map_err(fail)?;
        let (s, c) = style_loss(&y).map_err(fail)?;
        let loss = &s * options.style_weight + &c * options.content_weight;
        loss.backward();
        tch::no_grad(|| {
            for (t, (m, v)) in tables.iter().zip(moments.iter_mut()) {
                let g = t.grad().get(slot as i64);
                *m = &*m * b1 + &g * (1.0 - b1);
                *v = &*v * b2 + (&g * &g) * (1.0 - b2);
                let mhat = &*m / (1.0 - b1.powi(step as i32));
                let vhat = &*v / (1.0 - b2.powi(step as i32));
                let update = mhat / (vhat.sqrt() + eps) * options.learning_rate;
                let mut row = t.get(slot as i64);
                let _ = row.f_sub_(&update);
            }
        });
        let style_share = s.double_value(&[]) / best.max(f64::MIN_POSITIVE);
        progress(LearnProgress::Step { step, loss: loss.double_value(&[]), style_share });
    }
    for t in &tables {
        let _ = t.set_requires_grad(false);
    }
    let final_loss = tch::no_grad(|| style_loss(&run(&net, slot)?).map(|l| l.0.double_value(&[]))).map_err(fail)?;
    let rows = tables
        .iter()
        .map(|t| Vec::<f32>::try_from(t.get(slot as i64).to_kind(Kind::Float).to_device(Device::Cpu)).map_err(fail))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((
        LearnedStyle { model: LEARNED_MODEL.into(), slot, rows },
        LearnReport { closest_builtin: (slot, best), initial_style_loss: best, final_style_loss: final_loss },
    ))
}
