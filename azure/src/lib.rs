//! The Azure adapter of the stylize engine: Blob Storage as a
//! [`Store`](stylize_engine::Store) and a [`Remote`](stylize_engine::Remote)
//! (where inputs and job stores are URLs), the event queue that triggers
//! jobs ([`watch`]), BlobCreated event parsing, SAS minting, and URL
//! parsing.
//!
//! Built on the official `azure_storage_blob`/`azure_storage_queue` crates,
//! which authenticate by a SAS in the URL or an Entra token (managed
//! identity), never by shared key; an account key is used here only to
//! mint a SAS ([`sas`]). Every message that shows a URL goes through
//! [`redact`]: no signature or key ever reaches a log line, an error or a
//! manifest. Tested against Azurite (`azure/tests/azurite.rs`).
#![deny(missing_docs)]

pub mod blob;
pub mod events;
pub mod eviction;
mod lease;
pub mod queue;
mod remote;
mod rt;
pub mod sas;
pub mod serve;
pub mod tasks;
pub mod url;
pub mod watch;

pub use blob::{download_blob, upload_blob, BlobStore, BLOCK_SIZE};
pub use events::{parse_blob_created, BlobCreated, EventError, EventFilter, BLOB_CREATED};
pub use queue::{decode_payload, poison_excerpt, EventQueue, QueueMessage, POISON_EXCERPT};
pub use remote::{parse_location, AzureRemote};
pub use rt::{BLOCK_TIMEOUT, OP_TIMEOUT};
pub use sas::{account_sas, container_sas, queue_sas, AccountKey, ConnectionString, SasProtocol, SAS_VERSION};
pub use stylize_engine::{format_time, redact, REDACTED};
pub use tasks::QueueLauncher;
pub use url::{Service, StorageUrl};
