#!/usr/bin/env node
// Drain with 1, 2 and 3 relay processes on one outbox, keyed rows (per-key order kept) against keyless
// rows (no order to keep: the claim's ordering checks skip them), interleaved over rounds on the same
// PostgreSQL and Kafka. Each run: preload N rows of 200-byte payloads (keyed: 1,000 keys), start R
// relay processes (bin/outbox-relay run), time from their start until the backlog is empty.
//   node bench/replicas.mjs [rows=100000] [rounds=3]
// Needs `npm run build` and the stack (npm run stack:up). Prints one JSON line per run and a summary
// table; appends the runs to bench/results/replicas.jsonl.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { appendFileSync } from 'node:fs';
import pg from 'pg';
import { createLogger, migrate, outboxNames } from '../dist/index.js';
import { createTopic, deleteTopic } from './lib/kafka.mjs';
import { median, preloadRelayOutbox, stackEnv } from './lib/pg.mjs';

const rows = Number(process.argv[2] ?? 100_000);
const rounds = Number(process.argv[3] ?? 3);
const stack = stackEnv();
const brokers = stack.KAFKA_BROKERS.split(',');
const log = createLogger('silent');
const variants = [];
for (const replicas of [1, 2, 3]) for (const keyed of [true, false]) variants.push({ replicas, keyed, name: `${replicas} replica${replicas > 1 ? 's' : ''}, ${keyed ? 'keyed (ordered)' : 'keyless (unordered)'}` });
const pool = new pg.Pool({ connectionString: stack.DATABASE_URL, max: 2 });
const results = {};
const started = new Date().toISOString();

function spawnRelay(schema) {
  const child = spawn('bin/outbox-relay', ['run'], {
    env: { ...process.env, DATABASE_URL: stack.DATABASE_URL, KAFKA_BROKERS: stack.KAFKA_BROKERS, OUTBOX_SCHEMA: schema, OUTBOX_HTTP_ADDR: 'off', LOG_LEVEL: 'warn', OUTBOX_POLL_INTERVAL_MS: '200', OUTBOX_LEASE_TTL_MS: '2000' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return child;
}

for (let round = 0; round < rounds; round++) {
  for (const v of variants) {
    const schema = `bench_${randomBytes(4).toString('hex')}`;
    const topic = `bench.${schema}`;
    await createTopic(brokers, topic, 6);
    const names = outboxNames(schema, 'outbox');
    await migrate(pool, names, log);
    await preloadRelayOutbox(pool, names, { topic, rows, payloadBytes: 200, keys: v.keyed ? 1000 : 0 });
    const t0 = performance.now();
    const children = Array.from({ length: v.replicas }, () => spawnRelay(schema));
    for (;;) {
      const r = await pool.query(`SELECT count(*)::int AS n FROM ${names.outbox}`);
      if (r.rows[0].n === 0) break;
      await new Promise((res) => setTimeout(res, 50));
    }
    const seconds = (performance.now() - t0) / 1000;
    await Promise.all(children.map((c) => new Promise((res) => { c.on('exit', res); c.kill('SIGTERM'); })));
    const run = { bench: 'replicas', round, variant: v.name, replicas: v.replicas, keyed: v.keyed, rows, seconds: Math.round(seconds * 100) / 100, rowsPerSecond: Math.round(rows / seconds), at: new Date().toISOString() };
    console.log(JSON.stringify(run));
    appendFileSync(new URL('./results/replicas.jsonl', import.meta.url), `${JSON.stringify(run)}\n`);
    (results[v.name] ??= []).push(run.rowsPerSecond);
    await pool.query(`DROP SCHEMA ${schema} CASCADE`);
    await deleteTopic(brokers, topic);
  }
}
await pool.end();
console.log(`\nreplicas bench, ${rows} rows, ${rounds} rounds, started ${started} (start of the processes to empty backlog; medians, rows/s)`);
console.log('| replicas | keyed (ordered) | keyless (unordered) | ordering cost |');
console.log('|---|---|---|---|');
for (const r of [1, 2, 3]) {
  const k = median(results[`${r} replica${r > 1 ? 's' : ''}, keyed (ordered)`]);
  const u = median(results[`${r} replica${r > 1 ? 's' : ''}, keyless (unordered)`]);
  console.log(`| ${r} | ${k} | ${u} | ${Math.round((1 - k / u) * 1000) / 10} % |`);
}
