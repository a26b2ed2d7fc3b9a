//! `CheckArgs` as the CLI will use it: flags, env fallbacks, value checks.
//! Alone in its own test binary because it sets environment variables.

use clap::{CommandFactory, Parser};
use stylize_network::CheckArgs;

#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    check: CheckArgs,
}

#[test]
fn flags_parse_and_env_fills_in() {
    let cli = Cli::try_parse_from([
        "check",
        "--nsg",
        "n.json",
        "--subnet",
        "s.json",
        "--storage",
        "st.json",
        "--keyvault",
        "kv.json",
        "--route-table",
        "rt.json",
        "--max-nodes",
        "8",
        "--ssh",
        "--region",
        "westeurope",
        "--json",
    ])
    .unwrap();
    let a = cli.check;
    assert_eq!(a.nsg.to_str(), Some("n.json"));
    assert_eq!(a.route_table.as_deref().and_then(|p| p.to_str()), Some("rt.json"));
    assert_eq!(a.max_nodes, Some(8));
    assert!(a.ssh && a.json);
    assert_eq!(a.region.as_deref(), Some("westeurope"));

    assert!(Cli::try_parse_from(["check"]).is_err(), "--nsg is required");
    assert!(Cli::try_parse_from(["check", "--nsg", "n.json", "--max-nodes", "0"]).is_err());

    // SAFETY-free in edition 2021; this binary has only this test.
    std::env::set_var("STYLIZE_NETWORK_NSG", "env-nsg.json");
    std::env::set_var("STYLIZE_NETWORK_MAX_NODES", "3");
    std::env::set_var("STYLIZE_NETWORK_SSH", "true");
    let a = Cli::try_parse_from(["check"]).unwrap().check;
    assert_eq!(a.nsg.to_str(), Some("env-nsg.json"));
    assert_eq!(a.max_nodes, Some(3));
    assert!(a.ssh);
    assert!(!a.json);

    let help = Cli::command().render_help().to_string();
    for heading in ["Inputs (az ... show JSON):", "Cluster:", "Output:", "[env: STYLIZE_NETWORK_ROUTE_TABLE="] {
        assert!(help.contains(heading), "{heading} missing from\n{help}");
    }
}
