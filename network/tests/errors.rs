//! Inputs that cannot be judged: one line naming the file and the cause.

mod common;

use std::path::PathBuf;

use common::{fixture, scratch, write};
use serde_json::json;
use stylize_network::{check, CheckArgs, NetworkError};

fn run_nsg(nsg: PathBuf) -> NetworkError {
    check(&CheckArgs { nsg, ..CheckArgs::default() }).expect_err("should not be judged")
}

fn assert_one_line(msg: &str, path: &std::path::Path, cause: &str) {
    assert!(!msg.contains('\n'), "{msg:?}");
    assert!(msg.starts_with(&path.display().to_string()), "{msg}");
    assert!(msg.contains(cause), "{msg} should say {cause:?}");
}

#[test]
fn malformed_json_names_the_file_and_the_position() {
    let dir = scratch("err-malformed");
    let path = dir.join("nsg.json");
    std::fs::write(&path, "{\n  \"securityRules\": [,]\n}\n").unwrap();
    let err = run_nsg(path.clone());
    assert!(matches!(err, NetworkError::Json { .. }), "{err:?}");
    assert_one_line(&err.to_string(), &path, "malformed JSON: expected value at line 2");
}

#[test]
fn a_storage_account_given_as_the_nsg_is_named_as_such() {
    let dir = scratch("err-kind");
    let path = write(&dir, "storage.json", &fixture("storage.json"));
    let err = run_nsg(path.clone());
    assert!(matches!(err, NetworkError::WrongKind { .. }), "{err:?}");
    assert_one_line(
        &err.to_string(),
        &path,
        "not an NSG (the output of `az network nsg show`): found a resource of type Microsoft.Storage/storageAccounts, that is a storage account",
    );
}

#[test]
fn a_subnet_given_as_the_storage_account_is_refused() {
    let dir = scratch("err-kind-storage");
    let nsg = write(&dir, "nsg.json", &fixture("nsg.json"));
    let wrong = write(&dir, "subnet.json", &fixture("subnet.json"));
    let err = check(&CheckArgs { nsg, storage: Some(wrong.clone()), ..CheckArgs::default() }).unwrap_err();
    assert_one_line(&err.to_string(), &wrong, "not a storage account");
}

#[test]
fn an_untyped_document_is_recognised_by_its_fields() {
    let dir = scratch("err-untyped");
    let path = write(&dir, "kv.json", &json!({"properties": {"networkAcls": null, "vaultUri": "https://x"}}));
    let err = run_nsg(path.clone());
    assert_one_line(&err.to_string(), &path, "found what looks like a key vault");
}

#[test]
fn a_list_instead_of_a_show_is_explained() {
    let dir = scratch("err-list");
    let path = write(&dir, "nsg.json", &json!([fixture("nsg.json")]));
    assert_one_line(&run_nsg(path.clone()).to_string(), &path, "JSON array");
}

#[test]
fn a_field_of_the_wrong_shape_is_located() {
    let dir = scratch("err-shape");
    let mut nsg = fixture("nsg.json");
    nsg["securityRules"][0]["priority"] = json!("high");
    let path = write(&dir, "nsg.json", &nsg);
    let err = run_nsg(path.clone());
    assert!(matches!(err, NetworkError::Invalid { .. }), "{err:?}");
    assert_one_line(&err.to_string(), &path, "invalid type: string \"high\", expected u32 at line");
}

#[test]
fn a_bad_port_names_the_rule() {
    let dir = scratch("err-port");
    let mut nsg = fixture("nsg.json");
    nsg["securityRules"][0]["destinationPortRange"] = json!("ssh");
    let path = write(&dir, "nsg.json", &nsg);
    assert_one_line(
        &run_nsg(path.clone()).to_string(),
        &path,
        "rule AllowBatchNodeManagement: destinationPortRange \"ssh\" is not a port or range",
    );
}

#[test]
fn a_missing_file_and_a_lone_max_nodes_are_errors() {
    let path = scratch("err-missing").join("absent.json");
    let err = run_nsg(path.clone());
    assert!(matches!(err, NetworkError::Read { .. }));
    assert_one_line(&err.to_string(), &path, "cannot read");

    let dir = scratch("err-usage");
    let nsg = write(&dir, "nsg.json", &fixture("nsg.json"));
    let err = check(&CheckArgs { nsg, max_nodes: Some(4), ..CheckArgs::default() }).unwrap_err();
    assert_eq!(err.to_string(), "--max-nodes needs --subnet");
}
