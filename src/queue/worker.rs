//! The fetch worker: runs one job — claim it, fetch through the connector's stack, store the
//! result or record why not — and hands deferred jobs back to the queue.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use apalis::prelude::*;
use chrono::Utc;
use tracing::Instrument;

use super::{FetchJob, Queue, QueueError};
use crate::app::App;
use crate::resilience::{CallError, is_loud};
use crate::store::{FetchLog, JobStatus, StoreError};

/// How long a job may sit in `running` without news before it is presumed lost with its worker.
const LOST_AFTER: Duration = Duration::from_secs(15 * 60);

/// Run fetch workers until `shutdown` resolves; jobs in flight are finished first.
pub async fn run_workers(app: Arc<App>, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), QueueError> {
    app.runs_workers.store(true, std::sync::atomic::Ordering::Relaxed);
    let concurrency = app.config.queue.concurrency;
    let poll = app.config.queue.poll_interval;
    tokio::spawn(sweep_lost_jobs(app.clone()));
    if app.fleet.is_none() {
        tokio::spawn(follow_holds(app.clone()));
    }
    let signal = async move {
        shutdown.await;
        Ok(())
    };
    let monitor = Monitor::new().shutdown_timeout(Duration::from_secs(30));
    // apalis registers workers by name and refuses a second live one: each process needs its own.
    let name = format!("apiary-fetch-{}", worker_id());
    let backend = app.queue.backend();
    // The same worker on each backend; the backends' types differ, so the code is stamped out.
    macro_rules! run_on {
        ($backend:expr) => {{
            let app = app.clone();
            monitor
                .register(move |_| {
                    WorkerBuilder::new(name.as_str())
                        .backend($backend)
                        .concurrency(concurrency)
                        .data(app.clone())
                        .build(handle)
                })
                .run_with_signal(signal)
                .await
        }};
    }
    let result = match app.queue.clone() {
        Queue::Sqlite(q) => run_on!(q.clone().poll_with_interval(poll)),
        Queue::Postgres(q) => run_on!(q.clone().poll_with_interval(poll)),
        Queue::Redis(q) => run_on!(q.clone()),
    };
    result.map_err(|e| QueueError { backend, message: e.to_string() })
}

/// This process among the workers sharing a queue: host, process id and a random suffix (a
/// restarted process on the same host and pid must not collide with its predecessor's record).
fn worker_id() -> String {
    let host = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|s| s.trim().to_owned()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "host".into());
    format!("{host}-{}-{}", std::process::id(), &uuid::Uuid::new_v4().simple().to_string()[..8])
}

async fn handle(job: FetchJob, app: Data<Arc<App>>) -> Result<(), BoxDynError> {
    let span = tracing::info_span!("job", job_id = %job.id);
    run_job(&app, &job.id).instrument(span).await.map_err(|e| {
        tracing::error!(error = %e, "job could not be recorded; it will be picked up again");
        Box::new(e) as BoxDynError
    })
}

