//! `stylize styles list|preview|add|learn`: printing and progress; the
//! work is the pipelines crate's (`stylize_pipelines::styles`).

use anyhow::Result;
use stylize_pipelines::styles;
use stylize_pipelines::styles::LearnProgress;
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

/// `stylize styles learn painting.jpg --name NAME`: says what it does
/// before the first step (loading, trying the 26 starts), then a bar of
/// steps with the style loss as a share of the start's; Ctrl-C says
/// nothing was saved.
pub fn learn(args: &LearnArgs, quiet: bool) -> Result<()> {
    use std::io::IsTerminal;
    let name = args.name.clone();
    crate::interrupt::on_interrupt(move || eprintln!("stylize: interrupted: style {name} not learned, nothing saved"));
    // On a terminal a spinner, then a bar; else a line per stage and per
    // tenth of the steps.
    let terminal = !quiet && std::io::stderr().is_terminal();
    let lines = !quiet && !terminal;
    let bar = if terminal { indicatif::ProgressBar::new_spinner() } else { indicatif::ProgressBar::hidden() };
    let say = |line: String| {
        if lines {
            eprintln!("stylize: {line}");
        }
    };
    say("loading the network and VGG-19".into());
    bar.enable_steady_tick(std::time::Duration::from_millis(120));
    bar.set_message("loading the network and VGG-19");
    let steps = u64::from(args.steps);
    let request = styles::LearnRequest {
        name: &args.name,
        painting: &args.painting,
        contents: &args.content,
        steps: args.steps as usize,
        size: i64::from(args.size),
        device: device(args.device),
        force: args.force,
    };
    let learned = styles::learn(&request, &|event| match event {
        LearnProgress::Loaded => {
            bar.set_message("trying the 26 built-in styles as a start: 0/26");
            say("trying the 26 built-in styles as a start".into());
        }
        LearnProgress::Closest { tried } => {
            bar.set_message(format!("trying the 26 built-in styles as a start: {tried}/26"))
        }
        LearnProgress::Step { step, style_share, .. } => {
            if (step as u64 * 10 / steps.max(1)) != ((step as u64 - 1) * 10 / steps.max(1)) || step == 1 {
                say(format!("step {step}/{steps}: style loss {:.0}% of the start's", style_share * 100.0));
            }
            if step == 1 {
                // A bar of its own, so the ETA counts steps only.
                bar.set_length(steps);
                bar.reset();
                bar.set_style(
                    indicatif::ProgressStyle::with_template(
                        "learning {wide_bar} step {pos}/{len}  {msg}  {elapsed} (ETA {eta})",
                    )
                    .expect("valid"),
                );
            }
            bar.set_position(step as u64);
            bar.set_message(format!("style loss {:.0}% of the start's", style_share * 100.0));
        }
    })?;
    bar.finish_and_clear();
    outln!(
        "learned style {} ({}): its style loss is {:.0}% of the closest built-in style's ({})",
        args.name,
        learned.path.display(),
        100.0 * learned.final_style_loss / learned.initial_style_loss.max(f64::MIN_POSITIVE),
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
