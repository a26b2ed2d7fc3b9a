//! The checker on az-shaped fixtures, beyond the NSG: the storage
//! account's and key vault's firewalls, the subnet and its routes; each
//! requirement broken alone fails with the right verdict, rule and fix.

mod common;

use common::{assert_only, fix, row, Setup, SUBNET_ID};
use serde_json::json;
use stylize_network::Verdict;

#[test]
fn storage_default_allow_is_too_open() {
    let mut s = Setup::good();
    s.storage.as_mut().unwrap()["networkRuleSet"]["defaultAction"] = json!("Allow");
    let report = s.run("storage-allow");
    assert_only(&report, &[("storage.default-action", Verdict::TooOpen)]);
    assert_eq!(
        fix(&report, "storage.default-action"),
        "az storage account update --name stylizestore -g stylize-rg --default-action Deny"
    );
}

#[test]
fn storage_without_the_subnet_rule_is_missing() {
    let mut s = Setup::good();
    s.storage.as_mut().unwrap()["networkRuleSet"]["virtualNetworkRules"] = json!([
        {"action": "Allow", "state": "Succeeded", "virtualNetworkResourceId": SUBNET_ID.replace("compute", "other")}
    ]);
    let report = s.run("storage-no-subnet");
    assert_only(&report, &[("storage.subnet-rule", Verdict::Missing)]);
    assert_eq!(
        fix(&report, "storage.subnet-rule"),
        format!("az storage account network-rule add --account-name stylizestore -g stylize-rg --subnet {SUBNET_ID}")
    );
}

#[test]
fn storage_without_trusted_services_is_missing() {
    let mut s = Setup::good();
    s.storage.as_mut().unwrap()["networkRuleSet"]["bypass"] = json!("Logging, Metrics");
    let report = s.run("storage-bypass");
    assert_only(&report, &[("storage.trusted-services", Verdict::Missing)]);
    assert_eq!(
        fix(&report, "storage.trusted-services"),
        "az storage account update --name stylizestore -g stylize-rg --bypass Logging Metrics AzureServices"
    );
    s.storage.as_mut().unwrap()["networkRuleSet"]["bypass"] = json!("Logging, Metrics, AzureServices");
    assert_only(&s.run("storage-bypass-ok"), &[]);
}

#[test]
fn storage_ip_rules_spanning_the_internet_are_too_open() {
    // Issue 15: an ipRule of 0.0.0.0/0, or halves that add up to it.
    let rules =
        |v: &[&str]| json!(v.iter().map(|r| json!({"action": "Allow", "ipAddressOrRange": r})).collect::<Vec<_>>());
    for (i, set) in
        [&["0.0.0.0/0"][..], &["203.0.113.7", "0.0.0.0/1", "128.0.0.0/1"], &["52.0.0.0/8"]].iter().enumerate()
    {
        let mut s = Setup::good();
        s.storage.as_mut().unwrap()["networkRuleSet"]["ipRules"] = rules(set);
        let report = s.run(&format!("storage-ip-{i}"));
        assert_only(&report, &[("storage.ip-rules", Verdict::TooOpen)]);
        let widest = set.iter().find(|r| r.contains('/')).unwrap();
        assert_eq!(
            fix(&report, "storage.ip-rules"),
            format!("az storage account network-rule remove --account-name stylizestore -g stylize-rg --ip-address {widest}")
        );
    }
    let mut s = Setup::good();
    s.storage.as_mut().unwrap()["networkRuleSet"]["ipRules"] = rules(&["203.0.113.0/24", "198.51.100.7"]);
    assert_only(&s.run("storage-ip-office"), &[]);
    s.keyvault.as_mut().unwrap()["properties"]["networkAcls"]["ipRules"] = json!([{"value": "0.0.0.0/0"}]);
    assert_only(&s.run("kv-ip-open"), &[("keyvault.ip-rules", Verdict::TooOpen)]);
}

