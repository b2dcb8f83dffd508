//! Rate limiting: at most `count` calls in any window of `period`, for every quota at once.
//!
//! Each quota (`10/s`, `5/min`, `25/day`) keeps the times of its last `count` calls (a sliding
//! log). A call may go when, for every quota, the `count`-th most recent call is at least
//! `period` old; it is then charged to all quotas together — all or nothing, so a call refused by
//! the daily quota does not also spend a per-minute slot. This is exact where a token bucket or
//! GCRA with a burst is not: those let `count` calls through at once and then more at the
//! sustained rate, so a one-second window can see up to twice `10/s`, which an upstream that
//! counts in windows (SEC, NCBI) answers with 429s or a block. Bursts up to the quota stay allowed.
//!
//! A short wait is taken as a reservation — the slot is ours, then we sleep — so waiters are
//! served in order and do not stampede; a wait longer than the caller's bound is returned instead,
//! for the job to be deferred. Time is tokio's, so tests drive it with `tokio::time::pause()`.
//! The fleet-wide limiter in Redis (`fleet.rs`) runs the same algorithm in a Lua script.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::Quota;

/// Longest log kept per quota; a larger quota is kept at the same rate over a shorter window.
pub const MAX_LOG: u32 = 10_000;

pub struct Limiter {
    /// One log per quota.
    logs: Mutex<Vec<Log>>,
}

struct Log {
    count: usize,
    period: Duration,
    /// Times of the last `count` calls (some may be reservations in the near future), oldest first.
    times: VecDeque<Instant>,
}

impl Log {
    /// When the next call may go, given the log alone.
    fn next_slot(&self, now: Instant) -> Instant {
        let mut at = now;
        if self.times.len() >= self.count
            && let Some(oldest) = self.times.front()
        {
            at = at.max(*oldest + self.period);
        }
        // Keep the log in order: never go before a reservation already made.
        if let Some(newest) = self.times.back() {
            at = at.max(*newest);
        }
        at
    }
    fn charge(&mut self, at: Instant) {
        self.times.push_back(at);
        while self.times.len() > self.count {
            self.times.pop_front();
        }
    }
}

/// Longest safety margin added to a quota's window.
const MAX_MARGIN: Duration = Duration::from_millis(250);

/// `quota` as enforced: its window widened by a small margin (5 %, at most 250 ms) so that
/// network jitter between our clock and the upstream's cannot squeeze `count + 1` calls into one
/// of its windows, and kept in a log of at most [`MAX_LOG`] entries (same rate, shorter window).
pub fn enforced(quota: Quota) -> Quota {
    let period = quota.period + (quota.period / 20).min(MAX_MARGIN);
    if quota.count <= MAX_LOG {
        return Quota { count: quota.count, period };
    }
    Quota { count: MAX_LOG, period: period.mul_f64(MAX_LOG as f64 / quota.count as f64) }
}

