//! The cache database: last good results (`datasets`), the `fetch_log` of attempts, job status
//! (`jobs`), persisted breaker state (`breakers`) and operators' holds on breakers
//! (`breaker_holds`).
//!
//! One [`Store`] over two databases: embedded SQLite (the default: one file, nothing to run) and
//! Postgres. The SQL is written once — both speak `$N` placeholders, `ON CONFLICT` and partial
//! unique indexes, and sqlx maps `Json` and timestamps to each one's types — and the
//! `on_pool!` macro runs it on whichever pool is configured. Schema changes only through
//! `migrations/<database>/`.
//!
//! Every write is idempotent, because jobs are delivered at least once.

mod batch;
pub(crate) mod checkpoint;
mod guard;
mod jobs;
#[cfg(test)]
mod tests;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};
use sqlx::types::Json;

pub use guard::{Access, DATABASE, Guard};
pub use jobs::{Claim, Failover, JobRow, JobStatus, NewJob, NextMember, Passed, Validators};

use crate::config::DatabaseBreakers;
use crate::resilience::{BreakerState, Snapshot};

/// A database that could not answer; the message never holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
    #[error("migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// Whether the same write may succeed later (the database went away, is full, is busy or
    /// read-only for now), as opposed to a write that is wrong in itself.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Unavailable(_) => true,
            StoreError::Query(sqlx::Error::Database(e)) => {
                !(e.is_unique_violation() || e.is_foreign_key_violation() || e.is_check_violation())
            }
            StoreError::Query(e) => matches!(
                e,
                sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::Protocol(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::WorkerCrashed
            ),
            StoreError::Migrate(_) | StoreError::Corrupt(_) => false,
        }
    }
}

/// The cache database, behind its breakers (`guard`); cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    guard: Arc<Guard>,
}

/// Which database the store holds.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(Sqlite),
    Postgres(PgPool),
}

/// The embedded database's two pools. SQLite takes one writer at a time and makes the others
/// sleep and retry (1 ms, 2 ms, 5 ms, … in its busy handler); with one writing connection the
/// writes queue in the pool instead, in order and without the sleeps, while readers (WAL) never
/// wait for them.
#[derive(Clone, Debug)]
pub struct Sqlite {
    /// The one connection that writes.
    pub writer: SqlitePool,
    /// Connections that only read.
    pub reader: SqlitePool,
    /// The hot writes, committed in rounds on the writer.
    rounds: batch::Rounds,
    /// The log's checkpoints, from a connection of their own.
    _checkpoints: checkpoint::Checkpoints,
}

/// Run the same sqlx code on whichever pool the store holds — with SQLite, its connection
/// `$sqlite` (`writer` or `reader`) — through the database breaker of `$access`; evaluates to the
/// body's value, and returns the breaker's refusal or the body's error.
macro_rules! on_db {
    ($store:expr, $access:ident, $sqlite:ident, $pool:ident => $body:expr) => {{
        let store: &Store = $store;
        store
            .guard
            .run($crate::store::Access::$access, async {
                let value = match &store.db {
                    $crate::store::Db::Sqlite(db) => {
                        let $pool = &db.$sqlite;
                        $body
                    }
                    $crate::store::Db::Postgres($pool) => $body,
                };
                Ok::<_, StoreError>(value)
            })
            .await?
    }};
}
pub(crate) use on_db;

/// [`on_db!`] for a write: with SQLite, on the writer; through the write breaker.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        $crate::store::on_db!($store, Write, writer, $pool => $body)
    };
}
pub(crate) use on_pool;

/// [`on_db!`] for a statement that only reads: with SQLite, on a reading connection; through the
/// read breaker, within its timeout.
macro_rules! on_read {
    ($store:expr, $pool:ident => $body:expr) => {
        $crate::store::on_db!($store, Read, reader, $pool => $body)
    };
}
pub(crate) use on_read;

/// A cached dataset, as read back.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Dataset {
    pub key: String,
    pub connector: String,
    pub params: Json<serde_json::Map<String, serde_json::Value>>,
    pub records: Json<Box<RawValue>>,
    pub record_count: i64,
    pub content_hash: String,
    pub fetched_at: DateTime<Utc>,
    pub changed_at: DateTime<Utc>,
}

