//! worker: who runs a job's tasks, named the same way whatever launched
//! them (a thread here, an MPI rank, a queue worker on a Spot node): a
//! plain type the task messages, the errors and the report share.

use serde::{Deserialize, Serialize};

/// Who ran a task: an MPI rank, a thread of this process, a queue worker
/// on some node. Shown as `rank 2 (node-b)`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct WorkerId {
    /// Its name within the job (`rank 2`, `local`, `local.1`, a queue
    /// worker's name).
    pub name: String,
    /// The node it runs on.
    #[serde(default)]
    pub host: String,
}

impl WorkerId {
    /// The worker `name` on this node.
    pub fn here(name: impl Into<String>) -> Self {
        WorkerId { name: name.into(), host: hostname() }
    }
}

impl std::fmt::Display for WorkerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.name, self.host)
    }
}

/// This node's name (for messages naming a worker's node).
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes a
    // NUL-terminated name into it (truncated if longer).
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let end = buf.iter().position(|b| *b == 0).unwrap_or(0);
    if ok && end > 0 {
        String::from_utf8_lossy(&buf[..end]).into_owned()
    } else {
        "localhost".into()
    }
}
