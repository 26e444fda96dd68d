#!/usr/bin/env bash
# Starts a single-node Apache Kafka (KRaft, broker + controller) on 127.0.0.1 for development.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/kafka/common.sh"

usage() {
  cat <<USAGE
Usage: scripts/start_infra.sh
Starts Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT in the background, unless it is already up.
The first run assembles Kafka from Maven Central into .cache/kafka/ and formats its storage.
Environment: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (9093), KAFKA_DATA_DIR (.data/kafka),
             KAFKA_HEAP (-Xmx512m -Xms256m), KAFKA_VERSION ($KAFKA_VERSION)
Stop with scripts/stop_infra.sh; broker log: <data dir>/server.log.
USAGE
}
case "${1:-}" in -h|--help) usage; exit 0 ;; "") ;; *) usage >&2; exit 2 ;; esac

if pid=$(broker_pid) && port_open "$KAFKA_PORT"; then
  say "Kafka already running (pid $pid) on 127.0.0.1:$KAFKA_PORT; nothing to do"
  exit 0
elif [ -z "${pid:-}" ] && port_open "$KAFKA_PORT"; then
  say "something already listens on 127.0.0.1:$KAFKA_PORT (not started by this script); assuming it is Kafka"
  exit 0
fi

require_java
ensure_kafka
mkdir -p "$KAFKA_DATA_DIR"
props="$KAFKA_DATA_DIR/server.properties"

if [ -z "${pid:-}" ]; then
  # Re-rendered on every start so port / data-dir overrides take effect.
  sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" -e "s|@CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
      -e "s|@DATA_DIR@|$KAFKA_DATA_DIR|g" "$ROOT/scripts/kafka/server.properties" >"$props"

  # KRaft storage must be formatted once with a cluster id; keep the id so restarts reuse the data.
  if [ ! -f "$KAFKA_DATA_DIR/data/meta.properties" ]; then
    [ -s "$KAFKA_DATA_DIR/cluster.id" ] || kafka_tool kafka.tools.StorageTool random-uuid >"$KAFKA_DATA_DIR/cluster.id"
    say "formatting storage in $KAFKA_DATA_DIR/data (cluster id $(cat "$KAFKA_DATA_DIR/cluster.id"))"
    kafka_tool kafka.tools.StorageTool format --standalone -t "$(cat "$KAFKA_DATA_DIR/cluster.id")" -c "$props" >/dev/null
  fi

  say "starting Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT (controller :$KAFKA_CONTROLLER_PORT)"
  launch_kafka "$props" "$KAFKA_DATA_DIR" "$KAFKA_HEAP"
  pid=$LAUNCHED_PID
  echo "$pid" >"$PID_FILE"
else
  say "Kafka (pid $pid) is starting; waiting for it"
fi

# The port is bound before the broker serves requests, so after it opens, one metadata request
# (the admin client retries until the broker is ready) confirms readiness.
printf '[infra] waiting for the broker '
deadline=$((SECONDS + 90))
until port_open "$KAFKA_PORT"; do
  if ! kill -0 "$pid" 2>/dev/null; then
    echo; grep -E 'ERROR|Caused by' "$KAFKA_DATA_DIR/console.log" | tail -n 5 >&2
    die "Kafka exited during startup; see $KAFKA_DATA_DIR/server.log"
  fi
  [ "$SECONDS" -lt "$deadline" ] || { echo; die "Kafka not listening after 90 s; see $KAFKA_DATA_DIR/server.log"; }
  printf '.'; sleep 0.5
done
if ! timeout $((deadline - SECONDS + 1)) "${KAFKA_TOOL[@]}" org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "127.0.0.1:$KAFKA_PORT" --list >/dev/null; then
  echo; die "Kafka does not answer metadata requests; see $KAFKA_DATA_DIR/server.log"
fi
echo ' ready'
say "Kafka up: bootstrap 127.0.0.1:$KAFKA_PORT, pid $pid"
say "log: $KAFKA_DATA_DIR/server.log (warnings also in console.log)"
