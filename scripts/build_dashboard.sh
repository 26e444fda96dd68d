#!/usr/bin/env bash
# Builds the operators' dashboard (frontend/ -> frontend/dist, served by the API at /) when
# frontend/dist is missing or older than the dashboard's sources; does nothing otherwise.
# Used by start.sh and test.sh. Exits 1 and prints the build's output when the build fails.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
built=frontend/dist/index.html
sources=(frontend/src frontend/public frontend/angular.json frontend/tsconfig.json frontend/tsconfig.app.json frontend/package.json)
if [ -f "$built" ] && [ -z "$(find "${sources[@]}" -newer "$built" -print -quit 2>/dev/null)" ]; then
  exit 0
fi
echo "[dashboard] frontend/dist is missing or older than frontend/src: building the dashboard (ng build)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# ng's shebang runs `node` from PATH: put the project's Node 24 first. No analytics, no prompts.
if ! (cd frontend && PATH="$root/node_modules/.bin:$PATH" NG_CLI_ANALYTICS=false CI=1 "$root/node_modules/.bin/ng" build) >"$log" 2>&1; then
  cat "$log" >&2
  echo "[dashboard] build failed" >&2
  exit 1
fi
