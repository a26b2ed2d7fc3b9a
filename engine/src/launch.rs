//! launch: how a job's shards reach workers. A [`Launcher`] receives the
//! job (its id, its store, its layout) and makes the transport that runs
//! its shards: [`InProcessLauncher`] here (worker threads of this
//! process); adapters bring others (MPI ranks, a queue of workers). The
//! driver never knows which one runs the job.

use crate::error::Result;
use crate::layout::JobLayout;
use crate::store::Store;
use crate::transport::{Handler, InProcess, Transport};

/// What a launcher knows of the job it runs.
pub struct JobContext<'a> {
    /// The job id.
    pub id: &'a str,
    /// The job's store (segments, state).
    pub store: &'a dyn Store,
    /// Where the job's objects live in the store.
    pub layout: &'a JobLayout,
}

/// Makes the transport of a job.
pub trait Launcher {
    /// Whether this process runs shards itself (the pipeline's local
    /// handlers are made only then).
    fn runs_shards_here(&self) -> bool {
        true
    }

    /// Whether tasks carry their source segments as objects in the job's
    /// store ([`crate::Payload::Stored`]) rather than as bytes: for
    /// workers that reach the store themselves.
    fn stores_payloads(&self) -> bool {
        false
    }

    /// Whether the job is handed over once its tasks are out: the driver
    /// then copies the input into the store, writes the job's description
    /// ([`JobLayout::description`]) and returns, and the worker that ends
    /// the last shard finishes the job (stitch, commit) itself.
    fn detached(&self) -> bool {
        false
    }

    /// The job's transport: its workers, with `local` (this process's own
    /// handlers, when it runs shards) among them.
    fn transport<'a>(&'a self, job: &JobContext<'a>, local: Vec<Box<dyn Handler>>) -> Result<Box<dyn Transport + 'a>>;
}

/// Worker threads in this process: the job needs nothing else.
#[derive(Debug, Clone, Copy, Default)]
pub struct InProcessLauncher;

impl Launcher for InProcessLauncher {
    fn transport<'a>(&'a self, _job: &JobContext<'a>, local: Vec<Box<dyn Handler>>) -> Result<Box<dyn Transport + 'a>> {
        Ok(Box::new(InProcess::start(local, "local")))
    }
}
