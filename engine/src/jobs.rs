//! jobs: the jobs kept in a store (a directory, or a container), their
//! state, and removing their state (segments, manifest, report) once done
//! with (`stylize jobs`). Generic: any pipeline's jobs, any store. A local
//! store must exist: reading one never creates the folder it was given.

use crate::error::{EngineError, Result};
use crate::job::Manifest;
use crate::layout::JobLayout;
use crate::location::{existing_store, Location, Remote};
use crate::store::Store;

/// One job's state, as `stylize jobs list` shows it.
#[derive(Debug, Clone)]
pub struct JobState {
    /// The job id.
    pub id: String,
    /// Its manifest, if it has one.
    pub manifest: Option<Manifest>,
}

/// Every job in the store at `at`, by id.
pub fn list(at: &Location, remote: &dyn Remote) -> Result<Vec<JobState>> {
    let store = existing_store(at, remote)?;
    let store = store.as_ref();
    JobLayout::ids(store)?.into_iter().map(|id| Ok(JobState { manifest: Manifest::load(store, &id)?, id })).collect()
}

/// One job's state and, once committed, its report; `id` may be a unique
/// prefix. Readable while the job runs (the manifest is written as each
/// shard ends).
pub fn load(at: &Location, remote: &dyn Remote, id: &str) -> Result<(Manifest, Option<serde_json::Value>)> {
    let store = existing_store(at, remote)?;
    let store = store.as_ref();
    let id = resolve(store, id)?;
    let Some(m) = Manifest::load(store, &id)? else { return Err(no_job(store, &id)) };
    let report = store.get(&JobLayout::new(&id).report())?.and_then(|b| serde_json::from_slice(&b).ok());
    Ok((m, report))
}

/// One job's manifest and report, as JSON; `id` may be a unique prefix.
pub fn show(at: &Location, remote: &dyn Remote, id: &str) -> Result<serde_json::Value> {
    let store = existing_store(at, remote)?;
    let store = store.as_ref();
    let id = resolve(store, id)?;
    let Some(m) = Manifest::load(store, &id)? else { return Err(no_job(store, &id)) };
    let report = store.get(&JobLayout::new(&id).report())?;
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

/// Remove the state of job `id` (or a unique prefix of it), or of every
/// job with `None`; returns the ids removed. Outputs stay.
pub fn clean(at: &Location, remote: &dyn Remote, id: Option<&str>) -> Result<Vec<String>> {
    let store = existing_store(at, remote)?;
    let store = store.as_ref();
    let ids = match id {
        Some(id) => vec![resolve(store, id)?],
        None => JobLayout::ids(store)?,
    };
    for id in &ids {
        store.delete_prefix(&JobLayout::new(id).prefix())?;
    }
    Ok(ids)
}

/// The one job whose id starts with `prefix` (git's habit: a few digits
/// name a job when no other shares them).
fn resolve(store: &dyn Store, prefix: &str) -> Result<String> {
    let ids = JobLayout::ids(store)?;
    if ids.iter().any(|i| i == prefix) {
        return Ok(prefix.to_string());
    }
    let matching: Vec<&String> = ids.iter().filter(|i| !prefix.is_empty() && i.starts_with(prefix)).collect();
    match matching.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(no_job(store, prefix)),
        many => Err(EngineError::BadInput {
            path: store.describe().into(),
            reason: format!(
                "job id {prefix} is ambiguous: {}",
                many.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
            ),
        }),
    }
}

fn no_job(store: &dyn Store, id: &str) -> EngineError {
    EngineError::BadInput { path: store.describe().into(), reason: format!("no job {id}") }
}
