//! styles: choosing a style before spending a job on one, and making new
//! ones: the catalogue (built-in and saved), a preview sheet of a frame in
//! every style, a painting's style saved under a name, a style learned into
//! the 26-style network, and the model a job's style flags ask for.

use std::path::{Path, PathBuf};

use image::{imageops, Rgb, RgbImage};
use stylize_models::arbitrary::StyleVector;
pub use stylize_models::learn::LearnProgress;
use stylize_models::learn::{Image, LearnOptions};
use stylize_models::styles::{resolve, style_index, Style, StyleBlend, NUM_STYLES, STYLE_NAMES};
use stylize_models::styles_dir;
use stylize_models::torch::{DeviceChoice, ModelSpec, PixelRange, Precision, TorchModel};
use stylize_models::{RgbBatch, StyleModel};

use crate::error::PipelineError;

pub use stylize_models::styles::{is_strong, CONTENT_KEPT, DEFAULT_STYLE};

/// The built-in styles' names, by index.
pub fn builtin_names() -> &'static [&'static str] {
    &STYLE_NAMES[..]
}

/// What a saved style is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SavedKind {
    /// A painting's style vector (`styles add`), for the arbitrary-style network.
    Painting,
    /// Learned into the built-in network (`styles learn`).
    Learned,
}

impl SavedKind {
    /// For JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            SavedKind::Painting => "painting",
            SavedKind::Learned => "learned",
        }
    }

    /// For `styles list`.
    pub fn describe(self) -> &'static str {
        match self {
            SavedKind::Painting => "saved from a painting",
            SavedKind::Learned => "learned for the built-in network",
        }
    }
}

/// Where saved styles live, and their names and kinds.
pub fn saved_names() -> (PathBuf, Vec<(String, SavedKind)>) {
    let dir = styles_dir();
    let kind = |path: &Path| {
        let learned = std::fs::read(path)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v["model"] == stylize_models::learn::LEARNED_MODEL);
        if learned {
            SavedKind::Learned
        } else {
            SavedKind::Painting
        }
    };
    let mut saved: Vec<(String, SavedKind)> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| {
                    let e = e.ok()?;
                    let name = e.file_name().to_str()?.strip_suffix(".json")?.to_string();
                    Some((name, kind(&e.path())))
                })
                .collect()
        })
        .unwrap_or_default();
    saved.sort_by(|a, b| a.0.cmp(&b.0));
    (dir, saved)
}

/// What a job's style flags ask for.
#[derive(Debug, Clone)]
pub enum StyleChoice {
    /// A user's TorchScript module and its pixel range.
    Model {
        /// The module file.
        path: PathBuf,
        /// 0-1 or 0-255.
        range: PixelRange,
    },
    /// Any painting, through the arbitrary-style networks.
    Painting(PathBuf),
    /// A built-in or saved style, or a blend (`mosaic`, `starry:0.7,mosaic:0.3`).
    Named(String),
}

/// The model a job runs for `choice` (a painting's style vector is
/// computed here, once per job).
pub fn model_for(choice: &StyleChoice) -> Result<ModelSpec, PipelineError> {
    Ok(match choice {
        StyleChoice::Model { path, range } => ModelSpec::User { path: path.clone(), range: *range },
        StyleChoice::Painting(painting) => {
            let (rgb, w, h) = read_rgb(painting)?;
            let vector = StyleVector::from_image(&rgb, w, h, painting, DeviceChoice::Auto)?;
            let label = painting.file_stem().map_or_else(|| "painting".into(), |s| s.to_string_lossy().into_owned());
            ModelSpec::for_style(Style::Image { vector, label })
        }
        StyleChoice::Named(spec) => ModelSpec::for_style(resolve(spec, &styles_dir())?),
    })
}

