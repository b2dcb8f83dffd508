//! Fleet mode with real processes: three `apiary worker` binaries on one Postgres and one Redis
//! share one upstream quota and one breaker.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use apiary::app::{App, Question};
use apiary::config::Config;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::helpers::{fixture, fresh_postgres};

/// Answers every request with `template`, noting when it came.
struct Stamped {
    seen: Arc<Mutex<Vec<Instant>>>,
    template: ResponseTemplate,
}

impl Respond for Stamped {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        self.seen.lock().unwrap().push(Instant::now());
        self.template.clone()
    }
}

struct Fleet {
    env: Vec<(String, String)>,
    workers: Vec<Child>,
    app: Arc<App>,
    /// Fleet tests time their calls: they have the machine to themselves.
    _alone: tokio::sync::OwnedRwLockWriteGuard<()>,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for w in &mut self.workers {
            let _ = w.kill();
            let _ = w.wait();
        }
    }
}

async fn fleet(upstream: &MockServer, extra: &[(&str, &str)]) -> Fleet {
    let alone = crate::helpers::exclusive().await;
    apiary::install_tls();
    let redis = std::env::var("APIARY_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    let mut env: Vec<(String, String)> = vec![
        ("APIARY_DATABASE_URL".into(), fresh_postgres().await),
        ("APIARY_QUEUE__BACKEND".into(), "redis".into()),
        ("APIARY_REDIS_URL".into(), redis),
        ("APIARY_QUEUE__NAME".into(), format!("fleet-{}", uuid::Uuid::new_v4().simple())),
        ("APIARY_QUEUE__CONCURRENCY".into(), "4".into()),
        ("APIARY_CONNECTORS__ARXIV__BASE_URL".into(), upstream.uri()),
        ("APIARY_FLEET__SIZE".into(), "3".into()),
    ];
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let config = Config::load_with(&[], env.clone()).unwrap();
    let app = App::start(config).await.unwrap();
    Fleet { env, workers: Vec::new(), app, _alone: alone }
}

impl Fleet {
    fn start_workers(&mut self, n: usize) {
        for _ in 0..n {
            let child = Command::new(env!("CARGO_BIN_EXE_apiary"))
                .arg("worker")
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("RUST_LOG", "warn")
                .envs(self.env.iter().cloned())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start a worker process");
            self.workers.push(child);
        }
    }

    async fn enqueue(&self, n: usize) {
        for i in 0..n {
            let params = [("search_query".to_string(), format!("all:q{i}"))].into_iter().collect();
            let q = Question::new("arxiv", params).unwrap();
            self.app.enqueue(&q).await.unwrap();
        }
    }

    /// Every worker process is still running (none was refused by the queue or crashed).
    fn assert_alive(&mut self) {
        for (i, w) in self.workers.iter_mut().enumerate() {
            assert!(w.try_wait().unwrap().is_none(), "worker {i} exited: {:?}", w.try_wait());
        }
    }

