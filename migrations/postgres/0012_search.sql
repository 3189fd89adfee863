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
-- `doc` is title (weight A), filename (B), description (C) and transcript (D), what a search
-- must match; the fields on their own say which is the best one holding a searched word (the
-- rank), each with an index and statistics of its own, so the planner can tell a word that is
-- rare in titles from one that is common in speech.
CREATE TABLE clip_search
(
    clip_id     text     NOT NULL PRIMARY KEY,
    title       tsvector NOT NULL,
    filename    tsvector NOT NULL,
    description tsvector NOT NULL,
    doc         tsvector NOT NULL
);

CREATE INDEX clip_search_doc ON clip_search USING gin (doc);
CREATE INDEX clip_search_title ON clip_search USING gin (title);
CREATE INDEX clip_search_filename ON clip_search USING gin (filename);
CREATE INDEX clip_search_description ON clip_search USING gin (description);