/// Run the job with this id, if it is still waiting to run.
pub async fn run_job(app: &App, id: &str) -> Result<(), StoreError> {
    let Some(row) = app.store.start_job(id).await? else {
        tracing::debug!("job already handled; message dropped");
        return Ok(());
    };
    let Some(connector) = apiary_connectors::get(&row.connector) else {
        return finish(app, id, JobStatus::Failed, Some(&format!("unknown connector `{}`", row.connector))).await;
    };
    let params = App::params(&row.params.0);
    let waited = (Utc::now() - row.created_at).to_std().unwrap_or_default();
    let started_at = Utc::now();
    let clock = std::time::Instant::now();
    tracing::info!(dataset = %row.key, attempt = row.attempts, "job running");
    let result = app.fetcher.fetch(connector, &params).await;
    let duration = clock.elapsed();
    let mut log = FetchLog {
        job_id: id,
        connector: connector.id(),
        key: &row.key,
        outcome: "success",
        error: None,
        record_count: None,
        started_at,
        duration,
    };
    match result {
        Ok(records) => {
            let body = serde_json::value::to_raw_value(&records).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let upsert = app
                .store
                .upsert_dataset(connector.id(), &row.key, &row.params.0, &body, records.len(), started_at)
                .await?;
            log.record_count = Some(records.len() as i64);
            app.store.log_fetch(&log).await?;
            tracing::info!(records = records.len(), changed = ?upsert, ms = duration.as_millis() as u64, "job succeeded");
            finish(app, id, JobStatus::Succeeded, None).await
        }
        Err(CallError::Deferred { wait, reason }) if waited <= app.config.queue.give_up_after => {
            let run_at = Utc::now() + chrono::Duration::from_std(wait).unwrap_or_default();
            log.outcome = "deferred";
            log.error = Some(&reason);
            app.store.log_fetch(&log).await?;
            metrics::counter!("apiary_jobs_deferred_total", "connector" => connector.id()).increment(1);
            if !app.store.defer_job(id, run_at, &reason).await? {
                return finish(
                    app,
                    id,
                    JobStatus::Failed,
                    Some(&format!("{reason}; a newer job for the dataset is pending")),
                )
                .await;
            }
            tracing::info!(wait_ms = wait.as_millis() as u64, %reason, "job deferred");
            if let Err(e) = app.queue.push(id, Some(wait)).await {
                tracing::error!(error = %e, "could not requeue a deferred job; the sweeper will retry");
            }
            Ok(())
        }
        Err(e) => {
            let msg = match &e {
                CallError::Deferred { reason, .. } => {
                    format!("gave up: {reason}, still, longer than queue.give_up_after after it was queued")
                }
                CallError::Failed(err) => err.to_string(),
            };
            log.outcome = match &e {
                CallError::Failed(err) => err.class.as_str(),
                CallError::Deferred { .. } => "gave_up",
            };
            log.error = Some(&msg);
            app.store.log_fetch(&log).await?;
            match &e {
                CallError::Failed(err) if is_loud(err) => {
                    tracing::error!(error = %msg, "job failed: operator action needed")
                }
                _ => tracing::warn!(error = %msg, "job failed"),
            }
            finish(app, id, JobStatus::Failed, Some(&msg)).await
        }
    }
}

async fn finish(app: &App, id: &str, status: JobStatus, error: Option<&str>) -> Result<(), StoreError> {
    metrics::counter!("apiary_jobs_finished_total", "status" => status.as_str()).increment(1);
    app.store.finish_job(id, status, error).await
}

/// How often workers without a fleet look for operators' holds set through other processes.
const HOLDS_EVERY: Duration = Duration::from_secs(2);

/// Without Redis, an operator's hold set through another process (an API-only `apiary serve`)
/// reaches this process's breakers through the store.
async fn follow_holds(app: Arc<App>) {
    let mut tick = tokio::time::interval(HOLDS_EVERY);
    loop {
        tick.tick().await;
        if let Err(e) = app.apply_holds().await {
            tracing::error!(error = %e, "could not read operators' breaker holds");
        }
    }
}

/// Jobs whose worker died mid-run go back on the queue: at-least-once, nothing lost.
async fn sweep_lost_jobs(app: Arc<App>) {
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    loop {
        tick.tick().await;
        match app.store.requeue_stale_running(chrono::Duration::from_std(LOST_AFTER).unwrap_or_default()).await {
            Ok(ids) => {
                for id in ids {
                    tracing::warn!(job_id = %id, "job lost with its worker; queued again");
                    if let Err(e) = app.queue.push(&id, None).await {
                        tracing::error!(job_id = %id, error = %e, "could not queue a lost job");
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "could not sweep lost jobs"),
        }
        match app.store.overdue_deferred(chrono::Duration::from_std(LOST_AFTER).unwrap_or_default()).await {
            Ok(ids) => {
                for id in ids {
                    tracing::warn!(job_id = %id, "deferred job overdue (its queue message was lost); queued again");
                    if let Err(e) = app.queue.push(&id, None).await {
                        tracing::error!(job_id = %id, error = %e, "could not queue an overdue job");
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "could not sweep overdue jobs"),
        }
    }
}
