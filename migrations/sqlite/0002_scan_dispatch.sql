-- Scan jobs are published by a relay that reads pending clips from clip_views; this table
-- records when a clip's job was last published, so replicas do not publish the same job at
-- once and a lost job is published again later. See docs/adr/0003-scan-job-relay.md.
CREATE TABLE scan_dispatch
(
    clip_id      text    NOT NULL PRIMARY KEY,
    published_at integer NOT NULL,
    attempts     integer NOT NULL
) STRICT;
