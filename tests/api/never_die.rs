//! Never die, never stall: each test first mounts the attack that once stopped, stalled or bloated
//! the process — a hostile upstream header, a backend that goes away, a flood, oversized
//! parameters and bodies, slow clients, path tricks, keys in other spellings, long jobs — and then
//! checks that the service is alive, answers and loses nothing.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, ResponseTemplate};

use crate::fleet::PrivateRedis;
use crate::helpers::{Backend, TestApp, fixture, spawn_app};

const ARXIV_FEED: &str = "arxiv/query_search_testing_start0_max10_success.xml";

fn arxiv_feed() -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(fixture(ARXIV_FEED), "application/atom+xml")
}

fn crossref_works() -> ResponseTemplate {
    ResponseTemplate::new(200)
        .set_body_raw(fixture("crossref/works_query_ecology_rows2_success.json"), "application/json")
}

/// Wait up to `limit` until job `id` is in one of `until`; returns the job.
async fn wait_job_for(app: &TestApp, id: &str, until: &[&str], limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let (_, _, job) = app.get(&format!("/v1/jobs/{id}")).await;
        if until.contains(&job["status"].as_str().unwrap_or_default()) {
            return job;
        }
        assert!(Instant::now() < deadline, "job {id} not {until:?} within {limit:?}: {job}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn health(app: &TestApp) -> u16 {
    app.get("/health").await.0
}

async fn upstream_calls(app: &TestApp) -> usize {
    app.upstream.received_requests().await.map_or(0, |r| r.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_after_of_centuries_defers_within_give_up_after_and_a_new_request_replaces_it() {
    let app = spawn_app(
        Backend::Sqlite,
        &[
            ("APIARY_QUEUE__GIVE_UP_AFTER", "2h"),
            ("APIARY_CONNECTORS__ARXIV__TTL", "1m"),
            ("APIARY_CONNECTORS__ARXIV__BREAKER__FAILURE_THRESHOLD", "50"),
        ],
    )
    .await;
    for huge in ["18446744073709551615", "10000000000000"] {
        app.upstream.reset().await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(429).insert_header("retry-after", huge).set_body_string("slow down"))
            .mount(&app.upstream)
            .await;
        let params = json!({"search_query": format!("all:{huge}")});
        let id = app.enqueue("arxiv", params.clone()).await;
        let job = wait_job_for(&app, &id, &["deferred", "failed"], Duration::from_secs(20)).await;
        assert_eq!(job["status"], "deferred", "{job}");
        let run_at: chrono::DateTime<chrono::Utc> = job["run_at"].as_str().unwrap().parse().unwrap();
        let created: chrono::DateTime<chrono::Utc> = job["created_at"].as_str().unwrap().parse().unwrap();
        assert!(run_at <= created + chrono::Duration::hours(2) + chrono::Duration::seconds(5), "{job}");
        assert_eq!(health(&app).await, 200, "the process must outlive Retry-After: {huge}");

        // The upstream is fine again; a new request for the dataset, deferred past its TTL, runs now.
        app.upstream.reset().await;
        Mock::given(method("GET")).respond_with(arxiv_feed()).mount(&app.upstream).await;
        let (status, again) = app.post("/v1/jobs", json!({"connector": "arxiv", "params": params})).await;
        assert_eq!((status, again["id"].as_str()), (200, Some(id.as_str())), "{again}");
        let job = wait_job_for(&app, &id, &["succeeded", "failed"], Duration::from_secs(20)).await;
        assert_eq!(job["status"], "succeeded", "{job}");
    }
}

/// The test database's name, from its URL.
fn database_name(app: &TestApp) -> String {
    app.app.config().database_url.rsplit('/').next().unwrap().to_owned()
}

async fn admin_pool() -> sqlx::PgPool {
    let admin =
        std::env::var("APIARY_TEST_PG_ADMIN").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    sqlx::PgPool::connect(&admin).await.unwrap()
}

/// Refuse new connections to `db` and end the ones it has (`on`), or let them in again.
async fn block_database(admin: &sqlx::PgPool, db: &str, on: bool) {
    let allow = if on { "false" } else { "true" };
    sqlx::query(sqlx::AssertSqlSafe(format!("ALTER DATABASE {db} ALLOW_CONNECTIONS {allow}")))
        .execute(admin)
        .await
        .unwrap();
    if on {
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
        )
        .bind(db)
        .execute(admin)
        .await
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_refusing_connections_stops_nothing_and_work_resumes() {
    let app = spawn_app(Backend::Postgres, &[]).await;
    Mock::given(method("GET")).respond_with(arxiv_feed()).mount(&app.upstream).await;
    let first = app.enqueue("arxiv", json!({"search_query": "all:before"})).await;
    assert_eq!(app.wait_job(&first, &["succeeded", "failed"]).await["status"], "succeeded");
    let read = "/v1/datasets/arxiv?search_query=all:before";
    assert_eq!(app.get(read).await.0, 200);

    let admin = admin_pool().await;
    let db = database_name(&app);
    block_database(&admin, &db, true).await;
    let outage = Instant::now();
    while outage.elapsed() < Duration::from_secs(6) {
        assert_eq!(health(&app).await, 200);
        // A dataset read before is still answered, from memory.
        let (status, _, body) = app.get(read).await;
        assert_eq!((status, body["record_count"].as_u64()), (200, Some(10)), "{body}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let (ready, _, body) = app.get("/ready").await;
    assert_eq!(ready, 503, "/ready must fail while the database refuses: {body}");
    let (status, body) = app.post("/v1/jobs", json!({"connector": "arxiv", "params": {"search_query": "all:x"}})).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "store_unavailable");
    block_database(&admin, &db, false).await;

    // Workers and API come back on their own: a job queued now runs.
    let deadline = Instant::now() + Duration::from_secs(60);
    while app.get("/ready").await.0 != 200 {
        assert!(Instant::now() < deadline, "never ready again");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let after = app.enqueue("arxiv", json!({"search_query": "all:after"})).await;
    let job = wait_job_for(&app, &after, &["succeeded", "failed"], Duration::from_secs(60)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_database_is_answered_not_died_of() {
    let app = spawn_app(Backend::Postgres, &[]).await;
    let admin = admin_pool().await;
    let db = database_name(&app);
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE {db} WITH (FORCE)"))).execute(&admin).await.unwrap();
    for _ in 0..3 {
        let started = Instant::now();
        let (status, _, body) = app.get("/v1/datasets/arxiv?search_query=all:x").await;
        assert_eq!(status, 503, "{body}");
        assert_eq!(body["error"]["code"], "store_unavailable");
        assert!(started.elapsed() < Duration::from_secs(15), "a read took {:?}", started.elapsed());
        assert_eq!(app.get("/ready").await.0, 503);
        assert_eq!(health(&app).await, 200);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_gone_for_a_while_readers_answer_and_the_queue_resumes() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut redis = PrivateRedis::start(port);
    let url = format!("redis://127.0.0.1:{port}/");
    let app = spawn_app(Backend::PostgresRedis, &[("APIARY_REDIS_URL", &url)]).await;
    Mock::given(method("GET")).respond_with(arxiv_feed()).mount(&app.upstream).await;
    let first = app.enqueue("arxiv", json!({"search_query": "all:testing"})).await;
    assert_eq!(app.wait_job(&first, &["succeeded", "failed"]).await["status"], "succeeded");

    redis.stop();
    let outage = Instant::now();
    while outage.elapsed() < Duration::from_secs(8) {
        let (status, _, body) = app.get("/v1/datasets/arxiv?search_query=all:testing").await;
        assert_eq!(status, 200, "readers must keep answering without Redis: {body}");
        assert_eq!(body["record_count"], 10);
        assert_eq!(health(&app).await, 200);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(app.get("/ready").await.0, 503, "/ready must fail without the queue");
    let _redis = PrivateRedis::start(port);

    let deadline = Instant::now() + Duration::from_secs(60);
    let id = loop {
        let (status, body) =
            app.post("/v1/jobs", json!({"connector": "arxiv", "params": {"search_query": "all:after"}})).await;
        if status == 202 {
            break body["id"].as_str().unwrap().to_owned();
        }
        assert!(Instant::now() < deadline, "enqueue never came back: {status} {body}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let job = wait_job_for(&app, &id, &["succeeded", "failed"], Duration::from_secs(60)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limited_flood_neither_starves_other_connectors_nor_grows_past_the_cap() {
    let app = spawn_app(
        Backend::Sqlite,
        &[
            ("APIARY_CONNECTORS__ARXIV__RATE_LIMIT", "1/10s"),
            ("APIARY_QUEUE__MAX_PENDING_PER_CONNECTOR", "25"),
            ("APIARY_QUEUE__CONCURRENCY", "2"),
        ],
    )
    .await;
    Mock::given(method("GET")).and(path("/api/query")).respond_with(arxiv_feed()).mount(&app.upstream).await;
    Mock::given(method("GET")).and(path("/works")).respond_with(crossref_works()).mount(&app.upstream).await;
    let mut refused = None;
    for i in 0..40 {
        let (status, body) = app
            .post("/v1/jobs", json!({"connector": "arxiv", "params": {"search_query": format!("all:flood{i}")}}))
            .await;
        if status == 429 {
            refused = Some((i, body));
            break;
        }
        assert_eq!(status, 202, "{body}");
    }
    let (at, body) = refused.expect("the per-connector cap must refuse part of a flood");
    assert!((25..=27).contains(&at), "refused at the {at}th enqueue");
    assert_eq!(body["error"]["code"], "queue_full", "{body}");
    // A dataset already waiting is still answered with its job.
    let (status, dup) =
        app.post("/v1/jobs", json!({"connector": "arxiv", "params": {"search_query": "all:flood3"}})).await;
    assert_eq!((status, dup["deduplicated"].as_bool()), (200, Some(true)), "{dup}");
    let r = app
        .http
        .post(format!("{}/v1/jobs", app.url))
        .json(&json!({"connector": "arxiv", "params": {"search_query": "all:one-more"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers().get("retry-after").is_some(), "a 429 says when to come back");

    // The arXiv lane is busy for minutes at 1/10s; CrossRef's lane is not held by it.
    let started = Instant::now();
    let id = app.enqueue("crossref", json!({"query": "ecology", "rows": 2})).await;
    let job = wait_job_for(&app, &id, &["succeeded", "failed"], Duration::from_secs(10)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert!(started.elapsed() < Duration::from_secs(5), "crossref waited {:?} behind arxiv", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_parameters_are_refused_briefly_and_nothing_is_stored() {
    let app = spawn_app(Backend::Sqlite, &[]).await;
    // Past api.max_body (64 KiB), within what the socket takes before the 413 closes it.
    let huge = "x".repeat(120_000);
    let (status, body) = app.post("/v1/jobs", json!({"connector": "arxiv", "params": {"search_query": huge}})).await;
    assert_eq!((status, &body["error"]["code"]), (413, &json!("body_too_large")), "{body}");
    // Under the body cap, over the parameters' 4 KB.
    let large = "x".repeat(60_000);
    let (status, body) = app.post("/v1/jobs", json!({"connector": "arxiv", "params": {"search_query": large}})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_params");
    assert!(body.to_string().len() < 400, "the refusal quotes the payload: {} bytes", body.to_string().len());
    let (status, _, _) = app.get(&format!("/v1/datasets/arxiv?search_query={}", "y".repeat(30_000))).await;
    assert_eq!(status, 400);
    let counts = app.app.store().job_counts().await.unwrap();
    assert!(counts.is_empty(), "a refused enqueue left jobs: {counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_keeps_the_newest_jobs_and_fetch_log_entries() {
    let app =
        spawn_app(Backend::Sqlite, &[("APIARY_RETENTION__MAX_JOBS", "3"), ("APIARY_RETENTION__MAX_FETCH_LOG", "2")])
            .await;
    Mock::given(method("GET")).respond_with(arxiv_feed()).mount(&app.upstream).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        let id = app.enqueue("arxiv", json!({"search_query": format!("all:keep{i}")})).await;
        app.wait_job(&id, &["succeeded", "failed"]).await;
        ids.push(id);
    }
    apiary::service::prune(&app.app).await;
    let apiary::store::Db::Sqlite(db) = app.app.store().db() else { unreachable!("sqlite backend") };
    let pool = &db.reader;
    let jobs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs").fetch_one(pool).await.unwrap();
    let log: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM fetch_log").fetch_one(pool).await.unwrap();
    assert_eq!((jobs, log), (3, 2));
    assert_eq!(app.get(&format!("/v1/jobs/{}", ids[5])).await.0, 200, "the newest job is kept");
    assert_eq!(app.get(&format!("/v1/jobs/{}", ids[0])).await.0, 404, "the oldest job is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_fails_once_for_good_and_reads_are_paged() {
    let app = spawn_app(
        Backend::Sqlite,
        &[("APIARY_CONNECTORS__ARXIV__MAX_BODY", "4KiB"), ("APIARY_CONNECTORS__CROSSREF__MAX_RECORDS", "1")],
    )
    .await;
    Mock::given(method("GET")).and(path("/api/query")).respond_with(arxiv_feed()).mount(&app.upstream).await;
    let id = app.enqueue("arxiv", json!({"search_query": "all:testing"})).await;
    let job = app.wait_job(&id, &["succeeded", "failed"]).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap().contains("max_body"), "{job}");
    assert_eq!(upstream_calls(&app).await, 1, "an oversized body is not downloaded again");

    Mock::given(method("GET")).and(path("/works")).respond_with(crossref_works()).mount(&app.upstream).await;
    let id = app.enqueue("crossref", json!({"query": "ecology", "rows": 2})).await;
    let job = app.wait_job(&id, &["succeeded", "failed"]).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap().contains("max_records"), "{job}");

    // Paged reads of a dataset of ten records.
    let app = spawn_app(Backend::Sqlite, &[("APIARY_API__MAX_RECORDS_PER_READ", "4")]).await;
    Mock::given(method("GET")).and(path("/api/query")).respond_with(arxiv_feed()).mount(&app.upstream).await;
    let id = app.enqueue("arxiv", json!({"search_query": "all:testing"})).await;
    assert_eq!(app.wait_job(&id, &["succeeded", "failed"]).await["status"], "succeeded");
    let base = "/v1/datasets/arxiv?search_query=all:testing";
    let mut seen = Vec::new();
    let mut cursor = None::<String>;
    loop {
        let url = match &cursor {
            Some(c) => format!("{base}&_cursor={c}"),
            None => base.to_owned(),
        };
        let (status, _, page) = app.get(&url).await;
        assert_eq!(status, 200, "{page}");
        assert_eq!(page["record_count"], 10);
        let records = page["records"].as_array().unwrap();
        assert!(records.len() <= 4);
        seen.extend(records.iter().map(|r| r["id"].clone()));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 10);
    let (_, _, two) = app.get(&format!("{base}&_limit=2&_cursor=8")).await;
    assert_eq!(two["records"].as_array().unwrap().len(), 2);
    assert!(two.get("next_cursor").is_none(), "{two}");
    for bad in ["_limit=0", "_limit=5", "_cursor=-1", "_limit=x"] {
        let (status, _, body) = app.get(&format!("{base}&{bad}")).await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_request_heads_are_cut_off_and_health_keeps_answering() {
    let app =
        spawn_app(Backend::Sqlite, &[("APIARY_API__HEADER_READ_TIMEOUT", "1s"), ("APIARY_API__MAX_CONNECTIONS", "8")])
            .await;
    let addr = app.url.trim_start_matches("http://").to_owned();
    let mut slow = Vec::new();
    for _ in 0..40 {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n").unwrap();
        slow.push(s);
    }
    let started = Instant::now();
    assert_eq!(health(&app).await, 200);
    assert!(started.elapsed() < Duration::from_secs(10), "/health took {:?}", started.elapsed());
    // The half-sent heads were closed by the server.
    let mut s = slow.pop().unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || !text.contains("200 OK"), "a half-sent head was answered: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_parameters_cannot_reach_other_paths_of_the_upstream() {
    let app = spawn_app(Backend::Sqlite, &[("APIARY_CONNECTORS__SEMANTIC_SCHOLAR__API_KEY", "s2-secret-key")]).await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_string("{}"))
        .mount(&app.upstream)
        .await;
    let attacks = [
        ("semantic_scholar", json!({"paper_id": "../../../internal/admin"})),
        ("semantic_scholar", json!({"paper_id": "%2e%2e/%2e%2e/admin"})),
        ("crossref", json!({"doi": "10.1/../../private/x"})),
        ("yahoo_finance", json!({"symbol": ".."})),
        (
            "polygon",
            json!({"ticker": "..", "multiplier": 1, "timespan": "day", "from": "2024-01-01", "to": "2024-01-31"}),
        ),
        ("reddit", json!({"subreddit": ".."})),
        ("sec_edgar", json!({"cik": "../../x"})),
    ];
    for (connector, params) in attacks {
        let (status, body) = app.post("/v1/jobs", json!({"connector": connector, "params": params})).await;
        assert_eq!(status, 400, "{connector} {params}: {body}");
        assert_eq!(body["error"]["code"], "invalid_params", "{body}");
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(upstream_calls(&app).await, 0, "an attack reached the upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_quoted_back_url_encoded_is_scrubbed_and_userinfo_never_shown() {
    let key = "ab+cd/ef=gh&ij";
    let app = spawn_app(Backend::Sqlite, &[("APIARY_CONNECTORS__ALPHA_VANTAGE__API_KEY", key)]).await;
    let upstream = app.upstream.uri();
    // The upstream quotes the request URL back, key and all, in every spelling.
    Mock::given(method("GET"))
        .and(path_regex("/query"))
        .respond_with(ResponseTemplate::new(400).set_body_string(
            "bad request: /query?function=GLOBAL_QUOTE&apikey=ab%2Bcd%2Fef%3Dgh%26ij (or ab%2bcd%2fef%3dgh%26ij, ab+cd/ef=gh&ij)",
        ))
        .mount(&app.upstream)
        .await;
    let id = app.enqueue("alpha_vantage", json!({"function": "GLOBAL_QUOTE", "symbol": "MSFT"})).await;
    let job = app.wait_job(&id, &["succeeded", "failed"]).await;
    assert_eq!(job["status"], "failed", "{job}");
    let error = job["error"].as_str().unwrap();
    assert!(error.contains("[redacted]"), "{error}");
    let apiary::store::Db::Sqlite(db) = app.app.store().db() else { unreachable!("sqlite backend") };
    let pool = &db.reader;
    let logged: Vec<Option<String>> = sqlx::query_scalar("SELECT error FROM fetch_log").fetch_all(pool).await.unwrap();
    for text in std::iter::once(error.to_owned()).chain(logged.into_iter().flatten()) {
        for spelling in [key, "ab%2Bcd%2Fef%3Dgh%26ij", "ab%2bcd%2fef%3dgh%26ij", "ab%2Bcd"] {
            assert!(!text.contains(spelling), "`{spelling}` in {text}");
        }
    }

    let with_password = upstream.replace("http://", "http://apiary:hunter2secret@");
    let app = spawn_app(Backend::Sqlite, &[("APIARY_CONNECTORS__ARXIV__BASE_URL", &with_password)]).await;
    let (_, _, connectors) = app.get("/v1/connectors").await;
    let text = connectors.to_string();
    assert!(text.contains("127.0.0.1"), "{text}");
    assert!(!text.contains("hunter2secret"), "a base URL's password is shown: {text}");
    let settings = format!("{:?}", app.app.config().connector("arxiv").unwrap());
    assert!(!settings.contains("hunter2secret"), "{settings}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_healthy_job_beats_its_heartbeat_and_runs_once() {
    // Six missed beats of 300 ms presume a job lost; this one takes 4 s.
    let app = spawn_app(
        Backend::Sqlite,
        &[("APIARY_QUEUE__HEARTBEAT", "300ms"), ("APIARY_CONNECTORS__ARXIV__BREAKER__SLOW_CALL_THRESHOLD", "1m")],
    )
    .await;
    Mock::given(method("GET")).respond_with(arxiv_feed().set_delay(Duration::from_secs(4))).mount(&app.upstream).await;
    let id = app.enqueue("arxiv", json!({"search_query": "all:slow"})).await;
    let running = wait_job_for(&app, &id, &["running"], Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, _, later) = app.get(&format!("/v1/jobs/{id}")).await;
    assert_eq!(later["status"], "running", "{later}");
    assert_ne!(later["updated_at"], running["updated_at"], "no heartbeat while running");
    let job = app.wait_job(&id, &["succeeded", "failed"]).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["attempts"], 1, "{job}");
    assert_eq!(upstream_calls(&app).await, 1, "a live job was taken for lost and run twice");
}
