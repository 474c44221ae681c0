#!/usr/bin/env bash
# Claim-design benchmark, interleaved: every round runs each variant once (order rotated per round).
#   ROUNDS=3 ROWS=200000 BATCH=500 bench/sql/run-claim.sh > results/claim.jsonl
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
ROUNDS=${ROUNDS:-3} ROWS=${ROWS:-200000} BATCH=${BATCH:-500}
for r in $(seq 1 "$ROUNDS"); do
  order=(delete mark lease-delete lease-mark); k=$(( (r - 1) % 4 )); order=("${order[@]:k}" "${order[@]:0:k}")
  for v in "${order[@]}"; do node "$here/claim-bench.mjs" "$v" "$ROWS" "$BATCH"; done
done
