//! BlobCreated events, as Event Grid writes them to a Storage queue, in
//! either delivery schema:
//! - Event Grid schema: `{"eventType":"Microsoft.Storage.BlobCreated",
//!   "subject":"/blobServices/default/containers/<c>/blobs/<path>",
//!   "data":{"url":…,"api":…}, …}` — one object per queue message, or an
//!   array of them (the webhook batch form);
//! - CloudEvents 1.0: `{"specversion":"1.0","type":"Microsoft.Storage.BlobCreated",
//!   "source":"/subscriptions/…/storageAccounts/<acct>","subject":…,"data":{…}}`.
//!
//! The container and blob come from `subject` (not percent-encoded there);
//! `data.url` is kept for downloading. A message that cannot be read as
//! events is an [`EventError`] with a short reason, which the watcher
//! uses as the poison reason. Events of other types are skipped, not
//! errors: a BlobDeleted on the same subscription is simply not work.

use serde_json::Value;

/// Why a message is not a usable event; the text is the poison reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EventError(pub String);

/// The event type this module keeps.
pub const BLOB_CREATED: &str = "Microsoft.Storage.BlobCreated";

/// A new blob, from an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobCreated {
    /// Container name.
    pub container: String,
    /// Blob name, `/`-separated, not percent-encoded.
    pub blob: String,
    /// The blob's URL as the event gives it (no SAS).
    pub url: String,
    /// The storage API that created it (`PutBlob`, `PutBlockList`,
    /// `CopyBlob`, `FlushWithClose`, `CreateFile`…), when given.
    pub api: Option<String>,
}

/// Which BlobCreated events are work: a container and a name suffix
/// (case-insensitive, e.g. `.mp4`). `None` accepts anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only this container.
    pub container: Option<String>,
    /// Only blob names ending with this (case-insensitive).
    pub suffix: Option<String>,
}

impl EventFilter {
    /// True when `ev` is work for this watcher. A Data Lake `CreateFile`
    /// event is never work: it fires when an empty file is created, before
    /// its data is flushed (`FlushWithClose` follows when it is complete).
    pub fn matches(&self, ev: &BlobCreated) -> bool {
        if ev.api.as_deref() == Some("CreateFile") {
            return false;
        }
        if self.container.as_deref().is_some_and(|c| c != ev.container) {
            return false;
        }
        match &self.suffix {
            Some(s) => ev.blob.to_ascii_lowercase().ends_with(&s.to_ascii_lowercase()),
            None => true,
        }
    }
}

/// Parse a queue message's payload (already base64-decoded if it was
/// encoded: see [`super::queue::decode_payload`]) into its BlobCreated
/// events. Other event types are skipped; an empty result means the
/// message holds no work and can be deleted.
pub fn parse_blob_created(payload: &str) -> Result<Vec<BlobCreated>, EventError> {
    let value: Value = serde_json::from_str(payload.trim()).map_err(|e| EventError(format!("not JSON ({e})")))?;
    let events = match value {
        Value::Array(items) if items.is_empty() => return Err(EventError("empty event array".into())),
        Value::Array(items) => items,
        obj @ Value::Object(_) => vec![obj],
        _ => return Err(EventError("not an event object or array".into())),
    };
    let mut out = Vec::new();
    for (i, ev) in events.iter().enumerate() {
        let at = |reason: String| {
            if events.len() > 1 {
                EventError(format!("event {i}: {reason}"))
            } else {
                EventError(reason)
            }
        };
        if let Some(ev) = parse_one(ev).map_err(at)? {
            out.push(ev);
        }
    }
    Ok(out)
}

fn parse_one(ev: &Value) -> Result<Option<BlobCreated>, String> {
    let obj = ev.as_object().ok_or("event is not an object")?;
    let str_field = |name: &str| obj.get(name).and_then(Value::as_str);
    // CloudEvents carries `specversion` and `type`; Event Grid `eventType`.
    let kind = if obj.contains_key("specversion") {
        str_field("type").ok_or("CloudEvent has no \"type\"")?
    } else {
        str_field("eventType").ok_or("no \"eventType\" (nor CloudEvents \"specversion\"/\"type\")")?
    };
    if kind != BLOB_CREATED {
        return Ok(None);
    }
    let subject = str_field("subject").ok_or("BlobCreated event has no \"subject\"")?;
    let (container, blob) = parse_subject(subject)?;
    let data = obj.get("data").and_then(Value::as_object).ok_or("BlobCreated event has no \"data\" object")?;
    let url = data
        .get("url")
        .and_then(Value::as_str)
        .filter(|u| !u.is_empty())
        .ok_or("BlobCreated event has no \"data.url\"")?;
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(format!("\"data.url\" is not an http(s) URL: {}", stylize_engine::redact(url)));
    }
    let api = data.get("api").and_then(Value::as_str).map(str::to_string);
    Ok(Some(BlobCreated { container, blob, url: url.to_string(), api }))
}

