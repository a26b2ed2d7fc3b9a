//! [`EventQueue`]: the Storage queue that Event Grid fills with
//! BlobCreated events and `stylize watch` drains.
//!
//! The protocol the design asks for: receive with a visibility timeout,
//! [`EventQueue::extend`] it while a long job runs, [`EventQueue::delete`]
//! only after the output is committed, and [`EventQueue::poison`] a
//! malformed message (or one dequeued too often) to `<queue>-poison` with
//! the reason, so nothing is lost and nothing loops forever.
//!
//! Encoding: the SDK puts the text into the XML body as is (no base64).
//! Event Grid's storage-queue handler delivers each event as a JSON
//! message, and other producers (Azure Functions bindings, older SDKs)
//! base64-encode message text. So [`QueueMessage::payload`] accepts both:
//! text that is valid base64 of JSON is decoded, anything else is used as
//! is. [`EventQueue::send`] writes plain text.

use std::sync::Arc;
use std::time::Duration;

use azure_core::http::RequestContent;
use azure_storage_queue::models::{
    QueueClientPeekMessagesOptions, QueueClientReceiveMessagesOptions, QueueMessage as SdkMessage,
};
use azure_storage_queue::{QueueClient, QueueClientOptions};
use base64::Engine as _;

use super::rt::{self, limit, remote, Shared, OP_TIMEOUT};
use super::url::{Service, StorageUrl};
use stylize_engine::Result;

/// A received message. `pop_receipt` changes on every [`EventQueue::extend`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueMessage {
    /// The message id.
    pub id: String,
    /// Proof of this dequeue, needed to delete or extend.
    pub pop_receipt: String,
    /// How many times it has been received (this time included).
    pub dequeue_count: u32,
    /// The raw message text.
    pub text: String,
}

impl QueueMessage {
    /// The message's content: base64 of JSON decoded, else the raw text.
    pub fn payload(&self) -> String {
        decode_payload(&self.text)
    }
}

/// See the module notes: base64 that decodes to JSON is decoded.
pub fn decode_payload(text: &str) -> String {
    let t = text.trim();
    if t.starts_with('{') || t.starts_with('[') {
        return text.to_string();
    }
    match base64::engine::general_purpose::STANDARD.decode(t) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(s) if serde_json::from_str::<serde_json::Value>(&s).is_ok() => s,
            _ => text.to_string(),
        },
        Err(_) => text.to_string(),
    }
}

/// A queue and its `-poison` sibling, over a queue URL with SAS.
pub struct EventQueue {
    shared: Arc<Shared>,
    url: StorageUrl,
    client: QueueClient,
    poison: QueueClient,
    poison_url: StorageUrl,
}

impl std::fmt::Debug for EventQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EventQueue({})", self.url)
    }
}

impl EventQueue {
    /// Open the queue at `queue_url` (`https://acct.queue.core.windows.net/q?<sas>`
    /// or path-style). With `sas_only`, a URL without a signed SAS is
    /// refused. The queue is created if missing (failure ignored: the SAS
    /// may not allow it, and the first receive will say what is wrong).
    pub fn open(queue_url: &str, sas_only: bool) -> Result<Self> {
        Self::open_as(queue_url, sas_only, None)
    }

    /// As [`EventQueue::open`]; a URL without a SAS is reached with
    /// `credential` (the machine's managed identity) when one is given.
    pub fn open_as(
        queue_url: &str,
        sas_only: bool,
        credential: Option<Arc<dyn azure_core::credentials::TokenCredential>>,
    ) -> Result<Self> {
        let url = StorageUrl::parse(queue_url, Service::Queue)?;
        url.check_expiry()?;
        if sas_only && !url.has_sas() && credential.is_none() {
            return Err(url.error("no SAS token"));
        }
        let credential = credential.filter(|_| !url.has_sas());
        let name = url.container.clone().ok_or_else(|| url.error("URL names no queue"))?;
        let shared = Shared::new(&url)?;
        let poison_url = url.sibling(&format!("{name}-poison"));
        let make = |u: &StorageUrl| {
            let options = QueueClientOptions { client_options: shared.client_options(), ..Default::default() };
            QueueClient::new(u.container_url()?, credential.clone(), Some(options))
                .map_err(remote(u, "creating client"))
        };
        let client = make(&url)?;
        let poison = make(&poison_url)?;
        let q = EventQueue { shared, url, client, poison, poison_url };
        q.shared.block_on(async {
            let _ = tokio::time::timeout(OP_TIMEOUT, q.client.create(None)).await;
        });
        Ok(q)
    }

