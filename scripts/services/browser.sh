# shellcheck shell=bash
# A headless browser for the end-to-end view-page test (tests/browser/view.mjs): Debian's
# chromium driven by playwright-core from npm. playwright's own browser download cannot reach
# its CDN here, so the browser comes from apt. Meant to be *sourced*; defines `ensure_browser`
# and nothing else that runs.
#
#   source scripts/services/browser.sh && ensure_browser
#
# Exports VOICEBIN_BROWSER_NODE_PATH (the node_modules holding playwright-core) and
# VOICEBIN_CHROMIUM (the browser executable).

ensure_browser() {
  local cache="${VOICEBIN_CACHE_DIR:-$HOME/.cache/voicebin}"
  local dir="$cache/browser"
  local chromium=/usr/bin/chromium

  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    printf '==> node and npm are needed for the browser test\n' >&2
    _browser_apt_install nodejs npm
  fi

  if [ ! -x "$chromium" ]; then
    printf '==> installing chromium\n' >&2
    _browser_apt_install chromium
  fi

  if [ ! -f "$dir/node_modules/playwright-core/package.json" ]; then
    printf '==> installing playwright-core into %s\n' "$dir" >&2
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error 'playwright-core@1' >&2
  fi

  export VOICEBIN_BROWSER_NODE_PATH="$dir/node_modules"
  export VOICEBIN_CHROMIUM="$chromium"
}

_browser_apt_install() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >/dev/null
}
