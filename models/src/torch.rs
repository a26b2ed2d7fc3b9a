//! The libtorch implementation of [`StyleModel`]: TorchScript modules run
//! by `tch`, on CPU or CUDA, in fp32 or fp16, a batch at a time.

use std::path::{Path, PathBuf};

use tch::{CModule, Device, Kind, Tensor};

use crate::catalog::StyleBlend;
pub use crate::device::DeviceChoice;
use crate::error::{first_line, ModelError};
use crate::{DeepBatch, RgbBatch, StyleModel};

/// Numeric precision of the forward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// 32-bit floats everywhere.
    #[default]
    Fp32,
    /// 16-bit floats on CUDA (twice the throughput on tensor cores);
    /// on CPU it falls back to fp32, where half precision is slower.
    Fp16,
    /// bfloat16 on CPU and CUDA: fp32's range with 8 bits of mantissa.
    /// On CPUs with AVX-512 BF16 or AMX the 26-style network runs 2.3x as
    /// fast at 45 dB PSNR against fp32 (640x360); without them oneDNN
    /// emulates it, slower.
    Bf16,
    /// bf16 where it pays and holds: on a CPU that computes bf16 itself
    /// (AVX-512 BF16 or AMX), if the network's output on a check picture
    /// stays within [`AUTO_MIN_PSNR`] of fp32's; fp32 otherwise, and on
    /// CUDA (not measured there yet). Resolved once, when the model loads
    /// on the coordinator; the job's parameters carry the result to every
    /// rank.
    Auto,
}

impl Precision {
    /// The job-parameter spelling (`fp32`, `fp16`, `bf16`, `auto`).
    pub fn name(self) -> &'static str {
        match self {
            Precision::Fp32 => "fp32",
            Precision::Fp16 => "fp16",
            Precision::Bf16 => "bf16",
            Precision::Auto => "auto",
        }
    }

    /// The inverse of [`Precision::name`].
    pub fn from_name(name: &str) -> Option<Precision> {
        [Precision::Fp32, Precision::Fp16, Precision::Bf16, Precision::Auto].into_iter().find(|p| p.name() == name)
    }
}

/// The least PSNR (dB, RGB bytes) against fp32 at which `auto` takes bf16.
pub const AUTO_MIN_PSNR: f64 = 40.0;

/// Whether this CPU computes bf16 in hardware (AVX-512 BF16 or AMX), as
/// the kernel reports it, and oneDNN may use it: `ONEDNN_MAX_CPU_ISA=AVX2`
/// (with `ATEN_CPU_CAPABILITY=avx2`) runs libtorch as on an AVX2-only CPU,
/// where bf16 is emulated, so the AVX2 path can be measured and tested on
/// any machine of this kind.
pub fn cpu_computes_bf16() -> bool {
    if let Ok(isa) = std::env::var("ONEDNN_MAX_CPU_ISA") {
        let isa = isa.to_ascii_uppercase();
        if !(isa == "ALL" || isa.contains("BF16") || isa.contains("AMX") || isa.starts_with("AVX10")) {
            return false;
        }
    }
    cpu_flags().iter().any(|f| f == "avx512_bf16" || f == "amx_bf16")
}

/// The CPU's feature flags as Linux lists them (`avx2`, `avx512_bf16`…);
/// empty where there is no `/proc/cpuinfo`.
pub fn cpu_flags() -> Vec<String> {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags = info.lines().find(|l| l.starts_with("flags")).and_then(|l| l.split(':').nth(1)).unwrap_or("");
    flags.split_whitespace().map(str::to_string).collect()
}

/// The value range a user's module expects and produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PixelRange {
    /// 0 to 1 (the built-in network).
    #[default]
    Unit,
    /// 0 to 255 (PyTorch's fast-neural-style example).
    Byte,
}

/// Which network, and with which style.
#[derive(Debug, Clone)]
pub enum ModelSpec {
    /// The built-in 26-style network with a style blend.
    Builtin {
        /// The TorchScript file (`multistyle26.pt`).
        path: PathBuf,
        /// The style weights.
        blend: StyleBlend,
    },
    /// The arbitrary-style transformer with a style vector (from a
    /// painting, or saved).
    Arbitrary {
        /// The TorchScript file (`arbitrary_transform.pt`).
        path: PathBuf,
        /// The style.
        style: crate::arbitrary::StyleVector,
        /// A label for output names.
        label: String,
    },
    /// The built-in network with a learned style installed in its slot,
    /// alone or blended with built-in styles.
    Learned {
        /// The TorchScript file (`multistyle26.pt`).
        path: PathBuf,
        /// The style.
        style: crate::learn::LearnedStyle,
        /// The weights (the learned style's at its slot).
        blend: StyleBlend,
        /// A label for output names.
        label: String,
    },
    /// A user's TorchScript module mapping `[N,3,H,W]` to `[N,3,H,W]`.
    User {
        /// The TorchScript file.
        path: PathBuf,
        /// The range of its pixels.
        range: PixelRange,
    },
}

