-- Retention prunes finished jobs and old fetch-log entries by age; the queue-depth cap counts
-- waiting jobs by connector.
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX jobs_pending_connector ON jobs (connector) WHERE status IN ('queued', 'deferred');
CREATE INDEX fetch_log_started ON fetch_log (started_at);
