#!/usr/bin/env bash
# Starts a local 3-node Apache Kafka cluster (KRaft; every node is broker and controller, a quorum
# of 3 voters) on 127.0.0.1, for replication-factor-3 tests and the chaos runner's nightly profile.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/kafka/common.sh"
check_cluster_env

usage() {
  cat <<USAGE
Usage: scripts/start_cluster.sh [--node N | --bootstrap]
Starts a 3-node Kafka $KAFKA_VERSION cluster in the background (the nodes not already running) and
waits until every broker is in the cluster's metadata; prints the bootstrap string at the end.
Each node is broker + controller; replication factor 3 and min.insync.replicas 2 by default, for
internal topics too. The first run formats the storage of the three nodes with one cluster id.
  --node N      start only node N (1-3), e.g. after stop_cluster.sh --node N --kill
  --bootstrap   print only the bootstrap string ($(cluster_bootstrap)) and exit
Environment: CLUSTER_BASE_PORT ($CLUSTER_BASE_PORT: brokers on base..base+2, controllers on
             base+10..base+12), CLUSTER_DATA_DIR (.data/cluster), KAFKA_HEAP per node
             (-Xmx384m -Xms128m), CLUSTER_START_TIMEOUT (120 s), KAFKA_VERSION ($KAFKA_VERSION)
Stop with scripts/stop_cluster.sh; node N's log: <data dir>/node-N/server.log, pid: node-N/kafka.pid.
USAGE
}
nodes=("${CLUSTER_NODES[@]}")
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  --bootstrap) [ $# -eq 1 ] || { usage >&2; exit 2; }; cluster_bootstrap; exit 0 ;;
  --node)
    if [ $# -ne 2 ] || [[ ! "$2" =~ ^[1-3]$ ]]; then echo "--node needs a node number, 1-3" >&2; exit 2; fi
    nodes=("$2") ;;
  "") ;;
  *) usage >&2; exit 2 ;;
esac
bootstrap=$(cluster_bootstrap)
timeout_s=${CLUSTER_START_TIMEOUT:-120}
[[ "$timeout_s" =~ ^[1-9][0-9]*$ ]] || die "CLUSTER_START_TIMEOUT must be a number of seconds"
# A Kafka Uuid as StorageTool random-uuid prints it (URL-safe base64 of 16 random bytes, not
# starting with '-'), without starting a JVM for each.
random_uuid() {
  local u
  while u=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '='); [[ "$u" == -* ]]; do :; done
  echo "$u"
}
controllers=""
for n in "${CLUSTER_NODES[@]}"; do controllers+="${controllers:+,}127.0.0.1:$(node_controller_port "$n")"; done

lock_cluster

# What is already running? Ports held by anything else are a conflict, not "probably Kafka": the
# cluster's nodes must be the ones this script started.
to_start=() console_start=()
for n in "${nodes[@]}"; do
  if pid=$(node_pid "$n"); then
    say "node $n already running (pid $pid)"
    continue
  fi
  for port in "$(node_port "$n")" "$(node_controller_port "$n")"; do
    port_open "$port" && die "127.0.0.1:$port (node $n) is in use by a process start_cluster.sh did not start"
  done
  to_start+=("$n")
done

