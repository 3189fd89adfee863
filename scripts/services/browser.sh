# shellcheck shell=bash
# Headless browsers for the end-to-end browser tests (tests/browser/*.mjs):
#   - Debian's chromium driven by playwright-core from npm;
#   - Debian's firefox-esr driven by puppeteer-core from npm over WebDriver BiDi (playwright
#     only drives its own patched Firefox builds, not a stock one).
# playwright's and puppeteer's own browser downloads cannot reach their CDNs here, so the
# browsers come from apt. Meant to be *sourced*; defines `ensure_browser` and nothing else that
# runs.
#
#   source scripts/services/browser.sh && ensure_browser
#
# Exports VOICEBIN_BROWSER_NODE_PATH (the node_modules holding playwright-core and
# puppeteer-core), VOICEBIN_CHROMIUM and VOICEBIN_FIREFOX (the browser executables).

ensure_browser() {
  local cache="${VOICEBIN_CACHE_DIR:-$HOME/.cache/voicebin}"
  local dir="$cache/browser"
  local chromium=/usr/bin/chromium
  local firefox=/usr/bin/firefox-esr

  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    printf '==> node and npm are needed for the browser test\n' >&2
    _browser_apt_install nodejs npm
  fi

  if [ ! -x "$chromium" ]; then
    printf '==> installing chromium\n' >&2
    _browser_apt_install chromium
  fi

  if [ ! -x "$firefox" ]; then
    printf '==> installing firefox-esr\n' >&2
    _browser_apt_install firefox-esr
  fi

  if [ ! -f "$dir/node_modules/playwright-core/package.json" ]; then
    printf '==> installing playwright-core into %s\n' "$dir" >&2
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error 'playwright-core@1' >&2
  fi

  # puppeteer-core speaks WebDriver BiDi to Firefox (checked with puppeteer-core 25 and
  # firefox-esr 153).
  if [ ! -f "$dir/node_modules/puppeteer-core/package.json" ]; then
    printf '==> installing puppeteer-core into %s\n' "$dir" >&2
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error 'puppeteer-core@25' >&2
  fi

  # axe-core checks the pages' accessibility (tests/browser/harness.mjs).
  if [ ! -f "$dir/node_modules/axe-core/package.json" ]; then
    printf '==> installing axe-core into %s\n' "$dir" >&2
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error 'axe-core@4' >&2
  fi

  # Firefox's content process dies when a page's AudioContext starts on a machine with no sound
  # server (the upload page's level meter has one): give it PulseAudio with a null sink.
  if ! command -v pulseaudio >/dev/null || ! command -v pactl >/dev/null; then
    printf '==> installing pulseaudio (a sound server for Web Audio in firefox)\n' >&2
    _browser_apt_install pulseaudio pulseaudio-utils
  fi
  if ! pactl info >/dev/null 2>&1; then
    printf '==> starting pulseaudio with a null sink\n' >&2
    pulseaudio --daemonize=yes --exit-idle-time=-1 -n \
      --load="module-null-sink sink_name=null" --load=module-native-protocol-unix >&2
  fi

  export VOICEBIN_BROWSER_NODE_PATH="$dir/node_modules"
  export VOICEBIN_CHROMIUM="$chromium"
  export VOICEBIN_FIREFOX="$firefox"
}

_browser_apt_install() {
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq "$@" >/dev/null
}
