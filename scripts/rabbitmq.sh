#!/usr/bin/env bash
# A project-local RabbitMQ node with the stream plugin, for tests, benchmarks and the demo.
#
#   scripts/rabbitmq.sh start|stop|restart|wipe|status
#
# wipe: stop, remove the node's data (streams, queues, users), start again: a broker that came back
# with its state lost, as after a restore onto a new volume (the ingestor's tests use it).
#
# The node keeps its state under .run/rabbitmq (not /var/lib/rabbitmq), so it never touches a
# system broker and tests can stop and start it. If rabbitmq-server is missing it is installed
# with apt-get (Debian/Ubuntu, as root). When the ports already answer and our node is not the
# one answering, the broker found there is used as it is.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN_DIR=${AZAION_RUN_DIR:-$ROOT/.run}/rabbitmq
AMQP_PORT=${AZAION_RABBIT__PORT:-5672}
STREAM_PORT=${AZAION_RABBIT__STREAM_PORT:-5552}
# Image messages are several MB: raise the stream frame limit (default 1 MiB) on the broker.
STREAM_FRAME_MAX=${AZAION_BROKER_STREAM_FRAME_MAX:-16777216}

export RABBITMQ_NODENAME=${AZAION_RABBIT_NODENAME:-azaion@localhost}
export RABBITMQ_NODE_PORT=$AMQP_PORT
export RABBITMQ_DIST_PORT=$((AMQP_PORT + 20000))
export RABBITMQ_CONFIG_FILE=$RUN_DIR/rabbitmq.conf
export RABBITMQ_ADVANCED_CONFIG_FILE=$RUN_DIR/advanced.config
export RABBITMQ_MNESIA_BASE=$RUN_DIR/mnesia
export RABBITMQ_LOG_BASE=$RUN_DIR/log
export RABBITMQ_ENABLED_PLUGINS_FILE=$RUN_DIR/enabled_plugins
export RABBITMQ_PID_FILE=$RUN_DIR/rabbitmq.pid
# The Debian wrappers in /usr/sbin switch to the rabbitmq user, who cannot write our state folder.
export PATH=/usr/lib/rabbitmq/bin:$PATH

log() { printf 'rabbitmq: %s\n' "$*" >&2; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

ensure_installed() {
  command -v rabbitmq-server >/dev/null && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    log "rabbitmq-server is not installed; install it (apt-get install rabbitmq-server) or run as root on Debian/Ubuntu"
    exit 1
  fi
  log "installing rabbitmq-server with apt-get"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
}

write_config() {
  mkdir -p "$RUN_DIR/mnesia" "$RUN_DIR/log"
  cat >"$RABBITMQ_CONFIG_FILE" <<CONF
listeners.tcp.default = $AMQP_PORT
stream.listeners.tcp.1 = $STREAM_PORT
stream.frame_max = $STREAM_FRAME_MAX
stream.advertised_host = localhost
stream.advertised_port = $STREAM_PORT
loopback_users.guest = true
log.console = false
log.file.level = warning
CONF
  echo '[].' >"$RABBITMQ_ADVANCED_CONFIG_FILE"
  echo '[rabbitmq_stream].' >"$RABBITMQ_ENABLED_PLUGINS_FILE"
}

ours_running() { rabbitmqctl -q -n "$RABBITMQ_NODENAME" status >/dev/null 2>&1; }

start() {
  if ours_running; then log "node $RABBITMQ_NODENAME already running"; return 0; fi
  if port_open "$STREAM_PORT" && port_open "$AMQP_PORT"; then
    log "a broker already answers on ports $AMQP_PORT/$STREAM_PORT: using it"
    return 0
  fi
  ensure_installed
  write_config
  log "starting node $RABBITMQ_NODENAME (AMQP $AMQP_PORT, stream $STREAM_PORT, state in $RUN_DIR)"
  rabbitmq-server -detached >/dev/null 2>&1 || true
  # await_startup fails at once while the new node has not registered with epmd yet: wait for that first.
  for _ in $(seq 1 300); do
    rabbitmqctl -q -n "$RABBITMQ_NODENAME" ping >/dev/null 2>&1 && break
    sleep 0.2
  done
  rabbitmqctl -q -n "$RABBITMQ_NODENAME" await_startup --timeout 120 >/dev/null
  for _ in $(seq 1 100); do
    port_open "$STREAM_PORT" && { log "ready"; return 0; }
    sleep 0.2
  done
  log "node started but the stream port $STREAM_PORT does not answer; see $RUN_DIR/log"
  exit 1
}

stop() {
  if ours_running; then
    rabbitmqctl -q -n "$RABBITMQ_NODENAME" stop >/dev/null
    log "stopped node $RABBITMQ_NODENAME"
  fi
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  wipe) stop; rm -rf "$RUN_DIR/mnesia"; log "removed the node's data"; start ;;
  status) ours_running && echo running || { echo stopped; exit 3; } ;;
  *) echo "usage: $0 start|stop|restart|wipe|status" >&2; exit 2 ;;
esac
