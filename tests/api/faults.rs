//! The cache database going away mid-run: reads answer from memory what they can and `503` for
//! the rest, enqueues are refused with `503` (never accepted and lost), `/ready` fails, a job
//! in flight waits for the database and finishes once it is back. Never a panic or a hang.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use super::helpers::{Backend, TestApp, fixture, spawn_app};
use super::{ARXIV_FEED, serve_arxiv};

/// The longest any answer may take while the database is away: the pool's acquire timeout
/// (10 s) and some slack, far short of a hang.
const ANSWER_WITHIN: Duration = Duration::from_secs(12);

struct Outage {
    admin: sqlx::PgPool,
    name: String,
}

impl Outage {
    async fn of(app: &TestApp) -> Outage {
        let admin_url = std::env::var("APIARY_TEST_PG_ADMIN")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
        let name = app.app.config().database_url.rsplit_once('/').unwrap().1.to_owned();
        Outage { admin, name }
    }

    /// Refuse new connections to the database and end the open ones.
    async fn begin(&self) {
        let sql = format!("ALTER DATABASE {} WITH ALLOW_CONNECTIONS false", self.name);
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&self.admin).await.unwrap();
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
            .bind(&self.name)
            .execute(&self.admin)
            .await
            .unwrap();
    }

    async fn end(&self) {
        let sql = format!("ALTER DATABASE {} WITH ALLOW_CONNECTIONS true", self.name);
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&self.admin).await.unwrap();
    }
}

/// The dataset every outage test reads while the database is away.
const HOT: &str = "/v1/datasets/arxiv?search_query=all:testing&max_results=10";

/// Fetch and read [`HOT`] (so that it is in the read cache), and answer arXiv's `query` after
/// `delay`.
async fn serve_hot_and_slow(app: &TestApp, query: &str, delay: Duration) {
    serve_arxiv(app).await;
    let id = app.enqueue("arxiv", json!({"search_query": "all:testing", "max_results": 10})).await;
    assert_eq!(app.wait_job(&id, &["succeeded", "failed"]).await["status"], "succeeded");
    assert_eq!(timed_get(app, HOT).await.0, 200);
    Mock::given(method("GET"))
        .and(path("/api/query"))
        .and(query_param("search_query", query))
        .respond_with(
            ResponseTemplate::new(200).set_body_raw(fixture(ARXIV_FEED), "application/atom+xml").set_delay(delay),
        )
        .mount(&app.upstream)
        .await;
}

/// `GET path`, timed: status and body.
async fn timed_get(app: &TestApp, path: &str) -> (u16, Value) {
    let started = Instant::now();
    let (status, _, body) = app.get(path).await;
    assert!(started.elapsed() < ANSWER_WITHIN, "{path} took {:?}", started.elapsed());
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_database_going_away_is_answered_clearly_and_nothing_is_lost() {
    database_goes_away(Backend::PostgresRedis).await;
}

/// The same with the queue in the same database: it goes away too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_of_cache_and_queue_going_away_loses_nothing() {
    database_goes_away(Backend::Postgres).await;
}

async fn database_goes_away(backend: Backend) {
    let app = spawn_app(backend, &[]).await;
    // A slow upstream: this job is mid-fetch when the database goes.
    serve_hot_and_slow(&app, "all:slow", Duration::from_secs(2)).await;
    let in_flight = app.enqueue("arxiv", json!({"search_query": "all:slow"})).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let outage = Outage::of(&app).await;
    outage.begin().await;
    // The hot dataset still comes from memory; one never read cannot, and says why.
    tokio::time::sleep(Duration::from_millis(1100)).await; // past api.read_cache_revalidate
    let (status, body) = timed_get(&app, HOT).await;
    assert_eq!((status, body["record_count"].as_i64()), (200, Some(10)), "{body}");
    let (status, body) = timed_get(&app, "/v1/datasets/arxiv?search_query=all:cold").await;
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("store_unavailable")), "{body}");
    let started = Instant::now();
    let (status, body) =
        app.post("/v1/jobs", json!({"connector": "arxiv", "params": {"search_query": "all:during"}})).await;
    assert!(started.elapsed() < ANSWER_WITHIN, "an enqueue took {:?}", started.elapsed());
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("store_unavailable")), "{body}");
    let (status, body) = timed_get(&app, "/ready").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(timed_get(&app, "/health").await.0, 200, "alive all along");
    let message = body["store"].as_str().unwrap_or_default().to_owned();
    assert!(!message.contains(&app.app.config().database_url), "the URL shows in /ready: {message}");

    tokio::time::sleep(Duration::from_secs(3)).await; // the slow fetch has its answer by now
    outage.end().await;
    // Back: ready again, the job that was in flight finished, and enqueues are taken.
    let deadline = Instant::now() + Duration::from_secs(30);
    while timed_get(&app, "/ready").await.0 != 200 {
        assert!(Instant::now() < deadline, "not ready again after the database came back");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let job = app.wait_job(&in_flight, &["succeeded", "failed"]).await;
    assert_eq!(job["status"], "succeeded", "the job in flight was lost: {job}");
    assert_eq!(job["attempts"], 1, "{job}");
    let (status, body) = timed_get(&app, "/v1/datasets/arxiv?search_query=all:slow").await;
    assert_eq!(status, 200, "{body}");
    let id = app.enqueue("arxiv", json!({"search_query": "all:testing", "max_results": 5})).await;
    assert_eq!(app.wait_job(&id, &["succeeded", "failed"]).await["status"], "succeeded");
}

