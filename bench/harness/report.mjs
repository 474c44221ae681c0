// Turns the runs into bench/results/latest.json (the figures, the targets with pass/fail, every run)
// and latest.md (tables, and SVG charts written next to it).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SYSTEMS } from './options.mjs';
import { round, spread } from './stats.mjs';
import { barChart, lineChart } from './svg.mjs';

const ok = (runs, pred) => runs.filter((r) => r.ok && pred(r));
const med = (xs) => spread(xs)?.median ?? null;
const ratio = (a, b) => (typeof a === 'number' && typeof b === 'number' && b > 0 ? round(a / b, 3) : null);

export function summarize(runs) {
  const drain = {};
  for (const system of SYSTEMS) {
    const rs = ok(runs, (r) => r.scenario === 'drain' && r.system === system && (system !== 'relay' || r.variant === 'default'));
    drain[system] = spread(rs.map((r) => r.result.rows_per_s));
  }
  const relayDrain = ok(runs, (r) => r.scenario === 'drain' && r.system === 'relay' && r.variant === 'default');
  const lat1k = ok(runs, (r) => r.scenario === 'latency' && !r.offered_fraction_of_sustained);
  const pct = (rs, k) => spread(rs.map((r) => r.result.latency_ms[k]));
  const sus = ok(runs, (r) => r.scenario === 'sustained');
  const wake = (v) => ok(runs, (r) => r.scenario === 'wakeup' && r.variant === v);
  const tax = {};
  for (const clients of [...new Set(runs.filter((r) => r.scenario === 'producer-tax').map((r) => r.clients))]) {
    const byRound = {};
    for (const r of ok(runs, (x) => x.scenario === 'producer-tax' && x.clients === clients)) (byRound[r.round] ??= {})[r.variant] = r.result.tps;
    const ratios = Object.values(byRound).filter((x) => x.notify && x['no-notify']).map((x) => x.notify / x['no-notify']);
    tax[clients] = { ratio: spread(ratios), notify_tps: spread(Object.values(byRound).map((x) => x.notify)), no_notify_tps: spread(Object.values(byRound).map((x) => x['no-notify'])) };
  }
  const rep = {};
  for (const r of ok(runs, (x) => x.scenario === 'replicas')) (rep[r.variant] ??= []).push(r.result.rows_per_s);
  const repS = Object.fromEntries(Object.entries(rep).map(([k, v]) => [k, spread(v)]));
  const k1 = repS['1 replica, keyed']?.median;
  const u1 = repS['1 replica, keyless']?.median;
  const sustainedSteps = {};
  for (const r of sus) for (const st of r.result.steps) (sustainedSteps[st.offered_rows_per_s] ??= []).push(st);
  return {
    drain,
    drain_rows_per_s: { relay: drain.relay?.median ?? null, debezium: drain.debezium?.median ?? null, kafka_ceiling: drain['kafka-ceiling']?.median ?? null, db_ceiling: drain['db-ceiling']?.median ?? null, node_peer: drain['node-peer']?.median ?? null },
    relay_cpu_us_per_row: med(relayDrain.map((r) => r.result.cpu_us_per_row)),
    relay_cpu_us_per_row_spread: spread(relayDrain.map((r) => r.result.cpu_us_per_row)),
    relay_rss_mb: relayDrain.length ? Math.max(...relayDrain.map((r) => r.result.peak_rss_mb)) : null,
    relay_rss_mb_spread: spread(relayDrain.map((r) => r.result.peak_rss_mb)),
    latency_ms: lat1k.length ? { p50: pct(lat1k, 'p50').median, p99: pct(lat1k, 'p99').median, p999: pct(lat1k, 'p999').median, max: pct(lat1k, 'max').median, offered_rows_per_s: lat1k[0].result.offered_rows_per_s, achieved_rows_per_s: med(lat1k.map((r) => r.result.achieved_rows_per_s)) } : { p50: null, p99: null, p999: null },
    latency_ms_spread: lat1k.length ? { p50: pct(lat1k, 'p50'), p99: pct(lat1k, 'p99'), p999: pct(lat1k, 'p999') } : null,
    sustained_rows_per_s: spread(sus.map((r) => r.result.highest_passing_rows_per_s)),
    sustained_steps: Object.fromEntries(Object.entries(sustainedSteps).map(([rate, sts]) => [rate, {
      passed_rounds: sts.filter((s) => s.pass).length, rounds: sts.length,
      achieved_rows_per_s: spread(sts.map((s) => s.achieved_rows_per_s)), p99_ms: spread(sts.map((s) => s.latency_ms.p99)),
      backlog_at_end: spread(sts.map((s) => s.backlog_at_end)),
    }])),
    wakeup_ms: { notify: spread(wake('notify').map((r) => r.result.latency_ms.p50)), poll_only: spread(wake('poll-only').map((r) => r.result.latency_ms.p50)) },
    producer_tax: tax,
    replicas: repS,
    ordering_cost: typeof k1 === 'number' && typeof u1 === 'number' ? round(1 - k1 / u1, 3) : null,
  };
}

