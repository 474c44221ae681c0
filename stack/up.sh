#!/usr/bin/env bash
# Starts (or reuses) the local service stack without Docker:
#   - PostgreSQL on 127.0.0.1:5432 (the machine's cluster, via pg_ctlcluster)
#   - a single-node KRaft Apache Kafka broker on 127.0.0.1:$KAFKA_PORT, from Maven Central jars
# and installs the command-line tools the tests use when they are missing (stack/tools.sh: promtool, libfaketime).
# Idempotent. Progress goes to stderr; stdout gets exactly two lines, for eval or parsing:
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres
#   KAFKA_BROKERS=127.0.0.1:<port>
# Overrides: STACK_DIR, KAFKA_PORT, KAFKA_CONTROLLER_PORT, KAFKA_ADVERTISED_PORT, KAFKA_START_TIMEOUT,
# KAFKA_HEAP, KAFKA_WARMUP (see stack/lib.sh).
# A second broker for fault tests: KAFKA_PORT=9094 stack/up.sh (state under STACK_DIR/kafka-9094/).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

mkdir -p "$STACK_DIR" "$KAFKA_INST"

# ---------------------------------------------------------------- PostgreSQL
ensure_postgres() {
  if pg_ready; then
    say "postgres: reusing 127.0.0.1:$PG_PORT"
    return
  fi
  local ver
  ver=$(pg_version)
  [[ -n "$ver" ]] || die "PostgreSQL is not answering on 127.0.0.1:$PG_PORT and there is no local cluster under /etc/postgresql to start"
  say "postgres: starting cluster $ver/main"
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start >&2 ||
    pg_ready || die "could not start PostgreSQL ($ver/main) with pg_ctlcluster"
  local i
  for ((i = 0; i < 60; i++)); do
    if pg_ready; then
      : >"$PG_MARKER"
      say "postgres: ready"
      return
    fi
    sleep 0.5
  done
  die "PostgreSQL ($ver/main) did not become ready on 127.0.0.1:$PG_PORT within 30 s"
}

# ---------------------------------------------------------------- Kafka jars
ensure_kafka_libs() {
  local hash
  hash=$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)
  if [[ -f "$KAFKA_LIBS/.stamp" && "$(<"$KAFKA_LIBS/.stamp")" == "$hash" ]] &&
    compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null; then
    return
  fi
  command -v mvn >/dev/null 2>&1 || die "Maven (mvn) is needed to fetch the Kafka jars into $KAFKA_LIBS"
  say "kafka: fetching broker jars with Maven into $KAFKA_LIBS"
  mkdir -p "$(dirname "$KAFKA_LIBS")"
  local tmp
  tmp=$(mktemp -d "$KAFKA_LIBS.tmp.XXXXXX")
  chmod 755 "$tmp"
  if ! mvn -B -q -Dstyle.color=never -f "$KAFKA_POM" dependency:copy-dependencies -DoutputDirectory="$tmp" \
    >"$STACK_DIR/kafka/mvn.log" 2>&1; then
    tail -n 30 "$STACK_DIR/kafka/mvn.log" >&2
    rm -rf "$tmp"
    die "mvn dependency:copy-dependencies failed (log: $STACK_DIR/kafka/mvn.log)"
  fi
  compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || { rm -rf "$tmp"; die "Maven did not produce kafka_2.13-*.jar"; }
  echo "$hash" >"$tmp/.stamp"
  rm -rf "$KAFKA_LIBS"
  mv "$tmp" "$KAFKA_LIBS"
  say "kafka: $(ls "$KAFKA_LIBS"/*.jar | wc -l) jars cached"
}

