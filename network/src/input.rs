//! The JSON that the `az` CLI prints, read as it is printed.
//!
//! The shapes follow `az ... show` output field for field (camelCase,
//! nesting kept), so a user can pipe `az` straight into the checker and a
//! test fixture can be pasted from a real run. Only the fields the checks
//! need are declared; everything else `az` prints is ignored.
//!
//! Each file is parsed twice: once into a loose [`Value`] to tell which kind
//! of resource it is (so a storage account given as `--nsg` is named as
//! such instead of failing on some missing field), and once into the typed
//! shape from the text itself, so that type errors carry a line and column.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::Value;

use crate::error::NetworkError;

/// The kinds of resource the checker reads, with how to recognise each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `az network nsg show`
    Nsg,
    /// `az network vnet subnet show`
    Subnet,
    /// `az storage account show`
    Storage,
    /// `az keyvault show`
    KeyVault,
    /// `az network route-table show`
    RouteTable,
}

impl Kind {
    const ALL: [Kind; 5] = [Kind::Nsg, Kind::Subnet, Kind::Storage, Kind::KeyVault, Kind::RouteTable];

    /// The ARM resource type `az` prints in the `type` field.
    fn arm_type(self) -> &'static str {
        match self {
            Kind::Nsg => "Microsoft.Network/networkSecurityGroups",
            Kind::Subnet => "Microsoft.Network/virtualNetworks/subnets",
            Kind::Storage => "Microsoft.Storage/storageAccounts",
            Kind::KeyVault => "Microsoft.KeyVault/vaults",
            Kind::RouteTable => "Microsoft.Network/routeTables",
        }
    }

    /// What the flag expects, as the error message says it.
    pub fn expected(self) -> &'static str {
        match self {
            Kind::Nsg => "an NSG (the output of `az network nsg show`)",
            Kind::Subnet => "a subnet (the output of `az network vnet subnet show`)",
            Kind::Storage => "a storage account (the output of `az storage account show`)",
            Kind::KeyVault => "a key vault (the output of `az keyvault show`)",
            Kind::RouteTable => "a route table (the output of `az network route-table show`)",
        }
    }

    fn short(self) -> &'static str {
        match self {
            Kind::Nsg => "an NSG",
            Kind::Subnet => "a subnet",
            Kind::Storage => "a storage account",
            Kind::KeyVault => "a key vault",
            Kind::RouteTable => "a route table",
        }
    }

    /// Recognises a document without a `type` field by the fields only
    /// that kind of resource has.
    fn has_signature(self, obj: &serde_json::Map<String, Value>) -> bool {
        match self {
            Kind::Nsg => obj.contains_key("securityRules") || obj.contains_key("defaultSecurityRules"),
            Kind::Subnet => obj.contains_key("addressPrefix") || obj.contains_key("addressPrefixes"),
            Kind::Storage => obj.contains_key("networkRuleSet"),
            Kind::KeyVault => obj
                .get("properties")
                .and_then(Value::as_object)
                .is_some_and(|p| p.contains_key("networkAcls") || p.contains_key("vaultUri")),
            Kind::RouteTable => obj.contains_key("routes"),
        }
    }
}

/// Reads `path` as the `kind` of resource, or says in one line why not.
pub fn load<T: DeserializeOwned>(path: &Path, kind: Kind) -> Result<T, NetworkError> {
    let text = std::fs::read_to_string(path).map_err(|source| NetworkError::Read { path: path.to_owned(), source })?;
    let value: Value =
        serde_json::from_str(&text).map_err(|source| NetworkError::Json { path: path.to_owned(), source })?;
    identify(&value, kind).map_err(|found| NetworkError::WrongKind {
        path: path.to_owned(),
        expected: kind.expected(),
        found,
    })?;
    serde_json::from_str(&text).map_err(|e| NetworkError::Invalid {
        path: path.to_owned(),
        cause: format!("{} with a field of the wrong shape: {e}", kind.short()),
    })
}

