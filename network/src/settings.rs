//! Storage account and key vault settings beyond the firewall.
//!
//! The firewall decides who reaches the account; these settings decide what
//! whoever reaches it can do: read a request in plain HTTP or over old TLS,
//! read blobs anonymously, or sign requests and SAS tokens with the account
//! keys, which bypass Entra ID and cannot be revoked short of rotating the
//! key. stylize itself needs none of it: it reads and writes with a SAS or
//! the machine's managed identity (`--sas-only`, `--managed-identity`), and
//! a SAS can be a user-delegation SAS, signed without the keys. For the key
//! vault, purge protection keeps a deleted vault, with the workspace's
//! secrets, recoverable for its retention period.
//!
//! An unset value fails where Azure's default for it is the open one (or
//! was, for accounts created before the default changed), so that an ok is
//! never a guess. `az storage account show` prints the settings at the top
//! level; ARM nests them under `properties` with some other names
//! (`supportsHttpsTrafficOnly`): [`StorageDoc::setting`] reads both.

use crate::input::{resource_group, resource_name, KeyVaultDoc, StorageDoc};
use crate::report::{Finding, Verdict};

/// What the storage checks read, from either shape.
#[derive(Debug, Clone)]
pub struct StorageSettings {
    /// Account name, for the fixes.
    pub name: String,
    /// Resource group, for the fixes.
    pub resource_group: String,
    /// `enableHttpsTrafficOnly` / `supportsHttpsTrafficOnly`.
    pub https_only: Option<bool>,
    /// `allowBlobPublicAccess`.
    pub blob_public_access: Option<bool>,
    /// `allowSharedKeyAccess`.
    pub shared_key_access: Option<bool>,
    /// `minimumTlsVersion`.
    pub min_tls: Option<String>,
}

impl StorageSettings {
    /// From `az storage account show` or its ARM shape.
    pub fn from_doc(doc: &StorageDoc) -> StorageSettings {
        StorageSettings {
            name: resource_name(doc.name.as_deref(), doc.id.as_deref(), "<account name>"),
            resource_group: resource_group(doc.id.as_deref(), doc.resource_group.as_deref()),
            https_only: doc.setting(|d| d.enable_https_traffic_only),
            blob_public_access: doc.setting(|d| d.allow_blob_public_access),
            shared_key_access: doc.setting(|d| d.allow_shared_key_access),
            min_tls: doc.setting(|d| d.minimum_tls_version.clone()),
        }
    }

    fn update(&self, args: &str) -> String {
        format!("az storage account update --name {} -g {} {args}", self.name, self.resource_group)
    }

    fn what(&self) -> String {
        format!("storage account {}", self.name)
    }
}

/// How a boolean setting reads in a note: its value, or that it is unset.
fn shown(v: Option<bool>) -> String {
    v.map_or_else(|| "not set".to_owned(), |b| format!("{b}"))
}

/// The storage setting requirements, in report order.
pub fn storage(s: &StorageSettings) -> Vec<Finding> {
    vec![https_only(s), public_blob(s), shared_key(s), min_tls(s)]
}

/// A boolean setting that must be `wanted`: ok, or a failure with `note`
/// (given the value as shown) and the fix.
struct Flag<'a> {
    id: &'static str,
    requirement: String,
    field: &'static str,
    value: Option<bool>,
    wanted: bool,
    note: &'a dyn Fn(&str) -> String,
    fix: String,
}

fn flag(f: Flag<'_>) -> Finding {
    let field = Some(f.field.to_owned());
    if f.value == Some(f.wanted) {
        return Finding::ok(f.id, f.requirement, field, "");
    }
    Finding::fail(f.id, f.requirement, Verdict::TooOpen, field, (f.note)(&shown(f.value)), f.fix)
}

fn https_only(s: &StorageSettings) -> Finding {
    flag(Flag {
        id: "storage.https-only",
        requirement: format!("{} refuses plain HTTP", s.what()),
        field: "enableHttpsTrafficOnly",
        value: s.https_only,
        wanted: true,
        note: &|v| {
            format!("enableHttpsTrafficOnly is {v}: requests, and the SAS tokens in their URLs, may travel unencrypted")
        },
        fix: s.update("--https-only true"),
    })
}

fn public_blob(s: &StorageSettings) -> Finding {
    let unset = if s.blob_public_access.is_none() { " (unset means allowed on older accounts)" } else { "" };
    flag(Flag {
        id: "storage.public-blob",
        requirement: format!("{} allows no anonymous blob access", s.what()),
        field: "allowBlobPublicAccess",
        value: s.blob_public_access,
        wanted: false,
        note: &|v| format!("allowBlobPublicAccess is {v}: any container can be made readable by anyone{unset}"),
        fix: s.update("--allow-blob-public-access false"),
    })
}

fn shared_key(s: &StorageSettings) -> Finding {
    let unset = if s.shared_key_access.is_none() { " (Azure's default: allowed)" } else { "" };
    flag(Flag {
        id: "storage.shared-key",
        requirement: format!("{} refuses the account keys (Entra ID and user-delegation SAS only)", s.what()),
        field: "allowSharedKeyAccess",
        value: s.shared_key_access,
        wanted: false,
        note: &|v| {
            format!(
                "allowSharedKeyAccess is {v}{unset}: a key does anything to the account and signs SAS tokens that \
                 only a key rotation revokes; stylize needs none (--managed-identity, or a user-delegation SAS: \
                 `generate-sas --as-user`); switch the Azure ML workspace first \
                 (`az ml workspace update --system-datastores-auth-mode identity`)"
            )
        },
        fix: s.update("--allow-shared-key-access false"),
    })
}

fn min_tls(s: &StorageSettings) -> Finding {
    const ID: &str = "storage.min-tls";
    let requirement = format!("{} requires TLS 1.2 or later", s.what());
    let field = Some("minimumTlsVersion".to_owned());
    let v = s.min_tls.as_deref();
    if v.is_some_and(|v| v.eq_ignore_ascii_case("TLS1_2") || v.eq_ignore_ascii_case("TLS1_3")) {
        return Finding::ok(ID, requirement, field, "");
    }
    Finding::fail(
        ID,
        requirement,
        Verdict::TooOpen,
        field,
        match v {
            Some(v) => format!("minimumTlsVersion is {v}: TLS 1.0 and 1.1 are broken"),
            None => "minimumTlsVersion is not set: older accounts then accept TLS 1.0".to_owned(),
        },
        s.update("--min-tls-version TLS1_2"),
    )
}

/// Purge protection on the key vault.
pub fn key_vault(doc: &KeyVaultDoc) -> Vec<Finding> {
    const ID: &str = "keyvault.purge-protection";
    let name = resource_name(doc.name.as_deref(), doc.id.as_deref(), "<vault name>");
    let rg = resource_group(doc.id.as_deref(), doc.resource_group.as_deref());
    let requirement = format!("key vault {name} has purge protection");
    let field = Some("properties.enablePurgeProtection".to_owned());
    let on = doc.properties.as_ref().and_then(|p| p.enable_purge_protection);
    if on == Some(true) {
        return vec![Finding::ok(ID, requirement, field, "")];
    }
    vec![Finding::fail(
        ID,
        requirement,
        Verdict::Missing,
        field,
        format!(
            "enablePurgeProtection is {}: whoever deletes the vault can purge it, and the workspace's secrets, \
             at once; with protection it stays recoverable for its retention period (this cannot be turned off again)",
            shown(on)
        ),
        format!("az keyvault update --name {name} -g {rg} --enable-purge-protection true"),
    )]
}
