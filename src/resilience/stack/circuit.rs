//! One breaker of a stack, with its name in Redis and its cached fleet view.

use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use crate::resilience::breaker::{Breaker, Snapshot, breaker_key};

/// One breaker of a stack and what goes with it.
pub(super) struct Circuit {
    /// This process's breaker: the breaker itself without a fleet, the fallback with one.
    pub(super) breaker: Arc<Breaker>,
    /// `connector` or `connector/operation`: its name in Redis.
    pub(super) key: String,
    /// The fleet breaker's last snapshot and when it was read, so reads don't each ask Redis.
    pub(super) fleet_view: Mutex<Option<(Instant, Snapshot)>>,
    /// Why a call is refused while it is open, built once so that a refusal allocates nothing.
    pub(super) open_reason: Arc<str>,
}

impl Circuit {
    pub(super) fn new(breaker: Breaker) -> Circuit {
        let key = breaker_key(breaker.id(), breaker.operation());
        Circuit {
            open_reason: format!("{key} breaker is open").into(),
            breaker: Arc::new(breaker),
            key,
            fleet_view: Mutex::new(None),
        }
    }

    pub(super) fn operation(&self) -> Option<&'static str> {
        self.breaker.operation()
    }

    pub(super) fn forget_view(&self) {
        *self.fleet_view.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}