/// `Ok` when `value` is the `kind` expected, else a description of what it is.
fn identify(value: &Value, kind: Kind) -> Result<(), String> {
    let obj = match value {
        Value::Object(obj) => obj,
        Value::Array(_) => return Err("found a JSON array (the output of `list` rather than `show`?)".into()),
        other => return Err(format!("found a JSON {}", json_type(other))),
    };
    if let Some(ty) = obj.get("type").and_then(Value::as_str) {
        if ty.eq_ignore_ascii_case(kind.arm_type()) {
            return Ok(());
        }
        let named = Kind::ALL
            .iter()
            .find(|k| ty.eq_ignore_ascii_case(k.arm_type()))
            .map(|k| format!(", that is {}", k.short()))
            .unwrap_or_default();
        return Err(format!("found a resource of type {ty}{named}"));
    }
    if kind.has_signature(obj) {
        return Ok(());
    }
    match Kind::ALL.iter().find(|k| k.has_signature(obj)) {
        Some(other) => Err(format!("found what looks like {}", other.short())),
        None => Err("found a JSON object with none of the fields it should have".into()),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// `{"id": "..."}`, how `az` refers to another resource.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct IdRef {
    /// The ARM id, if printed.
    pub id: Option<String>,
}

/// `az network nsg show`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NsgDoc {
    /// ARM id; the resource group for fixes is parsed from it.
    pub id: Option<String>,
    /// NSG name.
    pub name: Option<String>,
    /// Azure region, used when `--region` is not given.
    pub location: Option<String>,
    /// Resource group as `az` prints it, used when the id has none.
    pub resource_group: Option<String>,
    /// User rules.
    pub security_rules: Option<Vec<RuleDoc>>,
    /// Azure's built-in rules; absent in hand-written or template output.
    pub default_security_rules: Option<Vec<RuleDoc>>,
}

/// One rule in `securityRules` / `defaultSecurityRules`, flattened as `az`
/// prints it (ARM nests these under `properties`; `az` does not).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct RuleDoc {
    pub name: String,
    pub priority: u32,
    pub direction: String,
    pub access: String,
    pub protocol: String,
    pub source_address_prefix: Option<String>,
    pub source_address_prefixes: Option<Vec<String>>,
    pub destination_address_prefix: Option<String>,
    pub destination_address_prefixes: Option<Vec<String>>,
    pub source_port_range: Option<String>,
    pub source_port_ranges: Option<Vec<String>>,
    pub destination_port_range: Option<String>,
    pub destination_port_ranges: Option<Vec<String>>,
}

/// `az network vnet subnet show`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubnetDoc {
    /// ARM id; what the storage and key vault rules must name.
    pub id: Option<String>,
    /// Subnet name.
    pub name: Option<String>,
    /// The prefix, when the subnet has one.
    pub address_prefix: Option<String>,
    /// The prefixes, when the subnet has several.
    pub address_prefixes: Option<Vec<String>>,
    /// One entry per address in use (NICs, load balancer frontends…).
    pub ip_configurations: Option<Vec<Value>>,
    /// The NSG attached to the subnet.
    pub network_security_group: Option<IdRef>,
    /// Service endpoints; storage and key vault subnet rules need them.
    pub service_endpoints: Option<Vec<ServiceEndpoint>>,
}

/// One entry of a subnet's `serviceEndpoints`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ServiceEndpoint {
    /// `Microsoft.Storage`, `Microsoft.KeyVault`, …
    pub service: Option<String>,
}

/// A storage `networkRuleSet` or a key vault `networkAcls`; the two have
/// the same fields except for how a subnet rule names the subnet.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkRuleSet {
    /// `Allow` or `Deny`; Azure's default is `Allow`.
    pub default_action: Option<String>,
    /// Comma-separated: `AzureServices`, `Logging, Metrics, AzureServices`, `None`.
    pub bypass: Option<String>,
    /// Subnets admitted.
    pub virtual_network_rules: Option<Vec<VnetRule>>,
    /// Public addresses and ranges admitted.
    pub ip_rules: Option<Vec<IpRule>>,
}

