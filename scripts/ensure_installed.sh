#!/usr/bin/env bash
# Installs dependencies when they are missing or older than package-lock.json, so that a fresh
# clone's `npm start` / `npm test` work as the first command.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.event-pause-setup
if [ -f "$stamp" ] && [ "$stamp" -nt package-lock.json ] \
  && node_modules/.bin/node -e "require('@confluentinc/kafka-javascript'); require('lmdb')" 2>/dev/null; then
  exit 0
fi
echo "[setup] dependencies missing or stale: running scripts/setup.sh"
bash scripts/setup.sh
touch "$stamp"
