//! Fleet mode: rate limits and breakers shared by every apiary process through Redis.
//!
//! Upstreams count requests per caller, not per process: SEC allows 10/s in total, however many
//! workers we run. With `redis_url` set, each connector's quotas and breaker live in Redis and are
//! updated atomically by Lua scripts, one round trip per permit or outcome, with Redis' own clock
//! (`TIME`) so that the hosts' clocks need not agree.
//!
//! - Rate limit: the sliding log of `limiter.rs`, one Redis list per quota.
//! - Breaker: consecutive failures and a window (the last N calls, or the calls of a time span)
//!   counted fleet-wide, so it opens after the configured failures across the fleet, not N times
//!   that; every process sees the state at its next call. Half-open probes are leases (a counter
//!   with an expiry of one call timeout), so exactly `half_open_max_calls` probes run fleet-wide
//!   and a prober that dies frees its lease.
//!   Every outcome a worker sees counts, transport errors included: a connection refused by the
//!   upstream is as real for the next worker as for this one; a worker with a local network fault
//!   therefore can open the breaker for all, which errs on the side of leaving the upstream alone.
//! - Redis gone: each process falls back to its local breaker and to its share of each quota
//!   (the quota divided by `fleet.size`), says so loudly, and rejoins when Redis answers again
//!   (it tries again every few seconds).

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use redis::Script;
use redis::aio::ConnectionManager;
use tokio::time::Instant;

use super::breaker::{BreakerState, Snapshot};
use crate::config::{BreakerSettings, Quota, Window};

/// How long Redis is left alone after it failed.
const RETRY_REDIS_AFTER: Duration = Duration::from_secs(5);
/// A Redis call slower than this counts as Redis being down.
const REDIS_TIMEOUT: Duration = Duration::from_secs(2);

// The scripts, each run atomically on Redis's clock; their keys and arguments are described at
// the top of each file.
const RATE: &str = include_str!("lua/rate.lua");
const ACQUIRE: &str = include_str!("lua/acquire.lua");
const RECORD: &str = include_str!("lua/record.lua");
const RELEASE: &str = include_str!("lua/release.lua");

/// A permit from the fleet breaker.
#[derive(Debug, Clone, Copy)]
pub struct FleetPermit {
    pub probe: bool,
}

/// What the fleet said, or that Redis could not be asked.
pub type FleetResult<T> = Result<T, RedisDown>;

/// Redis did not answer; the caller falls back to local state.
#[derive(Debug, Clone, Copy)]
pub struct RedisDown;

pub struct Fleet {
    conn: ConnectionManager,
    /// Key prefix: `apiary:<queue name>:`, so deployments sharing a Redis keep apart.
    prefix: String,
    /// Redis is skipped until then, after a failure.
    down_until: Mutex<Option<Instant>>,
    /// Whether the last call found Redis down (to log the change once, loudly).
    degraded: AtomicBool,
    /// This process, for the list of live workers.
    pub member: String,
    /// The number of processes a quota is divided by while Redis is away.
    pub size: u32,
    rate: Script,
    acquire: Script,
    record: Script,
    release: Script,
}

