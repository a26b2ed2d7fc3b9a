//! `stylize styles list` and `stylize styles preview`: see the styles
//! before spending a job on one.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use image::{imageops, Rgb, RgbImage};
use stylize_models::arbitrary::StyleVector;
use stylize_models::learn::{Image, LearnOptions};
use stylize_models::styles::style_index;
use stylize_models::styles::{StyleBlend, NUM_STYLES, STYLE_NAMES};
use stylize_models::styles_dir;
use stylize_models::torch::{DeviceChoice, ModelSpec, Precision, TorchModel};
use stylize_models::{RgbBatch, StyleModel};

use crate::cli::{AddStyleArgs, DeviceArg, LearnArgs, PreviewArgs};

pub fn list() {
    for (i, name) in STYLE_NAMES.iter().enumerate() {
        println!("{i:>2}  {name}");
    }
    let dir = styles_dir();
    let mut saved: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries.filter_map(|e| e.ok()?.file_name().to_str()?.strip_suffix(".json").map(str::to_string)).collect()
        })
        .unwrap_or_default();
    saved.sort();
    for name in saved {
        println!("    {name}  (saved from a painting, {})", dir.display());
    }
}

/// Read an image file as packed RGB24, with one-line errors naming it.
pub fn read_rgb(path: &Path) -> Result<(Vec<u8>, u32, u32)> {
    let meta = std::fs::metadata(path).map_err(|e| anyhow!("{}: {}", path.display(), io_reason(&e)))?;
    if meta.len() == 0 {
        bail!("{}: empty file (0 bytes)", path.display());
    }
    let img = image::open(path).map_err(|e| anyhow!("{}: not a readable image ({e})", path.display()))?.to_rgb8();
    let (w, h) = img.dimensions();
    Ok((img.into_raw(), w, h))
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".into(),
        _ => e.to_string(),
    }
}

/// `stylize styles learn painting.jpg --name NAME`
pub fn learn(args: &LearnArgs) -> Result<()> {
    check_name(&args.name)?;
    let (rgb, width, height) = read_rgb(&args.painting)?;
    let images = args.content.iter().map(|p| read_rgb(p)).collect::<Result<Vec<_>>>()?;
    let contents: Vec<Image> = if images.is_empty() {
        vec![Image { rgb: &rgb, width, height }]
    } else {
        images.iter().map(|(rgb, width, height)| Image { rgb, width: *width, height: *height }).collect()
    };
    let options = LearnOptions {
        steps: args.steps as usize,
        size: i64::from(args.size),
        device: match args.device {
            DeviceArg::Auto => DeviceChoice::Auto,
            DeviceArg::Cpu => DeviceChoice::Cpu,
            DeviceArg::Cuda => DeviceChoice::Cuda(0),
        },
        ..LearnOptions::default()
    };
    let bar = indicatif::ProgressBar::new(u64::from(args.steps));
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} step {pos}/{len}  {msg}  ETA {eta}",
        )
        .expect("valid"),
    );
    let (style, report) =
        stylize_models::learn::learn(&Image { rgb: &rgb, width, height }, &contents, &options, &|_, loss| {
            bar.inc(1);
            bar.set_message(format!("loss {loss:.4}"));
        })?;
    bar.finish_and_clear();
    let path = styles_dir().join(format!("{}.json", args.name));
    style.save(&path).map_err(|e| anyhow!("{}: cannot write ({e})", path.display()))?;
    println!(
        "learned style {} ({}): style loss {:.4}, from {:.4} for the closest built-in style ({})",
        args.name,
        path.display(),
        report.final_style_loss,
        report.initial_style_loss,
        STYLE_NAMES[report.closest_builtin.0]
    );
    Ok(())
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        bail!("{name}: a style name takes letters, digits, '-' and '_' only");
    }
    if style_index(name).is_some() {
        bail!("{name}: a built-in style has this name");
    }
    Ok(())
}

