# shellcheck shell=bash
# A real OAuth 2.1 / OpenID authorization server for the browser sign-in test
# (tests/api/webapp_signin_browser.rs runs tests/oidc/server.mjs with it): oidc-provider from
# npm, pinned, installed into ~/.cache/voicebin/oidc. Meant to be *sourced*; defines
# `ensure_oidc` and nothing else that runs.
#
#   source scripts/services/oidc.sh && ensure_oidc
#
# Exports VOICEBIN_OIDC_DIR (the directory whose node_modules holds oidc-provider) and
# VOICEBIN_OIDC_SERVER (the server script).

# shellcheck source=scripts/services/npm.sh
source "$(dirname "${BASH_SOURCE[0]}")/npm.sh"

# oidc-provider 9 warns that it prefers Node 22 but runs on Debian's Node 20 (checked with 20.20).
VOICEBIN_OIDC_PROVIDER_VERSION=9.13.3

ensure_oidc() {
  local cache="${VOICEBIN_CACHE_DIR:-$HOME/.cache/voicebin}"
  local dir="$cache/oidc"
  ensure_npm_package oidc-provider "$VOICEBIN_OIDC_PROVIDER_VERSION" "$dir" "the OAuth sign-in test" || return 1
  export VOICEBIN_OIDC_DIR="$dir"
  export VOICEBIN_OIDC_SERVER
  VOICEBIN_OIDC_SERVER="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/tests/oidc/server.mjs"
}
