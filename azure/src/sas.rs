//! Shared access signatures, signed with an account key.
//!
//! The Azure SDK crates authenticate only with a SAS in the URL or with an
//! Entra token; they do not sign requests with the account key. So a user
//! who holds the key (and the tests, which hold Azurite's well-known dev
//! key) mints a SAS here and hands the SDK a URL. Minting narrow tokens is
//! also the point of the design: people who upload inputs get `rac` on the
//! input container, the log reader gets `rl` on the log container, and so on.
//!
//! The strings to sign follow the REST documentation for version
//! 2020-12-06 and later (account SAS: "Create an account SAS"; service SAS:
//! "Create a service SAS"), HMAC-SHA256 over the base64-decoded key. The
//! unit tests pin signatures computed by Azurite 3.35's own signing code.

use std::fmt;
use std::time::SystemTime;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use stylize_engine::redact;
use stylize_engine::{EngineError, Result};

/// The `sv` written into every token: accepted by Azure and Azurite 3.35.
pub const SAS_VERSION: &str = "2021-08-06";

/// A storage account key. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct AccountKey {
    bytes: Vec<u8>,
}

impl AccountKey {
    /// Decode a key as the portal and connection strings show it (base64).
    pub fn from_base64(key: &str) -> Result<Self> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(key.trim())
            .map_err(|_| EngineError::Remote { url: "account key".into(), reason: "not valid base64".into() })?;
        Ok(AccountKey { bytes })
    }

    /// HMAC-SHA256 of `string_to_sign`, base64: the `sig` value.
    pub fn sign(&self, string_to_sign: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.bytes).expect("HMAC takes a key of any length");
        mac.update(string_to_sign.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }
}

impl fmt::Debug for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccountKey(REDACTED)")
    }
}

/// Which protocols a token allows (`spr`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SasProtocol {
    /// `https` only: the right choice against Azure.
    Https,
    /// `https,http`: needed for Azurite, which serves plain http.
    HttpsAndHttp,
}

impl SasProtocol {
    fn as_str(self) -> &'static str {
        match self {
            SasProtocol::Https => "https",
            SasProtocol::HttpsAndHttp => "https,http",
        }
    }

    /// `HttpsAndHttp` for an `http://` endpoint (an emulator), else `Https`.
    pub fn for_endpoint(endpoint: &str) -> Self {
        if endpoint.starts_with("http://") {
            SasProtocol::HttpsAndHttp
        } else {
            SasProtocol::Https
        }
    }
}

pub use stylize_engine::format_time;

fn check_chars(what: &str, value: &str, allowed: &str) -> Result<()> {
    if value.is_empty() || !value.chars().all(|c| allowed.contains(c)) {
        return Err(EngineError::Remote {
            url: "SAS".into(),
            reason: format!("{what} {value:?}: allowed letters are {allowed:?}"),
        });
    }
    Ok(())
}

fn query(pairs: &[(&str, &str)]) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// The account SAS string to sign (version 2020-12-06 and later; no start
/// time, IP range or encryption scope).
pub(crate) fn account_string_to_sign(
    account: &str,
    permissions: &str,
    services: &str,
    resource_types: &str,
    expiry: &str,
    protocol: &str,
) -> String {
    [account, permissions, services, resource_types, "", expiry, "", protocol, SAS_VERSION, "", ""].join("\n")
}

/// The blob service SAS string to sign for a container (`sr=c`).
pub(crate) fn container_string_to_sign(
    account: &str,
    container: &str,
    permissions: &str,
    expiry: &str,
    protocol: &str,
) -> String {
    let resource = format!("/blob/{account}/{container}");
    // permissions, start, expiry, resource, identifier, IP, protocol, version,
    // sr, snapshot time, encryption scope, rscc, rscd, rsce, rscl, rsct
    [permissions, "", expiry, &resource, "", "", protocol, SAS_VERSION, "c", "", "", "", "", "", "", ""].join("\n")
}

/// The queue service SAS string to sign.
pub(crate) fn queue_string_to_sign(
    account: &str,
    queue: &str,
    permissions: &str,
    expiry: &str,
    protocol: &str,
) -> String {
    let resource = format!("/queue/{account}/{queue}");
    [permissions, "", expiry, &resource, "", "", protocol, SAS_VERSION].join("\n")
}

/// An account SAS (query string, no `?`): `services` from `bqtf`,
/// `resource_types` from `sco`, `permissions` from `rwdxylacuptfi`, kept in
/// the order given (the signature covers them as written).
pub fn account_sas(
    account: &str,
    key: &AccountKey,
    services: &str,
    resource_types: &str,
    permissions: &str,
    expiry: SystemTime,
    protocol: SasProtocol,
) -> Result<String> {
    check_chars("services", services, "bqtf")?;
    check_chars("resource types", resource_types, "sco")?;
    check_chars("permissions", permissions, "rwdxylacuptfi")?;
    let se = format_time(expiry);
    let sig = key.sign(&account_string_to_sign(account, permissions, services, resource_types, &se, protocol.as_str()));
    Ok(query(&[
        ("sv", SAS_VERSION),
        ("ss", services),
        ("srt", resource_types),
        ("sp", permissions),
        ("se", &se),
        ("spr", protocol.as_str()),
        ("sig", &sig),
    ]))
}

