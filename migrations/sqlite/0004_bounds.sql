-- Retention prunes finished jobs and old fetch-log entries by age; the queue-depth cap counts
-- waiting jobs by connector.
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX jobs_pending_connector ON jobs (connector) WHERE status IN ('queued', 'deferred');
CREATE INDEX fetch_log_started ON fetch_log (started_at);

-- /ready writes one row here: a database that answers reads but cannot take writes (disk full,
-- read-only) is not ready.
CREATE TABLE readiness (
    id INTEGER PRIMARY KEY,
    checked_at TEXT NOT NULL
);
