#!/usr/bin/env bash
# `npm start`: runs every configured flow. With KAFKA_BROKERS set it runs on that Kafka cluster;
# without it, on the embedded in-process engine (no broker needed). Builds the dashboard first
# when it is missing or stale; the API serves it at /.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in -h|--help) exec node_modules/.bin/node backend/src/main.ts --help ;; esac
bash scripts/ensure_installed.sh
if ! bash scripts/build_dashboard.sh; then
  echo "[dashboard] the dashboard is unavailable (build failed, see above); starting the API anyway" >&2
fi
source scripts/service-env.sh
exec node_modules/.bin/node "${SERVICE_NODE_FLAGS[@]}" backend/src/main.ts "$@"
