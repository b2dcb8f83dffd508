//! Hardening seen from outside: bearer tokens and their scopes, the request body cap, and the
//! refusal to serve an unauthenticated API beyond loopback.

use reqwest::Method;
use serde_json::{Value, json};

use super::helpers::{Backend, TestApp, spawn_app};
use super::serve_arxiv;

const READ: &str = "read-token-0123456789";
const ADMIN: &str = "admin-token-0123456789";
const TOKENS: &str = "read:read-token-0123456789,admin:admin-token-0123456789";

/// Status, `WWW-Authenticate` and JSON body of a request with `token` as bearer (if any).
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, String, Value) {
    let mut req = app.http.request(method, format!("{}{path}", app.url));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let challenge = r.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, challenge, r.json().await.unwrap_or(Value::Null))
}

fn job() -> Value {
    json!({"connector": "arxiv", "params": {"search_query": "all:testing", "max_results": 10}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_scopes_guard_every_route_but_health() {
    let app = spawn_app(Backend::Sqlite, &[("APIARY_API_TOKENS", TOKENS)]).await;
    serve_arxiv(&app).await;

    for open in ["/health", "/ready", "/metrics"] {
        assert_eq!(app.http.get(format!("{}{open}", app.url)).send().await.unwrap().status(), 200, "{open}");
    }
    for path in ["/v1/datasets", "/v1/datasets/arxiv?search_query=x", "/v1/jobs/nope", "/v1/breakers", "/v1/connectors"]
    {
        let (status, challenge, body) = call(&app, Method::GET, path, None, None).await;
        assert_eq!((status, challenge.as_str()), (401, r#"Bearer realm="apiary""#), "{path}: {body}");
        assert_eq!(body["error"]["code"], "missing_token", "{path}: {body}");
        let (status, challenge, body) = call(&app, Method::GET, path, Some("not-a-token-we-know"), None).await;
        assert_eq!(status, 401, "{path}: {body}");
        assert!(challenge.contains(r#"error="invalid_token""#), "{challenge}");
        assert_eq!(body["error"]["code"], "invalid_token");
    }

    // A read token reads, and may neither enqueue nor hold a breaker.
    let (status, _, body) = call(&app, Method::GET, "/v1/connectors", Some(READ), None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["connectors"].as_array().is_some_and(|c| !c.is_empty()));
    let (status, challenge, body) = call(&app, Method::POST, "/v1/jobs", Some(READ), Some(job())).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(challenge, r#"Bearer realm="apiary", error="insufficient_scope", scope="admin""#);
    assert_eq!(body["error"]["code"], "insufficient_scope");
    let hold = Some(json!({"state": "open"}));
    let (status, _, body) = call(&app, Method::POST, "/v1/breakers/arxiv", Some(READ), hold.clone()).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(app.app.breakers().get("arxiv", None).await.unwrap().state, apiary::resilience::BreakerState::Closed);
    let (status, _, body) = call(&app, Method::POST, "/v1/jobs", None, Some(job())).await;
    assert_eq!(status, 401, "{body}");

    // The admin token enqueues; the job runs and its dataset is read with the read token.
    let (status, _, created) = call(&app, Method::POST, "/v1/jobs", Some(ADMIN), Some(job())).await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_str().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (status, _, job) = call(&app, Method::GET, &format!("/v1/jobs/{id}"), Some(READ), None).await;
        assert_eq!(status, 200, "{job}");
        if job["status"] == "succeeded" {
            break;
        }
        assert!(job["status"] != "failed" && std::time::Instant::now() < deadline, "{job}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let path = "/v1/datasets/arxiv?search_query=all:testing&max_results=10";
    let (status, _, data) = call(&app, Method::GET, path, Some(READ), None).await;
    assert_eq!((status, data["record_count"].as_i64()), (200, Some(10)), "{data}");
    let (status, _, data) = call(&app, Method::GET, path, Some(ADMIN), None).await;
    assert_eq!(status, 200, "admin may read too: {data}");

    // Refusals are counted, by reason.
    let metrics = app.http.get(format!("{}/metrics", app.url)).send().await.unwrap().text().await.unwrap();
    for reason in ["missing_token", "invalid_token", "insufficient_scope"] {
        let line = format!("apiary_api_refusals_total{{reason=\"{reason}\"}}");
        assert!(metrics.contains(&line), "{line} missing from /metrics");
    }
    assert!(!metrics.contains(READ) && !metrics.contains(ADMIN), "a token shows in /metrics");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_can_ask_for_a_read_token() {
    let app = spawn_app(Backend::Sqlite, &[("APIARY_API_TOKENS", TOKENS), ("APIARY_API__OPEN_METRICS", "false")]).await;
    let (status, challenge, _) = call(&app, Method::GET, "/metrics", None, None).await;
    assert_eq!((status, challenge.as_str()), (401, r#"Bearer realm="apiary""#));
    let r = app.http.get(format!("{}/metrics", app.url)).bearer_auth(READ).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("apiary_"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_body_is_answered_413_and_nothing_is_queued() {
    let app = spawn_app(Backend::Sqlite, &[("APIARY_API__MAX_BODY", "4KiB")]).await;
    let big = json!({"connector": "arxiv", "params": {"search_query": "x".repeat(8 * 1024)}});
    let (status, _, body) = call(&app, Method::POST, "/v1/jobs", None, Some(big)).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["code"], "body_too_large", "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("api.max_body"), "{body}");
    let hold = json!({"state": "open", "operation": "o".repeat(8 * 1024)});
    let (status, _, body) = call(&app, Method::POST, "/v1/breakers/arxiv", None, Some(hold)).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(app.app.store().job_counts().await.unwrap().iter().map(|(_, n)| n).sum::<i64>(), 0);
    // A body under the cap is served as ever.
    let (status, _, body) = call(&app, Method::POST, "/v1/jobs", None, Some(job())).await;
    assert_eq!(status, 202, "{body}");
}

/// `apiary serve` on a non-loopback address with no token configured refuses to start.
#[test]
fn serving_beyond_loopback_without_tokens_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_apiary"))
        .arg("serve")
        .current_dir(dir.path())
        .env("APIARY_LISTEN", "0.0.0.0:0")
        .env_remove("APIARY_API_TOKENS")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("without authentication") && stderr.contains("--insecure-no-auth"), "{stderr}");
    assert!(!dir.path().join("apiary.db").exists(), "it stopped before opening the database");
}

/// A redirect is followed on the upstream's own host only: one elsewhere reaches neither the
/// other host nor, with it, the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_stay_on_the_upstreams_host() {
    use wiremock::matchers::path;
    use wiremock::{Mock, MockServer, ResponseTemplate};

    let app = spawn_app(Backend::Sqlite, &[("APIARY_CONNECTORS__ALPHA_VANTAGE__API_KEY", "key-never-elsewhere")]).await;
    let quote = super::helpers::fixture("alpha_vantage/global_quote_MSFT_success.json");
    let moved = Mock::given(path("/query"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", "/moved/query"))
        .mount_as_scoped(&app.upstream)
        .await;
    Mock::given(path("/moved/query"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(quote, "application/json"))
        .mount(&app.upstream)
        .await;
    let id = app.enqueue("alpha_vantage", json!({"function": "GLOBAL_QUOTE", "symbol": "MSFT"})).await;
    assert_eq!(app.wait_job(&id, &["succeeded", "failed"]).await["status"], "succeeded", "same host: followed");
    drop(moved);

    let elsewhere = MockServer::start().await;
    Mock::given(path("/query"))
        .respond_with(ResponseTemplate::new(302).insert_header("location", format!("{}/query", elsewhere.uri())))
        .mount(&app.upstream)
        .await;
    let id = app.enqueue("alpha_vantage", json!({"function": "GLOBAL_QUOTE", "symbol": "IBM"})).await;
    let job = app.wait_job(&id, &["succeeded", "failed", "deferred"]).await;
    assert_ne!(job["status"], "succeeded", "{job}");
    assert!(job["error"].as_str().is_some_and(|e| e.contains("302")), "{job}");
    assert!(!job.to_string().contains("key-never-elsewhere"), "{job}");
    assert!(elsewhere.received_requests().await.unwrap().is_empty(), "a request reached the other host");
}

/// `apiary health` is the container health check: exit 0 while the API answers `/health` (or
/// `/ready`), 1 when it does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apiary_health_says_whether_the_api_answers() {
    let mut apiary = super::helpers::start_binary(&["serve"], &[], false).await;
    let health = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_apiary")).arg("health").args(args).output().unwrap()
    };
    let url = apiary.url.clone();
    assert!(health(&["--url", &url]).status.success());
    assert!(health(&["--ready", "--url", &url]).status.success());
    apiary.stop();
    let down = health(&["--url", &url]);
    assert_eq!(down.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&down.stderr).contains("/health"), "{}", String::from_utf8_lossy(&down.stderr));
}
