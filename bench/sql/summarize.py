#!/usr/bin/env python3
"""Summarise run-wakeup.sh TSV output: median/min/max tps per (clients, variant), the ratio of medians
to variant 1 (no trigger), and the per-round paired ratios (same round, same client count).
   python3 bench/sql/summarize.py results/wakeup.tsv [more.tsv ...]   (files are summarised separately)
Also summarises claim-bench.mjs JSON lines:  python3 bench/sql/summarize.py --claim results/claim.jsonl"""
import json, statistics, sys
from collections import defaultdict

def wake(path):
    rows = [l.rstrip('\n').split('\t') for l in open(path) if l.strip() and not l.startswith('round')]
    tps = defaultdict(list); by_round = {}; notif = defaultdict(list); txns = defaultdict(list)
    for r, c, v, t, n, notes in [x + [''] * (6 - len(x)) for x in rows]:
        tps[(int(c), int(v))].append(float(t)); by_round[(int(r), int(c), int(v))] = float(t)
        txns[(int(c), int(v))].append(int(n))
        if notes: notif[(int(c), int(v))].append(int(notes))
    print(f'## {path}')
    print('| clients | variant | runs | tps median | min–max | median / baseline median | paired ratios per round | NOTIFYs received (of txns) |')
    print('|---|---|---|---|---|---|---|---|')
    for (c, v) in sorted(tps):
        xs = tps[(c, v)]; base = statistics.median(tps[(c, 1)])
        paired = [by_round[(r, c, v)] / by_round[(r, c, 1)] for (r, cc, vv) in sorted(by_round) if cc == c and vv == v and (r, c, 1) in by_round]
        nt = ', '.join(f'{a} ({a / b:.2%})' for a, b in zip(notif[(c, v)], txns[(c, v)])) if notif[(c, v)] else ''
        print(f'| {c} | {v} | {len(xs)} | {statistics.median(xs):,.0f} | {min(xs):,.0f}–{max(xs):,.0f} | '
              f'{statistics.median(xs) / base:.0%} | {", ".join(f"{p:.0%}" for p in paired)} (median {statistics.median(paired):.0%}) | {nt} |')
    print()

def claim(path):
    runs = defaultdict(list)
    for l in open(path):
        if l.strip().startswith('{'):
            j = json.loads(l); runs[j['variant']].append(j)
    print(f'## {path}')
    print('| variant | runs | rows/s median | min–max | batch tx ms p50 (median of runs) | p99 | WAL bytes/row | client CPU µs/row |')
    print('|---|---|---|---|---|---|---|---|')
    for v in ['delete', 'mark', 'lease-delete', 'lease-mark']:
        if v not in runs: continue
        rs = runs[v]; m = lambda k: statistics.median(r[k] for r in rs)
        xs = [r['rowsPerSec'] for r in rs]
        print(f'| {v} | {len(rs)} | {statistics.median(xs):,.0f} | {min(xs):,}–{max(xs):,} | {m("batchMsP50"):.2f} | {m("batchMsP99"):.2f} | {m("walBytesPerRow"):.0f} | {m("clientCpuUsPerRow"):.2f} |')
    print()

args = sys.argv[1:]
if args and args[0] == '--claim':
    for p in args[1:]: claim(p)
else:
    for p in args: wake(p)
