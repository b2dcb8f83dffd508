//! Resilience: what stands between a job and an upstream.
//!
//! One [`Stack`] per connector, built once and shared by every job (a stack per job would
//! multiply the rate budget): call timeout innermost, then the rate limiter, the circuit breaker
//! and retry with exponential backoff and jitter outermost. An open breaker answers at once, as a
//! value; waits too long to hold a worker (open breaker, spent quota, a long `Retry-After`) come
//! back as [`CallError::Deferred`] so the job can go back to the queue without spending an attempt.

pub mod backoff;
pub mod breaker;
pub mod limiter;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use apiary_connectors::{ConnectorError, ErrorClass};
use tokio::time::Instant;

pub use breaker::{Breaker, BreakerState, Outcome, Snapshot};
pub use limiter::Limiter;

use crate::config::{ConnectorSettings, FetchSettings};

/// Why a call through the stack did not produce a value.
#[derive(Debug, Clone)]
pub enum CallError {
    /// No call may be made for `wait` (breaker open, quota spent, upstream asked for a long pause).
    /// The upstream was not called for this reason; the job should be rescheduled.
    Deferred { wait: Duration, reason: String },
    /// The call failed for good: a permanent error, or retries exhausted.
    Failed(ConnectorError),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Deferred { wait, reason } => {
                write!(f, "deferred for {}: {reason}", crate::config::format_duration(*wait))
            }
            CallError::Failed(e) => e.fmt(f),
        }
    }
}

/// The shared per-connector stack.
pub struct Stack {
    /// Connector id, for logs and metrics.
    pub id: &'static str,
    pub breaker: Arc<Breaker>,
    pub limiter: Limiter,
    /// Per-call timeout (the breaker's `timeout`).
    timeout: Duration,
    backoff: backoff::Backoff,
    max_attempts: u32,
    /// Longest wait taken in place; anything longer defers the job.
    max_wait: Duration,
}

impl Stack {
    pub fn new(id: &'static str, settings: &ConnectorSettings, fetch: &FetchSettings) -> Stack {
        Stack {
            id,
            breaker: Arc::new(Breaker::new(id, settings.breaker.clone())),
            limiter: Limiter::new(&settings.rate_limit),
            timeout: settings.breaker.timeout,
            backoff: backoff::Backoff::new(fetch.backoff_base, fetch.backoff_max),
            max_attempts: fetch.max_attempts,
            max_wait: fetch.max_wait,
        }
    }

    /// Run `call` through timeout, limiter, breaker and retry. `call` performs one attempt and
    /// classifies its result.
    pub async fn call<T, F, Fut>(&self, mut call: F) -> Result<T, CallError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ConnectorError>>,
    {
        let mut attempt = 0;
        loop {
            let permit = match self.breaker.try_acquire() {
                Ok(permit) => permit,
                Err(retry_in) => {
                    metrics::counter!("apiary_breaker_rejections_total", "connector" => self.id).increment(1);
                    return Err(CallError::Deferred { wait: retry_in, reason: format!("{} breaker is open", self.id) });
                }
            };
            if let Err(wait) = self.limiter.acquire(self.max_wait).await {
                self.breaker.release(permit);
                metrics::counter!("apiary_rate_limit_deferrals_total", "connector" => self.id).increment(1);
                return Err(CallError::Deferred { wait, reason: format!("{} rate limit reached", self.id) });
            }
            attempt += 1;
            let started = Instant::now();
            let result = match tokio::time::timeout(self.timeout, call()).await {
                Ok(r) => r,
                Err(_) => Err(ConnectorError::transient(format!(
                    "no answer within {}",
                    crate::config::format_duration(self.timeout)
                ))),
            };
            let elapsed = started.elapsed();
            let outcome = match &result {
                Ok(_) => Outcome::Success,
                Err(e) if e.counts_against_upstream() => Outcome::Failure,
                Err(_) => Outcome::Ignored,
            };
            self.breaker.record(permit, outcome, elapsed);
            let label = match &result {
                Ok(_) => "success",
                Err(e) => e.class.as_str(),
            };
            metrics::counter!("apiary_upstream_calls_total", "connector" => self.id, "outcome" => label).increment(1);
            metrics::histogram!("apiary_upstream_call_seconds", "connector" => self.id).record(elapsed.as_secs_f64());
            let err = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            if !err.is_retryable() || attempt >= self.max_attempts {
                return Err(CallError::Failed(err));
            }
            let wait = match err.retry_after {
                Some(asked) => asked,
                None => self.backoff.delay(attempt - 1),
            };
            if wait > self.max_wait {
                return Err(CallError::Deferred {
                    wait,
                    reason: format!("{} asked us to wait ({})", self.id, err.message),
                });
            }
            tracing::info!(connector = self.id, attempt, wait_ms = wait.as_millis() as u64, error = %err, "retrying");
            tokio::time::sleep(wait).await;
        }
    }
}

/// Whether an error is one the operator must act on (bad key, missing contact).
pub fn is_loud(e: &ConnectorError) -> bool {
    matches!(e.class, ErrorClass::Auth | ErrorClass::Config)
}
