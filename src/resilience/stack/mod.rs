//! [`Stack`]: one connector's timeout, limiter, breakers and retry, and the fleet-aware
//! admission and recording around them.

use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use apiary_connectors::{ConnectorError, ErrorClass};
use tokio::time::Instant;

use super::breaker::{Breaker, BreakerState, Outcome, Snapshot};
use super::fleet::{self, Fleet, RedisDown};
use super::limiter::Limiter;
use super::{CallError, backoff};
use crate::config::{BreakerSettings, ConnectorSettings, FetchSettings, Quota};

mod circuit;
mod gate;
mod meters;
#[cfg(test)]
mod tests;

use circuit::Circuit;
use gate::{Admitted, Alone, Gate, Shared};
use meters::{Meters, outcome_index};
use tracing::Instrument as _;

/// The shared per-connector stack.
pub struct Stack {
    /// Connector id, for logs and metrics.
    pub id: &'static str,
    /// The connector's breaker: every call's, or, with `breaker.per_operation`, the calls'
    /// whose step has no breaker of its own.
    circuit: Circuit,
    /// One breaker per operation, with `breaker.per_operation` (else empty).
    operations: Vec<Circuit>,
    /// This process's log of the full quotas: the limiter without a fleet, a cheap local
    /// pre-check with one (a process alone never exceeds the quota). Quotas are the upstream's,
    /// so one limiter serves every operation.
    pub limiter: Limiter,
    /// This process's share of the quotas, used while the fleet cannot be asked.
    fallback: Limiter,
    quotas: Vec<Quota>,
    settings: BreakerSettings,
    /// Shared state in Redis, in fleet mode.
    fleet: Option<Arc<Fleet>>,
    /// Per-call timeout (the breaker's `timeout`).
    timeout: Duration,
    backoff: backoff::Backoff,
    max_attempts: u32,
    /// Longest wait taken in place; anything longer defers the job.
    max_wait: Duration,
    /// The deferral reason that names nothing but the connector, built once.
    rate_limited_reason: Arc<str>,
    meters: Meters,
    /// When this process last probed the connector's breaker in the background, and whether the
    /// upstream answered.
    last_probe: Mutex<Option<(chrono::DateTime<chrono::Utc>, bool)>>,
}

/// How long a fleet breaker snapshot serves reads.
const FLEET_VIEW_TTL: Duration = Duration::from_millis(500);

