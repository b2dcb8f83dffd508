//! The HTTP API (axum): jobs, datasets, breakers, health and metrics. Contract in DESIGN.md.

mod datasets;
mod error;
mod jobs;

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};

pub use error::ApiError;

use crate::app::App;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/v1/jobs", post(jobs::create))
        .route("/v1/jobs/{id}", get(jobs::show))
        .route("/v1/datasets", get(datasets::list))
        .route("/v1/datasets/{connector}", get(datasets::show))
        .route("/v1/breakers", get(jobs::breakers))
        .route("/v1/breakers/{connector}", post(jobs::force_breaker))
        .route("/v1/connectors", get(jobs::connectors))
        .fallback(|| async {
            ApiError::not_found("not_found", "no such route; see /v1/jobs, /v1/datasets, /v1/breakers")
        })
        .with_state(app)
}

/// Serve until `shutdown` resolves.
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(app)).with_graceful_shutdown(shutdown).await
}

async fn health() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "ok"}))
}

async fn ready(State(app): State<Arc<App>>) -> impl IntoResponse {
    let store = app.store.ping().await;
    let queue = app.queue.ping().await;
    let body = serde_json::json!({
        "store": store.as_ref().map(|_| "ok".to_owned()).unwrap_or_else(|e| e.to_string()),
        "queue": queue.as_ref().map(|_| "ok".to_owned()).unwrap_or_else(|e| e.to_string()),
    });
    let status = if store.is_ok() && queue.is_ok() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(body))
}

async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    if let Ok(counts) = app.store.job_counts().await {
        for status in crate::store::JobStatus::ALL {
            let n = counts.iter().find(|(s, _)| s == status.as_str()).map_or(0, |(_, n)| *n);
            metrics::gauge!("apiary_jobs", "status" => status.as_str()).set(n as f64);
        }
    }
    if let Ok(n) = app.store.dataset_count().await {
        metrics::gauge!("apiary_datasets").set(n as f64);
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], crate::telemetry::metrics_handle().render())
}
