//! Helpers of the Azure tests: SAS URLs, the secret check, and the two
//! BlobCreated event shapes Event Grid delivers to a Storage queue.

use base64::Engine;

use super::azurite::{Azurite, ACCOUNT, KEY};

pub fn with_sas(url: &str, sas: &str) -> String {
    format!("{url}?{sas}")
}

/// Nothing secret in `text`: no SAS signature, as written in the URL or
/// percent-decoded (as a log of the parsed query would show it), no
/// account key.
pub fn assert_no_secret(text: &str, sig: &str, what: &str) {
    assert!(!sig.is_empty());
    let decoded: String =
        url::form_urlencoded::parse(format!("sig={sig}").as_bytes()).map(|(_, v)| v.into_owned()).collect();
    for form in [sig, decoded.as_str()] {
        assert!(!text.contains(form), "{what} shows the SAS signature: {text}");
    }
    assert!(!text.contains(KEY) && !text.contains(&KEY[..20]), "{what} shows the account key");
}

pub fn event_grid(az: &Azurite, container: &str, blob: &str) -> String {
    let json = serde_json::json!([{
        "topic": format!("/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/{ACCOUNT}"),
        "subject": format!("/blobServices/default/containers/{container}/blobs/{blob}"),
        "eventType": "Microsoft.Storage.BlobCreated",
        "id": format!("id-{blob}"),
        "data": { "api": "PutBlob", "url": format!("{}/{blob}", az.container(container)), "contentType": "video/mp4", "blobType": "BlockBlob" },
        "dataVersion": "", "metadataVersion": "1", "eventTime": "2026-11-23T08:00:00Z"
    }]);
    // Event Grid writes events to a Storage queue base64-encoded.
    base64::engine::general_purpose::STANDARD.encode(json.to_string())
}

pub fn cloud_event(az: &Azurite, container: &str, blob: &str) -> String {
    serde_json::json!({
        "specversion": "1.0",
        "type": "Microsoft.Storage.BlobCreated",
        "source": format!("/subscriptions/0000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/{ACCOUNT}"),
        "subject": format!("/blobServices/default/containers/{container}/blobs/{blob}"),
        "id": format!("ce-{blob}"),
        "time": "2026-11-23T08:00:00Z",
        "data": { "api": "PutBlockList", "url": format!("{}/{blob}", az.container(container)) }
    })
    .to_string()
}

/// `stylize watch` of `queue` as the trigger tests run it: the jobs small
/// and quick, messages hidden for 5 s, `extra` last.
pub fn watch_command(queue: &str, inputs: &str, outputs: &str, extra: &[&str]) -> std::process::Command {
    let mut cmd = super::stylize();
    cmd.args(["watch", "--queue", queue, "--inputs", inputs, "-o", outputs]);
    cmd.args(["--json", "--visibility", "5", "--deflicker", "off", "--no-flicker-report"]).args(extra);
    cmd
}

/// A clip of `frames` frames uploaded to Azurite's `uploads` container as
/// `name` (folders allowed).
pub fn upload(az: &Azurite, sas: &str, dir: &std::path::Path, name: &str, frames: u32) {
    let spec = super::ClipSpec { frames, gop: 12, ..super::ClipSpec::default() };
    let clip = super::make_clip(dir, &name.replace('/', "_"), &spec);
    stylize_azure::upload_blob(&with_sas(&format!("{}/{name}", az.container("uploads")), sas), &clip).unwrap();
}
