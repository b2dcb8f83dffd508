//! Rate limiting by GCRA (the generic cell rate algorithm), several quotas at once.
//!
//! Each quota (`5/min`, `25/day`) keeps a theoretical arrival time; a call may go when every
//! quota allows it, and then it is charged to all of them together — all or nothing, so a call
//! refused by the daily quota does not also spend a per-minute cell. A short wait is taken as a
//! reservation (the slot is ours, then we sleep), so waiters do not stampede when it ends; a wait
//! longer than the caller's bound is returned instead, for the job to be deferred.
//!
//! Time is tokio's, so tests drive it with `tokio::time::pause()`.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::Quota;

pub struct Limiter {
    /// One cell per quota.
    cells: Mutex<Vec<Cell>>,
}

struct Cell {
    /// Time between calls at the sustained rate.
    interval: Duration,
    /// How far ahead of the sustained rate a burst may run (`interval × (count − 1)`).
    tolerance: Duration,
    /// Theoretical arrival time of the next call.
    tat: Option<Instant>,
}

impl Cell {
    fn wait(&self, now: Instant) -> Duration {
        match self.tat {
            Some(tat) => {
                tat.checked_sub(self.tolerance).map_or(Duration::ZERO, |allowed| allowed.saturating_duration_since(now))
            }
            None => Duration::ZERO,
        }
    }
    fn charge(&mut self, at: Instant) {
        let base = self.tat.map_or(at, |tat| tat.max(at));
        self.tat = Some(base + self.interval);
    }
}

impl Limiter {
    pub fn new(quotas: &[Quota]) -> Limiter {
        let cells = quotas
            .iter()
            .map(|q| {
                let interval = q.period / q.count.max(1);
                Cell { interval, tolerance: interval * (q.count.max(1) - 1), tat: None }
            })
            .collect();
        Limiter { cells: Mutex::new(cells) }
    }

    /// How long the next call would wait now, without taking a slot.
    pub fn wait(&self) -> Duration {
        let now = Instant::now();
        let cells = self.cells.lock().unwrap_or_else(|e| e.into_inner());
        cells.iter().map(|c| c.wait(now)).max().unwrap_or(Duration::ZERO)
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

    /// The non-sleeping half of [`Limiter::acquire`]: charge a slot at `now + wait` and return the wait.
    pub fn reserve(&self, now: Instant, max_wait: Duration) -> Result<Duration, Duration> {
        let mut cells = self.cells.lock().unwrap_or_else(|e| e.into_inner());
        let wait = cells.iter().map(|c| c.wait(now)).max().unwrap_or(Duration::ZERO);
        if wait > max_wait {
            return Err(wait);
        }
        for c in cells.iter_mut() {
            c.charge(now + wait);
        }
        Ok(wait)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(count: u32, secs: u64) -> Quota {
        Quota { count, period: Duration::from_secs(secs) }
    }

    #[test]
    fn one_per_three_seconds() {
        let l = Limiter::new(&[q(1, 3)]);
        let t0 = Instant::now();
        assert_eq!(l.reserve(t0, Duration::ZERO), Ok(Duration::ZERO));
        assert_eq!(l.reserve(t0, Duration::ZERO), Err(Duration::from_secs(3)));
        assert_eq!(l.reserve(t0 + Duration::from_secs(1), Duration::from_secs(5)), Ok(Duration::from_secs(2)));
        // That reservation holds the slot at t0+3s; the next is at t0+6s.
        assert_eq!(l.reserve(t0 + Duration::from_secs(3), Duration::ZERO), Err(Duration::from_secs(3)));
    }

    #[test]
    fn burst_then_sustained_rate() {
        let l = Limiter::new(&[q(5, 1)]);
        let t0 = Instant::now();
        for _ in 0..5 {
            assert_eq!(l.reserve(t0, Duration::ZERO), Ok(Duration::ZERO));
        }
        assert_eq!(l.reserve(t0, Duration::ZERO), Err(Duration::from_millis(200)));
        assert_eq!(l.reserve(t0 + Duration::from_millis(200), Duration::ZERO), Ok(Duration::ZERO));
    }

    #[test]
    fn all_quotas_or_none() {
        // 5/min and 6/day: after 5 calls the minute quota blocks for 12 s; the day quota must not
        // be charged by the refused call.
        let l = Limiter::new(&[q(5, 60), q(6, 86400)]);
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(l.reserve(t0, Duration::ZERO).is_ok());
        }
        assert_eq!(l.reserve(t0, Duration::ZERO), Err(Duration::from_secs(12)));
        assert_eq!(l.reserve(t0 + Duration::from_secs(12), Duration::ZERO), Ok(Duration::ZERO));
        // The sixth call spent the daily quota: the next waits about a day, which defers.
        let wait = l.reserve(t0 + Duration::from_secs(60), Duration::from_secs(30)).unwrap_err();
        assert!(wait > Duration::from_secs(3600), "{wait:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn acquire_sleeps_for_short_waits() {
        let l = Limiter::new(&[q(1, 3)]);
        let t0 = Instant::now();
        l.acquire(Duration::from_secs(5)).await.unwrap();
        l.acquire(Duration::from_secs(5)).await.unwrap();
        assert_eq!(t0.elapsed(), Duration::from_secs(3));
        assert_eq!(l.acquire(Duration::from_secs(1)).await, Err(Duration::from_secs(3)));
    }
}
