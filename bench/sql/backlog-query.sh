#!/usr/bin/env bash
# Cost of the backlog query behind the per-topic gauges (src/sql/backlog.ts), which the relay runs
# every OUTBOX_BACKLOG_INTERVAL_MS: median of 5 EXPLAIN ANALYZE executions at 10k, 100k and 1M
# pending rows (10 topics, 200-byte payloads) in a scratch schema on the stack's PostgreSQL.
#   bash bench/sql/backlog-query.sh
set -euo pipefail
P="psql -h 127.0.0.1 -U postgres -qAtX -v ON_ERROR_STOP=1"
$P -c "DROP SCHEMA IF EXISTS bench_backlog CASCADE" -c "CREATE SCHEMA bench_backlog"
$P -c "CREATE TABLE bench_backlog.outbox (seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, id uuid NOT NULL DEFAULT gen_random_uuid(), topic text NOT NULL, key text, payload bytea NOT NULL, headers jsonb NOT NULL DEFAULT '{}', created_at timestamptz NOT NULL DEFAULT now(), sent_at timestamptz)" \
   -c "CREATE INDEX ON bench_backlog.outbox (seq) WHERE sent_at IS NULL" \
   -c "CREATE TABLE bench_backlog.outbox_failures (seq bigint PRIMARY KEY, key text, topic text NOT NULL, attempts int NOT NULL, error_class text NOT NULL, last_error text NOT NULL, first_failed_at timestamptz NOT NULL DEFAULT now(), last_failed_at timestamptz NOT NULL DEFAULT now(), next_attempt_at timestamptz, dead_at timestamptz)"
query="SELECT o.topic, count(*)::float8, extract(epoch FROM now() - min(o.created_at) FILTER (WHERE f.dead_at IS NULL))::float8, count(f.dead_at)::float8 FROM bench_backlog.outbox o LEFT JOIN bench_backlog.outbox_failures f ON f.seq = o.seq WHERE o.sent_at IS NULL GROUP BY o.topic"
for n in 10000 100000 1000000; do
  $P -c "TRUNCATE bench_backlog.outbox" -c "INSERT INTO bench_backlog.outbox (topic, key, payload) SELECT 'topic' || (i % 10), 'k' || (i % 1000), convert_to(repeat('x', 200), 'UTF8') FROM generate_series(1, $n) i" -c "VACUUM ANALYZE bench_backlog.outbox"
  for _ in 1 2 3 4 5; do
    $P -c "EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) $query" | python3 -c "import json, sys; print(json.load(sys.stdin)[0]['Execution Time'])"
  done | sort -n | sed -n 3p | xargs printf "backlog query, %s pending rows: median %s ms\n" "$n"
done
$P -c "DROP SCHEMA bench_backlog CASCADE"
