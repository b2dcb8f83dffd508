//! apiary keeps third-party data close at hand.
//!
//! # Layout
//! In the order the modules depend on each other (each uses only those above it):
//! - [`config`]: typed, layered configuration (built-in defaults, files, `APIARY_` variables).
//! - [`resilience`]: per-connector timeout, rate limiter, circuit breaker and retry.
//! - [`store`]: the cache database — last good results, fetch log, job status, breaker state —
//!   on SQLite or Postgres.
//! - [`queue`]: apalis queues (SQLite, Postgres, Redis): the adapter that pushes messages and
//!   serves lanes.
//! - [`fetch`]: one dataset's chain of upstream requests through its connector's stack.
//! - [`reads`]: hot dataset reads served from memory, serialised once per fetch.
//! - [`breakers`]: every upstream breaker under one owner: restored and persisted through the
//!   store, held by operators, and the one view of them the API, the CLI and reads share.
//! - [`app`]: the shared state and the operations the API and the CLI have in common.
//! - [`groups`]: failover groups of connectors that answer the same question.
//! - [`service`]: the jobs service over [`app`]: fetch workers, the scheduler, the sweeps.
//! - [`api`]: the HTTP API. [`cli`]: the command line.
//! - [`telemetry`]: logs, OTLP traces (`--features otlp`) and metrics; it needs only [`config`].
//!
//! Upstream specifics (parameters, requests, parsing) live in the `apiary-connectors` crate,
//! which does no I/O.

pub mod api;
pub mod app;
pub mod breakers;
pub mod cli;
pub mod config;
pub mod fetch;
pub mod groups;
pub mod queue;
pub mod reads;
pub mod resilience;
pub mod service;
pub mod store;
pub mod telemetry;

/// Install the process's TLS provider (ring). reqwest is built without one, so this must run
/// before the first client is built; calling it again is harmless.
pub fn install_tls() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
