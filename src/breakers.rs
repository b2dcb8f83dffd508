//! Every upstream breaker of the process under one owner: restored from the store at start,
//! each transition persisted, operators' holds, and the one view of them that the API, the CLI
//! and reads share. That view is the fleet's in fleet mode, this process's own when it runs the
//! workers, and otherwise what the workers persisted: an API-only process's own breakers never
//! see a call, so its idle, closed ones must not be reported.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apiary_connectors::{Connector, Params};
use chrono::Utc;

use crate::fetch::Fetcher;
use crate::resilience::{BreakerState, Snapshot, Stack, breaker_key};
use crate::store::{Store, StoreError};

/// How long the workers' persisted breakers, once read, serve an API-only process.
const PERSISTED_TTL: Duration = Duration::from_secs(1);

/// The process's upstream breakers (they live in each connector's [`Stack`]) and where their
/// state is kept.
pub struct Breakers {
    fetcher: Arc<Fetcher>,
    store: Store,
    /// Whether breakers are shared through Redis (then holds are too, and the store is not asked).
    fleet: bool,
    /// Whether this process runs fetch workers, whose breakers are then the live ones.
    live: AtomicBool,
    /// The workers' persisted breakers and when they were read, for an API-only process.
    persisted: Mutex<Option<(Instant, Arc<Vec<Snapshot>>)>>,
}

impl Breakers {
    /// Take over the persisted state of `fetcher`'s breakers (and, without a fleet, the
    /// operators' holds), and persist every later transition.
    pub(crate) async fn start(fetcher: Arc<Fetcher>, store: Store, fleet: bool) -> Result<Breakers, StoreError> {
        let breakers = Breakers { fetcher, store, fleet, live: AtomicBool::new(false), persisted: Mutex::new(None) };
        breakers.restore().await?;
        Ok(breakers)
    }

    async fn restore(&self) -> Result<(), StoreError> {
        for snap in self.store.breakers().await? {
            // A breaker this configuration no longer has (per-operation breakers turned off) is left.
            let Some(breaker) = self.fetcher.stack(&snap.connector).and_then(|s| s.breaker(snap.operation.as_deref()))
            else {
                continue;
            };
            breaker.restore(&snap);
            if snap.state != BreakerState::Closed {
                tracing::warn!(breaker = %snap.key(), state = snap.state.as_str(), "breaker restored from the store");
            }
        }
        if !self.fleet {
            self.apply_holds().await?;
        }
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for breaker in self.fetcher.stacks().flat_map(|s| s.breakers()) {
            breaker.listen(tx.clone());
        }
        // Ends when the breakers, which hold the senders, are gone.
        let store = self.store.clone();
        tokio::spawn(async move {
            while let Some(snap) = rx.recv().await {
                if let Err(e) = store.save_breaker(&snap).await {
                    tracing::error!(breaker = %snap.key(), error = %e, "could not persist breaker state");
                }
            }
        });
        Ok(())
    }

    /// This process runs the fetch workers: its breakers are the live ones from now on.
    pub fn serve_workers(&self) {
        self.live.store(true, Ordering::Relaxed);
    }

    /// Whether `stack`'s breakers as this process sees them are the live ones: fleet-wide, or this
    /// process runs the workers.
    fn live(&self, stack: &Stack) -> bool {
        stack.is_fleet() || self.live.load(Ordering::Relaxed)
    }

    /// Hold a breaker of connector `id` open or closed, or release it (`None`): the one of
    /// `operation`, or every breaker of the connector. Fleet-wide through Redis in fleet mode;
    /// otherwise recorded in the store, where other processes' workers take it over
    /// ([`Breakers::apply_holds`]). `Ok(false)` when there is no such breaker.
    pub async fn hold(
        &self,
        id: &str,
        operation: Option<&str>,
        state: Option<BreakerState>,
    ) -> Result<bool, StoreError> {
        let Some(stack) = self.fetcher.stack(id) else { return Ok(false) };
        if !stack.hold(operation, state).await {
            return Ok(false);
        }
        if !self.fleet {
            let held: Vec<String> = match operation {
                Some(op) => vec![breaker_key(id, Some(op))],
                None => stack.breakers().map(|b| breaker_key(id, b.operation())).collect(),
            };
            for key in held {
                self.store.set_breaker_hold(&key, state).await?;
            }
        }
        Ok(true)
    }

