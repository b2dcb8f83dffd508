//! [`Stack::call`]'s steps on paused time: what is admitted, what waits in place, what defers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use apiary_connectors::ConnectorError;

use super::Stack;
use crate::config::Config;
use crate::resilience::{BreakerState, CallError};

/// Arxiv's stack with `env` on top of the defaults; no fleet.
fn stack(env: &[(&str, &str)]) -> Stack {
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
    let config = Config::load_with(&[], env).expect("config");
    Stack::new("arxiv", &[], config.connector("arxiv").unwrap(), &config.fetch, None)
}

/// A call that counts its attempts and answers each with what `answer` makes of its number.
fn counted<F>(calls: &Arc<AtomicU32>, answer: F) -> impl FnMut() -> std::future::Ready<Result<u32, ConnectorError>>
where
    F: Fn(u32) -> Result<u32, ConnectorError>,
{
    let calls = calls.clone();
    move || std::future::ready(answer(calls.fetch_add(1, Ordering::SeqCst) + 1))
}

/// A stack whose breaker one failure opens, that is half-open a second later and that one good
/// probe closes, with `env` on top; opened and then half-open, as of return.
async fn half_open(calls: &Arc<AtomicU32>, env: &[(&str, &str)]) -> Stack {
    let mut all = vec![
        ("APIARY_CONNECTORS__ARXIV__BREAKER__FAILURE_THRESHOLD", "1"),
        ("APIARY_CONNECTORS__ARXIV__BREAKER__RECOVERY_TIMEOUT", "1s"),
        ("APIARY_CONNECTORS__ARXIV__BREAKER__SUCCESS_THRESHOLD", "1"),
        ("APIARY_FETCH__MAX_ATTEMPTS", "1"),
    ];
    all.extend_from_slice(env);
    let stack = stack(&all);
    let r = stack.call("query", counted(calls, |_| Err(ConnectorError::transient("down")))).await;
    assert!(matches!(r, Err(CallError::Failed(_))), "{r:?}");
    tokio::time::advance(Duration::from_secs(2)).await;
    stack
}

