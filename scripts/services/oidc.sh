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

# oidc-provider 9 warns that it prefers Node 22 but runs on Debian's Node 20 (checked with 20.20).
VOICEBIN_OIDC_PROVIDER_VERSION=9.13.3

ensure_oidc() {
  local cache="${VOICEBIN_CACHE_DIR:-$HOME/.cache/voicebin}"
  local dir="$cache/oidc"
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    printf '==> node and npm are needed for the OAuth sign-in test (ensure_browser installs them)\n' >&2
    return 1
  fi
  local installed=""
  if [ -f "$dir/node_modules/oidc-provider/package.json" ]; then
    installed=$(node -p "require('$dir/node_modules/oidc-provider/package.json').version")
  fi
  if [ "$installed" != "$VOICEBIN_OIDC_PROVIDER_VERSION" ]; then
    printf '==> installing oidc-provider@%s into %s\n' "$VOICEBIN_OIDC_PROVIDER_VERSION" "$dir" >&2
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error \
      "oidc-provider@$VOICEBIN_OIDC_PROVIDER_VERSION" >&2
  fi
  export VOICEBIN_OIDC_DIR="$dir"
  export VOICEBIN_OIDC_SERVER
  VOICEBIN_OIDC_SERVER="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/tests/oidc/server.mjs"
}
