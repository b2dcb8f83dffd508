-- One row per scheduled tick that some scheduler claimed: the primary key makes each tick of
-- each sync enqueue exactly once, however many schedulers run.
CREATE TABLE sync_ticks (
    sync TEXT NOT NULL,
    slot BIGINT NOT NULL,
    claimed_by TEXT NOT NULL,
    claimed_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (sync, slot)
);
