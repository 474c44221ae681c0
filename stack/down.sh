#!/usr/bin/env bash
# Stops what stack/up.sh started: the Kafka broker of this KAFKA_PORT/STACK_DIR (SIGTERM, up to
# 30 s, then SIGKILL) and, for the default broker only, PostgreSQL if up.sh was the one that
# started it (marker STACK_DIR/pg-started-by-stack). Brokers or databases it did not start are
# left alone. Idempotent. Data under STACK_DIR is kept (rm -rf .stack/kafka/data to wipe the broker).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# wait_gone TENTHS: wait up to TENTHS × 0.1 s for the broker of $KAFKA_PID_FILE to exit.
wait_gone() {
  local i
  for ((i = 0; i < $1; i++)); do
    kafka_pid_alive "$KAFKA_PID_FILE" || return 0
    sleep 0.1
  done
}

stop_kafka() {
  if ! kafka_pid_alive "$KAFKA_PID_FILE"; then
    rm -f "$KAFKA_PID_FILE"
    say "kafka: no broker started by stack for port $KAFKA_PORT"
    return
  fi
  local pid
  pid=$(<"$KAFKA_PID_FILE")
  say "kafka: stopping broker pid $pid (port $KAFKA_PORT)"
  kill -TERM "$pid" 2>/dev/null || true
  wait_gone 300
  if kafka_pid_alive "$KAFKA_PID_FILE"; then
    say "kafka: broker pid $pid still alive after 30 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone 50
  fi
  kafka_pid_alive "$KAFKA_PID_FILE" && die "could not stop Kafka broker pid $pid"
  rm -f "$KAFKA_PID_FILE"
  say "kafka: stopped"
}

stop_postgres() {
  # A fault-test broker (non-default port) never takes PostgreSQL down with it.
  [[ "$KAFKA_PORT" == 9092 ]] || return 0
  if [[ ! -f "$PG_MARKER" ]]; then
    say "postgres: not started by stack; leaving it running"
    return
  fi
  local ver
  ver=$(pg_version)
  if [[ -n "$ver" ]] && pg_ready; then
    say "postgres: stopping cluster $ver/main (started by stack/up.sh)"
    pg_ctlcluster --skip-systemctl-redirect "$ver" main stop >&2 || die "pg_ctlcluster $ver main stop failed"
  fi
  rm -f "$PG_MARKER"
}

stop_kafka
stop_postgres
