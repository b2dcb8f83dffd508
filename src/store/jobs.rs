//! Job status, kept beside the cache so it can be read after the queue has forgotten the job.
//!
//! The queue (apalis) carries only a job's id; this table is the truth about what the job is
//! and how it went. A partial unique index allows one pending (`queued` or `deferred`) job per
//! dataset, which makes a second enqueue of the same dataset return the first.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::types::Json;

use super::{Access, Db, Store, StoreError, on_pool, on_read};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobStatus {
    Queued,
    Running,
    /// Waiting on a breaker or a quota, until `run_at`.
    Deferred,
    Succeeded,
    Failed,
}

impl JobStatus {
    pub const ALL: [JobStatus; 5] =
        [JobStatus::Queued, JobStatus::Running, JobStatus::Deferred, JobStatus::Succeeded, JobStatus::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Deferred => "deferred",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> Option<JobStatus> {
        JobStatus::ALL.into_iter().find(|j| j.as_str() == s)
    }
    pub fn is_finished(self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Failed)
    }
}

/// A job as stored.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct JobRow {
    pub id: String,
    pub connector: String,
    #[serde(rename = "dataset")]
    pub key: String,
    pub params: Json<serde_json::Map<String, serde_json::Value>>,
    pub status: String,
    pub attempts: i64,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub run_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The `X-Request-Id` of the API request that created the job.
    pub request_id: Option<String>,
    /// The failover group the job was asked of, if it was.
    pub failover: Option<Json<Failover>>,
}

/// A job of a failover group: the group, the parameters it was asked with and the members passed
/// over before the job's connector (skipped, or tried and failed), in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Failover {
    pub group: String,
    pub params: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub passed: Vec<Passed>,
}

/// A member passed over, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Passed {
    pub connector: String,
    pub reason: String,
}

/// Where a job of a failover group goes next ([`Store::fall_over`]): the next member's dataset.
pub struct NextMember<'a> {
    pub connector: &'a str,
    pub key: &'a str,
    pub params: &'a serde_json::Map<String, serde_json::Value>,
    pub failover: &'a Failover,
}

/// A job claimed to run ([`Store::start_job`]), with the validators of the dataset's cached
/// copy, if it has one: what makes the refresh a conditional request.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Claim {
    #[sqlx(flatten)]
    pub job: JobRow,
    #[sqlx(flatten)]
    pub validators: Validators,
}

/// What an upstream said identifies the version of a dataset it sent (`ETag`, `Last-Modified`),
/// kept with the dataset and sent back on its refresh (`If-None-Match`, `If-Modified-Since`).
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct Validators {
    pub etag: Option<String>,
    pub last_modified: Option<String>,
}

impl Validators {
    /// Whether there is anything to send.
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }
}

impl JobRow {
    pub fn status(&self) -> JobStatus {
        JobStatus::parse(&self.status).unwrap_or(JobStatus::Failed)
    }
}

pub struct NewJob<'a> {
    pub id: &'a str,
    pub connector: &'a str,
    pub key: &'a str,
    pub params: &'a serde_json::Map<String, serde_json::Value>,
    /// The `X-Request-Id` of the API request that asks for it, if one does.
    pub request_id: Option<&'a str>,
    /// The failover group it is asked of, if it is.
    pub failover: Option<&'a Failover>,
}

/// Every column of `jobs`, as [`JobRow`] reads them.
macro_rules! job_columns {
    () => {
        "id, connector, key, params, status, attempts, error, created_at, updated_at, run_at, finished_at, request_id, \
         failover"
    };
}

/// `SELECT` of every column, to which a `WHERE` is appended.
macro_rules! select_jobs {
    ($where:literal) => {
        concat!("SELECT ", job_columns!(), " FROM jobs WHERE ", $where)
    };
}

/// Finish job `$1` as status `$2` with error `$3` at time `$4`.
pub(super) const FINISH_JOB: &str =
    "UPDATE jobs SET status = $2, error = $3, updated_at = $4, finished_at = $4, run_at = NULL WHERE id = $1";

