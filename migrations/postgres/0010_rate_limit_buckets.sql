-- Rate limits become token buckets (GCRA) instead of fixed hourly windows, which let a client
-- send twice the limit across a window's edge. A bucket is one row: `tat` is the time (Unix
-- milliseconds) at which its refill catches up with what was taken; no row is a full bucket.
-- The old counters are only counters: dropping them at worst lets a reporter start afresh once.
DROP TABLE rate_limits;

CREATE TABLE rate_limit_buckets
(
    key text   NOT NULL PRIMARY KEY,
    tat bigint NOT NULL
);

CREATE INDEX rate_limit_buckets_tat ON rate_limit_buckets (tat);