export function targets(s, settings) {
  const d = s.drain_rows_per_s;
  const t = (name, value, limit, pass) => ({ target: name, value, limit, pass: value === null || value === undefined ? null : pass(value) });
  const s15 = s.sustained_steps['15000'];
  const taxes = settings.tax.clients.map((c) => [c, s.producer_tax[c]?.ratio?.median ?? null]);
  return [
    t('drain >= 0.7 x Kafka ceiling', ratio(d.relay, d.kafka_ceiling), 0.7, (v) => v >= 0.7),
    t('drain >= 3 x Debezium', ratio(d.relay, d.debezium), 3, (v) => v >= 3),
    t('relay CPU <= 10 us per row (drain)', s.relay_cpu_us_per_row, 10, (v) => v <= 10),
    t('peak RSS <= 100 MB while draining', s.relay_rss_mb, 100, (v) => v <= 100),
    t('commit -> ack p99 <= 20 ms at 1k rows/s (measured to the consumer, after the ack)', s.latency_ms.p99, 20, (v) => v <= 20),
    t('sustained 15k rows/s with p99 <= 100 ms', s15 ? s15.p99_ms?.median ?? null : null, 100, (v) => v <= 100 && s15.passed_rounds * 2 > s15.rounds),
    t('NOTIFY wake-up p50 <= 3 ms', s.wakeup_ms.notify?.median ?? null, 3, (v) => v <= 3),
    ...taxes.map(([c, v]) => t(`producer-side tax: >= 95 % of the commit rate without NOTIFY (${c} clients)`, v, 0.95, (x) => x >= 0.95)),
    t('ordering cost <= 15 %', s.ordering_cost, 0.15, (v) => v <= 0.15),
  ];
}

export function writeReport(dir, { started, finished, wall_s, machine, versions, settings, runs }) {
  const s = summarize(runs);
  const d = s.drain_rows_per_s;
  const refVersions = Object.fromEntries(ok(runs, (r) => r.scenario === 'drain' && r.system !== 'relay').map((r) => [r.system, r.result.version ?? null]));
  const json = {
    kind: settings.quick ? 'quick run (short, noisy: not the reference numbers)' : 'full run',
    started, finished, wall_s,
    machine,
    versions: { ...versions, refs: refVersions },
    settings,
    drain_rows_per_s: d,
    ratios: { relay_vs_debezium: ratio(d.relay, d.debezium), relay_vs_kafka_ceiling: ratio(d.relay, d.kafka_ceiling), relay_vs_db_ceiling: ratio(d.relay, d.db_ceiling), relay_vs_node_peer: ratio(d.relay, d.node_peer) },
    latency_ms: s.latency_ms,
    relay_rss_mb: s.relay_rss_mb,
    relay_cpu_us_per_row: s.relay_cpu_us_per_row,
    targets: targets(s, settings),
    summary: s,
    runs,
  };
  const files = [];
  const put = (name, text) => {
    writeFileSync(join(dir, name), text);
    files.push(join(dir, name));
  };
  put('latest.json', `${JSON.stringify(json, null, 1)}\n`);
  const charts = writeCharts(put, runs, s);
  put('latest.md', markdown(json, s, charts));
  return files;
}

