//! The checker on az-shaped fixtures: the good setup passes, and each NSG
//! requirement broken alone fails with the right verdict, rule and fix
//! (the storage account, key vault, subnet and routes: `resources.rs`).

mod common;

use common::{assert_only, fix, row, Setup};
use serde_json::json;
use stylize_network::Verdict;

const NSG_FIX: &str = "--nsg-name stylize-compute-nsg -g stylize-rg";

#[test]
fn the_good_setup_passes_every_requirement() {
    let report = Setup::good().run("good");
    assert_only(&report, &[]);
    let ids: Vec<_> = report.findings().iter().map(|f| f.id).collect();
    assert_eq!(
        ids,
        [
            "nsg.batch-inbound",
            "nsg.ssh",
            "nsg.internet-inbound",
            "nsg.vnet-inbound",
            "nsg.vnet-outbound",
            "nsg.internet-outbound",
            "nsg.outbound-tags-only",
            "nsg.outbound-storage",
            "nsg.outbound-acr",
            "nsg.outbound-aml",
            "subnet.nsg",
            "subnet.size",
            "subnet.endpoint-storage",
            "subnet.endpoint-keyvault",
            "storage.default-action",
            "storage.subnet-rule",
            "storage.trusted-services",
            "storage.ip-rules",
            "storage.https-only",
            "storage.public-blob",
            "storage.shared-key",
            "storage.min-tls",
            "keyvault.default-action",
            "keyvault.subnet-rule",
            "keyvault.trusted-services",
            "keyvault.ip-rules",
            "keyvault.purge-protection",
            "routes.batch",
        ]
    );
    assert_eq!(report.region(), Some("eastus"), "region comes from the NSG's location");
    assert_eq!(row(&report, "nsg.batch-inbound").rule.as_deref(), Some("AllowBatchNodeManagement (100)"));
    assert_eq!(row(&report, "nsg.vnet-outbound").rule.as_deref(), Some("AllowVnetOutBound (65000)"));
    assert_eq!(row(&report, "nsg.outbound-storage").rule.as_deref(), Some("AllowStorageOutbound (100)"));
    assert_eq!(row(&report, "nsg.internet-outbound").rule.as_deref(), Some("DenyInternetOutbound (4000)"));
    assert!(report.findings().iter().all(|f| f.fix.is_none()));
}

#[test]
fn a_missing_batch_rule_is_missing_with_a_create_fix() {
    let mut s = Setup::good();
    s.remove_rule("AllowBatchNodeManagement");
    let report = s.run("missing-batch");
    assert_only(&report, &[("nsg.batch-inbound", Verdict::Missing)]);
    assert_eq!(row(&report, "nsg.batch-inbound").rule.as_deref(), Some("DenyAllInBound (65500)"));
    assert_eq!(
        fix(&report, "nsg.batch-inbound"),
        format!(
            "az network nsg rule create {NSG_FIX} --name AllowBatchNodeManagement --priority 100 \
             --direction Inbound --access Allow --protocol Tcp \
             --source-address-prefixes BatchNodeManagement.eastus --source-port-ranges '*' \
             --destination-address-prefixes '*' --destination-port-ranges 29876-29877"
        )
    );
}

#[test]
fn a_wrong_port_leaves_the_other_port_missing() {
    let mut s = Setup::good();
    s.rule("AllowBatchNodeManagement")["destinationPortRange"] = json!("29876");
    let report = s.run("wrong-port");
    assert_only(&report, &[("nsg.batch-inbound", Verdict::Missing)]);
    let r = row(&report, "nsg.batch-inbound");
    assert!(r.note.contains("Tcp 29877 from BatchNodeManagement.eastus"), "{}", r.note);
    // 100 and 110 are taken inbound: the next free one.
    let f = fix(&report, "nsg.batch-inbound");
    assert!(f.contains("--priority 120 "), "{f}");
    assert!(f.ends_with("--destination-port-ranges 29876-29877"), "{f}");
}

