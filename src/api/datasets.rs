//! Reads of cached datasets: answered from the cache at once, flagged stale (never silently),
//! with `Age` and `Cache-Status` (RFC 9211) headers. A stale read asks for one (deduplicated)
//! refresh when the breaker allows a call.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use apiary_connectors::Params;
use apiary_connectors::text::snippet;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::error::{ApiError, rejection};
use crate::app::{App, Question, Standing};
use crate::reads::{Entry, ReadState};
use crate::resilience::BreakerState;
use crate::store::{Dataset, DatasetSummary, JobStatus};

/// Longest `Prefer: wait=N` honoured.
const MAX_WAIT: Duration = Duration::from_secs(120);

#[derive(Serialize)]
struct DatasetBody<'a> {
    dataset: &'a str,
    connector: &'a str,
    params: &'a serde_json::Map<String, serde_json::Value>,
    records: Records<'a>,
    /// All the dataset's records, of which `records` may be one page.
    record_count: i64,
    /// Where the next page of records starts (`_cursor`), when this one is not the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<String>,
    fetched_at: chrono::DateTime<chrono::Utc>,
    changed_at: chrono::DateTime<chrono::Utc>,
    age_seconds: u64,
    stale: bool,
    served_from: &'static str,
    breaker: BreakerState,
    /// The refresh job a stale read queued, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_job: Option<String>,
}

/// The records of a read: the stored array as it is, or one page of it.
#[derive(Serialize)]
#[serde(untagged)]
enum Records<'a> {
    All(&'a RawValue),
    Page(Vec<&'a RawValue>),
}

/// Which records a read returns: `_limit` (at most `api.max_records_per_read`) from `_cursor`.
/// The underscore keeps them apart from the upstreams' own parameters (`limit` is reddit's).
#[derive(Debug, Clone, Copy)]
struct Window {
    cursor: usize,
    limit: usize,
}

impl Window {
    /// Whether this window is a whole read (no `_cursor`, no smaller `_limit`).
    fn is_whole(self, max: usize) -> bool {
        self.cursor == 0 && self.limit == max
    }

    fn from_query(pairs: &mut Vec<(String, String)>, max: usize) -> Result<Window, ApiError> {
        let mut window = Window { cursor: 0, limit: max };
        let mut take = |name: &str| -> Result<Option<usize>, ApiError> {
            let Some(at) = pairs.iter().position(|(k, _)| k == name) else { return Ok(None) };
            let (_, v) = pairs.remove(at);
            v.parse().map(Some).map_err(|_| {
                ApiError::bad_request(
                    "invalid_params",
                    format!("`{name}` must be a whole number, not `{}`", snippet(&v)),
                )
            })
        };
        if let Some(cursor) = take("_cursor")? {
            window.cursor = cursor;
        }
        if let Some(limit) = take("_limit")? {
            if limit == 0 || limit > max {
                return Err(ApiError::bad_request(
                    "invalid_params",
                    format!("`_limit` must be 1..={max} (api.max_records_per_read)"),
                ));
            }
            window.limit = limit;
        }
        Ok(window)
    }

    /// This window of the stored records, and where the next one starts.
    fn apply<'a>(self, d: &'a Dataset) -> Result<(Records<'a>, Option<String>), ApiError> {
        if self.cursor == 0 && d.record_count <= self.limit as i64 {
            return Ok((Records::All(&d.records.0), None));
        }
        let all: Vec<&RawValue> = serde_json::from_str(d.records.0.get())
            .map_err(|e| ApiError::from(crate::store::StoreError::Corrupt(format!("{}: records: {e}", d.key))))?;
        let end = self.cursor.saturating_add(self.limit).min(all.len());
        let next = (end < all.len()).then(|| end.to_string());
        let page = all.get(self.cursor..end).map(<[_]>::to_vec).unwrap_or_default();
        Ok((Records::Page(page), next))
    }
}

