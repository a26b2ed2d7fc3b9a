//! The MPI adapter of the stylize engine: a fixed allocation of ranks
//! (`mpirun -n N stylize submit …`), rank 0 coordinating through the
//! engine's driver ([`MpiLauncher`]), every other rank serving shards
//! ([`Cluster::serve`]). MPI's types stay inside this crate.
#![deny(missing_docs)]

mod launch;
mod transport;

pub use launch::{Cluster, MpiLauncher};
pub use transport::{silence_limit, worker_id, HEARTBEAT};

/// The MPI library's version, for `stylize --version`.
pub fn library_version() -> String {
    // MPI_Get_library_version may be called before MPI_Init.
    ::mpi::environment::library_version()
        .map(|v| v.split([',', '\n']).next().unwrap_or_default().trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}
