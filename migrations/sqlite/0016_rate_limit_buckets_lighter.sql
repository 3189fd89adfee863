-- Embedded mode keeps its request limits (uploads, API reads, downloads, MCP) in process; this
-- table keeps only the abuse-report and sign-in-link allowances. Every take rewrites `tat`, so
-- its index costs a write each time, for a sweep of full buckets that scans this small table
-- just as well once a minute.
DROP INDEX rate_limit_buckets_tat;
