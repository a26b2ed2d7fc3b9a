//! location: where an input comes from and where a job's store lives: a
//! local path, or an Azure Blob Storage URL (SAS in the query, or a managed
//! identity in Azure). Only redacted forms of URLs are ever shown.

use std::path::{Path, PathBuf};

use crate::error::{EngineError, Result};
use crate::store::{LocalStore, Store};

/// A file or directory here, or a blob or container there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A local path.
    Local(PathBuf),
    /// An `http(s)://` URL of Azure Blob Storage (or Azurite), or a
    /// connection string naming a container.
    Remote(String),
}

/// How remote locations may be reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RemoteOptions {
    /// Refuse anything but a SAS token (no account key).
    pub sas_only: bool,
    /// Authenticate as the machine's managed identity (Entra ID) where a
    /// URL carries no SAS: the way for compute inside Azure, no secret at
    /// all. Needs https.
    pub managed_identity: bool,
}

/// The managed identity's credential, for URLs without a SAS.
fn identity(
    url: &str,
    options: RemoteOptions,
) -> Result<Option<std::sync::Arc<dyn azure_core::credentials::TokenCredential>>> {
    if !options.managed_identity || crate::azure::ConnectionString::looks_like(url) {
        return Ok(None);
    }
    let parsed = crate::azure::StorageUrl::parse(url, crate::azure::Service::Blob)?;
    if !options.managed_identity || parsed.has_sas() {
        return Ok(None);
    }
    let credential = azure_identity::ManagedIdentityCredential::new(None)
        .map_err(|e| parsed.error(format!("managed identity: {e}")))?;
    Ok(Some(credential))
}

impl Location {
    /// A URL (or an account-key connection string) if it looks like one,
    /// else a path.
    pub fn parse(s: &str) -> Self {
        if s.starts_with("https://") || s.starts_with("http://") || crate::azure::ConnectionString::looks_like(s) {
            Location::Remote(s.to_string())
        } else {
            Location::Local(PathBuf::from(s))
        }
    }

    /// As [`Location::parse`], but what is neither a path nor a valid
    /// `http(s)://` URL (or a connection string) is refused: a mistyped
    /// scheme (`htps://…?sig=…`) would otherwise become a folder named
    /// after a secret, after the whole job ran. Plain http is refused
    /// except to loopback (Azurite). The error never shows the secret.
    pub fn parse_checked(s: &str) -> Result<Self> {
        let bad = |reason: String| EngineError::BadInput { path: crate::azure::redact(s).into(), reason };
        let lower = s.to_ascii_lowercase();
        if lower.starts_with("https://") || lower.starts_with("http://") {
            let url = url::Url::parse(s.trim()).map_err(|e| bad(format!("not a valid URL ({e})")))?;
            if url.scheme() == "http" && !crate::azure::url::is_loopback(&url) {
                return Err(bad("plain http would send the credentials in clear: use https".into()));
            }
            return Ok(Location::Remote(s.to_string()));
        }
        if crate::azure::ConnectionString::looks_like(s) {
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

    /// For messages and manifests: paths as they are, URLs redacted.
    pub fn display(&self) -> String {
        match self {
            Location::Local(p) => p.display().to_string(),
            Location::Remote(u) => crate::azure::redact(u),
        }
    }

    /// What names this input for its output's name: the canonical path
    /// (so `clip.mp4` and `./clip.mp4` are one), or the URL without its
    /// query (so a new SAS is the same input).
    pub fn identity(&self) -> String {
        match self {
            Location::Local(p) => std::fs::canonicalize(p).unwrap_or_else(|_| p.clone()).display().to_string(),
            Location::Remote(u) => crate::azure::redact(u.split('?').next().unwrap_or(u)),
        }
    }

    /// The input's path as its output keeps it: the blob's path in its
    /// container (folders kept: `u1/dup.mp4`), or a local file's name.
    pub fn path_in_container(&self) -> String {
        match self {
            Location::Local(_) => self.file_name(),
            Location::Remote(u) => crate::azure::StorageUrl::parse(u, crate::azure::Service::Blob)
                .ok()
                .and_then(|p| p.blob.clone())
                .unwrap_or_else(|| self.file_name()),
        }
    }

    /// The file name of the input (for naming the output).
    pub fn file_name(&self) -> String {
        match self {
            Location::Local(p) => p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            Location::Remote(u) => {
                let path = u.split('?').next().unwrap_or(u);
                path.rsplit('/').next().unwrap_or("input").to_string()
            }
        }
    }
}

/// Open the store at `location`.
pub fn open_store(location: &Location, options: RemoteOptions) -> Result<Box<dyn Store>> {
    match location {
        Location::Local(dir) => Ok(Box::new(LocalStore::open(dir)?)),
        Location::Remote(url) => match identity(url, options)? {
            Some(credential) => Ok(Box::new(crate::azure::BlobStore::with_credential(url, credential)?)),
            None => Ok(Box::new(crate::azure::BlobStore::open(url, options.sas_only)?)),
        },
    }
}

/// The input as a local file: itself, or downloaded (streamed) into
/// `scratch` when remote.
pub fn fetch_input(location: &Location, scratch: &Path, options: RemoteOptions) -> Result<PathBuf> {
    match location {
        Location::Local(p) => Ok(p.clone()),
        Location::Remote(url) => {
            let parsed = crate::azure::StorageUrl::parse(url, crate::azure::Service::Blob)?;
            parsed.check_expiry()?;
            let credential = identity(url, options)?;
            if options.sas_only && !parsed.has_sas() && credential.is_none() {
                return Err(parsed.error("--sas-only: no SAS token in the URL"));
            }
            // A fixed local name: a blob's name may be longer than a file
            // name can be (255 bytes); its extension is kept for FFmpeg.
            let name = location.file_name();
            let ext = Path::new(&name).extension().and_then(|e| e.to_str()).filter(|e| e.len() <= 8);
            let dst = scratch.join(ext.map_or_else(|| "input".to_string(), |e| format!("input.{e}")));
            match credential {
                Some(credential) => {
                    let blob = parsed.blob.clone().ok_or_else(|| parsed.error("URL names no blob"))?;
                    let container = parsed.container_url()?.to_string();
                    let store = crate::azure::BlobStore::with_credential(&container, credential)?;
                    if !store.get_file(&blob, &dst)? {
                        return Err(parsed.error("no such blob"));
                    }
                }
                None => crate::azure::download_blob(url, &dst)?,
            }
            Ok(dst)
        }
    }
}
