//! The compute subnet: its NSG, its free addresses, its service endpoints.
//!
//! A cluster that asks for more nodes than the subnet has free addresses is
//! only partly allocated, without an error anyone reads, so the size is
//! checked up front. Azure keeps 5 addresses of every subnet (network,
//! broadcast, gateway and two for DNS), and every entry in
//! `ipConfigurations` is an address already taken. Storage and key vault
//! subnet rules only work when the subnet has the matching service endpoint.

use std::path::Path;

use crate::error::NetworkError;
use crate::input::{resource_group, resource_name, SubnetDoc};
use crate::prefix::{Cidr, Prefix};
use crate::report::{Finding, Verdict};

/// Addresses Azure keeps in every subnet.
pub const AZURE_RESERVED: u64 = 5;

/// The compute subnet, parsed.
#[derive(Debug, Clone)]
pub struct Subnet {
    /// ARM id, which storage and key vault rules must name.
    pub id: Option<String>,
    /// Subnet name.
    pub name: String,
    /// Resource group, from the id.
    pub resource_group: String,
    /// IPv4 prefixes (IPv6 ones are left out: nodes take IPv4 addresses).
    pub prefixes: Vec<Cidr>,
    /// Addresses in use.
    pub used: u64,
    /// The NSG attached, if any.
    pub nsg_id: Option<String>,
    /// Service endpoints, e.g. `Microsoft.Storage`.
    pub service_endpoints: Vec<String>,
}

impl Subnet {
    /// Parses `az network vnet subnet show` output.
    pub fn from_doc(doc: &SubnetDoc, path: &Path) -> Result<Subnet, NetworkError> {
        let texts: Vec<&String> = doc.address_prefix.iter().chain(doc.address_prefixes.iter().flatten()).collect();
        let mut prefixes: Vec<Cidr> = Vec::new();
        for t in &texts {
            match Cidr::parse(t) {
                Some(c) if !prefixes.contains(&c) => prefixes.push(c),
                Some(_) => {}
                None if t.contains(':') => {}
                None => {
                    return Err(NetworkError::Invalid {
                        path: path.to_owned(),
                        cause: format!("addressPrefix {t:?} is not an IPv4 CIDR"),
                    })
                }
            }
        }
        if prefixes.is_empty() {
            return Err(NetworkError::Invalid {
                path: path.to_owned(),
                cause: "no IPv4 addressPrefix or addressPrefixes".into(),
            });
        }
        Ok(Subnet {
            id: doc.id.clone(),
            name: resource_name(doc.name.as_deref(), doc.id.as_deref(), "<subnet name>"),
            resource_group: resource_group(doc.id.as_deref(), None),
            prefixes,
            used: doc.ip_configurations.as_ref().map_or(0, |v| v.len() as u64),
            nsg_id: doc.network_security_group.as_ref().and_then(|n| n.id.clone()),
            service_endpoints: doc.service_endpoints.iter().flatten().filter_map(|s| s.service.clone()).collect(),
        })
    }

    /// The subnet as probe targets for the NSG evaluation.
    pub fn targets(&self) -> Vec<Prefix> {
        self.prefixes.iter().copied().map(Prefix::Cidr).collect()
    }

    /// Addresses nodes can still take.
    pub fn free(&self) -> u64 {
        let capacity: u64 = self.prefixes.iter().map(|c| c.size().saturating_sub(AZURE_RESERVED)).sum();
        capacity.saturating_sub(self.used)
    }

    /// How `az network vnet subnet update` names this subnet.
    fn update_target(&self) -> String {
        match &self.id {
            Some(id) => format!("--ids {id}"),
            None => format!("-g {} --vnet-name <vnet name> --name {}", self.resource_group, self.name),
        }
    }

    fn prefix_list(&self) -> String {
        self.prefixes.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    }
}

