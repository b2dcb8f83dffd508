//! The fetch worker: runs one job — claim it, fetch through the connector's stack, store the
//! result or record why not — and hands deferred jobs back to the queue.
//!
//! Nothing outside stops it: a queue that goes away ends only a lane's apalis worker, which the
//! queue starts again ([`Queue::serve`](crate::queue::Queue::serve)); a store write that fails is retried before the job is
//! let go; a running job beats a heartbeat into its row so the lost-job sweep only takes back
//! jobs whose worker really died.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures::future::BoxFuture;
use tokio::sync::watch;
use tracing::Instrument;

use crate::app::{App, Question};
use crate::fetch::Fetched;
use crate::groups;
use crate::queue::{FetchJob, QueueError, Runner};
use crate::resilience::{CallError, is_loud};
use crate::store::{Failover, FetchLog, JobStatus, Kept, NewResult, NextMember, StoreError};

/// Heartbeats a running job may miss before it is presumed lost with its worker (several, so a
/// slow database does not make a live job look dead).
const LOST_AFTER_BEATS: u32 = 6;
/// How often finished jobs and fetch-log entries past their retention are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(300);
/// How long a job keeps retrying a store write that fails for a transient reason.
const STORE_PATIENCE: Duration = Duration::from_secs(120);

/// Run fetch workers until `shutdown` resolves; jobs in flight are finished first (see
/// [`Queue::serve`](crate::queue::Queue::serve), which supervises each lane's worker on its own), beside the sweeps that
/// take back lost jobs, prune what is past retention, follow operators' holds and probe open
/// breakers.
pub async fn run_workers(app: Arc<App>, shutdown: impl Future<Output = ()> + Send + 'static) -> Result<(), QueueError> {
    app.breakers().serve_workers();
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    tokio::spawn(until(stop.clone(), sweep(app.clone())));
    tokio::spawn(until(stop.clone(), prune_queue(app.clone())));
    if app.fleet().is_none() {
        tokio::spawn(until(stop.clone(), follow_holds(app.clone())));
    }
    if !app.config().fetch.probe_interval.is_zero() {
        tokio::spawn(until(stop.clone(), probe_breakers(app.clone())));
    }
    let config = app.config().clone();
    let concurrency = move |lane: &str| config.connector(lane).map_or(config.queue.concurrency, |c| c.concurrency);
    let poll = app.config().queue.poll_interval;
    app.queue().clone().serve(Arc::new(Jobs(app.clone())), concurrency, poll, stop).await;
    Ok(())
}

/// Run `task` until `stop` says so.
async fn until(mut stop: watch::Receiver<bool>, task: impl Future<Output = ()>) {
    tokio::select! {
        _ = stop.wait_for(|s| *s) => {}
        _ = task => {}
    }
}

/// The queue's [`Runner`]: each message runs the job it names.
struct Jobs(Arc<App>);

impl Runner for Jobs {
    fn run(&self, job: FetchJob) -> BoxFuture<'static, ()> {
        let app = self.0.clone();
        Box::pin(async move {
            let span = tracing::info_span!(
                "job",
                job_id = %job.id,
                connector = tracing::field::Empty,
                request_id = tracing::field::Empty
            );
            crate::telemetry::continue_trace(&span, job.trace.as_deref());
            if let Err(e) = run_job(&app, &job.id).instrument(span).await {
                // The store kept failing: the message is all that still knows of the job, so it
                // goes back on the queue rather than being dropped.
                tracing::error!(job_id = %job.id, error = %e, "job could not be recorded; queued again");
                let connector = app.store().job(&job.id).await.ok().flatten().map(|r| r.connector).unwrap_or_default();
                requeue(app, job.id, connector, Some(Duration::from_secs(5)));
            }
        })
    }
}

