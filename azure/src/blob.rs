//! [`BlobStore`]: the engine's [`Store`] over one Azure Blob container.
//!
//! Atomicity is the point. Every write stages the data as uncommitted
//! blocks and then makes ONE `Put Block List` call; until that call
//! succeeds no blob (and no empty or partial blob) is visible, and a
//! failed upload leaves only uncommitted blocks that the service discards
//! (after a week on Azure). Block ids are a random per-upload nonce plus a
//! fixed-width counter, so two writers of the same name never mix blocks.
//!
//! Downloads stream to a temporary file beside the destination and rename
//! it into place: memory stays bounded (a few 4 MiB partitions) whatever
//! the blob's size, and a reader never sees a half-written file.

use std::io::{Read, Write};
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Arc;

use azure_core::credentials::TokenCredential;
use azure_core::Bytes;
use azure_storage_blob::models::{BlobClientDownloadOptions, BlobContainerClientListBlobsOptions, BlockLookupList};
use azure_storage_blob::{
    BlobClient, BlobClientOptions, BlobContainerClient, BlobContainerClientOptions, BlockBlobClient,
    BlockBlobClientOptions,
};
use futures::stream::{FuturesUnordered, StreamExt, TryStreamExt};

use super::rt::{self, limit, remote, Shared, BLOCK_TIMEOUT, OP_TIMEOUT};
use super::sas::{account_sas, container_sas, AccountKey, ConnectionString, SasProtocol};
use super::url::{Service, StorageUrl};
use stylize_engine::redact;
use stylize_engine::Store;
use stylize_engine::{EngineError, Result};

/// Size of one staged block and of one download partition.
pub const BLOCK_SIZE: usize = 4 * 1024 * 1024;
/// Blocks staged at once (bounds memory at `BLOCK_SIZE * PARALLEL_BLOCKS`).
const PARALLEL_BLOCKS: usize = 4;
/// How long a SAS minted from an account key stays valid: a store is
/// opened per job, so a day covers the longest job with room to spare.
const KEY_SAS_LIFETIME: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// A [`Store`] over a container (and an optional name prefix inside it).
pub struct BlobStore {
    shared: Arc<Shared>,
    /// The container URL with its SAS; `blob` is unused here.
    url: StorageUrl,
    /// `""` or a prefix ending in `/` that every key lives under.
    prefix: String,
    credential: Option<Arc<dyn TokenCredential>>,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlobStore({})", self.describe())
    }
}

impl BlobStore {
    /// Open a store from a container URL with a SAS
    /// (`https://acct.blob.core.windows.net/container[/prefix]?sv=…&sig=…`,
    /// or Azurite's path-style form), or from an account-key connection
    /// string with a `Container=<container>[/<prefix>]` part, in which case
    /// a SAS is minted from the key and the key itself is dropped.
    ///
    /// With `sas_only` a connection string (an account key) and a URL
    /// without a signed SAS are refused. The container is created when
    /// missing if the SAS allows it (an account SAS with `srt` ⊇ `c` and a
    /// `c`/`w` permission); failure to create is not an error here, since the
    /// first real operation will say what is wrong.
    pub fn open(container_url: &str, sas_only: bool) -> Result<Self> {
        if ConnectionString::looks_like(container_url) {
            let has_key = container_url.to_ascii_lowercase().contains("accountkey=");
            if !has_key {
                return Err(EngineError::Remote {
                    url: redact(container_url),
                    reason:
                        "a connection string without AccountKey is not supported: pass the container URL with its SAS"
                            .into(),
                });
            }
            if sas_only {
                return Err(EngineError::Remote {
                    url: redact(container_url),
                    reason: "--sas-only: an account key is not allowed".into(),
                });
            }
            let cs = ConnectionString::parse(container_url)?;
            let container = cs.container.clone().ok_or_else(|| EngineError::Remote {
                url: redact(container_url),
                reason: "connection string has no Container=<container>[/<prefix>] part".into(),
            })?;
            return Self::open_with_key(&format!("{}/{container}", cs.blob_endpoint), &cs.key);
        }
        let url = StorageUrl::parse(container_url, Service::Blob)?;
        if sas_only && !url.has_sas() {
            return Err(url.error("no SAS token"));
        }
        let store = Self::from_url(url, None)?;
        store.ensure_container();
        Ok(store)
    }