if [ ${#to_start[@]} -gt 0 ]; then
  require_java
  ensure_kafka

  # KRaft storage: all three nodes are formatted once, with one cluster id and the same list of
  # initial controllers (id@host:port:directory-id), making a dynamic quorum of 3 voters. A node
  # whose storage is lost cannot simply be formatted again (it would rejoin as a voter with an empty
  # log), so a half-formatted cluster is refused.
  formatted=() missing=()
  for n in "${CLUSTER_NODES[@]}"; do
    if [ -f "$(node_dir "$n")/data/meta.properties" ]; then formatted+=("$n"); else missing+=("$n"); fi
  done
  if [ ${#formatted[@]} -eq 0 ] && [ ${#nodes[@]} -eq 1 ]; then
    die "the cluster's storage is not formatted yet; start the whole cluster first (scripts/start_cluster.sh)"
  fi
  if [ ${#formatted[@]} -gt 0 ] && [ ${#missing[@]} -gt 0 ]; then
    die "node(s) ${missing[*]} have no storage in $CLUSTER_DATA_DIR but node(s) ${formatted[*]} do; start afresh with scripts/stop_cluster.sh --wipe"
  fi

  # Rendered on every start so that port / data-dir overrides take effect.
  for n in "${CLUSTER_NODES[@]}"; do
    mkdir -p "$(node_dir "$n")"
    sed -e "s|@NODE_ID@|$n|g" -e "s|@KAFKA_PORT@|$(node_port "$n")|g" \
        -e "s|@CONTROLLER_PORT@|$(node_controller_port "$n")|g" -e "s|@CONTROLLERS@|$controllers|g" \
        -e "s|@DATA_DIR@|$(node_dir "$n")|g" "$ROOT/scripts/kafka/cluster.properties" \
        >"$(node_dir "$n")/server.properties"
  done

  if [ ${#formatted[@]} -eq 0 ]; then
    cluster_id=$(random_uuid)
    initial=""
    for n in "${CLUSTER_NODES[@]}"; do
      initial+="${initial:+,}$n@127.0.0.1:$(node_controller_port "$n"):$(random_uuid)"
    done
    say "formatting storage of nodes ${CLUSTER_NODES[*]} in $CLUSTER_DATA_DIR (cluster id $cluster_id)"
    fmt_pids=()
    for n in "${CLUSTER_NODES[@]}"; do
      kafka_tool kafka.tools.StorageTool format -t "$cluster_id" --initial-controllers "$initial" \
        -c "$(node_dir "$n")/server.properties" >"$(node_dir "$n")/format.log" 2>&1 &
      fmt_pids+=($!)
    done
    for i in "${!fmt_pids[@]}"; do
      n=${CLUSTER_NODES[$i]}
      wait "${fmt_pids[$i]}" || { cat "$(node_dir "$n")/format.log" >&2; die "formatting node $n failed"; }
    done
    echo "$cluster_id" >"$CLUSTER_DATA_DIR/cluster.id"
    echo "$initial" >"$CLUSTER_DATA_DIR/initial-controllers"
  fi

  for n in "${to_start[@]}"; do
    say "starting node $n: broker 127.0.0.1:$(node_port "$n"), controller :$(node_controller_port "$n")"
    console_start[n]=$(stat -c %s "$(node_dir "$n")/console.log" 2>/dev/null || echo 0)
    launch_kafka "$(node_dir "$n")/server.properties" "$(node_dir "$n")" "$CLUSTER_NODE_HEAP" 9>&-
    echo "$LAUNCHED_PID" >"$(node_pid_file "$n")"
  done
elif [ ${#nodes[@]} -gt 1 ]; then
  say "cluster already running; checking that every node answers"
else
  say "checking that node ${nodes[0]} answers"
fi

# Ready when every node asked for is in the cluster's metadata (KRaft lists only unfenced brokers:
# registered with the quorum and caught up with the metadata log) and answers requests.
# BrokerApiVersionsCommand fetches the metadata, then sends a request to every broker listed in it.
# A single node cannot get ready alone: the quorum needs 2 of the 3 controllers.
broker_ids() {
  timeout -k 5 30 "${KAFKA_TOOL[@]}" org.apache.kafka.tools.BrokerApiVersionsCommand \
    --bootstrap-server "$bootstrap" 2>/dev/null |
    sed -n 's/^127\.0\.0\.1:[0-9]* (id: \([0-9]*\) .*-> ($/\1/p' | sort -n | tr '\n' ' '
}
printf '[infra] waiting for node(s) %s ' "${nodes[*]}"
deadline=$((SECONDS + timeout_s))
while :; do
  for n in "${nodes[@]}"; do
    if ! node_pid "$n" >/dev/null; then
      # What this run added to the console (warnings and worse, and JVM errors), minus the
      # connection warnings every node logs while its peers start.
      echo; { tail -c +$((${console_start[n]:-0} + 1)) "$(node_dir "$n")/console.log" 2>/dev/null |
        grep -v 'could not be established' || true; } | tail -n 5 >&2
      die "node $n exited; see $(node_dir "$n")/server.log and console.log"
    fi
  done
  up=true
  for n in "${nodes[@]}"; do port_open "$(node_port "$n")" || up=false; done
  if $up; then
    have=$(broker_ids)
    up=true
    for n in "${nodes[@]}"; do [[ " $have" == *" $n "* ]] || up=false; done
    $up && break
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo
    logs=""
    for n in "${nodes[@]}"; do logs+="${logs:+, }$(node_dir "$n")/server.log"; done
    hint=""
    if [ ${#nodes[@]} -eq 1 ]; then
      running=0
      for n in "${CLUSTER_NODES[@]}"; do node_pid "$n" >/dev/null && running=$((running + 1)); done
      [ "$running" -ge 2 ] || hint=" (a node needs a second one running: the quorum is 2 of 3 controllers)"
    fi
    die "node(s) ${nodes[*]} not ready after $timeout_s s$hint (brokers in metadata: ${have:-none}); see $logs"
  fi
  printf '.'; sleep 1
done
echo ' ready'
for n in "${nodes[@]}"; do say "node $n up: 127.0.0.1:$(node_port "$n"), pid $(node_pid "$n")"; done
say "logs: $CLUSTER_DATA_DIR/node-N/server.log (warnings also in console.log)"
say "bootstrap: $bootstrap"
