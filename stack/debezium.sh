#!/usr/bin/env bash
# Real Debezium for the conformance test (npm run test:compat): everything it needs, without Docker.
#   stack/debezium.sh up     fetch the jars (Maven Central, cached), start a private PostgreSQL with
#                            wal_level=logical and Kafka Connect standalone (Debezium 3.7.0.Final)
#                            against $KAFKA_BROKERS; prints DATABASE_URL=… and CONNECT_URL=… on stdout
#   stack/debezium.sh down   stop Connect and delete the private cluster (its replication slots go too)
#   stack/debezium.sh jars   only fetch the jars (cached); prints CONNECT_LIBS=<Connect's class path
#                            directory> and CONNECT_PLUGINS=<plugin.path> (bench/refs/debezium.mjs)
# Overrides: DEBEZIUM_PG_PORT (5436), DEBEZIUM_CONNECT_PORT (18093), KAFKA_BROKERS (127.0.0.1:9092),
# CONNECT_HEAP (512m). State under STACK_DIR/debezium (default <repo>/.stack/debezium).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

cmd=${1:?usage: debezium.sh up|down|jars}
PG_PORT_DBZ=${DEBEZIUM_PG_PORT:-5436}
CONNECT_PORT=${DEBEZIUM_CONNECT_PORT:-18093}
BROKERS=${KAFKA_BROKERS:-127.0.0.1:9092}
CONNECT_HEAP=${CONNECT_HEAP:-512m}
DIR="$STACK_DIR/debezium"
LIBS="$DIR/connect-libs"
PLUGINS="$DIR/plugins"
PID_FILE="$DIR/connect.pid"
PG_DIR=${DEBEZIUM_PG_DIR:-/tmp/outbox-relay-debezium-pg-$PG_PORT_DBZ}
DBZ_POM="$STACK_SRC/debezium/pom.xml"

# Connect's class path: the broker's jar set (kafka-tools brings connect-runtime/json/transforms).
fetch() { # pom outdir stamp-check-glob extra-mvn-args...
  local pom=$1 out=$2 glob=$3
  shift 3
  local hash
  hash=$(sha256sum "$pom" | cut -d' ' -f1)
  if [[ -f "$out/.stamp" && "$(<"$out/.stamp")" == "$hash" ]] && compgen -G "$out/$glob" >/dev/null; then return; fi
  command -v mvn >/dev/null 2>&1 || die "Maven (mvn) is needed to fetch jars into $out"
  say "debezium: fetching $(basename "$(dirname "$pom")") jars with Maven into $out"
  rm -rf "$out" && mkdir -p "$out"
  mvn -B -q -Dstyle.color=never -f "$pom" dependency:copy-dependencies -DoutputDirectory="$out" "$@" >"$DIR/mvn.log" 2>&1 ||
    { tail -n 30 "$DIR/mvn.log" >&2; die "mvn failed (log: $DIR/mvn.log)"; }
  compgen -G "$out/$glob" >/dev/null || die "Maven did not produce $glob"
  echo "$hash" >"$out/.stamp"
}

connect_alive() {
  [[ -f "$PID_FILE" ]] && tr '\0' ' ' 2>/dev/null <"/proc/$(<"$PID_FILE")/cmdline" | grep -q ConnectStandalone
}

jars() {
  mkdir -p "$DIR"
  fetch "$KAFKA_POM" "$LIBS" 'connect-runtime-*.jar'
  fetch "$DBZ_POM" "$PLUGINS/debezium-connector-postgres" 'debezium-connector-postgres-*.jar' -DincludeScope=runtime \
    -DexcludeGroupIds=org.apache.kafka,org.slf4j,com.github.luben,at.yawk.lz4,org.xerial.snappy,jakarta.ws.rs
}

up() {
  jars

  PG_PRIVATE_DIR="$PG_DIR" \
    PG_PRIVATE_OPTS="-c wal_level=logical -c max_replication_slots=10 -c max_wal_senders=10" \
    bash "$STACK_SRC/pg-private.sh" start "$PG_PORT_DBZ" >/dev/null

  if ! connect_alive; then
    port_open "$CONNECT_PORT" && die "port $CONNECT_PORT is taken: set DEBEZIUM_CONNECT_PORT"
    cat >"$DIR/worker.properties" <<PROPS
bootstrap.servers=$BROKERS
plugin.path=$PLUGINS
plugin.discovery=service_load
offset.storage.file.filename=$DIR/offsets.dat
offset.flush.interval.ms=1000
listeners=http://127.0.0.1:$CONNECT_PORT
key.converter=org.apache.kafka.connect.storage.StringConverter
value.converter=org.apache.kafka.connect.storage.StringConverter
producer.acks=all
producer.enable.idempotence=true
PROPS
    rm -f "$DIR/offsets.dat"
    say "debezium: starting Kafka Connect standalone on 127.0.0.1:$CONNECT_PORT"
    # shellcheck disable=SC2086
    nohup "$JAVA" -Xms128m "-Xmx$CONNECT_HEAP" -XX:+UseSerialGC "-Dlog4j2.configurationFile=$KAFKA_LOG4J" -Dstack.log.level=WARN \
      -cp "$LIBS/*" org.apache.kafka.connect.cli.ConnectStandalone "$DIR/worker.properties" >"$DIR/connect.log" 2>&1 &
    echo $! >"$PID_FILE"
  fi
  local i
  for ((i = 0; i < 240; i++)); do
    if curl -fsS "http://127.0.0.1:$CONNECT_PORT/connectors" >/dev/null 2>&1; then
      echo "DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT_DBZ/postgres"
      echo "CONNECT_URL=http://127.0.0.1:$CONNECT_PORT"
      return
    fi
    connect_alive || { tail -n 40 "$DIR/connect.log" >&2; die "Kafka Connect exited (log: $DIR/connect.log)"; }
    sleep 0.5
  done
  die "Kafka Connect did not answer on 127.0.0.1:$CONNECT_PORT within 120 s (log: $DIR/connect.log)"
}

down() {
  if connect_alive; then
    local pid i
    pid=$(<"$PID_FILE")
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 60; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$PID_FILE"
  PG_PRIVATE_DIR="$PG_DIR" bash "$STACK_SRC/pg-private.sh" destroy "$PG_PORT_DBZ"
  say "debezium: stopped"
}

case "$cmd" in
up) up ;;
down) down ;;
jars)
  jars
  echo "CONNECT_LIBS=$LIBS"
  echo "CONNECT_PLUGINS=$PLUGINS"
  ;;
*) die "unknown command $cmd (up|down|jars)" ;;
esac
