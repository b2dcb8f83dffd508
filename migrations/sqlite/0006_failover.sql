-- A job asked of a failover group: the group, its parameters and the members passed over so far
-- (JSON), so that a worker can fall over to the next member. NULL for a job of one connector.
ALTER TABLE jobs ADD COLUMN failover TEXT;
