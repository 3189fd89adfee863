-- Speech search (issue 14, docs/adr/0017-speech-search.md).
--
-- A clip's transcript, one row per timed segment, in order. Written whole: a correction
-- replaces every segment of the clip, a deletion or removal clears them.
CREATE TABLE clip_transcript_segments
(
    clip_id  text    NOT NULL,
    seq      integer NOT NULL,
    start_ms integer NOT NULL,
    end_ms   integer NOT NULL,
    text     text    NOT NULL,
    PRIMARY KEY (clip_id, seq)
) STRICT;

-- The full-text index of live clips: one FTS5 document per clip, its title, filename,
-- description and transcript as words (letters and digits, lowercased, joined by spaces: the
-- application splits words, so both backends agree). Contentless: the text lives in
-- clip_views and clip_transcript_segments only; snippets are cut by the application.
-- `clip_search` gives each clip a document id that follows its upload time (created_at × 8, plus
-- 0–7 for uploads in the same microsecond), so FTS5 can walk documents newest first and stop
-- after a page (an implicit rowid would follow insertion order, and may change on VACUUM).
CREATE TABLE clip_search
(
    docid   integer NOT NULL PRIMARY KEY,
    clip_id text    NOT NULL UNIQUE
) STRICT;

CREATE VIRTUAL TABLE clip_search_fts USING fts5
(
    title,
    filename,
    description,
    transcript,
    content = '',
    contentless_delete = 1,
    tokenize = 'unicode61 remove_diacritics 0',
    prefix = '2 3'
);

-- Every indexed word of every document, for comparing a rebuilt index with the live one.
CREATE VIRTUAL TABLE clip_search_terms USING fts5vocab(clip_search_fts, instance);
