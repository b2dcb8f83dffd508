-- The cache of last good results, the fetch log, job status and breaker state.
-- apalis keeps its own queue tables in a sibling file (see src/queue), so the two migration
-- histories never meet.

CREATE TABLE datasets (
    key TEXT PRIMARY KEY NOT NULL,
    connector TEXT NOT NULL,
    params TEXT NOT NULL,
    records TEXT NOT NULL,
    record_count INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    fetched_at TEXT NOT NULL,
    changed_at TEXT NOT NULL,
    etag TEXT,
    last_modified TEXT
);
CREATE INDEX datasets_connector ON datasets (connector, key);

CREATE TABLE fetch_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id TEXT NOT NULL,
    connector TEXT NOT NULL,
    key TEXT NOT NULL,
    outcome TEXT NOT NULL,
    error TEXT,
    record_count INTEGER,
    started_at TEXT NOT NULL,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX fetch_log_key ON fetch_log (key, id);

CREATE TABLE jobs (
    id TEXT PRIMARY KEY NOT NULL,
    connector TEXT NOT NULL,
    key TEXT NOT NULL,
    params TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    run_at TEXT,
    finished_at TEXT
);
-- At most one pending job per dataset: a second enqueue returns the first.
CREATE UNIQUE INDEX jobs_one_pending ON jobs (key) WHERE status IN ('queued', 'deferred');
CREATE INDEX jobs_status ON jobs (status);

CREATE TABLE breakers (
    connector TEXT PRIMARY KEY NOT NULL,
    snapshot TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