/// Insert a queued [`NewJob`] unless its dataset has a pending job, returning the row; bound by
/// [`bind_job!`]. `$with` and `$from` wrap the row's `SELECT` (SQLite needs a `WHERE` there to
/// read the `ON CONFLICT` that follows as the upsert's).
macro_rules! insert_job {
    ($with:expr, $from:expr) => {
        concat!(
            $with,
            "INSERT INTO jobs (id, connector, key, params, status, attempts, created_at, updated_at, request_id, failover)
             SELECT $1, $2, $3, $4, 'queued', 0, $5, $5, $6, $7 ",
            $from,
            " ON CONFLICT (key) WHERE status IN ('queued', 'deferred') DO NOTHING RETURNING ",
            job_columns!()
        )
    };
}

/// On Postgres, a new job is the one write that waits for the disk (`synchronous_commit` is off
/// for the rest; see `Store::connect`): once it is accepted it is not lost. The setting is made
/// local to the statement's own transaction, which reads it when it commits: one round trip
/// instead of four.
const INSERT_JOB_PG: &str =
    insert_job!("WITH durable AS (SELECT set_config('synchronous_commit', 'on', true)) ", "FROM durable");
const INSERT_JOB_SQLITE: &str = insert_job!("", "WHERE true");

/// [`insert_job!`]'s arguments, bound to `$query`.
macro_rules! bind_job {
    ($query:expr, $job:expr, $now:expr) => {
        $query
            .bind($job.id)
            .bind($job.connector)
            .bind($job.key)
            .bind(Json($job.params))
            .bind($now)
            .bind($job.request_id)
            .bind($job.failover.map(Json))
    };
}

/// Claim job `$1` at time `$2`, if it is pending; the row, with the cached dataset's validators.
const START_JOB: &str = concat!(
    "UPDATE jobs SET status = 'running', attempts = attempts + 1, updated_at = $2, run_at = NULL
     WHERE id = $1 AND status IN ('queued', 'deferred') RETURNING ",
    job_columns!(),
    ", (SELECT etag FROM datasets WHERE datasets.key = jobs.key) AS etag,
     (SELECT last_modified FROM datasets WHERE datasets.key = jobs.key) AS last_modified"
);

/// A write's error: `None` when the unique pending index refused it (another job for the
/// dataset is waiting), else the error.
fn unless_pending(e: sqlx::Error) -> Result<Option<u64>, StoreError> {
    match e {
        sqlx::Error::Database(d) if d.is_unique_violation() => Ok(None),
        e => Err(e.into()),
    }
}

/// The first row `rows` holds, as a `T`.
fn first<T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>>(
    rows: Vec<sqlx::sqlite::SqliteRow>,
) -> Result<Option<T>, StoreError> {
    Ok(rows.first().map(T::from_row).transpose()?)
}

impl Store {
    /// Insert a queued job, or return the dataset's pending one. `true` when inserted.
    pub async fn create_job(&self, job: &NewJob<'_>) -> Result<(JobRow, bool), StoreError> {
        let now = Utc::now();
        // Two racing enqueues: one insert wins, the other finds the winner (retry once if the
        // winner finished in between).
        for _ in 0..3 {
            let insert = async {
                match &self.db {
                    Db::Postgres(pool) => {
                        Ok(bind_job!(sqlx::query_as::<_, JobRow>(INSERT_JOB_PG), job, now).fetch_optional(pool).await?)
                    }
                    Db::Sqlite(db) => {
                        let query = bind_job!(sqlx::query(INSERT_JOB_SQLITE), job, now);
                        first(db.rounds.write(INSERT_JOB_SQLITE, INSERT_JOB_SQLITE, query).await?)
                    }
                }
            };
            let inserted = self.guard.run(Access::Write, insert).await?;
            if let Some(row) = inserted {
                return Ok((row, true));
            }
            if let Some(pending) = self.pending_job(job.key).await? {
                return Ok((pending, false));
            }
        }
        Err(StoreError::Corrupt(format!("could not enqueue {}: pending job keeps changing", job.key)))
    }

