#!/usr/bin/env bash
# Projection rebuild throughput: `voicebin projections rebuild` over one million events in
# PostgreSQL. A fresh database vbbench_<random> gets the schema (`voicebin migrate`) and 100,000
# clips of 10 events each, written straight into the event store by SQL in the shapes the
# application writes (Uploaded, ScanCompleted with audio facts and 64 waveform peaks,
# MetadataEdited, 7 Downloaded or, for one clip in ten, 2 Downloaded, Reported ×2, AutoHidden,
# Blocked and Restored); the
# release binary then rebuilds every read model RUNS times. The database is dropped at the end.
#
# Environment: VOICEBIN_BENCH_DATABASE_URL (default postgres://postgres:postgres@127.0.0.1:5432/postgres),
# CLIPS (default 100000; events = 10 × CLIPS), RUNS (default 3).
# Tools: cargo (stable Rust), psql, GNU time (/usr/bin/time) for peak memory.
set -euo pipefail
cd "$(dirname "$0")/.."

admin=${VOICEBIN_BENCH_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}
clips=${CLIPS:-100000}
runs=${RUNS:-3}
name="vbbench_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
url="${admin%/*}/$name"

cargo build --release --quiet --bin voicebin
bin=${CARGO_TARGET_DIR:-target}/release/voicebin

psql -q "$admin" -c "CREATE DATABASE $name"
trap 'psql -q "$admin" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null' EXIT
DATABASE_URL="$url" "$bin" migrate

echo "writing $((clips * 10)) events for $clips clips"
psql -q "$url" -v ON_ERROR_STOP=1 -v clips="$clips" <<'SQL'
CREATE TEMP TABLE c AS
SELECT i,
       'B' || lpad(i::text, 15, '0') AS id,
       'owner' || (i % 1000) AS owner,
       md5(i::text) || md5((i + 1)::text) AS sha,
       timestamptz '2026-11-01 00:00:00Z' + i * interval '1 second' AS t
FROM generate_series(1, :clips) AS i;

-- Events 1-4 of every clip.
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
SELECT 'Clip', id, 1, 'Uploaded', '1.0',
       json_build_object('Uploaded', json_build_object(
           'owner', owner, 'title', 'clip ' || i, 'description', null,
           'filename', 'clip' || i || '.wav', 'content_type', 'audio/wav', 'size_bytes', 16044,
           'sha256', sha, 'blob_key', 'clips/' || id,
           'download_limit', CASE WHEN i % 3 = 0 THEN 100 END,
           'at', to_char(t, 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))),
       json_build_object('actor', 'account:' || owner, 'request_id', 'req-' || i)
FROM c
UNION ALL
SELECT 'Clip', id, 2, 'ScanCompleted', '1.0',
       json_build_object('ScanCompleted', json_build_object(
           'outcome', json_build_object(
               'verdict', 'clean',
               'audio', json_build_object('container', 'wav', 'codec', 'pcm_s16le',
                   'duration_ms', 1000, 'sample_rate', 8000, 'channels', 1,
                   'peaks', (SELECT json_agg((i * 7 + k * 13) % 256) FROM generate_series(1, 64) k)),
               'detail', null, 'scanner', 'audio-probe'),
           'at', to_char(t + interval '1 second', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))),
       json_build_object('actor', 'system:scanner')
FROM c
UNION ALL
SELECT 'Clip', id, 3, 'MetadataEdited', '1.0',
       json_build_object('MetadataEdited', json_build_object(
           'by', owner, 'description', 'edited ' || i,
           'at', to_char(t + interval '2 seconds', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))),
       json_build_object('actor', 'account:' || owner, 'request_id', 'edit-' || i)
FROM c
UNION ALL
-- Events 4-10: seven downloads, or for one clip in ten two downloads, two reports, the
-- auto-hide, a block and a restore.
SELECT 'Clip', id, s, k.event_type, '1.0', ev.payload, ev.metadata
FROM c, generate_series(4, 10) AS s,
LATERAL (SELECT
    CASE WHEN i % 10 <> 0 OR s < 6 THEN 'Downloaded'
         WHEN s < 8 THEN 'Reported' WHEN s = 8 THEN 'AutoHidden'
         WHEN s = 9 THEN 'Blocked' ELSE 'Restored' END AS event_type) AS k,
LATERAL (SELECT
    CASE k.event_type
        WHEN 'Downloaded' THEN json_build_object('Downloaded', json_build_object(
            'at', to_char(t + s * interval '1 minute', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')))
        WHEN 'Reported' THEN json_build_object('Reported', json_build_object(
            'reporter', 'account:reporter' || s, 'reason', 'spam', 'note', 'report ' || i,
            'at', to_char(t + s * interval '1 minute', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')))
        WHEN 'AutoHidden' THEN json_build_object('AutoHidden', json_build_object(
            'reporters', 2, 'reasons', json_build_array('spam'),
            'at', to_char(t + s * interval '1 minute', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')))
        ELSE json_build_object(k.event_type, json_build_object(
            'by', 'moderator', 'reason', 'reviewed',
            'at', to_char(t + s * interval '1 minute', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')))
    END AS payload,
    CASE k.event_type
        WHEN 'Downloaded' THEN json_build_object('actor', 'system:downloads')
        WHEN 'Reported' THEN json_build_object('actor', 'account:reporter' || s)
        WHEN 'AutoHidden' THEN json_build_object('actor', 'system:moderation')
        ELSE json_build_object('actor', 'account:moderator')
    END AS metadata) AS ev;
ANALYZE events;
SQL
psql -qtA "$url" -c "SELECT count(*) || ' events in ' || pg_size_pretty(pg_total_relation_size('events')) FROM events"

echo "load before: $(uptime)"
for run in $(seq 1 "$runs"); do
    /usr/bin/time -f "run $run: peak RSS %M KiB, %e s wall" \
        env DATABASE_URL="$url" RUST_LOG=error "$bin" projections rebuild
done
echo "load after: $(uptime)"
psql -qtA "$url" -c "SELECT 'views ' || (SELECT count(*) FROM clip_views) || ', reports ' || (SELECT count(*) FROM clip_reports) || ', resolved ' || (SELECT count(*) FROM clip_reports WHERE resolution = 'blocked')"