impl Limiter {
    pub fn new(quotas: &[Quota]) -> Limiter {
        let logs = quotas
            .iter()
            .map(|q| {
                let q = enforced(*q);
                Log { count: q.count.max(1) as usize, period: q.period, times: VecDeque::new() }
            })
            .collect();
        Limiter { logs: Mutex::new(logs) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Log>> {
        self.logs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Each quota's calls in its current window (reservations included) and its size: what
    /// this process has used of it.
    pub fn usage(&self) -> Vec<(usize, usize)> {
        let now = Instant::now();
        self.lock().iter().map(|l| (l.times.iter().filter(|t| **t + l.period > now).count(), l.count)).collect()
    }

    /// How long until a call could take a slot, as of now; nothing is taken.
    pub fn until_free(&self) -> Duration {
        let now = Instant::now();
        let logs = self.lock();
        logs.iter().map(|l| l.next_slot(now) - now).max().unwrap_or(Duration::ZERO)
    }

    /// Take a slot now, or reserve one and sleep until it comes when that is within `max_wait`.
    /// A longer wait is returned as `Err(wait)` and nothing is charged.
    pub async fn acquire(&self, max_wait: Duration) -> Result<(), Duration> {
        let wait = self.reserve(Instant::now(), max_wait)?;
        if !wait.is_zero() {
            metrics::histogram!("apiary_rate_limit_wait_seconds").record(wait.as_secs_f64());
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// The non-sleeping half of [`Limiter::acquire`]: charge a slot at `now + wait`, return the wait.
    pub fn reserve(&self, now: Instant, max_wait: Duration) -> Result<Duration, Duration> {
        let mut logs = self.lock();
        let at = logs.iter().map(|l| l.next_slot(now)).max().unwrap_or(now);
        let wait = at - now;
        if wait > max_wait {
            return Err(wait);
        }
        for l in logs.iter_mut() {
            l.charge(at);
        }
        Ok(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS3150: Duration = Duration::from_millis(3150);
    const MS2150: Duration = Duration::from_millis(2150);

    fn q(count: u32, secs: u64) -> Quota {
        Quota { count, period: Duration::from_secs(secs) }
    }

    #[test]
    fn one_per_three_seconds() {
        let l = Limiter::new(&[q(1, 3)]);
        let t0 = Instant::now();
        assert_eq!(l.reserve(t0, Duration::ZERO), Ok(Duration::ZERO));
        assert_eq!(l.reserve(t0, Duration::ZERO), Err(MS3150));
        assert_eq!(l.reserve(t0 + Duration::from_secs(1), Duration::from_secs(5)), Ok(MS2150));
        // That reservation holds the slot at t0+3s; the next is at t0+6s.
        assert_eq!(l.reserve(t0 + MS3150, Duration::ZERO), Err(MS3150));
    }

    #[test]
    fn a_burst_up_to_the_quota_then_never_more_than_the_quota_in_any_window() {
        let l = Limiter::new(&[q(5, 1)]);
        let t0 = Instant::now();
        let mut granted = Vec::new();
        for i in 0..40u64 {
            let now = t0 + Duration::from_millis(i * 50);
            if let Ok(wait) = l.reserve(now, Duration::ZERO) {
                granted.push(now + wait);
            }
        }
        assert_eq!(
            &granted[..5],
            &[
                t0,
                t0 + Duration::from_millis(50),
                t0 + Duration::from_millis(100),
                t0 + Duration::from_millis(150),
                t0 + Duration::from_millis(200)
            ]
        );
        for (i, t) in granted.iter().enumerate() {
            let in_window = granted[i..].iter().filter(|u| **u < *t + Duration::from_secs(1)).count();
            assert!(in_window <= 5, "{in_window} calls in the second after call {i}");
        }
        assert_eq!(granted.len(), 10, "two seconds of 5/s");
    }

    #[test]
    fn all_quotas_or_none() {
        // 5/min and 6/day: after 5 calls the minute quota blocks until t0+60.25s (60 s and its
        // margin); the day quota must not be charged by the refused call.
        let l = Limiter::new(&[q(5, 60), q(6, 86400)]);
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(l.reserve(t0, Duration::ZERO).is_ok());
        }
        assert_eq!(l.reserve(t0, Duration::ZERO), Err(Duration::from_millis(60_250)));
        assert_eq!(l.reserve(t0 + Duration::from_millis(60_250), Duration::ZERO), Ok(Duration::ZERO));
        // The sixth call spent the daily quota: the next waits about a day, which defers.
        let wait = l.reserve(t0 + Duration::from_secs(120), Duration::from_secs(30)).unwrap_err();
        assert!(wait > Duration::from_secs(80000), "{wait:?}");
    }

    #[test]
    fn huge_quotas_keep_their_rate_in_a_bounded_log_and_windows_get_a_margin() {
        let b = enforced(q(1_000_000, 1));
        assert_eq!(b.count, MAX_LOG);
        assert_eq!(b.period, Duration::from_micros(10_500));
        assert_eq!(enforced(q(1, 86400)).period, Duration::from_millis(86_400_250));
    }

    #[tokio::test(start_paused = true)]
    async fn acquire_sleeps_for_short_waits() {
        let l = Limiter::new(&[q(1, 3)]);
        let t0 = Instant::now();
        l.acquire(Duration::from_secs(5)).await.unwrap();
        l.acquire(Duration::from_secs(5)).await.unwrap();
        assert_eq!(t0.elapsed(), MS3150);
        assert_eq!(l.acquire(Duration::from_secs(1)).await, Err(MS3150));
    }
}
