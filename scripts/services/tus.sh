# shellcheck shell=bash
# The reference tus client for the resumable-upload tests (tests/api/resumable.rs runs
# tests/tus/client.mjs with it): tus-js-client from npm, pinned, installed into
# ~/.cache/voicebin/tus. Meant to be *sourced*; defines `ensure_tus` and nothing else that runs.
#
#   source scripts/services/tus.sh && ensure_tus
#
# Exports VOICEBIN_TUS_DIR (the directory whose node_modules holds tus-js-client) and
# VOICEBIN_TUS_CLIENT (the client script).

# shellcheck source=scripts/services/npm.sh
source "$(dirname "${BASH_SOURCE[0]}")/npm.sh"

# The latest release on npm when resumable uploads were built (MIT licence).
VOICEBIN_TUS_JS_CLIENT_VERSION=4.3.1

ensure_tus() {
  local cache="${VOICEBIN_CACHE_DIR:-$HOME/.cache/voicebin}"
  local dir="$cache/tus"
  ensure_npm_package tus-js-client "$VOICEBIN_TUS_JS_CLIENT_VERSION" "$dir" "the resumable-upload tests" || return 1
  export VOICEBIN_TUS_DIR="$dir"
  export VOICEBIN_TUS_CLIENT
  VOICEBIN_TUS_CLIENT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/tests/tus/client.mjs"
}
