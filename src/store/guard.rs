//! Breakers around the cache database itself: one for reads, one for writes.
//!
//! A database that has gone away, or hangs, would otherwise cost every read and every write its
//! own wait: a pool timeout, a connection attempt. After enough failures in a row (or a high
//! enough share of failures) the breaker opens and the store answers at once with
//! [`StoreError::Unavailable`] — reads `503` in milliseconds, workers' writes are retried with
//! backoff and nothing is lost — until its recovery time has passed; then a few calls probe, and
//! their success closes it. Only failures that say the database is unwell count (a connection
//! lost or refused, a timeout, a full disk: [`StoreError::is_transient`]); a write refused for
//! being wrong in itself says the database answered. Reads are also bounded by the read
//! breaker's `timeout`; writes are not cut off mid-way.

use std::future::Future;
use std::time::Instant;

use super::StoreError;
use crate::config::{DatabaseBreakers, format_duration};
use crate::resilience::Snapshot;
use crate::resilience::breaker::{Breaker, Outcome, Permit};

/// Which of the database's breakers a call goes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// The database's breakers, shared by every clone of a [`super::Store`].
pub struct Guard {
    read: Breaker,
    write: Breaker,
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard").field("read", &self.read.state()).field("write", &self.write.state()).finish()
    }
}

/// The name the database's breakers go by where connectors' do (`/v1/breakers`, metrics).
pub const DATABASE: &str = "database";

impl Guard {
    pub fn new(settings: &DatabaseBreakers) -> Guard {
        Guard {
            read: Breaker::for_operation(DATABASE, "read", settings.read.clone()),
            write: Breaker::for_operation(DATABASE, "write", settings.write.clone()),
        }
    }

    fn breaker(&self, access: Access) -> &Breaker {
        match access {
            Access::Read => &self.read,
            Access::Write => &self.write,
        }
    }

    /// Run `call` through the breaker of `access`: refused at once while it is open.
    pub async fn run<T>(
        &self,
        access: Access,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let breaker = self.breaker(access);
        let permit = breaker.try_acquire().map_err(|retry_in| {
            let what = match access {
                Access::Read => "reads",
                Access::Write => "writes",
            };
            StoreError::Unavailable(format!(
                "database breaker for {what} open after repeated failures; next try in {}",
                format_duration(retry_in)
            ))
        })?;
        // A call given up mid-way (a client that went away, a caller's own timeout) gives its
        // permit back: a half-open breaker must not wait forever for a probe that never answers.
        let mut pending = Pending { breaker, permit: Some(permit) };
        let started = Instant::now();
        let result = match access {
            Access::Read => {
                let limit = breaker.settings().timeout;
                match tokio::time::timeout(limit, call).await {
                    Ok(result) => result,
                    Err(_) => Err(StoreError::Unavailable(format!(
                        "database read: no answer within {}",
                        format_duration(limit)
                    ))),
                }
            }
            Access::Write => call.await,
        };
        let outcome = match &result {
            Err(e) if e.is_transient() => Outcome::Failure,
            _ => Outcome::Success,
        };
        if let Some(permit) = pending.permit.take() {
            breaker.record(permit, outcome, started.elapsed());
        }
        result
    }

    /// Both breakers as `/v1/breakers` shows them: reads, then writes.
    pub fn snapshots(&self) -> [Snapshot; 2] {
        [self.read.snapshot(), self.write.snapshot()]
    }
}

/// A permit out for a call: given back unrecorded if the call is dropped before it ends.
struct Pending<'a> {
    breaker: &'a Breaker,
    permit: Option<Permit>,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if let Some(permit) = self.permit.take() {
            self.breaker.release(permit);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::resilience::BreakerState;

    fn guard(recovery: Duration) -> Guard {
        let mut settings = crate::store::tests::breakers();
        for b in [&mut settings.read, &mut settings.write] {
            b.failure_threshold = 1;
            b.recovery_timeout = recovery;
            b.half_open_max_calls = 1;
            b.success_threshold = 1;
        }
        Guard::new(&settings)
    }

    fn down() -> StoreError {
        StoreError::Unavailable("connection refused".into())
    }

    #[tokio::test]
    async fn only_failures_of_the_database_count() {
        let g = guard(Duration::from_secs(60));
        for _ in 0..5 {
            let wrong = g.run(Access::Write, async { Err::<(), _>(StoreError::Corrupt("bad row".into())) }).await;
            assert!(matches!(wrong, Err(StoreError::Corrupt(_))));
        }
        assert_eq!(g.snapshots()[1].state, BreakerState::Closed, "a write wrong in itself says the database answered");
        assert!(g.run(Access::Write, async { Err::<(), _>(down()) }).await.is_err());
        assert_eq!(g.snapshots()[1].state, BreakerState::Open);
        assert_eq!(g.snapshots()[0].state, BreakerState::Closed, "reads have a breaker of their own");
        let mut called = false;
        let refused = g
            .run(Access::Write, async {
                called = true;
                Ok(())
            })
            .await;
        assert!(matches!(refused, Err(StoreError::Unavailable(m)) if m.contains("breaker")));
        assert!(!called, "an open breaker does not try the database");
    }

    /// A probe given up mid-way (its caller dropped it) gives its permit back: the breaker does
    /// not stay half-open with no probe left to make.
    #[tokio::test]
    async fn a_dropped_probe_leaves_room_for_the_next() {
        let g = guard(Duration::from_millis(10));
        assert!(g.run(Access::Read, async { Err::<(), _>(down()) }).await.is_err());
        tokio::time::sleep(Duration::from_millis(20)).await;
        let hung = tokio::time::timeout(
            Duration::from_millis(10),
            g.run(Access::Read, std::future::pending::<Result<(), _>>()),
        );
        assert!(hung.await.is_err(), "the probe hangs and is dropped");
        g.run(Access::Read, async { Ok(()) }).await.expect("the next call probes");
        assert_eq!(g.snapshots()[0].state, BreakerState::Closed);
    }
}
