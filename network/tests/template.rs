//! The deployment template passes its own checker.
//!
//! `scripts/deploy/azuredeploy.json` is rendered into the JSON that `az`
//! would print for the resources it creates (ARM nests rule fields under
//! `properties`, `az` flattens them; storage's `networkAcls` comes back as
//! `networkRuleSet`), resolving the few ARM expressions the template uses:
//! `parameters`, `variables`, `concat` and `resourceId` (with a fixed
//! subscription and resource group). Then the checker runs on the result.
//! What the checker cannot see from `az` output (no public IPs on the
//! nodes, the subnet's service endpoint policy, the workspace's private
//! endpoint) is asserted on the template itself.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{assert_only, row, scratch, write};
use serde_json::{json, Map, Value};
use stylize_network::{check, CheckArgs, Verdict};

const SUBSCRIPTION: &str = "00000000-0000-0000-0000-000000000000";
const RESOURCE_GROUP: &str = "stylize-rg";

fn template() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/deploy/azuredeploy.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Evaluates the ARM expressions the template uses.
struct Arm {
    params: HashMap<String, Value>,
    vars: HashMap<String, Value>,
}

impl Arm {
    fn new(t: &Value) -> Arm {
        let mut arm = Arm { params: HashMap::new(), vars: HashMap::new() };
        for (k, v) in t["parameters"].as_object().unwrap() {
            let d = v.get("defaultValue").unwrap_or_else(|| panic!("parameter {k} has no defaultValue"));
            arm.params.insert(k.clone(), d.clone());
        }
        for (k, v) in t["variables"].as_object().unwrap() {
            let r = arm.resolve(v);
            arm.vars.insert(k.clone(), r);
        }
        arm
    }

    /// Resolves every `[...]` string inside `v`.
    fn resolve(&self, v: &Value) -> Value {
        match v {
            Value::String(s) if s.starts_with('[') && s.ends_with(']') && !s.starts_with("[[") => {
                let mut p = Parser { s: &s[1..s.len() - 1], i: 0 };
                let out = self.expr(&mut p);
                p.ws();
                assert_eq!(p.i, p.s.len(), "trailing input in {s}");
                out
            }
            Value::Array(a) => Value::Array(a.iter().map(|x| self.resolve(x)).collect()),
            Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), self.resolve(x))).collect()),
            other => other.clone(),
        }
    }

    fn expr(&self, p: &mut Parser<'_>) -> Value {
        p.ws();
        if p.eat('\'') {
            let start = p.i;
            while !p.eat('\'') {
                p.i += 1;
            }
            return Value::String(p.s[start..p.i - 1].to_owned());
        }
        let start = p.i;
        while p.peek().is_some_and(|c| c.is_ascii_alphanumeric()) {
            p.i += 1;
        }
        let name = &p.s[start..p.i];
        if let Ok(n) = name.parse::<i64>() {
            return json!(n);
        }
        assert!(p.eat('('), "expected a call at {name}");
        let mut args = Vec::new();
        p.ws();
        if !p.eat(')') {
            loop {
                args.push(self.expr(p));
                p.ws();
                if p.eat(')') {
                    break;
                }
                assert!(p.eat(','), "expected , in {}", p.s);
            }
        }
        let strs = || args.iter().map(|a| a.as_str().expect("string argument").to_owned()).collect::<Vec<_>>();
        match name {
            "parameters" => self.params[&strs()[0]].clone(),
            "variables" => self.vars[&strs()[0]].clone(),
            "concat" => Value::String(strs().concat()),
            "resourceId" => {
                let a = strs();
                let (ty, names) = (&a[0], &a[1..]);
                let mut segs = ty.split('/');
                let mut id = format!(
                    "/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/{}",
                    segs.next().unwrap()
                );
                for (seg, n) in segs.zip(names) {
                    id += &format!("/{seg}/{n}");
                }
                Value::String(id)
            }
            "string" => Value::String(match &args[0] {
                Value::String(v) => v.clone(),
                v => v.to_string(),
            }),
            // Deterministic stand-ins: what the assertions need to read.
            "guid" => Value::String(format!("guid({})", strs().join("|"))),
            "base64" => Value::String(format!("base64:{}", strs()[0])),
            "subscriptionResourceId" => {
                let a = strs();
                Value::String(format!("/subscriptions/{SUBSCRIPTION}/providers/{}/{}", a[0], a[1]))
            }
            other => panic!("ARM function {other} is not rendered by this test; keep the network parts simple"),
        }
    }
}