impl ModelSpec {
    /// The built-in network from the model directory, with a style blend.
    pub fn builtin(blend: StyleBlend) -> Self {
        ModelSpec::Builtin { path: crate::model_dir().join("multistyle26.pt"), blend }
    }

    /// The built-in network or the arbitrary-style one, as the style
    /// resolves.
    pub fn for_style(style: crate::styles::Style) -> Self {
        match style {
            crate::styles::Style::Builtin(blend) => ModelSpec::builtin(blend),
            crate::styles::Style::Image { vector, label } => {
                ModelSpec::Arbitrary { path: crate::arbitrary::transform_path(), style: vector, label }
            }
            crate::styles::Style::Learned { style, blend, label } => {
                ModelSpec::Learned { path: crate::model_dir().join("multistyle26.pt"), style, blend, label }
            }
        }
    }

    fn path(&self) -> &Path {
        match self {
            ModelSpec::Builtin { path, .. }
            | ModelSpec::User { path, .. }
            | ModelSpec::Arbitrary { path, .. }
            | ModelSpec::Learned { path, .. } => path,
        }
    }
}

/// A loaded, checked TorchScript style model.
pub struct TorchModel {
    module: CModule,
    path: PathBuf,
    device: Device,
    kind: Kind,
    style: Option<Tensor>,
    scale: f64,
    label: String,
    threads: Option<i32>,
    /// The style is a painting's vector (the arbitrary-style network), not
    /// a blend of the 26.
    painting: bool,
    /// PSNR against fp32 of the check `auto` ran, when it ran.
    checked_psnr: Option<f64>,
    /// Feed the pixels as 0-255 though the network takes 0-1 (see
    /// [`TorchModel::load_with_threads`]).
    whole_input: bool,
}

impl std::fmt::Debug for TorchModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Set libtorch's intra-op thread count (all models in the process).
pub fn set_threads(n: usize) {
    tch::set_num_threads(n.max(1) as i32);
}

impl TorchModel {
    /// Load the module, move it to the device, and check on a small image
    /// that it maps images to images of the same size, so that a wrong
    /// module is refused before any frame is decoded.
    pub fn load(spec: &ModelSpec, device: DeviceChoice, precision: Precision) -> Result<Self, ModelError> {
        Self::load_with_threads(spec, device, precision, None)
    }