/// A service SAS for one container: permissions in the documented order,
/// e.g. `r`, `rl`, `racwdl`.
pub fn container_sas(
    account: &str,
    key: &AccountKey,
    container: &str,
    permissions: &str,
    expiry: SystemTime,
    protocol: SasProtocol,
) -> Result<String> {
    check_chars("permissions", permissions, "racwdxltmeopi")?;
    let se = format_time(expiry);
    let sig = key.sign(&container_string_to_sign(account, container, permissions, &se, protocol.as_str()));
    Ok(query(&[
        ("sv", SAS_VERSION),
        ("sp", permissions),
        ("se", &se),
        ("sr", "c"),
        ("spr", protocol.as_str()),
        ("sig", &sig),
    ]))
}

/// A service SAS for one queue: permissions from `raup` (read/peek, add,
/// update, process = receive and delete).
pub fn queue_sas(
    account: &str,
    key: &AccountKey,
    queue: &str,
    permissions: &str,
    expiry: SystemTime,
    protocol: SasProtocol,
) -> Result<String> {
    check_chars("permissions", permissions, "raup")?;
    let se = format_time(expiry);
    let sig = key.sign(&queue_string_to_sign(account, queue, permissions, &se, protocol.as_str()));
    Ok(query(&[("sv", SAS_VERSION), ("sp", permissions), ("se", &se), ("spr", protocol.as_str()), ("sig", &sig)]))
}

/// The parts of an account-key connection string that matter here.
#[derive(Debug, Clone)]
pub struct ConnectionString {
    /// `AccountName`.
    pub account: String,
    /// `AccountKey` (its `Debug` is redacted).
    pub key: AccountKey,
    /// `BlobEndpoint`, or built from `DefaultEndpointsProtocol` and `EndpointSuffix`.
    pub blob_endpoint: String,
    /// `QueueEndpoint`, or built likewise.
    pub queue_endpoint: String,
    /// `Container` (a stylize extension: `<container>[/<prefix>]`), if given.
    pub container: Option<String>,
    /// `Queue` (a stylize extension: the queue's name), if given.
    pub queue: Option<String>,
}

impl ConnectionString {
    /// True when `s` looks like a connection string rather than a URL.
    pub fn looks_like(s: &str) -> bool {
        let l = s.to_ascii_lowercase();
        l.contains("accountkey=")
            || l.contains("defaultendpointsprotocol=")
            || l.contains("sharedaccesssignature=")
            || l.starts_with("accountname=")
    }

    /// Parse `Key=Value;...`; needs `AccountName` and `AccountKey`.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |reason: &str| EngineError::Remote { url: redact(s), reason: reason.to_string() };
        let mut get = std::collections::HashMap::new();
        for part in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').ok_or_else(|| bad("connection string: expected Key=Value parts"))?;
            get.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
        let account = get.get("accountname").cloned().ok_or_else(|| bad("connection string has no AccountName"))?;
        let key =
            AccountKey::from_base64(get.get("accountkey").ok_or_else(|| bad("connection string has no AccountKey"))?)
                .map_err(|_| bad("AccountKey is not valid base64"))?;
        let proto = get.get("defaultendpointsprotocol").map(String::as_str).unwrap_or("https");
        let suffix = get.get("endpointsuffix").map(String::as_str).unwrap_or("core.windows.net");
        let endpoint = |svc: &str| {
            get.get(&format!("{svc}endpoint"))
                .cloned()
                .unwrap_or_else(|| format!("{proto}://{account}.{svc}.{suffix}"))
                .trim_end_matches('/')
                .to_string()
        };
        Ok(ConnectionString {
            blob_endpoint: endpoint("blob"),
            queue_endpoint: endpoint("queue"),
            container: get.get("container").cloned(),
            queue: get.get("queue").cloned(),
            account,
            key,
        })
    }
}

/// How long a SAS minted from a connection string's key for a service
/// (`watch`, `worker`) lasts: it never leaves the process, and the key it
/// comes from, which grants more, does not expire at all; a service must
/// not stop after a day because its user gave a key rather than a SAS.
const SERVICE_SAS_LIFETIME: std::time::Duration = std::time::Duration::from_secs(366 * 24 * 3600);

