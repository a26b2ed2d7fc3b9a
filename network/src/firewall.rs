//! The storage account and key vault firewalls.
//!
//! Both must deny by default, admit the compute subnet by a virtual-network
//! rule, and let trusted Microsoft services through (`bypass` containing
//! `AzureServices`): Azure ML itself reads the workspace's storage and key
//! vault from outside the subnet. Storage prints the rules as
//! `networkRuleSet` and names a subnet `virtualNetworkResourceId`; key vault
//! prints them as `properties.networkAcls` and names it `id`. Subnet ids are
//! compared case-insensitively, as ARM does (key vault lower-cases them).
//!
//! Neither may admit the internet by an IP rule either: `0.0.0.0/0`, or
//! ranges that together span a /8 or more ([`WIDE_LEN`]), undo the
//! default deny as surely as `defaultAction: Allow` does.
//!
//! A private endpoint is the other way to secure them: with
//! `publicNetworkAccess: Disabled` no public network reaches the resource
//! whatever its rules say (they are ignored, a subnet rule too), and the
//! nodes reach it only through an approved private endpoint.

use std::path::Path;

use crate::error::NetworkError;
use crate::input::{resource_group, resource_name, KeyVaultDoc, NetworkRuleSet, PrivateEndpointConnection, StorageDoc};
use crate::prefix::{span, Cidr, WIDE_LEN};
use crate::report::{Finding, Verdict};
use crate::subnet::Subnet;

/// Which kind of firewall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// A storage account.
    Storage,
    /// A key vault.
    KeyVault,
}

/// One firewall, with what the fixes need to name it.
#[derive(Debug, Clone)]
pub struct Firewall {
    /// Storage or key vault.
    pub service: Service,
    /// Account or vault name.
    pub name: String,
    /// Resource group, from the id.
    pub resource_group: String,
    /// The rules; `None` means none are set, which Azure treats as open.
    pub rules: Option<NetworkRuleSet>,
    /// `publicNetworkAccess` is `Disabled`: only private endpoints reach it.
    pub public_disabled: bool,
    /// The approved private endpoints' ids.
    pub private_endpoints: Vec<String>,
}

fn approved(connections: Option<&Vec<PrivateEndpointConnection>>) -> Vec<String> {
    connections.into_iter().flatten().filter_map(PrivateEndpointConnection::approved).collect()
}

fn disabled(access: Option<&str>) -> bool {
    access.is_some_and(|a| a.eq_ignore_ascii_case("Disabled"))
}

impl Firewall {
    /// From `az storage account show`.
    pub fn storage(doc: &StorageDoc, _path: &Path) -> Result<Firewall, NetworkError> {
        Ok(Firewall {
            service: Service::Storage,
            name: resource_name(doc.name.as_deref(), doc.id.as_deref(), "<account name>"),
            resource_group: resource_group(doc.id.as_deref(), doc.resource_group.as_deref()),
            rules: doc.setting(|d| d.network_rule_set.clone()),
            public_disabled: disabled(doc.setting(|d| d.public_network_access.clone()).as_deref()),
            private_endpoints: approved(doc.setting(|d| d.private_endpoint_connections.clone()).as_ref()),
        })
    }

    /// From `az keyvault show`.
    pub fn key_vault(doc: &KeyVaultDoc, _path: &Path) -> Result<Firewall, NetworkError> {
        Ok(Firewall {
            service: Service::KeyVault,
            name: resource_name(doc.name.as_deref(), doc.id.as_deref(), "<vault name>"),
            resource_group: resource_group(doc.id.as_deref(), doc.resource_group.as_deref()),
            rules: doc.properties.as_ref().and_then(|p| p.network_acls.clone()),
            public_disabled: disabled(doc.properties.as_ref().and_then(|p| p.public_network_access.as_deref())),
            private_endpoints: approved(doc.properties.as_ref().and_then(|p| p.private_endpoint_connections.as_ref())),
        })
    }

    /// Whether the nodes reach it, if at all, through a private endpoint
    /// rather than a subnet rule: then a service endpoint on the subnet
    /// serves nothing.
    pub fn private_only(&self) -> bool {
        self.public_disabled || (!self.private_endpoints.is_empty() && !self.has_subnet_rules())
    }

    fn has_subnet_rules(&self) -> bool {
        self.rules.iter().flat_map(|r| r.virtual_network_rules.iter().flatten()).next().is_some()
    }

    fn what(&self) -> String {
        match self.service {
            Service::Storage => format!("storage account {}", self.name),
            Service::KeyVault => format!("key vault {}", self.name),
        }
    }

