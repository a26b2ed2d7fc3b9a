//! Azure Storage: the blob [`Store`](crate::store::Store) backend, the
//! event queue that triggers jobs, BlobCreated event parsing, SAS minting,
//! and URL redaction.
//!
//! Built on the official `azure_storage_blob`/`azure_storage_queue` crates,
//! which authenticate by a SAS in the URL or an Entra token (managed
//! identity), never by shared key; an account key is used here only to
//! mint a SAS ([`sas`]). Every message that shows a URL goes through
//! [`redact`]: no signature or key ever reaches a log line, an error or a
//! manifest. Tested against Azurite (`engine/tests/azurite.rs`).

pub mod blob;
pub mod events;
mod lease;
pub mod queue;
mod rt;
pub mod sas;
pub mod url;

pub use blob::{download_blob, upload_blob, BlobStore, BLOCK_SIZE};
pub use events::{parse_blob_created, BlobCreated, EventError, EventFilter, BLOB_CREATED};
pub use queue::{decode_payload, poison_excerpt, EventQueue, QueueMessage, POISON_EXCERPT};
pub use rt::{BLOCK_TIMEOUT, OP_TIMEOUT};
pub use sas::{
    account_sas, container_sas, format_time, queue_sas, AccountKey, ConnectionString, SasProtocol, SAS_VERSION,
};
pub use url::{redact, Service, StorageUrl, REDACTED};
