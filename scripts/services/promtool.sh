# shellcheck shell=bash
# promtool, from Debian's `prometheus` package: tests/api/metrics.rs runs `promtool check
# metrics` on what `/metrics` serves. Sourced by scripts/test; `ensure_promtool` installs the
# package when promtool is missing and exports VOICEBIN_PROMTOOL, without which that test fails.

ensure_promtool() {
  if ! command -v promtool >/dev/null 2>&1; then
    # scripts/test defines apt_install (apt-get -o DPkg::Lock::Timeout=600 update + install, via
    # sudo when not root); fall back to the same steps when this file is sourced on its own.
    if declare -F apt_install >/dev/null; then
      apt_install prometheus || return 1
    else
      local sudo=()
      [ "$(id -u)" = 0 ] || sudo=(sudo)
      printf '==> installing prometheus (for promtool)\n' >&2
      "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq || return 1
      # The package's service is not wanted: only its promtool is used.
      DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq \
        --no-install-recommends prometheus >/dev/null || return 1
    fi
  fi
  VOICEBIN_PROMTOOL=$(command -v promtool) || return 1
  export VOICEBIN_PROMTOOL
}