/// Read an image file as packed RGB24, with one-line errors naming it.
pub fn read_rgb(path: &Path) -> Result<(Vec<u8>, u32, u32), PipelineError> {
    let bad = |reason: String| PipelineError::Input { path: path.to_path_buf(), reason };
    let meta = std::fs::metadata(path).map_err(|e| {
        bad(match e.kind() {
            std::io::ErrorKind::NotFound => "no such file".into(),
            _ => e.to_string(),
        })
    })?;
    if meta.len() == 0 {
        return Err(bad("empty file (0 bytes)".into()));
    }
    let img = image::open(path).map_err(|e| bad(format!("not a readable image ({e})")))?.to_rgb8();
    let (w, h) = img.dimensions();
    Ok((img.into_raw(), w, h))
}

fn check_name(name: &str) -> Result<(), PipelineError> {
    let bad = |reason: &str| PipelineError::Input { path: name.into(), reason: reason.into() };
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(bad("a style name takes letters, digits, '-' and '_' only"));
    }
    if style_index(name).is_some() {
        return Err(bad("a built-in style has this name"));
    }
    Ok(())
}

fn write_error(path: &Path, e: impl std::fmt::Display) -> PipelineError {
    PipelineError::Input { path: path.to_path_buf(), reason: format!("cannot write ({e})") }
}

/// The file of saved style `name`; an existing one is refused unless
/// `force` (a saved style is work the user may not want to lose).
fn new_style_file(name: &str, force: bool) -> Result<PathBuf, PipelineError> {
    check_name(name)?;
    let path = styles_dir().join(format!("{name}.json"));
    if path.exists() && !force {
        return Err(PipelineError::Input {
            path: path.clone(),
            reason: format!("a saved style '{name}' exists; add --force to replace it"),
        });
    }
    Ok(path)
}

/// Remove saved style `name`; returns the file removed.
pub fn remove(name: &str) -> Result<PathBuf, PipelineError> {
    check_name(name)?;
    let path = styles_dir().join(format!("{name}.json"));
    std::fs::remove_file(&path).map_err(|e| PipelineError::Input {
        path: path.clone(),
        reason: match e.kind() {
            std::io::ErrorKind::NotFound => format!("no saved style '{name}'"),
            _ => format!("cannot remove ({e})"),
        },
    })?;
    Ok(path)
}

/// Save the style of `painting` under `name`; returns the file written.
pub fn add(name: &str, painting: &Path, force: bool) -> Result<PathBuf, PipelineError> {
    let path = new_style_file(name, force)?;
    let (rgb, w, h) = read_rgb(painting)?;
    let vector = StyleVector::from_image(&rgb, w, h, painting, DeviceChoice::Auto)?;
    vector.save(&path).map_err(|e| write_error(&path, e))?;
    Ok(path)
}

/// What learning a style did.
#[derive(Debug, Clone)]
pub struct Learned {
    /// The file written.
    pub path: PathBuf,
    /// Style loss at the end.
    pub final_style_loss: f64,
    /// Style loss of the closest built-in style, where learning started.
    pub initial_style_loss: f64,
    /// That built-in style's name.
    pub closest: &'static str,
}

/// What to learn (`stylize styles learn`).
#[derive(Debug, Clone)]
pub struct LearnRequest<'a> {
    /// The name to save it under.
    pub name: &'a str,
    /// The painting.
    pub painting: &'a Path,
    /// Content frames to learn on (none: the painting itself).
    pub contents: &'a [PathBuf],
    /// Adam steps.
    pub steps: usize,
    /// Side images are resized to.
    pub size: i64,
    /// Where to train.
    pub device: DeviceChoice,
    /// Replace a saved style of that name.
    pub force: bool,
}

