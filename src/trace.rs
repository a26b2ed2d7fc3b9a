//! trace: spans for the operator's own tools. With `--otlp URL` (or the
//! standard `OTEL_EXPORTER_OTLP_ENDPOINT`) every span the libraries open
//! (a job, its stages, each shard on whatever worker runs it, each shard's
//! decode, model and encode) is exported over OTLP/HTTP (JSON) to a
//! collector: Azure Monitor and Application Insights take OTLP through
//! one. Off by default: nothing leaves the machine unless asked for.

use anyhow::{Context, Result};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::EnvFilter;
use tracing_subscriber::{Layer, Registry};

/// The exporter, kept to flush its last spans at the end.
pub struct Traces {
    provider: SdkTracerProvider,
}

impl Traces {
    /// Send what is still buffered (at most a few seconds).
    pub fn flush(self) {
        let _ = self.provider.shutdown();
    }
}

/// Where spans go: `--otlp URL` as given (`…/v1/traces` added when the
/// path names no signal), else `OTEL_EXPORTER_OTLP_ENDPOINT` (a base URL).
pub fn endpoint(flag: Option<&str>) -> Option<String> {
    let (base, verbatim) = match flag {
        Some(url) => (url.to_string(), url.trim_end_matches('/').ends_with("/v1/traces")),
        None => (std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok().filter(|v| !v.is_empty())?, false),
    };
    Some(if verbatim { base } else { format!("{}/v1/traces", base.trim_end_matches('/')) })
}

/// The tracing layer that exports spans to `url`, and its flusher.
pub fn layer(url: &str) -> Result<(Box<dyn Layer<Registry> + Send + Sync>, Traces)> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpJson)
        .with_endpoint(url)
        .build()
        .with_context(|| format!("--otlp {}", stylize_azure::redact(url)))?;
    let resource = opentelemetry_sdk::Resource::builder().with_service_name("stylize").build();
    let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build();
    let tracer = provider.tracer("stylize");
    // Spans at info and above, whatever the terminal's log level.
    let layer = tracing_opentelemetry::layer().with_tracer(tracer).with_filter(EnvFilter::new("info"));
    Ok((Box::new(layer), Traces { provider }))
}
