-- Every limited request (uploads, API reads, downloads, MCP) now takes from a bucket here, so
-- a bucket row is written on nearly every request. The buckets are worth little: losing them
-- is the same as every bucket being full again. So the table is unlogged (no WAL write per
-- request; a crash or a failover to a standby empties it, which lets each client start with a
-- full allowance once), and it has no index on `tat`: every update changes `tat`, and without
-- an index on it the update can stay on the row's page (a HOT update) instead of adding index
-- entries. The sweep of full buckets (`DELETE … WHERE tat <= now`) scans the table, which holds
-- only the buckets in use, once a minute.
DROP INDEX rate_limit_buckets_tat;
ALTER TABLE rate_limit_buckets SET UNLOGGED;
ALTER TABLE rate_limit_buckets SET (fillfactor = 70);
