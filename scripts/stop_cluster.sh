#!/usr/bin/env bash
# Stops the nodes of the local 3-node cluster started by start_cluster.sh, all or one (fault
# injection); keeps their data unless --wipe is given.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/kafka/common.sh"
check_cluster_env

usage() {
  cat <<USAGE
Usage: scripts/stop_cluster.sh [--node N] [--kill] [--wipe]
Stops the cluster's nodes recorded in <data dir>/node-N/kafka.pid (SIGTERM, SIGKILL after 30 s)
and waits until their ports are free. Data dir: $CLUSTER_DATA_DIR (CLUSTER_DATA_DIR);
ports: brokers $(node_port 1)-$(node_port 3), controllers $(node_controller_port 1)-$(node_controller_port 3) (CLUSTER_BASE_PORT).
  --node N   stop only node N (1-3); scripts/start_cluster.sh --node N starts it again
  --kill     SIGKILL at once instead of SIGTERM (a crash: no controlled shutdown, no flush)
  --wipe     also delete the data folder (every node's topics, offsets and the cluster id);
             not with --node: a node cannot rejoin the quorum with empty storage
USAGE
}
nodes=("${CLUSTER_NODES[@]}") kill=false wipe=false
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --node)
      [[ "${2:-}" =~ ^[1-3]$ ]] || { echo "--node needs a node number, 1-3" >&2; exit 2; }
      nodes=("$2"); shift 2 ;;
    --kill) kill=true; shift ;;
    --wipe) wipe=true; shift ;;
    *) usage >&2; exit 2 ;;
  esac
done
if $wipe && [ ${#nodes[@]} -eq 1 ]; then
  echo "--wipe applies to the whole cluster, not to one node" >&2; exit 2
fi

if [ -d "$CLUSTER_DATA_DIR" ]; then lock_cluster; fi

ports_free() {
  local n
  for n in "$@"; do
    port_open "$(node_port "$n")" && return 1
    port_open "$(node_controller_port "$n")" && return 1
  done
  return 0
}

pids=() stopping=() foreign=()
for n in "${nodes[@]}"; do
  if pid=$(node_pid "$n"); then
    pids+=("$pid") stopping+=("$n")
  else
    rm -f "$(node_pid_file "$n")"
    ports_free "$n" || foreign+=("$n")
  fi
done

if [ ${#pids[@]} -gt 0 ]; then
  if $kill; then
    say "killing node(s) ${stopping[*]} (SIGKILL, pid ${pids[*]})"
    kill -KILL "${pids[@]}" 2>/dev/null || true
  else
    # All at once: each node's broker shuts down (moving its leaderships) while its controller is
    # still in the quorum, and stopping them one by one would take the longest in total.
    say "stopping node(s) ${stopping[*]} (SIGTERM, pid ${pids[*]})"
    kill -TERM "${pids[@]}" 2>/dev/null || true
  fi
  deadline=$((SECONDS + 30))
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.5; done
  done
  for i in "${!pids[@]}"; do
    if kill -0 "${pids[$i]}" 2>/dev/null; then
      say "node ${stopping[$i]} still running after 30 s; sending SIGKILL"
      kill -KILL "${pids[$i]}" 2>/dev/null || true
    fi
  done
  for _ in $(seq 40); do
    alive=false
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=true; done
    ! $alive && ports_free "${stopping[@]}" && break
    sleep 0.25
  done
  ports_free "${stopping[@]}" || die "node(s) ${stopping[*]} stopped but their ports are still in use"
  for n in "${stopping[@]}"; do rm -f "$(node_pid_file "$n")"; done
  say "node(s) ${stopping[*]} stopped"
fi
for n in "${nodes[@]}"; do
  if [[ " ${foreign[*]} " == *" $n "* ]]; then
    say "ports of node $n ($(node_port "$n")/$(node_controller_port "$n")) are held by a process stop_cluster.sh did not start; leaving it alone"
  elif [[ " ${stopping[*]} " != *" $n "* ]]; then
    say "node $n is not running"
  fi
done

if $wipe && [ -d "$CLUSTER_DATA_DIR" ]; then
  [ ${#foreign[@]} -eq 0 ] || die "not wiping $CLUSTER_DATA_DIR while other processes hold the cluster's ports"
  # Only delete a folder that looks like ours, in case CLUSTER_DATA_DIR points somewhere else.
  if [ -e "$CLUSTER_DATA_DIR/cluster.id" ] || [ -e "$CLUSTER_DATA_DIR/node-1/server.properties" ] ||
     [ -z "$(ls -A "$CLUSTER_DATA_DIR")" ]; then
    rm -rf "$CLUSTER_DATA_DIR"
    say "deleted $CLUSTER_DATA_DIR"
  else
    die "$CLUSTER_DATA_DIR does not look like a start_cluster.sh data folder; not deleting it"
  fi
fi