    /// Refuse a SAS past its expiry: checked before each receive, so a
    /// watcher whose queue SAS runs out stops instead of retrying a 403.
    pub fn check_expiry(&self) -> Result<()> {
        self.url.check_expiry()
    }

    /// The queue, for messages (redacted).
    pub fn describe(&self) -> String {
        self.url.to_string()
    }

    /// Receive up to `max` (1..=32) messages, hidden from others for `visibility`.
    pub fn receive(&self, max: u32, visibility: Duration) -> Result<Vec<QueueMessage>> {
        self.shared.block_on(receive_on(&self.client, &self.url, max, visibility))
    }

    /// Check, before taking any message, that the queue can be read and
    /// that the poison queue can be written (created when missing): a
    /// queue-scoped SAS cannot reach `<queue>-poison`, and would otherwise
    /// fail on the first bad message.
    pub fn check(&self) -> Result<()> {
        self.check_readable()?;
        self.check_poison()
    }

    /// Whether the queue can be read (peeked).
    pub fn check_readable(&self) -> Result<()> {
        let url = &self.url;
        self.shared.block_on(limit(url, "reading the queue", OP_TIMEOUT, async {
            let options = QueueClientPeekMessagesOptions { number_of_messages: Some(1), ..Default::default() };
            self.client.peek_messages(Some(options)).await.map(drop).map_err(remote(url, "reading the queue"))
        }))
    }

    /// Whether `<queue>-poison` can be created or exists.
    pub fn check_poison(&self) -> Result<()> {
        let url = &self.poison_url;
        self.shared.block_on(limit(url, "creating the poison queue", OP_TIMEOUT, async {
            match self.poison.create(None).await {
                Ok(_) => Ok(()),
                Err(e) if rt::status(&e) == Some(409) => Ok(()),
                Err(e) => Err(remote(url, "creating the poison queue")(e)),
            }
        }))
    }

    /// Delete a message (after its work is committed). A message already
    /// gone (deleted, or taken again by another watcher after its
    /// visibility ran out) is not an error: nothing is left to do here.
    pub fn delete(&self, msg: &QueueMessage) -> Result<()> {
        let url = &self.url;
        self.shared.block_on(limit(url, "deleting a message", OP_TIMEOUT, async {
            match self.client.delete_message(&msg.id, &msg.pop_receipt, None).await {
                Ok(_) => Ok(()),
                Err(e) if matches!(rt::status(&e), Some(404) | Some(400)) => {
                    tracing::warn!(message = %msg.id, reason = %rt::reason("deleting", &e), "message already gone");
                    Ok(())
                }
                Err(e) => Err(remote(url, "deleting a message")(e)),
            }
        }))
    }

    /// Keep a message hidden for `visibility` from now; returns the new
    /// pop receipt, which replaces `msg.pop_receipt` for later calls.
    pub fn extend(&self, msg: &QueueMessage, visibility: Duration) -> Result<String> {
        let url = &self.url;
        self.shared.block_on(limit(url, "extending visibility", OP_TIMEOUT, async {
            let rsp = self
                .client
                .update_message(&msg.id, &msg.pop_receipt, secs(visibility), None)
                .await
                .map_err(remote(url, "extending visibility"))?;
            rsp.headers()
                .get_optional_str(&azure_core::http::headers::HeaderName::from_static("x-ms-popreceipt"))
                .map(str::to_string)
                .ok_or_else(|| url.error("extending visibility: no pop receipt in the answer"))
        }))
    }

    /// Put `text` on the queue as is.
    pub fn send(&self, text: &str) -> Result<()> {
        self.shared.block_on(send_to(&self.client, &self.url, text))
    }

