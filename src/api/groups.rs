//! Failover groups: `GET /v1/groups` lists them; `GET /v1/groups/{name}?…` serves the best cached
//! answer of any member ([`crate::groups::read`]), saying which member served it.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};

use super::datasets::{ReadResult, count_read, prefer_wait, query_params, set_cache_headers, wait_for_job};
use super::error::{ApiError, rejection};
use crate::app::App;
use crate::groups::{self, GroupQuestion};

pub async fn list(State(app): State<Arc<App>>) -> axum::Json<serde_json::Value> {
    let mut items = Vec::with_capacity(app.config().groups.len());
    for g in &app.config().groups {
        let mut members = Vec::with_capacity(g.members.len());
        for m in &g.members {
            let settings = app.config().connector(m.connector);
            let needs_key = apiary_connectors::get(m.connector).is_some_and(|c| c.requires_key());
            let params: serde_json::Map<String, serde_json::Value> =
                m.map.iter().map(|(name, t)| (name.clone(), t.to_string().into())).collect();
            members.push(serde_json::json!({
                "connector": m.connector,
                "params": params,
                "breaker": app.breakers().state(m.connector).await,
                "key_set": !needs_key || settings.is_some_and(|s| s.api_key.is_some()),
            }));
        }
        items.push(serde_json::json!({
            "name": g.name,
            "description": g.description,
            "params": g.params,
            "members": members,
        }));
    }
    axum::Json(serde_json::json!({"groups": items}))
}

pub async fn show(
    State(app): State<Arc<App>>,
    Path(name): Path<String>,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Query(pairs) = query.map_err(rejection)?;
    let gq = GroupQuestion::new(&app, &name, query_params(pairs)?)?;
    let mut read = groups::read(&app, &gq).await?;
    if read.served.is_none() {
        if read.all_open() {
            // Retry when the first member's breaker lets a call through.
            let mut retry_at = Vec::new();
            for m in &gq.group.members {
                retry_at.extend(app.breakers().get(m.connector, None).await.and_then(|s| s.retry_at));
            }
            return Err(ApiError::upstream_unavailable(retry_at.into_iter().min(), |secs| {
                format!(
                    "every member of {name} is failing (breakers open) and none has an answer cached; retry in {secs} s"
                )
            }));
        }
        if let Some(wait) = prefer_wait(&headers) {
            let (job, _) = groups::enqueue(&app, &gq, None).await?;
            if wait_for_job(&app, &job.id, &format!("group {name}"), wait).await? {
                read = groups::read(&app, &gq).await?;
            }
        }
    }
    let Some(body) = read.body(&gq) else {
        return Err(ApiError::not_found(
            "not_cached",
            format!(
                "no member of {name} has an answer cached for these parameters; enqueue one with \
                 POST /v1/jobs {{\"group\": \"{name}\", \"params\": {{…}}}}, or send `Prefer: wait=30` to wait for it"
            ),
        ));
    };
    let served = read.served.as_ref().map(|s| (read.members[s.member].connector, s.age, s.stale, s.breaker));
    let mut resp = axum::Json(body).into_response();
    if let Some((connector, age, stale, breaker)) = served {
        count_read(connector, ReadResult::of(stale));
        set_cache_headers(&app, connector, age, stale, breaker, resp.headers_mut());
    }
    Ok(resp)
}