function writeCharts(put, runs, s) {
  const charts = [];
  const bars = SYSTEMS.map((k) => ({ label: k, value: s.drain[k]?.median, min: s.drain[k]?.min, max: s.drain[k]?.max }));
  put('drain.svg', barChart({ title: 'Backlog drain, rows/s (median, min..max over rounds)', yLabel: 'rows/s', bars }));
  charts.push(['drain.svg', 'Backlog drain by system']);
  const tp = ok(runs, (r) => r.scenario === 'drain' && r.system === 'relay' && r.result.throughput);
  put('throughput.svg', lineChart({
    title: 'Relay drain: messages acknowledged per second', xLabel: 'seconds since the relay process started', yLabel: 'messages/s',
    series: tp.map((r) => ({ name: `round ${r.round + 1} ${r.variant}`, points: r.result.throughput.map(({ s: x, n }) => [x + 0.5, n]) })),
  }));
  charts.push(['throughput.svg', 'Relay drain throughput over time']);
  const lat = ok(runs, (r) => r.scenario === 'latency');
  put('latency-percentiles.svg', lineChart({
    title: 'Commit -> consume latency by percentile', xLabel: 'percentile', yLabel: 'ms (log)', xScale: 'nines', yLog: true,
    series: lat.map((r) => ({ name: `r${r.round + 1} ${r.result.offered_rows_per_s}/s`, points: r.result.latency_percentiles.map(({ p, ms }) => [p, ms]) })),
  }));
  charts.push(['latency-percentiles.svg', 'Latency percentiles at each offered rate']);
  const sus = ok(runs, (r) => r.scenario === 'sustained');
  if (sus.length) {
    put('sustained.svg', lineChart({
      title: 'Sustained steps: p99 commit -> consume by offered rate', xLabel: 'offered rows/s', yLabel: 'p99 ms (log)', yLog: true,
      series: sus.map((r) => ({ name: `round ${r.round + 1}`, points: r.result.steps.map((st) => [st.offered_rows_per_s, st.latency_ms.p99 ?? 0]) })),
    }));
    charts.push(['sustained.svg', 'p99 latency at each sustained step']);
  }
  const first1k = lat.find((r) => !r.offered_fraction_of_sustained);
  if (first1k) {
    put('latency-histogram.svg', barChart({
      title: `Commit -> consume latency histogram, ${first1k.result.offered_rows_per_s} rows/s (round ${first1k.round + 1})`, yLabel: 'rows', oneColor: true,
      bars: first1k.result.latency_histogram.filter((b) => b.n > 0 || (b.le_ms ?? 1e9) <= 30).map((b) => ({ label: b.le_ms === null ? '>5s' : `≤${b.le_ms}`, value: b.n })),
    }));
    charts.push(['latency-histogram.svg', 'Latency histogram at 1k rows/s (bucket upper bounds in ms)']);
  }
  return charts;
}

const f = (v, unit = '') => (v === null || v === undefined ? 'n/a' : `${typeof v === 'number' ? v.toLocaleString('en-US') : v}${unit}`);
const sp = (x, unit = '') => (x ? `${f(x.median, unit)} (${f(x.min)}..${f(x.max)}, n=${x.n})` : 'n/a');

