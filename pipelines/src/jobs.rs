//! jobs: the jobs kept in a store (a directory, or a container), their
//! state, and removing their state (segments, manifest, report) once done
//! with (`stylize jobs`). A local store must exist: reading one never
//! creates the folder it was given.

use stylize_engine::job::Manifest;
use stylize_engine::location::{open_store, Location, RemoteOptions};
use stylize_engine::store::{LocalStore, Store};
use stylize_engine::EngineError;

use crate::error::PipelineError;

/// One job's state, as `stylize jobs list` shows it.
#[derive(Debug, Clone)]
pub struct JobState {
    /// The job id.
    pub id: String,
    /// Its manifest, if it has one.
    pub manifest: Option<Manifest>,
}

fn existing_store(at: &Location, remote: RemoteOptions) -> Result<Box<dyn Store>, PipelineError> {
    Ok(match at {
        Location::Local(dir) => Box::new(LocalStore::existing(dir)?),
        Location::Remote(_) => open_store(at, remote)?,
    })
}

/// Every job in the store at `at`, by id.
pub fn list(at: &Location, remote: RemoteOptions) -> Result<Vec<JobState>, PipelineError> {
    let store = existing_store(at, remote)?;
    let store = store.as_ref();
    job_ids(store)?.into_iter().map(|id| Ok(JobState { manifest: Manifest::load(store, &id)?, id })).collect()
}

/// One job's manifest and report, as JSON.
pub fn show(at: &Location, remote: RemoteOptions, id: &str) -> Result<serde_json::Value, PipelineError> {
    let store = existing_store(at, remote)?;
    let store = store.as_ref();
    let Some(m) = Manifest::load(store, id)? else { return Err(no_job(store, id)) };
    let report = store.get(&format!("jobs/{id}/report.json"))?;
    Ok(serde_json::json!({
        "job": m.job,
        "input": m.input,
        "input_sha256": m.input_digest,
        "params": m.params,
        "shards": m.plan.shards.len(),
        "frames": m.plan.frames(),
        "done": m.done.keys().collect::<Vec<_>>(),
        "output": m.output,
        "report": report.and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok()),
    }))
}

/// Remove the state of job `id`, or of every job with `None`; returns the
/// ids removed. Outputs stay.
pub fn clean(at: &Location, remote: RemoteOptions, id: Option<&str>) -> Result<Vec<String>, PipelineError> {
    let store = existing_store(at, remote)?;
    let store = store.as_ref();
    let ids = match id {
        Some(id) => vec![id.to_string()],
        None => job_ids(store)?,
    };
    for id in &ids {
        if !store.exists(&Manifest::key(id))? {
            return Err(no_job(store, id));
        }
        store.delete_prefix(&format!("jobs/{id}"))?;
    }
    Ok(ids)
}

fn no_job(store: &dyn Store, id: &str) -> PipelineError {
    PipelineError::Input { path: store.describe().into(), reason: format!("no job {id}") }
}

fn job_ids(store: &dyn Store) -> Result<Vec<String>, EngineError> {
    let mut ids: Vec<String> = store
        .list("jobs")?
        .iter()
        .filter_map(|k| k.strip_prefix("jobs/")?.strip_suffix("/manifest.json").map(str::to_string))
        .collect();
    ids.sort();
    Ok(ids)
}