#[test]
fn storage_settings_that_let_more_in_are_too_open() {
    // Issue 15: plain HTTP, public blobs, shared keys; each also when unset.
    for (field, bad, id) in [
        ("enableHttpsTrafficOnly", json!(false), "storage.https-only"),
        ("allowBlobPublicAccess", json!(true), "storage.public-blob"),
        ("allowSharedKeyAccess", json!(true), "storage.shared-key"),
        ("minimumTlsVersion", json!("TLS1_0"), "storage.min-tls"),
    ] {
        for value in [bad, json!(null)] {
            let mut s = Setup::good();
            s.storage.as_mut().unwrap()[field] = value.clone();
            let report = s.run(&format!("storage-{field}-{value}"));
            assert_only(&report, &[(id, Verdict::TooOpen)]);
            assert_eq!(row(&report, id).rule.as_deref(), Some(field));
        }
    }
    let mut s = Setup::good();
    s.storage.as_mut().unwrap()["allowSharedKeyAccess"] = json!(true);
    assert_eq!(
        fix(&s.run("storage-shared-key-fix"), "storage.shared-key"),
        "az storage account update --name stylizestore -g stylize-rg --allow-shared-key-access false"
    );
}

#[test]
fn storage_settings_are_read_in_the_arm_shape_too() {
    // `az resource show` / ARM: nested under properties, other names.
    let good = Setup::good().storage.unwrap();
    let acls = &good["networkRuleSet"];
    let arm = |https: bool| {
        json!({
            "id": good["id"], "name": good["name"], "type": "Microsoft.Storage/storageAccounts",
            "properties": {
                "supportsHttpsTrafficOnly": https, "allowBlobPublicAccess": false,
                "allowSharedKeyAccess": false, "minimumTlsVersion": "TLS1_2",
                "networkAcls": {
                    "bypass": acls["bypass"], "defaultAction": acls["defaultAction"],
                    "ipRules": [{"value": "0.0.0.0/0", "action": "Allow"}],
                    "virtualNetworkRules": [{"id": SUBNET_ID, "action": "Allow", "state": "Succeeded"}],
                },
            },
        })
    };
    let mut s = Setup::good();
    s.storage = Some(arm(true));
    assert_only(&s.run("storage-arm"), &[("storage.ip-rules", Verdict::TooOpen)]);
    s.storage = Some(arm(false));
    assert_only(
        &s.run("storage-arm-http"),
        &[("storage.ip-rules", Verdict::TooOpen), ("storage.https-only", Verdict::TooOpen)],
    );
}

#[test]
fn a_key_vault_without_purge_protection_is_missing_it() {
    let mut s = Setup::good();
    s.keyvault.as_mut().unwrap()["properties"]["enablePurgeProtection"] = json!(null);
    let report = s.run("kv-purge");
    assert_only(&report, &[("keyvault.purge-protection", Verdict::Missing)]);
    assert_eq!(
        fix(&report, "keyvault.purge-protection"),
        "az keyvault update --name stylize-kv -g stylize-rg --enable-purge-protection true"
    );
}

#[test]
fn key_vault_subnet_ids_compare_case_insensitively_and_no_acls_is_open() {
    // The good fixture's key vault rule is lower-cased, as az prints it.
    let good = Setup::good();
    let kv_id = good.keyvault.as_ref().unwrap()["properties"]["networkAcls"]["virtualNetworkRules"][0]["id"].clone();
    assert_eq!(kv_id, json!(SUBNET_ID.to_lowercase()));

    let mut s = Setup::good();
    s.keyvault.as_mut().unwrap()["properties"]["networkAcls"] = json!(null);
    let report = s.run("kv-no-acls");
    assert_only(&report, &[("keyvault.default-action", Verdict::TooOpen), ("keyvault.subnet-rule", Verdict::Missing)]);
    assert_eq!(
        fix(&report, "keyvault.default-action"),
        "az keyvault update --name stylize-kv -g stylize-rg --default-action Deny"
    );
    assert_eq!(
        fix(&report, "keyvault.subnet-rule"),
        format!("az keyvault network-rule add --name stylize-kv -g stylize-rg --subnet {SUBNET_ID}")
    );
}

