#!/usr/bin/env bash
# `npm start`: runs every configured flow. With KAFKA_BROKERS set it runs on that Kafka cluster;
# without it, on the embedded in-process engine (no broker needed).
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in -h|--help) exec node_modules/.bin/node backend/src/main.ts --help ;; esac
bash scripts/ensure_installed.sh
exec node_modules/.bin/node backend/src/main.ts "$@"
