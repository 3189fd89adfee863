-- Scan jobs are published by a relay that reads pending clips from clip_views; this table
-- records when a clip's job may be published again (due_at, in µs), so replicas do not publish
-- the same job at once, and a job lost in a crash is published again after a short, growing
-- delay. See docs/adr/0003-scan-job-relay.md.
CREATE TABLE scan_dispatch
(
    clip_id  text    NOT NULL PRIMARY KEY,
    due_at   integer NOT NULL,
    attempts integer NOT NULL
) STRICT;