impl Fleet {
    pub async fn connect(url: &str, namespace: &str, size: u32) -> Result<Fleet, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1);
        let conn = tokio::time::timeout(REDIS_TIMEOUT * 5, ConnectionManager::new_with_config(client, config))
            .await
            .map_err(|_| redis::RedisError::from((redis::ErrorKind::Io, "no answer from Redis")))??;
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
        // Exported from the start, so that an alert on it has a series to watch before Redis first fails.
        metrics::gauge!("apiary_fleet_degraded").set(0.0);
        Ok(Fleet {
            conn,
            prefix: format!("apiary:{namespace}:"),
            down_until: Mutex::new(None),
            degraded: AtomicBool::new(false),
            member: format!("{host}-{}-{}", std::process::id(), &uuid::Uuid::new_v4().simple().to_string()[..6]),
            size: size.max(1),
            rate: Script::new(RATE),
            acquire: Script::new(ACQUIRE),
            record: Script::new(RECORD),
            release: Script::new(RELEASE),
        })
    }

    fn key(&self, parts: &[&str]) -> String {
        let mut k = self.prefix.clone();
        k.push_str(&parts.join(":"));
        k
    }

    /// Whether Redis may be asked now.
    fn usable(&self) -> bool {
        let down = self.down_until.lock().unwrap_or_else(|e| e.into_inner());
        down.is_none_or(|until| Instant::now() >= until)
    }

    fn went_down(&self, what: &str, e: &dyn std::fmt::Display) {
        *self.down_until.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now() + RETRY_REDIS_AFTER);
        if !self.degraded.swap(true, Ordering::SeqCst) {
            tracing::error!(error = %e, during = what, fleet_size = self.size,
                "Redis unavailable: using local breakers and 1/{} of each quota until it returns", self.size);
            metrics::gauge!("apiary_fleet_degraded").set(1.0);
        }
    }

    fn came_back(&self) {
        if self.degraded.swap(false, Ordering::SeqCst) {
            tracing::warn!("Redis is back: rejoined fleet-wide limits and breakers");
            metrics::gauge!("apiary_fleet_degraded").set(0.0);
        }
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        what: &str,
        invocation: redis::ScriptInvocation<'_>,
    ) -> FleetResult<T> {
        if !self.usable() {
            return Err(RedisDown);
        }
        let mut conn = self.conn.clone();
        match tokio::time::timeout(REDIS_TIMEOUT, invocation.invoke_async(&mut conn)).await {
            Ok(Ok(v)) => {
                self.came_back();
                Ok(v)
            }
            Ok(Err(e)) => {
                self.went_down(what, &e);
                Err(RedisDown)
            }
            Err(_) => {
                self.went_down(what, &"timed out");
                Err(RedisDown)
            }
        }
    }

    /// A slot of every quota of `connector`, now or after a wait within `max_wait`;
    /// `Ok(Err(wait))` when the wait is longer (nothing charged).
    pub async fn rate(
        &self,
        connector: &str,
        quotas: &[Quota],
        max_wait: Duration,
    ) -> FleetResult<Result<Duration, Duration>> {
        let mut inv = self.rate.prepare_invoke();
        inv.arg(max_wait.as_millis() as u64);
        for (i, q) in quotas.iter().enumerate() {
            let q = super::limiter::enforced(*q);
            inv.key(self.key(&["rl", connector, &i.to_string()]));
            inv.arg(q.count).arg(q.period.as_millis().max(1) as u64);
        }
        let (granted, wait): (i64, i64) = self.run("rate limit", inv).await?;
        let wait = Duration::from_millis(wait.max(0) as u64);
        Ok(if granted == 1 { Ok(wait) } else { Err(wait) })
    }

    /// Leave to call `connector`, or the wait until a call may be tried.
    pub async fn acquire(&self, connector: &str, s: &BreakerSettings) -> FleetResult<Result<FleetPermit, Duration>> {
        let mut inv = self.acquire.prepare_invoke();
        inv.key(self.key(&["breaker", connector])).key(self.key(&["breaker", connector, "probes"]));
        inv.arg(s.half_open_max_calls).arg(s.timeout.as_millis().max(1) as u64 + 1000);
        let (allowed, wait, probe): (i64, i64, i64) = self.run("breaker", inv).await?;
        Ok(if allowed == 1 {
            Ok(FleetPermit { probe: probe == 1 })
        } else {
            Err(Duration::from_millis(wait.max(0) as u64))
        })
    }

    /// Count an outcome; returns the state after it when this outcome changed it.
    pub async fn record(
        &self,
        connector: &str,
        s: &BreakerSettings,
        permit: FleetPermit,
        failed: bool,
    ) -> FleetResult<Option<BreakerState>> {
        let mut inv = self.record.prepare_invoke();
        inv.key(self.key(&["breaker", connector]))
            .key(self.key(&["breaker", connector, "probes"]))
            .key(self.key(&["breaker", connector, "window"]));
        inv.arg(u8::from(failed))
            .arg(u8::from(permit.probe))
            .arg(s.failure_threshold)
            .arg(s.failure_rate_threshold)
            .arg(s.minimum_calls)
            .arg(window_size(s))
            .arg(s.recovery_timeout.as_millis() as u64)
            .arg(s.success_threshold)
            .arg(window_span_ms(s));
        let (state, changed): (String, i64) = self.run("breaker", inv).await?;
        Ok((changed == 1).then(|| BreakerState::parse(&state).unwrap_or(BreakerState::Closed)))
    }

    /// The fleet-wide state of `connector`'s breaker, whose settings are `s`.
    pub async fn snapshot(&self, connector: &str, s: &BreakerSettings) -> FleetResult<Snapshot> {
        if !self.usable() {
            return Err(RedisDown);
        }
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.cmd("HGETALL").arg(self.key(&["breaker", connector]));
        pipe.cmd("LRANGE").arg(self.key(&["breaker", connector, "window"])).arg(0).arg(-1);
        pipe.cmd("TIME");
        let (hash, window, time): (std::collections::HashMap<String, String>, Vec<String>, (i64, i64)) =
            match tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async(&mut conn)).await {
                Ok(Ok(v)) => v,
                Ok(Err(e)) => {
                    self.went_down("breaker snapshot", &e);
                    return Err(RedisDown);
                }
                Err(_) => {
                    self.went_down("breaker snapshot", &"timed out");
                    return Err(RedisDown);
                }
            };
        let now = time.0 * 1000 + time.1 / 1000;
        // An operator's hold; its field is named `forced`, as the scripts and every process of
        // the fleet, older releases too, read it.
        let held = hash.get("forced").and_then(|f| BreakerState::parse(f));
        let mut state = hash.get("state").and_then(|s| BreakerState::parse(s)).unwrap_or(BreakerState::Closed);
        let until: Option<i64> = hash.get("until").and_then(|u| u.parse().ok());
        if state == BreakerState::Open && held.is_none() && until.is_some_and(|u| now >= u) {
            state = BreakerState::HalfOpen;
        }
        let horizon = match window_span_ms(s) {
            0 => None,
            span => Some(now.saturating_sub(span as i64)),
        };
        let (calls, failures) = window_counts(&window, horizon);
        let ms = |v: i64| Utc.timestamp_millis_opt(v).single();
        Ok(Snapshot {
            connector: connector.to_owned(),
            operation: None,
            state,
            failure_rate: if calls == 0 { 0.0 } else { (failures as f64 * 1000.0 / calls as f64).round() / 10.0 },
            calls,
            failures,
            consecutive_failures: hash.get("consecutive").and_then(|c| c.parse().ok()).unwrap_or(0),
            opened_at: hash.get("opened_at").and_then(|v| v.parse().ok()).and_then(ms),
            retry_at: (state == BreakerState::Open).then(|| until.and_then(ms)).flatten(),
            held,
        })
    }

    /// Hold the fleet's breaker open or closed, or release it with `None` (a breaker held open
    /// then probes at its next call, one held closed stays closed).
    pub async fn hold(&self, connector: &str, state: Option<BreakerState>) -> FleetResult<()> {
        let key = self.key(&["breaker", connector]);
        let Some(s) = state else {
            let mut inv = self.release.prepare_invoke();
            inv.key(&key);
            return self.run::<i64>("release breaker", inv).await.map(drop);
        };
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        pipe.cmd("HSET").arg(&key).arg("forced").arg(s.as_str()).arg("state").arg(s.as_str());
        if s == BreakerState::Open {
            let now = Utc::now().timestamp_millis();
            pipe.cmd("HSET").arg(&key).arg("until").arg(now + 365 * 86_400_000).arg("opened_at").arg(now);
        }
        match tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async::<()>(&mut conn)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => {
                self.went_down("hold breaker", &e);
                Err(RedisDown)
            }
            Err(_) => Err(RedisDown),
        }
    }

    /// Say this process is alive (called every few seconds by workers).
    pub async fn heartbeat(&self, role: &str) {
        let mut conn = self.conn.clone();
        let key = self.key(&["members"]);
        let now = Utc::now().timestamp_millis();
        let mut pipe = redis::pipe();
        pipe.cmd("HSET").arg(&key).arg(&self.member).arg(format!("{now} {role}"));
        // Forget members silent for a minute.
        let _ = tokio::time::timeout(REDIS_TIMEOUT, pipe.query_async::<()>(&mut conn)).await;
        let _ = self.members().await;
    }

    /// Processes seen in the last 15 s: (member, role, last seen).
    pub async fn members(&self) -> FleetResult<Vec<(String, String, DateTime<Utc>)>> {
        let mut conn = self.conn.clone();
        let key = self.key(&["members"]);
        let all: std::collections::HashMap<String, String> =
            match tokio::time::timeout(REDIS_TIMEOUT, redis::cmd("HGETALL").arg(&key).query_async(&mut conn)).await {
                Ok(Ok(v)) => v,
                _ => return Err(RedisDown),
            };
        let now = Utc::now().timestamp_millis();
        let mut alive = Vec::new();
        for (member, v) in all {
            let (ts, role) = v.split_once(' ').unwrap_or((&v, "worker"));
            let ts: i64 = ts.parse().unwrap_or(0);
            if now - ts > 60_000 {
                let _: Result<(), _> = redis::cmd("HDEL").arg(&key).arg(&member).query_async(&mut conn).await;
            } else if now - ts <= 15_000 {
                alive.push((member, role.to_owned(), Utc.timestamp_millis_opt(ts).single().unwrap_or_default()));
            }
        }
        alive.sort();
        Ok(alive)
    }
}