    async fn count(&self, status: &str) -> i64 {
        let counts = self.app.store().job_counts().await.unwrap();
        counts.iter().find(|(s, _)| s == status).map_or(0, |(_, n)| *n)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_keep_one_quota_together_and_use_it() {
    let upstream = MockServer::start().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let body = fixture("arxiv/id_list_1605.08386_single_entry_success.xml");
    Mock::given(wiremock::matchers::any())
        .respond_with(Stamped {
            seen: seen.clone(),
            template: ResponseTemplate::new(200).set_body_raw(body, "application/atom+xml"),
        })
        .mount(&upstream)
        .await;
    let mut fleet = fleet(&upstream, &[("APIARY_CONNECTORS__ARXIV__RATE_LIMIT", "5/s")]).await;
    fleet.enqueue(100).await;
    fleet.start_workers(3);
    let deadline = Instant::now() + Duration::from_secs(90);
    while fleet.count("succeeded").await < 100 {
        assert!(Instant::now() < deadline, "jobs: {:?}", fleet.app.store().job_counts().await.unwrap());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    fleet.assert_alive();
    let mut times = seen.lock().unwrap().clone();
    times.sort();
    assert_eq!(times.len(), 100, "one request per job");
    let mut worst = 0;
    for (i, t) in times.iter().enumerate() {
        let in_window = times[i..].iter().take_while(|u| u.duration_since(*t) < Duration::from_secs(1)).count();
        worst = worst.max(in_window);
    }
    assert!(worst <= 5, "{worst} requests in one second at a 5/s quota");
    // 100 calls at 5/s: 19 s from the first to the last, and no more than 10 % over.
    let span = times[99].duration_since(times[0]);
    assert!(span <= Duration::from_millis(20_900), "the fleet took {span:?} for 100 calls at 5/s");
    assert!(span >= Duration::from_secs(19), "{span:?} is faster than the quota allows");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_workers_share_one_breaker() {
    let upstream = MockServer::start().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    Mock::given(wiremock::matchers::any())
        .respond_with(Stamped { seen: seen.clone(), template: ResponseTemplate::new(503) })
        .mount(&upstream)
        .await;
    let mut fleet = fleet(
        &upstream,
        &[
            ("APIARY_CONNECTORS__ARXIV__RATE_LIMIT", "1000/s"),
            ("APIARY_CONNECTORS__ARXIV__BREAKER__FAILURE_THRESHOLD", "3"),
            ("APIARY_CONNECTORS__ARXIV__BREAKER__RECOVERY_TIMEOUT", "3s"),
            ("APIARY_QUEUE__CONCURRENCY", "2"),
            ("APIARY_FETCH__MAX_ATTEMPTS", "1"),
        ],
    )
    .await;
    fleet.enqueue(30).await;
    fleet.start_workers(3);
    // Wait for the breaker to open, then for every worker to have stopped calling.
    let deadline = Instant::now() + Duration::from_secs(30);
    while fleet.app.breakers().get("arxiv", None).await.unwrap().state.as_str() != "open" {
        assert!(Instant::now() < deadline, "breaker never opened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let at_open = seen.lock().unwrap().len();
    // At most the threshold plus the calls already in flight (3 workers × 2).
    assert!(at_open <= 3 + 6, "{at_open} calls reached a failing upstream before the fleet stopped");
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let later = seen.lock().unwrap().len();
    assert!(later - at_open <= 6, "{} calls while the fleet breaker was open", later - at_open);
    // After the recovery timeout, one probe at a time: probes fail and reopen it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let after_probe = seen.lock().unwrap().len();
    assert!(after_probe - later <= 1, "{} probes in one half-open period", after_probe - later);
    assert!(fleet.count("failed").await + fleet.count("deferred").await > 0);
    fleet.assert_alive();
}

/// A Redis of the test's own, on a free port, that the test may stop and start.
pub struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    pub fn start(port: u16) -> PrivateRedis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server on PATH");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "private Redis did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        PrivateRedis { port, child: Some(child) }
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_going_away_loses_no_job_and_the_fleet_rejoins() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut redis = PrivateRedis::start(port);
    let upstream = MockServer::start().await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let body = fixture("arxiv/id_list_1605.08386_single_entry_success.xml");
    Mock::given(wiremock::matchers::any())
        .respond_with(Stamped {
            seen: seen.clone(),
            template: ResponseTemplate::new(200).set_body_raw(body, "application/atom+xml"),
        })
        .mount(&upstream)
        .await;
    let url = format!("redis://127.0.0.1:{port}/");
    // The queue in Postgres, the fleet state in the Redis that goes away.
    let mut fleet = fleet(
        &upstream,
        &[
            ("APIARY_QUEUE__BACKEND", "postgres"),
            ("APIARY_REDIS_URL", &url),
            ("APIARY_QUEUE__POLL_INTERVAL", "100ms"),
            ("APIARY_CONNECTORS__ARXIV__RATE_LIMIT", "10/s"),
            ("APIARY_FLEET__SIZE", "2"),
        ],
    )
    .await;
    fleet.enqueue(60).await;
    fleet.start_workers(2);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    redis.stop();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let during_outage = fleet.count("succeeded").await;
    let _redis = PrivateRedis::start(redis.port);
    let deadline = Instant::now() + Duration::from_secs(60);
    while fleet.count("succeeded").await < 60 {
        assert!(Instant::now() < deadline, "jobs: {:?}", fleet.app.store().job_counts().await.unwrap());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(fleet.count("failed").await, 0, "no job lost or failed");
    assert!(during_outage > 0, "work went on while Redis was away");
    fleet.assert_alive();
    // The fleet state answers again: the first call on a connection broken by the outage fails
    // and reconnects; the app rejoins within its back-off.
    let f = fleet.app.fleet().expect("fleet mode");
    let deadline = Instant::now() + Duration::from_secs(15);
    // The restarted Redis is empty: the workers' next heartbeats (every 5 s) bring them back.
    while !f.members().await.is_ok_and(|m| m.len() == 2) {
        assert!(Instant::now() < deadline, "Redis is back but the fleet does not see both workers");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let snap = fleet.app.breakers().get("arxiv", None).await.unwrap();
    assert_eq!(snap.state.as_str(), "closed");
    assert_eq!(seen.lock().unwrap().len(), 60);
}

/// A time-based breaker window, kept in Redis: a failure older than the window no longer counts
/// fleet-wide, where a count window of the same calls still holds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_breaker_window_can_be_a_time_span() {
    use apiary::config::Window;
    use apiary::resilience::BreakerState;
    use apiary::resilience::fleet::{Fleet, FleetPermit};

    let config = Config::load_with(&[], Vec::<(String, String)>::new()).unwrap();
    let mut by_time = config.connector("arxiv").unwrap().breaker.clone();
    by_time.failure_threshold = 100;
    by_time.failure_rate_threshold = 50.0;
    by_time.minimum_calls = 2;
    by_time.window = Window::Time(Duration::from_secs(1));
    let by_count = apiary::config::BreakerSettings { window: Window::Count(10), ..by_time.clone() };
    let redis = std::env::var("APIARY_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    let namespace = format!("window-{}", uuid::Uuid::new_v4().simple());
    let fleet = Fleet::connect(&redis, &namespace, 1).await.expect("Redis (APIARY_TEST_REDIS)");
    let permit = FleetPermit { probe: false };
    // The same outcomes go to a breaker with each kind of window.
    let both = |failed: bool| {
        let fleet = &fleet;
        let (t, c) = (&by_time, &by_count);
        async move {
            let time = fleet.record("time", t, permit, failed).await.expect("Redis");
            let count = fleet.record("count", c, permit, failed).await.expect("Redis");
            (time, count)
        }
    };

    assert_eq!(both(true).await, (None, None), "one call is below minimum_calls");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(both(false).await, (None, None));
    assert_eq!(both(false).await, (None, None));
    let time = fleet.snapshot("time", &by_time).await.expect("Redis");
    assert_eq!((time.calls, time.failures), (2, 0), "the old failure left the time window");
    let count = fleet.snapshot("count", &by_count).await.expect("Redis");
    assert_eq!((count.calls, count.failures), (3, 1));
    // One more failure: 1 of 3 in the time window, 2 of 4 (50 %) in the count window.
    assert_eq!(both(true).await, (None, Some(BreakerState::Open)));
    // And one more within the span opens the time window's breaker too (2 of 4).
    assert_eq!(fleet.record("time", &by_time, permit, true).await.expect("Redis"), Some(BreakerState::Open));
    let time = fleet.snapshot("time", &by_time).await.expect("Redis");
    assert_eq!((time.state, time.calls, time.failures), (BreakerState::Open, 4, 2));
}

/// An operator's hold released fleet-wide: a breaker held open probes at its next call, one held
/// closed stays closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_fleet_hold_probes_or_stays_closed() {
    use apiary::resilience::BreakerState;
    use apiary::resilience::fleet::Fleet;

    let config = Config::load_with(&[], Vec::<(String, String)>::new()).unwrap();
    let settings = config.connector("arxiv").unwrap().breaker.clone();
    let redis = std::env::var("APIARY_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    let fleet = Fleet::connect(&redis, &format!("release-{}", uuid::Uuid::new_v4().simple()), 1).await.unwrap();
    let state = |name: &'static str| {
        let (fleet, settings) = (&fleet, &settings);
        async move { fleet.snapshot(name, settings).await.expect("Redis").state }
    };

    fleet.hold("held-open", Some(BreakerState::Open)).await.unwrap();
    assert!(fleet.acquire("held-open", &settings).await.unwrap().is_err(), "held open refuses");
    fleet.hold("held-open", None).await.unwrap();
    assert_eq!(state("held-open").await, BreakerState::HalfOpen);
    let permit = fleet.acquire("held-open", &settings).await.unwrap().expect("a probe after release");
    assert!(permit.probe);

    fleet.hold("held-closed", Some(BreakerState::Closed)).await.unwrap();
    fleet.hold("held-closed", None).await.unwrap();
    assert_eq!(state("held-closed").await, BreakerState::Closed);
    assert!(!fleet.acquire("held-closed", &settings).await.unwrap().expect("closed admits").probe);
}
