//! remote: Azure Blob Storage as the engine's [`Remote`]: how a job's
//! input is fetched and its store opened when they are URLs (a SAS in the
//! query, an account-key connection string, or the machine's managed
//! identity), and which strings are such locations at all.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use stylize_engine::{redact, EngineError, Location, Remote, Result, Store};

use crate::blob::{download_blob, BlobStore};
use crate::sas::ConnectionString;
use crate::url::{is_loopback, Service, StorageUrl};

/// How remote locations may be reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AzureRemote {
    /// Refuse anything but a SAS token (no account key).
    pub sas_only: bool,
    /// Authenticate as the machine's managed identity (Entra ID) where a
    /// URL carries no SAS: the way for compute inside Azure, no secret at
    /// all. Needs https.
    pub managed_identity: bool,
}

impl AzureRemote {
    /// The managed identity's credential, for URLs without a SAS.
    fn identity(&self, url: &str) -> Result<Option<Arc<dyn azure_core::credentials::TokenCredential>>> {
        if !self.managed_identity || ConnectionString::looks_like(url) {
            return Ok(None);
        }
        let parsed = StorageUrl::parse(url, Service::Blob)?;
        if parsed.has_sas() {
            return Ok(None);
        }
        let credential = azure_identity::ManagedIdentityCredential::new(None)
            .map_err(|e| parsed.error(format!("managed identity: {e}")))?;
        Ok(Some(credential))
    }

    /// The queue at `url`: by its SAS, else as the managed identity when
    /// asked for (Entra tokens work for queues as for blobs).
    pub fn queue(&self, url: &str) -> Result<crate::queue::EventQueue> {
        let url = &crate::sas::url_with_sas(url, Service::Queue, self.sas_only)?;
        let credential = if self.managed_identity && !StorageUrl::parse(url, Service::Queue)?.has_sas() {
            let parsed = StorageUrl::parse(url, Service::Queue)?;
            Some(
                azure_identity::ManagedIdentityCredential::new(None)
                    .map_err(|e| parsed.error(format!("managed identity: {e}")))?
                    as Arc<dyn azure_core::credentials::TokenCredential>,
            )
        } else {
            None
        };
        crate::queue::EventQueue::open_as(url, self.sas_only, credential)
    }

    /// The blob store at `url`, as [`Remote::open_store`] opens it.
    pub fn blob_store(&self, url: &str) -> Result<BlobStore> {
        match self.identity(url)? {
            Some(credential) => BlobStore::with_credential(url, credential),
            None => BlobStore::open(url, self.sas_only),
        }
    }
}

impl Remote for AzureRemote {
    fn open_store(&self, url: &str) -> Result<Box<dyn Store>> {
        Ok(Box::new(self.blob_store(url)?))
    }

    fn fetch(&self, url: &str, dst: &Path) -> Result<()> {
        let parsed = StorageUrl::parse(url, Service::Blob)?;
        parsed.check_expiry()?;
        let credential = self.identity(url)?;
        if self.sas_only && !parsed.has_sas() && credential.is_none() {
            return Err(parsed.error("--sas-only: no SAS token in the URL"));
        }
        match credential {
            Some(credential) => {
                let blob = parsed.blob.clone().ok_or_else(|| parsed.error("URL names no blob"))?;
                let container = parsed.container_url()?.to_string();
                let store = BlobStore::with_credential(&container, credential)?;
                if !store.get_file(&blob, dst)? {
                    return Err(parsed.error("no such blob"));
                }
                Ok(())
            }
            None => download_blob(url, dst),
        }
    }

    fn object_path(&self, url: &str) -> Option<String> {
        StorageUrl::parse(url, Service::Blob).ok().and_then(|p| p.blob)
    }
}

/// A location argument: a path, or a valid `http(s)://` URL (or an
/// account-key connection string). What is neither is refused: a mistyped
/// scheme (`htps://…?sig=…`) would otherwise become a folder named after a
/// secret, after the whole job ran. Plain http is refused except to
/// loopback (Azurite). The error never shows the secret.
pub fn parse_location(s: &str) -> Result<Location> {
    let bad = |reason: String| EngineError::BadInput { path: redact(s).into(), reason };
    let lower = s.to_ascii_lowercase();
    if lower.starts_with("https://") || lower.starts_with("http://") {
        let url = url::Url::parse(s.trim()).map_err(|e| bad(format!("not a valid URL ({e})")))?;
        if url.scheme() == "http" && !is_loopback(&url) {
            return Err(bad("plain http would send the credentials in clear: use https".into()));
        }
        return Ok(Location::Remote(s.to_string()));
    }
    if ConnectionString::looks_like(s) {
        return Ok(Location::Remote(s.to_string()));
    }
    if let Some(i) = s.find("://") {
        let scheme = &s[..i];
        if !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) {
            return Err(bad(format!("unknown scheme '{scheme}': not a path, and not an http(s):// URL")));
        }
    }
    if s.contains('?') && (lower.contains("sig=") || lower.contains("sv=")) {
        return Err(bad("looks like a URL with a SAS, but does not start with https://".into()));
    }
    Ok(Location::Local(PathBuf::from(s)))
}
