-- Speech search (issue 14, docs/adr/0017-speech-search.md).
--
-- A clip's transcript, one row per timed segment, in order. Written whole: a correction
-- replaces every segment of the clip, a deletion or removal clears them.
CREATE TABLE clip_transcript_segments
(
    clip_id  text   NOT NULL,
    seq      bigint NOT NULL,
    start_ms bigint NOT NULL,
    end_ms   bigint NOT NULL,
    text     text   NOT NULL,
    PRIMARY KEY (clip_id, seq)
);

-- The full-text index of live clips: one document per clip. The application splits the
-- words (letters and digits, lowercased, joined by spaces), so both backends agree; the
-- `simple` configuration neither stems nor drops stop words, whatever the language.
-- `doc` is title (weight A), filename (B), description (C) and transcript (D); `meta` is the
-- first three alone, small enough to test per row for the rank without reading transcripts.
CREATE TABLE clip_search
(
    clip_id text     NOT NULL PRIMARY KEY,
    meta    tsvector NOT NULL,
    doc     tsvector NOT NULL
);

CREATE INDEX clip_search_doc ON clip_search USING gin (doc);
