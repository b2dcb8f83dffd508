//! Where a stack's breaker and quota state lives: this process alone ([`Alone`]), or Redis,
//! shared by the fleet ([`Shared`], which falls back to this process while Redis is away).
//! [`Stack::call`](super::Stack::call) runs the same steps through either.

use std::time::Duration;

use tokio::time::Instant;

use super::Stack;
use super::circuit::Circuit;
use crate::resilience::breaker::{self, BreakerState, Outcome};
use crate::resilience::fleet::{Fleet, FleetPermit, RedisDown};
use crate::resilience::limiter::Limiter;

/// Leave to make one call, from whichever breaker decided.
#[derive(Debug, Clone, Copy)]
pub(super) enum Permit {
    Local(breaker::Permit),
    Fleet(FleetPermit),
}

/// The state a call is admitted, paced and recorded against.
pub(super) trait Gate {
    /// Leave to call through `circuit`'s breaker as of `now`, or how long until one may.
    async fn admit(&self, circuit: &Circuit, now: Instant) -> Result<Permit, Duration>;

    /// Wait for a slot of every quota, or return the wait when it is longer than the stack's
    /// `max_wait`. `Ok` holds the moment the wait ended, which is when the call starts (`now`
    /// when there was no wait).
    async fn pace(&self, now: Instant) -> Result<Instant, Duration>;

    /// Count a call's outcome against the breaker that admitted it.
    async fn record(&self, circuit: &Circuit, permit: Permit, outcome: Outcome, elapsed: Duration, ended: Instant);
}

/// A permit not yet recorded: it goes back to its breaker unless [`Admitted::take`]n for the
/// record, so that a call that is not made (its quota is spent) or is dropped midway (a job cut
/// off at shutdown) never keeps a half-open breaker's probe slot.
pub(super) struct Admitted<'c> {
    circuit: &'c Circuit,
    permit: Option<Permit>,
}

impl<'c> Admitted<'c> {
    pub(super) fn new(circuit: &'c Circuit, permit: Permit) -> Admitted<'c> {
        Admitted { circuit, permit: Some(permit) }
    }

    /// The permit, to record the call's outcome with.
    pub(super) fn take(mut self) -> Option<Permit> {
        self.permit.take()
    }
}

impl Drop for Admitted<'_> {
    fn drop(&mut self) {
        if let Some(Permit::Local(permit)) = self.permit.take() {
            self.circuit.breaker.release(permit);
        }
        // A fleet probe lease expires on its own within one call timeout.
    }
}

/// A stack without a fleet: its own breakers and its own log of the full quotas.
pub(super) struct Alone<'s>(pub(super) &'s Stack);

/// A stack in fleet mode: breakers and quotas in Redis; while Redis cannot be asked, this
/// process's breakers and its share of each quota.
pub(super) struct Shared<'s> {
    pub(super) stack: &'s Stack,
    pub(super) fleet: &'s Fleet,
}

impl Gate for Alone<'_> {
    async fn admit(&self, circuit: &Circuit, now: Instant) -> Result<Permit, Duration> {
        circuit.breaker.try_acquire_at(now).map(Permit::Local)
    }

    async fn pace(&self, now: Instant) -> Result<Instant, Duration> {
        pace_on(self.0, &self.0.limiter, now).await
    }

    async fn record(&self, circuit: &Circuit, permit: Permit, outcome: Outcome, elapsed: Duration, ended: Instant) {
        if let Permit::Local(permit) = permit {
            circuit.breaker.record_at(permit, outcome, elapsed, ended);
        }
    }
}

impl Gate for Shared<'_> {
    async fn admit(&self, circuit: &Circuit, now: Instant) -> Result<Permit, Duration> {
        match self.fleet.acquire(&circuit.key, &self.stack.settings).await {
            Ok(Ok(permit)) => Ok(Permit::Fleet(permit)),
            Ok(Err(wait)) => Err(wait),
            Err(RedisDown) => circuit.breaker.try_acquire_at(now).map(Permit::Local),
        }
    }

    async fn pace(&self, _: Instant) -> Result<Instant, Duration> {
        let stack = self.stack;
        // This process alone never exceeds the quota: a wait its own log already sees is not
        // worth asking Redis about.
        let alone = stack.limiter.until_free();
        if alone > stack.max_wait {
            return Err(alone);
        }
        match self.fleet.rate(stack.id, &stack.quotas, stack.max_wait).await {
            Ok(Ok(wait)) => {
                let now = Instant::now();
                let _ = stack.limiter.reserve(now + wait, Duration::MAX);
                sleep(now, wait).await
            }
            Ok(Err(wait)) => Err(wait),
            Err(RedisDown) => pace_on(stack, &stack.fallback, Instant::now()).await,
        }
    }

    async fn record(&self, circuit: &Circuit, permit: Permit, outcome: Outcome, elapsed: Duration, ended: Instant) {
        let permit = match permit {
            // Admitted by this process's breaker while Redis was away.
            Permit::Local(permit) => return circuit.breaker.record_at(permit, outcome, elapsed, ended),
            Permit::Fleet(permit) => permit,
        };
        let stack = self.stack;
        let failed = match outcome {
            Outcome::Failure => true,
            Outcome::Success => elapsed > stack.settings.slow_call_threshold,
            // Not the upstream's fault: counts for nothing, but a probe still ends.
            Outcome::Ignored if !permit.probe => return,
            Outcome::Ignored => false,
        };
        let Ok(Some(state)) = self.fleet.record(&circuit.key, &stack.settings, permit, failed).await else { return };
        circuit.forget_view();
        let operation = circuit.operation();
        breaker::transitioned(stack.id, operation, state);
        breaker::gauge(stack.id, operation, state);
        let operation = operation.unwrap_or_default();
        match state {
            BreakerState::Open => tracing::warn!(connector = stack.id, operation, "fleet breaker opened"),
            _ => tracing::info!(connector = stack.id, operation, to = state.as_str(), "fleet breaker changed state"),
        }
    }
}

/// [`Limiter::reserve`] as of `now`, waiting out the reserved slot.
async fn pace_on(stack: &Stack, limiter: &Limiter, now: Instant) -> Result<Instant, Duration> {
    let wait = limiter.reserve(now, stack.max_wait)?;
    sleep(now, wait).await
}

/// Wait `wait` from `now`: the moment the wait ended.
async fn sleep(now: Instant, wait: Duration) -> Result<Instant, Duration> {
    if wait.is_zero() {
        return Ok(now);
    }
    metrics::histogram!("apiary_rate_limit_wait_seconds").record(wait.as_secs_f64());
    tokio::time::sleep(wait).await;
    Ok(Instant::now())
}