    /// Take over the operators' holds recorded in the store (set through any process): each
    /// breaker of this process is held, or released, as recorded. Without a fleet, workers call
    /// this every few seconds.
    pub async fn apply_holds(&self) -> Result<(), StoreError> {
        let holds = self.store.breaker_holds().await?;
        for stack in self.fetcher.stacks() {
            for breaker in stack.breakers() {
                let key = breaker_key(stack.id, breaker.operation());
                let wanted = holds.iter().find(|(k, _)| *k == key).map(|(_, state)| *state);
                if breaker.held() != wanted {
                    breaker.hold(wanted);
                    let held = wanted.map_or("released", BreakerState::as_str);
                    tracing::warn!(breaker = %key, state = held, "operator hold on the breaker taken over from the store");
                }
            }
        }
        Ok(())
    }

    /// A breaker of connector `id`: the connector's own, or with `operation` that operation's.
    /// `None` when there is no such breaker.
    pub async fn get(&self, id: &str, operation: Option<&str>) -> Option<Snapshot> {
        let stack = self.fetcher.stack(id)?;
        stack.breaker(operation)?;
        if self.live(stack) {
            return stack.snapshot_of(operation).await;
        }
        // API only, no fleet: the workers are other processes; their breakers are in the store.
        // An operator's hold on this process's breaker wins over what the workers persisted.
        let local = stack.snapshot_of(operation).await?;
        Some(self.persisted(id, operation).await.filter(|s| s.held.is_some() || local.held.is_none()).unwrap_or(local))
    }

    /// Every breaker, as [`Breakers::get`] sees it: each connector's own, then its operations'.
    pub async fn all(&self) -> Vec<Snapshot> {
        let mut all = Vec::new();
        for stack in self.fetcher.stacks() {
            for breaker in stack.breakers() {
                all.extend(self.get(stack.id, breaker.operation()).await);
            }
        }
        all
    }

    /// Of connector `id`'s breakers named by `operations`, the one furthest from closed; of two
    /// open ones, the one that stays open longer.
    pub async fn worst(&self, id: &str, operations: &[Option<&str>]) -> Option<Snapshot> {
        let severity = |s: &Snapshot| (s.state.rank(), s.retry_at);
        let mut worst: Option<Snapshot> = None;
        for operation in operations {
            let Some(snap) = self.get(id, *operation).await else { continue };
            if worst.as_ref().is_none_or(|w| severity(&snap) > severity(w)) {
                worst = Some(snap);
            }
        }
        worst
    }

    /// The breaker a read of `connector` with `params` reports: the worst of the breakers a
    /// fetch of it goes through ([`Fetcher::breakers_of`]: with per-operation breakers, its
    /// steps', else the connector's).
    pub async fn of_dataset(&self, connector: &dyn Connector, params: &Params) -> Option<Snapshot> {
        self.worst(connector.id(), &self.fetcher.breakers_of(connector, params)).await
    }

    /// The state of the connector's own breaker (closed when the connector has no stack).
    pub async fn state(&self, id: &str) -> BreakerState {
        self.get(id, None).await.map_or(BreakerState::Closed, |s| s.state)
    }

    /// The state of [`Breakers::of_dataset`] (closed when the connector has no stack).
    pub async fn dataset_state(&self, connector: &dyn Connector, params: &Params) -> BreakerState {
        // The common case, one breaker whose live state is this process's (or the fleet's):
        // its state alone, without a snapshot.
        if let Some(stack) = self.fetcher.stack(connector.id())
            && stack.operations().next().is_none()
            && self.live(stack)
        {
            return stack.state_of(None).await.unwrap_or(BreakerState::Closed);
        }
        self.of_dataset(connector, params).await.map_or(BreakerState::Closed, |s| s.state)
    }

    /// A breaker as its workers last persisted it (the store is read at most once a second).
    async fn persisted(&self, id: &str, operation: Option<&str>) -> Option<Snapshot> {
        let fresh = {
            let cache = self.persisted.lock().unwrap_or_else(|e| e.into_inner());
            cache.as_ref().filter(|(at, _)| at.elapsed() < PERSISTED_TTL).map(|(_, s)| s.clone())
        };
        let snaps = match fresh {
            Some(s) => s,
            None => {
                let snaps = Arc::new(self.store.breakers().await.ok()?);
                *self.persisted.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), snaps.clone()));
                snaps
            }
        };
        let mut snap = snaps.iter().find(|s| s.connector == id && s.operation.as_deref() == operation)?.clone();
        // An open breaker past its retry time is half-open, whether or not a worker has probed yet.
        if snap.state == BreakerState::Open && snap.held.is_none() && snap.retry_at.is_some_and(|t| t <= Utc::now()) {
            snap.state = BreakerState::HalfOpen;
        }
        Some(snap)
    }
}