/// `/blobServices/default/containers/<c>/blobs/<path>` → (c, path).
fn parse_subject(subject: &str) -> Result<(String, String), String> {
    let rest = subject
        .strip_prefix("/blobServices/default/containers/")
        .ok_or_else(|| format!("unexpected subject {subject:?}"))?;
    let (container, blob) = rest.split_once("/blobs/").ok_or_else(|| format!("subject names no blob: {subject:?}"))?;
    if container.is_empty() || container.contains('/') || blob.is_empty() {
        return Err(format!("unexpected subject {subject:?}"));
    }
    Ok((container.to_string(), blob.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Shaped after the samples in "Azure Blob Storage as an Event Grid source".
    const EVENT_GRID: &str = r#"[{
      "topic": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct",
      "subject": "/blobServices/default/containers/inputs/blobs/clips/day 1/a.MP4",
      "eventType": "Microsoft.Storage.BlobCreated",
      "id": "831e1650-001e-001b-66ab-eeb76e069631",
      "data": {
        "api": "PutBlockList",
        "clientRequestId": "6d79dbfb-0e37-4fc4-981f-442c9ca65760",
        "requestId": "831e1650-001e-001b-66ab-eeb76e000000",
        "eTag": "0x8D4BCC2E4835CD0",
        "contentType": "video/mp4",
        "contentLength": 524288,
        "blobType": "BlockBlob",
        "url": "https://acct.blob.core.windows.net/inputs/clips/day%201/a.MP4",
        "sequencer": "00000000000004420000000000028963",
        "storageDiagnostics": { "batchId": "b68529f3-68cd-4744-baa4-3c0498ec19f0" }
      },
      "dataVersion": "",
      "metadataVersion": "1",
      "eventTime": "2017-06-26T18:41:00.9584103Z"
    }]"#;

    const CLOUD_EVENT: &str = r#"{
      "source": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct",
      "subject": "/blobServices/default/containers/inputs/blobs/b.mp4",
      "type": "Microsoft.Storage.BlobCreated",
      "time": "2020-08-07T01:11:49.765846Z",
      "id": "25b3f0f1-301e-0022-155c-6cb9b606cac5",
      "data": {
        "api": "PutBlob",
        "clientRequestId": "a3aee8f4-c1d8-4e3f-9ff4-ebc1a4bbe7f5",
        "requestId": "25b3f0f1-301e-0022-155c-6cb9b6000000",
        "eTag": "0x8D83A7A87E4E0C5",
        "contentType": "video/mp4",
        "contentLength": 1024,
        "blobType": "BlockBlob",
        "url": "https://acct.blob.core.windows.net/inputs/b.mp4",
        "sequencer": "0000000000000000000000000000201B00000000004092a5",
        "storageDiagnostics": { "batchId": "7d4c1a35-0006-0024-005c-6c8d1a000000" }
      },
      "specversion": "1.0"
    }"#;

    #[test]
    fn event_grid_schema() {
        let evs = parse_blob_created(EVENT_GRID).unwrap();
        assert_eq!(
            evs,
            vec![BlobCreated {
                container: "inputs".into(),
                blob: "clips/day 1/a.MP4".into(),
                url: "https://acct.blob.core.windows.net/inputs/clips/day%201/a.MP4".into(),
                api: Some("PutBlockList".into()),
            }]
        );
        let filter = EventFilter { container: Some("inputs".into()), suffix: Some(".mp4".into()) };
        assert!(filter.matches(&evs[0]));
        assert!(!EventFilter { container: Some("outputs".into()), suffix: None }.matches(&evs[0]));
        assert!(!EventFilter { container: None, suffix: Some(".mov".into()) }.matches(&evs[0]));
        // a single object (one event per queue message) parses the same
        let single = serde_json::from_str::<Value>(EVENT_GRID).unwrap()[0].to_string();
        assert_eq!(parse_blob_created(&single).unwrap(), evs);
    }

    #[test]
    fn cloud_events_schema() {
        let evs = parse_blob_created(CLOUD_EVENT).unwrap();
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].container, "inputs");
        assert_eq!(evs[0].blob, "b.mp4");
        assert_eq!(evs[0].api.as_deref(), Some("PutBlob"));
        assert!(EventFilter::default().matches(&evs[0]));
        let mut create_file = evs[0].clone();
        create_file.api = Some("CreateFile".into());
        assert!(!EventFilter::default().matches(&create_file));
    }

    #[test]
    fn other_event_types_are_skipped() {
        let deleted = EVENT_GRID.replace("BlobCreated", "BlobDeleted");
        assert_eq!(parse_blob_created(&deleted).unwrap(), vec![]);
        let ce = CLOUD_EVENT.replace("Microsoft.Storage.BlobCreated", "Microsoft.Storage.BlobTierChanged");
        assert_eq!(parse_blob_created(&ce).unwrap(), vec![]);
    }

    #[test]
    fn malformed_messages_have_short_reasons() {
        let cases = [
            ("hello", "not JSON"),
            ("42", "not an event object or array"),
            ("[]", "empty event array"),
            (r#"{"subject":"x"}"#, "no \"eventType\""),
            (r#"{"specversion":"1.0"}"#, "CloudEvent has no \"type\""),
            (r#"{"eventType":"Microsoft.Storage.BlobCreated","data":{"url":"https://a/b"}}"#, "no \"subject\""),
            (
                r#"{"eventType":"Microsoft.Storage.BlobCreated","subject":"/blobServices/default/containers/c","data":{"url":"https://a/b"}}"#,
                "subject names no blob",
            ),
            (
                r#"{"eventType":"Microsoft.Storage.BlobCreated","subject":"/blobServices/default/containers/c/blobs/x"}"#,
                "no \"data\" object",
            ),
            (
                r#"{"eventType":"Microsoft.Storage.BlobCreated","subject":"/blobServices/default/containers/c/blobs/x","data":{}}"#,
                "no \"data.url\"",
            ),
            (
                r#"{"eventType":"Microsoft.Storage.BlobCreated","subject":"/blobServices/default/containers/c/blobs/x","data":{"url":"ftp://x?sig=SECRET"}}"#,
                "not an http(s) URL",
            ),
            (r#"[{"eventType":"Microsoft.Storage.BlobDeleted"}, 5]"#, "event 1: event is not an object"),
        ];
        for (text, want) in cases {
            let err = parse_blob_created(text).unwrap_err().to_string();
            assert!(err.contains(want), "{text}: {err}");
            assert!(err.len() < 200, "{err}");
            assert!(!err.contains("SECRET"), "{err}");
        }
    }
}
