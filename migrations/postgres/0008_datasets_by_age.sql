-- The status page lists the datasets fetched longest ago first.
CREATE INDEX IF NOT EXISTS datasets_fetched ON datasets (fetched_at);
