#!/usr/bin/env bash
# A private, throw-away PostgreSQL cluster for fault tests that must stop and restart the database
# without disturbing anything else (the machine's cluster keeps serving the other tests).
#   stack/pg-private.sh start [port]   create (once) and start; prints DATABASE_URL=... on stdout
#   stack/pg-private.sh stop  [port]   immediate stop (pg_ctl -m immediate: a crash, as far as clients see)
#   stack/pg-private.sh destroy [port] stop and delete the cluster
# Uses the machine's PostgreSQL binaries (/usr/lib/postgresql/<version>/bin); trust auth on 127.0.0.1
# only; no Unix socket. As root, the cluster runs as the `postgres` user (initdb refuses root).
# PG_PRIVATE_OPTS adds server options at start, e.g. "-c wal_level=logical -c max_replication_slots=10"
# for logical decoding (stack/debezium.sh).
set -euo pipefail
cmd=${1:?usage: pg-private.sh start|stop|destroy [port]}
port=${2:-5433}
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[[ -x "$bin/initdb" ]] || { echo "pg-private: no PostgreSQL server binaries under /usr/lib/postgresql" >&2; exit 1; }
dir=${PG_PRIVATE_DIR:-/tmp/outbox-relay-pg-$port}

as_owner() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$cmd" in
start)
  if [[ ! -f "$dir/PG_VERSION" ]]; then
    mkdir -p "$dir"
    [[ $(id -u) -eq 0 ]] && chown postgres: "$dir"
    as_owner "$bin/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 >"$dir.initdb.log" 2>&1 ||
      { cat "$dir.initdb.log" >&2; exit 1; }
  fi
  if ! as_owner "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    as_owner "$bin/pg_ctl" -D "$dir" -w -t 60 -l "$dir/server.log" \
      -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=off ${PG_PRIVATE_OPTS:-}" start >&2
  fi
  echo "DATABASE_URL=postgres://postgres@127.0.0.1:$port/postgres"
  ;;
stop)
  as_owner "$bin/pg_ctl" -D "$dir" -m immediate stop >&2 || true
  ;;
destroy)
  as_owner "$bin/pg_ctl" -D "$dir" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir" "$dir.initdb.log"
  ;;
*)
  echo "pg-private: unknown command $cmd" >&2
  exit 2
  ;;
esac