/// The subnet carries the NSG that was checked; otherwise the check was of
/// the wrong NSG (or of none that applies).
pub fn nsg_attached(subnet: &Subnet, nsg_id: Option<&str>, nsg_name: &str) -> Option<Finding> {
    const ID: &str = "subnet.nsg";
    let requirement = format!("subnet {} uses NSG {nsg_name}", subnet.name);
    let fix = format!(
        "az network vnet subnet update {} --network-security-group {}",
        subnet.update_target(),
        nsg_id.unwrap_or(nsg_name)
    );
    match (&subnet.nsg_id, nsg_id) {
        (None, _) => Some(Finding::fail(
            ID,
            requirement,
            Verdict::Missing,
            Some("networkSecurityGroup".into()),
            "the subnet has no NSG, so none of the NSG rules apply to it",
            fix,
        )),
        (Some(attached), Some(checked)) if attached.eq_ignore_ascii_case(checked) => {
            Some(Finding::ok(ID, requirement, Some("networkSecurityGroup".into()), ""))
        }
        (Some(attached), Some(_)) => Some(Finding::fail(
            ID,
            requirement,
            Verdict::Missing,
            Some("networkSecurityGroup".into()),
            format!("the subnet uses another NSG: {attached}"),
            fix,
        )),
        // The NSG JSON has no id to compare with: nothing to say.
        (Some(_), None) => None,
    }
}

/// Enough free addresses for the cluster at its maximum size.
pub fn size(subnet: &Subnet, max_nodes: u32) -> Finding {
    const ID: &str = "subnet.size";
    let requirement = format!("subnet has {max_nodes} free addresses (--max-nodes)");
    let free = subnet.free();
    let rule = Some(format!("addressPrefix {}", subnet.prefix_list()));
    let note = format!(
        "{} addresses, {AZURE_RESERVED} reserved by Azure per prefix, {} in use, {free} free",
        subnet.prefixes.iter().map(Cidr::size).sum::<u64>(),
        subnet.used
    );
    if free >= u64::from(max_nodes) {
        return Finding::ok(ID, requirement, rule, note);
    }
    let needed = subnet.used + u64::from(max_nodes) + AZURE_RESERVED;
    let len = (0..=32u8).rev().find(|&l| 1u64 << (32 - u32::from(l)) >= needed).unwrap_or(0);
    let bigger = subnet.prefixes[0].with_len(len);
    Finding::fail(
        ID,
        requirement,
        Verdict::TooSmall,
        rule,
        format!("{note}; the cluster would be only partly allocated (a subnet in use cannot be resized: move the cluster to a new /{len} subnet if the update is refused)"),
        format!(
            "az network vnet subnet update {} --address-prefixes {bigger}",
            subnet.update_target()
        ),
    )
}

/// The subnet has the service endpoint a firewall's subnet rule needs
/// (`Microsoft.Storage`, `Microsoft.KeyVault`).
pub fn service_endpoint(subnet: &Subnet, service: &str, private: bool) -> Finding {
    let id = if service == "Microsoft.Storage" { "subnet.endpoint-storage" } else { "subnet.endpoint-keyvault" };
    let requirement = format!("subnet has the {service} service endpoint");
    if private {
        let note = "not needed: only a private endpoint reaches it";
        return Finding::ok(id, requirement, Some("serviceEndpoints".into()), note);
    }
    // `Microsoft.Storage.Global` serves the same purpose across regions.
    let has = subnet.service_endpoints.iter().any(|s| {
        s.eq_ignore_ascii_case(service) || s.to_ascii_lowercase().starts_with(&(service.to_ascii_lowercase() + "."))
    });
    if has {
        return Finding::ok(id, requirement, Some("serviceEndpoints".into()), "");
    }
    let mut all: Vec<String> = subnet.service_endpoints.clone();
    all.push(service.to_owned());
    Finding::fail(
        id,
        requirement,
        Verdict::Missing,
        Some("serviceEndpoints".into()),
        format!("without it the {service} firewall's subnet rule does not admit the nodes"),
        format!("az network vnet subnet update {} --service-endpoints {}", subnet.update_target(), all.join(" ")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet(prefix: &str, used: usize) -> Subnet {
        let doc: SubnetDoc = serde_json::from_value(serde_json::json!({
            "addressPrefix": prefix,
            "name": "compute",
            "ipConfigurations": vec![serde_json::json!({"id": "x"}); used],
        }))
        .unwrap();
        Subnet::from_doc(&doc, Path::new("s.json")).unwrap()
    }

    #[test]
    fn free_addresses_leave_out_azure_reserved_and_used() {
        let s = subnet("10.0.0.0/28", 3);
        assert_eq!(s.free(), 16 - 5 - 3);
        assert_eq!(size(&s, 8).verdict, Verdict::Ok);
        let f = size(&s, 9);
        assert_eq!(f.verdict, Verdict::TooSmall);
        // 3 used + 9 nodes + 5 reserved = 17 addresses: a /27.
        assert!(f.fix.unwrap().ends_with("--address-prefixes 10.0.0.0/27"));
    }
}
