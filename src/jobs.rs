//! `stylize jobs list|show|clean`: printing; the work is the pipelines
//! crate's (`stylize_pipelines::jobs`).

use anyhow::{bail, Result};
use stylize_pipelines::jobs;

use crate::cli::{JobsArgs, JobsCommand};

pub fn run(args: &JobsArgs) -> Result<()> {
    match &args.command {
        JobsCommand::List => {
            let states = jobs::list(&args.output)?;
            if states.is_empty() {
                outln!("no jobs in {}", args.output.display());
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
        JobsCommand::Show { id } => outln!("{}", serde_json::to_string_pretty(&jobs::show(&args.output, id)?)?),
        JobsCommand::Clean { id, all } => {
            let which = match (id, all) {
                (Some(id), false) => Some(id.as_str()),
                (None, true) => None,
                _ => bail!("jobs clean: give a job id or --all"),
            };
            for id in jobs::clean(&args.output, which)? {
                outln!("removed job {id}");
            }
        }
    }
    Ok(())
}