    /// Open a store at a container URL (no SAS) by minting from `key` a
    /// SAS for that container alone (read/write/delete/list, a day long);
    /// the container is created first, with a minutes-long account SAS
    /// that may do nothing else.
    pub fn open_with_key(container_url: &str, key: &AccountKey) -> Result<Self> {
        let url = StorageUrl::parse(container_url, Service::Blob)?;
        let protocol = SasProtocol::for_endpoint(url.endpoint.as_str());
        let create_until = std::time::SystemTime::now() + std::time::Duration::from_secs(300);
        let create = account_sas(&url.account, key, "b", "c", "c", create_until, protocol)?;
        Self::from_url(url.clone().with_sas(Some(create)), None)?.ensure_container();
        let expiry = std::time::SystemTime::now() + KEY_SAS_LIFETIME;
        let container = url.container.clone().ok_or_else(|| url.error("URL names no container"))?;
        // Scoped to this one container, https only (plain http reaches
        // only loopback: Azurite), and short-lived.
        let sas = container_sas(&url.account, key, &container, "rwdl", expiry, protocol)?;
        Self::from_url(url.with_sas(Some(sas)), None)
    }

    /// Open a store with an Entra token credential (managed identity);
    /// `container_url` must be https and carries no SAS.
    pub fn with_credential(container_url: &str, credential: Arc<dyn TokenCredential>) -> Result<Self> {
        let url = StorageUrl::parse(container_url, Service::Blob)?;
        Self::from_url(url, Some(credential))
    }

    fn from_url(url: StorageUrl, credential: Option<Arc<dyn TokenCredential>>) -> Result<Self> {
        url.check_expiry()?;
        if url.container.is_none() {
            return Err(url.error("URL names no container"));
        }
        let prefix = match url.blob.as_deref() {
            None | Some("") => String::new(),
            Some(p) => format!("{}/", p.trim_end_matches('/')),
        };
        let shared = Shared::new(&url)?;
        let url = StorageUrl { blob: None, ..url };
        Ok(BlobStore { shared, url, prefix, credential })
    }

