-- Moderation (issue 6): where moderation left each clip (shown to its owner), the abuse
-- reports the moderators' queue is built from, the blocklist of digests taken down, and the
-- fixed-window counters that rate-limit reports across replicas.
ALTER TABLE clip_views ADD COLUMN moderation_state text NOT NULL DEFAULT 'visible';
ALTER TABLE clip_views ADD COLUMN moderation_reason text;
ALTER TABLE clip_views ADD COLUMN moderated_at integer;

CREATE TABLE clip_reports
(
    clip_id     text   NOT NULL,
    sequence    integer NOT NULL,
    reporter    text   NOT NULL,
    reason      text   NOT NULL,
    note        text,
    reported_at integer NOT NULL,
    resolved_at integer,
    resolution  text,
    PRIMARY KEY (clip_id, sequence)
) STRICT;

CREATE INDEX clip_reports_queue ON clip_reports (reported_at, clip_id);

CREATE TABLE blocked_digests
(
    sha256     text   NOT NULL PRIMARY KEY,
    clip_id    text   NOT NULL,
    reason     text   NOT NULL,
    removed_at integer NOT NULL
) STRICT;

CREATE TABLE rate_limits
(
    key          text   NOT NULL PRIMARY KEY,
    window_start integer NOT NULL,
    hits         integer NOT NULL
) STRICT;

CREATE INDEX rate_limits_window ON rate_limits (window_start);