#[test]
fn a_batch_rule_for_another_region_does_not_count() {
    let mut s = Setup::good();
    s.region = Some("westus".into());
    let report = s.run("other-region");
    let r = row(&report, "nsg.batch-inbound");
    assert_eq!(r.verdict, Verdict::Missing);
    assert!(fix(&report, "nsg.batch-inbound").contains("BatchNodeManagement.westus"));
}

#[test]
fn a_deny_before_the_allow_shadows_it() {
    let mut s = Setup::good();
    s.rule("AllowBatchNodeManagement")["priority"] = json!(300);
    s.add_rule("DenyInternetInbound", 200, "Inbound", "Deny", "Internet", "*", "*");
    let report = s.run("shadowed");
    assert_only(&report, &[("nsg.batch-inbound", Verdict::Shadowed)]);
    let r = row(&report, "nsg.batch-inbound");
    assert_eq!(r.rule.as_deref(), Some("DenyInternetInbound (200)"));
    assert!(r.note.contains("AllowBatchNodeManagement (300) would allow"), "{}", r.note);
    assert_eq!(
        fix(&report, "nsg.batch-inbound"),
        format!("az network nsg rule update {NSG_FIX} --name AllowBatchNodeManagement --priority 100")
    );
}

#[test]
fn batch_ports_open_to_everyone_are_too_open() {
    for (i, src) in ["*", "Internet", "0.0.0.0/0"].into_iter().enumerate() {
        let mut s = Setup::good();
        s.rule("AllowBatchNodeManagement")["sourceAddressPrefix"] = json!(src);
        let report = s.run(&format!("batch-open-{i}"));
        assert_only(&report, &[("nsg.batch-inbound", Verdict::TooOpen)]);
        assert_eq!(
            fix(&report, "nsg.batch-inbound"),
            format!(
                "az network nsg rule update {NSG_FIX} --name AllowBatchNodeManagement \
                 --source-address-prefixes BatchNodeManagement.eastus"
            )
        );
    }
}

#[test]
fn every_port_open_to_the_internet_is_too_open_everywhere() {
    let mut s = Setup::good();
    s.add_rule("AllowAnyInbound", 4000, "Inbound", "Allow", "Internet", "*", "*");
    let report = s.run("all-open");
    assert_only(
        &report,
        &[
            ("nsg.batch-inbound", Verdict::TooOpen),
            ("nsg.ssh", Verdict::TooOpen),
            ("nsg.internet-inbound", Verdict::TooOpen),
        ],
    );
    assert_eq!(row(&report, "nsg.internet-inbound").rule.as_deref(), Some("AllowAnyInbound (4000)"));
    assert_eq!(
        fix(&report, "nsg.internet-inbound"),
        format!("az network nsg rule delete {NSG_FIX} --name AllowAnyInbound")
    );
    // Taking 22 out of `*` leaves the rest of the range.
    assert_eq!(
        fix(&report, "nsg.ssh"),
        format!("az network nsg rule update {NSG_FIX} --name AllowAnyInbound --destination-port-ranges 0-21 23-65535")
    );
}

#[test]
fn any_one_port_open_to_the_internet_is_too_open() {
    // Issue 15: RDP, or any single port, from the internet.
    for (i, (src, port)) in
        [("Internet", "3389"), ("*", "443"), ("0.0.0.0/0", "44224"), ("0.0.0.0/1", "8080"), ("AzureCloud", "5000")]
            .iter()
            .enumerate()
    {
        let mut s = Setup::good();
        s.add_rule("AllowOne", 200, "Inbound", "Allow", src, "*", port);
        let report = s.run(&format!("one-port-{i}"));
        assert_only(&report, &[("nsg.internet-inbound", Verdict::TooOpen)]);
        let r = row(&report, "nsg.internet-inbound");
        assert_eq!(r.rule.as_deref(), Some("AllowOne (200)"));
        let shown = if *src == "0.0.0.0/0" { "*" } else { src };
        assert!(r.note.contains(&format!("Tcp {port} from {shown}")), "{}", r.note);
        assert_eq!(
            fix(&report, "nsg.internet-inbound"),
            format!("az network nsg rule delete {NSG_FIX} --name AllowOne")
        );
    }
}

