#!/usr/bin/env bash
# How long one claim+complete transaction of the chosen design holds its row locks, database side
# only (no Kafka), measured with psql on a preloaded backlog.
#   bench/sql/lock-hold.sh <delete|mark> [iterations=30] [rows=200000] [batch=500]
# Per batch: BEGIN; SELECT … ORDER BY seq LIMIT 500 FOR UPDATE SKIP LOCKED (ids into a psql variable);
# DELETE/UPDATE … WHERE seq = ANY(ids); SELECT clock_timestamp() - now() (time since BEGIN, i.e. how
# long the locks have been held before COMMIT); COMMIT (client-side \timing, includes the WAL flush).
# Prints one TSV line per batch: claim_ms complete_ms held_before_commit_ms commit_ms total_ms
# then a summary line with medians. The relay holds the locks for total_ms plus the Kafka round trip.
set -euo pipefail
mode=$1 iters=${2:-30} rows=${3:-200000} batch=${4:-500}
here=$(cd "$(dirname "$0")" && pwd)
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres} PGDATABASE=${PGDATABASE:-postgres}
s=bench_lock_$mode
"$here/setup-outbox.sh" "$s" ours >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 <<SQL
INSERT INTO $s.outbox (topic, key, payload)
  SELECT 't', 'k' || (i % 1000), convert_to(repeat('x', 200), 'UTF8') FROM generate_series(1, $rows) i;
VACUUM ANALYZE $s.outbox;
CHECKPOINT;
SQL
if [ "$mode" = delete ]; then complete="DELETE FROM outbox WHERE seq = ANY(:'ids'::bigint[]);"
else complete="UPDATE outbox SET sent_at = now() WHERE seq = ANY(:'ids'::bigint[]);"; fi
script=$(mktemp /tmp/lock-hold.XXXXXX.sql)
trap 'rm -f "$script"' EXIT
{
  echo "SET search_path = $s;"
  for _ in $(seq 1 "$iters"); do
    cat <<SQL
BEGIN;
\\timing on
\\echo L claim
SELECT array_agg(seq) AS ids FROM (SELECT seq, id, topic, key, payload, headers FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT $batch FOR UPDATE SKIP LOCKED) c \\gset
\\echo L complete
$complete
\\timing off
SELECT 'H ' || round(extract(epoch FROM clock_timestamp() - now()) * 1000, 3);
\\timing on
\\echo L commit
COMMIT;
\\timing off
SQL
  done
} > "$script"
psql -X -At -q -v ON_ERROR_STOP=1 -f "$script" | awk '
  /^L / { label = $2; next }
  /^H / { held = $2; next }
  /^Time: / { v[label] = $2; if (label == "commit") {
      tot = held + v["commit"]; n++
      printf "%.3f\t%.3f\t%.3f\t%.3f\t%.3f\n", v["claim"], v["complete"], held, v["commit"], tot
    } }'
psql -X -qc "DROP SCHEMA $s CASCADE" >/dev/null 2>&1