#[tokio::test(start_paused = true)]
async fn an_open_breaker_defers_without_calling() {
    let stack = stack(&[
        ("APIARY_CONNECTORS__ARXIV__BREAKER__FAILURE_THRESHOLD", "2"),
        ("APIARY_CONNECTORS__ARXIV__BREAKER__RECOVERY_TIMEOUT", "60s"),
        ("APIARY_CONNECTORS__ARXIV__RATE_LIMIT", "1000/s"),
        ("APIARY_FETCH__MAX_ATTEMPTS", "1"),
    ]);
    let calls = Arc::new(AtomicU32::new(0));
    for _ in 0..2 {
        let r = stack.call("query", counted(&calls, |_| Err(ConnectorError::transient("down")))).await;
        assert!(matches!(r, Err(CallError::Failed(_))), "{r:?}");
    }
    assert_eq!(stack.breaker(None).unwrap().state(), BreakerState::Open);
    let r = stack.call("query", counted(&calls, Ok)).await;
    match r {
        Err(CallError::Deferred { wait, reason }) => {
            assert!(wait > Duration::from_secs(59) && wait <= Duration::from_secs(60), "{wait:?}");
            assert!(reason.contains("breaker is open"), "{reason}");
        }
        other => panic!("expected a deferral, got {other:?}"),
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2, "the open breaker let a call through");
    // Once the recovery time has passed, a probe goes through and closes it again.
    tokio::time::advance(Duration::from_secs(61)).await;
    let r = stack.call("query", counted(&calls, Ok)).await;
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_within_max_wait_is_waited_in_place() {
    let stack = stack(&[("APIARY_FETCH__MAX_WAIT", "30s"), ("APIARY_CONNECTORS__ARXIV__RATE_LIMIT", "1000/s")]);
    let calls = Arc::new(AtomicU32::new(0));
    let began = tokio::time::Instant::now();
    let r = stack
        .call(
            "query",
            counted(&calls, |n| match n {
                1 => Err(ConnectorError::rate_limited("429").with_retry_after(Some(Duration::from_secs(20)))),
                n => Ok(n),
            }),
        )
        .await;
    assert_eq!(r.unwrap(), 2);
    assert!(began.elapsed() >= Duration::from_secs(20), "the asked-for wait was not taken: {:?}", began.elapsed());
    assert!(began.elapsed() < Duration::from_secs(21), "waited longer than asked: {:?}", began.elapsed());
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_beyond_max_wait_defers() {
    let stack = stack(&[("APIARY_FETCH__MAX_WAIT", "30s"), ("APIARY_CONNECTORS__ARXIV__RATE_LIMIT", "1000/s")]);
    let calls = Arc::new(AtomicU32::new(0));
    let began = tokio::time::Instant::now();
    let asked = Duration::from_secs(120);
    let r = stack
        .call("query", counted(&calls, |_| Err(ConnectorError::rate_limited("429").with_retry_after(Some(asked)))))
        .await;
    match r {
        Err(CallError::Deferred { wait, reason }) => {
            assert_eq!(wait, asked);
            assert!(reason.contains("asked us to wait"), "{reason}");
        }
        other => panic!("expected a deferral, got {other:?}"),
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "retried although the wait was too long to take here");
    assert!(began.elapsed() < Duration::from_secs(1), "the worker was held: {:?}", began.elapsed());
}

#[tokio::test(start_paused = true)]
async fn a_timeout_counts_as_a_failure() {
    let stack = stack(&[
        ("APIARY_CONNECTORS__ARXIV__BREAKER__TIMEOUT", "5s"),
        ("APIARY_CONNECTORS__ARXIV__BREAKER__FAILURE_THRESHOLD", "2"),
        ("APIARY_CONNECTORS__ARXIV__RATE_LIMIT", "1000/s"),
        ("APIARY_FETCH__MAX_ATTEMPTS", "1"),
    ]);
    let calls = Arc::new(AtomicU32::new(0));
    for round in 1..=2 {
        let began = tokio::time::Instant::now();
        let calls = calls.clone();
        let r = stack
            .call("query", move || {
                calls.fetch_add(1, Ordering::SeqCst);
                async {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Ok::<u32, ConnectorError>(0)
                }
            })
            .await;
        match r {
            Err(CallError::Failed(e)) => assert!(e.message.contains("no answer within 5s"), "{e}"),
            other => panic!("round {round}: expected a failure, got {other:?}"),
        }
        assert_eq!(began.elapsed(), Duration::from_secs(5), "round {round}: the call was not cut off at its timeout");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(stack.breaker(None).unwrap().state(), BreakerState::Open, "two timeouts must open the breaker");
}

#[tokio::test(start_paused = true)]
async fn a_spent_quota_defers_and_gives_the_breaker_permit_back() {
    let calls = Arc::new(AtomicU32::new(0));
    // The call that opens the breaker spends the quota's one call a minute.
    let stack =
        half_open(&calls, &[("APIARY_CONNECTORS__ARXIV__RATE_LIMIT", "1/min"), ("APIARY_FETCH__MAX_WAIT", "5s")]).await;
    // The probe is admitted, but the quota's one call a minute is spent: deferred, not called.
    match stack.call("query", counted(&calls, Ok)).await {
        Err(CallError::Deferred { wait, reason }) => {
            assert!(wait > Duration::from_secs(5), "{wait:?}");
            assert!(reason.contains("rate limit"), "{reason}");
        }
        other => panic!("expected a deferral, got {other:?}"),
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // The probe's permit came back: once the quota has room, a probe is admitted again.
    tokio::time::advance(Duration::from_secs(60)).await;
    assert!(stack.call("query", counted(&calls, Ok)).await.is_ok());
    assert_eq!(stack.breaker(None).unwrap().state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_call_dropped_midway_gives_its_probe_slot_back() {
    let calls = Arc::new(AtomicU32::new(0));
    let stack = half_open(&calls, &[("APIARY_CONNECTORS__ARXIV__RATE_LIMIT", "1000/s")]).await;
    // The half-open breaker's one probe is cut off midway (its job dropped, as at shutdown).
    let hanging = stack.call("query", || async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok::<u32, ConnectorError>(0)
    });
    assert!(tokio::time::timeout(Duration::from_secs(1), hanging).await.is_err());
    // Its slot came back: the next call is the probe, and closes the breaker.
    assert_eq!(stack.call("query", counted(&calls, Ok)).await.unwrap(), 2);
    assert_eq!(stack.breaker(None).unwrap().state(), BreakerState::Closed);
}
