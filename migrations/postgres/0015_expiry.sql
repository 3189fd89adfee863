-- Clip expiry (issue 15, docs/adr/0019-clip-expiry.md): when each clip expires (NULL: never)
-- and when it expired (its `Expired` event), both in µs since the epoch. Existing clips never
-- expire, as a rebuild from their events would have it.
ALTER TABLE clip_views ADD COLUMN expires_at bigint;
ALTER TABLE clip_views ADD COLUMN expired_at bigint;
-- The expiry sweeper asks for the clips due first, among those not yet expired or deleted.
CREATE INDEX clip_views_expiry_due ON clip_views (expires_at)
WHERE expires_at IS NOT NULL AND expired_at IS NULL AND deleted_at IS NULL;