/// Most calls the fleet window keeps: all of a count window; for a time window a bound on the
/// list's memory, far above any upstream's calls in one breaker window.
fn window_size(s: &BreakerSettings) -> u32 {
    match s.window {
        Window::Count(n) => n.max(1),
        Window::Time(_) => TIME_WINDOW_MAX_CALLS.max(s.minimum_calls),
    }
}

const TIME_WINDOW_MAX_CALLS: u32 = 10_000;

/// The span of a time window in milliseconds; 0 for a count window.
fn window_span_ms(s: &BreakerSettings) -> u64 {
    match s.window {
        Window::Count(_) => 0,
        Window::Time(d) => d.as_millis().clamp(1, i64::MAX as u128) as u64,
    }
}

/// Calls and failures among window entries (`<ms>:<1|0>`; older releases stored a bare `1`/`0`),
/// for a time window only those from `horizon` on (ms on Redis' clock), as the script keeps.
fn window_counts(entries: &[String], horizon: Option<i64>) -> (u32, u32) {
    let (mut calls, mut failures) = (0, 0);
    for e in entries {
        let at = || e.split_once(':').and_then(|(at, _)| at.parse::<i64>().ok()).unwrap_or(0);
        if horizon.is_some_and(|h| at() < h) {
            continue;
        }
        calls += 1;
        failures += u32::from(e.ends_with('1'));
    }
    (calls, failures)
}

/// A quota as one process's share of it while the fleet cannot be asked.
pub fn share(q: Quota, size: u32) -> Quota {
    let size = size.max(1);
    let count = (q.count / size).max(1);
    Quota { count, period: q.period.mul_f64(count as f64 * size as f64 / q.count as f64) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_entries_count_by_age_only_in_a_time_window() {
        let entries: Vec<String> = ["2000:1", "1500:0", "1000:1", "1", "0"].map(String::from).into();
        assert_eq!(window_counts(&entries, None), (5, 3), "a count window counts every entry");
        assert_eq!(window_counts(&entries, Some(1500)), (2, 1), "an entry exactly at the horizon stays");
        assert_eq!(window_counts(&entries, Some(1)), (3, 2), "entries without a time leave a time window");
    }

    #[test]
    fn a_share_keeps_a_fraction_of_the_rate() {
        let q = share(Quota { count: 10, period: Duration::from_secs(1) }, 3);
        assert_eq!(q.count, 3);
        assert_eq!(q.period, Duration::from_millis(900));
        let q = share(Quota { count: 1, period: Duration::from_secs(3) }, 3);
        assert_eq!((q.count, q.period), (1, Duration::from_secs(9)));
    }
}
