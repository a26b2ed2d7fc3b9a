//! `stylize network check` from the command line, and `submit
//! --network-check` refusing to start on a failing subnet.

mod util;

use std::path::{Path, PathBuf};

use util::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("network/tests/fixtures")
}

/// The fixtures with SSH opened to the internet at top priority.
fn broken_copy(dir: &Path) -> PathBuf {
    let out = dir.join("net");
    std::fs::create_dir_all(&out).unwrap();
    for f in ["nsg.json", "subnet.json", "storage.json", "keyvault.json", "route-table.json"] {
        std::fs::copy(fixtures().join(f), out.join(f)).unwrap();
    }
    let mut nsg: serde_json::Value = serde_json::from_slice(&std::fs::read(out.join("nsg.json")).unwrap()).unwrap();
    nsg["securityRules"].as_array_mut().unwrap().push(serde_json::json!({
        "name": "OpenSsh", "priority": 90, "direction": "Inbound", "access": "Allow", "protocol": "Tcp",
        "sourceAddressPrefix": "*", "sourcePortRange": "*", "destinationAddressPrefix": "*", "destinationPortRange": "22",
        "provisioningState": "Succeeded", "type": "Microsoft.Network/networkSecurityGroups/securityRules"
    }));
    std::fs::write(out.join("nsg.json"), serde_json::to_vec_pretty(&nsg).unwrap()).unwrap();
    out
}

#[test]
fn check_passes_on_a_good_setup_and_fails_on_open_ssh() {
    let f = fixtures();
    let out = stylize()
        .args(["network", "check", "--nsg"])
        .arg(f.join("nsg.json"))
        .arg("--subnet")
        .arg(f.join("subnet.json"))
        .arg("--storage")
        .arg(f.join("storage.json"))
        .arg("--keyvault")
        .arg(f.join("keyvault.json"))
        .arg("--route-table")
        .arg(f.join("route-table.json"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));

    let dir = tempfile::tempdir().unwrap();
    let bad = broken_copy(dir.path());
    let out = stylize().args(["network", "check", "--json", "--nsg"]).arg(bad.join("nsg.json")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ssh =
        report["findings"].as_array().unwrap().iter().find(|f| f["id"].as_str().unwrap().contains("ssh")).unwrap();
    assert_eq!(ssh["verdict"], "too open", "{ssh}");
    assert!(ssh["rule"].as_str().unwrap().contains("OpenSsh"));

    // The table fits the terminal (COLUMNS, as `ls` reads it); piped
    // without it, each row stays one line.
    let table = |columns: Option<&str>| {
        let mut cmd = stylize();
        cmd.args(["network", "check", "--nsg"]).arg(bad.join("nsg.json"));
        if let Some(c) = columns {
            cmd.env("COLUMNS", c);
        }
        String::from_utf8(cmd.output().unwrap().stdout).unwrap()
    };
    let wide = table(None);
    assert!(wide.lines().any(|l| l.chars().count() > 120), "{wide}");
    let narrow = table(Some("80"));
    for line in narrow.lines() {
        assert!(line.chars().count() <= 80, "{line}\n{narrow}");
    }
    assert!(narrow.contains("inbound TCP 22 (SSH) closed (no --ssh): too open\n    decided by: OpenSsh (90)\n    fix: az network nsg rule delete"), "{narrow}");
}

#[test]
fn submit_refuses_a_failing_subnet_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let bad = broken_copy(dir.path());
    let clip = make_clip(dir.path(), "clip.mp4", &ClipSpec { frames: 6, audio: 0, ..ClipSpec::default() });
    let store = dir.path().join("out");
    let out = submit(&clip, &store, &["--network-check", bad.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.lines().last().unwrap().starts_with("stylize: error: ") && err.contains("network check failed"),
        "{err}"
    );
    assert!(outputs_in(&store).is_empty());
    let out = submit(&clip, &store, &["--network-check", bad.to_str().unwrap(), "--force", "--deflicker", "off"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let good = submit(
        &clip,
        &dir.path().join("out2"),
        &["--network-check", fixtures().to_str().unwrap(), "--deflicker", "off"],
    );
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stderr));
}
