# shellcheck shell=bash
# Sourced by scripts/test: defines `ensure_rabbitmq`, which makes RabbitMQ answer AMQP on
# 127.0.0.1:5672 for the scan-queue tests (workers/src/scan/queue/rabbit/) and exports
# VOICEBIN_TEST_AMQP_URL.
#
# Uses Debian's rabbitmq-server (quorum queues need RabbitMQ 3.8 or later). A broker that
# already answers is used as is; otherwise the package is installed when missing and the
# broker started with `rabbitmq-server -detached` (no systemd needed). It is left running
# between test runs, like PostgreSQL. When VOICEBIN_TEST_AMQP_URL is already set, that broker
# is the caller's business and nothing is started.

VOICEBIN_RABBITMQ_HOST=127.0.0.1
VOICEBIN_RABBITMQ_PORT=5672

# Whether an AMQP 0-9-1 server answers on the port: sends the protocol header and expects the
# first byte of a method frame (connection.start). A bare TCP connect is not enough: the port
# can be taken by something else. Uses bash's /dev/tcp so the check needs no netcat; `timeout`
# bounds a listener that accepts but never answers.
rabbitmq_answers() {
  # shellcheck disable=SC2016 # expanded by the inner bash, from its arguments
  timeout 3 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    printf "AMQP\0\0\11\1" >&3
    reply=$(head -c 1 <&3 | od -An -tx1 | tr -d " \n")
    exec 3>&-
    [ "$reply" = 01 ]
  ' "$VOICEBIN_RABBITMQ_HOST" "$VOICEBIN_RABBITMQ_PORT" 2>/dev/null
}

ensure_rabbitmq() {
  if [ -n "${VOICEBIN_TEST_AMQP_URL:-}" ]; then
    export VOICEBIN_TEST_AMQP_URL
    return 0
  fi
  local url="amqp://guest:guest@$VOICEBIN_RABBITMQ_HOST:$VOICEBIN_RABBITMQ_PORT/%2f"

  if ! rabbitmq_answers; then
    if ! command -v rabbitmq-server >/dev/null 2>&1 && [ ! -x /usr/sbin/rabbitmq-server ]; then
      # scripts/test defines apt_install (apt-get -o DPkg::Lock::Timeout=600 update + install, via sudo when not root);
      # fall back to the same steps when this file is sourced on its own.
      if declare -F apt_install >/dev/null; then
        apt_install rabbitmq-server || return 1
      else
        local sudo=()
        [ "$(id -u)" = 0 ] || sudo=(sudo)
        printf '==> installing rabbitmq-server\n' >&2
        "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 update -qq || return 1
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -o DPkg::Lock::Timeout=600 install -y -qq rabbitmq-server \
          >/dev/null || return 1
      fi
    fi
    # Installing may have started it (where services can start); look again before starting.
    if ! rabbitmq_answers; then
      # Debian installs it in /usr/sbin, which is not on every user's PATH. Its wrapper runs
      # the broker as the rabbitmq user (via su when we are root).
      local server
      server=$(command -v rabbitmq-server 2>/dev/null || echo /usr/sbin/rabbitmq-server)
      local sudo=()
      [ "$(id -u)" = 0 ] || sudo=(sudo)
      # The default node name is rabbit@<short hostname>; a container whose hostname does not
      # resolve cannot boot that node, so fall back to rabbit@localhost there.
      local env=()
      if [ -z "${RABBITMQ_NODENAME:-}" ] &&
        ! grep -qs '^NODENAME=' /etc/rabbitmq/rabbitmq-env.conf &&
        ! getent hosts "$(hostname -s)" >/dev/null 2>&1; then
        env=(env RABBITMQ_NODENAME=rabbit@localhost)
      fi
      if pgrep -u rabbitmq -f beam.smp >/dev/null 2>&1; then
        printf '==> RabbitMQ is running but not answering yet\n' >&2
      else
        printf '==> starting RabbitMQ on %s:%s\n' "$VOICEBIN_RABBITMQ_HOST" \
          "$VOICEBIN_RABBITMQ_PORT" >&2
        "${sudo[@]}" "${env[@]}" "$server" -detached || true
      fi
      local _
      for _ in $(seq 1 60); do
        rabbitmq_answers && break
        sleep 1
      done
      rabbitmq_answers || {
        printf '==> RabbitMQ did not answer on %s:%s within 60 s; last log lines:\n' \
          "$VOICEBIN_RABBITMQ_HOST" "$VOICEBIN_RABBITMQ_PORT" >&2
        tail -n 20 /var/log/rabbitmq/startup_err /var/log/rabbitmq/rabbit@*.log >&2 2>/dev/null ||
          true
        return 1
      }
    fi
  fi
  export VOICEBIN_TEST_AMQP_URL="$url"
}
