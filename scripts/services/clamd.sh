# shellcheck shell=bash
# Sourced by scripts/test: defines `ensure_clamd`, which makes a ClamAV daemon answer on
# 127.0.0.1:3311 for the malware-scanner tests and exports VOICEBIN_TEST_CLAMD_ADDR.
#
# The official signature databases cannot be downloaded here (and the tests should not depend on
# them), so clamd runs on a private database directory holding one custom signature that
# detects the EICAR test string. Nothing in the repository contains the EICAR string itself:
# the signature is its hex form, so checking out the repo trips no virus scanner.
#
# Everything lives under $VOICEBIN_CACHE_DIR/clamd (default ~/.cache/voicebin/clamd); the
# daemon is left running between test runs, like PostgreSQL, because loading databases is the
# slow part of starting it.

VOICEBIN_CLAMD_HOST=127.0.0.1
VOICEBIN_CLAMD_PORT=3311

# Hex of the 68-byte EICAR anti-virus test string (https://www.eicar.org/download-anti-malware-testfile/),
# split so that no line of this file holds the whole signature.
VOICEBIN_EICAR_HEX="58354f2150254041505b345c505a58353428505e2937434329377d24"
VOICEBIN_EICAR_HEX+="45494341522d5354414e444152442d414e544956495255532d544553542d46494c452124"
VOICEBIN_EICAR_HEX+="482b482a"

# Whether something on the clamd port answers zPING with PONG. Uses bash's /dev/tcp so the
# check needs no netcat; `timeout` bounds a listener that accepts but never answers.
clamd_pings() {
  # shellcheck disable=SC2016 # expanded by the inner bash, from its arguments
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    printf "zPING\0" >&3
    reply=$(head -c 4 <&3)
    exec 3>&-
    [ "$reply" = PONG ]
  ' "$VOICEBIN_CLAMD_HOST" "$VOICEBIN_CLAMD_PORT" 2>/dev/null
}

# Moves "$1.tmp" over "$1" unless they are the same.
clamd_replace_if_changed() {
  if cmp -s "$1.tmp" "$1"; then rm -f "$1.tmp"; else mv "$1.tmp" "$1"; fi
}

ensure_clamd() {
  local cache="${VOICEBIN_CACHE_DIR:-$HOME/.cache/voicebin}/clamd"
  local db="$cache/db" conf="$cache/clamd.conf"

  if ! command -v clamd >/dev/null 2>&1 && [ ! -x /usr/sbin/clamd ]; then
    # scripts/test defines apt_install (apt-get -o DPkg::Lock::Timeout=600 update + install, via sudo when not root); fall
    # back to the same steps when this file is sourced on its own.
    if declare -F apt_install >/dev/null; then
      apt_install clamav-daemon || return 1
    else
      local sudo=()
      [ "$(id -u)" = 0 ] || sudo=(sudo)
      printf '==> installing clamav-daemon\n' >&2
      "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq || return 1
      DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq clamav-daemon >/dev/null ||
        return 1
    fi
  fi
  # Debian installs clamd in /usr/sbin, which is not on every user's PATH.
  local clamd_bin
  clamd_bin=$(command -v clamd 2>/dev/null || echo /usr/sbin/clamd)

  mkdir -p "$db" || return 1
  # Written every time so an edited signature or config takes effect, but replaced only when
  # changed: clamd's SelfCheck reloads the databases whenever a file's mtime moves. clamd
  # reads its config only at start, so a daemon already running keeps the one it loaded.
  printf 'Voicebin.Test.EICAR:0:*:%s\n' "$VOICEBIN_EICAR_HEX" >"$db/eicar.ndb.tmp" || return 1
  clamd_replace_if_changed "$db/eicar.ndb" || return 1
  cat >"$conf.tmp" <<EOF
# Written by scripts/services/clamd.sh for voicebin's tests. Do not edit: it is rewritten.
TCPSocket $VOICEBIN_CLAMD_PORT
TCPAddr $VOICEBIN_CLAMD_HOST
DatabaseDirectory $db
Foreground no
LogFile $cache/clamd.log
LogTime yes
PidFile $cache/clamd.pid
# Must equal voicebin's clamd max_stream_bytes (ClamdClient default: 100 MiB).
StreamMaxLength 100M
# Files over MaxFileSize are skipped and reported OK, so keep it at least StreamMaxLength.
MaxFileSize 100M
MaxScanSize 400M
# Checks the database directory for changes every 10 minutes (the default, stated).
SelfCheck 600
EOF
  # No User line: as root clamd then stays root (it can read the cache under /root), and a
  # non-root user could not switch users anyway. No LocalSocket: TCP only.
  clamd_replace_if_changed "$conf" || return 1

  if ! clamd_pings; then
    # A daemon from an earlier run may still be loading its databases: starting a second one
    # would only fail to bind. A pid file left by a daemon that is gone is ignored.
    if [ -f "$cache/clamd.pid" ] && kill -0 "$(cat "$cache/clamd.pid")" 2>/dev/null; then
      printf '==> clamd (pid %s) is running but not answering yet\n' "$(cat "$cache/clamd.pid")" >&2
    else
      printf '==> starting clamd on %s:%s (log: %s)\n' "$VOICEBIN_CLAMD_HOST" "$VOICEBIN_CLAMD_PORT" \
        "$cache/clamd.log" >&2
      # clamd daemonizes and outlives this script; it points fds 0-2 at /dev/null itself, but
      # any other descriptor inherited from the caller (a pipe a CI runner waits on) would stay
      # open for its lifetime, so those are closed first.
      (
        for fd in "/proc/$BASHPID/fd/"*; do
          fd=${fd##*/}
          [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null
        done
        exec "$clamd_bin" -c "$conf"
      ) || {
        printf '==> clamd failed to start; last log lines:\n' >&2
        tail -n 20 "$cache/clamd.log" >&2 || true
        return 1
      }
    fi
    local _
    for _ in $(seq 1 120); do
      clamd_pings && break
      sleep 0.5
    done
    clamd_pings || {
      printf '==> clamd did not answer PING on %s:%s within 60 s; last log lines:\n' \
        "$VOICEBIN_CLAMD_HOST" "$VOICEBIN_CLAMD_PORT" >&2
      tail -n 20 "$cache/clamd.log" >&2 || true
      return 1
    }
  fi
  export VOICEBIN_TEST_CLAMD_ADDR="$VOICEBIN_CLAMD_HOST:$VOICEBIN_CLAMD_PORT"
}
