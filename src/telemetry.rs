//! Logging and tracing with `tracing`: human-readable or JSON lines on standard error, and,
//! when an OTLP endpoint is configured, OpenTelemetry traces exported over OTLP/gRPC.
//!
//! The log filter comes from `RUST_LOG` (default `info`). Traces get sigil's own spans down to
//! `debug` (an HTTP request, a gRPC call, and within them database calls, password hashing
//! and signing), through a filter of their own: with no endpoint there is no exporter, no
//! trace layer, and the `debug` spans are never even created. Spans are created with
//! `skip_all` throughout the crate, so no secret reaches a log line or a span through them.
//! A W3C `traceparent` a caller sends becomes the parent of its request's span
//! (`adopt_parent`), and events written while a traced request runs carry it on
//! (`traceparent`).
//!
//! Imports nothing from the crate.

use std::io::IsTerminal as _;

use anyhow::Context as _;
use opentelemetry::propagation::{Extractor, TextMapPropagator as _};
use opentelemetry::trace::{TraceContextExt as _, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Level;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

/// The service name traces carry unless `OTEL_SERVICE_NAME` says otherwise.
const SERVICE_NAME: &str = "sigil";

/// The running trace export, if any; `shutdown` sends what is still buffered.
#[must_use = "dropping it loses the spans still buffered; call shutdown"]
pub struct Tracing(Option<SdkTracerProvider>);

impl Tracing {
    /// Exports the spans still buffered and stops the exporter.
    pub fn shutdown(self) {
        if let Some(provider) = self.0
            && let Err(error) = provider.shutdown()
        {
            eprintln!("sigil: traces not all exported: {error}");
        }
    }
}

/// Installs the global subscriber: log lines (`json` or text), and traces to
/// `otlp_endpoint` (e.g. `http://collector:4317`) when given. Must run inside the Tokio
/// runtime when an endpoint is given (the exporter's gRPC channel lives there). Later calls
/// install nothing (tests call it many times).
pub fn init(json: bool, otlp_endpoint: Option<&str>) -> anyhow::Result<Tracing> {
    let logs = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let logs = match json {
        true => logs.json().flatten_event(true).boxed(),
        false => logs.boxed(),
    };
    let Some(endpoint) = otlp_endpoint else {
        let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
        let _already_set = tracing_subscriber::registry()
            .with(logs.with_filter(filter))
            .try_init();
        return Ok(Tracing(None));
    };
    let provider = tracer_provider(endpoint)?;
    // Spans carry what they were given, not where in the source they began, which thread ran
    // them or their busy/idle times: each of those costs on every span (the benchmark's
    // client_credentials pays for five spans per token).
    let traces = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(SERVICE_NAME))
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_target(false);
    // One global filter, not one per layer: what `RUST_LOG` asks to log, and sigil's own spans
    // down to `debug` for the traces (spans are not log lines). Per-layer filters lost log
    // events here: sqlx checks `enabled!` without emitting on the runtime's threads (on
    // PostgreSQL), which leaves tracing-subscriber's per-layer filter state stale for the
    // next event on that thread.
    let wanted = log_targets();
    let traced = Targets::new().with_target("sigil", Level::DEBUG);
    let filter = tracing_subscriber::filter::filter_fn(move |metadata| {
        let (target, level) = (metadata.target(), metadata.level());
        wanted.would_enable(target, level)
            || (metadata.is_span() && traced.would_enable(target, level))
    });
    let _already_set = tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .with(filter)
        .try_init();
    Ok(Tracing(Some(provider)))
}

/// What `RUST_LOG` asks to log while tracing is on (default `info`), as `target=level`
/// directives (the `EnvFilter` syntax without span and field filters).
fn log_targets() -> Targets {
    let directives = std::env::var("RUST_LOG").unwrap_or_default();
    match directives.parse::<Targets>() {
        Ok(targets) if !directives.trim().is_empty() => targets,
        _ => Targets::new().with_default(Level::INFO),
    }
}

/// A batch exporter to `endpoint` over OTLP/gRPC. The other `OTEL_*` variables (headers,
/// timeout, batch sizes and delay, service name and resource attributes) are read by the SDK.
fn tracer_provider(endpoint: &str) -> anyhow::Result<SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .build()
        .with_context(|| format!("--otlp-endpoint {endpoint}"))?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name(SERVICE_NAME);
    }
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build())
}

/// Makes the W3C trace context a caller sent (HTTP headers, or gRPC metadata, which travels
/// as HTTP/2 headers) the parent of `span`. Nothing happens when the span is not traced.
pub fn adopt_parent(span: &tracing::Span, headers: &hyper::HeaderMap) {
    if span.is_disabled() {
        return;
    }
    let header = |name: &str| {
        let value = headers.get(name)?;
        value.to_str().ok().map(str::to_owned)
    };
    let carrier = Carrier {
        traceparent: header("traceparent"),
        tracestate: header("tracestate"),
    };
    let context = TraceContextPropagator::new().extract(&carrier);
    if context.span().span_context().is_remote() {
        let _ = span.set_parent(context);
    }
}

/// The W3C `traceparent` of the span running now, when it is traced (for the CloudEvents
/// distributed-tracing extension); `None` when tracing is off.
pub fn traceparent() -> Option<String> {
    let context = tracing::Span::current().context();
    let span = context.span();
    let span = span.span_context();
    span.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            span.trace_id(),
            span.span_id(),
            span.trace_flags().to_u8()
        )
    })
}

/// The two W3C trace-context headers a caller sent, as the propagator reads them.
struct Carrier {
    traceparent: Option<String>,
    tracestate: Option<String>,
}

impl Extractor for Carrier {
    fn get(&self, key: &str) -> Option<&str> {
        match key {
            "traceparent" => self.traceparent.as_deref(),
            "tracestate" => self.tracestate.as_deref(),
            _ => None,
        }
    }

    fn keys(&self) -> Vec<&str> {
        vec!["traceparent", "tracestate"]
    }
}

/// For tests: logs only when `TEST_LOG` is set, so test output stays quiet by default.
pub fn init_for_tests() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _no_export = init(false, None);
    }
}
