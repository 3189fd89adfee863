-- Per-account quotas (ADR 0022). Usage is not stored: it is read from `clip_views` (the live
-- clips' originals), so it follows every change of a clip's state, rebuilds included.
--
-- An operator's override of one limit of one account (`voicebin quota set`): no row follows the
-- operator's default, a row with a NULL `max_value` is no limit.
CREATE TABLE quota_overrides
(
    account    text   NOT NULL,
    resource   text   NOT NULL CHECK (resource IN ('bytes', 'clips')),
    max_value  bigint CHECK (max_value >= 0),
    updated_at bigint NOT NULL,
    PRIMARY KEY (account, resource)
);

-- Room held by uploads in progress: taken before the first byte is read, checked against the
-- limits together with the stored clips under a per-account lock, given back once the upload
-- is recorded or refused. A reservation whose process died lapses at `expires_at` (Unix
-- seconds).
CREATE TABLE quota_reservations
(
    ticket     text   NOT NULL PRIMARY KEY,
    account    text   NOT NULL,
    bytes      bigint NOT NULL CHECK (bytes >= 0),
    expires_at bigint NOT NULL
);

CREATE INDEX quota_reservations_account ON quota_reservations (account, expires_at);
CREATE INDEX quota_reservations_expires_at ON quota_reservations (expires_at);
