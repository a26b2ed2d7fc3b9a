//! `stylize network check`: is the compute subnet set up the way Azure
//! Batch / Azure ML compute needs it?
//!
//! The cluster runs in a subnet of the user's virtual network, and a wrong
//! NSG rule or firewall setting shows up only as nodes stuck "unusable" or
//! jobs that cannot read their inputs. This crate reads the JSON the `az`
//! CLI prints for the NSG, subnet, storage account, key vault and route
//! table, judges each requirement the way Azure evaluates it, and says per
//! requirement: ok, missing, too open, shadowed (or, for the subnet, too
//! small), the rule that decided, and the `az` command that fixes it.
//!
//! Map of the modules: [`input`] reads and recognises the files, [`prefix`]
//! compares address prefixes and ports, [`nsg`] evaluates rules in priority
//! order, [`nsg_checks`] turns Azure's NSG guidance into rows and
//! [`nsg_egress`] keeps the nodes off the internet, [`subnet`], [`firewall`],
//! [`settings`] and [`routes`] check the other resources, [`report`] prints.
//!
//! ```no_run
//! let args = stylize_network::CheckArgs {
//!     nsg: "nsg.json".into(),
//!     region: Some("eastus".into()),
//!     ..Default::default()
//! };
//! let report = stylize_network::check(&args).expect("readable inputs");
//! print!("{}", report.to_table());
//! std::process::exit(if report.passed() { 0 } else { 1 });
//! ```
//!
//! The crate takes plain inputs; the `stylize` CLI owns the flags.
#![deny(missing_docs)]

pub mod error;
pub mod firewall;
pub mod input;
pub mod nsg;
pub mod nsg_checks;
pub mod nsg_egress;
pub mod prefix;
pub mod report;
pub mod routes;
pub mod settings;
pub mod subnet;

use std::path::PathBuf;

pub use error::NetworkError;
pub use report::{Finding, Report, Verdict};

use input::{KeyVaultDoc, Kind, NsgDoc, RouteTableDoc, StorageDoc, SubnetDoc};
use nsg::{Direction, Nsg};
use prefix::Prefix;

/// The flags of `stylize network check`.
///
/// Each file is the unmodified output of the `az ... show` command named in
/// its help; only `--nsg` is required, and each other file adds its checks.
#[derive(Debug, Clone, Default)]
pub struct CheckArgs {
    /// NSG of the compute subnet: `az network nsg show -g RG -n NAME`.
    pub nsg: PathBuf,
    /// The compute subnet: `az network vnet subnet show -g RG --vnet-name VNET -n NAME`.
    pub subnet: Option<PathBuf>,
    /// The storage account: `az storage account show -g RG -n NAME`.
    pub storage: Option<PathBuf>,
    /// The key vault: `az keyvault show -g RG -n NAME`.
    pub keyvault: Option<PathBuf>,
    /// The subnet's route table: `az network route-table show -g RG -n NAME`.
    pub route_table: Option<PathBuf>,
    /// The cluster's maximum node count; the subnet must have that many free
    /// addresses (needs `subnet`).
    pub max_nodes: Option<u32>,
    /// SSH to the nodes is wanted: TCP 22 must be open, but not to the internet.
    pub ssh: bool,
    /// Azure region for the service tags (e.g. eastus); defaults to the NSG's location.
    pub region: Option<String>,
    /// Print the report as JSON instead of a table (for the caller: the
    /// check itself does not print).
    pub json: bool,
}

/// Reads the files named in `args` and judges every requirement they allow.
///
/// `Err` only when an input cannot be judged (unreadable, not JSON, the
/// wrong kind of resource, a flag missing its companion); failed
/// requirements are verdicts in the `Ok` report.
pub fn check(args: &CheckArgs) -> Result<Report, NetworkError> {
    if args.max_nodes.is_some() && args.subnet.is_none() {
        return Err(NetworkError::Usage { flag: "--max-nodes", needs: "--subnet" });
    }
    let nsg_doc: NsgDoc = input::load(&args.nsg, Kind::Nsg)?;
    let nsg = Nsg::from_doc(&nsg_doc, &args.nsg)?;
    let subnet = match &args.subnet {
        Some(p) => Some(subnet::Subnet::from_doc(&input::load::<SubnetDoc>(p, Kind::Subnet)?, p)?),
        None => None,
    };
    let storage = match &args.storage {
        Some(p) => {
            let doc = input::load::<StorageDoc>(p, Kind::Storage)?;
            Some((firewall::Firewall::storage(&doc, p)?, settings::StorageSettings::from_doc(&doc)))
        }
        None => None,
    };
    let keyvault = match &args.keyvault {
        Some(p) => {
            let doc = input::load::<KeyVaultDoc>(p, Kind::KeyVault)?;
            Some((firewall::Firewall::key_vault(&doc, p)?, doc))
        }
        None => None,
    };
    let route_table = match &args.route_table {
        Some(p) => Some(input::load::<RouteTableDoc>(p, Kind::RouteTable)?),
        None => None,
    };

    let region = args.region.clone().or_else(|| nsg.location.clone()).map(|r| r.to_ascii_lowercase());
    let ctx = nsg_checks::Context {
        region: region.clone(),
        subnet: subnet.as_ref().map_or_else(|| vec![Prefix::ComputeSubnet], subnet::Subnet::targets),
        ssh: args.ssh,
    };

    let mut findings = vec![
        nsg_checks::batch_inbound(&nsg, &ctx),
        nsg_checks::ssh(&nsg, &ctx),
        nsg_checks::internet_inbound(&nsg, &ctx),
        nsg_checks::vnet(&nsg, &ctx, Direction::Inbound),
        nsg_checks::vnet(&nsg, &ctx, Direction::Outbound),
        nsg_egress::internet_outbound(&nsg, &ctx),
        nsg_egress::outbound_tags_only(&nsg, &ctx),
    ];
    findings.extend(nsg_checks::outbound_services(&nsg, &ctx));
    if let Some(s) = &subnet {
        findings.extend(subnet::nsg_attached(s, nsg.id.as_deref(), &nsg.name));
        if let Some(n) = args.max_nodes {
            findings.push(subnet::size(s, n));
        }
        if let Some((fw, _)) = &storage {
            findings.push(subnet::service_endpoint(s, "Microsoft.Storage", fw.private_only()));
        }
        if let Some((fw, _)) = &keyvault {
            findings.push(subnet::service_endpoint(s, "Microsoft.KeyVault", fw.private_only()));
        }
    }
    if let Some((fw, s)) = &storage {
        findings.extend(firewall::check(fw, subnet.as_ref()));
        findings.extend(settings::storage(s));
    }
    if let Some((fw, doc)) = &keyvault {
        findings.extend(firewall::check(fw, subnet.as_ref()));
        findings.extend(settings::key_vault(doc));
    }
    if let Some(rt) = &route_table {
        findings.push(routes::check(rt, region.as_deref()));
    }
    Ok(Report::new(region, findings))
}
