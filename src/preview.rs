//! `stylize styles list|preview|add|learn`: printing and progress; the
//! work is the pipelines crate's (`stylize_pipelines::styles`).

use anyhow::Result;
use stylize_pipelines::styles;
use stylize_pipelines::video_style::DeviceChoice;

use stylize_pipelines::styles::{is_strong, CONTENT_KEPT, DEFAULT_STYLE};

use crate::cli::{AddStyleArgs, DeviceArg, LearnArgs, PreviewArgs};

pub fn list(json: bool) -> Result<()> {
    let (dir, saved) = styles::saved_names();
    if json {
        let builtin: Vec<_> = styles::builtin_names()
            .iter()
            .enumerate()
            .map(|(i, name)| {
                serde_json::json!({
                    "index": i,
                    "name": name,
                    "kind": "builtin",
                    "default": *name == DEFAULT_STYLE,
                    "content_kept": CONTENT_KEPT[i],
                    "strong": is_strong(i),
                })
            })
            .collect();
        let saved: Vec<_> = saved
            .iter()
            .map(|(name, kind)| serde_json::json!({ "name": name, "kind": kind.as_str(), "dir": dir }))
            .collect();
        outln!("{}", serde_json::to_string_pretty(&serde_json::json!({ "builtin": builtin, "saved": saved }))?);
        return Ok(());
    }
    for (i, name) in styles::builtin_names().iter().enumerate() {
        let note = match (*name == DEFAULT_STYLE, is_strong(i)) {
            (true, _) => "  (default)",
            (_, true) => "  strong: its pattern takes over the picture",
            _ => "",
        };
        outln!("{}", format!("{i:>2}  {name:<14}{note}").trim_end());
    }
    for (name, kind) in saved {
        outln!("    {name}  ({}, {})", kind.describe(), dir.display());
    }
    Ok(())
}

/// `stylize styles remove NAME`
pub fn remove(name: &str) -> Result<()> {
    let path = styles::remove(name)?;
    outln!("removed style {name} ({})", path.display());
    Ok(())
}

/// `stylize styles learn painting.jpg --name NAME`
pub fn learn(args: &LearnArgs) -> Result<()> {
    let bar = indicatif::ProgressBar::new(u64::from(args.steps));
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} step {pos}/{len}  {msg}  ETA {eta}",
        )
        .expect("valid"),
    );
    let request = styles::LearnRequest {
        name: &args.name,
        painting: &args.painting,
        contents: &args.content,
        steps: args.steps as usize,
        size: i64::from(args.size),
        device: device(args.device),
        force: args.force,
    };
    let learned = styles::learn(&request, &|_, loss| {
        bar.inc(1);
        bar.set_message(format!("loss {loss:.4}"));
    })?;
    bar.finish_and_clear();
    outln!(
        "learned style {} ({}): style loss {:.4}, from {:.4} for the closest built-in style ({})",
        args.name,
        learned.path.display(),
        learned.final_style_loss,
        learned.initial_style_loss,
        learned.closest
    );
    Ok(())
}

/// `stylize styles add NAME --from-image painting.jpg`
pub fn add(args: &AddStyleArgs) -> Result<()> {
    let path = styles::add(&args.name, &args.from_image, args.force)?;
    outln!("saved style {} ({})", args.name, path.display());
    Ok(())
}

/// `stylize styles preview frame.png -o sheet.png`; the legend (index →
/// name) goes to stdout.
pub fn run(args: &PreviewArgs) -> Result<()> {
    styles::preview(&args.image, args.tile, &args.output)?;
    outln!("{}: {} styles, 7 to a row, left to right:", args.output.display(), styles::builtin_names().len());
    list(false)
}

pub fn device(arg: DeviceArg) -> DeviceChoice {
    match arg {
        DeviceArg::Auto => DeviceChoice::Auto,
        DeviceArg::Cpu => DeviceChoice::Cpu,
        DeviceArg::Cuda => DeviceChoice::Cuda(0),
    }
}