#[test]
fn an_internet_port_counts_unless_a_deny_covers_it_first() {
    // A named admin range is not the internet.
    let mut s = Setup::good();
    s.add_rule("AllowRdp", 300, "Inbound", "Allow", "203.0.113.0/24", "*", "3389");
    assert_only(&s.run("rdp-named"), &[]);
    // A deny of the whole internet before it closes it, by priority...
    s.rule("AllowRdp")["sourceAddressPrefix"] = json!("*");
    s.add_rule("DenyInternetInbound", 200, "Inbound", "Deny", "Internet", "*", "*");
    assert_only(&s.run("rdp-denied"), &[]);
    // ...a deny of part of it does not, nor does a deny after it.
    s.rule("DenyInternetInbound")["sourceAddressPrefix"] = json!("52.0.0.0/8");
    assert_only(&s.run("rdp-part-denied"), &[("nsg.internet-inbound", Verdict::TooOpen)]);
    s.rule("DenyInternetInbound")["sourceAddressPrefix"] = json!("Internet");
    s.rule("DenyInternetInbound")["priority"] = json!(400);
    assert_only(&s.run("rdp-deny-late"), &[("nsg.internet-inbound", Verdict::TooOpen)]);
}

#[test]
fn ssh_open_to_the_internet_is_too_open_with_or_without_ssh() {
    for ssh in [false, true] {
        let mut s = Setup::good();
        s.ssh = ssh;
        s.add_rule("AllowSSH", 200, "Inbound", "Allow", "Internet", "*", "22");
        let report = s.run(&format!("ssh-internet-{ssh}"));
        assert_only(&report, &[("nsg.ssh", Verdict::TooOpen)]);
        assert_eq!(row(&report, "nsg.ssh").rule.as_deref(), Some("AllowSSH (200)"));
        let expected = if ssh {
            format!("az network nsg rule update {NSG_FIX} --name AllowSSH --source-address-prefixes <your admin CIDR>")
        } else {
            format!("az network nsg rule delete {NSG_FIX} --name AllowSSH")
        };
        assert_eq!(fix(&report, "nsg.ssh"), expected);
    }
}

#[test]
fn ssh_from_a_named_source_needs_the_ssh_flag() {
    let mut s = Setup::good();
    s.add_rule("AllowSSH", 200, "Inbound", "Allow", "203.0.113.0/24", "*", "22");
    let report = s.run("ssh-named-noflag");
    assert_only(&report, &[("nsg.ssh", Verdict::TooOpen)]);
    assert!(row(&report, "nsg.ssh").note.contains("not asked for"));

    s.ssh = true;
    let report = s.run("ssh-named-flag");
    assert_only(&report, &[]);
    assert_eq!(row(&report, "nsg.ssh").rule.as_deref(), Some("AllowSSH (200)"));
}

#[test]
fn ssh_flag_without_a_rule_is_missing_and_behind_a_deny_is_shadowed() {
    let mut s = Setup::good();
    s.ssh = true;
    let report = s.run("ssh-missing");
    assert_only(&report, &[("nsg.ssh", Verdict::Missing)]);
    let f = fix(&report, "nsg.ssh");
    assert!(f.starts_with(&format!("az network nsg rule create {NSG_FIX} --name AllowSSH --priority 120 ")), "{f}");
    assert!(
        f.contains("--source-address-prefixes <your admin CIDR>") && f.ends_with("--destination-port-ranges 22"),
        "{f}"
    );

    s.add_rule("DenySSH", 200, "Inbound", "Deny", "Internet", "*", "22");
    s.add_rule("AllowSSH", 300, "Inbound", "Allow", "203.0.113.0/24", "*", "22");
    let report = s.run("ssh-shadowed");
    assert_only(&report, &[("nsg.ssh", Verdict::Shadowed)]);
    assert_eq!(row(&report, "nsg.ssh").rule.as_deref(), Some("DenySSH (200)"));
    assert_eq!(fix(&report, "nsg.ssh"), format!("az network nsg rule update {NSG_FIX} --name AllowSSH --priority 120"));
}

