//! Exponential backoff with jitter.
//!
//! Delay `n` (from 0) is drawn uniformly from `[d/2, d]` with `d = min(max, base · 2ⁿ)`
//! ("equal jitter"): spread out so that a fleet retrying together does not stampede, yet never
//! shorter than half the computed step. A `Retry-After` from the upstream replaces it.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    base: Duration,
    max: Duration,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Backoff { base, max: max.max(base) }
    }

    /// The step before jitter.
    pub fn ceiling(&self, n: u32) -> Duration {
        let factor = 1u32.checked_shl(n.min(30)).unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max)
    }

    /// The delay before retry `n + 1`.
    pub fn delay(&self, n: u32) -> Duration {
        let d = self.ceiling(n);
        let half = d / 2;
        let spread = (d - half).as_nanos() as u64;
        if spread == 0 {
            return d;
        }
        half + Duration::from_nanos(random() % (spread + 1))
    }
}

/// A random u64 from the standard library's per-hasher random keys; good enough for jitter.
fn random() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x9e37_79b9_7f4a_7c15);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_jitter_bounds_and_caps() {
        let b = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));
        for n in 0..8 {
            let ceiling = b.ceiling(n);
            assert_eq!(ceiling, Duration::from_millis(100 * (1 << n)).min(Duration::from_secs(1)));
            for _ in 0..50 {
                let d = b.delay(n);
                assert!(d >= ceiling / 2 && d <= ceiling, "delay {d:?} outside [{:?}, {ceiling:?}]", ceiling / 2);
            }
        }
        assert_eq!(b.ceiling(200), Duration::from_secs(1), "no overflow on huge attempt counts");
    }
}
