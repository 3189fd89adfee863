-- Resumable uploads in progress (tus 1.0 and the IETF resumable-upload draft; ADR 0025). A
-- partial upload is not a clip: it records no event until its last byte has arrived. This row
-- is the truth about it; the bytes kept so far live in the blob store (a local file, or an S3
-- multipart upload and its unfinished tail), described by the adapter's own `blob_state`.
--
-- `length` is NULL while the client has not said how long the upload is. `head` holds the
-- first bytes (up to the sniffer's 64 KiB) until the media type is decided; `hash` the running
-- SHA-256 state of every byte kept. `clip_id` is the clip it becomes. Only the request holding
-- the lease (`lease`, until `lease_until`, Unix seconds) may append. Once `completed_at` is set
-- the clip is recorded and the row only answers for it until `expires_at`, when the sweeper
-- removes it (an open one's bytes with it).
CREATE TABLE resumable_uploads
(
    id          text   NOT NULL PRIMARY KEY,
    owner       text   NOT NULL,
    clip_id     text   NOT NULL,
    length      bigint CHECK (length >= 0),
    upload_offset bigint NOT NULL CHECK (upload_offset >= 0),
    meta        text   NOT NULL,
    head        bytea NOT NULL,
    hash        bytea NOT NULL,
    blob_state  text   NOT NULL,
    content_type text,
    completed_at bigint,
    lease       text,
    lease_until bigint,
    created_at  bigint NOT NULL,
    expires_at  bigint NOT NULL
);

CREATE INDEX resumable_uploads_owner ON resumable_uploads (owner, completed_at);
CREATE INDEX resumable_uploads_expires_at ON resumable_uploads (expires_at);
