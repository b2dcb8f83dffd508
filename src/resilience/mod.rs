//! Resilience: what stands between a job and an upstream.
//!
//! One [`Stack`] per connector, built once and shared by every job (a stack per job would
//! multiply the rate budget): call timeout innermost, then the rate limiter, the circuit breaker
//! and retry with exponential backoff and jitter outermost. An open breaker answers at once, as a
//! value; waits too long to hold a worker (open breaker, spent quota, a long `Retry-After`) come
//! back as [`CallError::Deferred`] so the job can go back to the queue without spending an attempt.

pub mod backoff;
pub mod breaker;
pub mod fleet;
pub mod limiter;
mod stack;

use std::sync::Arc;
use std::time::Duration;

use apiary_connectors::{ConnectorError, ErrorClass};

pub use breaker::{Breaker, BreakerState, Outcome, Snapshot, breaker_key};
pub use fleet::Fleet;
pub use limiter::Limiter;
pub use stack::Stack;

/// Why a call through the stack did not produce a value.
#[derive(Debug, Clone)]
pub enum CallError {
    /// No call may be made for `wait` (breaker open, quota spent, upstream asked for a long pause).
    /// The upstream was not called for this reason; the job should be rescheduled. The reasons
    /// for an open breaker and a spent quota are built once per stack and shared, so a refusal
    /// allocates nothing.
    Deferred { wait: Duration, reason: Arc<str> },
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

/// Whether an error is one the operator must act on (bad key, missing contact).
pub fn is_loud(e: &ConnectorError) -> bool {
    matches!(e.class, ErrorClass::Auth | ErrorClass::Config)
}
