# shellcheck shell=bash
# Shared settings and helpers for stack/up.sh and stack/down.sh (sourced, not executed).
#
# Environment overrides:
#   STACK_DIR              state directory (default <repo>/.stack)
#   KAFKA_PORT             PLAINTEXT listener port (default 9092)
#   KAFKA_CONTROLLER_PORT  KRaft controller port (default KAFKA_PORT+1, i.e. 9093)
#   KAFKA_ADVERTISED_PORT  port the broker tells clients to use (default KAFKA_PORT); another port
#                          puts something in between, e.g. the chaos suite's TCP proxy
#   KAFKA_START_TIMEOUT    seconds to wait for the broker to start (default 90)
#   KAFKA_HEAP             broker heap, used for -Xms and -Xmx (default 512m)
#   KAFKA_WARMUP           1 (default): after starting a broker, create its internal topics with
#                          stack/kafka/StackWarmup.java; 0 skips that (~1-2 s)
# For one node of a multi-broker cluster (stack/cluster.sh sets these):
#   KAFKA_NODE_ID          node.id (default 1)
#   KAFKA_VOTERS           controller.quorum.voters (default 1@127.0.0.1:$KAFKA_CONTROLLER_PORT)
#   KAFKA_REPLICATION      replication factor of new and internal topics (default 1); above 1,
#                          min.insync.replicas becomes 2
#   KAFKA_CLUSTER_ID_FILE  the cluster id every node of one cluster formats with
#   KAFKA_WAIT             1 (default): wait until the broker answers; 0 returns once it is launched
#                          (a node of a 3-voter quorum cannot start before a majority is up)

STACK_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK_SRC="$STACK_ROOT/stack"
STACK_DIR=${STACK_DIR:-$STACK_ROOT/.stack}
STACK_DIR=$(mkdir -p "$STACK_DIR" && cd "$STACK_DIR" && pwd)

KAFKA_PORT=${KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}
KAFKA_ADVERTISED_PORT=${KAFKA_ADVERTISED_PORT:-$KAFKA_PORT}
KAFKA_START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
KAFKA_HEAP=${KAFKA_HEAP:-512m}
KAFKA_WARMUP=${KAFKA_WARMUP:-1}
KAFKA_NODE_ID=${KAFKA_NODE_ID:-1}
KAFKA_VOTERS=${KAFKA_VOTERS:-1@127.0.0.1:$KAFKA_CONTROLLER_PORT}
KAFKA_REPLICATION=${KAFKA_REPLICATION:-1}
KAFKA_WAIT=${KAFKA_WAIT:-1}

PG_HOST=127.0.0.1
PG_PORT=5432
PG_MARKER="$STACK_DIR/pg-started-by-stack"

# The jar cache is shared by every broker instance under STACK_DIR.
KAFKA_LIBS="$STACK_DIR/kafka/libs"
KAFKA_POM="$STACK_SRC/kafka/pom.xml"
KAFKA_LOG4J="$STACK_SRC/kafka/log4j2.properties"

# One directory per broker instance: the default port uses STACK_DIR/kafka, others STACK_DIR/kafka-<port>.
if [[ "$KAFKA_PORT" == 9092 ]]; then
  KAFKA_INST="$STACK_DIR/kafka"
else
  KAFKA_INST="$STACK_DIR/kafka-$KAFKA_PORT"
fi
KAFKA_PID_FILE="$KAFKA_INST/kafka.pid"
KAFKA_LOG="$KAFKA_INST/kafka.log"
KAFKA_DATA="$KAFKA_INST/data"
KAFKA_PROPS="$KAFKA_INST/server.properties"
KAFKA_CLUSTER_ID_FILE=${KAFKA_CLUSTER_ID_FILE:-$KAFKA_INST/cluster.id}

JAVA=${JAVA_HOME:+$JAVA_HOME/bin/}java
# Short-lived tool JVMs (StorageTool, warm-up client, Kafka's admin tools): quick start-up, quiet logs.
TOOL_JAVA_OPTS=(-XX:TieredStopAtLevel=1 -XX:+UseSerialGC "-Dlog4j2.configurationFile=$KAFKA_LOG4J" -Dstack.log.level=WARN)

say() { echo "stack: $*" >&2; }
die() { echo "stack: error: $*" >&2; exit 1; }

# True if something accepts TCP connections on 127.0.0.1:$1.
port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null
}

# True if a Kafka broker answers on 127.0.0.1:$1: sends an ApiVersions v0 request
# (correlation id 1, client id "up") and checks that the response carries correlation id 1.
kafka_probe() {
  local out
  out=$(timeout 3 bash -c '
    exec 3<>/dev/tcp/127.0.0.1/'"$1"' || exit 1
    printf "\x00\x00\x00\x0c\x00\x12\x00\x00\x00\x00\x00\x01\x00\x02up" >&3
    head -c 8 <&3 | od -An -tx1' 2>/dev/null) || return 1
  out=$(tr -d ' \n' <<<"$out")
  [[ ${#out} == 16 && ${out:8:8} == 00000001 ]]
}

# True if the pid in $1 (a pid file) is a live Kafka broker process.
kafka_pid_alive() {
  local pid
  [[ -f "$1" ]] || return 1
  pid=$(<"$1")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  # A zombie or a recycled pid has an empty or different command line.
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q 'kafka\.Kafka'
}

pg_ready() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -t 2
  else
    port_open "$PG_PORT"
  fi
}

# The cluster under /etc/postgresql (highest version), e.g. "15".
pg_version() {
  ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1
}