/// One public address or range admitted by a firewall.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IpRule {
    /// `203.0.113.7` or `203.0.113.0/24`: storage as `az` prints it names
    /// it `ipAddressOrRange`; key vault, and storage in ARM, `value`.
    #[serde(alias = "value")]
    pub ip_address_or_range: Option<String>,
    /// `Allow` (storage only; absent means allow).
    pub action: Option<String>,
}

/// One subnet admitted by a firewall.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VnetRule {
    /// Storage prints the subnet id here.
    pub virtual_network_resource_id: Option<String>,
    /// Key vault prints the subnet id here.
    pub id: Option<String>,
    /// `Allow` (storage only; absent means allow).
    pub action: Option<String>,
    /// `Succeeded`, or e.g. `NetworkSourceDeleted` when the subnet is gone.
    pub state: Option<String>,
}

impl VnetRule {
    /// The subnet this rule admits, whichever field holds it.
    pub fn subnet_id(&self) -> Option<&str> {
        self.virtual_network_resource_id.as_deref().or(self.id.as_deref())
    }
}

/// `az storage account show`, or the same account as ARM (`az resource
/// show`, a template) writes it: the settings nested under `properties`,
/// some under other names. [`StorageDoc::setting`] reads either.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageDoc {
    /// ARM id; the resource group for fixes is parsed from it.
    pub id: Option<String>,
    /// Account name.
    pub name: Option<String>,
    /// Resource group as `az` prints it, used when the id has none.
    pub resource_group: Option<String>,
    /// The firewall; ARM calls it `networkAcls`.
    #[serde(alias = "networkAcls")]
    pub network_rule_set: Option<NetworkRuleSet>,
    /// Plain HTTP refused; ARM calls it `supportsHttpsTrafficOnly`.
    #[serde(alias = "supportsHttpsTrafficOnly")]
    pub enable_https_traffic_only: Option<bool>,
    /// Containers may be made readable by anyone.
    pub allow_blob_public_access: Option<bool>,
    /// The account keys authorize requests (and sign SAS tokens).
    pub allow_shared_key_access: Option<bool>,
    /// `TLS1_0`, `TLS1_1`, `TLS1_2`, `TLS1_3`.
    pub minimum_tls_version: Option<String>,
    /// `Enabled`, `Disabled` (only private endpoints reach it), or unset
    /// (then the firewall decides).
    pub public_network_access: Option<String>,
    /// The private endpoints connected to the account.
    pub private_endpoint_connections: Option<Vec<PrivateEndpointConnection>>,
    /// The ARM shape: the same fields, one level down.
    pub properties: Option<Box<StorageDoc>>,
}

/// One entry of `privateEndpointConnections`: `az` prints its fields at
/// the top, ARM one level down in `properties`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrivateEndpointConnection {
    /// The connection's own id.
    pub id: Option<String>,
    /// The endpoint (`{"id": ...}`) in the consumer's network.
    pub private_endpoint: Option<ResourceRef>,
    /// `{"status": "Approved" | "Pending" | "Rejected" | "Disconnected"}`.
    pub private_link_service_connection_state: Option<ConnectionState>,
    /// The ARM shape.
    pub properties: Option<Box<PrivateEndpointConnection>>,
}

/// A reference to another resource.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ResourceRef {
    /// Its ARM id.
    pub id: Option<String>,
}

/// The state of a private link connection.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ConnectionState {
    /// `Approved` is the only state that carries traffic.
    pub status: Option<String>,
}