/// A cached dataset without its records, for listings.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct DatasetSummary {
    #[serde(rename = "dataset")]
    pub key: String,
    pub connector: String,
    pub params: Json<serde_json::Map<String, serde_json::Value>>,
    pub record_count: i64,
    pub fetched_at: DateTime<Utc>,
    pub changed_at: DateTime<Utc>,
}

/// Whether an upsert changed the stored records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    Changed,
    /// Same content: only `fetched_at` moved.
    Unchanged,
}

/// The statements of one table's retention ([`Store::prune`]): delete what is older than `$1`;
/// the time of the `$1`-th newest row (counting from 0); delete what is no newer than `$1`.
struct Prune {
    older: &'static str,
    nth_newest: &'static str,
    up_to: &'static str,
}

/// A fetch's result, to be kept as the dataset's last good result.
#[derive(Debug, Clone, Copy)]
pub struct NewResult<'a> {
    pub connector: &'a str,
    pub key: &'a str,
    pub params: &'a serde_json::Map<String, serde_json::Value>,
    pub records: &'a RawValue,
    pub record_count: usize,
    pub fetched_at: DateTime<Utc>,
    /// What the upstream sent to identify this version, kept for a conditional refresh.
    pub validators: &'a Validators,
}

/// What a finished fetch keeps of its dataset.
#[derive(Debug, Clone, Copy)]
pub enum Kept<'a> {
    /// Records, new or the same as those stored.
    Records(NewResult<'a>),
    /// The upstream answered a conditional request that the cached records are still current
    /// (`304 Not Modified`): only `fetched_at` moves, and the validators if it sent new ones.
    Current { key: &'a str, fetched_at: DateTime<Utc>, validators: &'a Validators },
}

impl Kept<'_> {
    fn key(&self) -> &str {
        match self {
            Kept::Records(r) => r.key,
            Kept::Current { key, .. } => key,
        }
    }
    fn fetched_at(&self) -> DateTime<Utc> {
        match self {
            Kept::Records(r) => r.fetched_at,
            Kept::Current { fetched_at, .. } => *fetched_at,
        }
    }
    fn validators(&self) -> &Validators {
        match self {
            Kept::Records(r) => r.validators,
            Kept::Current { validators, .. } => validators,
        }
    }
    fn records(&self) -> Option<&NewResult<'_>> {
        match self {
            Kept::Records(r) => Some(r),
            Kept::Current { .. } => None,
        }
    }
}

/// [`Store::record_fetch`]'s parameters, the same on both databases: the dataset's result ($1-$7:
/// key, connector, params, records, record count, content hash, fetched_at; all NULL without a
/// result, all but the key and fetched_at NULL when the cached records are current), the
/// fetch-log entry ($8-$15), the job finished ($16 status, $17 error, $18 now) and the
/// validators ($19 ETag, $20 Last-Modified). The dataset's row is touched when its content is
/// unchanged or current (new records replace the validators; a `304` keeps the old ones unless
/// it sent its own), else written unless a newer result is stored.
///
/// On Postgres, one statement (data-modifying CTEs) evaluating to the rows touched and written.
const RECORD_FETCH_PG: &str = "
WITH touched AS (
    UPDATE datasets SET fetched_at = $7,
        etag = CASE WHEN $6::text IS NULL THEN coalesce($19, etag) ELSE $19 END,
        last_modified = CASE WHEN $6::text IS NULL THEN coalesce($20, last_modified) ELSE $20 END
    WHERE $1::text IS NOT NULL AND key = $1 AND ($6::text IS NULL OR content_hash = $6) AND fetched_at < $7
    RETURNING 1
), written AS (
    INSERT INTO datasets (key, connector, params, records, record_count, content_hash, fetched_at, changed_at, etag, last_modified)
    SELECT $1, $2, $3, $4, $5, $6, $7, $7, $19, $20
    WHERE $6::text IS NOT NULL AND NOT EXISTS (SELECT 1 FROM touched)
    ON CONFLICT (key) DO UPDATE SET
        params = excluded.params, records = excluded.records, record_count = excluded.record_count,
        content_hash = excluded.content_hash, fetched_at = excluded.fetched_at, changed_at = excluded.changed_at,
        etag = excluded.etag, last_modified = excluded.last_modified
    WHERE datasets.fetched_at < excluded.fetched_at AND datasets.content_hash <> excluded.content_hash
    RETURNING 1
), logged AS (
    INSERT INTO fetch_log (job_id, connector, key, outcome, error, record_count, started_at, duration_ms)
    VALUES ($8, $9, $10, $11, $12, $13, $14, $15)
), finished AS (
    UPDATE jobs SET status = $16, error = $17, updated_at = $18, finished_at = $18, run_at = NULL WHERE id = $8
)
SELECT (SELECT COUNT(*) FROM touched), (SELECT COUNT(*) FROM written)";

