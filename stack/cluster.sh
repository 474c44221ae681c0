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
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BASE=${KAFKA_CLUSTER_PORT:-29092}
NODES=3
export KAFKA_HEAP=${KAFKA_HEAP:-384m}

port_of() { echo $((BASE + 100 * ($1 - 1))); }
voters() {
  local n out=()
  for ((n = 1; n <= NODES; n++)); do out+=("$n@127.0.0.1:$(($(port_of "$n") + 1))"); done
  (IFS=,; echo "${out[*]}")
}
brokers() {
  local n out=()
  for ((n = 1; n <= NODES; n++)); do out+=("127.0.0.1:$(port_of "$n")"); done
  (IFS=,; echo "${out[*]}")
}
check_node() { [[ "$1" =~ ^[1-3]$ ]] || { echo "cluster: node must be 1, 2 or 3 (got '$1')" >&2; exit 2; }; }

# node N ARGS...: run up.sh/down.sh with node N's settings.
node() {
  local n=$1 script=$2
  shift 2
  local stack_dir=${STACK_DIR:-$here/../.stack}
  mkdir -p "$stack_dir"
  KAFKA_PORT=$(port_of "$n") KAFKA_NODE_ID=$n KAFKA_VOTERS=$(voters) KAFKA_REPLICATION=3 \
    KAFKA_CLUSTER_ID_FILE="$(cd "$stack_dir" && pwd)/cluster.id" \
    bash "$here/$script" "$@"
}

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
    pidfile="${STACK_DIR:-$here/../.stack}/kafka-$(port_of "$2")/kafka.pid"
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
    exec "$JAVA" "${TOOL_JAVA_OPTS[@]}" -cp "$KAFKA_LIBS/*" "$cls" --bootstrap-server "$(brokers)" "$@"
    ;;
  *)
    sed -n '2,19p' "$0" >&2
    exit 2
    ;;
esac