    /// [`Self::load`] on `threads` CPU threads (default: all cores). The
    /// count shapes libtorch's CPU kernels (and their last bits), so it is
    /// set before the first call.
    pub fn load_with_threads(
        spec: &ModelSpec,
        device: DeviceChoice,
        precision: Precision,
        threads: Option<usize>,
    ) -> Result<Self, ModelError> {
        if precision == Precision::Auto {
            return Self::load_auto(spec, device, threads);
        }
        let path = spec.path().to_path_buf();
        if !path.is_file() {
            let hint = match spec {
                ModelSpec::Builtin { .. } | ModelSpec::Arbitrary { .. } | ModelSpec::Learned { .. } => {
                    " (run scripts/setup.sh to convert the built-in models)"
                }
                ModelSpec::User { .. } => "",
            };
            return Err(ModelError::Load { path, reason: format!("no such file{hint}") });
        }
        let device = device.resolve()?;
        let kind = match precision {
            Precision::Fp16 if device.is_cuda() => Kind::Half,
            Precision::Bf16 => Kind::BFloat16,
            _ => Kind::Float,
        };
        if device.is_cuda() {
            // No autotuning: cuDNN's benchmark mode picks convolution
            // algorithms by timing them, so two ranks, two GPUs or two
            // shards side by side could pick different ones and give other
            // last bits; the output must be the same bytes on any of them.
            tch::Cuda::cudnn_set_benchmark(false);
        }
        let mut module = CModule::load_on_device(&path, device)
            .map_err(|e| ModelError::Load { path: path.clone(), reason: first_line(&e) })?;
        module.set_eval();
        if kind != Kind::Float {
            module.to(device, kind, false);
        }
        let (style, scale, label) = match spec {
            ModelSpec::Builtin { blend, .. } => {
                let w = Tensor::from_slice(blend.weights()).to_device(device).to_kind(kind);
                (Some(w), 1.0, blend.label())
            }
            ModelSpec::User { range, .. } => {
                let scale = if *range == PixelRange::Byte { 255.0 } else { 1.0 };
                let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                (None, scale, stem)
            }
            ModelSpec::Learned { style, blend, label, .. } => {
                style.install(&module, &path)?;
                let w = Tensor::from_slice(blend.weights()).to_device(device).to_kind(kind);
                (Some(w), 1.0, label.clone())
            }
            ModelSpec::Arbitrary { style, label, .. } => {
                let v = Tensor::from_slice(&style.values)
                    .view([1, crate::arbitrary::STYLE_DIM as i64])
                    .to_device(device)
                    .to_kind(kind);
                (Some(v), 1.0, label.clone())
            }
        };
        let painting = matches!(spec, ModelSpec::Arbitrary { .. });
        // In bf16 (and fp16) k/255 is rounded to 8 (11) significant bits,
        // a loss at the input itself; whole numbers up to 256 are exact.
        // The 26-style network normalises its first layer's output per
        // channel (instance norm), so the input's scale does not matter
        // (fp32 with 0-255 input matches 0-1 at 76 dB): it gets the
        // pixels as they are. Mosaic on a natural frame, against fp32:
        // 38.2 dB with 0-1 input, 41.8 with 0-255.
        let whole_input = kind != Kind::Float && matches!(spec, ModelSpec::Builtin { .. } | ModelSpec::Learned { .. });
        let model = TorchModel {
            module,
            path,
            device,
            kind,
            style,
            scale,
            label,
            threads: threads.map(|n| n.max(1) as i32),
            painting,
            checked_psnr: None,
            whole_input,
        };
        model.check_shape()?;
        Ok(model)
    }

    /// `--precision auto`: fp32, or bf16 if the CPU computes it and the
    /// network's output on a check picture stays within [`AUTO_MIN_PSNR`]
    /// of fp32's.
    fn load_auto(spec: &ModelSpec, device: DeviceChoice, threads: Option<usize>) -> Result<Self, ModelError> {
        let fp32 = Self::load_with_threads(spec, device, Precision::Fp32, threads)?;
        if fp32.device.is_cuda() || !cpu_computes_bf16() {
            return Ok(fp32);
        }
        let mut fp32 = fp32;
        let picture = check_picture(256, 144);
        let want = fp32.stylize(picture.clone())?;
        // A module that cannot run in bf16 (a user's, with an op libtorch
        // has no bf16 kernel for) stays in fp32.
        let tried = Self::load_with_threads(spec, device, Precision::Bf16, threads)
            .and_then(|mut m| m.stylize(picture).map(|got| (m, got)));
        let (mut bf16, got) = match tried {
            Ok(pair) => pair,
            Err(e) => {
                tracing::info!(error = %e, "precision auto: the model does not run in bf16: fp32");
                return Ok(fp32);
            }
        };
        let psnr = psnr(&want.frames[0], &got.frames[0]);
        tracing::info!(psnr = format!("{psnr:.1}"), bar = AUTO_MIN_PSNR, "precision auto: bf16 against fp32");
        if psnr >= AUTO_MIN_PSNR {
            bf16.checked_psnr = Some(psnr);
            Ok(bf16)
        } else {
            fp32.checked_psnr = Some(psnr);
            Ok(fp32)
        }
    }

    /// The precision the model runs in (never `Auto`).
    pub fn precision(&self) -> Precision {
        match self.kind {
            Kind::Half => Precision::Fp16,
            Kind::BFloat16 => Precision::Bf16,
            _ => Precision::Fp32,
        }
    }

    /// Per-thread settings of libtorch, applied on whichever thread runs
    /// the model. The TorchScript executor's graph optimisations are off:
    /// it re-specialises the graph after a few calls, and outputs then
    /// depend (in the last bits) on how many calls a process has made,
    /// which broke byte-identical outputs across ranks and runs.
    fn prepare_thread(&self) {
        tch::jit::set_graph_executor_optimize(false);
        if let Some(n) = self.threads {
            tch::set_num_threads(n);
        }
    }

    /// Switch the built-in network to another style blend (no reload).
    /// Does nothing for a user's module, which has no style input.
    pub fn set_style(&mut self, blend: &StyleBlend) {
        if self.style.is_some() && !self.painting {
            self.style = Some(Tensor::from_slice(blend.weights()).to_device(self.device).to_kind(self.kind));
            self.label = blend.label();
        }
    }