kafka_version() {
  local jar
  jar=$(compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" | head -n 1)
  jar=${jar##*/kafka_2.13-}
  echo "${jar%.jar}"
}

# ---------------------------------------------------------------- Kafka config
write_server_properties() {
  local isr=1
  ((KAFKA_REPLICATION > 1)) && isr=2
  cat >"$KAFKA_PROPS.tmp" <<EOF
# Written by stack/up.sh on each start; edit stack/up.sh, not this file.
process.roles=broker,controller
node.id=$KAFKA_NODE_ID
controller.quorum.voters=$KAFKA_VOTERS
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_ADVERTISED_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KAFKA_DATA
num.partitions=1
default.replication.factor=$KAFKA_REPLICATION
min.insync.replicas=$isr
auto.create.topics.enable=false
# Internal topics: one partition each (as Testcontainers' Kafka does) so a fresh broker creates
# and loads them quickly on this 2-core machine.
offsets.topic.num.partitions=1
offsets.topic.replication.factor=$KAFKA_REPLICATION
transaction.state.log.num.partitions=1
transaction.state.log.replication.factor=$KAFKA_REPLICATION
transaction.state.log.min.isr=$isr
share.coordinator.state.topic.num.partitions=1
share.coordinator.state.topic.replication.factor=$KAFKA_REPLICATION
share.coordinator.state.topic.min.isr=$isr
group.initial.rebalance.delay.ms=0
EOF
  mv "$KAFKA_PROPS.tmp" "$KAFKA_PROPS"
}

java_opts() {
  JAVA_OPTS=(
    "-Xms$KAFKA_HEAP" "-Xmx$KAFKA_HEAP"
    -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true
    "-Dkafka.logs.dir=$KAFKA_INST"
    "-Dlog4j2.configurationFile=$KAFKA_LOG4J"
  )
}

format_storage() {
  local version
  version=$(kafka_version)
  # Data written by another Kafka version (the pom changed) is scratch data: start afresh.
  if [[ -f "$KAFKA_DATA/meta.properties" && "$(cat "$KAFKA_INST/data.version" 2>/dev/null)" != "$version" ]]; then
    say "kafka: data dir was written by Kafka $(cat "$KAFKA_INST/data.version" 2>/dev/null || echo '?'), now $version: wiping $KAFKA_DATA"
    rm -rf "$KAFKA_DATA"
  fi
  [[ -f "$KAFKA_DATA/meta.properties" ]] && return
  if [[ ! -s "$KAFKA_CLUSTER_ID_FILE" ]]; then
    # 16 random bytes, URL-safe base64 without padding (what Kafka's Uuid prints); never starting with '-'.
    local id
    while :; do
      id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
      [[ "$id" != -* ]] && break
    done
    echo "$id" >"$KAFKA_CLUSTER_ID_FILE"
  fi
  say "kafka: formatting $KAFKA_DATA (cluster id $(<"$KAFKA_CLUSTER_ID_FILE"))"
  mkdir -p "$KAFKA_DATA"
  if ! "$JAVA" "${TOOL_JAVA_OPTS[@]}" -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool format \
    -t "$(<"$KAFKA_CLUSTER_ID_FILE")" -c "$KAFKA_PROPS" --ignore-formatted >"$KAFKA_INST/format.log" 2>&1; then
    cat "$KAFKA_INST/format.log" >&2
    die "kafka.tools.StorageTool format failed"
  fi
  echo "$version" >"$KAFKA_INST/data.version"
}

# ---------------------------------------------------------------- Kafka start / wait
# The last 30 lines of the broker log, preceded by its first ERROR/FATAL lines (a failing broker
# often ends its log with a config dump, burying the cause).
show_kafka_log() {
  local errors
  errors=$(grep -E '^\[[^]]*\] (ERROR|FATAL) |^Caused by: ' "$KAFKA_LOG" 2>/dev/null | head -n 8 || true)
  [[ -n "$errors" ]] && printf 'stack: first errors in %s:\n%s\n' "$KAFKA_LOG" "$errors" >&2
  echo "stack: last 30 lines of $KAFKA_LOG:" >&2
  tail -n 30 "$KAFKA_LOG" >&2 || true
}

wait_for_kafka() {
  local pid=$1 started=$SECONDS
  while ((SECONDS - started < KAFKA_START_TIMEOUT)); do
    if ! kafka_pid_alive "$KAFKA_PID_FILE"; then
      show_kafka_log
      die "Kafka broker (pid $pid) exited during startup (log: $KAFKA_LOG)"
    fi
    if grep -q 'Kafka Server started' "$KAFKA_LOG" 2>/dev/null || kafka_probe "$KAFKA_PORT"; then
      return
    fi
    sleep 0.5
  done
  show_kafka_log
  die "Kafka broker (pid $pid) not ready on 127.0.0.1:$KAFKA_PORT after ${KAFKA_START_TIMEOUT}s (log: $KAFKA_LOG)"
}

start_kafka() {
  port_open "$KAFKA_CONTROLLER_PORT" &&
    die "controller port 127.0.0.1:$KAFKA_CONTROLLER_PORT is already in use (set KAFKA_CONTROLLER_PORT)"
  ensure_kafka_libs
  write_server_properties
  format_storage
  java_opts
  [[ -f "$KAFKA_LOG" ]] && mv -f "$KAFKA_LOG" "$KAFKA_LOG.prev"
  say "kafka: starting Kafka $(kafka_version) on 127.0.0.1:$KAFKA_PORT (controller :$KAFKA_CONTROLLER_PORT, heap $KAFKA_HEAP)"
  # setsid + nohup: detached from this shell's session, survives its exit. The inner shell writes
  # its own pid and execs java, so the pid file holds the broker's pid. 9>&-: the broker must not
  # inherit the up.lock descriptor (it would hold the lock for its whole life).
  setsid nohup bash -c 'echo $$ >"$0"; exec "$@"' "$KAFKA_PID_FILE" \
    "$JAVA" "${JAVA_OPTS[@]}" -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_PROPS" \
    </dev/null >"$KAFKA_LOG" 2>&1 9>&- &
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s "$KAFKA_PID_FILE" ]] && break
    sleep 0.1
  done
  [[ -s "$KAFKA_PID_FILE" ]] || die "the broker process did not write $KAFKA_PID_FILE (log: $KAFKA_LOG)"
  local pid
  pid=$(<"$KAFKA_PID_FILE")
  if [[ "$KAFKA_WAIT" != 1 ]]; then
    say "kafka: launched node $KAFKA_NODE_ID (pid $pid) on 127.0.0.1:$KAFKA_PORT; not waiting"
    return
  fi
  wait_for_kafka "$pid"
  warm_up_kafka
  say "kafka: ready (pid $pid, ${SECONDS}s)"
}