#[test]
fn a_deny_inside_the_vnet_breaks_mpi() {
    let mut s = Setup::good();
    s.add_rule("DenyVnetOutbound", 200, "Outbound", "Deny", "VirtualNetwork", "VirtualNetwork", "*");
    let report = s.run("vnet-deny");
    assert_only(&report, &[("nsg.vnet-outbound", Verdict::Missing)]);
    assert_eq!(row(&report, "nsg.vnet-outbound").rule.as_deref(), Some("DenyVnetOutbound (200)"));
    let f = fix(&report, "nsg.vnet-outbound");
    // Outbound 100-140 are taken and the new rule must come before 200.
    assert!(
        f.contains("--name AllowVnetOutBoundAll --priority 150 --direction Outbound --access Allow --protocol '*'"),
        "{f}"
    );
}

#[test]
fn without_the_internet_deny_outbound_is_too_open() {
    // Issue 15: `DenyInternetOutbound` removed, Azure's default allows all.
    let mut s = Setup::good();
    s.remove_rule("DenyInternetOutbound");
    s.remove_rule("AllowStorageOutbound");
    let report = s.run("internet-open");
    assert_only(&report, &[("nsg.internet-outbound", Verdict::TooOpen)]);
    let r = row(&report, "nsg.internet-outbound");
    assert_eq!(r.rule.as_deref(), Some("AllowInternetOutBound (65001)"));
    assert!(r.note.contains("no rule denies outbound internet"), "{}", r.note);
    assert_eq!(
        fix(&report, "nsg.internet-outbound"),
        format!(
            "az network nsg rule create {NSG_FIX} --name DenyInternetOutbound --priority 4000 \
             --direction Outbound --access Deny --protocol '*' --source-address-prefixes '*' \
             --source-port-ranges '*' --destination-address-prefixes Internet --destination-port-ranges '*'"
        )
    );
    // The services are reachable then, and say why.
    let r = row(&report, "nsg.outbound-storage");
    assert_eq!(r.note, "outbound internet open");
    assert_eq!(r.rule.as_deref(), Some("AllowInternetOutBound (65001)"));

    // A deny of TCP alone leaves UDP to the default allow.
    let mut s = Setup::good();
    s.rule("DenyInternetOutbound")["protocol"] = json!("Tcp");
    let report = s.run("internet-deny-tcp-only");
    assert_only(&report, &[("nsg.internet-outbound", Verdict::TooOpen)]);
    assert!(row(&report, "nsg.internet-outbound").note.contains("Udp 0-442 to Internet"));
}

#[test]
fn outbound_to_the_internet_is_too_open_443_included() {
    // Issue 15: an allow of 443 to the internet before the deny.
    for (i, (dst, ports)) in
        [("Internet", "443"), ("*", "443"), ("AzureCloud", "443"), ("0.0.0.0/0", "*")].iter().enumerate()
    {
        let mut s = Setup::good();
        s.add_rule("AllowHttpsOut", 200, "Outbound", "Allow", "VirtualNetwork", dst, ports);
        let report = s.run(&format!("https-out-{i}"));
        assert_only(&report, &[("nsg.outbound-tags-only", Verdict::TooOpen)]);
        assert_eq!(row(&report, "nsg.outbound-tags-only").rule.as_deref(), Some("AllowHttpsOut (200)"));
        let expected = if *ports == "*" {
            format!("az network nsg rule delete {NSG_FIX} --name AllowHttpsOut")
        } else {
            format!(
                "az network nsg rule update {NSG_FIX} --name AllowHttpsOut --destination-address-prefixes <service tag>"
            )
        };
        assert_eq!(fix(&report, "nsg.outbound-tags-only"), expected);
    }
    // After the deny it is dead, and a service tag is what is wanted.
    let mut s = Setup::good();
    s.add_rule("AllowHttpsOut", 4010, "Outbound", "Allow", "VirtualNetwork", "Internet", "443");
    s.add_rule("AllowMonitorOut", 200, "Outbound", "Allow", "VirtualNetwork", "AzureMonitor", "443");
    assert_only(&s.run("https-out-dead"), &[]);
}

