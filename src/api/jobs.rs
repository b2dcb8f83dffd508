//! Jobs, breakers and connectors.

use std::sync::Arc;

use apiary_connectors::Params;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;

use super::error::{ApiError, body_rejection};
use super::request_id::RequestId;
use crate::app::{App, Question};
use crate::resilience::BreakerState;

/// A fetch of one connector's dataset, or of a failover group's answer.
#[derive(Deserialize)]
pub struct CreateJob {
    connector: Option<String>,
    group: Option<String>,
    #[serde(default)]
    params: serde_json::Map<String, serde_json::Value>,
}

/// JSON parameter values as strings: strings and numbers are accepted (and booleans, as words).
pub fn params_from_json(map: serde_json::Map<String, serde_json::Value>) -> Result<Params, ApiError> {
    map.into_iter()
        .map(|(k, v)| {
            let s = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                other => {
                    return Err(ApiError::bad_request(
                        "invalid_params",
                        format!("parameter `{k}` must be a string or a number, not {other}"),
                    ));
                }
            };
            Ok((k, s))
        })
        .collect()
}

pub async fn create(
    State(app): State<Arc<App>>,
    request_id: Option<Extension<RequestId>>,
    body: Result<Json<CreateJob>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body.map_err(body_rejection)?;
    let request_id = request_id.as_ref().map(|Extension(id)| id.as_str());
    let params = params_from_json(body.params)?;
    let (job, created) = match (body.connector, body.group) {
        (Some(connector), None) => app.enqueue_for(&Question::new(&connector, params)?, request_id).await?,
        (None, Some(group)) => {
            crate::groups::enqueue(&app, &crate::groups::GroupQuestion::new(&app, &group, params)?, request_id).await?
        }
        _ => {
            return Err(ApiError::bad_request(
                "bad_request",
                "give either `connector` (one upstream) or `group` (a failover group), with `params`",
            ));
        }
    };
    let status = if created { StatusCode::ACCEPTED } else { StatusCode::OK };
    let mut v = job_json(&job);
    v["deduplicated"] = (!created).into();
    Ok((status, Json(v)).into_response())
}

pub async fn show(State(app): State<Arc<App>>, Path(id): Path<String>) -> Result<Json<serde_json::Value>, ApiError> {
    let job = app.store().job(&id).await?.ok_or_else(|| ApiError::not_found("unknown_job", format!("no job {id}")))?;
    Ok(Json(job_json(&job)))
}

pub fn job_json(job: &crate::store::JobRow) -> serde_json::Value {
    let mut v = serde_json::json!({
        "id": job.id,
        "connector": job.connector,
        "dataset": job.key,
        "params": job.params.0,
        "status": job.status,
        "attempts": job.attempts,
        "error": job.error,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "run_at": job.run_at,
        "finished_at": job.finished_at,
        "request_id": job.request_id,
    });
    if let Some(failover) = &job.failover {
        v["group"] = failover.group.clone().into();
        v["group_params"] = failover.params.clone().into();
        v["passed"] = serde_json::to_value(&failover.passed).unwrap_or_default();
    }
    v
}

pub async fn breakers(State(app): State<Arc<App>>) -> Json<serde_json::Value> {
    // Each breaker as reads see it: the fleet's, this process's when it runs the workers, else
    // what the workers persisted (an API-only process's own breakers never see a call).
    let mut items = Vec::new();
    for snap in app.breakers().all().await {
        // The last background probe of the connector by this process (`null` when none).
        let (probed_at, probe_ok) = app.fetcher().stack(&snap.connector).and_then(|s| s.last_probe()).unzip();
        let mut item = serde_json::to_value(snap).unwrap_or_default();
        item["last_probe_at"] = serde_json::json!(probed_at);
        item["last_probe_ok"] = serde_json::json!(probe_ok);
        items.push(item);
    }
    // Then the cache database's own, this process's (`database`, operations `read` and `write`).
    items.extend(app.store().breaker_snapshots().iter().map(|s| serde_json::to_value(s).unwrap_or_default()));
    let mut body = serde_json::json!({"breakers": items, "fleet": app.fleet().is_some()});
    if let Some(fleet) = app.fleet() {
        let members = fleet.members().await.unwrap_or_default();
        body["members"] = members
            .into_iter()
            .map(|(member, role, seen)| serde_json::json!({"member": member, "role": role, "last_seen": seen}))
            .collect();
    }
    Json(body)
}

#[derive(Deserialize)]
pub struct HoldBreaker {
    /// `open`, `closed`, or `auto` to release a hold.
    state: String,
    /// One operation's breaker (with `breaker.per_operation`); without it, every breaker of the
    /// connector.
    operation: Option<String>,
}

pub async fn hold_breaker(
    State(app): State<Arc<App>>,
    Path(connector): Path<String>,
    body: Result<Json<HoldBreaker>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(body) = body.map_err(body_rejection)?;
    let stack = app
        .fetcher()
        .stack(&connector)
        .ok_or_else(|| ApiError::not_found("unknown_connector", format!("unknown connector `{connector}`")))?;
    let held = match body.state.as_str() {
        "open" => Some(BreakerState::Open),
        "closed" => Some(BreakerState::Closed),
        "auto" => None,
        other => {
            return Err(ApiError::bad_request(
                "invalid_state",
                format!("state `{other}` is not one of open, closed, auto"),
            ));
        }
    };
    let operation = body.operation.as_deref();
    if !app.breakers().hold(&connector, operation, held).await? {
        let known: Vec<&str> = stack.operations().collect();
        return Err(ApiError::bad_request(
            "unknown_operation",
            match known.is_empty() {
                true => format!("{connector} keeps one breaker (breaker.per_operation is off); leave out `operation`"),
                false => {
                    format!("{connector} has no breaker for `{}`; operations: {}", op_name(operation), known.join(", "))
                }
            },
        ));
    }
    tracing::warn!(connector = %connector, operation = op_name(operation), state = %body.state, "breaker held by an operator");
    Ok(Json(serde_json::to_value(stack.snapshot_of(operation).await).unwrap_or_default()))
}

fn op_name(operation: Option<&str>) -> &str {
    operation.unwrap_or("all")
}

pub async fn connectors(State(app): State<Arc<App>>) -> Json<serde_json::Value> {
    Json(serde_json::json!({"connectors": connector_table(app.config())}))
}

/// Each connector with its parameters, limits and key state, for `GET /v1/connectors`.
fn connector_table(config: &crate::config::Config) -> Vec<serde_json::Value> {
    apiary_connectors::all()
        .iter()
        .map(|c| {
            let settings = config.connector(c.id());
            serde_json::json!({
                "id": c.id(),
                "description": c.describe(),
                "group": c.group().as_str(),
                "params": c.params().iter().map(|p| serde_json::json!({"name": p.name, "required": p.required, "help": p.help})).collect::<Vec<_>>(),
                "base_url": settings.map(|s| apiary_connectors::strip_userinfo(&s.base_url).into_owned()),
                "rate_limit": settings.map(|s| s.rate_limit.iter().map(|q| q.to_string()).collect::<Vec<_>>().join(",")),
                "ttl": settings.map(|s| crate::config::format_duration(s.ttl)),
                "requires_key": c.requires_key(),
                "key_set": settings.is_some_and(|s| s.api_key.is_some()),
                "requires_contact": c.requires_contact(),
                "operations": c.operations(),
                "breaker_per_operation": settings.is_some_and(|s| s.breaker.per_operation),
            })
        })
        .collect()
}
