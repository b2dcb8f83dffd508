//! The HTTP API (axum): jobs, datasets, breakers, health and metrics. Contract in DESIGN.md.

mod auth;
mod datasets;
mod error;
mod groups;
mod jobs;
mod request_id;
mod status;

use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use futures::FutureExt as _;
use tokio::sync::Semaphore;

pub use error::ApiError;

use crate::app::App;
use crate::config::Scope;

/// The routes, each behind the scope it needs (`/health` and `/ready` need none, `/metrics`
/// none unless `api.open_metrics` is off), with request bodies capped at `api.max_body`.
pub fn router(app: Arc<App>) -> Router {
    let settings = &app.config().api;
    let gate = auth::Gate::new(&settings.tokens);
    // With no token configured nothing is checked, so the layer is left out altogether.
    let guard = |routes: Router<Arc<App>>, need: Scope| match gate.is_open() {
        true => routes,
        false => routes.route_layer(axum::middleware::from_fn_with_state((gate.clone(), need), auth::require)),
    };
    let read = guard(
        Router::new()
            .route("/v1/jobs/{id}", get(jobs::show))
            .route("/v1/datasets", get(datasets::list))
            .route("/v1/datasets/{connector}", get(datasets::show))
            .route("/v1/groups", get(groups::list))
            .route("/v1/groups/{name}", get(groups::show))
            .route("/v1/breakers", get(jobs::breakers))
            .route("/v1/connectors", get(jobs::connectors))
            .route("/status", get(status::page)),
        Scope::Read,
    );
    let admin = guard(
        Router::new().route("/v1/jobs", post(jobs::create)).route("/v1/breakers/{connector}", post(jobs::hold_breaker)),
        Scope::Admin,
    );
    let metrics_route = Router::new().route("/metrics", get(metrics));
    let metrics_route = if settings.open_metrics { metrics_route } else { guard(metrics_route, Scope::Read) };
    Router::new()
        // A person opening the API's root is shown the status page (which asks for its token).
        .route("/", get(|| async { axum::response::Redirect::temporary("/status") }))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .merge(metrics_route)
        .merge(read)
        .merge(admin)
        .fallback(|| async {
            ApiError::not_found(
                "not_found",
                "no such route; see /status, /v1/jobs, /v1/datasets, /v1/groups, /v1/breakers",
            )
        })
        .layer(axum::extract::DefaultBodyLimit::max(settings.max_body))
        .layer(axum::middleware::from_fn(request_id::middleware))
        .with_state(app)
}

/// How long connections in flight get to finish their requests at shutdown.
const DRAIN: Duration = Duration::from_secs(30);

/// Serve HTTP/1.1 until `shutdown` resolves, then let requests in flight finish (for up to
/// `DRAIN`).
///
/// Bounded against slow or idle clients, which is why this is not `axum::serve`: a client must
/// send a whole request head within `api.header_read_timeout` of the connection being ready for
/// one — a new connection, or a kept-alive one after its last response — or the connection is
/// closed; at most `api.max_connections` are served at once, the rest wait in the listen backlog.
/// An accept error (out of file descriptors, say) pauses accepting instead of ending the server.
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let settings = app.config().api.clone();
    let router = router(app);
    // A handler that panics answers 500 and the connection lives on.
    let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
        let call = tower_service::Service::call(&mut router.clone(), req.map(axum::body::Body::new));
        async move {
            match std::panic::AssertUnwindSafe(call).catch_unwind().await {
                Ok(Ok(resp)) => Ok::<_, std::convert::Infallible>(resp),
                Ok(Err(never)) => match never {},
                Err(_) => Ok(ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the request failed inside apiary; see its log",
                )
                .into_response()),
            }
        }
    });
    let slots = Arc::new(Semaphore::new(settings.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new()).header_read_timeout(settings.header_read_timeout);
    let mut shutdown = pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.map_err(std::io::Error::other)?,
            _ = &mut shutdown => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Per-connection errors (reset before accept) are nothing; running out of
                    // descriptors passes once connections close.
                    if !matches!(e.kind(), std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset) {
                        tracing::error!(error = %e, "cannot accept connections; pausing");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let conn = graceful.watch(http.serve_connection(hyper_util::rt::TokioIo::new(stream), service.clone()));
        tokio::spawn(async move {
            let _ = conn.await;
            drop(slot);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown()).await.is_err() {
        tracing::warn!("connections still open after the drain period; closing them");
    }
    Ok(())
}

async fn health() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "ok"}))
}

/// Longest a readiness check waits for the database or the queue.
const READY_WAIT: Duration = Duration::from_secs(3);

async fn ready(State(app): State<Arc<App>>) -> impl IntoResponse {
    let slow = |what: &str| format!("{what} did not answer within {} s", READY_WAIT.as_secs());
    let (store, queue) = tokio::join!(
        tokio::time::timeout(READY_WAIT, app.store().ping()),
        tokio::time::timeout(READY_WAIT, app.queue().ping())
    );
    let store = store.map_err(|_| slow("the database")).and_then(|r| r.map_err(|e| e.to_string()));
    let queue = queue.map_err(|_| slow("the queue")).and_then(|r| r.map_err(|e| e.to_string()));
    let body = serde_json::json!({
        "store": store.as_ref().map(|_| "ok").unwrap_or_else(|e| e.as_str()),
        "queue": queue.as_ref().map(|_| "ok").unwrap_or_else(|e| e.as_str()),
    });
    let status = if store.is_ok() && queue.is_ok() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(body))
}

async fn metrics(State(app): State<Arc<App>>) -> impl IntoResponse {
    if let Ok(counts) = app.store().job_counts().await {
        for status in crate::store::JobStatus::ALL {
            let n = counts.iter().find(|(s, _)| s == status.as_str()).map_or(0, |(_, n)| *n);
            metrics::gauge!("apiary_jobs", "status" => status.as_str()).set(n as f64);
        }
    }
    if let Ok(n) = app.store().dataset_count().await {
        metrics::gauge!("apiary_datasets").set(n as f64);
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], crate::telemetry::metrics_handle().render())
}
