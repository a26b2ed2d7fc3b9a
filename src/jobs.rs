//! `stylize jobs list|show|report|clean`: printing and drawing; the state
//! is the engine's, through `stylize_pipelines::jobs`, the drawing the
//! timeline crate's. Works on a local store (which must exist) or a
//! container; without `-o`, on the default folder and the `-o FILE` jobs'
//! state together.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Result;
use stylize_azure::AzureRemote;
use stylize_pipelines::jobs::{self, JobStatus, Manifest};
use stylize_pipelines::video_style::Location;

use crate::cli::{JobsArgs, JobsCommand};
use crate::Usage;

/// The stores to read: the one named, or the default folder and the
/// `-o FILE` jobs' state (those that exist).
fn stores(args: &JobsArgs) -> Result<Vec<Location>> {
    match &args.output {
        Some(at) => Ok(vec![crate::submit::location(at)?]),
        None => {
            let found: Vec<Location> = [std::path::PathBuf::from("stylize-out"), crate::submit::state_dir()]
                .into_iter()
                .filter(|p| p.is_dir())
                .map(Location::Local)
                .collect();
            Ok(if found.is_empty() { vec![Location::Local("stylize-out".into())] } else { found })
        }
    }
}

pub fn run(args: &JobsArgs) -> Result<()> {
    let stores = stores(args)?;
    let remote = &AzureRemote { sas_only: args.sas_only, managed_identity: args.managed_identity };
    match &args.command {
        JobsCommand::List { json } => list(&stores, remote, *json),
        JobsCommand::Show { id, follow } => {
            let (store, _) = find(&stores, remote, id)?;
            if *follow {
                return follow_job(&store, remote, id);
            }
            outln!("{}", serde_json::to_string_pretty(&jobs::show(&store, remote, id)?)?);
            Ok(())
        }
        JobsCommand::Report { id, html, png } => {
            if html.is_none() && png.is_none() {
                return Err(Usage::error("jobs report: give --html FILE, --png FILE, or both"));
            }
            let (_, (manifest, report)) = find(&stores, remote, id)?;
            if let Some(path) = html {
                let page = stylize_timeline::html(&manifest, report.as_ref());
                std::fs::write(path, page).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                outln!("wrote {}", path.display());
            }
            if let Some(path) = png {
                stylize_timeline::draw_png(&manifest, path, (1200, 140 + 40 * workers(&manifest).len().max(1) as u32))?;
                outln!("wrote {}", path.display());
            }
            Ok(())
        }
        JobsCommand::Clean { id, all } => {
            let which = match (id, all) {
                (Some(id), false) => Some(id.as_str()),
                (None, true) => None,
                (Some(_), true) => return Err(Usage::error("jobs clean: give a job id or --all, not both")),
                (None, false) => return Err(Usage::error("jobs clean: give a job id, or --all")),
            };
            let store = match which {
                Some(id) => find(&stores, remote, id)?.0,
                None => stores[0].clone(),
            };
            for id in jobs::clean(&store, remote, which)? {
                outln!("removed job {id}");
            }
            Ok(())
        }
    }
}

/// The store holding job `id` (a prefix), and the job's state.
fn find(
    stores: &[Location],
    remote: &AzureRemote,
    id: &str,
) -> Result<(Location, (Manifest, Option<serde_json::Value>))> {
    let mut first_error = None;
    for store in stores {
        match jobs::load(store, remote, id) {
            Ok(found) => return Ok((store.clone(), found)),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.map_or_else(|| anyhow::anyhow!("no job {id}"), Into::into))
}

fn workers(m: &Manifest) -> BTreeSet<String> {
    let done = m.done.values().filter_map(|r| r.worker.as_ref().map(|w| w.to_string()));
    done.chain(m.running.values().map(|r| r.worker.to_string())).collect()
}

/// Frames of the shards done.
fn frames_done(m: &Manifest) -> u64 {
    m.done.values().map(|r| r.frames).sum()
}

fn status(m: &Manifest) -> &'static str {
    match m.status {
        JobStatus::Done => "done",
        JobStatus::Failed => "failed",
        // A job whose output is committed by a run from before states
        // were kept is done too.
        JobStatus::Running if m.output.is_some() => "done",
        JobStatus::Running => "running",
    }
}