impl PrivateEndpointConnection {
    /// The endpoint's id (else the connection's), when the connection is
    /// approved: the only state in which it carries traffic.
    pub fn approved(&self) -> Option<String> {
        let status = self
            .private_link_service_connection_state
            .as_ref()
            .or_else(|| self.properties.as_ref().and_then(|p| p.private_link_service_connection_state.as_ref()))
            .and_then(|s| s.status.as_deref());
        if !status.is_some_and(|s| s.eq_ignore_ascii_case("Approved")) {
            return None;
        }
        let endpoint = self
            .private_endpoint
            .as_ref()
            .or_else(|| self.properties.as_ref().and_then(|p| p.private_endpoint.as_ref()))
            .and_then(|e| e.id.clone());
        endpoint.or_else(|| self.id.clone()).or_else(|| Some("<private endpoint>".into()))
    }
}

impl StorageDoc {
    /// A setting from the top level (`az storage account show`), else from
    /// `properties` (ARM).
    pub fn setting<T>(&self, get: impl Fn(&StorageDoc) -> Option<T>) -> Option<T> {
        get(self).or_else(|| self.properties.as_deref().and_then(get))
    }
}

/// `az keyvault show`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct KeyVaultDoc {
    pub id: Option<String>,
    pub name: Option<String>,
    pub resource_group: Option<String>,
    pub properties: Option<KeyVaultProperties>,
}

/// The `properties` object of `az keyvault show`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyVaultProperties {
    /// `null` when the vault has no firewall, which means open to all.
    pub network_acls: Option<NetworkRuleSet>,
    /// `true` once turned on (it cannot be turned off); `null` otherwise.
    pub enable_purge_protection: Option<bool>,
    /// `Enabled`, `Disabled` (only private endpoints reach it), or unset.
    pub public_network_access: Option<String>,
    /// The private endpoints connected to the vault.
    pub private_endpoint_connections: Option<Vec<PrivateEndpointConnection>>,
}

/// `az network route-table show`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct RouteTableDoc {
    pub id: Option<String>,
    pub name: Option<String>,
    pub resource_group: Option<String>,
    #[serde(default)]
    pub routes: Vec<RouteDoc>,
}

/// One user-defined route.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(missing_docs)]
pub struct RouteDoc {
    pub name: String,
    pub address_prefix: String,
    pub next_hop_type: String,
    pub next_hop_ip_address: Option<String>,
}

/// The resource group for an `az` fix: parsed from the ARM id, else the
/// `resourceGroup` field, else a placeholder the user must fill in.
pub fn resource_group(id: Option<&str>, printed: Option<&str>) -> String {
    id.and_then(|id| {
        let mut parts = id.split('/');
        parts.find(|p| p.eq_ignore_ascii_case("resourceGroups"))?;
        parts.next().filter(|rg| !rg.is_empty()).map(str::to_owned)
    })
    .or_else(|| printed.map(str::to_owned))
    .unwrap_or_else(|| "<resource group>".to_owned())
}

/// The resource name for an `az` fix: the `name` field, else the id's last
/// segment, else a placeholder.
pub fn resource_name(name: Option<&str>, id: Option<&str>, placeholder: &str) -> String {
    name.map(str::to_owned)
        .or_else(|| id.and_then(|id| id.rsplit('/').next()).map(str::to_owned))
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| placeholder.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_group_comes_from_the_id() {
        let id = "/subscriptions/s/resourceGroups/my-rg/providers/Microsoft.Network/networkSecurityGroups/n";
        assert_eq!(resource_group(Some(id), Some("other")), "my-rg");
        assert_eq!(resource_group(None, Some("other")), "other");
        assert_eq!(resource_group(None, None), "<resource group>");
    }

    #[test]
    fn identify_names_the_other_kind() {
        let storage = serde_json::json!({"type": "Microsoft.Storage/storageAccounts", "networkRuleSet": {}});
        let err = identify(&storage, Kind::Nsg).unwrap_err();
        assert!(err.contains("a storage account"), "{err}");
        let untyped = serde_json::json!({"routes": []});
        assert!(identify(&untyped, Kind::RouteTable).is_ok());
        assert!(identify(&untyped, Kind::Nsg).unwrap_err().contains("a route table"));
        assert!(identify(&serde_json::json!([]), Kind::Nsg).unwrap_err().contains("array"));
    }
}
