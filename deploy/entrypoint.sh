#!/usr/bin/env bash
# The image's entry command (deploy/Containerfile), also usable as is outside a container:
# runs the service on the project's Node 24 with settings from the environment (see --help).
# `entrypoint.sh <command> ...` runs the CLI instead (init-topics, migrate-from-original, ...).
set -euo pipefail
app=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
node="$app/node_modules/.bin/node"
case "${1:-}" in
  "" | start) shift || true; source "$app/scripts/service-env.sh"; exec "$node" "${SERVICE_NODE_FLAGS[@]}" "$app/backend/src/main.ts" "$@" ;;
  -h | --help) exec "$node" "$app/backend/src/main.ts" --help ;;
  *) exec "$node" "$app/backend/src/cli/main.ts" "$@" ;;
esac