struct Parser<'a> {
    s: &'a str,
    i: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.s[self.i..].chars().next()
    }
    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.i += c.len_utf8();
            true
        } else {
            false
        }
    }
    fn ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.i += 1;
        }
    }
}

/// The one resource of `ty`, with its name and location resolved.
fn resource<'a>(t: &'a Value, ty: &str) -> &'a Value {
    let found: Vec<_> = t["resources"].as_array().unwrap().iter().filter(|r| r["type"] == ty).collect();
    assert_eq!(found.len(), 1, "one {ty} expected");
    found[0]
}

/// ARM `{name, properties: {...}}` to az's flat `{name, ...}`.
fn flatten(arm_child: &Value) -> Value {
    let mut out: Map<String, Value> = arm_child["properties"].as_object().unwrap().clone();
    out.insert("name".into(), arm_child["name"].clone());
    Value::Object(out)
}

struct Rendered {
    nsg: Value,
    subnet: Value,
    storage: Value,
    keyvault: Value,
    max_nodes: u32,
}

fn render() -> Rendered {
    let t = template();
    let arm = Arm::new(&t);
    let get = |ty: &str| arm.resolve(resource(&t, ty));
    let id = |ty: &str, names: &[&Value]| {
        let args: Vec<String> = names.iter().map(|n| format!("'{}'", n.as_str().unwrap())).collect();
        arm.resolve(&json!(format!("[resourceId('{ty}', {})]", args.join(", "))))
    };

    let nsg = get("Microsoft.Network/networkSecurityGroups");
    let nsg_json = json!({
        "id": id("Microsoft.Network/networkSecurityGroups", &[&nsg["name"]]),
        "location": nsg["location"],
        "name": nsg["name"],
        "resourceGroup": RESOURCE_GROUP,
        "securityRules": nsg["properties"]["securityRules"].as_array().unwrap().iter().map(flatten).collect::<Vec<_>>(),
        "type": "Microsoft.Network/networkSecurityGroups",
    });

    let vnet = get("Microsoft.Network/virtualNetworks");
    let subnets = vnet["properties"]["subnets"].as_array().unwrap();
    assert_eq!(subnets.len(), 1);
    let mut subnet_json = flatten(&subnets[0]);
    subnet_json["id"] = id("Microsoft.Network/virtualNetworks/subnets", &[&vnet["name"], &subnets[0]["name"]]);
    subnet_json["ipConfigurations"] = json!([]);
    subnet_json["type"] = json!("Microsoft.Network/virtualNetworks/subnets");

    let st = get("Microsoft.Storage/storageAccounts");
    let props = &st["properties"];
    let acls = &props["networkAcls"];
    // az prints ARM's supportsHttpsTrafficOnly as enableHttpsTrafficOnly,
    // an ip rule's value as ipAddressOrRange.
    let storage_json = json!({
        "allowBlobPublicAccess": props["allowBlobPublicAccess"],
        "allowSharedKeyAccess": props["allowSharedKeyAccess"],
        "enableHttpsTrafficOnly": props["supportsHttpsTrafficOnly"],
        "id": id("Microsoft.Storage/storageAccounts", &[&st["name"]]),
        "minimumTlsVersion": props["minimumTlsVersion"],
        "name": st["name"],
        "networkRuleSet": {
            "bypass": acls["bypass"],
            "defaultAction": acls["defaultAction"],
            "ipRules": acls["ipRules"].as_array().unwrap().iter().map(|r| json!({
                "action": r["action"],
                "ipAddressOrRange": r["value"],
            })).collect::<Vec<_>>(),
            "virtualNetworkRules": acls["virtualNetworkRules"].as_array().unwrap().iter().map(|r| json!({
                "action": r["action"],
                "state": "Succeeded",
                "virtualNetworkResourceId": r["id"],
            })).collect::<Vec<_>>(),
        },
        "type": "Microsoft.Storage/storageAccounts",
    });

    let kv = resource(&t, "Microsoft.KeyVault/vaults");
    let kv_name = arm.resolve(&kv["name"]);
    let keyvault_json = json!({
        "id": id("Microsoft.KeyVault/vaults", &[&kv_name]),
        "name": kv_name,
        // Only the network part and purge protection: tenantId uses
        // subscription(), not rendered.
        "properties": {
            "enablePurgeProtection": kv["properties"]["enablePurgeProtection"],
            "networkAcls": arm.resolve(&kv["properties"]["networkAcls"]),
        },
        "type": "Microsoft.KeyVault/vaults",
    });

    let compute = get("Microsoft.MachineLearningServices/workspaces/computes");
    let props = &compute["properties"]["properties"];
    assert_eq!(compute["properties"]["computeType"], "AmlCompute");
    assert_eq!(props["vmSize"], "Standard_NC6s_v3");
    assert_eq!(props["vmPriority"], "LowPriority");
    assert_eq!(props["scaleSettings"]["minNodeCount"], 0);
    assert_eq!(props["subnet"]["id"], subnet_json["id"], "the cluster runs in the checked subnet");
    let max_nodes = props["scaleSettings"]["maxNodeCount"].as_u64().unwrap() as u32;

    Rendered { nsg: nsg_json, subnet: subnet_json, storage: storage_json, keyvault: keyvault_json, max_nodes }
}