    /// A short label of the style, for output names.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The device the model runs on.
    pub fn device(&self) -> Device {
        self.device
    }

    fn check_shape(&self) -> Result<(), ModelError> {
        self.prepare_thread();
        let x = Tensor::zeros([1, 3, 36, 52], (self.kind, self.device));
        let y = tch::no_grad(|| self.forward(&x)).map_err(|e| ModelError::Shape {
            path: self.path.clone(),
            reason: format!("not an image-to-image model: a [1,3,36,52] image fails ({})", first_line(&e)),
        })?;
        if y.size() != [1, 3, 36, 52] {
            return Err(ModelError::Shape {
                path: self.path.clone(),
                reason: format!("not an image-to-image model: a [1,3,36,52] image gives {:?}", y.size()),
            });
        }
        Ok(())
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor, tch::TchError> {
        // Both networks take a batch with one style for all of it (the
        // arbitrary-style one since its rebuild: scripts/export_arbitrary.py).
        match &self.style {
            Some(w) => self.module.forward_ts(&[x, w]),
            None => self.module.forward_ts(&[x]),
        }
    }

    /// Run on a tensor already in place: `[N,3,H,W]`, values in the
    /// model's range, on the model's device and kind. For benchmarks of the
    /// model alone.
    pub fn forward_tensor(&self, x: &Tensor) -> Result<Tensor, ModelError> {
        self.prepare_thread();
        let size = x.size();
        tch::no_grad(|| self.forward(x)).map_err(|e| ModelError::Forward {
            path: self.path.clone(),
            batch: size.first().copied().unwrap_or(0) as usize,
            width: size.get(3).copied().unwrap_or(0) as u32,
            height: size.get(2).copied().unwrap_or(0) as u32,
            reason: first_line(&e),
        })
    }

    /// A random input for [`Self::forward_tensor`] in the memory layout
    /// [`StyleModel::stylize`] feeds the model: planar (NCHW) on the CPU,
    /// where frames are converted in one pass; channels-last on CUDA,
    /// where packed RGB is permuted on the device.
    pub fn example_input(&self, batch: usize, width: u32, height: u32) -> Tensor {
        let h = (i64::from(height) + 3) / 4 * 4;
        let w = (i64::from(width) + 3) / 4 * 4;
        let x = (Tensor::rand([batch as i64, h, w, 3], (self.kind, self.device)) * self.scale).permute([0, 3, 1, 2]);
        if self.device.is_cuda() {
            x
        } else {
            x.contiguous()
        }
    }
    /// Wait for the device to finish queued work (for timings).
    pub fn synchronize(&self) {
        if let Device::Cuda(i) = self.device {
            tch::Cuda::synchronize(i as i64);
        }
    }
}

impl StyleModel for TorchModel {
    fn describe(&self) -> String {
        let checked = self.checked_psnr.map(|p| format!(", auto: {p:.1} dB against fp32")).unwrap_or_default();
        format!("{} [{}] on {:?} ({}{checked})", self.path.display(), self.label, self.device, self.precision().name())
    }

    fn precision(&self) -> Precision {
        TorchModel::precision(self)
    }

    fn label(&self) -> String {
        self.label.clone()
    }

    fn is_cuda(&self) -> bool {
        self.device.is_cuda()
    }

