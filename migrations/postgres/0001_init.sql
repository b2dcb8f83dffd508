-- The cache of last good results, the fetch log, job status and breaker state.
-- apalis keeps its queue tables and its migration history in the `apalis` schema, apart from ours.

CREATE TABLE datasets (
    key TEXT PRIMARY KEY,
    connector TEXT NOT NULL,
    params JSONB NOT NULL,
    records JSONB NOT NULL,
    record_count BIGINT NOT NULL,
    content_hash TEXT NOT NULL,
    fetched_at TIMESTAMPTZ NOT NULL,
    changed_at TIMESTAMPTZ NOT NULL,
    etag TEXT,
    last_modified TEXT
);
CREATE INDEX datasets_connector ON datasets (connector, key);

CREATE TABLE fetch_log (
    id BIGSERIAL PRIMARY KEY,
    job_id TEXT NOT NULL,
    connector TEXT NOT NULL,
    key TEXT NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT,
    record_count BIGINT,
    started_at TIMESTAMPTZ NOT NULL,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX fetch_log_key ON fetch_log (key, id);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    connector TEXT NOT NULL,
    key TEXT NOT NULL,
    params JSONB NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    error TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    run_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ
);
CREATE UNIQUE INDEX jobs_one_pending ON jobs (key) WHERE status IN ('queued', 'deferred');
CREATE INDEX jobs_status ON jobs (status);

CREATE TABLE breakers (
    connector TEXT PRIMARY KEY,
    snapshot JSONB NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