    /// Create the container if the SAS could allow it; errors are ignored.
    fn ensure_container(&self) {
        let Some(sas) = self.url.sas() else { return };
        let param = |name: &str| {
            url::form_urlencoded::parse(sas.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
        };
        let may_create = param("srt").is_some_and(|s| s.contains('c'))
            && param("sp").is_some_and(|p| p.contains('c') || p.contains('w'));
        if !may_create {
            return;
        }
        let Ok(client) = self.container_client() else { return };
        self.shared.block_on(async {
            let _ = tokio::time::timeout(OP_TIMEOUT, client.create(None)).await;
        });
    }

    fn container_client(&self) -> Result<BlobContainerClient> {
        let options = BlobContainerClientOptions { client_options: self.shared.client_options(), ..Default::default() };
        BlobContainerClient::new(self.url.container_url()?, self.credential.clone(), Some(options))
            .map_err(remote(&self.url, "creating client"))
    }

    fn blob_name(&self, key: &str) -> String {
        format!("{}{}", self.prefix, key.trim_start_matches('/'))
    }

    fn blob_target(&self, key: &str) -> Result<Target> {
        let name = self.blob_name(key);
        let url = StorageUrl { blob: Some(name.clone()), ..self.url.clone() };
        Ok(Target { sdk_url: self.url.blob_url(&name)?, shown: url })
    }

    fn blob_client(&self, t: &Target) -> Result<BlobClient> {
        let options = BlobClientOptions { client_options: self.shared.client_options(), ..Default::default() };
        BlobClient::new(t.sdk_url.clone(), self.credential.clone(), Some(options))
            .map_err(remote(&t.shown, "creating client"))
    }

    fn block_client(&self, t: &Target) -> Result<BlockBlobClient> {
        let options = BlockBlobClientOptions { client_options: self.shared.client_options(), ..Default::default() };
        BlockBlobClient::new(t.sdk_url.clone(), self.credential.clone(), Some(options))
            .map_err(remote(&t.shown, "creating client"))
    }

    /// What a lease on `key` needs: its client, its shown URL, the runtime.
    fn lock_blob(&self, key: &str) -> Result<super::lease::LockBlob> {
        let t = self.blob_target(key)?;
        Ok(super::lease::LockBlob { client: self.blob_client(&t)?, shown: t.shown, shared: self.shared.clone() })
    }

    /// All blob names (full, with the store prefix) under `name_prefix`.
    async fn list_names(&self, name_prefix: &str) -> Result<Vec<String>> {
        let client = self.container_client()?;
        let options = BlobContainerClientListBlobsOptions {
            prefix: Some(name_prefix.to_string()).filter(|p| !p.is_empty()),
            ..Default::default()
        };
        let mut pages = client.list_blobs(Some(options)).map_err(remote(&self.url, "listing"))?.into_pages();
        let mut names = Vec::new();
        loop {
            let page = match tokio::time::timeout(OP_TIMEOUT, pages.try_next()).await {
                Err(_) => return Err(self.url.error(format!("listing: no answer within {} s", OP_TIMEOUT.as_secs()))),
                Ok(Err(e)) if rt::status(&e) == Some(404) => break,
                Ok(r) => r.map_err(remote(&self.url, "listing"))?,
            };
            let Some(page) = page else { break };
            let model = page.into_model().map_err(remote(&self.url, "reading the listing"))?;
            names.extend(model.blob_items.into_iter().filter_map(|b| b.name));
        }
        Ok(names)
    }

    /// Keys of this store under `prefix` with directory semantics, as the
    /// local store has: `jobs/1` matches `jobs/1` and `jobs/1/…`, not `jobs/10`.
    fn keys_under(&self, prefix: &str) -> Result<Vec<String>> {
        let prefix = prefix.trim_start_matches('/');
        let names = self.shared.block_on(self.list_names(&self.blob_name(prefix)))?;
        let mut keys: Vec<String> = names
            .into_iter()
            .filter_map(|n| n.strip_prefix(&self.prefix).map(str::to_string))
            .filter(|k| {
                prefix.is_empty() || prefix.ends_with('/') || k == prefix || k.starts_with(&format!("{prefix}/"))
            })
            .collect();
        keys.sort();
        Ok(keys)
    }
}

/// A blob: the URL for the SDK (with SAS) and the one for messages.
struct Target {
    sdk_url: url::Url,
    shown: StorageUrl,
}

/// Stage `next_chunk`'s blocks (up to [`PARALLEL_BLOCKS`] at once), then
/// commit them in order with one `Put Block List`.
async fn upload_blocks(
    client: &BlockBlobClient,
    shown: &StorageUrl,
    mut next_chunk: impl FnMut() -> Result<Option<Vec<u8>>>,
) -> Result<()> {
    let nonce = rt::nonce();
    let mut ids: Vec<Vec<u8>> = Vec::new();
    let mut inflight = FuturesUnordered::new();
    while let Some(chunk) = next_chunk()? {
        // All ids of a blob must have the same length: fixed-width fields.
        let id = format!("{nonce:016x}{:08}", ids.len()).into_bytes();
        ids.push(id.clone());
        let len = chunk.len() as u64;
        inflight.push(limit(shown, "uploading a block", BLOCK_TIMEOUT, async move {
            client
                .stage_block(&id, len, Bytes::from(chunk).into(), None)
                .await
                .map(drop)
                .map_err(remote(shown, "uploading a block"))
        }));
        if inflight.len() >= PARALLEL_BLOCKS {
            inflight.next().await.expect("not empty")?;
        }
    }
    while let Some(r) = inflight.next().await {
        r?;
    }
    let list = BlockLookupList { latest: Some(ids), ..Default::default() };
    let body = list.try_into().map_err(remote(shown, "building the block list"))?;
    limit(shown, "committing", OP_TIMEOUT, async {
        client.commit_block_list(body, None).await.map(drop).map_err(remote(shown, "committing"))
    })
    .await
}

/// Read up to one block from `r`; `None` at end of input (but one empty
/// chunk is never produced: an empty source commits an empty block list).
fn read_block(r: &mut impl Read) -> std::io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::with_capacity(BLOCK_SIZE);
    r.take(BLOCK_SIZE as u64).read_to_end(&mut buf)?;
    Ok(if buf.is_empty() { None } else { Some(buf) })
}

/// True when the error means "no such blob (or container)".
fn is_not_found(e: &azure_core::Error) -> bool {
    rt::status(e) == Some(404)
}

/// Stream a blob into a temp file beside `dst`, then rename. `Ok(false)`
/// when the blob does not exist.
async fn download_to_file(client: &BlobClient, shown: &StorageUrl, dst: &Path) -> Result<bool> {
    let options = BlobClientDownloadOptions {
        parallel: NonZeroUsize::new(2),
        partition_size: NonZeroUsize::new(BLOCK_SIZE),
        ..Default::default()
    };
    let started = tokio::time::timeout(OP_TIMEOUT, client.download(Some(options))).await;
    let mut body = match started {
        Err(_) => return Err(shown.error(format!("downloading: no answer within {} s", OP_TIMEOUT.as_secs()))),
        Ok(Err(e)) if is_not_found(&e) => return Ok(false),
        Ok(r) => r.map_err(remote(shown, "downloading"))?.body,
    };
    let dir = match dst.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp")
        .tempfile_in(&dir)
        .map_err(EngineError::io_at(&dir, "creating a temporary file"))?;
    loop {
        match tokio::time::timeout(OP_TIMEOUT, body.next()).await {
            Err(_) => return Err(shown.error(format!("downloading: no data for {} s", OP_TIMEOUT.as_secs()))),
            Ok(None) => break,
            Ok(Some(Err(e))) => return Err(remote(shown, "downloading")(e)),
            Ok(Some(Ok(bytes))) => tmp.write_all(&bytes).map_err(EngineError::io_at(dst, "writing"))?,
        }
    }
    tmp.as_file().sync_all().map_err(EngineError::io_at(dst, "syncing"))?;
    tmp.persist(dst).map_err(|e| EngineError::io_at(dst, "renaming into place")(e.error))?;
    Ok(true)
}

