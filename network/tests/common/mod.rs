//! Shared by the integration tests: the good fixtures, a way to break one
//! thing in them, and a run of the checker on the result.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use stylize_network::{check, CheckArgs, Finding, Report, Verdict};

/// The fixture folder: JSON shaped exactly as `az ... show` prints it.
pub fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A fixture, parsed.
pub fn fixture(name: &str) -> Value {
    let path = fixture_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

/// A scratch folder of its own for each test.
pub fn scratch(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("network-tests").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `value` as a file in `dir`.
pub fn write(dir: &Path, name: &str, value: &Value) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_string_pretty(value).unwrap()).unwrap();
    path
}

/// Every input of a full check, starting from the good fixtures.
pub struct Setup {
    pub nsg: Value,
    pub subnet: Option<Value>,
    pub storage: Option<Value>,
    pub keyvault: Option<Value>,
    pub route_table: Option<Value>,
    pub max_nodes: Option<u32>,
    pub ssh: bool,
    pub region: Option<String>,
}

impl Setup {
    /// The correct setup: every check passes.
    pub fn good() -> Setup {
        Setup {
            nsg: fixture("nsg.json"),
            subnet: Some(fixture("subnet.json")),
            storage: Some(fixture("storage.json")),
            keyvault: Some(fixture("keyvault.json")),
            route_table: Some(fixture("route-table.json")),
            max_nodes: Some(4),
            ssh: false,
            region: None,
        }
    }

    /// Writes the files and runs the checker.
    pub fn run(&self, test: &str) -> Report {
        let dir = scratch(test);
        let opt = |name: &str, v: &Option<Value>| v.as_ref().map(|v| write(&dir, name, v));
        let args = CheckArgs {
            nsg: write(&dir, "nsg.json", &self.nsg),
            subnet: opt("subnet.json", &self.subnet),
            storage: opt("storage.json", &self.storage),
            keyvault: opt("keyvault.json", &self.keyvault),
            route_table: opt("route-table.json", &self.route_table),
            max_nodes: self.max_nodes,
            ssh: self.ssh,
            region: self.region.clone(),
            json: false,
        };
        check(&args).unwrap_or_else(|e| panic!("check failed: {e}"))
    }

    /// The NSG's user rules.
    pub fn rules(&mut self) -> &mut Vec<Value> {
        self.nsg["securityRules"].as_array_mut().unwrap()
    }

    /// One user rule by name.
    pub fn rule(&mut self, name: &str) -> &mut Value {
        self.rules().iter_mut().find(|r| r["name"] == name).unwrap_or_else(|| panic!("no rule {name}"))
    }

    /// Drops a user rule.
    pub fn remove_rule(&mut self, name: &str) {
        let before = self.rules().len();
        self.rules().retain(|r| r["name"] != name);
        assert_eq!(self.rules().len(), before - 1, "no rule {name}");
    }

    /// Adds a user rule in the shape `az` prints (singular fields set,
    /// plural ones empty). Positional like an NSG row, hence the count.
    #[allow(clippy::too_many_arguments)]
    pub fn add_rule(
        &mut self,
        name: &str,
        priority: u32,
        direction: &str,
        access: &str,
        src: &str,
        dst: &str,
        ports: &str,
    ) {
        let rule = serde_json::json!({
            "access": access,
            "destinationAddressPrefix": dst,
            "destinationAddressPrefixes": [],
            "destinationPortRange": ports,
            "destinationPortRanges": [],
            "direction": direction,
            "etag": "W/\"00000000-0000-0000-0000-000000000000\"",
            "id": format!("{}/securityRules/{name}", self.nsg["id"].as_str().unwrap()),
            "name": name,
            "priority": priority,
            "protocol": "Tcp",
            "provisioningState": "Succeeded",
            "resourceGroup": "stylize-rg",
            "sourceAddressPrefix": src,
            "sourceAddressPrefixes": [],
            "sourcePortRange": "*",
            "sourcePortRanges": [],
            "type": "Microsoft.Network/networkSecurityGroups/securityRules"
        });
        self.rules().push(rule);
    }
}

/// The row with `id`, or a panic listing the rows there are.
pub fn row<'a>(report: &'a Report, id: &str) -> &'a Finding {
    report.finding(id).unwrap_or_else(|| {
        let ids: Vec<_> = report.findings().iter().map(|f| f.id).collect();
        panic!("no row {id}; rows: {ids:?}")
    })
}

/// Asserts that exactly the rows in `failing` failed, with those verdicts:
/// each broken requirement must fail alone.
pub fn assert_only(report: &Report, failing: &[(&str, Verdict)]) {
    let got: Vec<(&str, Verdict)> = report.failures().map(|f| (f.id, f.verdict)).collect();
    assert_eq!(got, failing, "\n{}", report.to_table());
    assert_eq!(report.passed(), failing.is_empty());
}

/// The fix of a row, which a failed row always has.
pub fn fix<'a>(report: &'a Report, id: &str) -> &'a str {
    row(report, id).fix.as_deref().unwrap_or_else(|| panic!("{id} has no fix"))
}

/// The id the fixtures give the compute subnet.
pub const SUBNET_ID: &str = "/subscriptions/6f1c2a3b-4d5e-4f60-8a71-92b3c4d5e6f7/resourceGroups/stylize-rg/providers/Microsoft.Network/virtualNetworks/stylize-vnet/subnets/compute";
