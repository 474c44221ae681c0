#!/usr/bin/env bash
# M6 producer-side tax of the wake-up strategy: pgbench single-row outbox inserts, 5 variants,
# interleaved (each round runs every variant once per client count, order rotated per round).
#   ROUNDS=3 DURATION=20 CLIENTS="8 32" VARIANTS="1 2 3 4 5" bench/sql/run-wakeup.sh > results.tsv
# Output: TSV  round clients variant tps transactions notifies_received(variant 5 only)
# Variants: 1 notrigger | 2 ours, nobody waiting | 3 ours, relay declared waiting 1 h, nobody listening
#           4 naive unconditional NOTIFY | 5 ours + drain-loop.mjs really consuming
#           6 (control) no trigger + drain-loop.mjs polling every 1 s   (a poll-only relay)
#           7 (control) no trigger + drain-loop.mjs polling every 10 ms (drains as eagerly as 5, no NOTIFY)
#           8 (diagnostic) our trigger logic without SECURITY DEFINER / SET search_path, nobody waiting
# EXTRA_PGOPTIONS is appended to pgbench's PGOPTIONS, e.g. "-c synchronous_commit=off" to make the
# run CPU-bound and expose the trigger's CPU cost without the WAL flush.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export PGHOST=${PGHOST:-127.0.0.1} PGPORT=${PGPORT:-5432} PGUSER=${PGUSER:-postgres} PGDATABASE=${PGDATABASE:-postgres}
ROUNDS=${ROUNDS:-3} DURATION=${DURATION:-20} CLIENTS=${CLIENTS:-"8 32"} VARIANTS=${VARIANTS:-"1 2 3 4 5"}
mode=([1]=notrigger [2]=ours [3]=ours-waiting [4]=naive [5]=ours [6]=notrigger [7]=notrigger [8]=ours-plain)
poll=([5]=1000 [6]=1000 [7]=10)
echo -e "round\tclients\tvariant\ttps\ttransactions\tnotifies"
for r in $(seq 1 "$ROUNDS"); do
  for c in $CLIENTS; do
    # rotate the order so no variant always runs first/last in a round
    order=($VARIANTS); k=$(( (r - 1) % ${#order[@]} )); order=("${order[@]:k}" "${order[@]:0:k}")
    for v in "${order[@]}"; do
      s=bench_w$v
      "$here/setup-outbox.sh" "$s" "${mode[$v]}" >/dev/null 2>&1
      psql -X -qc "CHECKPOINT" >/dev/null
      dl=""
      if [ -n "${poll[$v]:-}" ]; then
        node "$here/drain-loop.mjs" "$s" "${poll[$v]}" 3000 500 > "/tmp/drain-$s.json" & dl=$!
        sleep 1
      fi
      out=$(PGOPTIONS="-c search_path=$s ${EXTRA_PGOPTIONS:-}" pgbench -n -f "$here/insert-one.sql" -c "$c" -j 2 -T "$DURATION" 2>&1)
      tps=$(sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' <<<"$out")
      n=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' <<<"$out")
      notifies=""
      if [ -n "$dl" ]; then
        sleep 1; kill -TERM "$dl"; wait "$dl" || true
        notifies=$(node -e 'const s=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8"));console.log(s.notifies)' "/tmp/drain-$s.json")
        cat "/tmp/drain-$s.json" >&2
      fi
      echo -e "$r\t$c\t$v\t$tps\t$n\t$notifies"
    done
  done
done
for v in $VARIANTS; do psql -X -qc "DROP SCHEMA IF EXISTS bench_w$v CASCADE" >/dev/null 2>&1; done
