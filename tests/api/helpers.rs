//! `spawn_app()`: apiary in-process on a random port, on a fresh database, with its upstreams
//! faked by wiremock serving the recorded bodies from `tests/fixtures`.

use std::sync::Arc;
use std::time::Duration;

use apiary::app::App;
use apiary::config::Config;
use serde_json::Value;
use wiremock::MockServer;

/// Where the cache and the queue live.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    /// Postgres cache, Postgres queue.
    Postgres,
    /// Postgres cache, Redis queue.
    PostgresRedis,
}

pub struct TestApp {
    pub url: String,
    pub http: reqwest::Client,
    pub app: Arc<App>,
    pub upstream: MockServer,
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
    _sharing: tokio::sync::OwnedRwLockReadGuard<()>,
}

/// Tests that time upstream calls to the millisecond (the fleet's shared quota) run alone
/// ([`exclusive`]); every other in-process app shares the machine ([`spawn_app`] holds a read
/// guard). On two cores, a flood or an outage test running beside them delays processes enough
/// to bunch calls that left on time.
static MACHINE: std::sync::OnceLock<Arc<tokio::sync::RwLock<()>>> = std::sync::OnceLock::new();

fn machine() -> Arc<tokio::sync::RwLock<()>> {
    MACHINE.get_or_init(|| Arc::new(tokio::sync::RwLock::new(()))).clone()
}

/// The machine to this test alone, until the guard is dropped.
pub async fn exclusive() -> tokio::sync::OwnedRwLockWriteGuard<()> {
    machine().write_owned().await
}

pub fn fixture(rel: &str) -> Vec<u8> {
    apiary_connectors::fixtures::read(rel)
}

/// A `200` serving the recorded JSON body `rel`.
pub fn json_file(rel: &str) -> wiremock::ResponseTemplate {
    wiremock::ResponseTemplate::new(200).set_body_raw(fixture(rel), "application/json")
}

