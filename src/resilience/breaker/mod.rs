//! The circuit breaker of one connector, or of one operation of a connector.
//!
//! Closed: calls flow; the breaker opens after `failure_threshold` consecutive failures, or when
//! the failure rate over the sliding window (the last N calls, or the calls of the last period)
//! reaches `failure_rate_threshold` once `minimum_calls` were seen. A call slower than
//! `slow_call_threshold` counts as failing. Open: every call is refused at once, as a value,
//! with the time left until `recovery_timeout` has passed. Then half-open — decided when asked,
//! so no traffic is needed for the clock to run: at most `half_open_max_calls` probes at a time;
//! `success_threshold` successes close it, one failure opens it again.
//!
//! Failures that say nothing about the upstream's health (bad parameters, a bad key) are
//! `Ignored`. State sits behind a std mutex: it is held for a few comparisons and never across an
//! await. Transitions are published to a listener (the store persists them, so an open breaker
//! stays open across a restart).

use std::collections::VecDeque;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

use crate::config::{BreakerSettings, Window};

mod snapshot;

pub use snapshot::{BreakerState, Snapshot, breaker_key, snapshot_from_json};

/// What a call said about the upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    /// A failure that is not the upstream's (bad parameters, bad key): not counted.
    Ignored,
}

impl Outcome {
    /// The outcome as spans name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Failure => "failure",
            Outcome::Ignored => "ignored",
        }
    }
}

/// Leave to make one call. Plain data: acquiring one allocates nothing.
#[derive(Debug, Clone, Copy)]
#[must_use = "a permit must be given back with record() or release()"]
pub struct Permit {
    /// Whether this call is a half-open probe.
    probe: bool,
    /// The state generation it was issued in; a probe from an older generation no longer counts.
    generation: u64,
}

pub struct Breaker {
    id: &'static str,
    operation: Option<&'static str>,
    settings: BreakerSettings,
    inner: Mutex<Inner>,
    /// Receives a snapshot after every transition.
    listener: OnceLock<UnboundedSender<Snapshot>>,
}

struct Inner {
    state: BreakerState,
    /// When an open breaker may probe.
    until: Instant,
    opened_at: Option<DateTime<Utc>>,
    consecutive_failures: u32,
    /// Recent outcomes: when, and whether it failed.
    window: VecDeque<(Instant, bool)>,
    /// How many outcomes in `window` are failures, kept as it changes.
    window_failures: u32,
    probes_in_flight: u32,
    probe_successes: u32,
    generation: u64,
    /// An operator's hold.
    held: Option<BreakerState>,
}

