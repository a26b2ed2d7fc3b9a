//! Storage URLs: parsing both address forms, and redaction.
//!
//! A SAS token is a bearer secret: whoever reads it can use it until it
//! expires. So a URL is never shown as typed. [`StorageUrl`]'s `Display`
//! and every error built in this module go through [`redact`], which
//! blanks the `sig=` value (and any `AccountKey=` of a connection string)
//! wherever it occurs in a string, including inside error text that a
//! library copied the URL into.
//!
//! Two forms are understood:
//! - Azure: `https://<account>.blob.core.windows.net/<container>[/<blob>][?<sas>]`
//!   (and `.queue.`; any host with a `blob`/`queue` label counts, so sovereign
//!   clouds and private-link names parse too);
//! - Azurite and other emulators, path-style:
//!   `http://127.0.0.1:<port>/<account>/<container>[/<blob>][?<sas>]`.

use std::fmt;

use url::Url;

use stylize_engine::{EngineError, Result};

pub use stylize_engine::{redact, REDACTED};

/// Which storage service a URL addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// Blob Storage.
    Blob,
    /// Queue Storage.
    Queue,
}

impl Service {
    fn label(self) -> &'static str {
        match self {
            Service::Blob => "blob",
            Service::Queue => "queue",
        }
    }
}

/// A parsed storage URL: an account endpoint, an optional container (or
/// queue) and blob path, and an optional SAS. Its `Display` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct StorageUrl {
    /// Blob or queue service.
    pub service: Service,
    /// The account name.
    pub account: String,
    /// The service endpoint without query: `https://acct.blob.core.windows.net/`
    /// or, path-style, `http://127.0.0.1:10000/devstoreaccount1/`.
    pub endpoint: Url,
    /// True for emulator (path-style) URLs.
    pub path_style: bool,
    /// The container or queue name, if the URL names one.
    pub container: Option<String>,
    /// The blob name (decoded, `/`-separated) under the container, if any.
    pub blob: Option<String>,
    /// The SAS query string without `?`, if any. A secret.
    pub(crate) sas: Option<String>,
}

/// Loopback hosts (Azurite on this machine), the only ones plain http may
/// reach.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

