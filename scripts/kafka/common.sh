# shellcheck shell=bash
# Shared settings for start_infra.sh, stop_infra.sh, init_topics.sh and start_cluster.sh /
# stop_cluster.sh (sourced, not run).
# Every path is absolute so the scripts work from any cwd.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KAFKA_VERSION=${KAFKA_VERSION:-4.1.2}
KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
KAFKA_DATA_DIR=${KAFKA_DATA_DIR:-$ROOT/.data/kafka}
case "$KAFKA_DATA_DIR" in /*) ;; *) KAFKA_DATA_DIR="$PWD/$KAFKA_DATA_DIR" ;; esac
# The 3-node cluster (start_cluster.sh): three JVMs on a small machine, so a smaller default heap
# per node; an explicit KAFKA_HEAP applies to each node.
CLUSTER_NODE_HEAP=${KAFKA_HEAP:--Xmx384m -Xms128m}
KAFKA_HEAP=${KAFKA_HEAP:--Xmx512m -Xms256m}
CLUSTER_BASE_PORT=${CLUSTER_BASE_PORT:-19192}
CLUSTER_DATA_DIR=${CLUSTER_DATA_DIR:-$ROOT/.data/cluster}
case "$CLUSTER_DATA_DIR" in /*) ;; *) CLUSTER_DATA_DIR="$PWD/$CLUSTER_DATA_DIR" ;; esac
CLUSTER_NODES=(1 2 3)
KAFKA_HOME="$ROOT/.cache/kafka/$KAFKA_VERSION"
KAFKA_LIBS="$KAFKA_HOME/libs"
PID_FILE="$KAFKA_DATA_DIR/kafka.pid"
# Short-lived CLI JVMs: skip C2 and G1 setup, they would only slow start-up.
TOOL_JVM=(-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss1m -Xmx256m)

say() { printf '[infra] %s\n' "$*"; }
die() { printf '[infra] error: %s\n' "$*" >&2; exit 1; }

# True when something accepts TCP connections on 127.0.0.1:$1 (no JVM needed).
port_open() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# Prints the pid recorded in $1 (default: start_infra.sh's $PID_FILE) if that process is alive and
# still a Kafka broker (guards against a stale pid file whose pid was reused).
broker_pid() {
  local pid file=${1:-$PID_FILE}
  [ -f "$file" ] || return 1
  pid=$(cat "$file")
  [ -n "$pid" ] && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q 'kafka\.Kafka ' || return 1
  echo "$pid"
}

# Starts a broker in the background: launch_kafka PROPS LOG_DIR HEAP. server.log goes to LOG_DIR
# (see log4j2.yaml), the console (warnings and worse) to LOG_DIR/console.log. setsid + nohup: the
# broker outlives this shell and its terminal. Both exec, so LAUNCHED_PID is java's pid.
launch_kafka() {
  local props=$1 log_dir=$2 heap=$3
  # shellcheck disable=SC2086 # heap holds several JVM flags
  setsid nohup java $heap -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError \
    -Djava.awt.headless=true -Dkafka.logs.dir="$log_dir" \
    -Dlog4j2.configurationFile="$ROOT/scripts/kafka/log4j2.yaml" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$props" >>"$log_dir/console.log" 2>&1 </dev/null &
  LAUNCHED_PID=$!
}

# Cluster node N (1-3): its folder, pid file, broker and controller ports.
node_dir() { echo "$CLUSTER_DATA_DIR/node-$1"; }
node_pid_file() { echo "$CLUSTER_DATA_DIR/node-$1/kafka.pid"; }
node_port() { echo $((CLUSTER_BASE_PORT + $1 - 1)); }
node_controller_port() { echo $((CLUSTER_BASE_PORT + 10 + $1 - 1)); }
# Node N's pid if alive and still running node N's server.properties.
node_pid() {
  local pid
  pid=$(broker_pid "$(node_pid_file "$1")") || return 1
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "$(node_dir "$1")/server.properties" || return 1
  echo "$pid"
}
# Serialises start_cluster.sh / stop_cluster.sh runs on one data dir (tests may start the cluster
# concurrently). The lock is fd 9; launch_kafka's callers close it for the brokers.
lock_cluster() {
  mkdir -p "$CLUSTER_DATA_DIR"
  exec 9>"$CLUSTER_DATA_DIR/.lock"
  flock -w 300 9 || die "another start_cluster.sh / stop_cluster.sh holds $CLUSTER_DATA_DIR/.lock"
}
cluster_bootstrap() {
  local n out=""
  for n in "${CLUSTER_NODES[@]}"; do out+="${out:+,}127.0.0.1:$(node_port "$n")"; done
  echo "$out"
}
check_cluster_env() {
  if [[ ! "$CLUSTER_BASE_PORT" =~ ^[1-9][0-9]{3,4}$ ]] || [ "$CLUSTER_BASE_PORT" -gt 65500 ]; then
    die "CLUSTER_BASE_PORT must be a port from 1000 to 65500"
  fi
}

require_java() {
  command -v java >/dev/null || die "java not found: apt-get install openjdk-17-jre-headless"
  local v
  v=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
  [ "${v:-0}" -ge 17 ] || die "Java 17+ needed (found ${v:-none}): apt-get install openjdk-17-jre-headless"
}

# Assembles Kafka's jars from Maven Central into $KAFKA_LIBS once. The stamp holds the pom's
# hash, so editing scripts/kafka/pom.xml re-assembles; an interrupted run leaves no stamp.
ensure_kafka() {
  local pom="$ROOT/scripts/kafka/pom.xml" stamp="$KAFKA_HOME/.complete" want
  want="$(sha256sum "$pom" | cut -d' ' -f1) $KAFKA_VERSION"
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && return 0
  command -v mvn >/dev/null || die "mvn not found: apt-get install maven"
  say "downloading Kafka $KAFKA_VERSION from Maven Central (first run only)..."
  rm -rf "$KAFKA_LIBS" "$KAFKA_LIBS.tmp"
  mkdir -p "$KAFKA_HOME"
  # -q still leaves ANSI noise with Debian's Maven 3.8, so keep its output for failures only.
  if ! mvn -q -B -f "$pom" dependency:copy-dependencies -Dkafka.version="$KAFKA_VERSION" \
      -DoutputDirectory="$KAFKA_LIBS.tmp" >"$KAFKA_HOME/mvn.log" 2>&1; then
    cat "$KAFKA_HOME/mvn.log" >&2
    die "could not assemble Kafka $KAFKA_VERSION (log: $KAFKA_HOME/mvn.log)"
  fi
  mv "$KAFKA_LIBS.tmp" "$KAFKA_LIBS"
  echo "$want" >"$stamp"
  say "Kafka $KAFKA_VERSION assembled in $KAFKA_LIBS ($(find "$KAFKA_LIBS" -name '*.jar' | wc -l) jars)"
}

# Runs a Kafka CLI class with the cached jars, quiet logging and a fast-starting JVM.
# (An array too, so that `timeout` can run it.)
KAFKA_TOOL=(java "${TOOL_JVM[@]}" -Dlog4j2.configurationFile="$ROOT/scripts/kafka/tools-log4j2.yaml" -cp "$KAFKA_LIBS/*")
kafka_tool() { "${KAFKA_TOOL[@]}" "$@"; }