/// `stylize styles add NAME --from-image painting.jpg`
pub fn add(args: &AddStyleArgs) -> Result<()> {
    check_name(&args.name)?;
    let (rgb, w, h) = read_rgb(&args.from_image)?;
    let vector = StyleVector::from_image(&rgb, w, h, &args.from_image, DeviceChoice::Auto)?;
    let path = styles_dir().join(format!("{}.json", args.name));
    vector.save(&path).map_err(|e| anyhow!("{}: cannot write ({e})", path.display()))?;
    println!("saved style {} ({})", args.name, path.display());
    Ok(())
}

/// Tiles of the image in every style, seven to a row, each labelled with
/// its index in the top-left corner; the legend (index → name) goes to stdout.
pub fn run(args: &PreviewArgs) -> Result<()> {
    let source = image::open(&args.image)
        .map_err(|e| anyhow::anyhow!("{}: not a readable image ({e})", args.image.display()))?
        .to_rgb8();
    let (w, h) = source.dimensions();
    let scale = f64::from(args.tile) / f64::from(w.max(h));
    let (tw, th) = (((f64::from(w) * scale) as u32).max(8), ((f64::from(h) * scale) as u32).max(8));
    let tile = imageops::resize(&source, tw, th, imageops::FilterType::Triangle);
    let mut model = TorchModel::load(&ModelSpec::builtin(StyleBlend::single(0)), DeviceChoice::Auto, Precision::Fp32)?;
    let cols = 7u32;
    let rows = (NUM_STYLES as u32).div_ceil(cols);
    let mut sheet = RgbImage::from_pixel(cols * tw, rows * th, Rgb([255, 255, 255]));
    for i in 0..NUM_STYLES {
        model.set_style(&StyleBlend::single(i));
        let out = model.stylize(RgbBatch { width: tw, height: th, frames: vec![tile.as_raw().clone()] })?;
        let mut styled = RgbImage::from_raw(tw, th, out.frames.into_iter().next().unwrap_or_default())
            .context("model returned a frame of the wrong size")?;
        label(&mut styled, i);
        imageops::replace(&mut sheet, &styled, i64::from(i as u32 % cols * tw), i64::from(i as u32 / cols * th));
    }
    sheet.save(&args.output).map_err(|e| anyhow::anyhow!("{}: cannot write ({e})", args.output.display()))?;
    println!("{}: {} styles, {} to a row, left to right:", args.output.display(), NUM_STYLES, cols);
    list();
    Ok(())
}

/// Digits of a 3x5 pixel font, one row per `u8`'s low 3 bits.
const DIGITS: [[u8; 5]; 10] = [
    [7, 5, 5, 5, 7],
    [2, 6, 2, 2, 7],
    [7, 1, 7, 4, 7],
    [7, 1, 7, 1, 7],
    [5, 5, 7, 1, 1],
    [7, 4, 7, 1, 7],
    [7, 4, 7, 5, 7],
    [7, 1, 1, 1, 1],
    [7, 5, 7, 5, 7],
    [7, 5, 7, 1, 7],
];

/// Draw the style index on a white box, scaled 2x, in the corner.
fn label(img: &mut RgbImage, index: usize) {
    let text = index.to_string();
    let (scale, pad) = (2u32, 2u32);
    let box_w = pad * 2 + text.len() as u32 * 4 * scale;
    let box_h = pad * 2 + 5 * scale;
    for y in 0..box_h.min(img.height()) {
        for x in 0..box_w.min(img.width()) {
            img.put_pixel(x, y, Rgb([255, 255, 255]));
        }
    }
    for (k, ch) in text.bytes().enumerate() {
        let glyph = DIGITS[(ch - b'0') as usize];
        for (row, bits) in glyph.iter().enumerate() {
            for col in 0..3u32 {
                if bits >> (2 - col) & 1 == 1 {
                    for dy in 0..scale {
                        for dx in 0..scale {
                            let x = pad + k as u32 * 4 * scale + col * scale + dx;
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
}
