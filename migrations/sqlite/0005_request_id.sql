-- The X-Request-Id of the API request that created a job, for following it into the worker.
ALTER TABLE jobs ADD COLUMN request_id TEXT;