/// Run `write` until it succeeds, retrying transient failures (the database went away, is full
/// or busy) with backoff for up to [`STORE_PATIENCE`].
async fn persist<T, F, Fut>(what: &str, mut write: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let give_up = tokio::time::Instant::now() + STORE_PATIENCE;
    let mut pause = Duration::from_millis(200);
    loop {
        match write().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_transient() && tokio::time::Instant::now() + pause < give_up => {
                tracing::warn!(error = %e, retry_in_ms = pause.as_millis() as u64, "{what} failed; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(10));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Run `work` while beating the running job's heartbeat every `queue.heartbeat`. Each beat is
/// its own task, so a slow database never pauses the fetch.
async fn with_heartbeat<T>(app: &App, id: &str, work: impl Future<Output = T>) -> T {
    let mut work = pin!(work);
    let every = app.config().queue.heartbeat;
    let mut beat = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    loop {
        tokio::select! {
            out = &mut work => return out,
            _ = beat.tick() => {
                let (store, id) = (app.store().clone(), id.to_owned());
                tokio::spawn(async move {
                    if let Err(e) = store.touch_job(&id).await {
                        tracing::warn!(job_id = %id, error = %e, "could not beat a running job's heartbeat");
                    }
                });
            }
        }
    }
}

/// `wait` from now as a time, saturating far in the future rather than overflowing.
fn after(wait: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(wait).ok().and_then(|d| Utc::now().checked_add_signed(d)).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Run the job with this id, if it is still waiting to run.
pub async fn run_job(app: &Arc<App>, id: &str) -> Result<(), StoreError> {
    let claiming = persist("claiming a job", || app.store().start_job(id)).instrument(tracing::debug_span!("claim"));
    let Some(claim) = claiming.await? else {
        tracing::debug!("job already handled; message dropped");
        return Ok(());
    };
    let row = claim.job;
    let Some(connector) = apiary_connectors::get(&row.connector) else {
        return finish(app, id, JobStatus::Failed, Some(&format!("unknown connector `{}`", row.connector))).await;
    };
    let params = App::params(&row.params.0);
    let waited = (Utc::now() - row.created_at).to_std().unwrap_or_default();
    let started_at = Utc::now();
    let clock = std::time::Instant::now();
    let span = tracing::Span::current();
    span.record("connector", row.connector.as_str());
    if let Some(request_id) = &row.request_id {
        span.record("request_id", request_id.as_str());
    }
    tracing::info!(dataset = %row.key, attempt = row.attempts, "job running");
    let fetching = app.fetcher().fetch(connector, &params, &claim.validators).instrument(tracing::debug_span!("fetch"));
    let result = with_heartbeat(app, id, fetching).await;
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
    let give_up_after = app.config().queue.give_up_after;
    match result {
        Ok(Fetched::Current { validators }) => {
            log.outcome = "not_modified";
            let kept = Kept::Current { key: &row.key, fetched_at: started_at, validators: &validators };
            persist("refreshing a result", || app.store().record_fetch(Some(&kept), &log, JobStatus::Succeeded, None))
                .await?;
            finished(JobStatus::Succeeded);
            app.reads().forget(&row.key);
            tracing::info!(ms = duration.as_millis() as u64, "job succeeded: cached records still current");
            Ok(())
        }
        Ok(Fetched::Records { records, validators }) => {
            let body = serde_json::value::to_raw_value(&records).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let count = records.len();
            // The records are in `body` now: only one copy is held while the store writes.
            drop(records);
            log.record_count = Some(count as i64);
            let result = NewResult {
                connector: connector.id(),
                key: &row.key,
                params: &row.params.0,
                records: &body,
                record_count: count,
                fetched_at: started_at,
                validators: &validators,
            };
            let kept = Kept::Records(result);
            let storing = std::time::Instant::now();
            let upsert =
                persist("storing a result", || app.store().record_fetch(Some(&kept), &log, JobStatus::Succeeded, None))
                    .instrument(tracing::debug_span!("upsert", records = count))
                    .await?;
            let store_ms = storing.elapsed().as_millis() as u64;
            finished(JobStatus::Succeeded);
            app.reads().forget(&row.key);
            tracing::info!(records = count, changed = ?upsert, ms = duration.as_millis() as u64, store_ms, "job succeeded");
            Ok(())
        }
        Err(CallError::Deferred { wait, reason }) if waited < give_up_after => {
            // However long the upstream asks for, a job waits no longer than it has left before
            // it gives up.
            let wait = wait.min(give_up_after - waited);
            log.outcome = "deferred";
            log.error = Some(&reason);
            // A group job goes on to the next member that can be asked now, rather than wait.
            if let Some(failover) = &row.failover
                && let groups::Next::Member(next, failover) =
                    groups::next_member(app, failover, connector.id(), &reason, false).await
            {
                return fall_over(app, id, &log, &next, &failover, &reason).await;
            }
            persist("logging a fetch", || app.store().log_fetch(&log)).await?;
            metrics::counter!("apiary_jobs_deferred_total", "connector" => connector.id()).increment(1);
            if !persist("deferring a job", || app.store().defer_job(id, after(wait), &reason)).await? {
                return finish(
                    app,
                    id,
                    JobStatus::Failed,
                    Some(&format!("{reason}; a newer job for the dataset is pending")),
                )
                .await;
            }
            tracing::info!(wait_ms = wait.as_millis() as u64, %reason, "job deferred");
            if let Err(e) = app.queue().push(id, connector.id(), Some(wait)).await {
                tracing::error!(error = %e, "could not requeue a deferred job; retrying");
                requeue(app.clone(), id.to_owned(), connector.id().to_owned(), Some(wait));
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
            // A group job goes on to the next member; with none left it fails with every
            // member's reason.
            let msg = match &row.failover {
                None => msg,
                Some(failover) => match groups::next_member(app, failover, connector.id(), &msg, true).await {
                    groups::Next::Member(next, failover) => {
                        log.error = Some(&msg);
                        return fall_over(app, id, &log, &next, &failover, &msg).await;
                    }
                    groups::Next::Exhausted(failover) => groups::exhausted_message(&failover),
                },
            };
            log.error = Some(&msg);
            persist("recording a failure", || app.store().record_fetch(None, &log, JobStatus::Failed, Some(&msg)))
                .await?;
            finished(JobStatus::Failed);
            match &e {
                CallError::Failed(err) if is_loud(err) => {
                    tracing::error!(error = %msg, "job failed: operator action needed")
                }
                _ => tracing::warn!(error = %msg, "job failed"),
            }
            Ok(())
        }
    }
}

/// Hand a group job whose fetch (`log`) failed for `reason` to the `next` member: the fetch is
/// logged, the job queued again for the member's dataset.
async fn fall_over(
    app: &Arc<App>,
    id: &str,
    log: &FetchLog<'_>,
    next: &Question,
    failover: &Failover,
    reason: &str,
) -> Result<(), StoreError> {
    persist("logging a fetch", || app.store().log_fetch(log)).await?;
    let (from, to) = (log.connector, next.connector.id());
    let params = next.params_json();
    let member = NextMember { connector: to, key: &next.key, params: &params, failover };
    let why = format!("{from}: {reason}; fell over to {to}");
    if !persist("falling over", || app.store().fall_over(id, &member, &why)).await? {
        // The next member's dataset is waiting in another job already, which answers for the
        // group; or this job is no longer running here (the lost-job sweep took it back), and
        // whoever runs it now records how it ends.
        match app.store().pending_job(&next.key).await? {
            Some(pending) if pending.id != id => {
                let msg = format!("{why}, whose dataset {} is already pending as job {}", next.key, pending.id);
                return finish(app, id, JobStatus::Failed, Some(&msg)).await;
            }
            _ => {
                tracing::warn!("a job that fell over was no longer running here; left to whoever runs it");
                return Ok(());
            }
        }
    }
    metrics::counter!("apiary_failovers_total", "group" => failover.group.clone(), "from" => from.to_owned(), "to" => to)
        .increment(1);
    tracing::warn!(group = %failover.group, from, to, %reason, "group job fell over to its next member");
    if let Err(e) = app.queue().push(id, to, None).await {
        tracing::error!(error = %e, "could not queue a job that fell over; retrying");
        requeue(app.clone(), id.to_owned(), to.to_owned(), None);
    }
    Ok(())
}

async fn finish(app: &App, id: &str, status: JobStatus, error: Option<&str>) -> Result<(), StoreError> {
    persist("finishing a job", || app.store().finish_job(id, status, error)).await?;
    finished(status);
    Ok(())
}

fn finished(status: JobStatus) {
    metrics::counter!("apiary_jobs_finished_total", "status" => status.as_str()).increment(1);
}

/// Put a job's message back on the queue from a task of its own, retrying with backoff for a
/// few minutes while the queue refuses; past that, the sweep finds a running or deferred job (a
/// queued one then waits for its next enqueue).
fn requeue(app: Arc<App>, id: String, connector: String, delay: Option<Duration>) {
    tokio::spawn(async move {
        let due = tokio::time::Instant::now() + delay.unwrap_or_default();
        let mut pause = Duration::from_secs(1);
        for _ in 0..10 {
            let left = due.saturating_duration_since(tokio::time::Instant::now());
            match app.queue().push(&id, &connector, Some(left)).await {
                Ok(()) => {
                    tracing::info!(job_id = %id, "job queued again");
                    return;
                }
                Err(e) => {
                    tracing::warn!(job_id = %id, error = %e, retry_in_ms = pause.as_millis() as u64, "queue refused a job; retrying")
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(60));
        }
        tracing::error!(job_id = %id, "queue kept refusing a job; left to the lost-job sweep");
    });
}

/// While a connector's breaker is open, fetch the connector's probe ([`Connector::probe`]) once
/// its recovery time has passed, so that the breaker closes — or opens again — without waiting
/// for user traffic. A probe is a fetch like any other: through the connector's limiter (within
/// its quota) and breaker, which lets it through as the half-open probe. In fleet mode the fleet
/// breaker hands out its half-open probes (one by default) to whichever process asks first; the
/// others are refused without a call.
/// Connectors that need a key or a contact not configured are not probed.
///
/// [`Connector::probe`]: apiary_connectors::Connector::probe
async fn probe_breakers(app: Arc<App>) {
    let mut tick = tokio::time::interval(app.config().fetch.probe_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let probes = apiary_connectors::all().iter().map(|c| probe(&app, *c));
        futures::future::join_all(probes).await;
    }
}

/// Probe `connector` if its breaker is ready for a probe (half-open).
async fn probe(app: &App, connector: &'static dyn apiary_connectors::Connector) {
    let (Some(pairs), Some(settings), Some(stack)) =
        (connector.probe(), app.config().connector(connector.id()), app.fetcher().stack(connector.id()))
    else {
        return;
    };
    if (connector.requires_key() && settings.api_key.is_none())
        || (connector.requires_contact() && app.config().contact_email.is_none())
    {
        return;
    }
    let raw = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let question = match crate::app::Question::new(connector.id(), raw) {
        Ok(q) => q,
        Err(e) => {
            tracing::error!(connector = connector.id(), error = %e, "the connector's probe is not a valid request");
            return;
        }
    };
    if app.breakers().dataset_state(connector, &question.params).await != crate::resilience::BreakerState::HalfOpen {
        return;
    }
    match app.fetcher().fetch(connector, &question.params, &Default::default()).await {
        Ok(_) => {
            stack.note_probe(true);
            tracing::info!(connector = connector.id(), "breaker probe: the upstream answered");
        }
        Err(CallError::Failed(e)) => {
            stack.note_probe(false);
            tracing::warn!(connector = connector.id(), error = %e, "breaker probe: the upstream still fails");
        }
        // Another call (or process) holds the probe, or the quota is spent: nothing was asked.
        Err(CallError::Deferred { .. }) => {}
    }
}

/// How often workers without a fleet look for operators' holds set through other processes.
const HOLDS_EVERY: Duration = Duration::from_secs(2);

/// Without Redis, an operator's hold set through another process (an API-only `apiary serve`)
/// reaches this process's breakers through the store.
async fn follow_holds(app: Arc<App>) {
    let mut tick = tokio::time::interval(HOLDS_EVERY);
    loop {
        tick.tick().await;
        if let Err(e) = app.breakers().apply_holds().await {
            tracing::error!(error = %e, "could not read operators' breaker holds");
        }
    }
}

/// Jobs whose worker died mid-run, and deferred jobs whose queue message was lost, go back on
/// the queue: at-least-once, nothing lost. Every few minutes, what is past retention goes.
async fn sweep(app: Arc<App>) {
    let beat = app.config().queue.heartbeat;
    let lost_after = TimeDelta::from_std(beat * LOST_AFTER_BEATS).unwrap_or_default();
    // Every few beats: a lost job waits at most about two of them past its last beat.
    let mut tick = tokio::time::interval(beat * 2);
    let mut last_prune: Option<std::time::Instant> = None;
    loop {
        tick.tick().await;
        match app.store().requeue_stale_running(lost_after).await {
            Ok(jobs) => {
                for (id, connector) in jobs {
                    tracing::warn!(job_id = %id, "job lost with its worker; queued again");
                    requeue(app.clone(), id, connector, None);
                }
            }
            Err(e) => tracing::error!(error = %e, "could not sweep lost jobs"),
        }
        match app.store().overdue_deferred(lost_after).await {
            Ok(jobs) => {
                for (id, connector) in jobs {
                    tracing::warn!(job_id = %id, "deferred job overdue (its queue message was lost); queued again");
                    requeue(app.clone(), id, connector, None);
                }
            }
            Err(e) => tracing::error!(error = %e, "could not sweep overdue jobs"),
        }
        if last_prune.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            last_prune = Some(std::time::Instant::now());
            prune(&app).await;
        }
    }
}

/// How often the messages of finished jobs are deleted from the queue, and how often thoroughly
/// (a Redis queue only then).
const PRUNE_QUEUE_EVERY: Duration = Duration::from_millis(200);
const PRUNE_QUEUE_THOROUGHLY_EVERY: Duration = Duration::from_secs(30);

/// Delete the queue's messages of finished jobs every [`PRUNE_QUEUE_EVERY`], thoroughly every
/// [`PRUNE_QUEUE_THOROUGHLY_EVERY`] ([`Queue::prune_done`]).
async fn prune_queue(app: Arc<App>) {
    let thorough = (PRUNE_QUEUE_THOROUGHLY_EVERY.as_millis() / PRUNE_QUEUE_EVERY.as_millis()) as u64;
    let mut tick = tokio::time::interval(PRUNE_QUEUE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for round in 0u64.. {
        tick.tick().await;
        if let Err(e) = app.queue().prune_done(round % thorough == 0).await {
            tracing::warn!(error = %e, "could not delete finished messages from the queue");
        }
    }
}

/// Delete finished jobs and fetch-log entries past `[retention]`.
pub async fn prune(app: &App) {
    let r = &app.config().retention;
    let max_age = TimeDelta::from_std(r.max_age).unwrap_or(TimeDelta::MAX);
    match app.store().prune_jobs(max_age, r.max_jobs).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(deleted = n, "finished jobs past retention deleted"),
        Err(e) => tracing::error!(error = %e, "could not prune finished jobs"),
    }
    match app.store().prune_fetch_log(max_age, r.max_fetch_log).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(deleted = n, "fetch-log entries past retention deleted"),
        Err(e) => tracing::error!(error = %e, "could not prune the fetch log"),
    }
}