    pub async fn job(&self, id: &str) -> Result<Option<JobRow>, StoreError> {
        let row = on_read!(self, pool => sqlx::query_as::<_, JobRow>(select_jobs!("id = $1")).bind(id).fetch_optional(pool).await?);
        Ok(row)
    }

    pub async fn pending_job(&self, key: &str) -> Result<Option<JobRow>, StoreError> {
        let row = on_read!(self, pool => sqlx::query_as::<_, JobRow>(select_jobs!("key = $1 AND status IN ('queued', 'deferred')")).bind(key).fetch_optional(pool).await?);
        Ok(row)
    }

    /// Claim a job for running: only a pending job is claimed, so a redelivered message for a job
    /// that already ran (or is running elsewhere) does nothing. Counts an attempt. The claim
    /// carries the cached dataset's validators, read in the same statement.
    pub async fn start_job(&self, id: &str) -> Result<Option<Claim>, StoreError> {
        let now = Utc::now();
        let claim = async {
            match &self.db {
                Db::Postgres(pool) => Ok(sqlx::query_as(START_JOB).bind(id).bind(now).fetch_optional(pool).await?),
                Db::Sqlite(db) => {
                    let query = sqlx::query(START_JOB).bind(id).bind(now);
                    first(db.rounds.write(START_JOB, START_JOB, query).await?)
                }
            }
        };
        self.guard.run(Access::Write, claim).await
    }

    /// Put a running job back to wait until `run_at`, giving back the attempt it was charged.
    /// `false` when another job for the dataset became pending meanwhile: the caller then ends
    /// this one and leaves the dataset to the pending job.
    pub async fn defer_job(&self, id: &str, run_at: DateTime<Utc>, reason: &str) -> Result<bool, StoreError> {
        let result = on_pool!(self, pool => sqlx::query(
            "UPDATE jobs SET status = 'deferred', attempts = attempts - 1, run_at = $2, error = $3, updated_at = $4
             WHERE id = $1 AND status = 'running'",
        )
        .bind(id)
        .bind(run_at)
        .bind(reason)
        .bind(Utc::now())
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
        .map_or_else(unless_pending, |n| Ok(Some(n)))?);
        // `None`: the unique pending index, a newer job for the same dataset is already waiting.
        Ok(result.is_some_and(|n| n > 0))
    }

    /// Record how a job ended.
    pub async fn finish_job(&self, id: &str, status: JobStatus, error: Option<&str>) -> Result<(), StoreError> {
        let now = Utc::now();
        on_pool!(self, pool => sqlx::query(FINISH_JOB)
        .bind(id)
        .bind(status.as_str())
        .bind(error)
        .bind(now)
        .execute(pool)
        .await
        .map(|_| ())?);
        Ok(())
    }

    /// Hand a running job of a failover group to its next member: queued again for `next`'s
    /// connector and dataset, with the members passed over so far. `false` when `next`'s dataset
    /// already has a pending job (which then answers for it) or the job is no longer running.
    pub async fn fall_over(&self, id: &str, next: &NextMember<'_>, reason: &str) -> Result<bool, StoreError> {
        let result = on_pool!(self, pool => sqlx::query(
            "UPDATE jobs SET connector = $2, key = $3, params = $4, failover = $5, status = 'queued', error = $6,
             run_at = NULL, updated_at = $7 WHERE id = $1 AND status = 'running'",
        )
        .bind(id)
        .bind(next.connector)
        .bind(next.key)
        .bind(Json(next.params))
        .bind(Json(next.failover))
        .bind(reason)
        .bind(Utc::now())
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
        .map_or_else(unless_pending, |n| Ok(Some(n)))?);
        Ok(result.is_some_and(|n| n > 0))
    }

    /// Mark a running job as still going (its worker's heartbeat), so the lost-job sweep leaves it.
    pub async fn touch_job(&self, id: &str) -> Result<(), StoreError> {
        on_pool!(self, pool => sqlx::query("UPDATE jobs SET updated_at = $2 WHERE id = $1 AND status = 'running'")
            .bind(id)
            .bind(Utc::now())
            .execute(pool)
            .await
            .map(|_| ())?);
        Ok(())
    }