impl Stack {
    /// The stack of connector `id`. With `breaker.per_operation`, each of `operations` (the
    /// connector's [`Connector::operations`](apiary_connectors::Connector::operations)) gets a
    /// breaker of its own.
    pub fn new(
        id: &'static str,
        operations: &[&'static str],
        settings: &ConnectorSettings,
        fetch: &FetchSettings,
        fleet: Option<Arc<Fleet>>,
    ) -> Stack {
        let size = fleet.as_ref().map_or(1, |f| f.size);
        let shares: Vec<Quota> = settings.rate_limit.iter().map(|q| fleet::share(*q, size)).collect();
        let operations = match settings.breaker.per_operation {
            true => operations
                .iter()
                .map(|op| Circuit::new(Breaker::for_operation(id, op, settings.breaker.clone())))
                .collect(),
            false => Vec::new(),
        };
        Stack {
            id,
            circuit: Circuit::new(Breaker::new(id, settings.breaker.clone())),
            operations,
            limiter: Limiter::new(&settings.rate_limit),
            fallback: Limiter::new(&shares),
            quotas: settings.rate_limit.clone(),
            settings: settings.breaker.clone(),
            fleet,
            timeout: settings.breaker.timeout,
            backoff: backoff::Backoff::new(fetch.backoff_base, fetch.backoff_max),
            max_attempts: fetch.max_attempts,
            max_wait: fetch.max_wait,
            rate_limited_reason: format!("{id} rate limit reached").into(),
            meters: Meters::default(),
            last_probe: Mutex::new(None),
        }
    }

    /// Whether this process's log of the quota says a call now would wait longer than
    /// `fetch.max_wait` for a slot (and so be deferred). Nothing is taken.
    pub fn quota_spent(&self) -> bool {
        self.limiter.until_free() > self.max_wait
    }

    /// Whether the stack shares state with a fleet.
    pub fn is_fleet(&self) -> bool {
        self.fleet.is_some()
    }

    /// The breaker a call of `operation` goes through: the operation's own, else the connector's.
    fn circuit(&self, operation: &str) -> &Circuit {
        self.operations.iter().find(|c| c.operation() == Some(operation)).unwrap_or(&self.circuit)
    }

    /// The breaker named by `operation` (`None`: the connector's), if this stack has it.
    fn named(&self, operation: Option<&str>) -> Option<&Circuit> {
        match operation {
            None => Some(&self.circuit),
            Some(op) => self.operations.iter().find(|c| c.operation() == Some(op)),
        }
    }

    /// The operations that have a breaker of their own (none unless `breaker.per_operation`).
    pub fn operations(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.operations.iter().filter_map(Circuit::operation)
    }

    /// Every breaker of this process: the connector's, then one per operation.
    pub fn breakers(&self) -> impl Iterator<Item = &Arc<Breaker>> {
        std::iter::once(&self.circuit).chain(&self.operations).map(|c| &c.breaker)
    }

    /// This process's breaker named by `operation` (`None`: the connector's), if the stack has it.
    pub fn breaker(&self, operation: Option<&str>) -> Option<&Arc<Breaker>> {
        self.named(operation).map(|c| &c.breaker)
    }

    /// The state of the breaker named by `operation` (`None`: the connector's) as the fleet sees
    /// it, if the stack has it: [`Stack::snapshot_of`]'s state without building a snapshot when
    /// there is no fleet or its view is fresh (a cached read asks this every time).
    pub async fn state_of(&self, operation: Option<&str>) -> Option<BreakerState> {
        let circuit = self.named(operation)?;
        if self.fleet.is_none() {
            return Some(circuit.breaker.state());
        }
        if let Some((at, snap)) = circuit.fleet_view.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
            && at.elapsed() < FLEET_VIEW_TTL
        {
            return Some(snap.state);
        }
        Some(self.view(circuit).await.state)
    }

    /// The breaker named by `operation` (`None`: the connector's) as the fleet sees it, if the
    /// stack has it.
    pub async fn snapshot_of(&self, operation: Option<&str>) -> Option<Snapshot> {
        Some(self.view(self.named(operation)?).await)
    }

    async fn view(&self, circuit: &Circuit) -> Snapshot {
        let Some(fleet) = &self.fleet else { return circuit.breaker.snapshot() };
        if let Some((at, snap)) = circuit.fleet_view.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
            && at.elapsed() < FLEET_VIEW_TTL
        {
            return snap.clone();
        }
        match fleet.snapshot(&circuit.key, &self.settings).await {
            Ok(mut snap) => {
                snap.connector = self.id.to_owned();
                snap.operation = circuit.operation().map(str::to_owned);
                *circuit.fleet_view.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), snap.clone()));
                snap
            }
            Err(RedisDown) => circuit.breaker.snapshot(),
        }
    }

    /// Hold a breaker open or closed (fleet-wide in fleet mode), or release it with `None`:
    /// the one of `operation`, or with `operation` `None` every breaker of the connector.
    /// `false` when the stack has no breaker for `operation`.
    pub async fn hold(&self, operation: Option<&str>, state: Option<BreakerState>) -> bool {
        let circuits: Vec<&Circuit> = match operation {
            None => std::iter::once(&self.circuit).chain(&self.operations).collect(),
            Some(op) => match self.named(Some(op)) {
                Some(c) => vec![c],
                None => return false,
            },
        };
        for circuit in circuits {
            circuit.breaker.hold(state);
            if let Some(fleet) = &self.fleet {
                let _ = fleet.hold(&circuit.key, state).await;
                circuit.forget_view();
            }
        }
        true
    }

    /// Run `call` through timeout, limiter, breaker and retry. `call` performs one attempt of
    /// `operation` (the request's [`step`](apiary_connectors::Request::step), which picks the
    /// breaker when the connector keeps one per operation) and classifies its result.
    pub async fn call<T, F, Fut>(&self, operation: &str, call: F) -> Result<T, CallError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ConnectorError>>,
    {
        self.call_counted(operation, call, |_| false).await
    }

    /// [`Stack::call`], where a success that `not_modified` picks (the upstream's `304` to a
    /// conditional request) is counted as `outcome="not_modified"` rather than `success`; for
    /// the breaker it is a success.
    pub async fn call_counted<T, F, Fut>(
        &self,
        operation: &str,
        call: F,
        not_modified: impl Fn(&T) -> bool,
    ) -> Result<T, CallError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ConnectorError>>,
    {
        match &self.fleet {
            None => self.run(&Alone(self), operation, call, not_modified).await,
            Some(fleet) => self.run(&Shared { stack: self, fleet }, operation, call, not_modified).await,
        }
    }

    /// [`Stack::call_counted`]'s steps, with breaker and quota state kept by `gate`: admit, pace,
    /// attempt, record, and the wait before the next attempt; until a value, an error for good,
    /// or a deferral.
    async fn run<G, T, F, Fut>(
        &self,
        gate: &G,
        operation: &str,
        mut call: F,
        not_modified: impl Fn(&T) -> bool,
    ) -> Result<T, CallError>
    where
        G: Gate,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ConnectorError>>,
    {
        let circuit = self.circuit(operation);
        let mut attempt = 0;
        loop {
            let now = Instant::now();
            let span = tracing::debug_span!("breaker", operation, fleet = self.fleet.is_some());
            let admitted = match gate.admit(circuit, now).instrument(span).await {
                Ok(permit) => Admitted::new(circuit, permit),
                Err(retry_in) => {
                    self.meters
                        .rejections
                        .get_or_init(|| metrics::counter!("apiary_breaker_rejections_total", "connector" => self.id))
                        .increment(1);
                    return Err(CallError::Deferred { wait: retry_in, reason: circuit.open_reason.clone() });
                }
            };
            let started = match gate.pace(now).instrument(tracing::debug_span!("limiter")).await {
                Ok(started) => started,
                Err(wait) => {
                    drop(admitted);
                    self.meters
                        .deferrals
                        .get_or_init(|| metrics::counter!("apiary_rate_limit_deferrals_total", "connector" => self.id))
                        .increment(1);
                    return Err(CallError::Deferred { wait, reason: self.rate_limited_reason.clone() });
                }
            };
            attempt += 1;
            let span = tracing::debug_span!("attempt", attempt, outcome = tracing::field::Empty);
            let result = self.attempt(started, call()).instrument(span.clone()).await.unwrap_or_else(|| {
                Err(ConnectorError::transient(format!(
                    "no answer within {}",
                    crate::config::format_duration(self.timeout)
                )))
            });
            let ended = Instant::now();
            let elapsed = ended.saturating_duration_since(started);
            let outcome = match &result {
                Ok(_) => Outcome::Success,
                Err(e) if e.counts_against_upstream() => Outcome::Failure,
                Err(_) => Outcome::Ignored,
            };
            if let Some(permit) = admitted.take() {
                gate.record(circuit, permit, outcome, elapsed, ended).await;
            }
            span.record("outcome", outcome.as_str());
            self.count(result.as_ref().map(&not_modified).map_err(|e| e.class), elapsed);
            let err = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            let wait = self.next_wait(err, attempt)?;
            tokio::time::sleep(wait).await;
        }
    }

    /// Count one attempt, by how it ended (whether a success was `not_modified`, or the error's
    /// class), and its duration.
    fn count(&self, label: Result<bool, ErrorClass>, elapsed: Duration) {
        self.meters.calls[outcome_index(&label)]
            .get_or_init(|| {
                let label = match label {
                    Ok(false) => "success",
                    Ok(true) => "not_modified",
                    Err(class) => class.as_str(),
                };
                metrics::counter!("apiary_upstream_calls_total", "connector" => self.id, "outcome" => label)
            })
            .increment(1);
        self.meters
            .call_seconds
            .get_or_init(|| metrics::histogram!("apiary_upstream_call_seconds", "connector" => self.id))
            .record(elapsed.as_secs_f64());
    }

    /// After failed attempt number `attempt`, how long to wait before the next one; or how the
    /// call ends: for good (not retryable, or attempts spent), or deferred when the wait, the
    /// upstream's `Retry-After` or the backoff, is longer than `fetch.max_wait`.
    fn next_wait(&self, err: ConnectorError, attempt: u32) -> Result<Duration, CallError> {
        if !err.is_retryable() || attempt >= self.max_attempts {
            return Err(CallError::Failed(err));
        }
        let wait = err.retry_after.unwrap_or_else(|| self.backoff.delay(attempt - 1));
        if wait > self.max_wait {
            let reason = format!("{} asked us to wait ({})", self.id, err.message).into();
            return Err(CallError::Deferred { wait, reason });
        }
        tracing::info!(connector = self.id, attempt, wait_ms = wait.as_millis() as u64, error = %err, "retrying");
        Ok(wait)
    }
}