/// `12s`, `5m`, `3h`, `2d` since `t` (Unix seconds).
fn age(t: f64) -> String {
    if t <= 0.0 {
        return "-".into();
    }
    let s = (stylize_pipelines::video_style::unix_now() - t).max(0.0) as u64;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

fn list(stores: &[Location], remote: &AzureRemote, json: bool) -> Result<()> {
    let mut rows = Vec::new();
    for store in stores {
        for s in jobs::list(store, remote)? {
            rows.push((store.display(), s));
        }
    }
    if json {
        let list: Vec<_> = rows
            .iter()
            .map(|(store, s)| {
                let m = s.manifest.as_ref();
                serde_json::json!({
                    "job": s.id,
                    "store": store,
                    "status": m.map(status),
                    "input": m.map(|m| m.input.clone()),
                    "shards": m.map(|m| m.plan.shards.len()),
                    "shards_done": m.map(|m| m.done.len()),
                    "frames": m.map(|m| m.plan.frames()),
                    "frames_done": m.map(frames_done),
                    "workers": m.map(workers),
                    "running": m.map(|m| m.running.iter().map(|(i, r)| serde_json::json!({ "shard": i, "worker": r.worker.to_string() })).collect::<Vec<_>>()),
                    "started": m.map(|m| m.started),
                    "updated": m.map(|m| m.updated),
                    "output": m.and_then(|m| m.output.clone()),
                    "error": m.and_then(|m| m.error.clone()),
                })
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    if rows.is_empty() {
        let names: Vec<String> = stores.iter().map(Location::display).collect();
        outln!("no jobs in {}", names.join(" or "));
    }
    for (_, s) in rows {
        match s.manifest {
            Some(m) => {
                let frames = frames_done(&m);
                let what = m.output.clone().unwrap_or_else(|| m.input.clone());
                outln!(
                    "{}  {:<7}  {:>4}/{:<4} shards  {:>6}/{:<6} frames  {} workers  {:>4}  {}",
                    s.id,
                    status(&m),
                    m.done.len(),
                    m.plan.shards.len(),
                    frames,
                    m.plan.frames(),
                    workers(&m).len(),
                    age(if m.updated > 0.0 { m.updated } else { m.started }),
                    what
                );
            }
            None => outln!("{}  (no manifest)", s.id),
        }
    }
    Ok(())
}

/// Redraw a running job's progress every 2 s until it ends.
fn follow_job(store: &Location, remote: &AzureRemote, id: &str) -> Result<()> {
    loop {
        let (m, _) = jobs::load(store, remote, id)?;
        let frames = frames_done(&m);
        let total = m.plan.frames();
        let elapsed = (stylize_pipelines::video_style::unix_now() - m.started).max(0.001);
        let done_now: u64 = m.done.values().filter(|r| r.started >= m.started).map(|r| r.frames).sum();
        let rate = done_now as f64 / elapsed;
        let eta = if rate > 0.0 { format!("{:.0} s", (total - frames) as f64 / rate) } else { "-".into() };
        outln!(
            "job {} {}: {}/{} shards, {}/{} frames, {:.1} frames/s, ETA {eta}",
            m.job,
            status(&m),
            m.done.len(),
            m.plan.shards.len(),
            frames,
            total,
            rate
        );
        for w in workers(&m) {
            let mine: Vec<_> =
                m.done.iter().filter(|(_, r)| r.worker.as_ref().is_some_and(|x| x.to_string() == w)).collect();
            let (f, busy): (u64, f64) =
                mine.iter().fold((0, 0.0), |(f, b), (_, r)| (f + r.frames, b + (r.ended - r.started).max(0.0)));
            let now = m.running.iter().find(|(_, r)| r.worker.to_string() == w).map(|(i, _)| *i);
            outln!(
                "  {w}: {} shards done, {}, {:.1} frames/s",
                mine.len(),
                now.map_or("idle".into(), |i| format!("on shard {i}")),
                if busy > 0.0 { f as f64 / busy } else { 0.0 }
            );
        }
        if status(&m) != "running" {
            if let Some(e) = &m.error {
                outln!("  failed: {e}");
            }
            return Ok(());
        }
        std::thread::sleep(Duration::from_secs(2));
    }
}
