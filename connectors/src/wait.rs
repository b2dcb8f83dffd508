//! Waits an upstream asks for (`Retry-After`, `x-ratelimit-reset`, "please wait N seconds"), read
//! from text that the upstream controls.
//!
//! The worker adds such a wait to the current time to schedule the next attempt, and chrono
//! panics when that sum overflows (`Retry-After: 18446744073709551615` did). So every wait read
//! here is bounded by [`MAX_RETRY_AFTER`], with checked arithmetic on the way: a number too large
//! for any integer type is the longest wait, not an error, as RFC 9111 §1.2.2 asks of caches
//! meeting an oversized delta-seconds. Negative, NaN, infinite and non-numeric values are no wait
//! at all (`None`); a date already past is a wait of zero.

use std::time::Duration;

use chrono::{DateTime, Utc};

/// The longest wait apiary takes from an upstream: one day, the period of the longest quota
/// windows upstreams reset (Alpha Vantage's and NewsAPI's daily limits). Any wait read from a
/// response is clamped to it, so a caller may add it to any present-day time without overflow.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// `d`, at most [`MAX_RETRY_AFTER`].
pub fn clamp(d: Duration) -> Duration {
    d.min(MAX_RETRY_AFTER)
}

/// Whole seconds (`Retry-After`'s delta-seconds: ASCII digits only, no sign), clamped. Digits
/// beyond `u64` are the longest wait.
pub fn delta_seconds(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(text.parse::<u64>().map_or(MAX_RETRY_AFTER, |secs| clamp(Duration::from_secs(secs))))
}

/// Seconds that may be fractional (`244`, `244.0`, `1.5`), rounded up to whole seconds, clamped.
pub fn seconds(text: &str) -> Option<Duration> {
    let secs: f64 = text.trim().parse().ok()?;
    if !secs.is_finite() || secs < 0.0 {
        return None;
    }
    // `try_from_secs_f64` refuses what does not fit a `Duration`; that much is the longest wait.
    Some(Duration::try_from_secs_f64(secs.ceil()).map_or(MAX_RETRY_AFTER, clamp))
}

/// The wait from `now` until `at`: zero when `at` is past, clamped.
pub fn until(at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    // The difference of two chrono datetimes always fits a `TimeDelta`; only its sign may keep
    // it from being a `Duration`.
    at.signed_duration_since(now).to_std().map_or(Duration::ZERO, clamp)
}

/// An HTTP date (IMF-fixdate, also read as RFC 2822) as a wait from `now`, clamped.
pub fn until_http_date(text: &str, now: DateTime<Utc>) -> Option<Duration> {
    let at = DateTime::parse_from_rfc2822(text.trim()).ok()?;
    Some(until(at.with_timezone(&Utc), now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_numbers_are_the_longest_wait() {
        for huge in ["10000000000000", "18446744073709551615", "99999999999999999999999"] {
            assert_eq!(delta_seconds(huge), Some(MAX_RETRY_AFTER), "{huge}");
            assert_eq!(seconds(huge), Some(MAX_RETRY_AFTER), "{huge}");
        }
        assert_eq!(seconds("1e300"), Some(MAX_RETRY_AFTER));
        assert_eq!(delta_seconds("1e300"), None, "not delta-seconds");
        assert_eq!(delta_seconds("86401"), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn valid_values_keep_their_meaning() {
        assert_eq!(delta_seconds(" 120 "), Some(Duration::from_secs(120)));
        assert_eq!(delta_seconds("0"), Some(Duration::ZERO));
        assert_eq!(seconds("244"), Some(Duration::from_secs(244)));
        assert_eq!(seconds("1.2"), Some(Duration::from_secs(2)), "rounded up");
        assert_eq!(delta_seconds("86400"), Some(MAX_RETRY_AFTER));
    }

    #[test]
    fn negative_nan_infinite_and_words_are_no_wait() {
        for bad in ["-5", "-0.5", "NaN", "nan", "inf", "-inf", "infinity", "", "soon", "+5", "5s"] {
            assert_eq!(delta_seconds(bad), None, "{bad}");
            if !matches!(bad, "+5") {
                assert_eq!(seconds(bad), None, "{bad}");
            }
        }
    }

    #[test]
    fn dates_far_ahead_are_clamped_and_past_ones_are_zero() {
        let now = Utc::now();
        assert_eq!(until_http_date("Fri, 31 Dec 9999 23:59:59 GMT", now), Some(MAX_RETRY_AFTER));
        assert_eq!(until_http_date("Wed, 21 Oct 2015 07:28:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(until_http_date("not a date", now), None);
        let soon = now + chrono::TimeDelta::seconds(90);
        assert_eq!(until(soon, now), Duration::from_secs(90));
        assert_eq!(until(DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MIN_UTC), MAX_RETRY_AFTER);
        assert_eq!(until(DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC), Duration::ZERO);
    }
}