impl Stack {
    /// Note a background probe of the connector and how it went.
    pub fn note_probe(&self, ok: bool) {
        *self.last_probe.lock().unwrap_or_else(|e| e.into_inner()) = Some((chrono::Utc::now(), ok));
        let result = if ok { "ok" } else { "failed" };
        metrics::counter!("apiary_breaker_probes_total", "connector" => self.id, "result" => result).increment(1);
    }

    /// When this process last probed the connector in the background, and whether it answered.
    pub fn last_probe(&self) -> Option<(chrono::DateTime<chrono::Utc>, bool)> {
        *self.last_probe.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One attempt under the call timeout, counted from `started`: `None` when it ran out.
    ///
    /// Same as `tokio::time::timeout_at(started + timeout, fut)`, except that the future is
    /// polled once before the timer is built: a call that answers on its first poll (a cached
    /// or immediately refused call) then costs no timer and no runtime-handle clone. A call that
    /// is still pending goes on under `timeout_at`, which is polled at once and so arms the
    /// timer then; the deadline is `started + timeout` either way.
    async fn attempt<T>(&self, started: Instant, fut: impl Future<Output = T>) -> Option<T> {
        let mut fut = pin!(fut);
        if let Poll::Ready(v) = std::future::poll_fn(|cx| Poll::Ready(fut.as_mut().poll(cx))).await {
            return Some(v);
        }
        match started.checked_add(self.timeout) {
            Some(deadline) => tokio::time::timeout_at(deadline, fut).await.ok(),
            // A timeout too long to represent never ends, as with `tokio::time::timeout`.
            None => Some(fut.await),
        }
    }
}