impl Breaker {
    pub fn new(id: &'static str, settings: BreakerSettings) -> Breaker {
        Breaker {
            id,
            operation: None,
            settings,
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                until: Instant::now(),
                opened_at: None,
                consecutive_failures: 0,
                window: VecDeque::new(),
                window_failures: 0,
                probes_in_flight: 0,
                probe_successes: 0,
                generation: 0,
                held: None,
            }),
            listener: OnceLock::new(),
        }
    }

    /// The breaker of one operation of connector `id` (an endpoint, or a step such as `efetch`).
    pub fn for_operation(id: &'static str, operation: &'static str, settings: BreakerSettings) -> Breaker {
        Breaker { operation: Some(operation), ..Breaker::new(id, settings) }
    }

    pub fn id(&self) -> &'static str {
        self.id
    }

    pub fn operation(&self) -> Option<&'static str> {
        self.operation
    }

    pub fn settings(&self) -> &BreakerSettings {
        &self.settings
    }

    /// Send a snapshot to `tx` after every transition.
    pub fn listen(&self, tx: UnboundedSender<Snapshot>) {
        let _ = self.listener.set(tx);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Leave to call, or the time until a call may be tried.
    pub fn try_acquire(&self) -> Result<Permit, Duration> {
        self.try_acquire_at(Instant::now())
    }

    /// [`Breaker::try_acquire`] with the clock already read.
    pub fn try_acquire_at(&self, now: Instant) -> Result<Permit, Duration> {
        let mut s = self.lock();
        match s.held {
            Some(BreakerState::Open) => return Err(self.settings.recovery_timeout),
            Some(_) => return Ok(Permit { probe: false, generation: s.generation }),
            None => {}
        }
        if s.state == BreakerState::Open {
            if now < s.until {
                return Err(s.until - now);
            }
            self.transition(&mut s, BreakerState::HalfOpen, now);
        }
        match s.state {
            BreakerState::Closed => Ok(Permit { probe: false, generation: s.generation }),
            BreakerState::HalfOpen if s.probes_in_flight < self.settings.half_open_max_calls => {
                s.probes_in_flight += 1;
                Ok(Permit { probe: true, generation: s.generation })
            }
            // Probes are out; their answer is due within the call timeout.
            _ => Err(self.settings.timeout.min(Duration::from_secs(5))),
        }
    }

    /// Give back a permit whose call was never made.
    pub fn release(&self, permit: Permit) {
        let mut s = self.lock();
        if permit.probe && permit.generation == s.generation {
            s.probes_in_flight = s.probes_in_flight.saturating_sub(1);
        }
    }

    /// Record how the call made with `permit` went.
    pub fn record(&self, permit: Permit, outcome: Outcome, elapsed: Duration) {
        self.record_at(permit, outcome, elapsed, Instant::now())
    }

    /// [`Breaker::record`] with the clock already read.
    pub fn record_at(&self, permit: Permit, outcome: Outcome, elapsed: Duration, now: Instant) {
        let failed = match outcome {
            Outcome::Ignored => {
                self.release(permit);
                return;
            }
            Outcome::Failure => true,
            Outcome::Success => elapsed > self.settings.slow_call_threshold,
        };
        let mut s = self.lock();
        if s.held.is_some() {
            return;
        }
        if permit.probe {
            if permit.generation != s.generation || s.state != BreakerState::HalfOpen {
                return;
            }
            s.probes_in_flight = s.probes_in_flight.saturating_sub(1);
            if failed {
                self.transition(&mut s, BreakerState::Open, now);
            } else {
                s.probe_successes += 1;
                if s.probe_successes >= self.settings.success_threshold {
                    self.transition(&mut s, BreakerState::Closed, now);
                }
            }
            return;
        }
        if s.state != BreakerState::Closed || permit.generation != s.generation {
            // A call that started before the breaker opened: its news is already old.
            return;
        }
        s.window.push_back((now, failed));
        s.window_failures += u32::from(failed);
        self.prune(&mut s, now);
        s.consecutive_failures = if failed { s.consecutive_failures + 1 } else { 0 };
        let (calls, failures) = counts(&s);
        let rate_tripped = calls >= self.settings.minimum_calls
            && failures as f64 * 100.0 >= self.settings.failure_rate_threshold * calls as f64;
        if failed && (s.consecutive_failures >= self.settings.failure_threshold || rate_tripped) {
            self.transition(&mut s, BreakerState::Open, now);
        }
    }

    /// Hold the breaker open or closed until released with `None`; released from an open hold,
    /// it probes at the next call.
    pub fn hold(&self, state: Option<BreakerState>) {
        let now = Instant::now();
        let mut s = self.lock();
        let held = std::mem::replace(&mut s.held, state);
        match state {
            Some(BreakerState::Open) => self.transition(&mut s, BreakerState::Open, now),
            Some(_) => self.transition(&mut s, BreakerState::Closed, now),
            None => {
                // Released from an open hold: probe at the next call (half-open), not after a
                // recovery timeout counted from when the hold began.
                if held == Some(BreakerState::Open) && s.state == BreakerState::Open {
                    s.until = now;
                }
                self.publish(&s, now)
            }
        }
    }

    /// Take over a persisted state: an open breaker stays open until its `retry_at`.
    pub fn restore(&self, snap: &Snapshot) {
        let now = Instant::now();
        let mut s = self.lock();
        s.held = snap.held;
        if snap.state != BreakerState::Closed || snap.held == Some(BreakerState::Open) {
            let left = snap.retry_at.map_or(Duration::ZERO, |at| (at - Utc::now()).to_std().unwrap_or(Duration::ZERO));
            s.state = BreakerState::Open;
            s.until = now + left;
            s.opened_at = snap.opened_at.or_else(|| Some(Utc::now()));
            s.generation += 1;
        }
        s.consecutive_failures = snap.consecutive_failures;
        gauge(self.id, self.operation, s.state);
    }

    /// The state an operator holds the breaker in, if any.
    pub fn held(&self) -> Option<BreakerState> {
        self.lock().held
    }

    /// The current state; an open breaker whose recovery time has passed reads as half-open.
    pub fn state(&self) -> BreakerState {
        let s = self.lock();
        effective(&s, Instant::now())
    }

    pub fn snapshot(&self) -> Snapshot {
        let now = Instant::now();
        let mut s = self.lock();
        self.prune(&mut s, now);
        self.snap(&s, now)
    }

    fn snap(&self, s: &Inner, now: Instant) -> Snapshot {
        let (calls, failures) = counts(s);
        let state = effective(s, now);
        let retry_at = (state == BreakerState::Open).then(|| {
            Utc::now() + chrono::Duration::from_std(s.until.saturating_duration_since(now)).unwrap_or_default()
        });
        Snapshot {
            connector: self.id.to_owned(),
            operation: self.operation.map(str::to_owned),
            state,
            failure_rate: if calls == 0 { 0.0 } else { (failures as f64 * 1000.0 / calls as f64).round() / 10.0 },
            calls,
            failures,
            consecutive_failures: s.consecutive_failures,
            opened_at: if state == BreakerState::Closed { None } else { s.opened_at },
            retry_at,
            held: s.held,
        }
    }

    fn prune(&self, s: &mut Inner, now: Instant) {
        match self.settings.window {
            Window::Count(n) => {
                while s.window.len() > n as usize {
                    pop(s);
                }
            }
            Window::Time(d) => {
                while s.window.front().is_some_and(|(t, _)| now.saturating_duration_since(*t) > d) {
                    pop(s);
                }
            }
        }
    }

    fn transition(&self, s: &mut Inner, to: BreakerState, now: Instant) {
        let from = s.state;
        s.state = to;
        s.generation += 1;
        s.probes_in_flight = 0;
        s.probe_successes = 0;
        match to {
            BreakerState::Open => {
                s.until = now + self.settings.recovery_timeout;
                s.opened_at = Some(Utc::now());
            }
            BreakerState::Closed => {
                s.window.clear();
                s.window_failures = 0;
                s.consecutive_failures = 0;
                s.opened_at = None;
            }
            BreakerState::HalfOpen => {}
        }
        if from != to {
            transitioned(self.id, self.operation, to);
            let operation = self.operation.unwrap_or_default();
            match to {
                BreakerState::Open => {
                    tracing::warn!(connector = self.id, operation, from = from.as_str(), "breaker opened")
                }
                _ => tracing::info!(
                    connector = self.id,
                    operation,
                    from = from.as_str(),
                    to = to.as_str(),
                    "breaker changed state"
                ),
            }
        }
        gauge(self.id, self.operation, to);
        self.publish(s, now);
    }

    fn publish(&self, s: &Inner, now: Instant) {
        if let Some(tx) = self.listener.get() {
            let _ = tx.send(self.snap(s, now));
        }
    }
}

