//! The job queue: apalis 1.0 over SQLite (the embedded default), Postgres or Redis. This module
//! is only the adapter: it pushes messages and serves its lanes with the [`Runner`] it is given
//! (the jobs service, [`crate::service`]); it knows nothing of what a job does.
//!
//! A queued message carries only the job's id; the job itself (connector, parameters, status,
//! attempts, last error) lives in the store's `jobs` table, where it can be read after the queue
//! has forgotten it. Enqueueing first claims the dataset's one pending slot in that table, so a
//! second enqueue of a dataset already waiting returns the waiting job.
//!
//! SQLite: apalis keeps its tables in a sibling file (`apiary.db` → `apiary.queue.db`): its
//! migrations and ours would otherwise share one `_sqlx_migrations` history and refuse each other.
//! Postgres: apalis uses its own `apalis` schema. The queue is named explicitly (`queue.name`, default `fetch`):
//! apalis' default, the Rust type name, would strand jobs if the type moved.
//!
//! Lanes: every connector has a queue of its own (`fetch.arxiv`, `fetch.sec_edgar`, ...) served by
//! a worker of its own with the connector's concurrency, so jobs of a slow or rate-limited
//! upstream wait in their lane and never hold the worker slots of another. The queue named
//! `queue.name` itself is still served, so that messages queued by an older release drain.

mod serve;
mod wake;

use std::time::Duration;

use apalis::prelude::*;
use serde::{Deserialize, Serialize};

pub use serve::Runner;
pub use wake::Nudge;

use crate::config::{Config, QueueBackend};

/// The message on the queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FetchJob {
    /// Id of the row in the store's `jobs` table.
    pub id: String,
    /// The trace the job continues (a W3C `traceparent`), when traces are exported: the one of
    /// whatever pushed it (the request that queued it, the run that deferred it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("queue ({backend}): {message}")]
pub struct QueueError {
    backend: &'static str,
    message: String,
}

impl QueueError {
    fn new(backend: QueueBackend, e: impl std::fmt::Display) -> Self {
        QueueError { backend: backend.as_str(), message: e.to_string() }
    }
}

/// A handle on the configured queue, cheap to clone.
#[derive(Clone)]
pub enum Queue {
    Sqlite(Lanes<apalis_sqlite::SqliteStorage<FetchJob>>),
    Postgres(Lanes<apalis_postgres::PostgresStorage<FetchJob>>),
    Redis(Lanes<apalis_redis::RedisStorage<FetchJob>>),
}

/// One backend's queues: a lane per connector, and the shared queue of older releases.
#[derive(Clone)]
pub struct Lanes<S> {
    /// The queue named `queue.name`, served so that messages an older release queued there drain.
    pub shared: Lane<S>,
    /// Each connector's own queue, in `apiary_connectors::all()` order.
    pub lanes: Vec<(&'static str, Lane<S>)>,
    /// The SQLite queue file's background checkpoints, kept while the queue is.
    _checkpoints: Option<crate::store::checkpoint::Checkpoints>,
}

/// One queue, and the nudge that wakes this process's worker on it.
#[derive(Clone)]
pub struct Lane<S> {
    pub name: String,
    pub storage: S,
    pub nudge: Nudge,
}

impl<S> Lanes<S> {
    fn build(name: &str, make: impl Fn(&str) -> S) -> Lanes<S> {
        let lane = |name: &str| Lane { name: name.to_owned(), storage: make(name), nudge: Nudge::default() };
        let lanes = apiary_connectors::all().iter().map(|c| (c.id(), lane(&lane_name(name, c.id())))).collect();
        Lanes { shared: lane(name), lanes, _checkpoints: None }
    }

    /// The shared queue, then every connector's.
    fn all(&self) -> impl Iterator<Item = &Lane<S>> {
        std::iter::once(&self.shared).chain(self.lanes.iter().map(|(_, l)| l))
    }

    /// Every queue name of these lanes.
    fn names(&self) -> Vec<String> {
        self.all().map(|l| l.name.clone()).collect()
    }

