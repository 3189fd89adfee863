# shellcheck shell=bash
# The reference ALTCHA client for the anonymous-upload tests (tests/api/anonymous.rs runs
# tests/altcha/solve.mjs with it): altcha-lib from npm, pinned, installed into
# ~/.cache/voicebin/altcha. Meant to be *sourced*; defines `ensure_altcha` and nothing else
# that runs.
#
#   source scripts/services/altcha.sh && ensure_altcha
#
# Exports VOICEBIN_ALTCHA_DIR (the directory whose node_modules holds altcha-lib) and
# VOICEBIN_ALTCHA_SOLVER (the solver script).

# The version whose v2 challenges (PBKDF2/SHA-256, signed canonical JSON) voicebin issues.
VOICEBIN_ALTCHA_LIB_VERSION=2.8.0

ensure_altcha() {
  local cache="${VOICEBIN_CACHE_DIR:-$HOME/.cache/voicebin}"
  local dir="$cache/altcha"
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    printf '==> node and npm are needed for the anonymous-upload tests (ensure_browser installs them)\n' >&2
    return 1
  fi
  local installed=""
  if [ -f "$dir/node_modules/altcha-lib/package.json" ]; then
    installed=$(node -p "require('$dir/node_modules/altcha-lib/package.json').version")
  fi
  if [ "$installed" != "$VOICEBIN_ALTCHA_LIB_VERSION" ]; then
    printf '==> installing altcha-lib@%s into %s\n' "$VOICEBIN_ALTCHA_LIB_VERSION" "$dir" >&2
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
      "altcha-lib@$VOICEBIN_ALTCHA_LIB_VERSION" >&2
  fi
  export VOICEBIN_ALTCHA_DIR="$dir"
  export VOICEBIN_ALTCHA_SOLVER
  VOICEBIN_ALTCHA_SOLVER="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/tests/altcha/solve.mjs"
}
