#!/usr/bin/env bash
# Speech search over 100,000 clips with transcripts: median / p95 of one page of the owner
# listing's `q` (ReadStore::list: full-text query, rank, snippets and moments of the page's hits)
# on embedded SQLite and on PostgreSQL, in one run. Builds the `search` bench target of
# voicebin-projections in release. Text comes from a word list: Debian's wamerican
# (/usr/share/dict/american-english), installed with apt-get when missing.
# PostgreSQL: VOICEBIN_BENCH_DATABASE_URL (default postgres://postgres:postgres@127.0.0.1:5432/postgres);
# a fresh database vbbench_<random> is created there and dropped at the end.
# Arguments are passed on: --clips N --runs N --words FILE --sqlite-only --postgres-only.
# Tools: cargo (stable Rust), apt-get (for wamerican), a reachable PostgreSQL unless --sqlite-only.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -e /usr/share/dict/american-english ] && ! printf '%s\n' "$@" | grep -qx -- --words; then
  apt-get install -y -q wamerican >/dev/null
fi
echo "load before: $(uptime)"
cargo bench --quiet -p voicebin-projections --bench search -- "$@"
echo "load after: $(uptime)"
