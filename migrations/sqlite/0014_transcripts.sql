-- Transcripts (issue 14): whether each clip has a transcript (none, failed, transcribed,
-- corrected), why transcription failed, the spoken language and when the transcript last
-- changed. The segments themselves are in clip_transcript_segments (0012).
ALTER TABLE clip_views ADD COLUMN transcript_state text NOT NULL DEFAULT 'none';
ALTER TABLE clip_views ADD COLUMN transcript_detail text;
ALTER TABLE clip_views ADD COLUMN transcript_language text;
ALTER TABLE clip_views ADD COLUMN transcribed_at integer;
