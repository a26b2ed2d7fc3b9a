//! `stylize jobs list|show|clean`: printing; the work is the pipelines
//! engine's, through `stylize_pipelines::jobs`. Works on a local store
//! (which must exist) or a container.

use anyhow::Result;
use stylize_azure::AzureRemote;
use stylize_pipelines::jobs;

use crate::cli::{JobsArgs, JobsCommand};
use crate::Usage;

pub fn run(args: &JobsArgs) -> Result<()> {
    let store = crate::submit::location(&args.output)?;
    let remote = &AzureRemote { sas_only: args.sas_only, managed_identity: args.managed_identity };
    match &args.command {
        JobsCommand::List { json } => {
            let states = jobs::list(&store, remote)?;
            if *json {
                let list: Vec<_> = states
                    .iter()
                    .map(|s| {
                        serde_json::json!({
                            "job": s.id,
                            "input": s.manifest.as_ref().map(|m| m.input.clone()),
                            "shards": s.manifest.as_ref().map(|m| m.plan.shards.len()),
                            "shards_done": s.manifest.as_ref().map(|m| m.done.len()),
                            "output": s.manifest.as_ref().and_then(|m| m.output.clone()),
                        })
                    })
                    .collect();
                outln!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            if states.is_empty() {
                outln!("no jobs in {}", store.display());
            }
            for s in states {
                match s.manifest {
                    Some(m) => {
                        let state = match &m.output {
                            Some(out) => format!("done -> {out}"),
                            None => "incomplete".to_string(),
                        };
                        outln!("{}  {:>4}/{:<4} shards  {state}  {}", s.id, m.done.len(), m.plan.shards.len(), m.input);
                    }
                    None => outln!("{}  (no manifest)", s.id),
                }
            }
        }
        JobsCommand::Show { id } => {
            outln!("{}", serde_json::to_string_pretty(&jobs::show(&store, remote, id)?)?)
        }
        JobsCommand::Clean { id, all } => {
            let which = match (id, all) {
                (Some(id), false) => Some(id.as_str()),
                (None, true) => None,
                (Some(_), true) => return Err(Usage::error("jobs clean: give a job id or --all, not both")),
                (None, false) => return Err(Usage::error("jobs clean: give a job id, or --all")),
            };
            for id in jobs::clean(&store, remote, which)? {
                outln!("removed job {id}");
            }
        }
    }
    Ok(())
}
