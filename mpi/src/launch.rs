//! launch: how this process takes part in a job, with MPI's types kept
//! inside. Under `mpirun` every rank runs the same command: rank 0
//! coordinates (and works, unless told not to), the others serve shards.
//! [`MpiLauncher`] is the engine's [`Launcher`] for rank 0.
//!
//! A [`Cluster`] releases the worker ranks exactly once: when the job's
//! transport finishes, or, if the job failed before one started (a bad
//! input found at probe), when the cluster is dropped. Ranks are never
//! told to stop twice, and never left waiting.

use std::cell::Cell;

use stylize_engine::{EngineError, Handler, InProcess, JobContext, Launcher, Result, Transport, TransportError};

use crate::transport::{self as mpi_transport, MpiTransport};

/// This process's part in an MPI job, or none.
pub struct Cluster {
    // Dropping the universe finalises MPI: it lives as long as the cluster.
    universe: Option<::mpi::environment::Universe>,
    world: Option<::mpi::topology::SimpleCommunicator>,
    released: Cell<bool>,
}

impl Cluster {
    /// Join the MPI job when launched by mpirun; a cluster of one otherwise.
    pub fn init() -> Cluster {
        let universe = mpi_transport::initialize();
        let world = universe.as_ref().map(|u| u.world());
        Cluster { universe, world, released: Cell::new(false) }
    }

    /// A cluster of this process alone (no MPI), whatever launched it.
    pub fn none() -> Cluster {
        Cluster { universe: None, world: None, released: Cell::new(false) }
    }

    /// True under mpirun.
    pub fn is_mpi(&self) -> bool {
        self.universe.is_some()
    }

    /// This process's rank (0 without MPI).
    pub fn rank(&self) -> i32 {
        self.world.as_ref().map_or(0, |w| mpi_transport::rank_and_size(w).0)
    }

    /// True on the rank that coordinates (rank 0, or the only process).
    pub fn is_coordinator(&self) -> bool {
        self.rank() == 0
    }

    /// Who hears of a lost rank, at once, on whatever thread notices it:
    /// the CLI says so and ends the process (MPI cannot be finalised with
    /// a rank gone).
    pub fn on_rank_lost(f: impl Fn(&EngineError) + Send + Sync + 'static) {
        mpi_transport::on_rank_lost(f);
    }

    /// This node's name (for messages naming a rank).
    pub fn host(&self) -> String {
        stylize_engine::hostname()
    }

    /// This rank's index among the ranks on its node (to pick a GPU).
    pub fn local_rank(&self) -> usize {
        mpi_transport::local_rank()
    }

    /// A worker rank's part: run the tasks rank 0 sends through `handler`
    /// until it says stop.
    pub fn serve(&self, handler: &mut dyn Handler) -> Result<()> {
        match &self.world {
            Some(world) => mpi_transport::serve(world, handler),
            None => Ok(()),
        }
    }

    /// The coordinator's transport: MPI ranks (plus `local`, rank 0's own
    /// workers, if any), or `local` alone in-process.
    fn transport(&self, local: Vec<Box<dyn Handler>>) -> Result<Box<dyn Transport + '_>> {
        match &self.world {
            Some(world) => {
                self.released.set(true);
                Ok(Box::new(MpiTransport::new(world, local)?))
            }
            None if local.is_empty() => {
                let why = "a coordinator that runs no shard needs mpirun and at least 2 ranks";
                Err(TransportError::Unavailable(why.into()).into())
            }
            None => Ok(Box::new(InProcess::start(local, "rank 0"))),
        }
    }
}

/// Rank 0's launcher: the job's shards go to the ranks of the cluster
/// (and to rank 0's own workers unless it only coordinates).
pub struct MpiLauncher<'c> {
    /// The MPI job.
    pub cluster: &'c Cluster,
    /// Rank 0 only coordinates, it runs no shard itself.
    pub coordinator_only: bool,
}

impl Launcher for MpiLauncher<'_> {
    fn runs_shards_here(&self) -> bool {
        !self.coordinator_only
    }

    fn transport<'a>(&'a self, _job: &JobContext<'a>, local: Vec<Box<dyn Handler>>) -> Result<Box<dyn Transport + 'a>> {
        self.cluster.transport(local)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let (Some(world), false, true) = (&self.world, self.released.get(), self.is_coordinator()) {
            mpi_transport::release_workers(world);
        }
    }
}