pub async fn show(
    State(app): State<Arc<App>>,
    Path(connector): Path<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let max = app.config().api.max_records_per_read;
    // A whole read asked before is answered by the question it validated to then.
    let target = uri.path_and_query().map_or("", |p| p.as_str());
    let (q, window) = match app.questions.get(target) {
        Some(q) => (q, Window { cursor: 0, limit: max }),
        None => {
            let Query(mut pairs) = Query::<Vec<(String, String)>>::try_from_uri(&uri).map_err(rejection)?;
            let window = Window::from_query(&mut pairs, max)?;
            let q = Arc::new(Question::new(&connector, query_params(pairs)?)?);
            if window.is_whole(max) {
                app.questions.put(target, q.clone());
            }
            (q, window)
        }
    };
    // A whole read of a hot dataset comes from memory.
    let whole = window.is_whole(max);
    if whole && let Some(entry) = app.cached_read(&q.key).await? {
        return Ok(respond_from(&app, &q, &entry).await);
    }
    let mut cached = app.dataset(&q).await?;
    if cached.is_none() {
        let breaker = app.breakers().of_dataset(q.connector, &q.params).await;
        if let Some(snap) = breaker.filter(|s| s.state == BreakerState::Open) {
            count_read(q.connector.id(), ReadResult::Unavailable);
            return Err(ApiError::upstream_unavailable(snap.retry_at, |secs| {
                format!(
                    "{} is failing (breaker open) and nothing is cached for {}; retry in {secs} s",
                    q.connector.id(),
                    q.key
                )
            }));
        }
        if let Some(wait) = prefer_wait(&headers) {
            cached = wait_for_first_fetch(&app, &q, wait).await?;
        }
    }
    let Some(d) = cached else {
        count_read(q.connector.id(), ReadResult::Miss);
        return Err(ApiError::not_found(
            "not_cached",
            format!(
                "{} has never been fetched; enqueue it with POST /v1/jobs, or send `Prefer: wait=30` to wait for a first fetch",
                q.key
            ),
        ));
    };
    if whole && d.record_count <= window.limit as i64 {
        match app.keep_read(&d) {
            Some(entry) => return Ok(respond_from(&app, &q, &entry).await),
            None => tracing::warn!(dataset = %q.key, "could not serialise a dataset for the read cache"),
        }
    }
    respond(&app, &q, &d, window).await
}

/// A query string's parameters, each given once.
pub(super) fn query_params(pairs: Vec<(String, String)>) -> Result<Params, ApiError> {
    let mut params = Params::new();
    for (k, v) in pairs {
        if params.insert(k.clone(), v).is_some() {
            return Err(ApiError::bad_request("invalid_params", format!("parameter `{}` given twice", snippet(&k))));
        }
    }
    Ok(params)
}

/// What a read found, for `apiary_reads_total{connector, result}`.
#[derive(Clone, Copy)]
pub(super) enum ReadResult {
    Fresh,
    Stale,
    Miss,
    Unavailable,
}

impl ReadResult {
    const ALL: [ReadResult; 4] = [ReadResult::Fresh, ReadResult::Stale, ReadResult::Miss, ReadResult::Unavailable];

    pub(super) fn of(stale: bool) -> ReadResult {
        if stale { ReadResult::Stale } else { ReadResult::Fresh }
    }

    fn as_str(self) -> &'static str {
        match self {
            ReadResult::Fresh => "fresh",
            ReadResult::Stale => "stale",
            ReadResult::Miss => "miss",
            ReadResult::Unavailable => "unavailable",
        }
    }
}

/// Count a read in `apiary_reads_total{connector, result}`. Every pair's counter is registered
/// once, in a table by connector (looking one up by its labels at every read cost more than the
/// rest of the count).
pub(super) fn count_read(connector: &'static str, result: ReadResult) {
    static COUNTERS: OnceLock<Vec<(&'static str, [metrics::Counter; 4])>> = OnceLock::new();
    let counters = COUNTERS.get_or_init(|| {
        apiary_connectors::all()
            .iter()
            .map(|c| {
                let id = c.id();
                (
                    id,
                    ReadResult::ALL
                        .map(|r| metrics::counter!("apiary_reads_total", "connector" => id, "result" => r.as_str())),
                )
            })
            .collect()
    });
    if let Some((_, by_result)) = counters.iter().find(|(id, _)| *id == connector) {
        by_result[result as usize].increment(1);
    }
}

/// How a read stands ([`App::standing`]), counted in `apiary_reads_total`.
async fn standing(app: &App, q: &Question, fetched_at: chrono::DateTime<chrono::Utc>) -> Standing {
    let s = app.standing(q, fetched_at).await;
    count_read(q.connector.id(), ReadResult::of(s.stale));
    s
}

/// A read answered from the read cache.
async fn respond_from(app: &App, q: &Question, entry: &Entry) -> Response {
    let s = standing(app, q, entry.fetched_at).await;
    let body = entry.body(&ReadState {
        age: s.age,
        stale: s.stale,
        breaker: s.breaker,
        refresh_job: s.refresh_job.as_deref(),
    });
    let mut resp =
        ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], axum::body::Body::new(body))
            .into_response();
    cache_headers(app, q, &s, resp.headers_mut());
    resp
}

/// `Age` and `Cache-Status` (RFC 9211) of a read.
fn cache_headers(app: &App, q: &Question, s: &Standing, h: &mut HeaderMap) {
    set_cache_headers(app, q.connector.id(), s.age, s.stale, s.breaker, h);
}