/// `s` as a URL with a SAS: `s` itself when it is a URL, or, for an
/// account-key connection string, the container (`Container=`) or queue
/// (`Queue=`) it names with a SAS minted from the key (blob containers and
/// objects, or queues and messages, of that account; the poison queue
/// beside a queue needs the account's queues). With `sas_only` a
/// connection string is refused.
pub fn url_with_sas(s: &str, service: crate::url::Service, sas_only: bool) -> Result<String> {
    use crate::url::Service;
    if !ConnectionString::looks_like(s) {
        return Ok(s.to_string());
    }
    let bad = |reason: &str| EngineError::Remote { url: redact(s), reason: reason.to_string() };
    if sas_only {
        return Err(bad("--sas-only: an account key is not allowed"));
    }
    let cs = ConnectionString::parse(s)?;
    let (endpoint, name, services) = match service {
        Service::Blob => (
            &cs.blob_endpoint,
            cs.container.as_ref().ok_or_else(|| bad("connection string has no Container=<container> part"))?,
            "b",
        ),
        Service::Queue => (
            &cs.queue_endpoint,
            cs.queue.as_ref().ok_or_else(|| bad("connection string has no Queue=<queue> part"))?,
            "q",
        ),
    };
    let protocol = SasProtocol::for_endpoint(endpoint);
    let expiry = std::time::SystemTime::now() + SERVICE_SAS_LIFETIME;
    let sas = account_sas(&cs.account, &cs.key, services, "sco", "rwdlacup", expiry, protocol)?;
    Ok(format!("{endpoint}/{name}?{sas}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    const DEV_KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    const SE: &str = "2030-01-02T03:04:05Z";

    fn key() -> AccountKey {
        AccountKey::from_base64(DEV_KEY).unwrap()
    }

    // Expected strings and signatures were produced by Azurite 3.35's own
    // `generateAccountSASSignature`, `generateBlobSASSignature` and
    // `generateQueueSASSignature` with these inputs.
    #[test]
    fn account_sas_matches_azurite() {
        let sts = account_string_to_sign("devstoreaccount1", "rwdlacup", "bq", "sco", SE, "https,http");
        assert_eq!(sts, "devstoreaccount1\nrwdlacup\nbq\nsco\n\n2030-01-02T03:04:05Z\n\nhttps,http\n2021-08-06\n\n");
        assert_eq!(key().sign(&sts), "agmB4+03f7CA92Tkkim+bVQZtGfzKI5OUA3avtSZ8xk=");
    }

    #[test]
    fn container_sas_matches_azurite() {
        let sts = container_string_to_sign("devstoreaccount1", "videos", "rl", SE, "https,http");
        assert_eq!(
            sts,
            "rl\n\n2030-01-02T03:04:05Z\n/blob/devstoreaccount1/videos\n\n\nhttps,http\n2021-08-06\nc\n\n\n\n\n\n\n"
        );
        assert_eq!(key().sign(&sts), "dZDO1zjyQFa+SA4gUAsJ22uwVtnwub4VhchaglTEaGA=");
    }

    #[test]
    fn queue_sas_matches_azurite() {
        let sts = queue_string_to_sign("devstoreaccount1", "events", "raup", SE, "https,http");
        assert_eq!(sts, "raup\n\n2030-01-02T03:04:05Z\n/queue/devstoreaccount1/events\n\n\nhttps,http\n2021-08-06");
        assert_eq!(key().sign(&sts), "K4sh/yYaUHccfBIA/C6M8XfK6fBgbe1Q7I4LIVTSExU=");
    }

    #[test]
    fn formats_times_and_queries() {
        assert_eq!(format_time(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        assert_eq!(format_time(UNIX_EPOCH + std::time::Duration::from_secs(1_893_553_445)), SE);
        assert_eq!(format_time(UNIX_EPOCH + std::time::Duration::from_secs(951_782_400)), "2000-02-29T00:00:00Z");
        let expiry = UNIX_EPOCH + std::time::Duration::from_secs(1_893_553_445);
        let q = container_sas("devstoreaccount1", &key(), "videos", "rl", expiry, SasProtocol::HttpsAndHttp).unwrap();
        assert_eq!(
            q,
            "sv=2021-08-06&sp=rl&se=2030-01-02T03%3A04%3A05Z&sr=c&spr=https%2Chttp&sig=dZDO1zjyQFa%2BSA4gUAsJ22uwVtnwub4VhchaglTEaGA%3D"
        );
        assert!(container_sas("a", &key(), "c", "rz", expiry, SasProtocol::Https).is_err());
        assert!(format!("{:?}", key()).contains("REDACTED"));
    }

    #[test]
    fn parses_connection_strings() {
        let c = ConnectionString::parse(&format!(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={DEV_KEY};BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1/;Container=videos/in"
        ))
        .unwrap();
        assert_eq!(c.blob_endpoint, "http://127.0.0.1:10000/devstoreaccount1");
        assert_eq!(c.queue_endpoint, "http://devstoreaccount1.queue.core.windows.net");
        assert_eq!(c.container.as_deref(), Some("videos/in"));
        assert!(ConnectionString::looks_like("AccountName=a;AccountKey=b"));
        assert!(!ConnectionString::looks_like("https://a.blob.core.windows.net/c?sig=x"));
        let e = ConnectionString::parse("AccountName=a;AccountKey=***notbase64;").unwrap_err().to_string();
        assert!(!e.contains("notbase64"), "{e}");
    }
}
