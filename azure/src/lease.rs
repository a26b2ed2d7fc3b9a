//! A job's lock in a container: a blob lease on `jobs/<id>/lock`. Two
//! watchers (or a watcher and a submit) on one job would otherwise both do
//! the whole work; with the lease the second waits, then finds the job
//! committed. The lease lasts [`LEASE_SECS`] and is renewed in the
//! background, so a killed holder frees the job within that time.

use std::sync::Arc;
use std::time::Duration;

use azure_storage_blob::models::BlobClientAcquireLeaseOptions;
use azure_storage_blob::BlobClient;

use super::rt::{self, remote, Shared, OP_TIMEOUT};
use super::url::StorageUrl;
use stylize_engine::Held;
use stylize_engine::Result;

/// Seconds a lease lasts without renewal (Azure allows 15 to 60).
pub const LEASE_SECS: i32 = 30;
/// How often a waiting process tries again.
const RETRY: Duration = Duration::from_secs(2);

/// The held lease: renewed until dropped, then released.
struct Lease {
    shared: Arc<Shared>,
    client: Arc<BlobClient>,
    id: String,
    renew: tokio::task::JoinHandle<()>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renew.abort();
        let (client, id) = (self.client.clone(), self.id.clone());
        self.shared.block_on(async move {
            let _ = tokio::time::timeout(OP_TIMEOUT, client.release_lease(id, None)).await;
        });
    }
}

/// The lock blob's client, its name as shown, and the runtime.
pub(super) struct LockBlob {
    /// The blob's client.
    pub client: BlobClient,
    /// Its URL, redacted, for messages.
    pub shown: StorageUrl,
    /// The runtime that drives its requests.
    pub shared: Arc<Shared>,
}

/// Take the lease on the lock blob (`create` makes the empty blob first
/// when it is missing), waiting while another holds it.
pub(super) fn lock(blob: LockBlob, create: &dyn Fn() -> Result<()>, waiting: &dyn Fn()) -> Result<Held> {
    let LockBlob { client, shown, shared } = blob;
    // Two creators race harmlessly; a lease already taken makes the
    // second write fail, and the acquire below then waits.
    let _ = create();
    let client = Arc::new(client);
    let id = lease_id();
    let mut told = false;
    loop {
        let options = BlobClientAcquireLeaseOptions { proposed_lease_id: Some(id.clone()), ..Default::default() };
        let acquired = shared.block_on(async {
            tokio::time::timeout(OP_TIMEOUT, client.acquire_lease(LEASE_SECS, Some(options))).await
        });
        match acquired {
            Ok(Ok(_)) => break,
            Ok(Err(e)) if rt::status(&e) == Some(409) => {
                if !told {
                    waiting();
                    told = true;
                }
                std::thread::sleep(RETRY);
            }
            Ok(Err(e)) => return Err(remote(&shown, "taking the job's lease")(e)),
            Err(_) => return Err(lease_timeout(&shown)),
        }
    }
    let renew = {
        let (client, id, shown) = (client.clone(), id.clone(), shown.clone());
        shared.spawn(async move {
            let every = Duration::from_secs((LEASE_SECS / 3) as u64);
            loop {
                tokio::time::sleep(every).await;
                // Told at info level: when the store is down the job fails
                // with its own one-line error, which these must not crowd.
                match tokio::time::timeout(OP_TIMEOUT, client.renew_lease(id.clone(), None)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => {
                        tracing::info!(lock = %shown, error = %rt::reason("renewing the job's lease", &e), "job lease")
                    }
                    Err(_) => tracing::info!(lock = %shown, "renewing the job's lease: no answer"),
                }
            }
        })
    };
    Ok(Held::new(Lease { shared, client, id, renew }))
}

fn lease_timeout(shown: &StorageUrl) -> stylize_engine::EngineError {
    shown.error(format!("taking the job's lease: no answer within {} s", OP_TIMEOUT.as_secs()))
}

/// A fresh GUID-shaped lease id (the service wants one).
fn lease_id() -> String {
    let a = rt::nonce();
    let b = rt::nonce();
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        b >> 52,
        b & 0xffff_ffff_ffff
    )
}