# Creates the internal topics and the first producer-id block now rather than on the first client
# request (see stack/kafka/StackWarmup.java). A failure here is reported but not fatal.
warm_up_kafka() {
  [[ "$KAFKA_WARMUP" == 1 ]] || return 0
  local src="$STACK_SRC/kafka/StackWarmup.java" cls="$STACK_DIR/kafka/warmup-classes" hash tmp
  hash=$(cat "$src" "$KAFKA_LIBS/.stamp" | sha256sum | cut -d' ' -f1)
  if [[ "$(cat "$cls/.stamp" 2>/dev/null)" != "$hash" ]]; then
    tmp=$(mktemp -d "$cls.tmp.XXXXXX")
    if javac -nowarn -d "$tmp" -cp "$KAFKA_LIBS/*" "$src" >"$KAFKA_INST/warmup.log" 2>&1; then
      echo "$hash" >"$tmp/.stamp"
      rm -rf "$cls"
      mv "$tmp" "$cls"
    else
      rm -rf "$tmp"
      say "kafka: warning: could not compile $src (log: $KAFKA_INST/warmup.log); skipping warm-up"
      return 0
    fi
  fi
  if ! "$JAVA" "${TOOL_JAVA_OPTS[@]}" -cp "$KAFKA_LIBS/*:$cls" StackWarmup "127.0.0.1:$KAFKA_PORT" 60 \
    >"$KAFKA_INST/warmup.log" 2>&1; then
    tail -n 10 "$KAFKA_INST/warmup.log" >&2
    say "kafka: warning: warm-up failed (log: $KAFKA_INST/warmup.log); clients may see retriable coordinator errors at first"
  fi
}

ensure_kafka() {
  # Serialise concurrent up.sh runs for the same broker instance.
  exec 9>"$KAFKA_INST/up.lock"
  flock -w 300 9 || die "another stack/up.sh holds $KAFKA_INST/up.lock"

  if kafka_pid_alive "$KAFKA_PID_FILE"; then
    local pid
    pid=$(<"$KAFKA_PID_FILE")
    if kafka_probe "$KAFKA_PORT"; then
      say "kafka: reusing broker pid $pid on 127.0.0.1:$KAFKA_PORT"
    elif [[ "$KAFKA_WAIT" != 1 ]]; then
      say "kafka: broker pid $pid is starting"
    else
      say "kafka: broker pid $pid is starting; waiting"
      wait_for_kafka "$pid"
    fi
    return
  fi
  rm -f "$KAFKA_PID_FILE"
  if port_open "$KAFKA_PORT"; then
    kafka_probe "$KAFKA_PORT" ||
      die "127.0.0.1:$KAFKA_PORT is in use by something that is not a Kafka broker"
    say "kafka: reusing a Kafka broker already on 127.0.0.1:$KAFKA_PORT (not started by stack; down.sh leaves it alone)"
    return
  fi
  start_kafka
}

# `up.sh warm-up`: only the warm-up, against the broker(s) of KAFKA_PORT (stack/cluster.sh runs it
# once all nodes of a cluster are up).
if [[ "${1:-}" == warm-up ]]; then
  ensure_kafka_libs
  warm_up_kafka
  exit 0
fi

# `up.sh libs`: only fetch (or reuse) the broker jars (stack/secure-broker.sh uses it).
if [[ "${1:-}" == libs ]]; then
  ensure_kafka_libs
  exit 0
fi

bash "$STACK_SRC/tools.sh" >&2
ensure_postgres
ensure_kafka
exec 9>&-

echo "DATABASE_URL=postgres://postgres@$PG_HOST:$PG_PORT/postgres"
echo "KAFKA_BROKERS=127.0.0.1:$KAFKA_ADVERTISED_PORT"
