-- How many times a pending clip's scan was started (issue 12): counted before each scan runs,
-- so a clip whose scan kills its worker, or is lost with it, is still counted, across every job
-- the relay publishes for it. Past the limit the clip is recorded `failed` instead of scanned
-- again. See docs/adr/0010-sandboxed-scans-and-bounded-attempts.md.
CREATE TABLE scan_attempts
(
    clip_id text   NOT NULL PRIMARY KEY,
    started bigint NOT NULL
);
