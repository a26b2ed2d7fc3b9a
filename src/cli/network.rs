//! The flags of `stylize network check`: the `az ... show` files it reads
//! and the cluster's facts, turned into the network crate's plain inputs.

use std::path::PathBuf;

use clap::builder::BoolishValueParser;
use clap::{Args, Subcommand};

/// `stylize network …`
#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Evaluate NSG rules, subnet size, firewalls and routes as Azure does;
    /// exit status 1 when a requirement fails.
    Check(NetworkCheckArgs),
}

/// `stylize network check`: each file is the unmodified output of the
/// `az ... show` command named in its help; only `--nsg` is required, and
/// each other file adds its checks.
#[derive(Debug, Clone, Args)]
pub struct NetworkCheckArgs {
    /// NSG of the compute subnet: `az network nsg show -g RG -n NAME`.
    #[arg(long, value_name = "FILE", env = "STYLIZE_NETWORK_NSG", help_heading = "Inputs (az ... show JSON)")]
    pub nsg: PathBuf,

    /// The compute subnet: `az network vnet subnet show -g RG --vnet-name VNET -n NAME`.
    #[arg(long, value_name = "FILE", env = "STYLIZE_NETWORK_SUBNET", help_heading = "Inputs (az ... show JSON)")]
    pub subnet: Option<PathBuf>,

    /// The storage account: `az storage account show -g RG -n NAME`.
    #[arg(long, value_name = "FILE", env = "STYLIZE_NETWORK_STORAGE", help_heading = "Inputs (az ... show JSON)")]
    pub storage: Option<PathBuf>,

    /// The key vault: `az keyvault show -g RG -n NAME`.
    #[arg(long, value_name = "FILE", env = "STYLIZE_NETWORK_KEYVAULT", help_heading = "Inputs (az ... show JSON)")]
    pub keyvault: Option<PathBuf>,

    /// The subnet's route table: `az network route-table show -g RG -n NAME`.
    #[arg(
        long = "route-table",
        value_name = "FILE",
        env = "STYLIZE_NETWORK_ROUTE_TABLE",
        help_heading = "Inputs (az ... show JSON)"
    )]
    pub route_table: Option<PathBuf>,

    /// The cluster's maximum node count; the subnet must have that many free
    /// addresses (needs --subnet).
    #[arg(
        long,
        value_name = "N",
        env = "STYLIZE_NETWORK_MAX_NODES",
        value_parser = clap::value_parser!(u32).range(1..),
        help_heading = "Cluster"
    )]
    pub max_nodes: Option<u32>,

    /// SSH to the nodes is wanted: TCP 22 must be open, but not to the internet.
    #[arg(long, env = "STYLIZE_NETWORK_SSH", value_parser = BoolishValueParser::new(), help_heading = "Cluster")]
    pub ssh: bool,

    /// Azure region for the service tags (e.g. eastus); defaults to the NSG's location.
    #[arg(long, value_name = "REGION", env = "STYLIZE_NETWORK_REGION", help_heading = "Cluster")]
    pub region: Option<String>,

    /// Print the report as JSON instead of a table.
    #[arg(long, env = "STYLIZE_NETWORK_JSON", value_parser = BoolishValueParser::new(), help_heading = "Output")]
    pub json: bool,
}

impl NetworkCheckArgs {
    /// The network crate's plain inputs.
    pub fn inputs(&self) -> stylize_network::CheckArgs {
        stylize_network::CheckArgs {
            nsg: self.nsg.clone(),
            subnet: self.subnet.clone(),
            storage: self.storage.clone(),
            keyvault: self.keyvault.clone(),
            route_table: self.route_table.clone(),
            max_nodes: self.max_nodes,
            ssh: self.ssh,
            region: self.region.clone(),
            json: self.json,
        }
    }
}