    fn field(&self, name: &str) -> String {
        match self.service {
            Service::Storage => format!("networkRuleSet.{name}"),
            Service::KeyVault => format!("properties.networkAcls.{name}"),
        }
    }

    fn update(&self, args: &str) -> String {
        match self.service {
            Service::Storage => {
                format!("az storage account update --name {} -g {} {args}", self.name, self.resource_group)
            }
            Service::KeyVault => format!("az keyvault update --name {} -g {} {args}", self.name, self.resource_group),
        }
    }

    fn add_subnet(&self, subnet_id: &str) -> String {
        match self.service {
            Service::Storage => format!(
                "az storage account network-rule add --account-name {} -g {} --subnet {subnet_id}",
                self.name, self.resource_group
            ),
            Service::KeyVault => format!(
                "az keyvault network-rule add --name {} -g {} --subnet {subnet_id}",
                self.name, self.resource_group
            ),
        }
    }
}

/// The four firewall requirements, in report order.
pub fn check(fw: &Firewall, subnet: Option<&Subnet>) -> Vec<Finding> {
    vec![default_action(fw), subnet_rule(fw, subnet), trusted_services(fw), ip_rules(fw)]
}

fn default_action(fw: &Firewall) -> Finding {
    let id = match fw.service {
        Service::Storage => "storage.default-action",
        Service::KeyVault => "keyvault.default-action",
    };
    let requirement = format!("{} denies by default", fw.what());
    if fw.public_disabled {
        let field = match fw.service {
            Service::Storage => "publicNetworkAccess",
            Service::KeyVault => "properties.publicNetworkAccess",
        };
        return Finding::ok(
            id,
            requirement,
            Some(field.into()),
            "public network access is Disabled: no public network reaches it",
        );
    }
    let action = fw.rules.as_ref().and_then(|r| r.default_action.as_deref());
    match action {
        Some(a) if a.eq_ignore_ascii_case("Deny") => Finding::ok(id, requirement, Some(fw.field("defaultAction")), ""),
        _ => Finding::fail(
            id,
            requirement,
            Verdict::TooOpen,
            Some(fw.field("defaultAction")),
            match action {
                Some(a) => format!("defaultAction is {a}: every network reaches it"),
                None => "no firewall rules are set: every network reaches it".into(),
            },
            fw.update("--default-action Deny"),
        ),
    }
}

fn subnet_rule(fw: &Firewall, subnet: Option<&Subnet>) -> Finding {
    let id = match fw.service {
        Service::Storage => "storage.subnet-rule",
        Service::KeyVault => "keyvault.subnet-rule",
    };
    let subnet_id = subnet.and_then(|s| s.id.as_deref());
    let requirement = format!(
        "{} admits {}",
        fw.what(),
        subnet.map_or_else(|| "the compute subnet".to_owned(), |s| format!("subnet {}", s.name))
    );
    if let Some(endpoint) = fw.private_endpoints.first() {
        let field = Some(match fw.service {
            Service::Storage => "privateEndpointConnections".to_owned(),
            Service::KeyVault => "properties.privateEndpointConnections".to_owned(),
        });
        return Finding::ok(id, requirement, field, format!("through the approved private endpoint {endpoint}"));
    }
    if fw.public_disabled {
        let field = Some(fw.field("virtualNetworkRules"));
        let note = "public network access is Disabled and no private endpoint is approved: nothing reaches it \
                    (subnet rules are ignored while public access is Disabled)";
        let fix = match fw.service {
            Service::Storage => format!(
                "az network private-endpoint create -g {} --name {}-pe --subnet <compute subnet id> \
                 --private-connection-resource-id <account id> --group-id blob --connection-name {}-pe",
                fw.resource_group, fw.name, fw.name
            ),
            Service::KeyVault => format!(
                "az network private-endpoint create -g {} --name {}-pe --subnet <compute subnet id> \
                 --private-connection-resource-id <vault id> --group-id vault --connection-name {}-pe",
                fw.resource_group, fw.name, fw.name
            ),
        };
        return Finding::fail(id, requirement, Verdict::Missing, field, note, fix);
    }
    let rules: Vec<_> = fw.rules.iter().flat_map(|r| r.virtual_network_rules.iter().flatten()).collect();
    let usable = |r: &crate::input::VnetRule| {
        r.action.as_deref().is_none_or(|a| a.eq_ignore_ascii_case("Allow"))
            && r.state.as_deref().is_none_or(|s| s.eq_ignore_ascii_case("Succeeded"))
    };
    let field = Some(fw.field("virtualNetworkRules"));
    let fix = fw.add_subnet(subnet_id.unwrap_or("<compute subnet id>"));
    let Some(want) = subnet_id else {
        let n = rules.iter().filter(|r| usable(r)).count();
        return if n > 0 {
            Finding::ok(id, requirement, field, format!("no --subnet given: {n} subnet rule(s) present, not compared"))
        } else {
            Finding::fail(id, requirement, Verdict::Missing, field, "no subnet rules at all", fix)
        };
    };
    let same: Vec<_> = rules.iter().filter(|r| r.subnet_id().is_some_and(|s| s.eq_ignore_ascii_case(want))).collect();
    if same.iter().any(|r| usable(r)) {
        return Finding::ok(id, requirement, field, "");
    }
    let note = match same.first() {
        Some(r) => format!(
            "the rule for the subnet is {} / {}",
            r.action.as_deref().unwrap_or("-"),
            r.state.as_deref().unwrap_or("-")
        ),
        None => format!("no virtual-network rule names {want}"),
    };
    Finding::fail(id, requirement, Verdict::Missing, field, note, fix)
}

