//! What the blob and queue clients share: a private tokio runtime (the
//! engine's `Store` is synchronous), one HTTP transport with bounded
//! retries, time limits, and turning SDK errors into one redacted line.
//!
//! Why bounded: the SDK's default retry policy tries 8 times over up to a
//! minute, and its HTTP client has no request timeout, so a dead or
//! black-holed endpoint would stall a job for minutes or forever. Here a
//! refused connection fails after about ten seconds of retries, and every
//! request is cut off by [`OP_TIMEOUT`] (a block upload by
//! [`BLOCK_TIMEOUT`], a stalled download after [`OP_TIMEOUT`] without data).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use azure_core::http::{
    new_http_client, ClientOptions, ExponentialRetryOptions, HttpClientOptions, RetryOptions, Transport,
};

use super::url::StorageUrl;
use stylize_engine::redact;
use stylize_engine::{EngineError, Result};

/// Longest a small request (metadata, list page, queue call) may take,
/// retries included.
pub const OP_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest one block (4 MiB) upload may take, retries included.
pub const BLOCK_TIMEOUT: Duration = Duration::from_secs(120);

/// A runtime plus the client options every SDK client is built with.
pub(crate) struct Shared {
    rt: tokio::runtime::Runtime,
    options: ClientOptions,
}

impl Shared {
    pub(crate) fn new(what: &StorageUrl) -> Result<Arc<Self>> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("stylize-azure")
            .enable_all()
            .build()
            .map_err(|e| what.error(format!("cannot start the I/O runtime: {e}")))?;
        // Storage clients must not decompress (ranged downloads break), as
        // the SDK's own default transport does.
        let transport = Transport::new(new_http_client(Some(HttpClientOptions { automatic_decompression: false })));
        let retry = RetryOptions::exponential(ExponentialRetryOptions {
            initial_delay: azure_core::time::Duration::milliseconds(300),
            max_retries: 5,
            max_total_elapsed: azure_core::time::Duration::seconds(25),
            max_delay: azure_core::time::Duration::seconds(8),
        });
        let options = ClientOptions { transport: Some(transport), retry, ..Default::default() };
        Ok(Arc::new(Shared { rt, options }))
    }

    /// Client options for a new SDK client (shares the connection pool).
    pub(crate) fn client_options(&self) -> ClientOptions {
        self.options.clone()
    }

    /// Run `fut` in the background on the runtime.
    pub(crate) fn spawn<F>(&self, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.rt.spawn(fut)
    }

    /// Run `fut` to completion. Must not be called from inside an async
    /// runtime (the engine calls stores from plain threads).
    pub(crate) fn block_on<F: Future>(&self, fut: F) -> F::Output {
        self.rt.block_on(fut)
    }
}

/// Run `fut` with a time limit; on timeout the error names `what`.
pub(crate) async fn limit<T>(
    what: &StorageUrl,
    op: &str,
    dur: Duration,
    fut: impl Future<Output = Result<T>>,
) -> Result<T> {
    match tokio::time::timeout(dur, fut).await {
        Ok(r) => r,
        Err(_) => Err(what.error(format!("{op}: no answer within {} s", dur.as_secs()))),
    }
}

/// The HTTP status of an SDK error, if it came from a response.
pub(crate) fn status(e: &azure_core::Error) -> Option<u16> {
    e.http_status().map(u16::from)
}

/// One line saying what failed, with no secret in it.
pub(crate) fn reason(op: &str, e: &azure_core::Error) -> String {
    let mut s = match e.kind() {
        azure_core::error::ErrorKind::HttpResponse { status, error_code, .. } => {
            let code = error_code.as_deref().unwrap_or("no error code");
            let mut s = format!("{op}: HTTP {} {code}", u16::from(*status));
            if u16::from(*status) == 403 {
                s.push_str(" (the SAS does not allow this, has expired, or its signature is wrong)");
            }
            s
        }
        _ => {
            let mut s = format!("{op}: {e}");
            let mut src = std::error::Error::source(e);
            while let Some(inner) = src {
                let text = inner.to_string();
                if !s.contains(&text) {
                    s.push_str(": ");
                    s.push_str(&text);
                }
                src = inner.source();
            }
            s
        }
    };
    s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    // The HTTP client repeats the request URL; the error already names it.
    while let Some(i) = s.find(" for url (") {
        let rest = &s[i + " for url (".len()..];
        let Some(j) = rest.find(')') else { break };
        s = format!("{}{}", &s[..i], &rest[j + 1..]);
    }
    s = s
        .replace("retry policy expired and the request will no longer be retried", "gave up after retries")
        .replace("failed to execute `reqwest` request: ", "");
    if s.len() > 400 {
        let mut cut = 400;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    redact(&s)
}

/// An SDK error as an engine error about `what`.
pub(crate) fn remote<'a>(what: &'a StorageUrl, op: &str) -> impl FnOnce(azure_core::Error) -> EngineError + 'a {
    let op = op.to_string();
    move |e| what.error(reason(&op, &e))
}

/// A fresh random nonce per upload (std's hasher keys are random).
pub(super) fn nonce() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0));
    h.finish()
}