    /// Move `msg` to `<queue>-poison` as `{"reason": …, "message": <text>}`
    /// (creating that queue if needed), then delete the original. A message
    /// too large to move as is (queue messages hold 64 KiB, and the
    /// reason and JSON escaping add to it) goes as its first
    /// [`POISON_EXCERPT`] bytes with its size and SHA-256. When even that
    /// cannot be sent (no permission), the error is returned and the
    /// message stays: the caller records it elsewhere, then deletes it.
    pub fn poison(&self, msg: &QueueMessage, reason: &str) -> Result<()> {
        let body = serde_json::json!({ "reason": reason, "message": msg.text }).to_string();
        self.shared.block_on(async {
            if let Err(first) = send_to(&self.poison, &self.poison_url, &body).await {
                let _ = tokio::time::timeout(OP_TIMEOUT, self.poison.create(None)).await;
                if send_to(&self.poison, &self.poison_url, &body).await.is_err() {
                    let short = poison_excerpt(msg, reason);
                    send_to(&self.poison, &self.poison_url, &short).await.map_err(|_| first)?;
                }
            }
            Ok::<(), stylize_engine::EngineError>(())
        })?;
        self.delete(msg)
    }

    /// Receive from the poison queue (diagnostics and tests) with a short
    /// visibility, so the messages reappear.
    pub fn poisoned(&self, max: u32) -> Result<Vec<QueueMessage>> {
        self.shared.block_on(receive_on(&self.poison, &self.poison_url, max, Duration::from_secs(1)))
    }
}

/// Bytes of a message's text kept when the whole does not fit the poison
/// queue.
pub const POISON_EXCERPT: usize = 2048;

/// A poison record of a message too large to move whole: its start, its
/// size and digest (to find it in the producer's logs).
pub fn poison_excerpt(msg: &QueueMessage, reason: &str) -> String {
    let mut end = msg.text.len().min(POISON_EXCERPT);
    while !msg.text.is_char_boundary(end) {
        end -= 1;
    }
    serde_json::json!({
        "reason": reason,
        "message_excerpt": &msg.text[..end],
        "message_bytes": msg.text.len(),
        "message_sha256": stylize_engine::digest(msg.text.as_bytes()),
        "truncated": true,
    })
    .to_string()
}

async fn receive_on(
    client: &QueueClient,
    url: &StorageUrl,
    max: u32,
    visibility: Duration,
) -> Result<Vec<QueueMessage>> {
    let options = QueueClientReceiveMessagesOptions {
        number_of_messages: Some(max.clamp(1, 32) as i32),
        visibility_timeout: Some(secs(visibility)),
        ..Default::default()
    };
    limit(url, "receiving", OP_TIMEOUT, async {
        let rsp = client.receive_messages(Some(options)).await.map_err(remote(url, "receiving"))?;
        let model = rsp.into_model().map_err(remote(url, "reading received messages"))?;
        Ok(model
            .items
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                Some(QueueMessage {
                    id: m.message_id?,
                    pop_receipt: m.pop_receipt?,
                    dequeue_count: m.dequeue_count.unwrap_or(1).clamp(0, i64::from(u32::MAX)) as u32,
                    text: m.message_text.unwrap_or_default(),
                })
            })
            .collect())
    })
    .await
}

async fn send_to(client: &QueueClient, url: &StorageUrl, text: &str) -> Result<()> {
    let msg = SdkMessage { message_text: Some(text.to_string()) };
    let body: RequestContent<SdkMessage, _> = msg.try_into().map_err(remote(url, "encoding a message"))?;
    limit(url, "sending", OP_TIMEOUT, async {
        client.send_message(body, None).await.map(drop).map_err(remote(url, "sending"))
    })
    .await
}

fn secs(d: Duration) -> i32 {
    d.as_secs().clamp(1, 7 * 24 * 3600) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_accepts_plain_and_base64_json() {
        let json = r#"{"eventType":"Microsoft.Storage.BlobCreated"}"#;
        assert_eq!(decode_payload(json), json);
        let b64 = base64::engine::general_purpose::STANDARD.encode(json);
        assert_eq!(decode_payload(&b64), json);
        // base64 that is not JSON stays as is
        let other = base64::engine::general_purpose::STANDARD.encode("hello");
        assert_eq!(decode_payload(&other), other);
        assert_eq!(decode_payload("not base64!"), "not base64!");
    }
}