/// On SQLite, one transaction sent as one batch of statements (the driver hands each call to its
/// connection's thread, so one call instead of six is most of this write's cost), evaluating to
/// whether this result was written, no row without a result (`changes()` counts the rows of the
/// statement before it).
macro_rules! record_fetch_sqlite {
    () => {
        "
UPDATE datasets SET fetched_at = $7,
    etag = CASE WHEN $6 IS NULL THEN coalesce($19, etag) ELSE $19 END,
    last_modified = CASE WHEN $6 IS NULL THEN coalesce($20, last_modified) ELSE $20 END
WHERE $1 IS NOT NULL AND key = $1 AND ($6 IS NULL OR content_hash = $6) AND fetched_at < $7;
INSERT INTO datasets (key, connector, params, records, record_count, content_hash, fetched_at, changed_at, etag, last_modified)
SELECT $1, $2, $3, $4, $5, $6, $7, $7, $19, $20
WHERE $6 IS NOT NULL AND changes() = 0
ON CONFLICT (key) DO UPDATE SET
    params = excluded.params, records = excluded.records, record_count = excluded.record_count,
    content_hash = excluded.content_hash, fetched_at = excluded.fetched_at, changed_at = excluded.changed_at,
    etag = excluded.etag, last_modified = excluded.last_modified
WHERE datasets.fetched_at < excluded.fetched_at AND datasets.content_hash <> excluded.content_hash;
SELECT changes() > 0 WHERE $1 IS NOT NULL;
INSERT INTO fetch_log (job_id, connector, key, outcome, error, record_count, started_at, duration_ms)
VALUES ($8, $9, $10, $11, $12, $13, $14, $15);
UPDATE jobs SET status = $16, error = $17, updated_at = $18, finished_at = $18, run_at = NULL WHERE id = $8;
"
    };
}
const RECORD_FETCH_SQLITE: &str = concat!("BEGIN IMMEDIATE;", record_fetch_sqlite!(), "COMMIT;");
/// The same inside a round of writes ([`batch`]).
const RECORD_FETCH_SQLITE_TOGETHER: &str = record_fetch_sqlite!();

/// Upsert a [`NewResult`] with content hash `$hash` on executor `$ex` (a transaction): the same
/// content as stored only refreshes `fetched_at`; a result older than the stored one changes
/// nothing (a redelivered job finishing late). Evaluates to the [`Upsert`].
macro_rules! upsert_in {
    ($ex:expr, $result:expr, $hash:expr) => {{
        let r: &NewResult<'_> = $result;
        let touched = sqlx::query(
            "UPDATE datasets SET fetched_at = $1 WHERE key = $2 AND content_hash = $3 AND fetched_at < $1",
        )
        .bind(r.fetched_at)
        .bind(r.key)
        .bind($hash)
        .execute($ex)
        .await?
        .rows_affected();
        if touched > 0 {
            Upsert::Unchanged
        } else {
            let changed = sqlx::query(
                "INSERT INTO datasets (key, connector, params, records, record_count, content_hash, fetched_at, changed_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
                 ON CONFLICT (key) DO UPDATE SET
                     params = excluded.params, records = excluded.records, record_count = excluded.record_count,
                     content_hash = excluded.content_hash, fetched_at = excluded.fetched_at, changed_at = excluded.changed_at
                 WHERE datasets.fetched_at < excluded.fetched_at AND datasets.content_hash <> excluded.content_hash",
            )
            .bind(r.key)
            .bind(r.connector)
            .bind(Json(r.params))
            .bind(Json(r.records))
            .bind(r.record_count as i64)
            .bind($hash)
            .bind(r.fetched_at)
            .execute($ex)
            .await?
            .rows_affected();
            if changed > 0 { Upsert::Changed } else { Upsert::Unchanged }
        }
    }};
}

