#!/usr/bin/env python3
"""Summarise lock-hold.sh output collected as:  for r in 1 2 3; do for m in delete mark; do
echo "# round $r $m"; bench/sql/lock-hold.sh $m 30; done; done > results/lock-hold.tsv"""
import statistics as st, sys
cur = None; d = {}
for l in open(sys.argv[1]):
    if l.startswith('#'): cur = tuple(l.split()[2:4]); d[cur] = []; continue
    d[cur].append([float(x) for x in l.split()])
print('| mode | round | batches | claim ms p50 | complete ms p50 | held before COMMIT ms p50 | COMMIT ms p50 | total (locks held) ms p50 | p90 | max |')
print('|---|---|---|---|---|---|---|---|---|---|')
for (r, m), rows in sorted(d.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    cols = list(zip(*rows)); p = lambda i: st.median(cols[i]); tot = sorted(cols[4])
    print(f'| {m} | {r} | {len(rows)} | {p(0):.2f} | {p(1):.2f} | {p(2):.2f} | {p(3):.2f} | {p(4):.2f} | {tot[int(0.9*len(tot))]:.2f} | {tot[-1]:.2f} |')
