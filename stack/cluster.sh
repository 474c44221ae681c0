#!/usr/bin/env bash
# A three-broker Apache Kafka KRaft cluster on this machine, from the same Maven Central jars as
# stack/up.sh: three combined broker+controller nodes, replication factor 3, min.insync.replicas 2.
# For fault tests of what a real cluster does (leaders moving, NOT_ENOUGH_REPLICAS).
#
#   stack/cluster.sh up          start (or reuse) all nodes; stdout: KAFKA_BROKERS=<the three>
#   stack/cluster.sh down        stop all nodes (SIGTERM, then SIGKILL after 30 s)
#   stack/cluster.sh start N     start node N (1-3) and wait until it answers
#   stack/cluster.sh stop N      graceful shutdown of node N (its leaderships move first)
#   stack/cluster.sh kill N      kill -9 node N
#   stack/cluster.sh port N      print node N's client port
#   stack/cluster.sh tool CLASS ARGS...
#                                run one of Kafka's own tools (e.g. org.apache.kafka.tools.LeaderElectionCommand)
#                                with --bootstrap-server pointing at the cluster
#
# Node N listens on 127.0.0.1:BASE+100·(N-1) (controller: that port + 1); BASE is
# KAFKA_CLUSTER_PORT (default 29092). State: STACK_DIR/kafka-<port>/, cluster id STACK_DIR/cluster.id.
# Heap per node: KAFKA_HEAP (default 384m here).
#
# KAFKA_CLUSTER_SECURE=1: the same three nodes, each one stack/secure-broker.sh node (its listeners,
# SCRAM/PLAIN users, ACLs; one test CA and certificate set for all three). BASE defaults to 29392;
# node N's ports: BASE+100·(N-1) SASL_SSL, +1 SSL (mutual TLS), +2 PLAINTEXT (inter-broker, admin),
# +3 SASL_PLAINTEXT, +4 SASL_SSL advertised as localhost with a certificate for 127.0.0.1 only,
# +7 controller. `up` prints KAFKA_BROKERS=<the SASL_SSL listeners> and secure-broker.sh's SECURE_*
# lines with each listener's three addresses; `tool` goes through the PLAINTEXT listeners.
# State: STACK_DIR/kafka-secure-<port>/, certificates and cluster id STACK_DIR/kafka-secure-cluster-BASE/.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SECURE=${KAFKA_CLUSTER_SECURE:-0}
if [[ "$SECURE" == 1 ]]; then
  BASE=${KAFKA_CLUSTER_PORT:-29392}
  CONTROLLER_OFFSET=7 ADMIN_OFFSET=2
else
  BASE=${KAFKA_CLUSTER_PORT:-29092}
  CONTROLLER_OFFSET=1 ADMIN_OFFSET=0
fi
NODES=3
export KAFKA_HEAP=${KAFKA_HEAP:-384m}
stack_dir() {
  local dir=${STACK_DIR:-$here/../.stack}
  mkdir -p "$dir"
  (cd "$dir" && pwd)
}

port_of() { echo $((BASE + 100 * ($1 - 1))); }
voters() {
  local n out=()
  for ((n = 1; n <= NODES; n++)); do out+=("$n@127.0.0.1:$(($(port_of "$n") + CONTROLLER_OFFSET))"); done
  (IFS=,; echo "${out[*]}")
}
# brokers [OFFSET]: the three nodes' listeners at port_of+OFFSET.
brokers() {
  local n out=()
  for ((n = 1; n <= NODES; n++)); do out+=("127.0.0.1:$(($(port_of "$n") + ${1:-0}))"); done
  (IFS=,; echo "${out[*]}")
}
check_node() { [[ "$1" =~ ^[1-3]$ ]] || { echo "cluster: node must be 1, 2 or 3 (got '$1')" >&2; exit 2; }; }

# node N ARGS...: run up.sh/down.sh with node N's settings.
node() {
  local n=$1 script=$2
  shift 2
  KAFKA_PORT=$(port_of "$n") KAFKA_NODE_ID=$n KAFKA_VOTERS=$(voters) KAFKA_REPLICATION=3 \
    KAFKA_CLUSTER_ID_FILE="$(stack_dir)/cluster.id" \
    bash "$here/$script" "$@"
}

