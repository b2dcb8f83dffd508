//! Failover groups end to end: a group job goes to the first member that can be asked, falls
//! over when it fails, and a group read serves the best cached answer of any member.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{path, path_regex, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{Backend, TestApp, fixture, json_file, spawn_app};

const YAHOO_CHART: &str = "/v8/finance/chart/AAPL";
const POLYGON_BARS: &str = "/v2/aggs/ticker/AAPL/range/1/day/2005-04-01/2005-04-04";
const BARS_READ: &str = "/v1/groups/daily_bars?symbol=AAPL&from=2005-04-01&to=2005-04-04";

fn member<'a>(read: &'a Value, connector: &str) -> &'a Value {
    read["members"].as_array().unwrap().iter().find(|m| m["connector"] == connector).unwrap()
}

async fn enqueue_group(app: &TestApp, group: &str, params: Value) -> Value {
    let (status, job) = app.post("/v1/jobs", json!({"group": group, "params": params})).await;
    assert!(status == 202 || status == 200, "group enqueue answered {status}: {job}");
    job
}

async fn falls_over_and_serves_the_member_that_answered(backend: Backend) {
    // Yahoo's breaker stays closed through its failures, so the job falls over on the failure itself.
    let app = spawn_app(
        backend,
        &[
            ("APIARY_CONNECTORS__POLYGON__API_KEY", "poly-key"),
            ("APIARY_CONNECTORS__YAHOO_FINANCE__BREAKER__FAILURE_THRESHOLD", "50"),
            ("APIARY_CONNECTORS__YAHOO_FINANCE__BREAKER__MINIMUM_CALLS", "50"),
        ],
    )
    .await;
    Mock::given(path(YAHOO_CHART)).respond_with(ResponseTemplate::new(500)).mount(&app.upstream).await;
    Mock::given(path(POLYGON_BARS))
        .and(query_param("apiKey", "poly-key"))
        .respond_with(json_file("polygon/aggs_range_AAPL_1_day_2005-04-01_2005-04-04_success.json"))
        .expect(1)
        .mount(&app.upstream)
        .await;

    let job =
        enqueue_group(&app, "daily_bars", json!({"symbol": "aapl", "from": "2005-04-01", "to": "2005-04-04"})).await;
    assert_eq!(
        (job["group"].as_str(), job["connector"].as_str()),
        (Some("daily_bars"), Some("yahoo_finance")),
        "{job}"
    );
    let id = job["id"].as_str().unwrap();
    let job = app.wait_job(id, &["succeeded", "failed"]).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["connector"], "polygon", "the job fell over to the second member: {job}");
    assert_eq!(job["passed"][0]["connector"], "yahoo_finance", "{job}");
    assert!(job["passed"][0]["reason"].as_str().unwrap().contains("500"), "{job}");
    let yahoo: Vec<_> =
        app.upstream.received_requests().await.unwrap().into_iter().filter(|r| r.url.path() == YAHOO_CHART).collect();
    assert!(!yahoo.is_empty(), "yahoo was asked first");
    let query = yahoo[0].url.query().unwrap_or_default();
    assert!(query.contains("period1=1112313600") && query.contains("interval=1d"), "{query}");

    let (status, headers, read) = app.get(BARS_READ).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!((read["group"].as_str(), read["served_by"].as_str()), (Some("daily_bars"), Some("polygon")));
    assert_eq!((read["stale"].as_bool(), read["record_count"].as_u64()), (Some(false), Some(2)), "{read}");
    assert!(read["records"].as_array().unwrap().iter().all(|r| r["kind"] == "price_bar" && r["symbol"] == "AAPL"));
    assert!(headers["cache-status"].to_str().unwrap().starts_with("apiary; hit"));
    assert_eq!(member(&read, "yahoo_finance")["cached"], false);
    assert_eq!(member(&read, "polygon")["cached"], true);
    assert_eq!(member(&read, "alpha_vantage")["breaker"], "closed");
    // The group's parameters are its own: a member's name for one is refused.
    let (status, _, err) = app.get("/v1/groups/daily_bars?ticker=AAPL&from=2005-04-01&to=2005-04-04").await;
    assert_eq!((status, err["error"]["code"].as_str()), (400, Some("invalid_params")), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_job_falls_over_on_sqlite() {
    falls_over_and_serves_the_member_that_answered(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_job_falls_over_on_postgres_with_redis() {
    falls_over_and_serves_the_member_that_answered(Backend::PostgresRedis).await;
}

/// An open breaker and a missing key are passed over before any call: the job goes straight
/// to the first member that can be asked, and the members passed say why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_that_cannot_be_asked_are_passed_over_at_enqueue() {
    let app = spawn_app(Backend::Sqlite, &[("APIARY_CONNECTORS__ALPHA_VANTAGE__API_KEY", "av-key")]).await;
    Mock::given(path("/query"))
        .and(query_param("function", "TIME_SERIES_DAILY"))
        .and(query_param("symbol", "MSFT"))
        .respond_with(json_file("alpha_vantage/time_series_daily_MSFT_one_day_success.json"))
        .expect(1)
        .mount(&app.upstream)
        .await;
    let (status, _) = app.post("/v1/breakers/yahoo_finance", json!({"state": "open"})).await;
    assert_eq!(status, 200);

    let params = json!({"symbol": "MSFT", "from": "2017-08-01", "to": "2017-08-11"});
    let job = enqueue_group(&app, "daily_bars", params).await;
    assert_eq!(job["connector"], "alpha_vantage", "{job}");
    let passed: Vec<(&str, &str)> = job["passed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["connector"].as_str().unwrap(), p["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(passed[0], ("yahoo_finance", "breaker open"), "{job}");
    assert_eq!(passed[1].0, "polygon");
    assert!(passed[1].1.contains("APIARY_CONNECTORS__POLYGON__API_KEY"), "{job}");
    let job = app.wait_job(job["id"].as_str().unwrap(), &["succeeded", "failed"]).await;
    assert_eq!(job["status"], "succeeded", "{job}");

    let (status, _, read) = app.get("/v1/groups/daily_bars?symbol=MSFT&from=2017-08-01&to=2017-08-11").await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["served_by"], "alpha_vantage");
    assert_eq!(read["records"][0]["time"], "2017-08-11T04:00:00Z", "{read}");
    assert_eq!(member(&read, "yahoo_finance")["breaker"], "open");
    let reqs = app.upstream.received_requests().await.unwrap();
    assert!(reqs.iter().all(|r| r.url.path() == "/query"), "only alpha_vantage was called");

    let (_, _, groups) = app.get("/v1/groups").await;
    let listed: Vec<&str> = groups["groups"].as_array().unwrap().iter().map(|g| g["name"].as_str().unwrap()).collect();
    assert_eq!(listed, ["daily_bars", "paper_by_doi"]);
    assert_eq!(groups["groups"][0]["members"][1]["params"]["ticker"], "{symbol}", "{groups}");
    assert_eq!(groups["groups"][0]["members"][1]["key_set"], false);
}

/// With every member failing, the job fails once, naming each member and why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_job_fails_only_when_every_member_has() {
    let app = spawn_app(Backend::Sqlite, &[("APIARY_FETCH__MAX_ATTEMPTS", "1")]).await;
    Mock::given(path_regex("^/works/")).respond_with(ResponseTemplate::new(503)).mount(&app.upstream).await;
    Mock::given(path_regex("^/graph/v1/paper/"))
        .respond_with(
            ResponseTemplate::new(404)
                .set_body_raw(fixture("semantic_scholar/paper_details_not_found_404.json"), "application/json"),
        )
        .mount(&app.upstream)
        .await;
    Mock::given(path("/entrez/eutils/esearch.fcgi"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&app.upstream)
        .await;

    let job = enqueue_group(&app, "paper_by_doi", json!({"doi": "10.1093/mind/lix.236.433"})).await;
    assert_eq!(job["connector"], "crossref");
    let job = app.wait_job(job["id"].as_str().unwrap(), &["succeeded", "failed"]).await;
    assert_eq!(job["status"], "failed", "{job}");
    let error = job["error"].as_str().unwrap();
    for connector in ["crossref", "semantic_scholar", "pubmed"] {
        assert!(error.contains(connector), "{connector} missing from: {error}");
    }
    let (status, _, err) = app.get("/v1/groups/paper_by_doi?doi=10.1093/mind/lix.236.433").await;
    assert_eq!((status, err["error"]["code"].as_str()), (404, Some("not_cached")), "{err}");
    let (status, body) = app.post("/v1/jobs", json!({"group": "nope", "params": {}})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("unknown_group")));
    assert!(body["error"]["message"].as_str().unwrap().contains("paper_by_doi"), "{body}");
    let (status, body) = app.post("/v1/jobs", json!({"group": "paper_by_doi", "connector": "crossref"})).await;
    assert_eq!(status, 400, "{body}");
}

/// A fresh answer from a lower member beats a stale one from a higher member; a stale answer is
/// served, flagged, while the refresh it queued runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_answer_from_any_member_beats_a_stale_one() {
    let app = spawn_app(Backend::Sqlite, &[("APIARY_CONNECTORS__CROSSREF__TTL", "1s")]).await;
    let doi = "10.1093/mind/lix.236.433";
    let crossref_up = Mock::given(path_regex("^/works/"))
        .respond_with(json_file("crossref/works_doi_10.1371_journal.pone.0033693_success.json"))
        .mount_as_scoped(&app.upstream)
        .await;
    Mock::given(path_regex("^/graph/v1/paper/DOI:10.1093"))
        .respond_with(json_file("semantic_scholar/paper_details_doi_fields_title_success.json"))
        .mount(&app.upstream)
        .await;
    let job = enqueue_group(&app, "paper_by_doi", json!({"doi": doi})).await;
    assert_eq!(app.wait_job(job["id"].as_str().unwrap(), &["succeeded", "failed"]).await["connector"], "crossref");
    let read_path = format!("/v1/groups/paper_by_doi?doi={doi}");
    let (_, _, read) = app.get(&read_path).await;
    assert_eq!((read["served_by"].as_str(), read["stale"].as_bool()), (Some("crossref"), Some(false)), "{read}");

    // Crossref's answer ages past its TTL, and crossref goes down: the stale answer is served
    // and its refresh falls over to Semantic Scholar.
    drop(crossref_up);
    Mock::given(path_regex("^/works/")).respond_with(ResponseTemplate::new(404)).mount(&app.upstream).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let (status, headers, read) = app.get(&read_path).await;
    assert_eq!(status, 200);
    assert_eq!((read["served_by"].as_str(), read["stale"].as_bool()), (Some("crossref"), Some(true)), "{read}");
    assert!(headers["cache-status"].to_str().unwrap().contains("expired"));
    let refresh = read["refresh_job"].as_str().expect("a stale group read queues a refresh");
    let job = app.wait_job(refresh, &["succeeded", "failed"]).await;
    assert_eq!((job["status"].as_str(), job["connector"].as_str()), (Some("succeeded"), Some("semantic_scholar")));

    let (_, _, read) = app.get(&read_path).await;
    assert_eq!(
        (read["served_by"].as_str(), read["stale"].as_bool()),
        (Some("semantic_scholar"), Some(false)),
        "{read}"
    );
    assert_eq!(read["records"][0]["kind"], "paper");
    assert_eq!(read["records"][0]["title"], "Computing Machinery and Intelligence");
    assert_eq!(member(&read, "crossref")["stale"], true);
}