impl Store for BlobStore {
    fn lock(&self, key: &str, waiting: &dyn Fn()) -> Result<stylize_engine::Held> {
        let create = || if self.exists(key)? { Ok(()) } else { self.put(key, b"") };
        super::lease::lock(self.lock_blob(key)?, &create, waiting)
    }

    fn describe(&self) -> String {
        let mut u = self.url.clone();
        if !self.prefix.is_empty() {
            u.blob = Some(self.prefix.trim_end_matches('/').to_string());
        }
        u.to_string()
    }

    fn describe_key(&self, key: &str) -> String {
        let mut u = self.url.clone();
        u.blob = Some(self.blob_name(key));
        u.to_string()
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let t = self.blob_target(key)?;
        let client = self.blob_client(&t)?;
        self.shared.block_on(limit(&t.shown, "reading", OP_TIMEOUT, async {
            let res = match client.download(None).await {
                Err(e) if is_not_found(&e) => return Ok(None),
                r => r.map_err(remote(&t.shown, "reading"))?,
            };
            let bytes = res.body.collect().await.map_err(remote(&t.shown, "reading"))?;
            Ok(Some(bytes.to_vec()))
        }))
    }

    fn put(&self, key: &str, bytes: &[u8]) -> Result<()> {
        let t = self.blob_target(key)?;
        let client = self.block_client(&t)?;
        let mut chunks = bytes.chunks(BLOCK_SIZE);
        self.shared.block_on(upload_blocks(&client, &t.shown, || Ok(chunks.next().map(<[u8]>::to_vec))))
    }

    fn put_file(&self, key: &str, src: &Path) -> Result<()> {
        let t = self.blob_target(key)?;
        let client = self.block_client(&t)?;
        let mut file = std::fs::File::open(src).map_err(EngineError::io_at(src, "opening"))?;
        self.shared.block_on(upload_blocks(&client, &t.shown, || {
            read_block(&mut file).map_err(EngineError::io_at(src, "reading"))
        }))
    }

    fn get_file(&self, key: &str, dst: &Path) -> Result<bool> {
        let t = self.blob_target(key)?;
        let client = self.blob_client(&t)?;
        self.shared.block_on(download_to_file(&client, &t.shown, dst))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>> {
        self.keys_under(prefix)
    }

    fn delete_prefix(&self, prefix: &str) -> Result<()> {
        for key in self.keys_under(prefix)? {
            let t = self.blob_target(&key)?;
            let client = self.blob_client(&t)?;
            self.shared.block_on(limit(&t.shown, "deleting", OP_TIMEOUT, async {
                match client.delete(None).await {
                    Err(e) if is_not_found(&e) => Ok(()),
                    r => r.map(drop).map_err(remote(&t.shown, "deleting")),
                }
            }))?;
        }
        Ok(())
    }
}

/// Open a client for a single blob given by its full URL (with SAS).
fn single_blob(blob_url: &str) -> Result<(BlobStore, String)> {
    let url = StorageUrl::parse(blob_url, Service::Blob)?;
    let name = url.blob.clone().ok_or_else(|| url.error("URL names no blob"))?;
    let store = BlobStore::from_url(StorageUrl { blob: None, ..url }, None)?;
    Ok((store, name))
}

/// Download one blob, given by its full URL with SAS, to `dst` (streamed
/// to a temp file beside it, then renamed). A missing blob is a bad input,
/// like a missing file: no retry will make it appear.
pub fn download_blob(blob_url: &str, dst: &Path) -> Result<()> {
    let (store, name) = single_blob(blob_url)?;
    if store.get_file(&name, dst)? {
        Ok(())
    } else {
        let shown = store.blob_target(&name)?.shown.to_string();
        Err(EngineError::BadInput { path: shown.into(), reason: "no such blob".into() })
    }
}

/// Upload `src` to the blob at `blob_url` (full URL with SAS): staged
/// blocks and one commit, so the blob is replaced whole or not at all.
pub fn upload_blob(blob_url: &str, src: &Path) -> Result<()> {
    let (store, name) = single_blob(blob_url)?;
    store.put_file(&name, src)
}
