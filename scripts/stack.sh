#!/usr/bin/env bash
# `npm run stack`: the whole stack on Kafka in one command (the original's run_compose.sh, without
# containers): the local broker, the flows' topics, the dashboard, and the service on Kafka, then
# the URLs. Runs in the foreground by default (Ctrl-C stops what it started); `--detach` leaves it
# running; `npm run stack -- stop` stops what it started; `status` says what runs. Idempotent:
# what already runs is reused, never started twice.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STACK_DIR=${STACK_DIR:-$ROOT/.data/stack}
PORT=${PORT:-8080}
export KAFKA_BROKERS=${KAFKA_BROKERS:-127.0.0.1:${KAFKA_PORT:-9092}}
export STATE_DIR=${STATE_DIR:-$ROOT/.data/stack/state}
SERVICE_PID=$STACK_DIR/service.pid
BROKER_MARK=$STACK_DIR/broker-started-by-stack
LOG=$STACK_DIR/service.log
READY_TIMEOUT_S=${READY_TIMEOUT_S:-120}

say() { printf '[stack] %s\n' "$*"; }

usage() {
  cat <<USAGE
Usage: npm run stack [-- up|stop|status] [--detach]
  up (default)  start the broker (scripts/start_infra.sh), create the topics (init_topics.sh),
                build the dashboard, start the service on Kafka (port \$PORT, default 8080), wait
                until /ready answers, print the URLs. In the foreground Ctrl-C stops what it
                started; with --detach it keeps running (stop it with: npm run stack -- stop).
  stop          stop the service, and the broker if this command started it
  status        what runs
Environment: PORT (8080), KAFKA_PORT (9092), STATE_DIR (.data/stack/state), READY_TIMEOUT_S (120),
and every setting of the service (npm start -- --help). Logs: $LOG
USAGE
}

service_pid() {
  [ -f "$SERVICE_PID" ] || return 1
  local pid
  pid=$(cat "$SERVICE_PID")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'backend/src/main.ts' || return 1
  echo "$pid"
}

port_open() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# GETs a path of the service: prints the body, fails unless 2xx (Node: no curl needed).
get() {
  node_modules/.bin/node -e 'fetch(process.argv[1], { signal: AbortSignal.timeout(3000) }).then(async (r) => { process.stdout.write(await r.text()); process.exit(r.ok ? 0 : 1); }, (e) => { process.stdout.write(String(e.cause?.code ?? e.message)); process.exit(1); })' "http://127.0.0.1:$PORT$1"
}

urls() {
  say "dashboard  http://127.0.0.1:$PORT/"
  say "API docs   http://127.0.0.1:$PORT/docs"
  say "metrics    http://127.0.0.1:$PORT/metrics"
  say "Kafka      $KAFKA_BROKERS"
}

stop() {
  local pid
  if pid=$(service_pid); then
    say "stopping the service (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && { say "still running after 30 s: SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; }
  else
    say "the service is not running"
  fi
  rm -f "$SERVICE_PID"
  if [ -f "$BROKER_MARK" ]; then
    bash scripts/stop_infra.sh
    rm -f "$BROKER_MARK"
  else
    say "the broker was not started by this command: left running"
  fi
}

status() {
  local pid
  if pid=$(service_pid); then say "service: running (pid $pid) on port $PORT"; else say "service: not running"; fi
  if port_open "${KAFKA_PORT:-9092}"; then say "broker: running on $KAFKA_BROKERS$([ -f "$BROKER_MARK" ] && echo ' (started by this command)')"; else say "broker: not running"; fi
}

command=up
detach=false
for arg in "$@"; do
  case "$arg" in
    -h|--help) usage; exit 0 ;;
    up|stop|status) command=$arg ;;
    --detach|-d) detach=true ;;
    *) usage >&2; exit 2 ;;
  esac
done
mkdir -p "$STACK_DIR"
case "$command" in
  stop) stop; exit 0 ;;
  status) status; exit 0 ;;
esac

if pid=$(service_pid); then
  say "already running (pid $pid): nothing started"
  urls
  exit 0
fi
bash scripts/ensure_installed.sh
if [ "$KAFKA_BROKERS" = "127.0.0.1:${KAFKA_PORT:-9092}" ] && ! port_open "${KAFKA_PORT:-9092}"; then
  bash scripts/start_infra.sh
  touch "$BROKER_MARK"
else
  say "using the broker at $KAFKA_BROKERS"
fi
bash scripts/init_topics.sh
bash scripts/build_dashboard.sh || say "the dashboard could not be built (see above); the API starts anyway"
if port_open "$PORT"; then
  say "error: port $PORT is taken by another process; set PORT" >&2
  exit 1
fi
say "starting the service on Kafka (port $PORT, state in $STATE_DIR, log $LOG)"
source scripts/service-env.sh
PORT=$PORT setsid node_modules/.bin/node "${SERVICE_NODE_FLAGS[@]}" backend/src/main.ts >>"$LOG" 2>&1 </dev/null &
echo $! >"$SERVICE_PID"
started=$(date +%s)
until get /ready >/dev/null 2>&1; do
  if ! service_pid >/dev/null; then
    say "error: the service exited; the end of its log:" >&2
    tail -n 20 "$LOG" >&2
    rm -f "$SERVICE_PID"
    exit 1
  fi
  waited=$(( $(date +%s) - started ))
  if [ "$waited" -ge "$READY_TIMEOUT_S" ]; then
    say "error: not ready after ${READY_TIMEOUT_S} s; /ready says: $(get /ready 2>&1 | head -c 300)" >&2
    stop
    exit 1
  fi
  [ $((waited % 5)) -eq 0 ] && say "waiting for /ready (${waited} s)"
  sleep 1
done
say "ready in $(( $(date +%s) - started )) s"
urls
if [ "$detach" = true ]; then
  say "running in the background; stop it with: npm run stack -- stop"
  exit 0
fi
say "Ctrl-C stops it"
trap 'echo; stop; exit 0' INT TERM
pid=$(service_pid)
while kill -0 "$pid" 2>/dev/null; do sleep 1; done
say "the service exited; the end of its log:"
tail -n 20 "$LOG"
rm -f "$SERVICE_PID"
[ -f "$BROKER_MARK" ] && { bash scripts/stop_infra.sh; rm -f "$BROKER_MARK"; }
exit 1
