//! The scheduler: turns `[[syncs]]` into fetch jobs on a timetable.
//!
//! Every tick has a name all schedulers agree on: its time in seconds since the Unix epoch —
//! multiples of `every`, or the times of a cron expression. Whoever claims a tick first in the
//! store's `sync_ticks` table (its primary key decides) enqueues it; the others skip it. Running
//! several schedulers therefore enqueues each tick once, not once per process (apalis' cron runs
//! once per process). A tick missed while every scheduler was down is caught up once at start,
//! not once per missed tick: an `every` sync claims the tick it is in, a cron sync the latest
//! time it should have run since its last claimed tick. Enqueueing deduplicates too, so a tick
//! that finds its dataset still queued adds nothing.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, TimeZone, Utc};

use crate::app::{App, Question};
use crate::config::{SyncSettings, Timetable};

/// Ticks older than this are forgotten.
const KEEP_TICKS: i64 = 30 * 86_400;

/// Run every configured sync until `shutdown` resolves.
pub async fn run_scheduler(app: Arc<App>, shutdown: impl std::future::Future<Output = ()> + Send + 'static) {
    let syncs = app.config().syncs.clone();
    if syncs.is_empty() {
        tracing::info!("no [[syncs]] configured; the scheduler has nothing to do");
    }
    let me = format!("{}-{}", hostname(), std::process::id());
    let mut tasks = tokio::task::JoinSet::new();
    for sync in syncs {
        tasks.spawn(run_sync(app.clone(), sync, me.clone()));
    }
    shutdown.await;
    tasks.shutdown().await;
}

async fn run_sync(app: Arc<App>, sync: SyncSettings, me: String) {
    tracing::info!(dataset = %sync.key, timetable = %sync.timetable, "sync scheduled");
    match &sync.timetable {
        Timetable::Every(every) => {
            let every = every.as_secs().max(1) as i64;
            // The tick we are in: caught up once if nobody claimed it.
            let mut slot = now_secs() / every * every;
            loop {
                tick(&app, &sync, slot, &me).await;
                slot += every;
                sleep_until(slot).await;
                // Ticks that passed while we slept (a suspended process) collapse into the current one.
                slot = slot.max(now_secs() / every * every);
            }
        }
        Timetable::Cron(schedule) => {
            match app.store().last_tick(&sync.key).await {
                Ok(Some(last)) => {
                    let now = Utc::now();
                    let since = Utc.timestamp_opt(last, 0).single().unwrap_or(now);
                    if let Some(missed) = schedule.after(&since).take_while(|t| *t <= now).last() {
                        tick(&app, &sync, missed.timestamp(), &me).await;
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(dataset = %sync.key, error = %e, "could not read the last tick; no catch-up"),
            }
            loop {
                let Some(next) = schedule.upcoming(Utc).next() else {
                    tracing::info!(dataset = %sync.key, "cron expression has no more times; sync ends");
                    return;
                };
                sleep_until(next.timestamp()).await;
                tick(&app, &sync, next.timestamp(), &me).await;
            }
        }
    }
}

async fn sleep_until(slot: i64) {
    let wait = (slot - now_secs()).max(0) as u64;
    tokio::time::sleep(Duration::from_secs(wait)).await;
    // Whole seconds can land a hair early; never run a tick before its time.
    while now_secs() < slot {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn tick(app: &App, sync: &SyncSettings, slot: i64, me: &str) {
    match app.store().claim_tick(&sync.key, slot, me).await {
        Ok(true) => {}
        Ok(false) => return,
        Err(e) => {
            tracing::error!(dataset = %sync.key, error = %e, "could not claim a sync tick; skipped");
            return;
        }
    }
    let q = match Question::new(sync.connector, sync.params.clone()) {
        Ok(q) => q,
        Err(e) => {
            tracing::error!(dataset = %sync.key, error = %e, "sync refused");
            return;
        }
    };
    let at: Option<DateTime<Utc>> = Utc.timestamp_opt(slot, 0).single();
    match app.enqueue(&q).await {
        Ok((job, created)) => tracing::info!(dataset = %sync.key, job_id = %job.id, created, tick = ?at, "sync tick"),
        Err(e) => tracing::error!(dataset = %sync.key, error = %e, "sync tick could not enqueue"),
    }
    if let Err(e) = app.store().prune_ticks(&sync.key, slot - KEEP_TICKS).await {
        tracing::warn!(error = %e, "could not prune old sync ticks");
    }
}

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn hostname() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok().map(|s| s.trim().to_owned()))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "apiary".into())
}