#[test]
fn a_subnet_too_small_for_the_cluster_is_too_small() {
    let mut s = Setup::good();
    s.subnet.as_mut().unwrap()["addressPrefix"] = json!("10.0.0.0/28");
    s.max_nodes = Some(8);
    // 16 addresses - 5 reserved - 3 in use = 8 free: just enough.
    assert_only(&s.run("subnet-fits"), &[]);
    s.max_nodes = Some(10);
    let report = s.run("subnet-small");
    assert_only(&report, &[("subnet.size", Verdict::TooSmall)]);
    assert!(row(&report, "subnet.size").note.contains("8 free"));
    // 3 used + 10 nodes + 5 reserved = 18 addresses: a /27.
    assert_eq!(
        fix(&report, "subnet.size"),
        format!("az network vnet subnet update --ids {SUBNET_ID} --address-prefixes 10.0.0.0/27")
    );
}

#[test]
fn the_subnet_must_carry_the_nsg_and_the_service_endpoints() {
    let mut s = Setup::good();
    s.subnet.as_mut().unwrap()["networkSecurityGroup"]["id"] =
        json!("/subscriptions/x/resourceGroups/y/providers/Microsoft.Network/networkSecurityGroups/other");
    s.subnet.as_mut().unwrap()["serviceEndpoints"] =
        json!([{"service": "Microsoft.KeyVault", "locations": ["*"], "provisioningState": "Succeeded"}]);
    let report = s.run("subnet-wiring");
    assert_only(&report, &[("subnet.nsg", Verdict::Missing), ("subnet.endpoint-storage", Verdict::Missing)]);
    assert_eq!(
        fix(&report, "subnet.endpoint-storage"),
        format!(
            "az network vnet subnet update --ids {SUBNET_ID} --service-endpoints Microsoft.KeyVault Microsoft.Storage"
        )
    );
}

#[test]
fn forced_tunnelling_needs_the_batch_route() {
    let mut s = Setup::good();
    s.route_table.as_mut().unwrap()["routes"].as_array_mut().unwrap().retain(|r| r["name"] != "BatchNodeManagement");
    let report = s.run("route-missing");
    assert_only(&report, &[("routes.batch", Verdict::Missing)]);
    assert_eq!(row(&report, "routes.batch").rule.as_deref(), Some("ForcedTunnel (0.0.0.0/0 -> VirtualAppliance)"));
    assert_eq!(
        fix(&report, "routes.batch"),
        "az network route-table route create -g stylize-rg --route-table-name stylize-compute-rt \
         --name BatchNodeManagement --address-prefix BatchNodeManagement.eastus --next-hop-type Internet"
    );

    let mut s = Setup::good();
    s.route_table.as_mut().unwrap()["routes"][1]["nextHopType"] = json!("VirtualAppliance");
    let report = s.run("route-wrong-hop");
    assert_only(&report, &[("routes.batch", Verdict::Missing)]);
    assert!(fix(&report, "routes.batch").contains("route update"));

    let mut s = Setup::good();
    s.route_table.as_mut().unwrap()["routes"] = json!([]);
    let report = s.run("route-no-tunnel");
    assert_only(&report, &[]);
    assert!(row(&report, "routes.batch").note.contains("no forced tunnelling"));
}

