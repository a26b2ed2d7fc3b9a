//! job_log: the job's own log, JSON lines kept in memory and written to
//! the logs location at the end (apart from the driver that records it).

use std::time::Instant;

use serde_json::json;

use crate::job::digest;

/// The job's log: JSON lines, one per event, with seconds since the start.
#[derive(Default)]
pub(crate) struct JobLog {
    pub(crate) job: Option<String>,
    lines: Vec<String>,
    started: Option<Instant>,
}

impl JobLog {
    pub(crate) fn record(&mut self, event: &str, fields: serde_json::Value) {
        let t = self.started.get_or_insert_with(Instant::now).elapsed().as_secs_f64();
        let mut line = json!({ "t": t, "event": event });
        if let (Some(obj), serde_json::Value::Object(extra)) = (line.as_object_mut(), fields) {
            obj.extend(extra);
        }
        self.lines.push(line.to_string());
    }

    pub(crate) fn name(&self) -> String {
        let stamp = crate::time::format_time(std::time::SystemTime::now()).replace([':', '-'], "");
        let nonce = digest(format!("{:?}{}", std::time::SystemTime::now(), std::process::id()).as_bytes());
        let job = self.job.as_deref().unwrap_or("failed");
        format!("{job}.{stamp}.{}.jsonl", &nonce[..6])
    }

    pub(crate) fn bytes(&self) -> Vec<u8> {
        let mut out = self.lines.join("\n");
        out.push('\n');
        out.into_bytes()
    }
}