/// The embedded database full (its writer may not grow the file): a fetch's result cannot be
/// written, the job keeps retrying the write instead of failing or vanishing, the hot dataset is
/// still read, and once there is room the job finishes with its result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_sqlite_database_holds_the_job_until_there_is_room() {
    // A full disk opens the write breaker (its failures say the database cannot take writes);
    // a short recovery time lets the job's next retry probe soon after there is room again.
    let app = spawn_app(Backend::Sqlite, &[("APIARY_BREAKERS__DATABASE_WRITE__RECOVERY_TIMEOUT", "1s")]).await;
    serve_hot_and_slow(&app, "all:full", Duration::from_millis(500)).await;
    let apiary::store::Db::Sqlite(db) = app.app.store().db() else { unreachable!("sqlite backend") };
    let id = app.enqueue("arxiv", json!({"search_query": "all:full"})).await;
    // The writer (one connection) may not grow the file past its size now: an 18 KB result needs
    // new pages.
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count").fetch_one(&db.writer).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("PRAGMA max_page_count = {pages}"))).execute(&db.writer).await.unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let job = app.get(&format!("/v1/jobs/{id}")).await.2;
    assert_eq!(job["status"], "running", "the job should be retrying its write: {job}");
    let (status, body) = timed_get(&app, HOT).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(timed_get(&app, "/v1/datasets/arxiv?search_query=all:full").await.0, 404, "nothing half-written");

    sqlx::query("PRAGMA max_page_count = 1073741823").execute(&db.writer).await.unwrap();
    let job = app.wait_job(&id, &["succeeded", "failed"]).await;
    assert_eq!((&job["status"], &job["attempts"]), (&json!("succeeded"), &json!(1)), "{job}");
    let (status, body) = timed_get(&app, "/v1/datasets/arxiv?search_query=all:full").await;
    assert_eq!((status, body["record_count"].as_i64()), (200, Some(10)), "{body}");
}

/// The cache database's breakers: while the database refuses connections, reads fail on it until
/// the read breaker opens, and are then answered `503` at once without trying it; enqueues the
/// same with the write breaker; `/v1/breakers` shows both and `/ready` fails. Once the database
/// is back and the recovery time has passed, a few calls probe and the breakers close; a job
/// then runs through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_breakers_open_answer_at_once_and_close_once_it_is_back() {
    let app = spawn_app(
        Backend::PostgresRedis,
        &[
            ("APIARY_BREAKERS__DATABASE_READ__RECOVERY_TIMEOUT", "2s"),
            ("APIARY_BREAKERS__DATABASE_WRITE__RECOVERY_TIMEOUT", "2s"),
        ],
    )
    .await;
    serve_arxiv(&app).await;
    let database = |body: &Value, operation: &str| {
        let all = body["breakers"].as_array().unwrap();
        let found = all.iter().find(|b| b["connector"] == "database" && b["operation"] == operation);
        found.unwrap_or_else(|| panic!("no database {operation} breaker in {body}"))["state"].clone()
    };
    let (_, _, breakers) = app.get("/v1/breakers").await;
    assert_eq!((database(&breakers, "read"), database(&breakers, "write")), (json!("closed"), json!("closed")));

    let outage = Outage::of(&app).await;
    outage.begin().await;
    let cold = "/v1/datasets/arxiv?search_query=all:cold";
    let breaker_says = |body: &Value| body["error"]["message"].as_str().unwrap_or_default().contains("breaker");
    let mut tried = 0;
    loop {
        let (status, body) = timed_get(&app, cold).await;
        assert_eq!(status, 503, "{body}");
        if breaker_says(&body) {
            break;
        }
        tried += 1;
        assert!(tried <= 8, "the read breaker opens after 8 failures: {body}");
    }
    assert!(tried >= 1, "the database was tried before the breaker opened");
    let started = Instant::now();
    let (status, body) = timed_get(&app, cold).await;
    assert!(status == 503 && breaker_says(&body), "{status} {body}");
    assert!(started.elapsed() < Duration::from_millis(500), "refused at once: {:?}", started.elapsed());

    // `/ready` also writes a row: it fails on the database until the write breaker opens (the
    // workers' own writes may have counted too), then says so.
    let mut tried = 0;
    loop {
        let (status, _, ready) = app.get("/ready").await;
        assert_eq!(status, 503, "{ready}");
        if ready["store"].as_str().unwrap_or_default().contains("breaker for writes") {
            break;
        }
        tried += 1;
        assert!(tried <= 3, "the write breaker opens after 3 failures: {ready}");
    }
    let (_, _, breakers) = app.get("/v1/breakers").await;
    assert_eq!((database(&breakers, "read"), database(&breakers, "write")), (json!("open"), json!("open")));
    let job = json!({"connector": "arxiv", "params": {"search_query": "all:testing"}});
    let (status, body) = app.post("/v1/jobs", job.clone()).await;
    assert!(status == 503 && breaker_says(&body), "{status} {body}");

    outage.end().await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = timed_get(&app, cold).await;
        if status == 404 {
            break;
        }
        assert!(Instant::now() < deadline, "reads did not come back: {status} {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let id = loop {
        let (status, body) = app.post("/v1/jobs", job.clone()).await;
        if status == 202 {
            break body["id"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "enqueues did not come back: {status} {body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(app.wait_job(&id, &["succeeded", "failed"]).await["status"], "succeeded");
    for _ in 0..3 {
        assert_eq!(timed_get(&app, cold).await.0, 404);
    }
    let (_, _, breakers) = app.get("/v1/breakers").await;
    assert_eq!((database(&breakers, "read"), database(&breakers, "write")), (json!("closed"), json!("closed")));
    let (status, _, ready) = app.get("/ready").await;
    assert_eq!(status, 200, "{ready}");
}
