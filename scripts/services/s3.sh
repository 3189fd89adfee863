# shellcheck shell=bash
# An S3-compatible server for the S3 blob-store tests: moto's server from PyPI (MinIO cannot be
# installed here). Meant to be *sourced*; defines `ensure_s3` and nothing else that runs.
#
#   source scripts/services/s3.sh && ensure_s3
#
# moto keeps everything in memory and accepts any credentials; the tests use test/test in
# us-east-1 and a fresh bucket each, so a server left running from an earlier run is reused.

ensure_s3() {
  local cache="${VOICEBIN_CACHE_DIR:-$HOME/.cache/voicebin}"
  local venv="$cache/moto"
  local log="$cache/moto.log"
  local url="http://127.0.0.1:9090"

  # Any HTTP answer counts (moto answers GET / with a bucket list); curl may be missing on a
  # bare machine, Python cannot be, since the venv needs it.
  _s3_answers() {
    if command -v curl >/dev/null; then
      curl -s -o /dev/null --max-time 2 "$1/"
    else
      python3 -c "import sys, urllib.request as u; u.urlopen(sys.argv[1] + '/', timeout=2)" "$1" \
        2>/dev/null
    fi
  }

  mkdir -p "$cache"
  if _s3_answers "$url"; then
    export VOICEBIN_TEST_S3_ENDPOINT="$url"
    return 0
  fi

  if [ ! -x "$venv/bin/moto_server" ]; then
    printf '==> installing moto[server] into %s\n' "$venv" >&2
    if ! python3 -m venv "$venv" 2>/dev/null; then
      # Debian splits venv support out of python3.
      local sudo=""
      [ "$(id -u)" = 0 ] || sudo=sudo
      $sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
      DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq python3-venv >/dev/null
      rm -rf "$venv"
      python3 -m venv "$venv"
    fi
    "$venv/bin/pip" install -q 'moto[server]>=5,<6'
  fi

  printf '==> starting moto_server on %s (log: %s)\n' "$url" "$log" >&2
  # Detached from the calling shell's pipes so it outlives the test run and never holds
  # `cargo test | tee` open.
  nohup "$venv/bin/moto_server" -H 127.0.0.1 -p 9090 >>"$log" 2>&1 </dev/null &
  disown $! 2>/dev/null || true

  local _
  for _ in $(seq 1 120); do
    if _s3_answers "$url"; then
      export VOICEBIN_TEST_S3_ENDPOINT="$url"
      return 0
    fi
    sleep 0.5
  done
  printf '==> moto_server did not answer on %s; see %s\n' "$url" "$log" >&2
  return 1
}