/// Learn the style of a painting into the 26-style network under a name;
/// `on_step` hears each step's loss.
pub fn learn(request: &LearnRequest<'_>, progress: &dyn Fn(LearnProgress)) -> Result<Learned, PipelineError> {
    let LearnRequest { name, painting, contents, steps, size, device, force } = *request;
    let path = new_style_file(name, force)?;
    let (rgb, width, height) = read_rgb(painting)?;
    let images = contents.iter().map(|p| read_rgb(p)).collect::<Result<Vec<_>, _>>()?;
    let contents: Vec<Image> = if images.is_empty() {
        vec![Image { rgb: &rgb, width, height }]
    } else {
        images.iter().map(|(rgb, width, height)| Image { rgb, width: *width, height: *height }).collect()
    };
    let options = LearnOptions { steps, size, device, ..LearnOptions::default() };
    let (style, report) =
        stylize_models::learn::learn(&Image { rgb: &rgb, width, height }, &contents, &options, progress)?;
    style.save(&path).map_err(|e| write_error(&path, e))?;
    Ok(Learned {
        path,
        final_style_loss: report.final_style_loss,
        initial_style_loss: report.initial_style_loss,
        closest: STYLE_NAMES[report.closest_builtin.0],
    })
}

/// Tiles of `image` in every style, seven to a row, each labelled with its
/// index and name, written to `output`.
pub fn preview(image: &Path, tile: u32, output: &Path) -> Result<(), PipelineError> {
    let source = image::open(image)
        .map_err(|e| PipelineError::Input { path: image.to_path_buf(), reason: format!("not a readable image ({e})") })?
        .to_rgb8();
    let (w, h) = source.dimensions();
    let scale = f64::from(tile) / f64::from(w.max(h));
    let (tw, th) = (((f64::from(w) * scale) as u32).max(8), ((f64::from(h) * scale) as u32).max(8));
    let small = imageops::resize(&source, tw, th, imageops::FilterType::Triangle);
    let mut model = TorchModel::load(&ModelSpec::builtin(StyleBlend::single(0)), DeviceChoice::Auto, Precision::Fp32)?;
    let cols = 7u32;
    let rows = (NUM_STYLES as u32).div_ceil(cols);
    let mut sheet = RgbImage::from_pixel(cols * tw, rows * th, Rgb([255, 255, 255]));
    for i in 0..NUM_STYLES {
        model.set_style(&StyleBlend::single(i));
        let out = model.stylize(RgbBatch { width: tw, height: th, frames: vec![small.as_raw().clone()] })?;
        let mut styled =
            RgbImage::from_raw(tw, th, out.frames.into_iter().next().unwrap_or_default()).ok_or_else(|| {
                PipelineError::Input {
                    path: image.to_path_buf(),
                    reason: "model returned a frame of the wrong size".into(),
                }
            })?;
        label(&mut styled, i);
        imageops::replace(&mut sheet, &styled, i64::from(i as u32 % cols * tw), i64::from(i as u32 / cols * th));
    }
    sheet.save(output).map_err(|e| write_error(output, e))?;
    Ok(())
}

/// Write `index name` (`17 mosaic`) on a white strip at the tile's top,
/// in font8x8's 8x8 glyphs (doubled on tiles wide enough), cut to the
/// tile: the sheet names every style, no legend needed.
fn label(img: &mut RgbImage, index: usize) {
    use font8x8::UnicodeFonts as _;
    let text = format!("{index} {}", STYLE_NAMES[index]);
    let scale = if img.width() >= 20 * 16 { 2 } else { 1 };
    let pad = scale;
    let strip = (8 * scale + 2 * pad).min(img.height());
    for y in 0..strip {
        for x in 0..img.width() {
            img.put_pixel(x, y, Rgb([255, 255, 255]));
        }
    }
    for (k, ch) in text.chars().enumerate() {
        let Some(glyph) = font8x8::BASIC_FONTS.get(ch) else { continue };
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..8u32 {
                if bits >> col & 1 == 0 {
                    continue;
                }
                for dy in 0..scale {
                    for dx in 0..scale {
                        let x = pad + (k as u32 * 8 + col) * scale + dx;
                        let y = pad + row as u32 * scale + dy;
                        if x < img.width() && y < img.height() {
                            img.put_pixel(x, y, Rgb([0, 0, 0]));
                        }
                    }
                }
            }
        }
    }
}
