//! Conditional refreshes: the validators an upstream sent (`ETag`, `Last-Modified`) go back on
//! the dataset's next fetch, and a `304 Not Modified` refreshes the cached copy without a body.

use serde_json::json;
use wiremock::matchers::{header, method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{Backend, TestApp, fixture, spawn_app};

const FEED: &str = "arxiv/query_search_testing_start0_max10_success.xml";
const ETAG: &str = "\"feed-1\"";
const MODIFIED: &str = "Tue, 01 Dec 2026 10:00:00 GMT";
const READ: &str = "/v1/datasets/arxiv?search_query=all:testing&max_results=10";

/// An arXiv that sends validators and honours `If-None-Match`.
async fn arxiv_with_etags(app: &TestApp) {
    Mock::given(method("GET"))
        .and(path("/api/query"))
        .and(header("if-none-match", ETAG))
        .respond_with(ResponseTemplate::new(304).insert_header("etag", ETAG))
        .with_priority(1)
        .mount(&app.upstream)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/query"))
        .and(query_param("search_query", "all:testing"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture(FEED), "application/atom+xml")
                .insert_header("etag", ETAG)
                .insert_header("last-modified", MODIFIED),
        )
        .mount(&app.upstream)
        .await;
}

async fn fetch(app: &TestApp) {
    let id = app.enqueue("arxiv", json!({"search_query": "all:testing", "max_results": 10})).await;
    let job = app.wait_job(&id, &["succeeded", "failed"]).await;
    assert_eq!(job["status"], "succeeded", "{job}");
}

async fn a_304_refreshes_the_cached_copy(backend: Backend) {
    let app = spawn_app(backend, &[]).await;
    arxiv_with_etags(&app).await;
    fetch(&app).await;
    let (status, _, first) = app.get(READ).await;
    assert_eq!(status, 200, "{first}");
    assert!(!first["records"].as_array().unwrap().is_empty());

    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    fetch(&app).await;
    let (status, _, second) = app.get(READ).await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["records"], first["records"], "the cached records stay");
    assert_eq!(second["changed_at"], first["changed_at"]);
    assert!(
        second["fetched_at"].as_str().unwrap() > first["fetched_at"].as_str().unwrap(),
        "fetched_at moves: {} then {}",
        first["fetched_at"],
        second["fetched_at"]
    );

    let requests = app.upstream.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    assert!(requests[0].headers.get("if-none-match").is_none(), "nothing to validate on the first fetch");
    let refresh = &requests[1].headers;
    assert_eq!(refresh.get("if-none-match").unwrap(), ETAG);
    assert_eq!(refresh.get("if-modified-since").unwrap(), MODIFIED);

    // The metrics registry is the test process's, shared with tests running beside this one.
    let metrics = app.http.get(format!("{}/metrics", app.url)).send().await.unwrap().text().await.unwrap();
    let series = r#"apiary_upstream_calls_total{connector="arxiv",outcome="not_modified"} "#;
    let counted = metrics.lines().find_map(|l| l.strip_prefix(series)).and_then(|v| v.parse::<f64>().ok());
    assert!(counted.is_some_and(|n| n >= 1.0), "{series} missing from /metrics");
    let breaker = app.breaker("arxiv").await;
    assert_eq!(breaker["state"], "closed", "{breaker}");
    assert_eq!(breaker["failures"], 0, "a 304 is no failure: {breaker}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_304_refreshes_the_cached_copy_on_sqlite() {
    a_304_refreshes_the_cached_copy(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_304_refreshes_the_cached_copy_on_postgres_with_redis() {
    a_304_refreshes_the_cached_copy(Backend::PostgresRedis).await;
}

/// An upstream that sends `Last-Modified` and ignores `If-Modified-Since` gets the date back and
/// answers in full, which is stored as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_that_ignores_the_validators_answers_in_full() {
    let app = spawn_app(Backend::Sqlite, &[]).await;
    Mock::given(path("/submissions/CIK0001800903.json"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(
                    fixture("sec_edgar/submissions_CIK0001800903_small_entity_success.json"),
                    "application/json",
                )
                .insert_header("last-modified", MODIFIED),
        )
        .mount(&app.upstream)
        .await;
    for _ in 0..2 {
        let id = app.enqueue("sec_edgar", json!({"cik": "1800903"})).await;
        let job = app.wait_job(&id, &["succeeded", "failed"]).await;
        assert_eq!(job["status"], "succeeded", "{job}");
    }
    let requests = app.upstream.received_requests().await.unwrap();
    assert_eq!(requests.len(), 2);
    assert!(requests[0].headers.get("if-modified-since").is_none());
    assert_eq!(requests[1].headers.get("if-modified-since").unwrap(), MODIFIED);
    assert!(requests[1].headers.get("if-none-match").is_none(), "no ETag was sent, none goes back");
    let (status, _, data) = app.get("/v1/datasets/sec_edgar?cik=1800903").await;
    assert_eq!(status, 200, "{data}");
}

/// A dataset of two pages keeps no validators, even when both pages sent some: a `304` for the
/// first page would say nothing of the second, so its refresh asks for everything again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dataset_of_several_pages_is_refreshed_in_full() {
    let app = spawn_app(Backend::Sqlite, &[]).await;
    let with_etag = |file: &str| {
        ResponseTemplate::new(200).set_body_raw(fixture(file), "application/atom+xml").insert_header("etag", ETAG)
    };
    Mock::given(method("GET"))
        .and(path("/api/query"))
        .and(query_param("start", "0"))
        .respond_with(with_etag(FEED))
        .mount(&app.upstream)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/query"))
        .and(query_param("start", "10"))
        .respond_with(with_etag("arxiv/id_list_1605.08386_single_entry_success.xml"))
        .mount(&app.upstream)
        .await;
    for _ in 0..2 {
        let id = app.enqueue("arxiv", json!({"search_query": "all:testing", "max_results": 15})).await;
        let job = app.wait_job(&id, &["succeeded", "failed"]).await;
        assert_eq!(job["status"], "succeeded", "{job}");
    }
    let requests = app.upstream.received_requests().await.unwrap();
    assert_eq!(requests.len(), 4, "two pages, twice");
    assert!(requests.iter().all(|r| r.headers.get("if-none-match").is_none()), "no request was conditional");
}
