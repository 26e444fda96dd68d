#!/usr/bin/env bash
# The image's health check (deploy/Containerfile), also for systemd or any supervisor: exit 0 when
# GET /ready answers 200 (status tables caught up, tasks restored, flows making progress), 1
# otherwise, printing why. PORT (8080) and HEALTHCHECK_HOST (127.0.0.1) say where.
set -euo pipefail
app=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
url="http://${HEALTHCHECK_HOST:-127.0.0.1}:${PORT:-8080}/ready"
exec "$app/node_modules/.bin/node" -e '
const url = process.argv[1];
fetch(url, { signal: AbortSignal.timeout(4000) }).then(
  async (r) => {
    const body = await r.text();
    if (r.ok) process.exit(0);
    console.log(`not ready (${r.status}): ${body.slice(0, 500)}`);
    process.exit(1);
  },
  (e) => {
    console.log(`no answer from ${url}: ${e.cause?.code ?? e.message}`);
    process.exit(1);
  },
);' "$url"