/// Insert a [`FetchLog`] entry on executor `$ex`.
macro_rules! log_in {
    ($ex:expr, $entry:expr) => {{
        let e: &FetchLog<'_> = $entry;
        sqlx::query(
            "INSERT INTO fetch_log (job_id, connector, key, outcome, error, record_count, started_at, duration_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(e.job_id)
        .bind(e.connector)
        .bind(e.key)
        .bind(e.outcome)
        .bind(e.error)
        .bind(e.record_count)
        .bind(e.started_at)
        .bind(e.duration.as_millis() as i64)
        .execute($ex)
        .await?;
    }};
}

/// One attempt at a dataset, for the fetch log.
#[derive(Debug, Clone)]
pub struct FetchLog<'a> {
    pub job_id: &'a str,
    pub connector: &'a str,
    pub key: &'a str,
    pub outcome: &'a str,
    pub error: Option<&'a str>,
    pub record_count: Option<i64>,
    pub started_at: DateTime<Utc>,
    pub duration: Duration,
}

/// How every connection to one of apiary's SQLite files (the cache, the queue) is opened: the file
/// created if missing, WAL with `synchronous = NORMAL` (a process that dies loses nothing; on
/// power loss the last commits may go), and a writer waits up to 10 s for the lock.
pub(crate) fn sqlite_options(url: &str) -> Result<SqliteConnectOptions, sqlx::Error> {
    Ok(SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10)))
}

/// A pool of up to `max` connections to an SQLite file. Connections are not pinged when taken
/// from the pool: a file does not drop a connection, and the driver runs each call on the
/// connection's own thread, so a ping was one more hand-off before every statement.
pub(crate) fn sqlite_pool(max: u32) -> SqlitePoolOptions {
    SqlitePoolOptions::new().max_connections(max).test_before_acquire(false)
}

