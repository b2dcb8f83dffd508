//! Trace export over OTLP/HTTP (protobuf), built with `--features otlp` and turned on by
//! `APIARY_OTLP_ENDPOINT`: every span of the `apiary` crate, debug level included (a job's chain
//! from the API request to the upsert), goes to the collector in batches. A job's spans continue
//! the trace of the request that queued it: the request's trace context is kept with the job
//! ([W3C `traceparent`](https://www.w3.org/TR/trace-context/)) and taken up by the worker.
//!
//! Requests to the collector go through the process's own HTTP stack (reqwest over rustls), on a
//! one-thread runtime of their own: the batch processor exports from a thread of its own,
//! outside any runtime.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use tracing_opentelemetry::{OpenTelemetryLayer, OpenTelemetrySpanExt as _};
use tracing_subscriber::Registry;
use tracing_subscriber::filter::{Filtered, Targets};
use tracing_subscriber::layer::Layer as _;

/// The layer that hands spans to the exporter.
pub(super) type Layer = Filtered<OpenTelemetryLayer<Registry, SdkTracer>, Targets, Registry>;

/// How long one export may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The export layer for the collector at `endpoint` (its root, e.g. `http://collector:4318`, or
/// the full traces URL), and the provider that must be shut down to flush what is left.
pub(super) fn layer(endpoint: &str) -> Result<(Layer, SdkTracerProvider), String> {
    let endpoint = endpoint.trim_end_matches('/');
    let url = match endpoint.ends_with("/v1/traces") {
        true => endpoint.to_owned(),
        false => format!("{endpoint}/v1/traces"),
    };
    let client = Client::new()?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(client)
        .with_endpoint(url)
        .with_timeout(EXPORT_TIMEOUT)
        .build()
        .map_err(|e| format!("the OTLP exporter: {e}"))?;
    let resource = opentelemetry_sdk::Resource::builder().with_service_name("apiary").build();
    let provider = SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build();
    let tracer = provider.tracer("apiary");
    let spans = Targets::new().with_target("apiary", tracing::Level::DEBUG);
    Ok((tracing_opentelemetry::layer().with_tracer(tracer).with_filter(spans), provider))
}

/// The current span's trace context as a `traceparent` value, if it belongs to a sampled trace.
pub(super) fn current_trace() -> Option<String> {
    let cx = tracing::Span::current().context();
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.remove("traceparent")
}

/// Make `span` a child of the trace `traceparent` names (a value [`current_trace`] gave).
pub(super) fn continue_trace(span: &tracing::Span, traceparent: &str) {
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let cx = TraceContextPropagator::new().extract(&carrier);
    let _ = span.set_parent(cx);
}

/// The exporter's HTTP client: reqwest, driven by a runtime of its own.
#[derive(Debug)]
struct Client {
    http: reqwest::Client,
    runtime: Arc<tokio::runtime::Runtime>,
}

impl Client {
    fn new() -> Result<Client, String> {
        let http = reqwest::Client::builder()
            .timeout(EXPORT_TIMEOUT)
            .build()
            .map_err(|e| format!("the OTLP HTTP client: {e}"))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("otlp-export")
            .enable_all()
            .build()
            .map_err(|e| format!("the OTLP export runtime: {e}"))?;
        Ok(Client { http, runtime: Arc::new(runtime) })
    }
}

#[async_trait::async_trait]
impl HttpClient for Client {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let request = self.http.request(parts.method, parts.uri.to_string()).headers(parts.headers).body(body);
        // Sent from inside the runtime: the request's timer needs one.
        let answer = self.runtime.spawn(async move {
            let response = request.send().await?;
            let (status, headers) = (response.status(), response.headers().clone());
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, body))
        });
        let (status, headers, body) = answer.await??;
        let mut response = Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Ok(response)
    }
}
