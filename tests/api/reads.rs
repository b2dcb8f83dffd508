//! Hot reads from memory: a worker's new result reaches readers in its own process at once and
//! an API-only process within `api.read_cache_revalidate`.

use std::time::{Duration, Instant};

use apiary::app::App;
use apiary::config::Config;
use serde_json::json;
use wiremock::matchers::method;
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{Backend, fixture, spawn_app};

fn feed(name: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(fixture(name), "application/atom+xml")
}

/// Serve `app`'s API on a free port; its base URL.
async fn serve(app: std::sync::Arc<App>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(apiary::api::serve(app, listener, std::future::pending()));
    url
}

async fn record_count(http: &reqwest::Client, url: &str) -> u64 {
    let body: serde_json::Value = http.get(url).send().await.unwrap().json().await.unwrap();
    body["record_count"].as_u64().unwrap_or_else(|| panic!("{body}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_result_reaches_its_own_process_at_once_and_an_api_only_process_within_the_revalidation_period() {
    let app = spawn_app(Backend::Postgres, &[("APIARY_API__READ_CACHE_REVALIDATE", "500ms")]).await;
    Mock::given(method("GET"))
        .respond_with(feed("arxiv/query_search_testing_start0_max10_success.xml"))
        .up_to_n_times(1)
        .mount(&app.upstream)
        .await;
    Mock::given(method("GET"))
        .respond_with(feed("arxiv/id_list_1605.08386_single_entry_success.xml"))
        .mount(&app.upstream)
        .await;
    let params = json!({"search_query": "all:testing"});
    let id = app.enqueue("arxiv", params.clone()).await;
    assert_eq!(app.wait_job(&id, &["succeeded", "failed"]).await["status"], "succeeded");

    // An API-only process on the same database, without workers.
    let env = vec![
        ("APIARY_DATABASE_URL".to_string(), app.app.config().database_url.clone()),
        ("APIARY_API__READ_CACHE_REVALIDATE".to_string(), "500ms".to_string()),
    ];
    let api_only = App::start(Config::load_with(&[], env).unwrap()).await.unwrap();
    let other = serve(api_only.clone()).await;
    let path = "/v1/datasets/arxiv?search_query=all:testing";
    let http = reqwest::Client::new();
    for base in [&app.url, &other] {
        for _ in 0..3 {
            assert_eq!(record_count(&http, &format!("{base}{path}")).await, 10, "{base}");
        }
    }
    assert!(api_only.reads().bytes() > 0, "the API-only process did not keep the read in memory");

    // The upstream's answer changes; the worker's process serves it as soon as the job ends.
    let id = app.enqueue("arxiv", params).await;
    assert_eq!(app.wait_job(&id, &["succeeded", "failed"]).await["status"], "succeeded");
    assert_eq!(record_count(&http, &format!("{}{path}", app.url)).await, 1);
    let changed = Instant::now();
    loop {
        let n = record_count(&http, &format!("{other}{path}")).await;
        if n == 1 {
            break;
        }
        assert_eq!(n, 10);
        assert!(changed.elapsed() < Duration::from_millis(1500), "the API-only process served the old result too long");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