impl Store {
    /// Open (creating an SQLite file if missing) and migrate; calls go through breakers with
    /// `breakers`' settings.
    pub async fn connect(url: &str, breakers: &DatabaseBreakers) -> Result<Store, StoreError> {
        let db = if url.starts_with("sqlite:") {
            let opts = sqlite_options(url).map_err(|e| StoreError::Unavailable(format!("bad sqlite URL: {e}")))?;
            let open = |n: u32, opts: SqliteConnectOptions| async move {
                sqlite_pool(n)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(opts)
                    .await
                    .map_err(|e| StoreError::Unavailable(e.to_string()))
            };
            // The writer first: it creates the file and sets WAL before a reader opens it.
            let writer = open(1, checkpoint::for_writer(opts.clone())).await?;
            let checkpoints = checkpoint::start(&opts).await.map_err(|e| StoreError::Unavailable(e.to_string()))?;
            let reader = open(8, opts.read_only(true)).await?;
            let rounds = batch::Rounds::start(writer.clone());
            Db::Sqlite(Sqlite { writer, reader, rounds, _checkpoints: checkpoints })
        } else {
            // Commits do not wait for the WAL to reach disk (`synchronous_commit = off`), except
            // a new job's (see `create_job`): everything else written here is a cached result,
            // a log entry or a job's progress, which a Postgres crash could only set back by the
            // last fraction of a second (a job then runs again; fetches are idempotent). Waiting
            // for an fsync at each of a job's commits bounded a worker to a few hundred jobs a second.
            //
            // A connection is not pinged when taken from the pool (a round trip before every
            // statement, ~9 % of jobs/s): one that broke (the server restarted) fails its
            // statement instead and is dropped, and that statement is retried as any transient
            // database error is.
            let pool = PgPoolOptions::new()
                .max_connections(32)
                .test_before_acquire(false)
                .acquire_timeout(Duration::from_secs(10))
                .after_connect(|conn, _| {
                    Box::pin(async move { sqlx::query("SET synchronous_commit = off").execute(conn).await.map(|_| ()) })
                })
                .connect_with(pg_options(url)?)
                .await
                .map_err(|e| StoreError::Unavailable(redact_url_error(&e.to_string(), url)))?;
            Db::Postgres(pool)
        };
        let store = Store { db, guard: Arc::new(Guard::new(breakers)) };
        store.migrate().await?;
        Ok(store)
    }

    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.db {
            Db::Sqlite(db) => sqlx::migrate!("./migrations/sqlite").run(&db.writer).await?,
            Db::Postgres(pool) => sqlx::migrate!("./migrations/postgres").run(pool).await?,
        }
        Ok(())
    }

    /// The database itself, for what the store has no method for (tests, tools).
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The database's breakers, reads then writes, as `/v1/breakers` shows them.
    pub fn breaker_snapshots(&self) -> [Snapshot; 2] {
        self.guard.snapshots()
    }

    pub fn kind(&self) -> &'static str {
        match &self.db {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Whether the database answers a read and takes a write (one row of `readiness`
    /// rewritten, so a database that answers reads but cannot write — disk full, read-only — is
    /// not taken for ready), each through its breaker: while one is open this fails at once, and
    /// once its recovery time has passed the checks are among the calls that probe. Both are
    /// tried; the write's failure is the one reported when both fail.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let (read, write) = tokio::join!(self.ping_read(), self.ping_write());
        write.and(read)
    }

    async fn ping_read(&self) -> Result<(), StoreError> {
        on_read!(self, pool => sqlx::query("SELECT 1").execute(pool).await.map(|_| ())?);
        Ok(())
    }

    async fn ping_write(&self) -> Result<(), StoreError> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO readiness (id, checked_at) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
        )
        .bind(Utc::now())
        .execute(pool)
        .await
        .map(|_| ())?);
        Ok(())
    }

    /// Store a last good result. Same content as stored: only `fetched_at` is refreshed.
    pub async fn upsert_dataset(
        &self,
        connector: &str,
        key: &str,
        params: &serde_json::Map<String, serde_json::Value>,
        records: &RawValue,
        record_count: usize,
        fetched_at: DateTime<Utc>,
    ) -> Result<Upsert, StoreError> {
        let validators = Validators::default();
        let result = NewResult { connector, key, params, records, record_count, fetched_at, validators: &validators };
        let hash = content_hash(records.get().as_bytes());
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let upsert = upsert_in!(&mut *tx, &result, &hash);
            tx.commit().await?;
            Ok(upsert)
        })
    }

    /// How a fetch ended, in one transaction: what it keeps of the dataset (`kept`, if it
    /// brought a result), its fetch-log entry, and its job finished as `status`. One commit
    /// instead of three is most of what a finished job costs the embedded database.
    pub async fn record_fetch(
        &self,
        kept: Option<&Kept<'_>>,
        log: &FetchLog<'_>,
        status: JobStatus,
        error: Option<&str>,
    ) -> Result<Option<Upsert>, StoreError> {
        let result = kept.and_then(Kept::records);
        let hash = result.map(|r| content_hash(r.records.get().as_bytes()));
        let validators = kept.map(Kept::validators);
        let now = Utc::now();
        macro_rules! bound {
            ($query:expr) => {
                $query
                    .bind(kept.map(Kept::key))
                    .bind(result.map(|r| r.connector))
                    .bind(result.map(|r| Json(r.params)))
                    .bind(result.map(|r| Json(r.records)))
                    .bind(result.map(|r| r.record_count as i64))
                    .bind(hash.as_deref())
                    .bind(kept.map(Kept::fetched_at))
                    .bind(log.job_id)
                    .bind(log.connector)
                    .bind(log.key)
                    .bind(log.outcome)
                    .bind(log.error)
                    .bind(log.record_count)
                    .bind(log.started_at)
                    .bind(log.duration.as_millis() as i64)
                    .bind(status.as_str())
                    .bind(error)
                    .bind(now)
                    .bind(validators.and_then(|v| v.etag.as_deref()))
                    .bind(validators.and_then(|v| v.last_modified.as_deref()))
            };
        }
        let guarded = async {
            match &self.db {
                Db::Postgres(pool) => {
                    let (touched, written): (i64, i64) =
                        bound!(sqlx::query_as(RECORD_FETCH_PG)).fetch_one(pool).await?;
                    Ok(kept.map(|_| if touched == 0 && written > 0 { Upsert::Changed } else { Upsert::Unchanged }))
                }
                Db::Sqlite(db) => {
                    let query = bound!(sqlx::query(RECORD_FETCH_SQLITE));
                    let rows = db.rounds.write(RECORD_FETCH_SQLITE_TOGETHER, RECORD_FETCH_SQLITE, query).await?;
                    let written = match rows.first() {
                        Some(row) => row.try_get::<bool, _>(0)?,
                        None => false,
                    };
                    Ok(kept.map(|_| if written { Upsert::Changed } else { Upsert::Unchanged }))
                }
            }
        };
        self.guard.run(Access::Write, guarded).await
    }

    /// A cached dataset's content hash and `fetched_at`, without its records: enough to tell
    /// whether a copy of it is still current.
    pub async fn dataset_version(&self, key: &str) -> Result<Option<(String, DateTime<Utc>)>, StoreError> {
        let row = on_read!(self, pool => sqlx::query_as::<_, (String, DateTime<Utc>)>(
            "SELECT content_hash, fetched_at FROM datasets WHERE key = $1",
        )
        .bind(key)
        .fetch_optional(pool)
        .await?);
        Ok(row)
    }

    pub async fn dataset(&self, key: &str) -> Result<Option<Dataset>, StoreError> {
        let row = on_read!(self, pool => sqlx::query_as::<_, Dataset>(
            "SELECT key, connector, params, records, record_count, content_hash, fetched_at, changed_at
             FROM datasets WHERE key = $1",
        )
        .bind(key)
        .fetch_optional(pool)
        .await?);
        Ok(row)
    }

    /// Cached datasets in key order, optionally of one connector.
    pub async fn datasets(
        &self,
        connector: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<DatasetSummary>, StoreError> {
        let rows = on_read!(self, pool => sqlx::query_as::<_, DatasetSummary>(
            "SELECT key, connector, params, record_count, fetched_at, changed_at FROM datasets
             WHERE ($1 IS NULL OR connector = $1) ORDER BY key LIMIT $2 OFFSET $3",
        )
        .bind(connector)
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await?);
        Ok(rows)
    }

    /// The `limit` datasets fetched longest ago, oldest first.
    pub async fn oldest_datasets(&self, limit: i64) -> Result<Vec<DatasetSummary>, StoreError> {
        let rows = on_read!(self, pool => sqlx::query_as::<_, DatasetSummary>(
            "SELECT key, connector, params, record_count, fetched_at, changed_at FROM datasets
             ORDER BY fetched_at LIMIT $1",
        )
        .bind(limit)
        .fetch_all(pool)
        .await?);
        Ok(rows)
    }

    pub async fn dataset_count(&self) -> Result<i64, StoreError> {
        let n: i64 = on_read!(self, pool => sqlx::query_scalar("SELECT COUNT(*) FROM datasets").fetch_one(pool).await?);
        Ok(n)
    }

    pub async fn log_fetch(&self, entry: &FetchLog<'_>) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            log_in!(pool, entry);
            Ok(())
        })
    }

    /// Delete fetch-log entries older than `max_age`, and all but the newest `keep`. How many went.
    pub async fn prune_fetch_log(&self, max_age: chrono::Duration, keep: u64) -> Result<u64, StoreError> {
        self.prune(
            &Prune {
                older: "DELETE FROM fetch_log WHERE started_at < $1",
                nth_newest: "SELECT started_at FROM fetch_log ORDER BY started_at DESC LIMIT 1 OFFSET $1",
                up_to: "DELETE FROM fetch_log WHERE started_at <= $1",
            },
            max_age,
            keep,
        )
        .await
    }

    /// Retention on one table: what is older than `max_age` goes, then all but the newest `keep`.
    async fn prune(&self, sql: &Prune, max_age: chrono::Duration, keep: u64) -> Result<u64, StoreError> {
        let before = Utc::now().checked_sub_signed(max_age).unwrap_or(DateTime::<Utc>::MIN_UTC);
        let by_age = on_pool!(self, pool => sqlx::query(sql.older).bind(before).execute(pool).await?.rows_affected());
        let cutoff: Option<DateTime<Utc>> = on_pool!(self, pool => sqlx::query_scalar(sql.nth_newest)
            .bind(keep as i64)
            .fetch_optional(pool)
            .await?);
        let by_count = match cutoff {
            None => 0,
            Some(cutoff) => {
                on_pool!(self, pool => sqlx::query(sql.up_to).bind(cutoff).execute(pool).await?.rows_affected())
            }
        };
        Ok(by_age + by_count)
    }

    pub async fn save_breaker(&self, snap: &Snapshot) -> Result<(), StoreError> {
        on_pool!(self, pool => sqlx::query(
            "INSERT INTO breakers (connector, snapshot, updated_at) VALUES ($1, $2, $3)
             ON CONFLICT (connector) DO UPDATE SET snapshot = excluded.snapshot, updated_at = excluded.updated_at",
        )
        .bind(snap.key())
        .bind(Json(snap))
        .bind(Utc::now())
        .execute(pool)
        .await
        .map(|_| ())?);
        Ok(())
    }

    pub async fn breakers(&self) -> Result<Vec<Snapshot>, StoreError> {
        let rows: Vec<Json<serde_json::Value>> =
            on_read!(self, pool => sqlx::query_scalar("SELECT snapshot FROM breakers").fetch_all(pool).await?);
        rows.into_iter()
            .map(|Json(v)| crate::resilience::breaker::snapshot_from_json(v).map_err(StoreError::Corrupt))
            .collect()
    }

    /// Hold the breaker `key` in `state`, or release it (`None`).
    pub async fn set_breaker_hold(&self, key: &str, state: Option<BreakerState>) -> Result<(), StoreError> {
        match state {
            Some(state) => on_pool!(self, pool => sqlx::query(
                "INSERT INTO breaker_holds (key, state, set_at) VALUES ($1, $2, $3)
                 ON CONFLICT (key) DO UPDATE SET state = excluded.state, set_at = excluded.set_at",
            )
            .bind(key)
            .bind(state.as_str())
            .bind(Utc::now())
            .execute(pool)
            .await
            .map(|_| ())?),
            None => on_pool!(self, pool => sqlx::query("DELETE FROM breaker_holds WHERE key = $1")
                .bind(key)
                .execute(pool)
                .await
                .map(|_| ())?),
        }
        Ok(())
    }

    /// Every operator hold, by breaker key.
    pub async fn breaker_holds(&self) -> Result<Vec<(String, BreakerState)>, StoreError> {
        let rows: Vec<(String, String)> =
            on_read!(self, pool => sqlx::query_as("SELECT key, state FROM breaker_holds").fetch_all(pool).await?);
        rows.into_iter()
            .map(|(key, state)| match BreakerState::parse(&state) {
                Some(state) => Ok((key, state)),
                None => Err(StoreError::Corrupt(format!("breaker hold {key}: unknown state `{state}`"))),
            })
            .collect()
    }
}

