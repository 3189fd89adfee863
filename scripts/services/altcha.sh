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

# shellcheck source=scripts/services/npm.sh
source "$(dirname "${BASH_SOURCE[0]}")/npm.sh"

# The version whose v2 challenges (PBKDF2/SHA-256, signed canonical JSON) voicebin issues.
VOICEBIN_ALTCHA_LIB_VERSION=2.8.0

ensure_altcha() {
  local cache="${VOICEBIN_CACHE_DIR:-$HOME/.cache/voicebin}"
  local dir="$cache/altcha"
  ensure_npm_package altcha-lib "$VOICEBIN_ALTCHA_LIB_VERSION" "$dir" "the anonymous-upload tests" || return 1
  export VOICEBIN_ALTCHA_DIR="$dir"
  export VOICEBIN_ALTCHA_SOLVER
  VOICEBIN_ALTCHA_SOLVER="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/tests/altcha/solve.mjs"
}