/// A fresh Postgres database; its URL.
pub async fn fresh_postgres() -> String {
    let admin =
        std::env::var("APIARY_TEST_PG_ADMIN").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let pool = sqlx::PgPool::connect(&admin).await.expect("Postgres for tests (set APIARY_TEST_PG_ADMIN)");
    let name = format!("apiary_it_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&pool).await.unwrap();
    format!("{}/{name}", admin.rsplit_once('/').unwrap().0)
}

pub async fn spawn_app(backend: Backend, extra_env: &[(&str, &str)]) -> TestApp {
    let sharing = machine().read_owned().await;
    apiary::install_tls();
    let upstream = MockServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut env: Vec<(String, String)> = vec![
        ("APIARY_QUEUE__POLL_INTERVAL".into(), "50ms".into()),
        ("APIARY_QUEUE__NAME".into(), format!("test-{}", uuid::Uuid::new_v4().simple())),
        ("APIARY_FETCH__BACKOFF_BASE".into(), "20ms".into()),
        ("APIARY_CONTACT_EMAIL".into(), "ops@example.org".into()),
    ];
    for c in apiary_connectors::all() {
        let name = c.id().to_uppercase();
        env.push((format!("APIARY_CONNECTORS__{name}__BASE_URL"), upstream.uri()));
        env.push((format!("APIARY_CONNECTORS__{name}__RATE_LIMIT"), "1000/s".into()));
    }
    match backend {
        Backend::Sqlite => {
            env.push(("APIARY_DATABASE_URL".into(), format!("sqlite://{}", dir.path().join("apiary.db").display())));
        }
        Backend::Postgres => env.push(("APIARY_DATABASE_URL".into(), fresh_postgres().await)),
        Backend::PostgresRedis => {
            env.push(("APIARY_DATABASE_URL".into(), fresh_postgres().await));
            env.push(("APIARY_QUEUE__BACKEND".into(), "redis".into()));
            let redis = std::env::var("APIARY_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
            env.push(("APIARY_REDIS_URL".into(), redis));
        }
    }
    env.extend(extra_env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let config = Config::load_with(&[], env).expect("test config");
    let app = App::start(config).await.expect("app starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let stopped = async move {
        let _ = stopped.await;
    };
    let (api_stop, api_stopped) = tokio::sync::watch::channel(false);
    tokio::spawn({
        let app = app.clone();
        let mut rx = api_stopped.clone();
        async move {
            let _ = apiary::api::serve(app, listener, async move {
                let _ = rx.wait_for(|s| *s).await;
            })
            .await;
        }
    });
    tokio::spawn({
        let app = app.clone();
        async move {
            let _ = apiary::service::run_workers(app, async move {
                stopped.await;
                let _ = api_stop.send(true);
            })
            .await;
        }
    });
    TestApp { url, http: reqwest::Client::new(), app, upstream, _dir: dir, _stop: stop, _sharing: sharing }
}

impl TestApp {
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self.http.post(format!("{}{path}", self.url)).json(&body).send().await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get(&self, path: &str) -> (u16, reqwest::header::HeaderMap, Value) {
        let r = self.http.get(format!("{}{path}", self.url)).send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        (status, headers, r.json().await.unwrap_or(Value::Null))
    }

    /// Enqueue; returns the job id.
    pub async fn enqueue(&self, connector: &str, params: Value) -> String {
        let (status, body) = self.post("/v1/jobs", serde_json::json!({"connector": connector, "params": params})).await;
        assert!(status == 202 || status == 200, "enqueue answered {status}: {body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// Wait until the job is in one of `until`; returns the job.
    pub async fn wait_job(&self, id: &str, until: &[&str]) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let (_, _, job) = self.get(&format!("/v1/jobs/{id}")).await;
            if until.contains(&job["status"].as_str().unwrap_or_default()) {
                return job;
            }
            assert!(tokio::time::Instant::now() < deadline, "job {id} stuck: {job}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The connector's own breaker as `GET /v1/breakers` shows it.
    pub async fn breaker(&self, connector: &str) -> Value {
        self.breaker_of(connector, None).await
    }

    /// One breaker as `GET /v1/breakers` shows it: the connector's, or one operation's.
    pub async fn breaker_of(&self, connector: &str, operation: Option<&str>) -> Value {
        let (_, _, body) = self.get("/v1/breakers").await;
        let found = body["breakers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["connector"] == connector && b.get("operation").and_then(Value::as_str) == operation);
        found.cloned().unwrap_or_else(|| panic!("no breaker {connector} {operation:?} in {body}"))
    }
}

/// An upstream of its own answering every arXiv query with the recorded feed, for the real
/// binary to fetch from.
pub async fn arxiv_upstream() -> wiremock::MockServer {
    let upstream = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::path("/api/query"))
        .respond_with(
            wiremock::ResponseTemplate::new(200)
                .set_body_raw(fixture("arxiv/query_search_testing_start0_max10_success.xml"), "application/atom+xml"),
        )
        .mount(&upstream)
        .await;
    upstream
}

/// The real binary, serving on a free loopback port from a fresh directory.
pub struct Binary {
    pub child: std::process::Child,
    pub url: String,
    _dir: tempfile::TempDir,
    _sharing: tokio::sync::OwnedRwLockReadGuard<()>,
}

impl Binary {
    /// Kill the process; what it wrote, stdout then stderr, when its output was kept.
    pub fn stop(&mut self) -> String {
        use std::io::Read as _;
        let _ = self.child.kill();
        let mut text = Vec::new();
        if let Some(mut out) = self.child.stdout.take() {
            let _ = out.read_to_end(&mut text);
        }
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_end(&mut text);
        }
        let _ = self.child.wait();
        String::from_utf8_lossy(&text).into_owned()
    }
}

/// A test that fails midway leaves no process behind.
impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start `apiary ARGS` with `env`, its output kept when `keep_output` (else dropped), and wait
/// until it answers `/health`.
pub async fn start_binary(args: &[&str], env: &[(&str, &str)], keep_output: bool) -> Binary {
    let sharing = machine().read_owned().await;
    // The caller's HTTP clients need a TLS provider, whatever test ran first in this process.
    apiary::install_tls();
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let output = || if keep_output { std::process::Stdio::piped() } else { std::process::Stdio::null() };
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_apiary"))
        .args(args)
        .current_dir(dir.path())
        .env("APIARY_LISTEN", format!("127.0.0.1:{port}"))
        .envs(env.iter().copied())
        .stdout(output())
        .stderr(output())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let http = reqwest::Client::new();
    while !http.get(format!("{url}/health")).send().await.is_ok_and(|r| r.status() == 200) {
        assert!(std::time::Instant::now() < deadline, "apiary {args:?} did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Binary { child, url, _dir: dir, _sharing: sharing }
}
