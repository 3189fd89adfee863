-- Work done on a clip after its clean verdict, one stage at a time (a playback rendition for a
-- clip browsers cannot play; transcription next). See docs/adr/0016-playback-renditions.md.
--
-- A stage's state is a column of clip_views, projected from events: 'pending' while the clip
-- needs the stage and no outcome is recorded, then 'done' or 'failed'; NULL when the clip does
-- not need it. The rendition itself, once recorded, is a JSON object (blob_key, content_type,
-- size_bytes, sha256) in clip_views.rendition.
ALTER TABLE clip_views ADD COLUMN rendition_state text;
ALTER TABLE clip_views ADD COLUMN rendition text;

-- The stage relay's claims (as scan_dispatch is the scan relay's): when a clip's job for a
-- stage may be published again (due_at, in µs).
CREATE TABLE stage_dispatch
(
    clip_id  text    NOT NULL,
    stage    text    NOT NULL,
    due_at   bigint NOT NULL,
    attempts bigint NOT NULL,
    PRIMARY KEY (clip_id, stage)
);

-- How many times a clip's stage was started, counted before it runs (as scan_attempts).
CREATE TABLE stage_attempts
(
    clip_id text    NOT NULL,
    stage   text    NOT NULL,
    started bigint NOT NULL,
    PRIMARY KEY (clip_id, stage)
);
