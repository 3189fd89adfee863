#!/usr/bin/env bash
# Loading a clip with 100,000 events: median / p95 of load_aggregate and of one RecordDownload
# command, with snapshots (the app's event store) and with a replay of every event, on embedded
# SQLite and on PostgreSQL. Builds the `clip_load` bench target of voicebin-commands in release.
# PostgreSQL: VOICEBIN_BENCH_DATABASE_URL (default postgres://postgres:postgres@127.0.0.1:5432/postgres);
# a fresh database vbbench_<random> is created there and dropped at the end.
# Arguments are passed on: --events N --by-command N --batch N --loads N --replays N --commands N
# --sqlite-only --postgres-only.
# Tools: cargo (stable Rust), a reachable PostgreSQL unless --sqlite-only.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "load before: $(uptime)"
cargo bench --quiet -p voicebin-commands --bench clip_load -- "$@"
echo "load after: $(uptime)"