    /// The queue of `connector`'s jobs (the shared queue for a connector apiary does not know).
    fn of(&self, connector: &str) -> &Lane<S> {
        self.lanes.iter().find(|(id, _)| *id == connector).map_or(&self.shared, |(_, q)| q)
    }
}

/// The name of `connector`'s lane of queue `name`.
fn lane_name(name: &str, connector: &str) -> String {
    format!("{name}.{connector}")
}

/// Longest delay a message is scheduled with; outside waits are clamped long before this, and
/// apalis adds the delay to an `Instant`, which must not overflow.
const MAX_DELAY: Duration = Duration::from_secs(30 * 86_400);

impl Queue {
    /// Connect to the queue the config names, setting up its tables.
    pub async fn connect(config: &Config) -> Result<Queue, QueueError> {
        let backend = config.queue.backend;
        let err = |e: &dyn std::fmt::Display| QueueError::new(backend, e);
        match backend {
            QueueBackend::Sqlite => {
                let url = sibling_sqlite_url(&config.database_url);
                // Every connection opened as the cache's: apalis sets `synchronous = OFF` only on
                // the connection its setup runs on, and the others would wait for an fsync at
                // every commit (a push, a fetch, an ack), which bounded a worker to a few hundred
                // jobs a second.
                let opts = crate::store::sqlite_options(&url).map_err(|e| err(&e))?;
                let writer = crate::store::checkpoint::for_writer(opts.clone());
                let pool = crate::store::sqlite_pool(1).connect_with(writer).await.map_err(|e| err(&e))?;
                apalis_sqlite::SqliteStorage::setup(&pool).await.map_err(|e| err(&e))?;
                let checkpoints = crate::store::checkpoint::start(&opts).await.map_err(|e| err(&e))?;
                let lanes = Lanes::build(&config.queue.name, |name| {
                    let cfg = apalis_sqlite::Config::default().queue(name).batch_size(10);
                    apalis_sqlite::SqliteStorage::new(&pool).with_config(cfg)
                });
                Ok(Queue::Sqlite(Lanes { _checkpoints: Some(checkpoints), ..lanes }))
            }
            QueueBackend::Postgres => {
                let opts = crate::store::pg_options(&config.database_url).map_err(|e| err(&e))?;
                let pool = apalis_postgres::PgPool::connect_with(opts)
                    .await
                    .map_err(|e| err(&e.to_string().replace(&config.database_url, "[database url]")))?;
                apalis_postgres::PostgresStorage::setup(&pool).await.map_err(|e| err(&e))?;
                Ok(Queue::Postgres(Lanes::build(&config.queue.name, |name| {
                    let cfg = apalis_postgres::Config::default().queue(name).batch_size(10);
                    apalis_postgres::PostgresStorage::new(&pool).with_config(cfg)
                })))
            }
            QueueBackend::Redis => {
                let url = config.redis_url.as_deref().unwrap_or_default();
                let conn = tokio::time::timeout(Duration::from_secs(10), apalis_redis::connect(url))
                    .await
                    .map_err(|_| err(&"no answer from Redis within 10 s"))?
                    .map_err(|e| err(&e))?;
                Ok(Queue::Redis(Lanes::build(&config.queue.name, |name| {
                    let cfg = apalis_redis::Config::default().queue(name);
                    apalis_redis::RedisStorage::new(conn.clone()).with_config(cfg)
                })))
            }
        }
    }

    pub fn backend(&self) -> &'static str {
        match self {
            Queue::Sqlite(_) => "sqlite",
            Queue::Postgres(_) => "postgres",
            Queue::Redis(_) => "redis",
        }
    }

    /// Put the job with id `id` on `connector`'s lane, to run after `delay`.
    pub async fn push(&self, id: &str, connector: &str, delay: Option<Duration>) -> Result<(), QueueError> {
        let job = FetchJob { id: id.to_owned(), trace: crate::telemetry::current_trace() };
        let mut task = TaskBuilder::new(job).max_attempts(1);
        if let Some(delay) = delay.map(|d| d.min(MAX_DELAY)) {
            // apalis schedules in whole seconds; round up so a job never runs before its time.
            task = task.run_after(Duration::from_secs(delay.as_secs() + u64::from(delay.subsec_nanos() > 0)));
        }
        let task = task.build();
        let now = delay.is_none_or(|d| d.is_zero());
        // The same on each backend; their types differ, so the code is stamped out.
        macro_rules! push {
            ($lanes:expr, $backend:expr) => {{
                let lane = $lanes.of(connector);
                lane.storage.clone().push_task(task).await.map_err(|e| QueueError::new($backend, e))?;
                if now {
                    lane.nudge.nudge();
                }
                Ok(())
            }};
        }
        match self {
            Queue::Sqlite(q) => push!(q, QueueBackend::Sqlite),
            Queue::Postgres(q) => push!(q, QueueBackend::Postgres),
            Queue::Redis(q) => push!(q, QueueBackend::Redis),
        }
    }