/// A private endpoint: the account and vault with public access Disabled
/// (their firewall rules then ignored, `defaultAction: Allow` included),
/// reached through approved private endpoints, pass; the subnet then needs
/// no service endpoint. Public access Disabled with only a subnet rule
/// fails: Azure ignores the rule and nothing reaches the resource.
#[test]
fn private_endpoints_secure_storage_and_vault_and_a_subnet_rule_alone_does_not() {
    let pe = |name: &str, status: &str| {
        json!([{
            "id": format!("/subscriptions/0/resourceGroups/stylize-rg/providers/x/privateEndpointConnections/{name}"),
            "privateEndpoint": {"id": format!("/subscriptions/0/resourceGroups/stylize-rg/providers/Microsoft.Network/privateEndpoints/{name}")},
            "privateLinkServiceConnectionState": {"status": status},
            "provisioningState": "Succeeded"
        }])
    };
    let private = |s: &mut Setup, status: &str| {
        let storage = s.storage.as_mut().unwrap();
        storage["publicNetworkAccess"] = json!("Disabled");
        storage["networkRuleSet"]["defaultAction"] = json!("Allow");
        storage["networkRuleSet"]["virtualNetworkRules"] = json!([]);
        storage["privateEndpointConnections"] = pe("store-pe", status);
        let vault = &mut s.keyvault.as_mut().unwrap()["properties"];
        vault["publicNetworkAccess"] = json!("Disabled");
        vault["networkAcls"] = json!(null);
        // The ARM shape: the connection's fields under `properties`.
        vault["privateEndpointConnections"] = json!([{ "properties": pe("kv-pe", status)[0].clone() }]);
        s.subnet.as_mut().unwrap()["serviceEndpoints"] = json!([]);
    };
    let mut s = Setup::good();
    private(&mut s, "Approved");
    let report = s.run("private");
    assert_only(&report, &[]);
    assert!(row(&report, "storage.subnet-rule").note.contains("privateEndpoints/store-pe"));
    assert!(row(&report, "keyvault.subnet-rule").note.contains("privateEndpoints/kv-pe"));
    assert!(row(&report, "subnet.endpoint-storage").note.contains("private endpoint"));

    // Pending is not approved: nothing reaches them.
    let mut s = Setup::good();
    private(&mut s, "Pending");
    let report = s.run("private-pending");
    assert_only(&report, &[("storage.subnet-rule", Verdict::Missing), ("keyvault.subnet-rule", Verdict::Missing)]);
    assert!(fix(&report, "storage.subnet-rule").starts_with("az network private-endpoint create -g stylize-rg"));

    // Public access Disabled with the subnet rule of the good setup and no
    // private endpoint: the rule is ignored.
    let mut s = Setup::good();
    s.storage.as_mut().unwrap()["publicNetworkAccess"] = json!("Disabled");
    let report = s.run("disabled-subnet-rule");
    assert_only(&report, &[("storage.subnet-rule", Verdict::Missing)]);
    assert!(
        row(&report, "storage.subnet-rule").note.contains("ignored"),
        "{}",
        row(&report, "storage.subnet-rule").note
    );
}

/// The rows no other test shows failing, each broken alone: MPI's inbound
/// traffic inside the virtual network, Azure ML outbound under the
/// internet deny, the Key Vault service endpoint, and the vault's trusted
/// services.
#[test]
fn vnet_inbound_aml_outbound_vault_endpoint_and_vault_bypass_each_fail_alone() {
    let mut s = Setup::good();
    s.add_rule("DenyVnetInbound", 200, "Inbound", "Deny", "VirtualNetwork", "VirtualNetwork", "*");
    let report = s.run("vnet-inbound-deny");
    assert_only(&report, &[("nsg.vnet-inbound", Verdict::Missing)]);
    assert_eq!(row(&report, "nsg.vnet-inbound").rule.as_deref(), Some("DenyVnetInbound (200)"));

    let mut s = Setup::good();
    s.remove_rule("AllowAzureMachineLearningOutbound");
    let report = s.run("no-aml-outbound");
    assert_only(&report, &[("nsg.outbound-aml", Verdict::Missing)]);
    assert!(fix(&report, "nsg.outbound-aml").contains("--destination-address-prefixes AzureMachineLearning"));

    let mut s = Setup::good();
    s.subnet.as_mut().unwrap()["serviceEndpoints"] =
        json!([{"service": "Microsoft.Storage", "locations": ["*"], "provisioningState": "Succeeded"}]);
    let report = s.run("no-vault-endpoint");
    assert_only(&report, &[("subnet.endpoint-keyvault", Verdict::Missing)]);
    assert!(
        fix(&report, "subnet.endpoint-keyvault").ends_with("--service-endpoints Microsoft.Storage Microsoft.KeyVault")
    );

    let mut s = Setup::good();
    s.keyvault.as_mut().unwrap()["properties"]["networkAcls"]["bypass"] = json!("None");
    let report = s.run("vault-bypass-none");
    assert_only(&report, &[("keyvault.trusted-services", Verdict::Missing)]);
    assert_eq!(
        fix(&report, "keyvault.trusted-services"),
        "az keyvault update --name stylize-kv -g stylize-rg --bypass AzureServices"
    );
}