#[test]
fn with_outbound_internet_denied_storage_must_be_allowed() {
    let mut s = Setup::good();
    s.remove_rule("AllowStorageOutbound");
    let report = s.run("storage-outbound-missing");
    assert_only(&report, &[("nsg.outbound-storage", Verdict::Missing)]);
    assert_eq!(row(&report, "nsg.outbound-storage").rule.as_deref(), Some("DenyInternetOutbound (4000)"));
    let f = fix(&report, "nsg.outbound-storage");
    assert!(f.contains("--name AllowStorageOutbound --priority 100 --direction Outbound"), "{f}");
    assert!(f.ends_with("--destination-address-prefixes Storage.eastus --destination-port-ranges 443"), "{f}");

    let mut s = Setup::good();
    s.rule("AllowContainerRegistryOutbound")["priority"] = json!(4010);
    let report = s.run("acr-outbound-shadowed");
    assert_only(&report, &[("nsg.outbound-acr", Verdict::Shadowed)]);
    assert_eq!(row(&report, "nsg.outbound-acr").rule.as_deref(), Some("DenyInternetOutbound (4000)"));
}

#[test]
fn an_nsg_without_default_rules_gets_azures_built_in_ones() {
    let mut s = Setup::good();
    s.nsg.as_object_mut().unwrap().remove("defaultSecurityRules");
    assert_only(&s.run("no-defaults"), &[]);
    s.remove_rule("AllowBatchNodeManagement");
    let report = s.run("no-defaults-missing");
    assert_only(&report, &[("nsg.batch-inbound", Verdict::Missing)]);
    assert_eq!(row(&report, "nsg.batch-inbound").rule.as_deref(), Some("DenyAllInBound (65500)"));
}

#[test]
fn the_report_renders_as_a_table_and_as_json() {
    let mut s = Setup::good();
    s.remove_rule("AllowBatchNodeManagement");
    let report = s.run("render");
    let table = report.to_table();
    let header = table.lines().next().unwrap();
    assert!(
        header.starts_with("REQUIREMENT")
            && header.contains("VERDICT")
            && header.contains("DECIDED BY")
            && header.ends_with("FIX")
    );
    let line = table.lines().find(|l| l.starts_with("inbound TCP 29876-29877")).unwrap();
    assert!(
        line.contains(" missing ")
            && line.contains("DenyAllInBound (65500)")
            && line.contains("az network nsg rule create"),
        "{line}"
    );
    assert!(table.contains("27 of 28 requirements met"), "{table}");

    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["passed"], false);
    assert_eq!(json["region"], "eastus");
    assert_eq!(json["findings"][0]["id"], "nsg.batch-inbound");
    assert_eq!(json["findings"][0]["verdict"], "missing");
    assert_eq!(json["findings"][1]["verdict"], "ok");
    assert_eq!(json["findings"][1]["fix"], serde_json::Value::Null);
}

#[test]
fn only_the_nsg_is_required() {
    let s = Setup { subnet: None, storage: None, keyvault: None, route_table: None, max_nodes: None, ..Setup::good() };
    let report = s.run("nsg-only");
    assert_only(&report, &[]);
    assert_eq!(report.findings().len(), 10);
}
