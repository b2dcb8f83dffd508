//! Trace export: with `--features otlp` and `APIARY_OTLP_ENDPOINT`, spans go to an OTLP/HTTP
//! collector (here one in this process, decoding what it is sent), a job's spans continuing the
//! trace of the request that queued it. Without the feature, the variable is refused loudly and
//! the process runs on.

use std::time::Duration;

use serde_json::{Value, json};

use super::helpers::{arxiv_upstream, start_binary};

/// Enqueue one arXiv fetch with request id `request_id` at `url`, and wait until it succeeded;
/// the job's id.
async fn one_job(url: &str, request_id: &str) -> String {
    let http = reqwest::Client::new();
    let job = json!({"connector": "arxiv", "params": {"search_query": "all:testing", "max_results": 10}});
    let r = http.post(format!("{url}/v1/jobs")).header("x-request-id", request_id).json(&job).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.unwrap()["id"].as_str().unwrap().to_owned();
    for _ in 0..200 {
        let shown: Value = http.get(format!("{url}/v1/jobs/{id}")).send().await.unwrap().json().await.unwrap();
        if shown["status"] == "succeeded" {
            return id;
        }
        assert_ne!(shown["status"], "failed", "{shown}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} did not succeed");
}

#[cfg(feature = "otlp")]
mod export {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
    use prost::Message as _;

    use super::start_binary;

    /// One span as the collector received it.
    #[derive(Debug, Clone)]
    struct Span {
        name: String,
        trace: Vec<u8>,
        id: Vec<u8>,
        parent: Vec<u8>,
        attributes: Vec<(String, String)>,
        service: Option<String>,
    }

    impl Span {
        fn attribute(&self, key: &str) -> Option<&str> {
            self.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
        }
    }

    fn text(value: &Option<AnyValue>) -> String {
        match value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(any_value::Value::StringValue(s)) => s.clone(),
            Some(other) => format!("{other:?}"),
            None => String::new(),
        }
    }

    fn pairs(attributes: &[KeyValue]) -> Vec<(String, String)> {
        attributes.iter().map(|kv| (kv.key.clone(), text(&kv.value))).collect()
    }

    /// A collector on a free port: its URL, and the spans it was sent.
    async fn collector() -> (String, Arc<Mutex<Vec<Span>>>) {
        let spans = Arc::new(Mutex::new(Vec::new()));
        let kept = spans.clone();
        let receive = move |body: axum::body::Bytes| {
            let kept = kept.clone();
            async move {
                let Ok(request) = ExportTraceServiceRequest::decode(body) else {
                    return axum::http::StatusCode::BAD_REQUEST;
                };
                for resource in request.resource_spans {
                    let attributes = resource.resource.map(|r| pairs(&r.attributes)).unwrap_or_default();
                    let service = attributes.into_iter().find(|(k, _)| k == "service.name").map(|(_, v)| v);
                    for span in resource.scope_spans.into_iter().flat_map(|s| s.spans) {
                        kept.lock().unwrap().push(Span {
                            name: span.name,
                            trace: span.trace_id,
                            id: span.span_id,
                            parent: span.parent_span_id,
                            attributes: pairs(&span.attributes),
                            service: service.clone(),
                        });
                    }
                }
                axum::http::StatusCode::OK
            }
        };
        let app = axum::Router::new().route("/v1/traces", axum::routing::post(receive));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, spans)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_job_continues_the_trace_of_the_request_that_queued_it() {
        let upstream = super::arxiv_upstream().await;
        let (collector, spans) = collector().await;
        let uri = upstream.uri();
        let env = [
            ("APIARY_CONNECTORS__ARXIV__BASE_URL", uri.as_str()),
            ("APIARY_OTLP_ENDPOINT", collector.as_str()),
            // Batches every 100 ms rather than every 5 s.
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ];
        let mut apiary = start_binary(&["run"], &env, false).await;
        let id = super::one_job(&apiary.url, "trace-me-1").await;

        let deadline = Instant::now() + Duration::from_secs(20);
        let has = |name: &str| spans.lock().unwrap().iter().any(|s| s.name == name);
        while !(has("upsert") && has("request")) {
            assert!(Instant::now() < deadline, "no upsert span reached the collector: {:?}", spans.lock().unwrap());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        apiary.stop();
        let spans = spans.lock().unwrap().clone();
        let request = spans
            .iter()
            .find(|s| s.name == "request" && s.attribute("request_id") == Some("trace-me-1"))
            .unwrap_or_else(|| panic!("no request span with the request id: {spans:?}"));
        assert_eq!(request.service.as_deref(), Some("apiary"));
        assert_eq!(request.trace.len(), 16, "{request:?}");
        let one = |name: &str| {
            let of_trace: Vec<&Span> = spans.iter().filter(|s| s.name == name && s.trace == request.trace).collect();
            assert_eq!(of_trace.len(), 1, "one `{name}` span in the request's trace: {spans:?}");
            of_trace[0].clone()
        };
        let (enqueue, job, fetch, attempt) = (one("enqueue"), one("job"), one("fetch"), one("attempt"));
        assert_eq!(job.attribute("job_id"), Some(id.as_str()), "{job:?}");
        assert_eq!(job.attribute("request_id"), Some("trace-me-1"), "{job:?}");
        // request → enqueue → (the queue) → job → claim, fetch → breaker, limiter, attempt → parse; job → upsert.
        for (child, parent) in [
            (&enqueue, request),
            (&job, &enqueue),
            (&one("claim"), &job),
            (&fetch, &job),
            (&one("breaker"), &fetch),
            (&one("limiter"), &fetch),
            (&attempt, &fetch),
            (&one("parse"), &attempt),
            (&one("upsert"), &job),
        ] {
            assert_eq!(child.parent, parent.id, "`{}` is not a child of `{}`: {spans:?}", child.name, parent.name);
        }
    }
}

/// Without the feature the variable is refused with a clear line, and the process runs on.
#[cfg(not(feature = "otlp"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_feature_the_endpoint_is_refused_loudly_and_jobs_still_run() {
    let upstream = arxiv_upstream().await;
    let uri = upstream.uri();
    let env = [("APIARY_CONNECTORS__ARXIV__BASE_URL", uri.as_str()), ("APIARY_OTLP_ENDPOINT", "http://127.0.0.1:9")];
    let mut apiary = start_binary(&["run"], &env, true).await;
    one_job(&apiary.url, "no-traces-1").await;
    let logs = apiary.stop();
    assert!(
        logs.lines().any(|l| l.contains("traces are not exported") && l.contains("--features otlp")),
        "no line saying traces are not exported:\n{logs}"
    );
}
