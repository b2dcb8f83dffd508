//! What reaches the upstreams, through the real worker and HTTP client: paths, query strings,
//! where keys go, identification, paging and multi-step fetches.

use serde_json::json;
use wiremock::matchers::{header, method, path, path_regex, query_param, query_param_is_missing};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{Backend, fixture, json_file, spawn_app};

fn xml(file: &str) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(fixture(file), "application/xml")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubmed_is_esearch_then_efetch_identified_with_the_key_in_the_query() {
    let app = spawn_app(Backend::Sqlite, &[("APIARY_CONNECTORS__PUBMED__API_KEY", "ncbi-key")]).await;
    Mock::given(path("/entrez/eutils/esearch.fcgi"))
        .and(query_param("term", "biopython"))
        .and(query_param("tool", "apiary"))
        .and(query_param("email", "ops@example.org"))
        .and(query_param("api_key", "ncbi-key"))
        .respond_with(xml("pubmed/esearch_db_pubmed_term_biopython_success.xml"))
        .expect(1)
        .mount(&app.upstream)
        .await;
    Mock::given(path("/entrez/eutils/efetch.fcgi"))
        .and(query_param("api_key", "ncbi-key"))
        .respond_with(xml("pubmed/efetch_db_pubmed_ids_12091962_9997_xml_abstract_success.xml"))
        .expect(1)
        .mount(&app.upstream)
        .await;
    let id = app.enqueue("pubmed", json!({"term": "biopython", "retmax": 2})).await;
    let job = app.wait_job(&id, &["succeeded", "failed"]).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let (_, _, data) = app.get("/v1/datasets/pubmed?term=biopython&retmax=2").await;
    assert_eq!(data["record_count"], 2);
    assert_eq!(data["records"][0]["id"], "12091962");
    let (status, _, job) = app.get(&format!("/v1/jobs/{id}")).await;
    assert_eq!(status, 200);
    assert!(!job.to_string().contains("ncbi-key"), "the key shows in the job: {job}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_go_where_each_upstream_wants_them() {
    let app = spawn_app(
        Backend::Sqlite,
        &[
            ("APIARY_CONNECTORS__NEWSAPI__API_KEY", "news-key"),
            ("APIARY_CONNECTORS__POLYGON__API_KEY", "poly-key"),
            ("APIARY_CONNECTORS__ALPHA_VANTAGE__API_KEY", "av-key"),
        ],
    )
    .await;
    Mock::given(path("/v2/everything"))
        .and(header("x-api-key", "news-key"))
        .and(query_param_is_missing("apiKey"))
        .and(query_param("q", "bitcoin"))
        .respond_with(json_file("newsapi/everything_two_articles_success.json"))
        .expect(1)
        .mount(&app.upstream)
        .await;
    Mock::given(path("/v2/aggs/ticker/AAPL/range/1/day/2005-04-01/2005-04-04"))
        .and(query_param("apiKey", "poly-key"))
        .respond_with(json_file("polygon/aggs_range_AAPL_1_day_2005-04-01_2005-04-04_success.json"))
        .expect(1)
        .mount(&app.upstream)
        .await;
    Mock::given(path("/query"))
        .and(query_param("apikey", "av-key"))
        .and(query_param("function", "GLOBAL_QUOTE"))
        .and(query_param("symbol", "MSFT"))
        .respond_with(json_file("alpha_vantage/global_quote_MSFT_success.json"))
        .expect(1)
        .mount(&app.upstream)
        .await;
    for (connector, params) in [
        ("newsapi", json!({"q": "bitcoin"})),
        (
            "polygon",
            json!({"ticker": "AAPL", "multiplier": 1, "timespan": "day", "from": "2005-04-01", "to": "2005-04-04"}),
        ),
        ("alpha_vantage", json!({"function": "GLOBAL_QUOTE", "symbol": "MSFT"})),
    ] {
        let id = app.enqueue(connector, params).await;
        let job = app.wait_job(&id, &["succeeded", "failed"]).await;
        assert_eq!(job["status"], "succeeded", "{connector}: {job}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identification_for_sec_crossref_and_reddit() {
    let app = spawn_app(Backend::Sqlite, &[]).await;
    Mock::given(path("/submissions/CIK0001800903.json"))
        .and(header("user-agent", "apiary/0.1 (contact: ops@example.org)"))
        .respond_with(json_file("sec_edgar/submissions_CIK0001800903_small_entity_success.json"))
        .expect(1)
        .mount(&app.upstream)
        .await;
    Mock::given(path("/works"))
        .and(query_param("mailto", "ops@example.org"))
        .respond_with(json_file("crossref/works_query_ecology_rows2_success.json"))
        .expect(1)
        .mount(&app.upstream)
        .await;
    Mock::given(path_regex("^/r/askreddit/new.json$"))
        .respond_with(json_file("reddit/r_askreddit_new_limit100_success.json"))
        .expect(1)
        .mount(&app.upstream)
        .await;
    for (connector, params) in [
        ("sec_edgar", json!({"cik": "1800903"})),
        ("crossref", json!({"query": "ecology", "rows": 2})),
        ("reddit", json!({"subreddit": "AskReddit", "sort": "new", "limit": 100})),
    ] {
        let id = app.enqueue(connector, params).await;
        let job = app.wait_job(&id, &["succeeded", "failed"]).await;
        assert_eq!(job["status"], "succeeded", "{connector}: {job}");
    }
    let requests = app.upstream.received_requests().await.unwrap();
    let reddit = requests.iter().find(|r| r.url.path().starts_with("/r/")).unwrap();
    let ua = reddit.headers.get("user-agent").unwrap().to_str().unwrap();
    assert!(ua.contains("apiary") && ua.contains("ops@example.org"), "reddit User-Agent: {ua}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_pages_make_one_dataset_and_a_broken_second_page_keeps_the_last_good_result() {
    let app = spawn_app(Backend::Sqlite, &[("APIARY_FETCH__MAX_ATTEMPTS", "2")]).await;
    let page1 = Mock::given(method("GET"))
        .and(path("/api/query"))
        .and(query_param("start", "0"))
        .respond_with(xml("arxiv/query_search_testing_start0_max10_success.xml"))
        .mount_as_scoped(&app.upstream)
        .await;
    let page2 = Mock::given(method("GET"))
        .and(path("/api/query"))
        .and(query_param("start", "10"))
        .and(query_param("max_results", "5"))
        .respond_with(xml("arxiv/id_list_1605.08386_single_entry_success.xml"))
        .expect(1)
        .mount_as_scoped(&app.upstream)
        .await;
    let params = json!({"search_query": "all:testing", "max_results": 15});
    let id = app.enqueue("arxiv", params.clone()).await;
    assert_eq!(app.wait_job(&id, &["succeeded", "failed"]).await["status"], "succeeded");
    let (_, _, data) = app.get("/v1/datasets/arxiv?search_query=all:testing&max_results=15").await;
    assert_eq!(data["record_count"], 11, "10 from page one, 1 from page two");
    let fetched_at = data["fetched_at"].clone();
    drop(page2);

    // Page two breaks: the whole fetch fails and the cached dataset stays as it was.
    let _broken = Mock::given(path("/api/query"))
        .and(query_param("start", "10"))
        .respond_with(ResponseTemplate::new(500))
        .mount_as_scoped(&app.upstream)
        .await;
    let id = app.enqueue("arxiv", params).await;
    let job = app.wait_job(&id, &["succeeded", "failed", "deferred"]).await;
    assert_ne!(job["status"], "succeeded", "{job}");
    let (_, _, data) = app.get("/v1/datasets/arxiv?search_query=all:testing&max_results=15").await;
    assert_eq!(data["record_count"], 11);
    assert_eq!(data["fetched_at"], fetched_at, "a half-finished fetch touched the cache");
    drop(page1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reddit_client_credentials_get_one_token_for_many_fetches() {
    let app = spawn_app(Backend::Sqlite, &[("APIARY_CONNECTORS__REDDIT__API_KEY", "my-app:s3cret")]).await;
    Mock::given(method("POST"))
        .and(path("/api/v1/access_token"))
        .and(header("authorization", "Basic bXktYXBwOnMzY3JldA=="))
        .respond_with(ResponseTemplate::new(200).set_body_raw(
            r#"{"access_token": "tok-1", "token_type": "bearer", "expires_in": 86400, "scope": "*"}"#,
            "application/json",
        ))
        .expect(1)
        .mount(&app.upstream)
        .await;
    Mock::given(method("GET"))
        .and(path_regex("^/r/[a-z]+/new.json$"))
        .and(header("authorization", "Bearer tok-1"))
        .respond_with(json_file("reddit/r_askreddit_new_limit100_success.json"))
        .expect(2)
        .mount(&app.upstream)
        .await;
    for sub in ["askreddit", "rust"] {
        let id = app.enqueue("reddit", json!({"subreddit": sub, "sort": "new", "limit": 100})).await;
        let job = app.wait_job(&id, &["succeeded", "failed"]).await;
        assert_eq!(job["status"], "succeeded", "{sub}: {job}");
        assert!(!job.to_string().contains("s3cret") && !job.to_string().contains("tok-1"));
    }
}