#[test]
fn the_template_passes_its_own_checker() {
    let r = render();
    assert!(r.nsg.get("defaultSecurityRules").is_none(), "templates carry no default rules: the built-ins apply");
    let dir = scratch("template");
    let args = CheckArgs {
        nsg: write(&dir, "nsg.json", &r.nsg),
        subnet: Some(write(&dir, "subnet.json", &r.subnet)),
        storage: Some(write(&dir, "storage.json", &r.storage)),
        keyvault: Some(write(&dir, "keyvault.json", &r.keyvault)),
        route_table: None,
        max_nodes: Some(r.max_nodes),
        ssh: false,
        region: None,
        json: false,
    };
    let report = check(&args).unwrap();
    assert_only(&report, &[]);
    assert_eq!(report.findings().len(), 27);
    assert_eq!(report.region(), Some("eastus"));
    // The template denies outbound internet, so the service tags were checked.
    assert_eq!(row(&report, "nsg.outbound-storage").note, "outbound internet denied; allowed by service tag");
    assert_eq!(row(&report, "nsg.batch-inbound").rule.as_deref(), Some("AllowBatchNodeManagement (100)"));
    assert_eq!(row(&report, "nsg.internet-outbound").rule.as_deref(), Some("DenyInternetOutbound (4000)"));
}

#[test]
fn the_template_keeps_the_nodes_private_and_storage_to_its_own_account() {
    let t = template();
    let arm = Arm::new(&t);
    let get = |ty: &str| arm.resolve(resource(&t, ty));
    let r = render();

    let compute = get("Microsoft.MachineLearningServices/workspaces/computes");
    assert_eq!(compute["properties"]["properties"]["enableNodePublicIp"], false, "nodes get no public IP");
    assert_eq!(compute["properties"]["properties"]["remoteLoginPortPublicAccess"], "Disabled");

    // Microsoft.Storage through the subnet reaches this account only (plus
    // Azure ML's own, by alias): Storage.<region> alone is every account.
    let policy = get("Microsoft.Network/serviceEndpointPolicies");
    let policy_id = arm.resolve(&json!(format!(
        "[resourceId('Microsoft.Network/serviceEndpointPolicies', '{}')]",
        policy["name"].as_str().unwrap()
    )));
    assert_eq!(r.subnet["serviceEndpointPolicies"], json!([{ "id": policy_id }]), "the policy is on the subnet");
    let definitions = policy["properties"]["serviceEndpointPolicyDefinitions"].as_array().unwrap();
    let storage: Vec<_> = definitions.iter().filter(|d| d["properties"]["service"] == "Microsoft.Storage").collect();
    assert_eq!(storage.len(), 1);
    assert_eq!(storage[0]["properties"]["serviceResources"], json!([r.storage["id"]]));
    for d in definitions.iter().filter(|d| d["properties"]["service"] != "Microsoft.Storage") {
        assert_eq!(d["properties"]["service"], "Global");
        assert_eq!(d["properties"]["serviceResources"], json!(["/services/Azure/MachineLearning"]));
    }

    // Without shared keys, the workspace reaches its storage as itself.
    assert_eq!(r.storage["allowSharedKeyAccess"], false);
    let workspace = get("Microsoft.MachineLearningServices/workspaces");
    assert_eq!(workspace["properties"]["systemDatastoresAuthMode"], "identity");

    // Nodes without a public IP talk to the workspace through a private
    // endpoint in their subnet.
    let endpoint = get("Microsoft.Network/privateEndpoints");
    assert_eq!(endpoint["properties"]["subnet"]["id"], r.subnet["id"]);
    let link = &endpoint["properties"]["privateLinkServiceConnections"][0]["properties"];
    assert_eq!(link["groupIds"], json!(["amlworkspace"]));
    assert_eq!(
        link["privateLinkServiceId"],
        arm.resolve(&json!(format!(
            "[resourceId('Microsoft.MachineLearningServices/workspaces', '{}')]",
            workspace["name"].as_str().unwrap()
        )))
    );
}

