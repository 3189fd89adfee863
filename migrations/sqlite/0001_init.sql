-- Event store (the layout sqlite-es 0.5 expects) and the first read model.
CREATE TABLE events
(
    aggregate_type text                          NOT NULL,
    aggregate_id   text                          NOT NULL,
    sequence       integer CHECK (sequence >= 0) NOT NULL,
    event_type     text                          NOT NULL,
    event_version  text                          NOT NULL,
    payload        text                          NOT NULL,
    metadata       text                          NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
) STRICT;

CREATE TABLE snapshots
(
    aggregate_type   text                                  NOT NULL,
    aggregate_id     text                                  NOT NULL,
    last_sequence    integer CHECK (last_sequence >= 0)    NOT NULL,
    current_snapshot integer CHECK (current_snapshot >= 0) NOT NULL,
    payload          text                                  NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
) STRICT;

-- One row per clip: serves both the public item view and the owner listing.
-- Times are microseconds since the Unix epoch so both backends order them identically.
CREATE TABLE clip_views
(
    id              text    NOT NULL PRIMARY KEY,
    owner           text    NOT NULL,
    title           text,
    description     text,
    filename        text    NOT NULL,
    content_type    text    NOT NULL,
    size_bytes      integer NOT NULL,
    sha256          text    NOT NULL,
    blob_key        text    NOT NULL,
    scan_state      text    NOT NULL,
    scan_detail     text,
    scanner         text,
    container       text,
    codec           text,
    duration_ms     integer,
    sample_rate     integer,
    channels        integer,
    download_limit  integer,
    download_count  integer NOT NULL,
    created_at      integer NOT NULL,
    updated_at      integer NOT NULL,
    scanned_at      integer,
    deleted_at      integer,
    version         integer NOT NULL
) STRICT;

CREATE INDEX clip_views_owner_newest ON clip_views (owner, created_at DESC, id DESC);
CREATE INDEX clip_views_scan_state ON clip_views (scan_state);
