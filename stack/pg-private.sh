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
# PG_PRIVATE_SSL=1 (on the first start): TLS only (hostssl; plain connections are rejected) with a
# server certificate for 127.0.0.1/localhost from a test CA made with openssl; start then also prints
# PG_CA=<the CA's PEM file>.
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
  ssl_opts=
  if [[ "${PG_PRIVATE_SSL:-0}" == 1 ]]; then
    if [[ ! -f "$dir.tls/ca.pem" ]]; then
      mkdir -p "$dir.tls"
      openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -keyout "$dir.tls/ca.key" -out "$dir.tls/ca.pem" -subj "/CN=outbox-relay test PostgreSQL CA" 2>/dev/null
      openssl req -new -newkey rsa:2048 -nodes -keyout "$dir.tls/server.key" -out "$dir.tls/server.csr" -subj /CN=localhost 2>/dev/null
      printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$dir.tls/ext"
      openssl x509 -req -in "$dir.tls/server.csr" -CA "$dir.tls/ca.pem" -CAkey "$dir.tls/ca.key" -CAcreateserial -days 3650 \
        -extfile "$dir.tls/ext" -out "$dir.tls/server.crt" 2>/dev/null
      cp "$dir.tls/server.crt" "$dir.tls/server.key" "$dir/"
      [[ $(id -u) -eq 0 ]] && chown postgres: "$dir/server.crt" "$dir/server.key"
      chmod 600 "$dir/server.key"
      printf 'hostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n' >"$dir/pg_hba.conf"
    fi
    ssl_opts="-c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key"
  fi
  if ! as_owner "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    as_owner "$bin/pg_ctl" -D "$dir" -w -t 60 -l "$dir/server.log" \
      -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c fsync=off $ssl_opts ${PG_PRIVATE_OPTS:-}" start >&2
  fi
  echo "DATABASE_URL=postgres://postgres@127.0.0.1:$port/postgres"
  if [[ "${PG_PRIVATE_SSL:-0}" == 1 ]]; then echo "PG_CA=$dir.tls/ca.pem"; fi
  ;;
stop)
  as_owner "$bin/pg_ctl" -D "$dir" -m immediate stop >&2 || true
  ;;
destroy)
  as_owner "$bin/pg_ctl" -D "$dir" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir" "$dir.initdb.log" "$dir.tls"
  ;;
*)
  echo "pg-private: unknown command $cmd" >&2
  exit 2
  ;;
esac
