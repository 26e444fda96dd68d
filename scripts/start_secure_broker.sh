#!/usr/bin/env bash
# Starts a second, secured single-node Kafka beside the development broker, for the security tests
# (backend/test/kafka/secure.kafka.test.ts) and for trying KAFKA_SECURITY_PROTOCOL by hand:
#   SASL_SSL on 127.0.0.1:$SECURE_PORT: TLS with a certificate for 127.0.0.1 signed by a CA made
#   here, SASL PLAIN (alice / alice-secret), SCRAM-SHA-256 (scram256 / scram256-secret) and
#   SCRAM-SHA-512 (scram512 / scram512-secret; SCRAM users are created with Kafka's StorageTool);
#   SSL on 127.0.0.1:$SECURE_SSL_PORT: TLS only, client certificates required (client.pem, signed by the CA).
# Certificates (openssl, PKCS#12 for the broker) go to $SECURE_DATA_DIR/certs: ca.pem (trust
# this), other-ca.pem (a CA that signed nothing the broker has: "untrusted"), client.pem / client.key.
# --stop stops it; --wipe also deletes its folder.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/kafka/common.sh"
SECURE_PORT=${SECURE_PORT:-19093}
SECURE_SSL_PORT=${SECURE_SSL_PORT:-19096}
SECURE_INTERNAL_PORT=${SECURE_INTERNAL_PORT:-19094}
SECURE_CONTROLLER_PORT=${SECURE_CONTROLLER_PORT:-19095}
SECURE_DATA_DIR=${SECURE_DATA_DIR:-$ROOT/.data/kafka-secure}
case "$SECURE_DATA_DIR" in /*) ;; *) SECURE_DATA_DIR="$PWD/$SECURE_DATA_DIR" ;; esac
pid_file="$SECURE_DATA_DIR/kafka.pid"
certs="$SECURE_DATA_DIR/certs"
STORE_PASSWORD=broker-store-secret

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; echo "Environment: SECURE_PORT ($SECURE_PORT), SECURE_SSL_PORT ($SECURE_SSL_PORT), SECURE_INTERNAL_PORT, SECURE_CONTROLLER_PORT, SECURE_DATA_DIR ($SECURE_DATA_DIR)"; }

stop() {
  local pid
  if pid=$(broker_pid "$pid_file"); then
    say "stopping the secured broker (pid $pid)"
    kill -TERM "$pid"
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pid_file"
}

case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  --stop) stop; exit 0 ;;
  --wipe) stop; rm -rf "$SECURE_DATA_DIR"; exit 0 ;;
  "") ;;
  *) usage >&2; exit 2 ;;
esac

if pid=$(broker_pid "$pid_file") && port_open "$SECURE_PORT"; then
  say "secured Kafka already running (pid $pid) on 127.0.0.1:$SECURE_PORT"
  exit 0
fi
require_java
command -v openssl >/dev/null || die "openssl not found: apt-get install openssl"
ensure_kafka
mkdir -p "$certs" "$SECURE_DATA_DIR"

if [ ! -f "$certs/broker.p12" ]; then
  say "making a CA and certificates in $certs"
  (
    cd "$certs"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=event-pause test CA" -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=some other CA" -keyout other-ca.key -out other-ca.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout broker.key -out broker.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >broker.ext
    openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -extfile broker.ext -out broker.pem 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=event-pause client" -keyout client.key -out client.csr 2>/dev/null
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -out client.pem 2>/dev/null
    openssl pkcs12 -export -in broker.pem -inkey broker.key -certfile ca.pem -name broker -out broker.p12 -passout "pass:$STORE_PASSWORD"
    # The broker's truststore (client certificates on the SSL listener), made with keytool.
    rm -f truststore.p12
    keytool -importcert -noprompt -alias ca -file ca.pem -keystore truststore.p12 -storetype PKCS12 -storepass "$STORE_PASSWORD" >/dev/null 2>&1
  )
fi

props="$SECURE_DATA_DIR/server.properties"
cat >"$props" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$SECURE_CONTROLLER_PORT
controller.listener.names=CONTROLLER
listeners=INTERNAL://127.0.0.1:$SECURE_INTERNAL_PORT,SASL_SSL://127.0.0.1:$SECURE_PORT,SSL://127.0.0.1:$SECURE_SSL_PORT,CONTROLLER://127.0.0.1:$SECURE_CONTROLLER_PORT
advertised.listeners=INTERNAL://127.0.0.1:$SECURE_INTERNAL_PORT,SASL_SSL://127.0.0.1:$SECURE_PORT,SSL://127.0.0.1:$SECURE_SSL_PORT,CONTROLLER://127.0.0.1:$SECURE_CONTROLLER_PORT
inter.broker.listener.name=INTERNAL
listener.security.protocol.map=CONTROLLER:PLAINTEXT,INTERNAL:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL
log.dirs=$SECURE_DATA_DIR/data
auto.create.topics.enable=false
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=2
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
min.insync.replicas=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
log.cleaner.dedupe.buffer.size=8388608

ssl.keystore.type=PKCS12
ssl.keystore.location=$certs/broker.p12
ssl.keystore.password=$STORE_PASSWORD
ssl.key.password=$STORE_PASSWORD
ssl.truststore.type=PKCS12
ssl.truststore.location=$certs/truststore.p12
ssl.truststore.password=$STORE_PASSWORD
listener.name.ssl.ssl.client.auth=required

sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
PROPS

if [ ! -f "$SECURE_DATA_DIR/data/meta.properties" ]; then
  say "formatting storage in $SECURE_DATA_DIR/data with the SCRAM users"
  kafka_tool kafka.tools.StorageTool format --standalone -t "$(kafka_tool kafka.tools.StorageTool random-uuid)" -c "$props" \
    --add-scram 'SCRAM-SHA-256=[name=scram256,password=scram256-secret]' \
    --add-scram 'SCRAM-SHA-512=[name=scram512,password=scram512-secret]' >/dev/null
fi

say "starting the secured Kafka on 127.0.0.1:$SECURE_PORT (SASL_SSL) and :$SECURE_SSL_PORT (SSL)"
launch_kafka "$props" "$SECURE_DATA_DIR" "-Xmx384m -Xms128m"
echo "$LAUNCHED_PID" >"$pid_file"
deadline=$((SECONDS + 90))
until port_open "$SECURE_INTERNAL_PORT" && port_open "$SECURE_PORT"; do
  kill -0 "$LAUNCHED_PID" 2>/dev/null || { tail -n 20 "$SECURE_DATA_DIR/console.log" >&2; die "the secured Kafka exited; see $SECURE_DATA_DIR/server.log"; }
  [ "$SECONDS" -lt "$deadline" ] || die "the secured Kafka is not listening after 90 s; see $SECURE_DATA_DIR/server.log"
  sleep 0.5
done
timeout 60 "${KAFKA_TOOL[@]}" org.apache.kafka.tools.TopicCommand --bootstrap-server "127.0.0.1:$SECURE_INTERNAL_PORT" --list >/dev/null ||
  die "the secured Kafka does not answer; see $SECURE_DATA_DIR/server.log"
say "secured Kafka up: SASL_SSL 127.0.0.1:$SECURE_PORT, SSL 127.0.0.1:$SECURE_SSL_PORT, CA $certs/ca.pem"
