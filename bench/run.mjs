#!/usr/bin/env node
// npm run bench: outbox-relay against Kafka's own producer, the SQL-only ceiling, Debezium and a Node
// peer on the same PostgreSQL and Kafka, interleaved over rounds; writes bench/results/latest.json and
// latest.md with SVG charts. `node bench/run.mjs --help` explains the options.
import { mkdirSync, readFileSync } from 'node:fs';
import { BenchEnv, ROOT, machine, stackUp, versions } from './harness/env.mjs';
import { HELP, UsageError, parseArgs } from './harness/options.mjs';
import { LIVE } from './harness/relay-process.mjs';
import { writeReport } from './harness/report.mjs';
import { drainRelay } from './scenarios/drain.mjs';
import { latencyAt, sustained } from './scenarios/latency.mjs';
import { TAX_VARIANTS, producerTax } from './scenarios/producer-tax.mjs';
import { drainRef } from './scenarios/refs.mjs';
import { REPLICA_VARIANTS, replicas } from './scenarios/replicas.mjs';
import { WAKEUP_VARIANTS, wakeup } from './scenarios/wakeup.mjs';

let args;
try {
  args = parseArgs(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof UsageError)) throw err;
  process.stderr.write(`bench: ${err.message}\n`);
  process.exit(2);
}
if (args.help) {
  console.log(HELP);
  process.exit(0);
}
const { settings } = args;
const outDir = args.out ?? `${ROOT}bench/results`;
mkdirSync(outDir, { recursive: true });
if (args.from) {
  let j;
  try {
    j = JSON.parse(readFileSync(args.from, 'utf8'));
  } catch (err) {
    process.stderr.write(`bench: --from ${args.from}: cannot read it as JSON (${err.message}); give a latest.json written by this bench\n`);
    process.exit(2);
  }
  console.log(writeReport(outDir, j).join('\n'));
  process.exit(0);
}

const t0 = Date.now();
const clock = () => {
  const s = Math.round((Date.now() - t0) / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
};
let phase = '';
const say = (msg) => process.stderr.write(`[${clock()}] ${msg}\n`);
let lastProgress = 0;
const ctx = {
  say,
  progress: (msg) => {
    if (Date.now() - lastProgress < 1000) return;
    lastProgress = Date.now();
    say(`  ${phase}: ${msg}`);
  },
};

say(`bench: ${settings.quick ? 'quick, ' : ''}${settings.rounds} rounds, ${settings.rows} rows per drain; systems ${settings.systems.join(', ')}; scenarios ${settings.scenarios.join(', ')}`);
const stack = stackUp();
const env = new BenchEnv(stack);
await env.connect();
ctx.env = env;
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, async () => {
    say(`${sig}: stopping ${LIVE.size} relay process(es), dropping this run's schemas and topics; no report written`);
    await Promise.all([...LIVE].map((r) => r.stop()));
    await env.close();
    process.exit(130);
  });
}
ctx.opts = settings;
const runs = [];
const machineInfo = machine();
const started = new Date().toISOString();

/** Run one measurement, record it (or its error) in runs[]; never throws. */
async function record(meta, fn) {
  phase = `round ${meta.round + 1}/${settings.rounds} ${meta.scenario} ${meta.system}${meta.variant ? ` (${meta.variant})` : ''}`;
  say(phase);
  const at = new Date().toISOString();
  try {
    const result = await fn();
    runs.push({ ...meta, ok: true, at, result });
    return result;
  } catch (err) {
    say(`  ${phase}: FAILED ${err.message}`);
    runs.push({ ...meta, ok: false, at, error: String(err.message ?? err) });
    return undefined;
  }
}

const rotate = (xs, k) => xs.map((_, i) => xs[(i + k) % xs.length]);
const has = (s) => settings.scenarios.includes(s);
const relayOn = settings.systems.includes('relay');

try {
  for (let round = 0; round < settings.rounds; round++) {
    if (has('drain')) {
      for (const system of rotate(settings.systems, round)) {
        if (system === 'relay') {
          for (const variant of settings.drainVariants) {
            const r = await record({ round, scenario: 'drain', system, variant }, () => drainRelay(ctx, variant));
            if (r) say(`  → ${r.rows_per_s} rows/s, ${r.cpu_us_per_row} µs CPU/row, peak RSS ${r.peak_rss_mb} MB`);
          }
        } else {
          const r = await record({ round, scenario: 'drain', system }, () => drainRef(ctx, system, round));
          if (r) say(`  → ${Math.round(r.rows_per_s)} rows/s`);
        }
      }
    }
    if (!relayOn || round < settings.rounds - settings.scenarioRounds) continue;
    if (has('latency')) {
      const { rate, seconds, warmupS } = settings.latency;
      await record({ round, scenario: 'latency', system: 'relay', variant: `${rate} rows/s` }, async () => (await latencyAt(ctx, [rate], { seconds, warmupS }))[0]);
    }
    let best = 0;
    if (has('sustained')) {
      const { steps, seconds, warmupS } = settings.sustained;
      const r = await record({ round, scenario: 'sustained', system: 'relay' }, () => sustained(ctx, steps, { seconds, warmupS }));
      best = r?.highest_passing_rows_per_s ?? 0;
      if (r) say(`  → highest passing step ${best} rows/s`);
    }
    if (has('latency')) {
      // "under load" is a share of the highest passing sustained step; when no step passed (or sustained
      // was not run), of this round's relay drain rate, the other measure of its capacity
      const drainRate = runs.find((r) => r.ok && r.round === round && r.scenario === 'drain' && r.system === 'relay' && r.variant === 'default')?.result.rows_per_s;
      const base = best > 0 ? { rate: best, of: 'highest passing sustained step' } : drainRate ? { rate: drainRate, of: 'relay drain rate (no sustained step passed)' } : undefined;
      const { fractions, seconds, warmupS } = settings.underLoad;
      for (const f of base ? fractions : []) {
        const rate = Math.max(100, Math.round((base.rate * f) / 100) * 100);
        await record({ round, scenario: 'latency', system: 'relay', variant: `under load ${Math.round(f * 100)} %`, offered_fraction_of_sustained: f, under_load_base: base }, async () => (await latencyAt(ctx, [rate], { seconds, warmupS }))[0]);
      }
    }
    if (has('wakeup')) {
      for (const variant of rotate(Object.keys(WAKEUP_VARIANTS), round)) {
        await record({ round, scenario: 'wakeup', system: 'relay', variant }, () => wakeup(ctx, variant, settings.wakeup[variant]));
      }
    }
    if (has('producer-tax')) {
      for (const clients of settings.tax.clients) {
        for (const variant of rotate(Object.keys(TAX_VARIANTS), round)) {
          await record({ round, scenario: 'producer-tax', system: 'relay', variant, clients }, () => producerTax(ctx, variant, clients, settings.tax.seconds));
        }
      }
    }
    if (has('replicas')) {
      for (const v of rotate(REPLICA_VARIANTS, round)) {
        const r = await record({ round, scenario: 'replicas', system: 'relay', variant: v.name }, () => replicas(ctx, v));
        if (r) say(`  → ${r.rows_per_s} rows/s`);
      }
    }
  }
} finally {
  await env.close();
}

const meta = { started, finished: new Date().toISOString(), wall_s: Math.round((Date.now() - t0) / 1000), machine: machineInfo, versions: await versionsSafe() };
const files = writeReport(outDir, { ...meta, settings, runs });
say(`wrote ${files.join(', ')} in ${clock()}`);

async function versionsSafe() {
  const e = new BenchEnv(stack);
  try {
    return await versions(e);
  } finally {
    await e.close();
  }
}
