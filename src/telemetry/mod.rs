//! Logs, traces and metrics.
//!
//! Logs go through `tracing` (text, or JSON with `--log-format json`); every line a job causes
//! carries its `job_id` through the job's span. The HTTP stack's own crates are held at `warn`
//! whatever `RUST_LOG` says: at debug they print request lines, and a request line may hold a key.
//! Traces go to an OTLP collector when the binary is built with `--features otlp` and
//! `APIARY_OTLP_ENDPOINT` is set (`otlp`). Metrics are Prometheus text at `/metrics`.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

#[cfg(feature = "otlp")]
mod otlp;

use crate::config::OTLP_VAR;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Crates that may log URLs or headers at debug level: held quiet whatever `RUST_LOG` says.
const QUIET: &[&str] = &["hyper=warn", "hyper_util=warn", "reqwest=warn", "h2=warn", "rustls=warn"];
/// Crates that are only noisy: quiet unless `RUST_LOG` names them (`RUST_LOG=info,sqlx=debug` shows
/// every statement, which carries no parameter values).
const NOISY: &[(&str, &str)] = &[("sqlx", "sqlx=warn"), ("apalis", "apalis=info")];

/// Install the process's log output, and trace export when it is configured; keep what this
/// returns until the process ends (dropping it sends the last traces).
pub fn init_logs(format: LogFormat) -> Tracing {
    let base = std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into());
    let mut filter = EnvFilter::try_new(&base).unwrap_or_else(|e| {
        eprintln!("RUST_LOG `{base}` is not a valid filter ({e}); using `info`");
        EnvFilter::new("info")
    });
    let named = |target: &str| base.split(',').any(|d| d.trim().split('=').next() == Some(target));
    let noisy = NOISY.iter().filter(|(target, _)| !named(target)).map(|(_, d)| d);
    for directive in QUIET.iter().chain(noisy) {
        if let Ok(d) = directive.parse() {
            filter = filter.add_directive(d);
        }
    }
    let endpoint = std::env::var(OTLP_VAR).ok().filter(|e| !e.trim().is_empty());
    let (traces, tracing, problem) = traces(endpoint.as_deref());
    let registry = tracing_subscriber::registry().with(traces);
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => registry.with(fmt.with_filter(filter)).try_init(),
        LogFormat::Json => {
            registry.with(fmt.json().flatten_event(true).with_current_span(true).with_filter(filter)).try_init()
        }
    };
    match (problem, endpoint) {
        (Some(problem), endpoint) => {
            // The exporter's error may quote the URL, and a URL may carry credentials.
            let problem = match &endpoint {
                Some(e) => problem.replace(e.as_str(), &shown(e)),
                None => problem,
            };
            tracing::error!(variable = OTLP_VAR, "traces are not exported: {problem}")
        }
        (None, Some(endpoint)) => tracing::info!(endpoint = %shown(&endpoint), "traces exported over OTLP"),
        (None, None) => {}
    }
    tracing
}

/// `endpoint` as it may be logged: without a user, password or query, which may hold secrets.
fn shown(endpoint: &str) -> String {
    match reqwest::Url::parse(endpoint) {
        Ok(mut url) => {
            let _ = url.set_username("");
            let _ = url.set_password(None);
            url.set_query(None);
            url.to_string()
        }
        Err(_) => "[not a URL]".to_owned(),
    }
}

/// Keeps trace export going; dropped, it sends what is left and stops.
#[must_use = "dropping it stops trace export"]
#[derive(Default)]
pub struct Tracing {
    #[cfg(feature = "otlp")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for Tracing {
    fn drop(&mut self) {
        #[cfg(feature = "otlp")]
        if let Some(provider) = self.provider.take()
            && let Err(e) = provider.shutdown()
        {
            eprintln!("apiary: the last traces were not all sent: {e}");
        }
    }
}

/// The export layer for `endpoint`, its guard, and why there is none when one was asked for.
#[cfg(feature = "otlp")]
fn traces(endpoint: Option<&str>) -> (Option<otlp::Layer>, Tracing, Option<String>) {
    let Some(endpoint) = endpoint else { return (None, Tracing::default(), None) };
    match otlp::layer(endpoint) {
        Ok((layer, provider)) => (Some(layer), Tracing { provider: Some(provider) }, None),
        Err(e) => (None, Tracing::default(), Some(e)),
    }
}

#[cfg(not(feature = "otlp"))]
fn traces(endpoint: Option<&str>) -> (Option<tracing_subscriber::layer::Identity>, Tracing, Option<String>) {
    let problem = endpoint.map(|_| "this build has no OTLP export (build with `--features otlp`)".to_owned());
    (None, Tracing::default(), problem)
}

/// The current span's trace context (a W3C `traceparent`), for a job to continue the trace of
/// the request that queued it; `None` when traces are not exported.
pub fn current_trace() -> Option<String> {
    #[cfg(feature = "otlp")]
    return otlp::current_trace();
    #[cfg(not(feature = "otlp"))]
    None
}

/// Make `span`, not yet entered, continue the trace `trace` ([`current_trace`]) names.
pub fn continue_trace(span: &tracing::Span, trace: Option<&str>) {
    #[cfg(feature = "otlp")]
    if let Some(trace) = trace {
        otlp::continue_trace(span, trace);
    }
    #[cfg(not(feature = "otlp"))]
    let _ = (span, trace);
}

/// How often histogram samples are folded into their buckets when nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process-wide Prometheus recorder, installed on first use.
///
/// A recorder built this way keeps every histogram sample until it is rendered; a process that
/// is never scraped (a worker without `/metrics` traffic) would grow without bound. A small
/// thread therefore folds the samples into their buckets every few seconds.
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Suffix("_seconds".into()),
                &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0],
            )
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        let _ = metrics::set_global_recorder(recorder);
        let upkeep = handle.clone();
        let spawned = std::thread::Builder::new().name("metrics-upkeep".into()).spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
            }
        });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "no metrics upkeep thread: histogram samples are kept until scraped");
        }
        handle
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_logged_endpoint_keeps_no_credentials() {
        assert_eq!(
            super::shown("https://user:s3cret@collector:4318/v1/traces?token=abc"),
            "https://collector:4318/v1/traces"
        );
        assert_eq!(super::shown("http://collector:4318"), "http://collector:4318/");
        assert_eq!(super::shown("collector user:s3cret"), "[not a URL]");
    }
}
