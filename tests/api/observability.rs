//! Every metric that `config/dashboard.json` and `config/alerts.yml` name is one the binary
//! exports: a run that exercises each (a fetch, a stale read, a spent quota, a full queue, an
//! open breaker, a refused token, fleet mode) is scraped, and each name looked up.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::path;
use wiremock::{Mock, ResponseTemplate};

use super::helpers::{Backend, fixture, spawn_app};
use super::serve_arxiv;

const ADMIN: &str = "admin-token-observability-0123";

/// Every `apiary_*` metric named in `text`, a histogram's `_bucket`/`_sum`/`_count` as the
/// histogram itself.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("apiary_") {
        let tail = &rest[at..];
        let end = tail.find(|c: char| !(c.is_ascii_lowercase() || c == '_')).unwrap_or(tail.len());
        let name = &tail[..end];
        let name = ["_bucket", "_sum", "_count"].iter().fold(name, |n, s| n.strip_suffix(s).unwrap_or(n));
        names.insert(name.to_owned());
        rest = &tail[end..];
    }
    names
}

fn config_file(name: &str) -> String {
    std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config").join(name)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_and_the_alerts_name_only_exported_metrics() {
    let app = spawn_app(
        Backend::PostgresRedis,
        &[
            ("APIARY_API_TOKENS", "admin:admin-token-observability-0123"),
            ("APIARY_QUEUE__MAX_PENDING_PER_CONNECTOR", "1"),
            ("APIARY_CONNECTORS__CROSSREF__RATE_LIMIT", "1/h"),
            ("APIARY_CONNECTORS__ARXIV__TTL", "1s"),
            ("APIARY_CONNECTORS__PUBMED__RATE_LIMIT", "1/s"),
        ],
    )
    .await;
    serve_arxiv(&app).await;
    Mock::given(path("/works"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("crossref/works_query_ecology_rows2_success.json"), "application/json"),
        )
        .mount(&app.upstream)
        .await;
    let http = reqwest::Client::builder()
        .default_headers(
            [(reqwest::header::AUTHORIZATION, format!("Bearer {ADMIN}").parse().unwrap())].into_iter().collect(),
        )
        .build()
        .unwrap();
    let post = |path: &str, body: Value| {
        let req = http.post(format!("{}{path}", app.url)).json(&body);
        async move {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let wait = |id: String| {
        let (http, url) = (http.clone(), app.url.clone());
        async move {
            for _ in 0..300 {
                let job: Value = http.get(format!("{url}/v1/jobs/{id}")).send().await.unwrap().json().await.unwrap();
                if ["succeeded", "failed", "deferred"].contains(&job["status"].as_str().unwrap_or_default()) {
                    return job;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("job {id} did not settle");
        }
    };

    // A fetch, read fresh and then stale.
    let (status, job) =
        post("/v1/jobs", json!({"connector": "arxiv", "params": {"search_query": "all:testing", "max_results": 10}}))
            .await;
    assert_eq!(status, 202, "{job}");
    assert_eq!(wait(job["id"].as_str().unwrap().to_owned()).await["status"], "succeeded");
    let read = format!("{}/v1/datasets/arxiv?search_query=all:testing&max_results=10", app.url);
    assert_eq!(http.get(&read).send().await.unwrap().status(), 200);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let stale: Value = http.get(&read).send().await.unwrap().json().await.unwrap();
    assert_eq!(stale["stale"], true, "{stale}");

    // A PubMed term search is two calls, the second waiting for the 1/s quota in place.
    for (at, file) in [
        ("/entrez/eutils/esearch.fcgi", "pubmed/esearch_db_pubmed_term_biopython_success.xml"),
        ("/entrez/eutils/efetch.fcgi", "pubmed/efetch_db_pubmed_ids_12091962_9997_xml_abstract_success.xml"),
    ] {
        Mock::given(path(at))
            .respond_with(ResponseTemplate::new(200).set_body_raw(fixture(file), "text/xml"))
            .mount(&app.upstream)
            .await;
    }
    let (status, job) =
        post("/v1/jobs", json!({"connector": "pubmed", "params": {"term": "biopython", "retmax": 2}})).await;
    assert_eq!(status, 202, "{job}");
    assert_eq!(wait(job["id"].as_str().unwrap().to_owned()).await["status"], "succeeded");

    // A spent quota defers the second CrossRef job; with it waiting, a third is refused.
    for (i, expected) in [(1, "succeeded"), (2, "deferred")] {
        tokio::time::sleep(Duration::from_millis(1100)).await; // waiting jobs are counted once a second
        let (status, job) =
            post("/v1/jobs", json!({"connector": "crossref", "params": {"query": format!("ecology{i}"), "rows": 2}}))
                .await;
        assert_eq!(status, 202, "crossref job {i}: {job}");
        let job = wait(job["id"].as_str().unwrap().to_owned()).await;
        assert_eq!(job["status"], expected, "crossref job {i}: {job}");
    }
    let (status, body) =
        post("/v1/jobs", json!({"connector": "crossref", "params": {"query": "ecology3", "rows": 2}})).await;
    assert_eq!(status, 429, "{body}");

    // An open breaker refuses a call.
    let (status, body) = post("/v1/breakers/semantic_scholar", json!({"state": "open"})).await;
    assert_eq!(status, 200, "{body}");
    let (status, job) =
        post("/v1/jobs", json!({"connector": "semantic_scholar", "params": {"query": "ecology"}})).await;
    assert_eq!(status, 202, "{job}");
    assert_eq!(wait(job["id"].as_str().unwrap().to_owned()).await["status"], "deferred");

    // A request without a token.
    assert_eq!(reqwest::get(format!("{}/v1/breakers", app.url)).await.unwrap().status(), 401);

    let scraped = http.get(format!("{}/metrics", app.url)).send().await.unwrap().text().await.unwrap();
    let exported: BTreeSet<String> =
        scraped.lines().filter(|l| l.starts_with("apiary_")).flat_map(metric_names).collect();
    for file in ["dashboard.json", "alerts.yml"] {
        let named = metric_names(&config_file(file));
        assert!(named.len() >= 5, "{file} names only {named:?}");
        let missing: Vec<_> = named.difference(&exported).collect();
        assert!(
            missing.is_empty(),
            "{file} names metrics the binary did not export: {missing:?}\nexported: {exported:?}"
        );
    }
    let dashboard: Value = serde_json::from_str(&config_file("dashboard.json")).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    assert!(panels.iter().all(|p| p["targets"].as_array().is_some_and(|t| !t.is_empty())), "a panel without a query");
}

/// `X-Request-Id` is returned on every response (taken from the client when sensible, minted
/// otherwise), kept by the job it creates, and carried by the JSON log lines of both the API
/// request and the worker's run of the job, with the job id and connector.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_follows_the_request_into_its_job_and_the_logs() {
    let upstream = super::helpers::arxiv_upstream().await;
    let uri = upstream.uri();
    let env = [("APIARY_CONNECTORS__ARXIV__BASE_URL", uri.as_str()), ("RUST_LOG", "info")];
    let mut apiary = super::helpers::start_binary(&["run", "--log-format", "json"], &env, true).await;
    let url = apiary.url.clone();
    let http = reqwest::Client::new();
    let job = json!({"connector": "arxiv", "params": {"search_query": "all:testing", "max_results": 10}});
    let r =
        http.post(format!("{url}/v1/jobs")).header("x-request-id", "client-req-42").json(&job).send().await.unwrap();
    assert_eq!(r.headers()["x-request-id"], "client-req-42");
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["request_id"], "client-req-42", "{created}");
    let id = created["id"].as_str().unwrap().to_owned();
    let mut shown = Value::Null;
    for _ in 0..200 {
        shown = http.get(format!("{url}/v1/jobs/{id}")).send().await.unwrap().json().await.unwrap();
        if shown["status"] == "succeeded" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!((&shown["status"], &shown["request_id"]), (&json!("succeeded"), &json!("client-req-42")), "{shown}");

    // Without one, or with one that is not a sensible id, an id is minted.
    let other = json!({"connector": "arxiv", "params": {"search_query": "all:other"}});
    let r = http.post(format!("{url}/v1/jobs")).json(&other).send().await.unwrap();
    let minted = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    let created: Value = r.json().await.unwrap();
    assert_eq!(created["request_id"], minted.as_str(), "{created}");
    let r = http.get(format!("{url}/v1/connectors")).header("x-request-id", "bad id; <script>").send().await.unwrap();
    let replaced = r.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(!replaced.is_empty() && replaced != minted && !replaced.contains(' '), "{replaced}");

    let logs = apiary.stop();
    let lines: Vec<Value> = logs.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let carrying = |message: &str| {
        lines.iter().find(|l| l["message"] == message && l.to_string().contains("client-req-42")).cloned()
    };
    let queued = carrying("job queued").unwrap_or_else(|| panic!("no `job queued` line with the request id:\n{logs}"));
    assert_eq!(queued["job_id"], id.as_str(), "{queued}");
    let running =
        carrying("job running").unwrap_or_else(|| panic!("no `job running` line with the request id:\n{logs}"));
    assert_eq!(running["span"]["job_id"], id.as_str(), "{running}");
    assert_eq!(running["span"]["connector"], "arxiv", "{running}");
}

/// `GET /status` shows a person the breakers, quotas, jobs and datasets, as HTML with every
/// upstream-made text escaped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_breakers_quotas_jobs_and_datasets() {
    let app = spawn_app(Backend::Sqlite, &[("APIARY_FETCH__MAX_ATTEMPTS", "1")]).await;
    Mock::given(path("/api/query"))
        .and(wiremock::matchers::query_param("search_query", "all:testing"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("arxiv/query_search_testing_start0_max10_success.xml"), "application/atom+xml"),
        )
        .mount(&app.upstream)
        .await;
    Mock::given(path("/api/query"))
        .and(wiremock::matchers::query_param("search_query", "all:broken"))
        .respond_with(ResponseTemplate::new(400).set_body_string("<script>alert(1)</script>"))
        .mount(&app.upstream)
        .await;
    let good = app.enqueue("arxiv", json!({"search_query": "all:testing"})).await;
    assert_eq!(app.wait_job(&good, &["succeeded", "failed"]).await["status"], "succeeded");
    let bad = app.enqueue("arxiv", json!({"search_query": "all:broken"})).await;
    let failed = app.wait_job(&bad, &["succeeded", "failed"]).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(failed["error"].as_str().unwrap().contains("<script>"), "the upstream's text is in the job: {failed}");
    let (status, _) = app.post("/v1/breakers/sec_edgar", json!({"state": "open"})).await;
    assert_eq!(status, 200);

    // The API's root sends a person there.
    let r = app.http.get(format!("{}/", app.url)).send().await.unwrap();
    assert_eq!(r.url().path(), "/status", "the root redirects to the status page");
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let page = r.text().await.unwrap();
    for shown in [
        "<h2>Breakers</h2>",
        "<td>sec_edgar</td><td class=\"open\">open</td>",
        "<td>database/write</td>",
        "<td>arxiv</td><td>1000/s</td>",
        "arxiv?search_query=all%3Atesting",
        "class=\"succeeded\">succeeded",
        "class=\"failed\">failed",
        "1 cached",
    ] {
        assert!(page.contains(shown), "`{shown}` not on the page:\n{page}");
    }
    assert!(!page.contains("<script>alert"), "upstream text reached the page unescaped:\n{page}");
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"), "{page}");
}

/// Every span a span path leads through, innermost first (`["parse", "attempt", "fetch", "job"]`).
#[derive(Clone, Default)]
struct SpanPaths(std::sync::Arc<std::sync::Mutex<Vec<Vec<&'static str>>>>);

impl<S> tracing_subscriber::Layer<S> for SpanPaths
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    fn on_new_span(
        &self,
        _: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        if let Some(span) = ctx.span(id) {
            let path = span.scope().map(|s| s.name()).collect();
            self.0.lock().unwrap().push(path);
        }
    }
}

/// One request followed through its spans: the API request, the enqueue inside it; the job, and
/// inside it the claim, the fetch (limiter, breaker, the upstream attempt and its parse) and the
/// upsert — the chain a tracing backend shows for one job.
#[test]
fn a_job_runs_in_one_chain_of_spans_from_request_to_upsert() {
    use tracing_subscriber::layer::SubscriberExt as _;
    let paths = SpanPaths::default();
    let subscriber = tracing_subscriber::registry().with(paths.clone());
    // One thread runs the server, the workers and this test, so every span lands in `paths`.
    let _default = tracing::subscriber::set_default(subscriber);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let app = spawn_app(Backend::Sqlite, &[]).await;
        serve_arxiv(&app).await;
        let id = app.enqueue("arxiv", json!({"search_query": "all:testing"})).await;
        assert_eq!(app.wait_job(&id, &["succeeded", "failed"]).await["status"], "succeeded");
    });
    let paths = paths.0.lock().unwrap().clone();
    for expected in [
        &["enqueue", "request"][..],
        &["claim", "job"],
        &["limiter", "fetch", "job"],
        &["breaker", "fetch", "job"],
        &["attempt", "fetch", "job"],
        &["parse", "attempt", "fetch", "job"],
        &["upsert", "job"],
    ] {
        assert!(paths.iter().any(|p| p.as_slice() == expected), "no span path {expected:?} in {paths:?}");
    }
}