impl StorageUrl {
    /// Parse `s` as a URL of `service`. A host-style URL of the other
    /// service is refused, so a queue URL passed as a store is caught early.
    pub fn parse(s: &str, service: Service) -> Result<Self> {
        let bad = |reason: &str| EngineError::Remote { url: redact(s), reason: reason.to_string() };
        let url = Url::parse(s.trim()).map_err(|e| bad(&format!("not a URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("not an http(s) URL"));
        }
        let host = url.host_str().ok_or_else(|| bad("URL has no host"))?.to_ascii_lowercase();
        if url.scheme() == "http" && !is_loopback(&url) {
            return Err(bad(
                "plain http would send the credentials in clear: use https (http only for loopback, e.g. Azurite)",
            ));
        }
        let labels: Vec<&str> = host.split('.').collect();
        let host_label = labels.iter().skip(1).find(|l| **l == "blob" || **l == "queue").copied();
        let mut segments: Vec<String> = url
            .path_segments()
            .map(|it| it.filter(|p| !p.is_empty()).map(decode).collect::<Result<Vec<_>, _>>())
            .transpose()
            .map_err(|_| bad("URL path is not valid UTF-8"))?
            .unwrap_or_default();
        let mut endpoint = url.clone();
        endpoint.set_query(None);
        endpoint.set_fragment(None);
        let (account, path_style) = match host_label {
            Some(label) => {
                if label != service.label() {
                    return Err(bad(&format!("is a {label} URL, expected a {} URL", service.label())));
                }
                endpoint.set_path("/");
                (labels[0].to_string(), false)
            }
            None => {
                if segments.is_empty() {
                    return Err(bad("path-style URL has no account name"));
                }
                let account = segments.remove(0);
                endpoint.set_path(&format!("/{account}/"));
                (account, true)
            }
        };
        let container = if segments.is_empty() { None } else { Some(segments.remove(0)) };
        let blob = if segments.is_empty() { None } else { Some(segments.join("/")) };
        let sas = url.query().filter(|q| !q.is_empty()).map(str::to_string);
        Ok(StorageUrl { service, account, endpoint, path_style, container, blob, sas })
    }

    /// One SAS parameter, decoded (`se`, `sp`, `spr`…); never `sig`'s
    /// value for printing.
    pub fn sas_param(&self, name: &str) -> Option<String> {
        let sas = self.sas.as_deref()?;
        url::form_urlencoded::parse(sas.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
    }

    /// Refuse a SAS past its expiry (`se`) up front: every request would
    /// fail with a bare 403, after the job had started.
    pub fn check_expiry(&self) -> Result<()> {
        let Some(se) = self.sas_param("se") else { return Ok(()) };
        let now = stylize_engine::format_time(std::time::SystemTime::now());
        // ISO 8601 in UTC compares as text; a date alone ends that day.
        let expired = if se.len() == 10 { se.as_str() < &now[..10] } else { se.as_str() <= now.as_str() };
        if expired {
            return Err(self.error(format!("the SAS expired at {se}: make a new one")));
        }
        Ok(())
    }

    /// The SAS query string (a secret: never print it).
    pub fn sas(&self) -> Option<&str> {
        self.sas.as_deref()
    }

    /// True when the URL carries a signed SAS (`sig=`).
    pub fn has_sas(&self) -> bool {
        self.sas.as_deref().is_some_and(|q| q.split('&').any(|p| p.starts_with("sig=")))
    }

    /// Replace the SAS (e.g. one minted from an account key).
    pub fn with_sas(mut self, sas: Option<String>) -> Self {
        self.sas = sas.map(|s| s.trim_start_matches('?').to_string()).filter(|s| !s.is_empty());
        self
    }

    /// The same account and SAS, another container/queue and no blob.
    pub fn sibling(&self, container: &str) -> Self {
        StorageUrl { container: Some(container.to_string()), blob: None, ..self.clone() }
    }

    /// The URL of the container (or queue) with the SAS; for SDK clients.
    pub fn container_url(&self) -> Result<Url> {
        let c = self.container.as_deref().ok_or_else(|| self.error("URL names no container or queue"))?;
        Ok(self.build(&[c]))
    }

    /// The URL of blob `name` (`/`-separated) in the container, with the SAS.
    pub fn blob_url(&self, name: &str) -> Result<Url> {
        let c = self.container.as_deref().ok_or_else(|| self.error("URL names no container"))?;
        let mut parts = vec![c];
        parts.extend(name.split('/'));
        Ok(self.build(&parts))
    }

    /// The service endpoint with the SAS (account-level operations).
    pub fn service_url(&self) -> Url {
        self.build(&[])
    }

    fn build(&self, parts: &[&str]) -> Url {
        let mut url = self.endpoint.clone();
        {
            let mut segs = url.path_segments_mut().expect("http URLs are base URLs");
            segs.pop_if_empty();
            segs.extend(parts);
        }
        url.set_query(self.sas.as_deref());
        url
    }

    /// An error about this resource; the URL in it is redacted.
    pub fn error(&self, reason: impl Into<String>) -> EngineError {
        EngineError::Remote { url: self.to_string(), reason: redact(&reason.into()) }
    }
}

/// Percent-decode one path segment (blob names are shown and keyed decoded).
fn decode(seg: &str) -> Result<String, std::str::Utf8Error> {
    let bytes = seg.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    std::str::from_utf8(&out).map(str::to_string)
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

impl fmt::Display for StorageUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<&str> = Vec::new();
        if let Some(c) = &self.container {
            parts.push(c);
        }
        if let Some(b) = &self.blob {
            parts.extend(b.split('/'));
        }
        let mut url = self.build(&parts);
        url.set_query(None);
        let mut s = url.to_string();
        if let Some(q) = &self.sas {
            s.push('?');
            s.push_str(q);
        }
        f.write_str(&redact(&s))
    }
}

impl fmt::Debug for StorageUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StorageUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_sig_anywhere() {
        let s = "error sending request for url (http://h/a/c?sv=2021-08-06&sp=rl&sig=abc%2B%2F%3D&se=x): boom";
        let r = redact(s);
        assert!(!r.contains("abc"), "{r}");
        assert!(r.contains("sig=REDACTED&se=x"), "{r}");
        assert_eq!(redact("?sig=xyz"), "?sig=REDACTED");
        assert_eq!(redact("a SIG=xyz b"), "a SIG=REDACTED b");
        assert_eq!(redact("msig=keep"), "msig=keep");
        let enc = redact("u=http%3A%2F%2Fh%3Fsv%3D1%26sig%3Dq%2Bw%3D%26se%3D2");
        assert!(!enc.contains("q%2Bw"), "{enc}");
        assert!(enc.contains("%26se%3D2"), "{enc}");
    }

    #[test]
    fn redacts_account_key() {
        let c = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vd+/==;BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;";
        let r = redact(c);
        assert!(!r.contains("Eby8"), "{r}");
        assert!(r.contains("AccountKey=REDACTED;BlobEndpoint"), "{r}");
        // Spaces around `=`, as some config files and tools write it.
        let spaced = redact("AccountName = a; AccountKey = Eby8vd+/==; x");
        assert!(!spaced.contains("Eby8") && spaced.contains("AccountKey = REDACTED;"), "{spaced}");
        assert_eq!(redact("sig = abc&x"), "sig = REDACTED&x");
        // A colon after a signature is the message's, not the secret's.
        assert_eq!(redact("htps://h/c?sig=abc: unknown"), "htps://h/c?sig=REDACTED: unknown");
        assert_eq!(redact("signal = on"), "signal = on");
    }

    #[test]
    fn an_expired_sas_is_refused() {
        let old =
            StorageUrl::parse("https://a.blob.core.windows.net/c?se=2020-01-01T00%3A00%3A00Z&sig=x", Service::Blob);
        let err = old.unwrap().check_expiry().unwrap_err().to_string();
        assert!(err.contains("expired at 2020-01-01T00:00:00Z") && !err.contains("sig=x"), "{err}");
        let day = StorageUrl::parse("https://a.blob.core.windows.net/c?se=2020-01-01&sig=x", Service::Blob);
        assert!(day.unwrap().check_expiry().is_err());
        let later = StorageUrl::parse("https://a.blob.core.windows.net/c?se=2999-01-01&sig=x", Service::Blob);
        assert!(later.unwrap().check_expiry().is_ok());
    }

    #[test]
    fn plain_http_only_to_loopback() {
        let remote = StorageUrl::parse("http://acct.blob.core.windows.net/c?sig=x", Service::Blob);
        assert!(remote.unwrap_err().to_string().contains("use https"));
        assert!(StorageUrl::parse("http://127.0.0.1:10000/devstoreaccount1/c", Service::Blob).is_ok());
        assert!(StorageUrl::parse("http://localhost:10000/devstoreaccount1/c", Service::Blob).is_ok());
        assert!(StorageUrl::parse("https://acct.blob.core.windows.net/c", Service::Blob).is_ok());
    }

    #[test]
    fn parses_azure_host_style() {
        let u =
            StorageUrl::parse("https://acct.blob.core.windows.net/videos/in/a%20b.mp4?sv=1&sig=SECRET", Service::Blob)
                .unwrap();
        assert_eq!(u.account, "acct");
        assert!(!u.path_style);
        assert_eq!(u.container.as_deref(), Some("videos"));
        assert_eq!(u.blob.as_deref(), Some("in/a b.mp4"));
        assert!(u.has_sas());
        let shown = u.to_string();
        assert_eq!(shown, "https://acct.blob.core.windows.net/videos/in/a%20b.mp4?sv=1&sig=REDACTED");
        assert_eq!(
            u.blob_url("x/y z").unwrap().as_str(),
            "https://acct.blob.core.windows.net/videos/x/y%20z?sv=1&sig=SECRET"
        );
        assert!(StorageUrl::parse("https://acct.queue.core.windows.net/q", Service::Blob).is_err());
        let q = StorageUrl::parse("https://acct.queue.core.windows.net/events", Service::Queue).unwrap();
        assert_eq!(q.container.as_deref(), Some("events"));
        assert!(!q.has_sas());
        assert_eq!(
            q.sibling("events-poison").container_url().unwrap().as_str(),
            "https://acct.queue.core.windows.net/events-poison"
        );
    }

    #[test]
    fn parses_path_style() {
        let u = StorageUrl::parse("http://127.0.0.1:10000/devstoreaccount1/c/pre/fix?sig=S", Service::Blob).unwrap();
        assert!(u.path_style);
        assert_eq!(u.account, "devstoreaccount1");
        assert_eq!(u.container.as_deref(), Some("c"));
        assert_eq!(u.blob.as_deref(), Some("pre/fix"));
        assert_eq!(u.container_url().unwrap().as_str(), "http://127.0.0.1:10000/devstoreaccount1/c?sig=S");
        assert_eq!(u.service_url().as_str(), "http://127.0.0.1:10000/devstoreaccount1?sig=S");
        assert_eq!(u.to_string(), "http://127.0.0.1:10000/devstoreaccount1/c/pre/fix?sig=REDACTED");
        let e = StorageUrl::parse("http://127.0.0.1:10000/", Service::Blob).unwrap_err().to_string();
        assert!(e.contains("no account"), "{e}");
        let e = StorageUrl::parse("nonsense?sig=SECRET", Service::Blob).unwrap_err().to_string();
        assert!(!e.contains("SECRET"), "{e}");
    }
}