/// `apiary get --group` reads by the same rule, and `apiary enqueue --group` queues a group job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_asks_groups_too() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("apiary.db").display());
    let breakers = apiary::config::Config::load_with(&[], Vec::<(String, String)>::new()).unwrap().database_breakers;
    let store = apiary::store::Store::connect(&url, &breakers).await.unwrap();
    let params: apiary_connectors::Params =
        [("ticker", "AAPL"), ("multiplier", "1"), ("timespan", "day"), ("from", "2005-04-01"), ("to", "2005-04-04")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    let q = apiary::app::Question::new("polygon", params).unwrap();
    let records = serde_json::value::to_raw_value(&json!([{"kind": "price_bar", "symbol": "AAPL"}])).unwrap();
    store.upsert_dataset("polygon", &q.key, &q.params_json(), &records, 1, chrono::Utc::now()).await.unwrap();

    let apiary = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_apiary"))
            .args(args)
            .current_dir(dir.path())
            .env("APIARY_DATABASE_URL", &url)
            .output()
            .unwrap()
    };
    let ask = ["daily_bars", "symbol=AAPL", "from=2005-04-01", "to=2005-04-04"];
    let out = apiary(&[&["get", "--group"][..], &ask].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let read: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((read["served_by"].as_str(), read["record_count"].as_u64()), (Some("polygon"), Some(1)), "{read}");

    let out = apiary(&[&["enqueue", "--group"][..], &ask].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let job = store.job(&id).await.unwrap().expect("the group job is stored");
    assert_eq!(job.connector, "yahoo_finance");
    assert_eq!(job.failover.as_ref().map(|f| f.group.as_str()), Some("daily_bars"));

    let out = apiary(&["get", "--group", "daily_bars", "symbol=AAPL"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing parameter `from`"));
}

/// Nothing cached and every member's breaker open: `503` with `Retry-After`, and no call made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_with_every_breaker_open_and_nothing_cached_is_unavailable() {
    let app = spawn_app(Backend::Sqlite, &[]).await;
    for connector in ["yahoo_finance", "polygon", "alpha_vantage"] {
        let (status, _) = app.post(&format!("/v1/breakers/{connector}"), json!({"state": "open"})).await;
        assert_eq!(status, 200);
    }
    let r = app.http.get(format!("{}{BARS_READ}", app.url)).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 503);
    assert!(r.headers().contains_key("retry-after"));
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "upstream_unavailable", "{body}");
    assert!(app.upstream.received_requests().await.unwrap().is_empty(), "no member was called");
}