#[test]
fn the_rendered_template_still_catches_a_break() {
    // Guards the rendering: a broken template must fail, or the pass above
    // would prove nothing.
    let mut r = render();
    r.storage["networkRuleSet"]["defaultAction"] = json!("Allow");
    r.storage["allowSharedKeyAccess"] = json!(true);
    r.keyvault["properties"]["enablePurgeProtection"] = json!(null);
    let rules = r.nsg["securityRules"].as_array_mut().unwrap();
    rules.retain(|x| x["name"] != "AllowContainerRegistryOutbound");
    rules.push(json!({
        "name": "AllowHttpsOut", "priority": 200, "direction": "Outbound", "access": "Allow", "protocol": "Tcp",
        "sourceAddressPrefix": "VirtualNetwork", "sourcePortRange": "*",
        "destinationAddressPrefix": "Internet", "destinationPortRange": "443",
    }));
    let dir = scratch("template-broken");
    let args = CheckArgs {
        nsg: write(&dir, "nsg.json", &r.nsg),
        storage: Some(write(&dir, "storage.json", &r.storage)),
        keyvault: Some(write(&dir, "keyvault.json", &r.keyvault)),
        ..CheckArgs::default()
    };
    let report = check(&args).unwrap();
    assert_only(
        &report,
        &[
            ("nsg.outbound-tags-only", Verdict::TooOpen),
            ("storage.default-action", Verdict::TooOpen),
            ("storage.shared-key", Verdict::TooOpen),
            ("keyvault.purge-protection", Verdict::Missing),
        ],
    );
}

/// Every resource of a type.
fn resources<'a>(t: &'a Value, ty: &str) -> Vec<&'a Value> {
    t["resources"].as_array().unwrap().iter().filter(|r| r["type"] == ty).collect()
}