    /// Delete the messages of finished jobs (apalis keeps them; the `jobs` table is where a job's
    /// outcome is kept). Besides bounding the queue's size this keeps it fast: apalis-sqlite's
    /// acknowledgement scans every message its worker ever took, so a queue that keeps them
    /// slows down with every job. A Redis queue is pruned only when `thorough`. How many went.
    pub async fn prune_done(&self, thorough: bool) -> Result<u64, QueueError> {
        match self {
            Queue::Sqlite(q) => {
                let names = serde_json::to_string(&q.names()).unwrap_or_default();
                sqlx::query(
                    "DELETE FROM Jobs WHERE status IN ('Done', 'Killed')
                     AND job_type IN (SELECT value FROM json_each($1))",
                )
                .bind(names)
                .execute(q.shared.storage.pool())
                .await
                .map(|r| r.rows_affected())
                .map_err(|e| QueueError::new(QueueBackend::Sqlite, e))
            }
            Queue::Postgres(q) => {
                sqlx::query("DELETE FROM apalis.jobs WHERE status IN ('Done', 'Killed') AND job_type = ANY($1)")
                    .bind(q.names())
                    .execute(q.shared.storage.pool())
                    .await
                    .map(|r| r.rows_affected())
                    .map_err(|e| QueueError::new(QueueBackend::Postgres, e))
            }
            // apalis-redis' vacuum reads every task of the queue: only on a thorough round.
            Queue::Redis(_) if !thorough => Ok(0),
            Queue::Redis(q) => {
                let mut gone = 0;
                for lane in q.all() {
                    let mut storage = lane.storage.clone();
                    gone += apalis_core::backend::Vacuum::vacuum(&mut storage)
                        .await
                        .map_err(|e| QueueError::new(QueueBackend::Redis, e))? as u64;
                }
                Ok(gone)
            }
        }
    }

    /// Whether the queue answers.
    pub async fn ping(&self) -> Result<(), QueueError> {
        match self {
            Queue::Sqlite(q) => sqlx::query("SELECT 1")
                .execute(q.shared.storage.pool())
                .await
                .map(|_| ())
                .map_err(|e| QueueError::new(QueueBackend::Sqlite, e)),
            Queue::Postgres(q) => sqlx::query("SELECT 1")
                .execute(q.shared.storage.pool())
                .await
                .map(|_| ())
                .map_err(|e| QueueError::new(QueueBackend::Postgres, e)),
            Queue::Redis(q) => {
                let mut conn = q.shared.storage.clone().get_connection().clone();
                redis::cmd("PING")
                    .query_async::<String>(&mut conn)
                    .await
                    .map(|_| ())
                    .map_err(|e| QueueError::new(QueueBackend::Redis, e))
            }
        }
    }
}

/// `sqlite://apiary.db?mode=rwc` → `sqlite://apiary.queue.db?mode=rwc`.
pub fn sibling_sqlite_url(url: &str) -> String {
    let (path, query) = url.split_once('?').map_or((url, None), |(p, q)| (p, Some(q)));
    let sibling = match path.strip_suffix(".db") {
        Some(stem) => format!("{stem}.queue.db"),
        None if path.ends_with(":memory:") => path.to_owned(),
        None => format!("{path}.queue"),
    };
    match query {
        Some(q) => format!("{sibling}?{q}"),
        None => sibling,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sqlite_queue_lives_beside_the_cache() {
        assert_eq!(super::sibling_sqlite_url("sqlite://apiary.db"), "sqlite://apiary.queue.db");
        assert_eq!(
            super::sibling_sqlite_url("sqlite:///var/lib/a/cache?mode=rwc"),
            "sqlite:///var/lib/a/cache.queue?mode=rwc"
        );
    }
}