fn effective(s: &Inner, now: Instant) -> BreakerState {
    match s.state {
        BreakerState::Open if s.held.is_none() && now >= s.until => BreakerState::HalfOpen,
        other => other,
    }
}

/// Calls and failures in the window.
fn counts(s: &Inner) -> (u32, u32) {
    (s.window.len() as u32, s.window_failures)
}

/// Drop the oldest outcome of the window.
fn pop(s: &mut Inner) {
    if let Some((_, failed)) = s.window.pop_front() {
        s.window_failures -= u32::from(failed);
    }
}

/// Metric labels of a breaker: the connector, and the operation for a per-operation breaker.
fn labels(id: &'static str, operation: Option<&'static str>) -> Vec<metrics::Label> {
    let mut labels = vec![metrics::Label::from_static_parts("connector", id)];
    if let Some(op) = operation {
        labels.push(metrics::Label::from_static_parts("operation", op));
    }
    labels
}

pub(crate) fn gauge(id: &'static str, operation: Option<&'static str>, state: BreakerState) {
    metrics::gauge!("apiary_breaker_state", labels(id, operation)).set(f64::from(state.rank()));
}

/// Count a change of state in `apiary_breaker_transitions_total`.
pub(crate) fn transitioned(id: &'static str, operation: Option<&'static str>, to: BreakerState) {
    let mut labels = labels(id, operation);
    labels.push(metrics::Label::from_static_parts("to", to.as_str()));
    metrics::counter!("apiary_breaker_transitions_total", labels).increment(1);
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod model;
