#!/usr/bin/env bash
# `npm run bench`: event-pause beside the raw pipe, the Kafka Streams peer (bench/kstreams, built
# here when Java and Maven are there) and Kafka's own perf tools, on the same workloads, in one
# run (backend/bench/compare/bench.ts; docs/benchmarks.md). Not a test: it asserts nothing, it
# prints figures with ratios measured in the same run. Arguments go to the benchmark (--help).
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in -h|--help) exec node_modules/.bin/node backend/bench/compare/bench.ts --help ;; esac
bash scripts/ensure_installed.sh
export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:9092}"
if [ "$KAFKA_BROKERS" = "127.0.0.1:${KAFKA_PORT:-9092}" ]; then
  bash scripts/start_infra.sh
fi
exec node_modules/.bin/node backend/bench/compare/bench.ts "$@"
