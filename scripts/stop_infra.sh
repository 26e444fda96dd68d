#!/usr/bin/env bash
# Stops the Kafka broker started by start_infra.sh; keeps its data unless --wipe is given.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/kafka/common.sh"

usage() {
  cat <<USAGE
Usage: scripts/stop_infra.sh [--wipe]
Stops the broker recorded in \$KAFKA_DATA_DIR/kafka.pid (SIGTERM, SIGKILL after 30 s) and waits
until ports $KAFKA_PORT/$KAFKA_CONTROLLER_PORT are free.
  --wipe   also delete the data folder ($KAFKA_DATA_DIR): topics, offsets, cluster id
USAGE
}
wipe=false
case "${1:-}" in -h|--help) usage; exit 0 ;; --wipe) wipe=true ;; "") ;; *) usage >&2; exit 2 ;; esac

if pid=$(broker_pid); then
  say "stopping Kafka (pid $pid)"
  kill -TERM "$pid"
  # A clean shutdown (controlled shutdown, flushed logs) makes the next start quick.
  for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  if kill -0 "$pid" 2>/dev/null; then
    say "still running after 30 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  for _ in $(seq 20); do
    port_open "$KAFKA_PORT" || port_open "$KAFKA_CONTROLLER_PORT" || break
    sleep 0.5
  done
  rm -f "$PID_FILE"
  say "Kafka stopped"
elif port_open "$KAFKA_PORT"; then
  say "127.0.0.1:$KAFKA_PORT is served by a process start_infra.sh did not start; leaving it alone"
  $wipe && die "not wiping $KAFKA_DATA_DIR while a broker may be using it"
else
  rm -f "$PID_FILE"
  say "Kafka is not running"
fi

if $wipe && [ -d "$KAFKA_DATA_DIR" ]; then
  # Only delete a folder that looks like ours, in case KAFKA_DATA_DIR points somewhere else.
  if [ -e "$KAFKA_DATA_DIR/server.properties" ] || [ -e "$KAFKA_DATA_DIR/cluster.id" ] || [ -z "$(ls -A "$KAFKA_DATA_DIR")" ]; then
    rm -rf "$KAFKA_DATA_DIR"
    say "deleted $KAFKA_DATA_DIR"
  else
    die "$KAFKA_DATA_DIR does not look like a start_infra.sh data folder; not deleting it"
  fi
fi