# secure_node N up|down|env: run secure-broker.sh with node N's settings.
secure_node() {
  local n=$1 shared
  shift
  shared="$(stack_dir)/kafka-secure-cluster-$BASE"
  mkdir -p "$shared"
  SECURE_KAFKA_PORT=$(port_of "$n") SECURE_NODE_ID=$n SECURE_VOTERS=$(voters) SECURE_REPLICATION=3 \
    SECURE_CERTS="$shared/certs" SECURE_CLUSTER_ID_FILE="$shared/cluster.id" \
    SECURE_STAMP="$(sha256sum <"$here/cluster.sh")" \
    bash "$here/secure-broker.sh" "$@"
}

# The three nodes' secure-broker.sh env lines, merged: each listener's addresses joined with commas.
secure_env() {
  local n
  for ((n = 1; n <= NODES; n++)); do secure_node "$n" env; done |
    awk '{ k = substr($0, 1, index($0, "=") - 1); v = substr($0, index($0, "=") + 1)
           if (!(k in val)) { keys[++c] = k; val[k] = v } else if (v ~ /^127\.0\.0\.1:/) val[k] = val[k] "," v }
         END { for (i = 1; i <= c; i++) print keys[i] "=" val[keys[i]] }'
}

if [[ "$SECURE" == 1 ]]; then
  case "${1:-}" in
    up)
      # Launch every node first (a quorum of three needs two before any can start), then wait for
      # each; node 1 adds the ACLs (cluster-wide metadata).
      for ((n = 1; n <= NODES; n++)); do SECURE_WAIT=0 SECURE_ACLS=0 secure_node "$n" up >/dev/null; done
      for ((n = 1; n <= NODES; n++)); do SECURE_ACLS=$((n == 1 ? 1 : 0)) secure_node "$n" up >/dev/null; done
      KAFKA_PORT=$(($(port_of 1) + ADMIN_OFFSET)) bash "$here/up.sh" warm-up
      echo "KAFKA_BROKERS=$(brokers)"
      secure_env
      exit 0
      ;;
    stop)
      check_node "${2:-}"
      secure_node "$2" down
      exit 0
      ;;
    down)
      # All at once: one by one, the last node waits out its shutdown timeout for a lost quorum.
      for ((n = 1; n <= NODES; n++)); do secure_node "$n" down & done
      wait
      exit 0
      ;;
    start)
      check_node "${2:-}"
      secure_node "$2" up >/dev/null
      exit 0
      ;;
  esac
fi

case "${1:-}" in
  up)
    # Launch every node first (a quorum of three needs two before any can start), then wait for each.
    for ((n = 1; n <= NODES; n++)); do KAFKA_WAIT=0 KAFKA_WARMUP=0 node "$n" up.sh >/dev/null; done
    for ((n = 1; n <= NODES; n++)); do KAFKA_WARMUP=0 node "$n" up.sh >/dev/null; done
    node 1 up.sh warm-up
    echo "KAFKA_BROKERS=$(brokers)"
    ;;
  down)
    for ((n = 1; n <= NODES; n++)); do node "$n" down.sh; done
    ;;
  start)
    check_node "${2:-}"
    KAFKA_WARMUP=0 node "$2" up.sh >/dev/null
    ;;
  stop)
    check_node "${2:-}"
    node "$2" down.sh
    ;;
  kill)
    check_node "${2:-}"
    prefix=kafka-
    [[ "$SECURE" == 1 ]] && prefix=kafka-secure-
    pidfile="$(stack_dir)/$prefix$(port_of "$2")/kafka.pid"
    [[ -s "$pidfile" ]] && kill -KILL "$(<"$pidfile")" 2>/dev/null || true
    ;;
  port)
    check_node "${2:-}"
    port_of "$2"
    ;;
  tool)
    [[ -n "${2:-}" ]] || { echo "cluster: tool needs a class name" >&2; exit 2; }
    cls=$2
    shift 2
    # shellcheck source=lib.sh
    source "$here/lib.sh"
    exec "$JAVA" "${TOOL_JAVA_OPTS[@]}" -cp "$KAFKA_LIBS/*" "$cls" --bootstrap-server "$(brokers "$ADMIN_OFFSET")" "$@"
    ;;
  *)
    sed -n '2,27p' "$0" >&2
    exit 2
    ;;
esac
