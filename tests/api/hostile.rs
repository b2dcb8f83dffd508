//! Hostile input: malformed and oversized bodies, wrong types, deep nesting, unknown names, path
//! tricks, header abuse, slow clients and a flood of distinct enqueues. Each is answered with a
//! 4xx (JSON wherever apiary itself answers), and the process serves normally afterwards.

use std::time::Duration;

use futures::StreamExt as _;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::helpers::{Backend, TestApp, spawn_app};

/// Send `body` as `POST /v1/jobs` with `content_type`; status and JSON error code.
async fn post_raw(app: &TestApp, body: Vec<u8>, content_type: &str) -> (u16, Value) {
    let r = app
        .http
        .post(format!("{}/v1/jobs", app.url))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_else(|| panic!("not an error body: {body}"))
}

async fn still_serving(app: &TestApp) {
    let (status, _, body) = app.get("/health").await;
    assert_eq!((status, &body["status"]), (200, &json!("ok")));
    let (status, _, body) = app.get("/v1/connectors").await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_wrong_bodies_are_refused_as_json() {
    let app = spawn_app(Backend::Sqlite, &[]).await;
    let deep = format!("{{\"connector\": \"arxiv\", \"params\": {}{}}}", "[".repeat(5000), "]".repeat(5000));
    let cases: Vec<(&str, Vec<u8>, &str, u16, &str)> = vec![
        ("truncated", "{\"connector\": ".into(), "application/json", 400, "bad_request"),
        ("not an object", "[1, 2, 3]".into(), "application/json", 400, "bad_request"),
        ("connector a number", "{\"connector\": 5}".into(), "application/json", 400, "bad_request"),
        ("no connector", "{\"params\": {}}".into(), "application/json", 400, "bad_request"),
        ("params a list", "{\"connector\": \"arxiv\", \"params\": [1]}".into(), "application/json", 400, "bad_request"),
        ("deeply nested", deep.into_bytes(), "application/json", 400, "bad_request"),
        ("not JSON at all", "connector=arxiv".into(), "application/x-www-form-urlencoded", 400, "bad_request"),
        ("invalid UTF-8", b"{\"connector\": \"\xff\"}".to_vec(), "application/json", 400, "bad_request"),
        (
            "object value",
            json!({"connector": "arxiv", "params": {"search_query": {"$ne": 1}}}).to_string().into_bytes(),
            "application/json",
            400,
            "invalid_params",
        ),
        (
            "null value",
            json!({"connector": "arxiv", "params": {"search_query": null}}).to_string().into_bytes(),
            "application/json",
            400,
            "invalid_params",
        ),
        (
            "unknown connector",
            json!({"connector": "../etc/passwd"}).to_string().into_bytes(),
            "application/json",
            404,
            "unknown_connector",
        ),
        (
            "unknown parameter",
            json!({"connector": "arxiv", "params": {"search_query": "x", "bogus": "1"}}).to_string().into_bytes(),
            "application/json",
            400,
            "invalid_params",
        ),
        (
            "path climbing out",
            json!({"connector": "reddit", "params": {"subreddit": "../../api/v1/me"}}).to_string().into_bytes(),
            "application/json",
            400,
            "invalid_params",
        ),
        (
            "encoded slash",
            json!({"connector": "reddit", "params": {"subreddit": "rust%2F..%2Fadmin"}}).to_string().into_bytes(),
            "application/json",
            400,
            "invalid_params",
        ),
        (
            "query in a segment",
            json!({"connector": "yahoo_finance", "params": {"symbol": "MSFT?crumb=x"}}).to_string().into_bytes(),
            "application/json",
            400,
            "invalid_params",
        ),
        (
            "parameters past 4 KB",
            json!({"connector": "arxiv", "params": {"search_query": "q".repeat(5000)}}).to_string().into_bytes(),
            "application/json",
            400,
            "invalid_params",
        ),
        ("past api.max_body", "x".repeat(80 * 1024).into_bytes(), "application/json", 413, "body_too_large"),
    ];
    for (what, body, content_type, status, expected) in cases {
        let (got, answer) = post_raw(&app, body, content_type).await;
        assert_eq!(got, status, "{what}: {answer}");
        assert_eq!(code(&answer), expected, "{what}: {answer}");
    }
    let counts = app.app.store().job_counts().await.unwrap();
    assert_eq!(counts.iter().map(|(_, n)| n).sum::<i64>(), 0, "a refused request queued a job: {counts:?}");
    still_serving(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_reads_and_headers_are_refused() {
    let app = spawn_app(Backend::Sqlite, &[]).await;
    for (path, status, expected) in [
        ("/v1/datasets/nope?x=1", 404, "unknown_connector"),
        ("/v1/datasets/..%2F..%2Fetc%2Fpasswd", 404, "unknown_connector"),
        ("/v1/datasets/arxiv?search_query=a&search_query=b", 400, "invalid_params"),
        ("/v1/datasets/arxiv?search_query=a&_limit=abc", 400, "invalid_params"),
        ("/v1/datasets/arxiv?search_query=a&_limit=0", 400, "invalid_params"),
        ("/v1/datasets/arxiv?search_query=a&_cursor=-1", 400, "invalid_params"),
        ("/v1/datasets?limit=-5", 400, "invalid_params"),
        ("/v1/datasets?limit=abc", 400, "bad_request"),
        ("/v1/jobs/%00%01", 404, "unknown_job"),
        ("/v1/nothing/here", 404, "not_found"),
    ] {
        let (got, _, body) = app.get(path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert_eq!(code(&body), expected, "{path}: {body}");
    }
    let long = format!("/v1/datasets/arxiv?search_query={}", "q".repeat(5000));
    let (got, _, body) = app.get(&long).await;
    assert_eq!((got, code(&body)), (400, "invalid_params"), "{body}");

    // `Prefer: wait` that is not a number, or absurdly long, does not hold the request.
    for prefer in ["wait=abc", "wait=99999999999999999999999", "wait=-3", "wait"] {
        let started = std::time::Instant::now();
        let r = app
            .http
            .get(format!("{}/v1/datasets/arxiv?search_query=never", app.url))
            .header("prefer", prefer)
            .timeout(Duration::from_secs(150))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert!((400..500).contains(&status), "{prefer}: {status} {body}");
        assert!(body["error"]["code"].is_string(), "{prefer}: {body}");
        assert!(started.elapsed() < Duration::from_secs(125), "{prefer} held the read for {:?}", started.elapsed());
    }

    // Too many headers, or one enormous header: refused by the HTTP layer with a 4xx.
    let mut many = app.http.get(format!("{}/v1/connectors", app.url));
    for i in 0..200 {
        many = many.header(format!("x-h{i}"), "v");
    }
    let status = many.send().await.map(|r| r.status().as_u16());
    assert!(status.as_ref().map_or(true, |s| (400..500).contains(s)), "200 headers: {status:?}");
    let huge = app.http.get(format!("{}/v1/connectors", app.url)).header("x-big", "b".repeat(1 << 20)).send().await;
    let status = huge.map(|r| r.status().as_u16());
    assert!(status.as_ref().map_or(true, |s| (400..500).contains(s)), "a 1 MiB header: {status:?}");
    still_serving(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_garbage_clients_are_cut_off() {
    let app = spawn_app(Backend::Sqlite, &[("APIARY_API__HEADER_READ_TIMEOUT", "500ms")]).await;
    let addr = app.url.trim_start_matches("http://").to_owned();

    // Half a request head, then silence: closed once the header timeout passes.
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    slow.write_all(b"GET /v1/connectors HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut buf)).await;
    assert!(closed.is_ok(), "a half-sent head held its connection past the header timeout");

    // Garbage instead of HTTP: a 400 or a closed connection, never a hang.
    let mut garbage = tokio::net::TcpStream::connect(&addr).await.unwrap();
    garbage.write_all(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not http at all\r\n\r\n").await.unwrap();
    let mut buf = Vec::new();
    let answered = tokio::time::timeout(Duration::from_secs(5), garbage.read_to_end(&mut buf)).await;
    assert!(answered.is_ok(), "garbage held its connection");
    let head = String::from_utf8_lossy(&buf);
    assert!(buf.is_empty() || head.starts_with("HTTP/1.1 4"), "{head}");

    // A body announced but never sent in full does not hold a worker of the API either.
    let mut short = tokio::net::TcpStream::connect(&addr).await.unwrap();
    short
        .write_all(b"POST /v1/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"conn")
        .await
        .unwrap();
    drop(short);
    still_serving(&app).await;
}

/// Ten thousand distinct enqueues against a small queue cap, on the real binary: each answered
/// `202` or `429` with `Retry-After`, the cap held, and the process's memory about where it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_distinct_enqueues_is_capped_and_answered() {
    let mut apiary = super::helpers::start_binary(
        &["run"],
        &[
            ("APIARY_QUEUE__MAX_PENDING_PER_CONNECTOR", "300"),
            ("APIARY_CONNECTORS__ARXIV__RATE_LIMIT", "1/h"),
            ("APIARY_CONNECTORS__ARXIV__BASE_URL", "http://127.0.0.1:9"),
        ],
        false,
    )
    .await;
    let url = apiary.url.clone();
    let http = reqwest::Client::new();
    let rss_before = rss_kib(apiary.child.id());
    let flood = futures::stream::iter(0..10_000)
        .map(|i| {
            let (http, url) = (http.clone(), url.clone());
            async move {
                let r = http
                    .post(format!("{url}/v1/jobs"))
                    .json(&json!({"connector": "arxiv", "params": {"search_query": format!("all:flood{i}")}}))
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                let retry_after = r.headers().contains_key("retry-after");
                let body: Value = r.json().await.unwrap_or(Value::Null);
                (status, retry_after, body["error"]["code"].as_str().map(str::to_owned))
            }
        })
        .buffer_unordered(16);
    let answers: Vec<_> = flood.collect().await;
    let rss_after = rss_kib(apiary.child.id());
    let metrics = http.get(format!("{url}/metrics")).send().await.unwrap().text().await.unwrap();
    let jobs = |status: &str| -> usize {
        let line = format!("apiary_jobs{{status=\"{status}\"}} ");
        metrics.lines().find_map(|l| l.strip_prefix(line.as_str())).map_or(0, |n| n.trim().parse().unwrap())
    };
    let health = http.get(format!("{url}/health")).send().await.map(|r| r.status().as_u16());
    apiary.stop();
    let accepted = answers.iter().filter(|(s, ..)| *s == 202).count();
    let refused =
        answers.iter().filter(|(s, retry, code)| *s == 429 && *retry && code.as_deref() == Some("queue_full")).count();
    assert_eq!(
        accepted + refused,
        10_000,
        "other answers: {:?}",
        answers.iter().find(|(s, ..)| *s != 202 && *s != 429)
    );
    // Every accepted job exists; those waiting are at the cap, past it by at most the 16
    // requests in flight when it was reached and the 16 jobs of the lane running then (a running
    // job is not waiting; one deferred by the spent quota waits again).
    let all: usize = ["queued", "deferred", "running", "succeeded", "failed"].iter().map(|s| jobs(s)).sum();
    assert_eq!(all, accepted, "{metrics}");
    let waiting = jobs("queued") + jobs("deferred");
    assert!((300..=332).contains(&waiting), "{waiting} waiting against a cap of 300 ({accepted} accepted)");
    assert!(rss_after < rss_before + 64 * 1024, "RSS grew from {rss_before} to {rss_after} KiB");
    assert_eq!(health.ok(), Some(200), "alive afterwards");
}

/// A process's resident set, in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A fake upstream speaking raw HTTP/1.1: each connection's request head is read, then
/// `answer` writes whatever it likes.
async fn raw_upstream<F, Fut>(answer: F) -> String
where
    F: Fn(tokio::net::TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let answer = std::sync::Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && stream.read_exact(&mut byte).await.is_ok() {
                    head.push(byte[0]);
                }
                answer(stream).await;
            });
        }
    });
    url
}

/// Run one CrossRef job against `upstream`; the finished (or deferred) job.
async fn crossref_job(upstream: &str) -> Value {
    let env = [
        ("APIARY_CONNECTORS__CROSSREF__BASE_URL", upstream),
        ("APIARY_CONNECTORS__CROSSREF__MAX_BODY", "64KiB"),
        ("APIARY_CONNECTORS__CROSSREF__BREAKER__TIMEOUT", "1s"),
        ("APIARY_FETCH__MAX_ATTEMPTS", "1"),
    ];
    let app = spawn_app(Backend::Sqlite, &env).await;
    let id = app.enqueue("crossref", json!({"query": "ecology", "rows": 2})).await;
    let job = app.wait_job(&id, &["succeeded", "failed", "deferred"]).await;
    still_serving(&app).await;
    job
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_upstream_body_fails_at_the_cap() {
    let upstream = raw_upstream(|mut s| async move {
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
            .await;
        let chunk = format!("4000\r\n{}\r\n", "[".repeat(0x4000));
        while s.write_all(chunk.as_bytes()).await.is_ok() {}
    })
    .await;
    let started = std::time::Instant::now();
    let job = crossref_job(&upstream).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["error"].as_str().unwrap().contains("larger than 65536 bytes (max_body)"), "{job}");
    assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickling_upstream_cannot_hold_a_worker() {
    let upstream = raw_upstream(|mut s| async move {
        let _ =
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{").await;
        while s.write_all(b" ").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let started = std::time::Instant::now();
    let job = crossref_job(&upstream).await;
    assert_ne!(job["status"], "succeeded", "{job}");
    assert!(job["error"].as_str().unwrap().contains("no answer within 1s"), "{job}");
    assert!(started.elapsed() < Duration::from_secs(10), "the trickle held the job for {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_or_mislabelled_upstream_bodies_fail_clearly() {
    // apiary asks for no compression; a gzip body sent anyway is read as the bytes it is (a
    // bomb cannot expand past the cap) and fails to parse.
    let gzip: &[u8] = &[0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x4b, 0x4c, 0x4a, 0x06, 0x00];
    let upstream = raw_upstream(move |mut s| async move {
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n",
            gzip.len()
        );
        let _ = s.write_all(head.as_bytes()).await;
        let _ = s.write_all(gzip).await;
    })
    .await;
    let job = crossref_job(&upstream).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(job["error"].is_string(), "{job}");

    let html = b"<!DOCTYPE html><html><body>Service temporarily unavailable</body></html>";
    let upstream = raw_upstream(move |mut s| async move {
        let head = format!("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n", html.len());
        let _ = s.write_all(head.as_bytes()).await;
        let _ = s.write_all(html).await;
    })
    .await;
    let job = crossref_job(&upstream).await;
    assert_ne!(job["status"], "succeeded", "{job}");
    assert!(job["error"].is_string(), "{job}");
}
