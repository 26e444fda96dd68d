#!/usr/bin/env bash
# `npm run bench`: throughput and latency on the local broker, each beside a baseline measured in
# the same run (see backend/bench/pipeline-bench.ts and docs/benchmarks.md). Not a test: it
# asserts nothing, it prints figures. Arguments go to the benchmark (--help lists them).
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in -h|--help) exec node_modules/.bin/node backend/bench/pipeline-bench.ts --help ;; esac
bash scripts/ensure_installed.sh
export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:9092}"
if [ "$KAFKA_BROKERS" = "127.0.0.1:${KAFKA_PORT:-9092}" ]; then
  bash scripts/start_infra.sh
fi
exec node_modules/.bin/node backend/bench/pipeline-bench.ts "$@"
