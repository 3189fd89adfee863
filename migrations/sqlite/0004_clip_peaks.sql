-- Waveform peaks (a JSON array of levels 0-255) for the view page.
ALTER TABLE clip_views ADD COLUMN peaks text;
