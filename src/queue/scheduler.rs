//! The scheduler: turns `[[syncs]]` into fetch jobs on a timetable.
//!
//! Ticks sit on a grid every scheduler agrees on — multiples of `every` since the Unix epoch — so
//! a tick has the same name everywhere. Whoever claims a tick first in the store's `sync_ticks`
//! table (its primary key decides) enqueues it; the others skip it. Running several schedulers
//! therefore enqueues each tick once, not once per process (apalis' cron runs once per process).
//! At start each sync claims the tick it is in: if every scheduler was down across several ticks,
//! that is the one catch-up, not one per missed tick. Enqueueing deduplicates too, so a tick that
//! finds its dataset still queued adds nothing.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::app::{App, Question};
use crate::config::SyncSettings;

/// Run every configured sync until `shutdown` resolves.
pub async fn run_scheduler(app: Arc<App>, shutdown: impl std::future::Future<Output = ()> + Send + 'static) {
    let syncs = app.config.syncs.clone();
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
    let every = sync.every.as_secs().max(1) as i64;
    tracing::info!(dataset = %sync.key, every = %crate::config::format_duration(sync.every), "sync scheduled");
    // The tick we are in: caught up once if nobody claimed it.
    let mut slot = now_secs() / every * every;
    loop {
        tick(&app, &sync, slot, &me).await;
        slot += every;
        let wait = (slot - now_secs()).max(0) as u64;
        tokio::time::sleep(Duration::from_secs(wait)).await;
        // Ticks that passed while we slept (a suspended process) collapse into the current one.
        slot = slot.max(now_secs() / every * every);
    }
}

async fn tick(app: &App, sync: &SyncSettings, slot: i64, me: &str) {
    match app.store.claim_tick(&sync.key, slot, me).await {
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
    match app.enqueue(&q).await {
        Ok((job, created)) => tracing::info!(dataset = %sync.key, job_id = %job.id, created, "sync tick"),
        Err(e) => tracing::error!(dataset = %sync.key, error = %e, "sync tick could not enqueue"),
    }
    let keep = slot - 100 * sync.every.as_secs().max(1) as i64;
    if let Err(e) = app.store.prune_ticks(&sync.key, keep).await {
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