function markdown(j, s, charts) {
  const L = [];
  L.push(`# outbox-relay benchmark results${j.settings.quick ? ' (QUICK RUN: short and noisy, not the reference numbers)' : ''}`, '');
  L.push(`Generated by \`npm run bench${j.settings.quick ? ' -- --quick' : ''}\` (bench/run.mjs), ${j.started} .. ${j.finished} (${j.wall_s} s). Medians over ${j.settings.rounds} rounds with (min..max, n); warm-up excluded from latency.`, '');
  L.push('## Machine and versions', '');
  const m = j.machine;
  L.push(`- CPU: ${m.cpu_model}, ${m.cpus} vCPU; memory ${m.memory_gb} GB; ${m.os}; load average at start ${m.loadavg_at_start.join(' / ')}`);
  L.push(`- outbox-relay ${j.versions.outbox_relay} (${j.versions.git_commit ?? 'no git'}), Node ${j.versions.node}, kafkajs ${j.versions.kafkajs}, PostgreSQL ${j.versions.postgresql}, Kafka ${j.versions.kafka}`);
  for (const [k, v] of Object.entries(j.versions.refs)) L.push(`- ${k}: ${v ?? 'version not reported'}`);
  L.push('- PostgreSQL, Kafka, the relay and the load generators share the machine.', '');
  L.push('## Targets', '', '| target | measured | limit | result |', '|---|---|---|---|');
  for (const t of j.targets) L.push(`| ${t.target} | ${f(t.value)} | ${t.limit} | ${t.pass === null ? 'not measured' : t.pass ? 'PASS' : 'FAIL'} |`);
  L.push('', '## Backlog drain', '', `${j.settings.rows.toLocaleString('en-US')} rows of ${j.settings.payloadBytes}-byte payloads, ${j.settings.keys} keys, ${j.settings.partitions} partitions. Relay: from process start to the broker timestamp of the last message.${j.settings.refRows?.['node-peer'] ? ` The Node peer drains ${j.settings.refRows['node-peer'].toLocaleString('en-US')} rows (it publishes one message at a time; its rows/s is compared).` : ''}`, '');
  L.push('| system | rows/s median (min..max, n) | relay ÷ system | CPU s per run (median) | peak RSS MB (median) | version |', '|---|---|---|---|---|---|');
  for (const k of SYSTEMS) {
    const rs = ok(j.runs, (r) => r.scenario === 'drain' && r.system === k && (k !== 'relay' || r.variant === 'default'));
    const ver = k === 'relay' ? j.versions.outbox_relay : j.versions.refs?.[k];
    const state = j.settings.systems.includes(k) ? '' : ' (not run)';
    L.push(`| ${k}${state} | ${sp(s.drain[k])} | ${k === 'relay' ? '' : f(ratio(s.drain.relay?.median, s.drain[k]?.median))} | ${f(med(rs.map((r) => r.result.cpu_s)))} | ${f(med(rs.map((r) => r.result.peak_rss_mb)))} | ${f(ver)} |`);
  }
  const notRun = SYSTEMS.filter((k) => !j.settings.systems.includes(k));
  if (notRun.length) L.push('', `Not run: ${notRun.join(', ')}${j.settings.quick && notRun.includes('debezium') ? ' (Debezium is left out of --quick unless --only names it)' : ''}.`);
  const rv = ok(j.runs, (r) => r.scenario === 'drain' && r.system === 'relay');
  if (rv.length) {
    L.push('', '| relay variant | round | rows/s | start-up s | CPU µs/row (drain) | CPU µs/row (incl. start-up) | peak RSS MB |', '|---|---|---|---|---|---|---|');
    for (const r of rv) L.push(`| ${r.variant} | ${r.round + 1} | ${f(r.result.rows_per_s)} | ${r.result.startup_s} | ${r.result.cpu_us_per_row} | ${r.result.cpu_us_per_row_incl_startup} | ${r.result.peak_rss_mb} |`);
  }
  L.push('', '## Latency (commit -> consume)', '', 'Offered load from a worker thread (single-row transactions at 1k rows/s; multi-row transactions from several connections above), latency from the COMMIT returning to a kafkajs consumer receiving the row (the targets use this, an upper bound of commit -> ack); "to broker append" stops at the broker\'s LogAppendTime instead (millisecond resolution).', '');
  L.push('| round | offered rows/s | achieved rows/s | rows/tx × connections | p50 ms | p99 ms | p99.9 ms | max ms | p50 / p99 to broker append ms | backlog at end |', '|---|---|---|---|---|---|---|---|---|---|');
  for (const r of ok(j.runs, (x) => x.scenario === 'latency')) {
    const x = r.result;
    const a = x.latency_to_append_ms ?? {};
    L.push(`| ${r.round + 1} | ${f(x.offered_rows_per_s)}${r.offered_fraction_of_sustained ? ` (${r.variant} of ${f(r.under_load_base?.rate)}, the ${r.under_load_base?.of})` : ''} | ${f(x.achieved_rows_per_s)} | ${x.rows_per_tx} × ${x.connections} | ${f(x.latency_ms.p50)} | ${f(x.latency_ms.p99)} | ${f(x.latency_ms.p999)} | ${f(x.latency_ms.max)} | ${f(a.p50)} / ${f(a.p99)} | ${f(x.backlog_at_end)} |`);
  }
  L.push('', '## Sustained rate (stepped offered load)', '', 'A step passes when the producer achieved ≥ 99 % of the offer, ≥ 99 % of the rows arrived, the backlog left at the end of the load is under one second of rows and p99 ≤ 100 ms.', '');
  L.push(`Highest passing step: ${sp(s.sustained_rows_per_s, ' rows/s')}`, '', '| offered rows/s | passed rounds | achieved rows/s | p99 ms | backlog at end |', '|---|---|---|---|---|');
  for (const [rate, x] of Object.entries(s.sustained_steps)) L.push(`| ${f(Number(rate))} | ${x.passed_rounds}/${x.rounds} | ${sp(x.achieved_rows_per_s)} | ${sp(x.p99_ms)} | ${sp(x.backlog_at_end)} |`);
  L.push('', '## Wake-up (idle relay, one row)', '', `| strategy | p50 ms (min..max over rounds) |`, '|---|---|');
  L.push(`| LISTEN/NOTIFY | ${sp(s.wakeup_ms.notify)} |`, `| poll only (1 s poll) | ${sp(s.wakeup_ms.poll_only)} |`);
  L.push('', '## Producer-side tax (pgbench, one outbox row per transaction)', '', '| clients | tps with the NOTIFY trigger | tps without | ratio |', '|---|---|---|---|');
  for (const [c, x] of Object.entries(s.producer_tax)) L.push(`| ${c} | ${sp(x.notify_tps)} | ${sp(x.no_notify_tps)} | ${sp(x.ratio)} |`);
  L.push('', '## Replicas and ordering cost', '', `${f(j.settings.replicaRows)} rows, 6 partitions, from the start of the relay processes until the outbox is empty.`, '', '| variant | rows/s |', '|---|---|');
  for (const [k, x] of Object.entries(s.replicas)) L.push(`| ${k} | ${sp(x)} |`);
  L.push('', `Ordering cost (1 replica, 1 - keyed ÷ keyless): ${s.ordering_cost === null ? 'n/a' : `${round(s.ordering_cost * 100, 1)} %`}`);
  L.push('', '## Charts', '');
  for (const [file, title] of charts) L.push(`![${title}](${file})`, '');
  const failed = j.runs.filter((r) => !r.ok);
  L.push('## Failed or missing runs', '');
  if (failed.length === 0) L.push('None.');
  for (const r of failed) L.push(`- round ${r.round + 1} ${r.scenario} ${r.system}${r.variant ? ` (${r.variant})` : ''}: ${r.error}`);
  L.push('', '## Settings', '', '```json', JSON.stringify(j.settings, null, 1), '```', '');
  return L.join('\n');
}
