#!/usr/bin/env bash
# Creates the Kafka topics of every flow in config/flows.json (idempotent; see kafka/InitTopics.java).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/kafka/common.sh"

usage() {
  cat <<USAGE
Usage: scripts/init_topics.sh [--config FILE] [--partitions N] [--replication-factor N] [--min-insync-replicas N]
Creates, per flow, <id>-in, <id>-resume, <id>-status (compacted), <id>-out, <id>-dlq (or the names
the flow sets) and <applicationId>-<id>-buffer-changelog (compacted). Existing topics are left
alone (a warning names those below the replication asked). Prints each topic's partitions,
replication factor, min.insync.replicas and cleanup policy. Exits 1 if a flow's -in and -resume
partition counts differ.
  --config FILE              flows file (default config/flows.json)
  --partitions N             partition count for new topics, overriding every count in the config
  --replication-factor N     replicas of each new topic (default: the broker's
                             default.replication.factor; in production 3)
  --min-insync-replicas N    min.insync.replicas of each new topic (default: the broker's; with
                             replication factor 3, 2: writes go on with one broker down)
Environment: KAFKA_BROKERS (default 127.0.0.1:9092), TOPIC_REPLICATION_FACTOR and
TOPIC_MIN_INSYNC_REPLICAS (the same as the options)
USAGE
}
config="$ROOT/config/flows.json"
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --config) config=${2:?--config needs a file}; shift 2 ;;
    --partitions)
      [[ "${2:-}" =~ ^[1-9][0-9]*$ ]] || die "--partitions needs a positive number"
      extra+=(--partitions "$2"); shift 2 ;;
    --replication-factor) TOPIC_REPLICATION_FACTOR=${2:-}; shift 2 ;;
    --min-insync-replicas) TOPIC_MIN_INSYNC_REPLICAS=${2:-}; shift 2 ;;
    *) usage >&2; exit 2 ;;
  esac
done
[ -f "$config" ] || die "config file not found: $config"
if [ -n "${TOPIC_REPLICATION_FACTOR:-}" ]; then
  [[ "$TOPIC_REPLICATION_FACTOR" =~ ^[1-9][0-9]*$ ]] || die "--replication-factor / TOPIC_REPLICATION_FACTOR needs a positive number, got '$TOPIC_REPLICATION_FACTOR'"
  extra+=(--replication-factor "$TOPIC_REPLICATION_FACTOR")
fi
if [ -n "${TOPIC_MIN_INSYNC_REPLICAS:-}" ]; then
  [[ "$TOPIC_MIN_INSYNC_REPLICAS" =~ ^[1-9][0-9]*$ ]] || die "--min-insync-replicas / TOPIC_MIN_INSYNC_REPLICAS needs a positive number, got '$TOPIC_MIN_INSYNC_REPLICAS'"
  extra+=(--min-insync-replicas "$TOPIC_MIN_INSYNC_REPLICAS")
fi
brokers=${KAFKA_BROKERS:-127.0.0.1:$KAFKA_PORT}

require_java
ensure_kafka
# Fail fast instead of letting the admin client retry for 30 s against a broker that is not there.
first=${brokers%%,*}
timeout 1 bash -c "exec 3<>/dev/tcp/${first%:*}/${first##*:}" 2>/dev/null ||
  die "no Kafka at $first; start it with scripts/start_infra.sh"

say "creating topics from $config on $brokers"
# Java 17 runs the single source file directly; Kafka's jars supply the admin client and Jackson.
kafka_tool "$ROOT/scripts/kafka/InitTopics.java" --bootstrap-server "$brokers" --config "$config" ${extra[@]+"${extra[@]}"}
