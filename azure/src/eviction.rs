//! eviction: Azure's Scheduled Events, which tell a Spot (low-priority)
//! VM some 30 s ahead that it will be taken away (`Preempt`) or ended
//! (`Terminate`). A queue worker polls the endpoint and, on such an event
//! for its node, stops: the task in hand goes back to the queue at once
//! for another node instead of reappearing only after its visibility
//! timeout. Off unless asked for (`--eviction-url`): the endpoint exists
//! only inside Azure (`http://169.254.169.254/metadata/scheduledevents?api-version=2020-07-01`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use azure_core::http::{new_http_client, Method, Request, Url};
use serde::Deserialize;
use stylize_engine::{redact, EngineError, Result};
use tracing::{info, warn};

/// Azure's Scheduled Events endpoint, as the deployment passes it.
pub const SCHEDULED_EVENTS: &str = "http://169.254.169.254/metadata/scheduledevents?api-version=2020-07-01";

#[derive(Debug, Deserialize)]
struct Document {
    #[serde(rename = "Events", default)]
    events: Vec<Event>,
}

#[derive(Debug, Deserialize)]
struct Event {
    #[serde(rename = "EventType", default)]
    kind: String,
    #[serde(rename = "Resources", default)]
    resources: Vec<String>,
}

/// Whether a Scheduled Events document announces the end of `node`: a
/// `Preempt` or `Terminate` event naming it (or naming no VM).
pub fn announces_eviction(document: &str, node: &str) -> std::result::Result<bool, String> {
    let doc: Document = serde_json::from_str(document).map_err(|e| e.to_string())?;
    Ok(doc.events.iter().any(|e| {
        matches!(e.kind.as_str(), "Preempt" | "Terminate")
            && (e.resources.is_empty() || e.resources.iter().any(|r| r.eq_ignore_ascii_case(node)))
    }))
}

/// Poll `url` every `every` on a thread of its own; on an eviction of
/// `node`, set `stop` (and stop polling).
pub fn watch(url: &str, node: String, every: Duration, stop: &'static AtomicBool) -> Result<()> {
    let bad = |reason: String| EngineError::BadInput { path: redact(url).into(), reason };
    let parsed = Url::parse(url).map_err(|e| bad(format!("not a URL ({e})")))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| bad(format!("cannot start the I/O runtime: {e}")))?;
    let client = new_http_client(None);
    let shown = redact(url);
    std::thread::Builder::new()
        .name("eviction".into())
        .spawn(move || {
            let client = Arc::clone(&client);
            while !stop.load(Ordering::SeqCst) {
                let mut request = Request::new(parsed.clone(), Method::Get);
                request.insert_header("metadata", "true");
                let answer = rt.block_on(async {
                    let response = tokio::time::timeout(Duration::from_secs(5), client.execute_request(&request))
                        .await
                        .map_err(|_| "no answer within 5 s".to_string())?
                        .map_err(|e| e.to_string())?;
                    response.into_body().collect_string().await.map_err(|e| e.to_string())
                });
                match answer.and_then(|body| announces_eviction(&body, &node)) {
                    Ok(true) => {
                        info!(node = %node, "eviction announced: stopping");
                        stop.store(true, Ordering::SeqCst);
                        return;
                    }
                    Ok(false) => {}
                    Err(e) => warn!(url = %shown, error = %e, "scheduled events unreadable"),
                }
                std::thread::sleep(every);
            }
        })
        .map_err(|e| bad(format!("cannot start its thread: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn preempt_or_terminate_for_this_node_only() {
        let doc = |kind: &str, resources: &str| {
            format!(
                r#"{{"DocumentIncarnation":2,"Events":[{{"EventId":"x","EventType":"{kind}","ResourceType":"VirtualMachine","Resources":[{resources}],"EventStatus":"Scheduled"}}]}}"#
            )
        };
        assert!(announces_eviction(&doc("Preempt", r#""node-1""#), "NODE-1").unwrap());
        assert!(announces_eviction(&doc("Terminate", ""), "node-1").unwrap());
        assert!(!announces_eviction(&doc("Preempt", r#""node-2""#), "node-1").unwrap());
        assert!(!announces_eviction(&doc("Reboot", r#""node-1""#), "node-1").unwrap());
        assert!(!announces_eviction(r#"{"DocumentIncarnation":1,"Events":[]}"#, "node-1").unwrap());
        assert!(announces_eviction("<html>", "node-1").is_err());
    }
}
