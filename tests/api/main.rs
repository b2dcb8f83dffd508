//! apiary end to end, in-process: HTTP API, queue and workers on real SQLite, Postgres and
//! Redis, against upstreams faked with wiremock serving the recorded bodies.

mod conditional;
mod faults;
mod fleet;
mod groups;
mod hardening;
mod helpers;
mod hostile;
mod never_die;
mod observability;
mod otlp;
mod probes;
mod processes;
mod reads;
mod scheduler;
mod upstreams;

use std::time::{Duration, Instant};

use helpers::{Backend, TestApp, fixture, spawn_app};
use serde_json::json;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

const ARXIV_FEED: &str = "arxiv/query_search_testing_start0_max10_success.xml";

async fn serve_arxiv(app: &TestApp) {
    Mock::given(method("GET"))
        .and(path("/api/query"))
        .and(query_param("search_query", "all:testing"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(fixture(ARXIV_FEED), "application/atom+xml"))
        .mount(&app.upstream)
        .await;
}

async fn round_trip(backend: Backend) {
    let app = spawn_app(backend, &[]).await;
    serve_arxiv(&app).await;
    let (status, body) = app
        .post("/v1/jobs", json!({"connector": "arxiv", "params": {"search_query": "all:testing", "max_results": 10}}))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["dataset"], "arxiv?max_results=10&search_query=all%3Atesting");
    assert_eq!(body["status"], "queued");
    let job = app.wait_job(body["id"].as_str().unwrap(), &["succeeded", "failed"]).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["attempts"], 1);
    assert!(job["finished_at"].is_string());

    let (status, headers, data) = app.get("/v1/datasets/arxiv?search_query=all:testing&max_results=10").await;
    assert_eq!(status, 200, "{data}");
    let records = data["records"].as_array().unwrap();
    assert_eq!(records.len(), 10);
    assert_eq!(data["record_count"], 10);
    assert_eq!(records[0]["kind"], "paper");
    assert_eq!(
        records[0]["title"],
        "Testing Deep Learning Models: A First Comparative Study of Multiple Testing Techniques"
    );
    assert_eq!(data["stale"], false);
    assert_eq!(data["breaker"], "closed");
    assert!(data["fetched_at"].is_string() && data["age_seconds"].is_u64());
    assert!(headers.contains_key("age"));
    assert!(headers["cache-status"].to_str().unwrap().starts_with("apiary; hit"));

    let (status, _, err) = app.get("/v1/datasets/arxiv?search_query=never").await;
    assert_eq!(status, 404);
    assert_eq!(err["error"]["code"], "not_cached");
    let (_, _, list) = app.get("/v1/datasets").await;
    assert_eq!(list["datasets"].as_array().unwrap().len(), 1);
    assert_eq!(app.app.store().dataset_count().await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_on_embedded_sqlite() {
    round_trip(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_on_postgres() {
    round_trip(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_on_postgres_with_redis_queue() {
    round_trip(Backend::PostgresRedis).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_json_errors_that_say_what_is_valid() {
    let app = spawn_app(Backend::Sqlite, &[]).await;
    let (status, body) = app.post("/v1/jobs", json!({"connector": "nope", "params": {}})).await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "unknown_connector");
    assert!(body["error"]["message"].as_str().unwrap().contains("arxiv"));
    let (status, body) = app.post("/v1/jobs", json!({"connector": "arxiv", "params": {"query": "x"}})).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "invalid_params");
    assert!(body["error"]["message"].as_str().unwrap().contains("search_query"), "{body}");
    let (status, body) = app.post("/v1/jobs", json!({"connector": "arxiv", "params": {"search_query": ["a"]}})).await;
    assert_eq!(status, 400, "{body}");
    let r = app
        .http
        .post(format!("{}/v1/jobs", app.url))
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_request");
    let (status, _, body) = app.get("/v1/jobs/does-not-exist").await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("unknown_job")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn breaker_opens_holds_off_the_upstream_serves_stale_and_recovers() {
    let app = spawn_app(
        Backend::Sqlite,
        &[
            ("APIARY_CONNECTORS__ARXIV__BREAKER__FAILURE_THRESHOLD", "3"),
            ("APIARY_CONNECTORS__ARXIV__BREAKER__RECOVERY_TIMEOUT", "2s"),
            ("APIARY_CONNECTORS__ARXIV__BREAKER__SUCCESS_THRESHOLD", "1"),
        ],
    )
    .await;
    let params = json!({"search_query": "all:testing"});
    let good = Mock::given(path("/api/query"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(fixture(ARXIV_FEED), "application/atom+xml"))
        .mount_as_scoped(&app.upstream)
        .await;
    let id = app.enqueue("arxiv", params.clone()).await;
    assert_eq!(app.wait_job(&id, &["succeeded", "failed"]).await["status"], "succeeded");
    drop(good);

    let down =
        Mock::given(path("/api/query")).respond_with(ResponseTemplate::new(503)).mount_as_scoped(&app.upstream).await;
    let id = app.enqueue("arxiv", params.clone()).await;
    let job = app.wait_job(&id, &["deferred", "failed", "succeeded"]).await;
    assert_eq!(job["status"], "deferred", "the job waits for the breaker: {job}");
    assert_eq!(job["attempts"], 0, "a deferral does not spend an attempt");
    assert_eq!(app.breaker("arxiv").await["state"], "open");
    let calls_when_opened = app.upstream.received_requests().await.unwrap().len();

    // While open: readers get the last good records, flagged; the upstream hears nothing.
    let (status, headers, data) = app.get("/v1/datasets/arxiv?search_query=all:testing").await;
    assert_eq!(status, 200);
    assert_eq!(data["records"].as_array().unwrap().len(), 10);
    assert_eq!(data["stale"], true);
    assert_eq!(data["breaker"], "open");
    assert!(headers["cache-status"].to_str().unwrap().contains("breaker-open"));
    // Nothing cached and the breaker open: 503 with Retry-After.
    let r = app.http.get(format!("{}/v1/datasets/arxiv?search_query=other", app.url)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert!(r.headers().contains_key("retry-after"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.upstream.received_requests().await.unwrap().len(), calls_when_opened, "upstream called while open");
    drop(down);

    // The upstream recovers: the deferred job probes after the recovery timeout and closes it.
    let _good = Mock::given(path("/api/query"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(fixture(ARXIV_FEED), "application/atom+xml"))
        .mount_as_scoped(&app.upstream)
        .await;
    let job = app.wait_job(&id, &["succeeded", "failed"]).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(app.breaker("arxiv").await["state"], "closed");
    let (_, _, data) = app.get("/v1/datasets/arxiv?search_query=all:testing").await;
    assert_eq!(data["stale"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_operation_opens_its_own_breaker_and_leaves_the_others_working() {
    let app = spawn_app(
        Backend::Sqlite,
        &[
            ("APIARY_CONNECTORS__SEC_EDGAR__BREAKER__PER_OPERATION", "true"),
            ("APIARY_CONNECTORS__SEC_EDGAR__BREAKER__FAILURE_THRESHOLD", "2"),
            ("APIARY_CONNECTORS__SEC_EDGAR__BREAKER__RECOVERY_TIMEOUT", "60s"),
        ],
    )
    .await;
    const SUBMISSIONS: &str = "/submissions/CIK0001835632.json";
    const FACTS: &str = "/api/xbrl/companyfacts/CIK0001835632.json";
    Mock::given(path(SUBMISSIONS))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("sec_edgar/submissions_CIK0001835632_MRVL_success.json"), "application/json"),
        )
        .mount(&app.upstream)
        .await;
    Mock::given(path(FACTS)).respond_with(ResponseTemplate::new(503)).mount(&app.upstream).await;

    let facts = app.enqueue("sec_edgar", json!({"cik": "1835632", "endpoint": "companyfacts"})).await;
    let job = app.wait_job(&facts, &["deferred", "failed", "succeeded"]).await;
    assert_eq!(job["status"], "deferred", "companyfacts waits for its breaker: {job}");
    assert_eq!(app.breaker_of("sec_edgar", Some("companyfacts")).await["state"], "open");
    assert_eq!(app.breaker_of("sec_edgar", Some("submissions")).await["state"], "closed");
    assert_eq!(app.breaker("sec_edgar").await["state"], "closed");
    let facts_calls = |reqs: &[wiremock::Request]| reqs.iter().filter(|r| r.url.path() == FACTS).count();
    let facts_when_opened = facts_calls(&app.upstream.received_requests().await.unwrap());

    // Filings are still fetched and read as fresh while companyfacts is open.
    let filings = app.enqueue("sec_edgar", json!({"cik": "1835632"})).await;
    assert_eq!(app.wait_job(&filings, &["succeeded", "failed"]).await["status"], "succeeded");
    let (status, headers, data) = app.get("/v1/datasets/sec_edgar?cik=1835632").await;
    assert_eq!(status, 200);
    assert_eq!((data["stale"].as_bool(), data["breaker"].as_str()), (Some(false), Some("closed")), "{data}");
    assert!(!headers["cache-status"].to_str().unwrap().contains("breaker"));
    let (_, _, list) = app.get("/v1/datasets?connector=sec_edgar").await;
    assert_eq!(list["datasets"][0]["breaker"], "closed", "{list}");

    // Company facts: nothing cached and its breaker open, so 503 with Retry-After.
    let r = app
        .http
        .get(format!("{}/v1/datasets/sec_edgar?cik=1835632&endpoint=companyfacts", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert!(r.headers().contains_key("retry-after"));
    assert_eq!(
        facts_calls(&app.upstream.received_requests().await.unwrap()),
        facts_when_opened,
        "companyfacts called while its breaker was open"
    );

    // An operator can hold one operation's breaker; an operation the connector lacks is refused.
    let (status, snap) =
        app.post("/v1/breakers/sec_edgar", json!({"state": "closed", "operation": "companyfacts"})).await;
    assert_eq!(
        (status, snap["operation"].as_str(), snap["state"].as_str()),
        (200, Some("companyfacts"), Some("closed"))
    );
    assert_eq!(app.breaker_of("sec_edgar", Some("companyfacts")).await["forced"], "closed");
    let (status, body) = app.post("/v1/breakers/sec_edgar", json!({"state": "open", "operation": "filings"})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("unknown_operation")), "{body}");
    let msg = body["error"]["message"].as_str().unwrap();
    assert!(msg.contains("submissions") && msg.contains("companyfacts"), "{msg}");
}

/// A read reports every breaker its refresh would meet: a PubMed term search runs `esearch`
/// then `efetch`, a fetch by id `efetch` alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_answers_for_every_step_of_its_fetch() {
    let app = spawn_app(Backend::Sqlite, &[("APIARY_CONNECTORS__PUBMED__BREAKER__PER_OPERATION", "true")]).await;
    let read = |path: &'static str| {
        let app = &app;
        async move {
            let (status, headers, body) = app.get(path).await;
            (status, headers.get("retry-after").is_some(), body["error"]["code"].as_str().map(str::to_owned))
        }
    };
    let unavailable = (503, true, Some("upstream_unavailable".to_owned()));
    let not_cached = (404, false, Some("not_cached".to_owned()));

    let (status, _) = app.post("/v1/breakers/pubmed", json!({"state": "open", "operation": "efetch"})).await;
    assert_eq!(status, 200);
    assert_eq!(read("/v1/datasets/pubmed?term=asthma").await, unavailable, "efetch is the search's second step");
    assert_eq!(read("/v1/datasets/pubmed?id=31452104").await, unavailable);

    app.post("/v1/breakers/pubmed", json!({"state": "closed", "operation": "efetch"})).await;
    app.post("/v1/breakers/pubmed", json!({"state": "open", "operation": "esearch"})).await;
    assert_eq!(read("/v1/datasets/pubmed?term=asthma").await, unavailable);
    assert_eq!(read("/v1/datasets/pubmed?id=31452104").await, not_cached, "a fetch by id never calls esearch");
    assert!(app.upstream.received_requests().await.unwrap().is_empty(), "reads call no upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alpha_vantage_note_at_http_200_never_replaces_the_quote() {
    let app = spawn_app(Backend::Sqlite, &[("APIARY_CONNECTORS__ALPHA_VANTAGE__API_KEY", "k")]).await;
    let params = json!({"function": "GLOBAL_QUOTE", "symbol": "MSFT"});
    let good = Mock::given(path("/query"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("alpha_vantage/global_quote_MSFT_success.json"), "application/json"),
        )
        .mount_as_scoped(&app.upstream)
        .await;
    let id = app.enqueue("alpha_vantage", params.clone()).await;
    assert_eq!(app.wait_job(&id, &["succeeded", "failed"]).await["status"], "succeeded");
    drop(good);
    let _note = Mock::given(path("/query"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("alpha_vantage/rate_limit_note_200.json"), "application/json"),
        )
        .mount_as_scoped(&app.upstream)
        .await;
    let id = app.enqueue("alpha_vantage", params).await;
    let job = app.wait_job(&id, &["succeeded", "failed", "deferred"]).await;
    assert_ne!(job["status"], "succeeded", "{job}");
    let (_, _, data) = app.get("/v1/datasets/alpha_vantage?function=GLOBAL_QUOTE&symbol=MSFT").await;
    assert_eq!(data["records"][0]["kind"], "quote");
    assert_eq!(data["records"][0]["price"], 112.13);
    let breaker = app.breaker("alpha_vantage").await;
    assert!(breaker["failures"].as_u64().unwrap() >= 1, "the notice counted against the upstream: {breaker}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_on_a_429_delays_the_next_attempt() {
    let app = spawn_app(Backend::Sqlite, &[]).await;
    Mock::given(path("/api/query"))
        .respond_with(ResponseTemplate::new(429).insert_header("retry-after", "2").set_body_string("Rate exceeded."))
        .up_to_n_times(1)
        .mount(&app.upstream)
        .await;
    serve_arxiv(&app).await;
    let started = Instant::now();
    let id = app.enqueue("arxiv", json!({"search_query": "all:testing"})).await;
    let job = app.wait_job(&id, &["succeeded", "failed"]).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert!(started.elapsed() >= Duration::from_secs(2), "retried after {:?}", started.elapsed());
    assert_eq!(app.upstream.received_requests().await.unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_daily_quota_defers_the_job() {
    let app = spawn_app(Backend::Sqlite, &[("APIARY_CONNECTORS__ARXIV__RATE_LIMIT", "1/day")]).await;
    serve_arxiv(&app).await;
    let id = app.enqueue("arxiv", json!({"search_query": "all:testing"})).await;
    assert_eq!(app.wait_job(&id, &["succeeded", "failed"]).await["status"], "succeeded");
    let id = app.enqueue("arxiv", json!({"search_query": "all:testing"})).await;
    let job = app.wait_job(&id, &["deferred", "failed", "succeeded"]).await;
    assert_eq!(job["status"], "deferred", "{job}");
    assert!(job["error"].as_str().unwrap().contains("rate limit"), "{job}");
    assert!(job["run_at"].is_string());
    assert_eq!(app.upstream.received_requests().await.unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sec_without_a_contact_fails_with_a_clear_message() {
    let app = spawn_app(Backend::Sqlite, &[("APIARY_CONTACT_EMAIL", "")]).await;
    let id = app.enqueue("sec_edgar", json!({"cik": "320193"})).await;
    let job = app.wait_job(&id, &["succeeded", "failed"]).await;
    assert_eq!(job["status"], "failed");
    assert!(job["error"].as_str().unwrap().contains("APIARY_CONTACT_EMAIL"), "{job}");
    assert!(app.upstream.received_requests().await.unwrap().is_empty(), "no anonymous call reached SEC");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_ready_metrics_and_forced_breakers() {
    let app = spawn_app(Backend::Sqlite, &[]).await;
    assert_eq!(app.get("/health").await.0, 200);
    let (status, _, ready) = app.get("/ready").await;
    assert_eq!(status, 200, "{ready}");
    let (status, body) = app.post("/v1/breakers/arxiv", json!({"state": "open"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["state"], "open");
    assert_eq!(body["forced"], "open");
    let id = app.enqueue("arxiv", json!({"search_query": "all:testing"})).await;
    assert_eq!(app.wait_job(&id, &["deferred", "failed", "succeeded"]).await["status"], "deferred");
    let (status, body) = app.post("/v1/breakers/arxiv", json!({"state": "auto"})).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = app.post("/v1/breakers/arxiv", json!({"state": "sideways"})).await;
    assert_eq!(status, 400);
    let text = app.http.get(format!("{}/metrics", app.url)).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("apiary_jobs"), "{text}");
    assert!(text.contains("apiary_breaker_state"), "{text}");
}