#[test]
fn the_worker_pool_is_private_spot_from_zero_and_reaches_only_its_queue_and_container() {
    let t = template();
    let arm = Arm::new(&t);
    let subnet_id = arm.resolve(&json!(
        "[resourceId('Microsoft.Network/virtualNetworks/subnets', variables('vnetName'), variables('subnetName'))]"
    ));
    let pool = arm.resolve(resource(&t, "Microsoft.Compute/virtualMachineScaleSets"));
    let pool_id =
        arm.resolve(&json!("[resourceId('Microsoft.Compute/virtualMachineScaleSets', variables('poolName'))]"));
    let vm = &pool["properties"]["virtualMachineProfile"];
    assert_eq!(pool["sku"]["capacity"], 0, "the pool starts from zero nodes");
    assert_eq!(pool["sku"]["name"], "Standard_NC6s_v3");
    assert_eq!((vm["priority"].as_str(), vm["evictionPolicy"].as_str()), (Some("Spot"), Some("Delete")));
    assert_eq!(pool["identity"]["type"], "SystemAssigned", "the workers authenticate as the pool's identity");
    assert_eq!(vm["scheduledEventsProfile"]["terminateNotificationProfile"]["enable"], true);
    let nics = vm["networkProfile"]["networkInterfaceConfigurations"].as_array().unwrap();
    for nic in nics {
        for ip in nic["properties"]["ipConfigurations"].as_array().unwrap() {
            assert!(ip["properties"].get("publicIPAddressConfiguration").is_none(), "no public IP: {ip}");
            assert_eq!(ip["properties"]["subnet"]["id"], subnet_id, "the pool runs in the checked subnet");
        }
    }
    let os = &vm["osProfile"];
    assert_eq!(os["linuxConfiguration"]["disablePasswordAuthentication"], true);
    let boot = os["customData"].as_str().unwrap().strip_prefix("base64:").expect("cloud-init, base64");
    let queue_url = "https://stylizestore.queue.core.windows.net/tasks";
    for part in ["worker, --managed-identity", queue_url, "--eviction-url", "169.254.169.254/metadata/scheduledevents"]
    {
        assert!(boot.contains(part), "the nodes run `stylize worker` ({part}): {boot}");
    }
    assert!(!boot.to_ascii_lowercase().contains("sig="), "no SAS in the template: {boot}");

    // Scaled on the task queue's length, from zero.
    let scale = arm.resolve(resource(&t, "Microsoft.Insights/autoscalesettings"));
    assert_eq!(scale["properties"]["targetResourceUri"], pool_id);
    let profile = &scale["properties"]["profiles"][0];
    assert_eq!(profile["capacity"], json!({ "minimum": "0", "maximum": "4", "default": "0" }));
    let queue_uri = format!(
        "/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/Microsoft.Storage/storageAccounts/stylizestore/services/queue/queues/tasks"
    );
    let rules = profile["rules"].as_array().unwrap();
    let by = |dir: &str| rules.iter().find(|r| r["scaleAction"]["direction"] == dir).expect(dir);
    for (dir, op) in [("Increase", "GreaterThan"), ("Decrease", "LessThanOrEqual")] {
        let trigger = &by(dir)["metricTrigger"];
        assert_eq!(trigger["metricName"], "ApproximateMessageCount");
        assert_eq!(trigger["metricResourceUri"], queue_uri.as_str());
        assert_eq!((trigger["operator"].as_str(), trigger["threshold"].as_i64()), (Some(op), Some(0)));
    }

    // Exactly the roles the workers need, each on one queue or container.
    let account = "Microsoft.Storage/storageAccounts/stylizestore";
    let mut roles: Vec<(String, String)> = resources(&t, "Microsoft.Authorization/roleAssignments")
        .into_iter()
        .map(|r| {
            assert!(r["properties"]["principalId"].as_str().unwrap().contains("variables('poolName')"), "{r}");
            let role = arm.resolve(&r["properties"]["roleDefinitionId"]);
            let id = role.as_str().unwrap().rsplit('/').next().unwrap().to_string();
            (id, arm.resolve(&r["scope"]).as_str().unwrap().to_string())
        })
        .collect();
    roles.sort();
    assert_eq!(
        roles,
        vec![
            // Storage Queue Data Message Processor: peek, receive, delete.
            (
                "8a0f0c08-91a1-4084-bc3d-661d67233fed".to_string(),
                format!("{account}/queueServices/default/queues/tasks")
            ),
            // Storage Blob Data Contributor: the job container only.
            (
                "ba92f5b4-2d11-453d-a403-e96b0029c9fe".to_string(),
                format!("{account}/blobServices/default/containers/jobs")
            ),
            // Storage Queue Data Message Sender: the poison queue only.
            (
                "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a".to_string(),
                format!("{account}/queueServices/default/queues/tasks-poison")
            ),
        ]
    );
    let queues: Vec<String> = resources(&t, "Microsoft.Storage/storageAccounts/queueServices/queues")
        .into_iter()
        .map(|q| arm.resolve(&q["name"]).as_str().unwrap().to_string())
        .collect();
    assert_eq!(queues, vec!["stylizestore/default/tasks", "stylizestore/default/tasks-poison"]);
}
