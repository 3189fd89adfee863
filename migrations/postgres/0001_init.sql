-- Event store (the layout sqlite-es 0.5 expects) and the first read model.
CREATE TABLE events
(
    aggregate_type text                          NOT NULL,
    aggregate_id   text                          NOT NULL,
    sequence       bigint CHECK (sequence >= 0) NOT NULL,
    event_type     text                          NOT NULL,
    event_version  text                          NOT NULL,
    payload        json                          NOT NULL,
    metadata       json                          NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, sequence)
);

CREATE TABLE snapshots
(
    aggregate_type   text                                  NOT NULL,
    aggregate_id     text                                  NOT NULL,
    last_sequence    bigint CHECK (last_sequence >= 0)    NOT NULL,
    current_snapshot bigint CHECK (current_snapshot >= 0) NOT NULL,
    payload          json                                  NOT NULL,
    PRIMARY KEY (aggregate_type, aggregate_id, last_sequence)
);

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
    size_bytes      bigint  NOT NULL,
    sha256          text    NOT NULL,
    blob_key        text    NOT NULL,
    scan_state      text    NOT NULL,
    scan_detail     text,
    scanner         text,
    container       text,
    codec           text,
    duration_ms     bigint,
    sample_rate     bigint,
    channels        bigint,
    download_limit  bigint,
    download_count  bigint  NOT NULL,
    created_at      bigint  NOT NULL,
    updated_at      bigint  NOT NULL,
    scanned_at      bigint,
    deleted_at      bigint,
    version         bigint  NOT NULL
);

CREATE INDEX clip_views_owner_newest ON clip_views (owner, created_at DESC, id DESC);
CREATE INDEX clip_views_scan_state ON clip_views (scan_state);