    fn stylize(&mut self, batch: RgbBatch) -> Result<RgbBatch, ModelError> {
        let (w, h, n) = (i64::from(batch.width), i64::from(batch.height), batch.frames.len() as i64);
        if n == 0 {
            return Ok(batch);
        }
        self.prepare_thread();
        let fail = |e: tch::TchError| ModelError::Forward {
            path: self.path.clone(),
            batch: n as usize,
            width: batch.width,
            height: batch.height,
            reason: first_line(&e),
        };
        if !self.device.is_cuda() && matches!(self.kind, Kind::Float | Kind::BFloat16) {
            // On the CPU, one pass each way (see `planar`), in the model's
            // own kind.
            let frames = self.planar_forward(batch.frames, batch.width, batch.height).map_err(fail)?;
            return Ok(RgbBatch { width: batch.width, height: batch.height, frames });
        }
        let out = tch::no_grad(|| -> Result<Tensor, tch::TchError> {
            let mut host = Vec::with_capacity(batch.frame_bytes() * n as usize);
            for f in &batch.frames {
                host.extend_from_slice(f);
            }
            let x = Tensor::from_slice(&host).view([n, h, w, 3]);
            let x = if self.device.is_cuda() {
                x.pin_memory(self.device).to_device_(self.device, Kind::Uint8, true, false)
            } else {
                x
            };
            let x = x.permute([0, 3, 1, 2]).to_kind(self.kind);
            let x = if self.scale == 1.0 && !self.whole_input { x / 255.0 } else { x };
            // The built-in network needs sides that are multiples of 4:
            // reflect-pad (no dark border bleeding in), crop back after.
            let (ph, pw) = ((4 - h % 4) % 4, (4 - w % 4) % 4);
            let x = if ph > 0 || pw > 0 { x.f_reflection_pad2d([0, pw, 0, ph])? } else { x };
            let y = self.forward(&x)?;
            let y = y.f_narrow(2, 0, h)?.f_narrow(3, 0, w)?;
            let y = if self.scale == 1.0 { y * 255.0 } else { y };
            Ok(y.to_kind(Kind::Float)
                .clamp(0.0, 255.0)
                .round()
                .to_kind(Kind::Uint8)
                .permute([0, 2, 3, 1])
                .contiguous()
                .to_device(Device::Cpu))
        })
        .map_err(fail)?;
        let flat: Vec<u8> = Vec::<u8>::try_from(out.flatten(0, -1)).map_err(fail)?;
        let frames = flat.chunks_exact(batch.frame_bytes()).map(<[u8]>::to_vec).collect();
        Ok(RgbBatch { width: batch.width, height: batch.height, frames })
    }

    fn stylize_deep(&mut self, batch: DeepBatch) -> Result<DeepBatch, ModelError> {
        if batch.frames.is_empty() {
            return Ok(batch);
        }
        self.prepare_thread();
        let (n, width, height) = (batch.frames.len(), batch.width, batch.height);
        let path = self.path.clone();
        let frames = self.planar_forward(batch.frames, width, height).map_err(|e| ModelError::Forward {
            path,
            batch: n,
            width,
            height,
            reason: first_line(&e),
        })?;
        Ok(DeepBatch { width, height, frames })
    }
}

impl TorchModel {
    /// Frames through the network by the `planar` conversions: on the CPU
    /// in the model's kind; on a GPU as floats moved there and back.
    fn planar_forward<S: crate::planar::Sample>(
        &self,
        mut frames: Vec<Vec<S>>,
        width: u32,
        height: u32,
    ) -> Result<Vec<Vec<S>>, tch::TchError> {
        let (w, h) = (i64::from(width), i64::from(height));
        let (wu, hu) = (width as usize, height as usize);
        let unit = self.scale == 1.0;
        tch::no_grad(|| -> Result<(), tch::TchError> {
            let x = crate::planar::to_tensor(&frames, wu, hu, unit && !self.whole_input, self.kind);
            let x = if x.device() == self.device && x.kind() == self.kind {
                x
            } else {
                x.to_device(self.device).to_kind(self.kind)
            };
            // The built-in network needs sides that are multiples of 4:
            // reflect-pad (no dark border bleeding in), crop back after.
            let (ph, pw) = ((4 - h % 4) % 4, (4 - w % 4) % 4);
            let x = if ph > 0 || pw > 0 { x.f_reflection_pad2d([0, pw, 0, ph])? } else { x };
            let y = self.forward(&x)?;
            let y = y.f_narrow(2, 0, h)?.f_narrow(3, 0, w)?;
            crate::planar::into_frames(&y, &mut frames, wu, hu, unit)
        })?;
        Ok(frames)
    }
}

/// A picture for the precision check: smooth gradients, a sine pattern
/// and hard-edged squares (where low precision shows first), the same
/// bytes every time.
fn check_picture(width: u32, height: u32) -> RgbBatch {
    let (w, h) = (width as usize, height as usize);
    let mut rgb = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            let square = (x / 32 + y / 32) % 2 == 0;
            let r = (x * 255 / w) as u8;
            let g = (y * 255 / h) as u8;
            let b = if square { 230 } else { (128.0 + 100.0 * ((x as f32) * 0.21).sin()) as u8 };
            rgb.extend_from_slice(&[r, g, b]);
        }
    }
    RgbBatch { width, height, frames: vec![rgb] }
}

/// PSNR of `b` against `a` (RGB bytes), in dB; infinite when they are
/// equal. How `auto`, the bench and the tests judge a lower precision.
pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse = a.iter().zip(b).map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2)).sum::<f64>() / a.len() as f64;
    if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    }
}
