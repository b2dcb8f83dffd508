//! Breaker transitions, driven with paused tokio time.

use std::time::Duration;

use super::*;

fn settings() -> BreakerSettings {
    BreakerSettings {
        failure_threshold: 3,
        failure_rate_threshold: 50.0,
        minimum_calls: 10,
        window: Window::Count(10),
        slow_call_threshold: Duration::from_secs(2),
        timeout: Duration::from_secs(5),
        recovery_timeout: Duration::from_secs(30),
        success_threshold: 2,
        half_open_max_calls: 1,
        per_operation: false,
    }
}

fn call(b: &Breaker, outcome: Outcome) {
    let p = b.try_acquire().expect("call allowed");
    b.record(p, outcome, Duration::from_millis(10));
}

#[tokio::test(start_paused = true)]
async fn opens_after_consecutive_failures_and_rejects_with_time_left() {
    let b = Breaker::new("t", settings());
    call(&b, Outcome::Failure);
    call(&b, Outcome::Failure);
    call(&b, Outcome::Success);
    call(&b, Outcome::Failure);
    call(&b, Outcome::Failure);
    assert_eq!(b.state(), BreakerState::Closed, "a success resets the consecutive count");
    call(&b, Outcome::Failure);
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(b.try_acquire().unwrap_err(), Duration::from_secs(30));
    tokio::time::advance(Duration::from_secs(10)).await;
    assert_eq!(b.try_acquire().unwrap_err(), Duration::from_secs(20));
    let snap = b.snapshot();
    assert!(snap.opened_at.is_some() && snap.retry_at.is_some());
}

#[tokio::test(start_paused = true)]
async fn half_open_without_traffic_then_closes_after_successes() {
    let b = Breaker::new("t", settings());
    for _ in 0..3 {
        call(&b, Outcome::Failure);
    }
    tokio::time::advance(Duration::from_secs(30)).await;
    assert_eq!(b.state(), BreakerState::HalfOpen, "recovery needs no traffic");
    let probe = b.try_acquire().unwrap();
    assert!(b.try_acquire().is_err(), "one probe at a time");
    b.record(probe, Outcome::Success, Duration::from_millis(5));
    assert_eq!(b.state(), BreakerState::HalfOpen, "success_threshold is 2");
    call(&b, Outcome::Success);
    assert_eq!(b.state(), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn failed_probe_reopens_for_a_full_recovery_timeout() {
    let b = Breaker::new("t", settings());
    for _ in 0..3 {
        call(&b, Outcome::Failure);
    }
    tokio::time::advance(Duration::from_secs(31)).await;
    call(&b, Outcome::Failure);
    assert_eq!(b.state(), BreakerState::Open);
    assert_eq!(b.try_acquire().unwrap_err(), Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn failure_rate_over_the_window_opens() {
    let mut s = settings();
    s.failure_threshold = 100;
    let b = Breaker::new("t", s);
    for i in 0..10 {
        call(&b, if i % 2 == 1 { Outcome::Failure } else { Outcome::Success });
    }
    assert_eq!(b.state(), BreakerState::Open, "5 of 10 failed, threshold 50 %");
}

#[tokio::test(start_paused = true)]
async fn slow_successes_count_as_failures_and_ignored_do_not_count() {
    let b = Breaker::new("t", settings());
    for _ in 0..5 {
        let p = b.try_acquire().unwrap();
        b.record(p, Outcome::Ignored, Duration::ZERO);
    }
    assert_eq!(b.state(), BreakerState::Closed);
    assert_eq!(b.snapshot().calls, 0);
    for _ in 0..3 {
        let p = b.try_acquire().unwrap();
        b.record(p, Outcome::Success, Duration::from_secs(3));
    }
    assert_eq!(b.state(), BreakerState::Open, "three slow calls in a row");
}

#[tokio::test(start_paused = true)]
async fn restore_keeps_an_open_breaker_open() {
    let b = Breaker::new("t", settings());
    for _ in 0..3 {
        call(&b, Outcome::Failure);
    }
    let snap = b.snapshot();
    let fresh = Breaker::new("t", settings());
    fresh.restore(&snap);
    assert_eq!(fresh.state(), BreakerState::Open);
    assert!(fresh.try_acquire().is_err());
}

#[tokio::test(start_paused = true)]
async fn held_states_last_until_released() {
    let b = Breaker::new("t", settings());
    b.hold(Some(BreakerState::Open));
    assert!(b.try_acquire().is_err());
    tokio::time::advance(Duration::from_secs(120)).await;
    assert!(b.try_acquire().is_err(), "held open ignores the recovery timeout");
    b.hold(Some(BreakerState::Closed));
    for _ in 0..5 {
        call(&b, Outcome::Failure);
    }
    assert_eq!(b.state(), BreakerState::Closed, "held closed ignores failures");
    b.hold(None);
    assert_eq!(b.snapshot().held, None);
    assert_eq!(b.state(), BreakerState::Closed, "released from a closed hold: closed");
    b.hold(Some(BreakerState::Open));
    b.hold(None);
    assert_eq!(b.state(), BreakerState::HalfOpen, "released from an open hold: probes at once");
    let probe = b.try_acquire().expect("a probe");
    b.record(probe, Outcome::Success, Duration::ZERO);
}
