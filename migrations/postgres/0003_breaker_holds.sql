-- An operator's hold on a breaker (`POST /v1/breakers/{connector}`), by breaker key (`connector`
-- or `connector/operation`). Without Redis, worker processes read these to honour a hold set
-- through another process; a released hold is deleted.
CREATE TABLE breaker_holds (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    set_at TIMESTAMPTZ NOT NULL
);