fn trusted_services(fw: &Firewall) -> Finding {
    let id = match fw.service {
        Service::Storage => "storage.trusted-services",
        Service::KeyVault => "keyvault.trusted-services",
    };
    let requirement = format!("{} allows trusted Microsoft services", fw.what());
    let field = Some(fw.field("bypass"));
    let Some(bypass) = fw.rules.as_ref().and_then(|r| r.bypass.as_deref()) else {
        // Azure's default for both services is AzureServices.
        return Finding::ok(id, requirement, field, "bypass not set: Azure's default, AzureServices");
    };
    let values: Vec<&str> = bypass
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty() && !s.eq_ignore_ascii_case("None"))
        .collect();
    if values.iter().any(|v| v.eq_ignore_ascii_case("AzureServices")) {
        return Finding::ok(id, requirement, field, "");
    }
    let mut with = values.clone();
    with.push("AzureServices");
    let args = match fw.service {
        Service::Storage => format!("--bypass {}", with.join(" ")),
        Service::KeyVault => "--bypass AzureServices".to_owned(),
    };
    Finding::fail(
        id,
        requirement,
        Verdict::Missing,
        field,
        format!(
            "bypass is {bypass:?}: Azure ML cannot reach the {} from outside the subnet",
            match fw.service {
                Service::Storage => "account",
                Service::KeyVault => "vault",
            }
        ),
        fw.update(&args),
    )
}

/// The IP rules admit no internet-wide range: together they span less than
/// a /8. Each rule is judged as Azure applies it (a bare address is a /32);
/// IPv6 rules and unparsable values are left out.
fn ip_rules(fw: &Firewall) -> Finding {
    let id = match fw.service {
        Service::Storage => "storage.ip-rules",
        Service::KeyVault => "keyvault.ip-rules",
    };
    let requirement = format!("{} admits no internet-wide IP range", fw.what());
    let field = Some(fw.field("ipRules"));
    if fw.public_disabled {
        return Finding::ok(id, requirement, field, "ignored: public network access is Disabled");
    }
    let mut allowed: Vec<(Cidr, &str)> = fw
        .rules
        .iter()
        .flat_map(|r| r.ip_rules.iter().flatten())
        .filter(|r| r.action.as_deref().is_none_or(|a| a.eq_ignore_ascii_case("Allow")))
        .filter_map(|r| r.ip_address_or_range.as_deref())
        .filter_map(|v| Cidr::parse(v.trim()).map(|c| (c, v)))
        .collect();
    let total = span(&allowed.iter().map(|(c, _)| *c).collect::<Vec<_>>());
    if total < 1u64 << (32 - u32::from(WIDE_LEN)) {
        return Finding::ok(id, requirement, field, "");
    }
    allowed.sort_by_key(|(c, _)| c.len);
    let widest = allowed[0].1;
    let listed: Vec<&str> = allowed.iter().filter(|(c, _)| c.len <= WIDE_LEN).map(|(_, v)| *v).collect();
    let remove = match fw.service {
        Service::Storage => format!(
            "az storage account network-rule remove --account-name {} -g {} --ip-address {widest}",
            fw.name, fw.resource_group
        ),
        Service::KeyVault => {
            format!("az keyvault network-rule remove --name {} -g {} --ip-address {widest}", fw.name, fw.resource_group)
        }
    };
    Finding::fail(
        id,
        requirement,
        Verdict::TooOpen,
        field,
        format!(
            "the IP rules admit {total} addresses ({}): a /{WIDE_LEN} or more is the internet, \
             not a network you own; name your own addresses instead",
            if listed.is_empty() { "many ranges together".to_owned() } else { listed.join(", ") },
        ),
        remove,
    )
}
