-- Transcripts (issue 14, docs/adr/0018-transcripts.md): where each clip is in the
-- transcription stage (pending, done, failed; NULL before its clean verdict), who wrote its
-- transcript (engine or owner), why transcription failed, the spoken language and when the
-- transcript last changed. The segments are in clip_transcript_segments (0012).
ALTER TABLE clip_views ADD COLUMN transcript_state text;
ALTER TABLE clip_views ADD COLUMN transcript_source text;
ALTER TABLE clip_views ADD COLUMN transcript_detail text;
ALTER TABLE clip_views ADD COLUMN transcript_language text;
ALTER TABLE clip_views ADD COLUMN transcribed_at integer;
-- Clips already clean are transcribed too, as a rebuild from their events would have it.
UPDATE clip_views SET transcript_state = 'pending'
WHERE scan_state = 'clean' AND container IS NOT NULL;
-- The stage relays look for pending clips on every pass.
CREATE INDEX clip_views_transcript_pending ON clip_views (id) WHERE transcript_state = 'pending';
CREATE INDEX clip_views_rendition_pending ON clip_views (id) WHERE rendition_state = 'pending';