/// SHA-256 of the records' JSON, hex.
pub fn content_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Postgres connection options from `url`. A server on this machine (loopback or a Unix
/// socket) is reached without TLS unless the URL asks for it with `sslmode`: TLS protects
/// nothing there, and its records split a large statement (a dataset's records) into writes
/// that, with Nagle's algorithm on (sqlx does not turn it off), each wait out the server's
/// delayed acknowledgement — about 40 ms a statement.
pub fn pg_options(url: &str) -> Result<sqlx::postgres::PgConnectOptions, StoreError> {
    let opts = sqlx::postgres::PgConnectOptions::from_str(url)
        .map_err(|e| StoreError::Unavailable(format!("bad postgres URL: {}", redact_url_error(&e.to_string(), url))))?;
    let host = opts.get_host();
    let local = host.starts_with('/')
        || host == "localhost"
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    Ok(match local && !url.contains("sslmode=") {
        true => opts.ssl_mode(sqlx::postgres::PgSslMode::Disable),
        false => opts,
    })
}

/// Connection errors can quote the URL, password included; strip it.
fn redact_url_error(msg: &str, url: &str) -> String {
    msg.replace(url, "[database url]")
}

/// Sync ticks: the scheduler's claims, one row per tick of each sync.
impl Store {
    /// Claim tick `slot` (seconds since the epoch) of sync `sync`; `true` for exactly one caller.
    pub async fn claim_tick(&self, sync: &str, slot: i64, by: &str) -> Result<bool, StoreError> {
        let n = on_pool!(self, pool => sqlx::query(
            "INSERT INTO sync_ticks (sync, slot, claimed_by, claimed_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (sync, slot) DO NOTHING",
        )
        .bind(sync)
        .bind(slot)
        .bind(by)
        .bind(Utc::now())
        .execute(pool)
        .await?
        .rows_affected());
        Ok(n > 0)
    }

    /// Forget ticks of `sync` older than `before`.
    pub async fn prune_ticks(&self, sync: &str, before: i64) -> Result<(), StoreError> {
        on_pool!(self, pool => sqlx::query("DELETE FROM sync_ticks WHERE sync = $1 AND slot < $2")
            .bind(sync)
            .bind(before)
            .execute(pool)
            .await
            .map(|_| ())?);
        Ok(())
    }

    /// The newest claimed tick of `sync`, if any.
    pub async fn last_tick(&self, sync: &str) -> Result<Option<i64>, StoreError> {
        let slot: Option<i64> = on_read!(self, pool => sqlx::query_scalar("SELECT MAX(slot) FROM sync_ticks WHERE sync = $1")
            .bind(sync)
            .fetch_one(pool)
            .await?);
        Ok(slot)
    }
}
