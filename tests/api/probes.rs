//! Background probes: an open breaker whose recovery time has passed is probed with the
//! connector's own small request, and closes (or opens again) without any user traffic.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{path, query_param};
use wiremock::{Mock, ResponseTemplate};

use crate::helpers::{Backend, fixture, spawn_app};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_breaker_is_probed_and_closes_without_user_traffic() {
    let app = spawn_app(
        Backend::Sqlite,
        &[
            ("APIARY_CONNECTORS__ARXIV__BREAKER__FAILURE_THRESHOLD", "2"),
            ("APIARY_CONNECTORS__ARXIV__BREAKER__RECOVERY_TIMEOUT", "2s"),
            ("APIARY_CONNECTORS__ARXIV__BREAKER__SUCCESS_THRESHOLD", "2"),
            ("APIARY_FETCH__PROBE_INTERVAL", "200ms"),
            ("APIARY_FETCH__MAX_ATTEMPTS", "1"),
        ],
    )
    .await;
    let down =
        Mock::given(path("/api/query")).respond_with(ResponseTemplate::new(503)).mount_as_scoped(&app.upstream).await;
    for query in ["all:a", "all:b"] {
        let id = app.enqueue("arxiv", json!({"search_query": query})).await;
        let job = app.wait_job(&id, &["failed", "succeeded"]).await;
        assert_eq!(job["status"], "failed", "{job}");
    }
    let breaker = app.breaker("arxiv").await;
    assert_eq!(breaker["state"], "open", "{breaker}");
    assert_eq!(breaker["last_probe_at"], Value::Null, "not probed yet: {breaker}");
    let calls = || async { app.upstream.received_requests().await.unwrap() };
    let opened_with = calls().await.len();
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(calls().await.len(), opened_with, "no probe before the recovery time has passed");

    // Past the recovery time the probe meets the upstream still down: open again, probe failed.
    let deadline = Instant::now() + Duration::from_secs(15);
    let until = |want: &'static str, ok: bool| {
        let app = &app;
        async move {
            loop {
                let b = app.breaker("arxiv").await;
                if b["state"] == want && b["last_probe_ok"] == json!(ok) {
                    return b;
                }
                assert!(Instant::now() < deadline, "breaker never {want} with a probe ok={ok}: {b}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    let failed = until("open", false).await;
    assert!(failed["last_probe_at"].is_string(), "{failed}");
    drop(down);

    // The upstream is back: the next probes (one paper by id) close the breaker.
    Mock::given(path("/api/query"))
        .and(query_param("id_list", "1605.08386"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(fixture("arxiv/id_list_1605.08386_single_entry_success.xml"), "application/atom+xml"),
        )
        .mount(&app.upstream)
        .await;
    until("closed", true).await;
    let probes: Vec<_> = calls().await.into_iter().skip(opened_with).collect();
    assert!(probes.len() >= 3, "a failed probe and two that closed the breaker: {}", probes.len());
    for request in &probes {
        let query: Vec<_> = request.url.query_pairs().collect();
        assert!(
            query.iter().any(|(k, v)| k == "id_list" && v == "1605.08386"),
            "a probe asks for one paper: {query:?}"
        );
    }
    let metrics = app.http.get(format!("{}/metrics", app.url)).send().await.unwrap().text().await.unwrap();
    for series in [
        r#"apiary_breaker_probes_total{connector="arxiv",result="ok"}"#,
        r#"apiary_breaker_probes_total{connector="arxiv",result="failed"}"#,
    ] {
        assert!(metrics.lines().any(|l| l.starts_with(series)), "{series} missing from /metrics");
    }
}

/// Every connector's probe is a request its own validation accepts.
#[test]
fn every_probe_is_a_valid_request() {
    let mut probed = Vec::new();
    for c in apiary_connectors::all() {
        let Some(pairs) = c.probe() else { continue };
        let raw = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        if let Err(e) = apiary::app::Question::new(c.id(), raw) {
            panic!("{}'s probe is refused: {e}", c.id());
        }
        probed.push(c.id());
    }
    assert_eq!(probed, ["arxiv", "pubmed", "semantic_scholar", "sec_edgar"]);
}
