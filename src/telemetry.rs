//! Logs and metrics.
//!
//! Logs go through `tracing` (text, or JSON with `--log-format json`); every line a job causes
//! carries its `job_id` through the job's span. The HTTP stack's own crates are held at `warn`
//! whatever `RUST_LOG` says: at debug they print request lines, and a request line may hold a key.
//! Metrics are Prometheus text at `/metrics`.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

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

pub fn init_logs(format: LogFormat) {
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
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
    };
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