    /// Waiting (queued or deferred) jobs by connector.
    pub async fn pending_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = on_read!(self, pool => sqlx::query_as::<_, (String, i64)>(
            "SELECT connector, COUNT(*) FROM jobs WHERE status IN ('queued', 'deferred') GROUP BY connector",
        )
        .fetch_all(pool)
        .await?);
        Ok(rows)
    }

    /// A deferred job waiting past `now + late`: moved back to queued, to run now. `true` when moved.
    pub async fn undefer_job(&self, id: &str) -> Result<bool, StoreError> {
        let n = on_pool!(self, pool => sqlx::query(
            "UPDATE jobs SET status = 'queued', run_at = NULL, updated_at = $2 WHERE id = $1 AND status = 'deferred'",
        )
        .bind(id)
        .bind(Utc::now())
        .execute(pool)
        .await?
        .rows_affected());
        Ok(n > 0)
    }

    /// Delete finished jobs older than `max_age`, and all but the newest `keep`. How many went.
    pub async fn prune_jobs(&self, max_age: chrono::Duration, keep: u64) -> Result<u64, StoreError> {
        self.prune(
            &super::Prune {
                older: "DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < $1",
                nth_newest: "SELECT finished_at FROM jobs WHERE finished_at IS NOT NULL
                             ORDER BY finished_at DESC LIMIT 1 OFFSET $1",
                up_to: "DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at <= $1",
            },
            max_age,
            keep,
        )
        .await
    }

    /// Up to `limit` running jobs, then up to `limit` jobs finished last, newest first (both by
    /// an index: the status page asks this).
    pub async fn recent_jobs(&self, limit: i64) -> Result<Vec<JobRow>, StoreError> {
        let mut running = on_read!(self, pool => sqlx::query_as::<_, JobRow>(select_jobs!("status = 'running' LIMIT $1"))
            .bind(limit)
            .fetch_all(pool)
            .await?);
        let finished = on_read!(self, pool => sqlx::query_as::<_, JobRow>(
            select_jobs!("finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT $1")
        )
        .bind(limit)
        .fetch_all(pool)
        .await?);
        running.extend(finished);
        Ok(running)
    }

    /// Jobs by status.
    pub async fn job_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = on_read!(self, pool => sqlx::query_as::<_, (String, i64)>(
            "SELECT status, COUNT(*) FROM jobs GROUP BY status ORDER BY status",
        )
        .fetch_all(pool)
        .await?);
        Ok(rows)
    }

    /// Deferred jobs overdue by more than `late`: their queue message was lost (the queue was
    /// unreachable when they were put back), so they need another.
    pub async fn overdue_deferred(&self, late: chrono::Duration) -> Result<Vec<(String, String)>, StoreError> {
        let cutoff = Utc::now() - late;
        let ids = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, connector FROM jobs WHERE status = 'deferred' AND run_at < $1",
        )
        .bind(cutoff)
        .fetch_all(pool)
        .await?);
        Ok(ids)
    }

    /// Running jobs not touched for `older_than`, whose worker died: put back to queued.
    pub async fn requeue_stale_running(
        &self,
        older_than: chrono::Duration,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let cutoff = Utc::now() - older_than;
        let ids: Vec<(String, String)> = on_pool!(self, pool => sqlx::query_as(
            "SELECT id, connector FROM jobs WHERE status = 'running' AND updated_at < $1",
        )
        .bind(cutoff)
        .fetch_all(pool)
        .await?);
        let mut requeued = Vec::new();
        for (id, connector) in ids {
            let r = on_pool!(self, pool => sqlx::query(
                "UPDATE jobs SET status = 'queued', updated_at = $2 WHERE id = $1 AND status = 'running'",
            )
            .bind(&id)
            .bind(Utc::now())
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
            .map_or_else(unless_pending, |n| Ok(Some(n)))?);
            match r {
                Some(n) if n > 0 => requeued.push((id, connector)),
                Some(_) => {}
                None => {
                    self.finish_job(
                        &id,
                        JobStatus::Failed,
                        Some("worker lost; a newer job for the dataset is pending"),
                    )
                    .await?;
                }
            }
        }
        Ok(requeued)
    }
}
