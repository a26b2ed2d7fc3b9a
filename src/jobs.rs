//! `stylize jobs list|show|clean`: the jobs kept in a store, their state,
//! and removing their state (segments, manifest, report) once done with.

use anyhow::{bail, Result};
use stylize_engine::job::Manifest;
use stylize_engine::store::{LocalStore, Store};

use crate::cli::{JobsArgs, JobsCommand};

pub fn run(args: &JobsArgs) -> Result<()> {
    let store = LocalStore::open(&args.output)?;
    match &args.command {
        JobsCommand::List => {
            let ids = job_ids(&store)?;
            if ids.is_empty() {
                println!("no jobs in {}", store.describe());
            }
            for id in ids {
                match Manifest::load(&store, &id)? {
                    Some(m) => {
                        let state = match &m.output {
                            Some(out) => format!("done -> {out}"),
                            None => "incomplete".to_string(),
                        };
                        println!("{id}  {:>4}/{:<4} shards  {state}  {}", m.done.len(), m.plan.shards.len(), m.input);
                    }
                    None => println!("{id}  (no manifest)"),
                }
            }
        }
        JobsCommand::Show { id } => {
            let Some(m) = Manifest::load(&store, id)? else { bail!("{}: no job {id}", store.describe()) };
            let report = store.get(&format!("jobs/{id}/report.json"))?;
            let summary = serde_json::json!({
                "job": m.job,
                "input": m.input,
                "input_sha256": m.input_digest,
                "params": m.params,
                "shards": m.plan.shards.len(),
                "frames": m.plan.frames(),
                "done": m.done.keys().collect::<Vec<_>>(),
                "output": m.output,
                "report": report.and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok()),
            });
            println!("{}", serde_json::to_string_pretty(&summary)?);
        }
        JobsCommand::Clean { id, all } => {
            let ids = match (id, all) {
                (Some(id), false) => vec![id.clone()],
                (None, true) => job_ids(&store)?,
                _ => bail!("jobs clean: give a job id or --all"),
            };
            for id in ids {
                if Manifest::load(&store, &id)?.is_none() {
                    bail!("{}: no job {id}", store.describe());
                }
                store.delete_prefix(&format!("jobs/{id}"))?;
                println!("removed job {id}");
            }
        }
    }
    Ok(())
}

fn job_ids(store: &LocalStore) -> Result<Vec<String>> {
    let mut ids: Vec<String> = store
        .list("jobs")?
        .iter()
        .filter_map(|k| k.strip_prefix("jobs/")?.strip_suffix("/manifest.json").map(str::to_string))
        .collect();
    ids.sort();
    Ok(ids)
}
