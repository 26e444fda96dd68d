#!/usr/bin/env bash
# `npm test`: everything a fresh clone needs, then every test. Installs dependencies if missing,
# starts the local Kafka broker (scripts/start_infra.sh; left running afterwards, stop it with
# scripts/stop_infra.sh), creates the default topics, type-checks, lints, and runs the node:test
# suites: unit, embedded-engine scenarios, deterministic simulation, API, and the real-broker tests.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  -h|--help)
    echo "usage: npm test [-- <test files or globs>]"
    echo "  KAFKA_BROKERS  broker for the integration tests (default 127.0.0.1:9092, started here)"
    echo "  SEED=<n>       replay one simulation schedule"
    exit 0 ;;
esac
bash scripts/ensure_installed.sh
export KAFKA_BROKERS="${KAFKA_BROKERS:-127.0.0.1:9092}"
if [ "$KAFKA_BROKERS" = "127.0.0.1:${KAFKA_PORT:-9092}" ]; then
  bash scripts/start_infra.sh
fi
bash scripts/init_topics.sh
bash scripts/build_dashboard.sh
echo "[test] type check"
node_modules/.bin/tsc -p backend --noEmit
echo "[test] lint"
node_modules/.bin/eslint backend frontend/src examples
echo "[test] node:test"
if [ "$#" -gt 0 ]; then
  files=("$@")
else
  files=("backend/test/**/*.test.ts")
fi
exec node_modules/.bin/node --test --test-concurrency=2 --test-timeout=300000 "${files[@]}"