/// `Age` and `Cache-Status` of a read of `connector`'s dataset, `age` old.
pub(super) fn set_cache_headers(
    app: &App,
    connector: &str,
    age: Duration,
    stale: bool,
    breaker: BreakerState,
    h: &mut HeaderMap,
) {
    let ttl = app.config().connector(connector).map_or(0, |c| c.ttl.as_secs() as i64);
    let mut status = format!("apiary; hit; ttl={}", ttl - age.as_secs() as i64);
    match breaker {
        BreakerState::Open => status.push_str("; detail=breaker-open"),
        BreakerState::HalfOpen => status.push_str("; detail=breaker-half-open"),
        BreakerState::Closed if stale => status.push_str("; detail=expired"),
        BreakerState::Closed => {}
    }
    h.insert(header::AGE, HeaderValue::from(age.as_secs()));
    if let Ok(v) = HeaderValue::from_str(&status) {
        h.insert("cache-status", v);
    }
}

async fn respond(app: &App, q: &Question, d: &Dataset, window: Window) -> Result<Response, ApiError> {
    let (records, next_cursor) = window.apply(d)?;
    let s = standing(app, q, d.fetched_at).await;
    let body = DatasetBody {
        dataset: &d.key,
        connector: &d.connector,
        params: &d.params.0,
        records,
        record_count: d.record_count,
        next_cursor,
        fetched_at: d.fetched_at,
        changed_at: d.changed_at,
        age_seconds: s.age.as_secs(),
        stale: s.stale,
        served_from: "cache",
        breaker: s.breaker,
        refresh_job: s.refresh_job.clone(),
    };
    let mut resp = axum::Json(body).into_response();
    cache_headers(app, q, &s, resp.headers_mut());
    Ok(resp)
}

/// `Prefer: wait=N` (RFC 7240): the caller will wait up to N seconds for a first fetch.
pub(super) fn prefer_wait(headers: &HeaderMap) -> Option<Duration> {
    headers.get_all("prefer").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).find_map(|pref| {
        let secs = pref.trim().strip_prefix("wait=")?.trim().parse::<u64>().ok()?;
        Some(Duration::from_secs(secs).min(MAX_WAIT))
    })
}

async fn wait_for_first_fetch(app: &App, q: &Question, wait: Duration) -> Result<Option<Dataset>, ApiError> {
    let (job, _) = app.enqueue(q).await?;
    match wait_for_job(app, &job.id, &q.key, wait).await? {
        true => Ok(app.dataset(q).await?),
        false => Ok(None),
    }
}

/// Wait up to `wait` for job `id`, the first fetch of `what`: `true` once it succeeded, `false`
/// while it goes on; a job that failed answers `502` with its error.
pub(super) async fn wait_for_job(app: &App, id: &str, what: &str, wait: Duration) -> Result<bool, ApiError> {
    let deadline = tokio::time::Instant::now() + wait;
    while tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let Some(row) = app.store().job(id).await? else { break };
        match row.status() {
            JobStatus::Succeeded => return Ok(true),
            JobStatus::Failed => {
                return Err(ApiError::new(
                    StatusCode::BAD_GATEWAY,
                    "fetch_failed",
                    format!("the first fetch of {what} failed: {}", row.error.unwrap_or_default()),
                ));
            }
            _ => {}
        }
    }
    Ok(false)
}

#[derive(Deserialize)]
pub struct ListQuery {
    connector: Option<String>,
    #[serde(default = "default_limit")]
    limit: i64,
    #[serde(default)]
    offset: i64,
}

fn default_limit() -> i64 {
    100
}

pub async fn list(
    State(app): State<Arc<App>>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<axum::Json<serde_json::Value>, ApiError> {
    let Query(q) = query.map_err(rejection)?;
    if !(1..=1000).contains(&q.limit) || q.offset < 0 {
        return Err(ApiError::bad_request("invalid_params", "limit must be 1..=1000 and offset at least 0"));
    }
    let rows: Vec<DatasetSummary> = app.store().datasets(q.connector.as_deref(), q.limit, q.offset).await?;
    let mut states = std::collections::HashMap::new();
    let mut items = Vec::with_capacity(rows.len());
    for d in rows {
        // Each set of breakers is asked once: the connector's, or with per-operation breakers
        // those of the dataset's steps.
        let operations = match apiary_connectors::get(&d.connector) {
            Some(c) if app.fetcher().per_operation(c.id()) => app.fetcher().breakers_of(c, &App::params(&d.params)),
            _ => vec![None],
        };
        let key = (d.connector.clone(), operations);
        let state = match states.get(&key) {
            Some(s) => *s,
            None => {
                let s = app.breakers().worst(&d.connector, &key.1).await.map_or(BreakerState::Closed, |s| s.state);
                states.insert(key, s);
                s
            }
        };
        let age = (chrono::Utc::now() - d.fetched_at).to_std().unwrap_or_default();
        let mut v = serde_json::to_value(&d).unwrap_or_default();
        v["age_seconds"] = age.as_secs().into();
        v["stale"] = app.is_stale(&d.connector, age, state).into();
        v["breaker"] = state.as_str().into();
        items.push(v);
    }
    let next = (items.len() as i64 == q.limit).then(|| q.offset + q.limit);
    Ok(axum::Json(serde_json::json!({"datasets": items, "limit": q.limit, "offset": q.offset, "next_offset": next})))
}
