# shellcheck shell=bash
# Sourced by scripts/test: defines `ensure_redis`, which makes Redis answer on 127.0.0.1:6379
# for the rate-limit tests that keep their buckets in Redis (tests/api/rate_limits.rs,
# projections/src/rate/redis.rs) and exports VOICEBIN_TEST_REDIS_URL.
#
# Uses Debian's redis-server. A server that already answers is used as is; otherwise the
# package is installed when missing and the server started in the background (no systemd
# needed), without persistence: the tests' buckets are worth nothing after the run. It is left
# running between test runs, like PostgreSQL. When VOICEBIN_TEST_REDIS_URL is already set,
# that server is the caller's business and nothing is started. Tests use their own key prefix,
# so runs never see each other's buckets.

VOICEBIN_REDIS_HOST=127.0.0.1
VOICEBIN_REDIS_PORT=6379

# Whether Redis answers PING on the port (a bare TCP connect is not enough: the port can be
# taken by something else). Uses bash's /dev/tcp so the check needs no redis-cli.
redis_answers() {
  # shellcheck disable=SC2016 # expanded by the inner bash, from its arguments
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    printf "PING\r\n" >&3
    reply=$(head -c 5 <&3)
    exec 3>&-
    [ "$reply" = "+PONG" ]
  ' "$VOICEBIN_REDIS_HOST" "$VOICEBIN_REDIS_PORT" 2>/dev/null
}

ensure_redis() {
  if [ -n "${VOICEBIN_TEST_REDIS_URL:-}" ]; then
    export VOICEBIN_TEST_REDIS_URL
    return 0
  fi
  if ! redis_answers; then
    if ! command -v redis-server >/dev/null 2>&1 && [ ! -x /usr/bin/redis-server ]; then
      # scripts/test defines apt_install; fall back to the same steps when sourced on its own.
      if declare -F apt_install >/dev/null; then
        apt_install redis-server || return 1
      else
        local sudo=()
        [ "$(id -u)" = 0 ] || sudo=(sudo)
        printf '==> installing redis-server\n' >&2
        "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq || return 1
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq redis-server \
          >/dev/null || return 1
      fi
    fi
    # Installing may have started it (where services can start); look again before starting.
    if ! redis_answers; then
      printf '==> starting redis-server on %s:%s\n' "$VOICEBIN_REDIS_HOST" "$VOICEBIN_REDIS_PORT" >&2
      redis-server --bind "$VOICEBIN_REDIS_HOST" --port "$VOICEBIN_REDIS_PORT" \
        --daemonize yes --save '' --appendonly no --logfile /tmp/voicebin-redis.log || return 1
      local i
      for i in $(seq 1 50); do
        redis_answers && break
        sleep 0.2
      done
      if ! redis_answers; then
        printf 'redis-server did not start; see /tmp/voicebin-redis.log\n' >&2
        return 1
      fi
    fi
  fi
  export VOICEBIN_TEST_REDIS_URL="redis://$VOICEBIN_REDIS_HOST:$VOICEBIN_REDIS_PORT"
}
