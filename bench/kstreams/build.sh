#!/usr/bin/env bash
# Builds the Kafka Streams peer (target/kstreams-peer.jar) when it is missing or older than its
# sources; prints the jar's path as its last line. Needs Java 17 and Maven (Maven Central).
set -euo pipefail
cd "$(dirname "$0")"
jar="$PWD/target/kstreams-peer.jar"
for tool in java mvn; do
  command -v "$tool" >/dev/null || { echo "kstreams peer: $tool not found (Java 17 and Maven are needed)" >&2; exit 1; }
done
if [ ! -f "$jar" ] || [ -n "$(find pom.xml src -newer "$jar" -print -quit)" ]; then
  echo "[kstreams] building the Kafka Streams peer with Maven" >&2
  mvn -q -B package -DskipTests >&2
fi
echo "$jar"
