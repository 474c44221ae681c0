#!/usr/bin/env node
// Backlog drain (BENCHMARKS.md M1, quick form) for choosing defaults by measurement:
// preload N rows of 200-byte payloads, start the relay in-process, time until the backlog is empty.
// Variants run interleaved, several rounds, on the same PostgreSQL and Kafka:
//   node bench/drain.mjs [rows=100000] [rounds=3]
// Needs `npm run build` and the stack (npm run stack:up). Prints one JSON line per run and a summary.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createLogger, loadConfig, migrate, outboxNames, Relay } from '../dist/index.js';
import { createTopic, deleteTopic } from './lib/kafka.mjs';
import { median, preloadRelayOutbox, stackEnv } from './lib/pg.mjs';

const rows = Number(process.argv[2] ?? 100_000);
const rounds = Number(process.argv[3] ?? 3);
const stack = stackEnv();
const brokers = stack.KAFKA_BROKERS.split(',');
const log = createLogger('silent');
const variants = [
  { name: 'delete, batch 500', OUTBOX_ON_PUBLISH: 'delete', OUTBOX_BATCH_SIZE: '500' },
  { name: 'mark, batch 500', OUTBOX_ON_PUBLISH: 'mark', OUTBOX_BATCH_SIZE: '500' },
  { name: 'delete, batch 2000', OUTBOX_ON_PUBLISH: 'delete', OUTBOX_BATCH_SIZE: '2000' },
  { name: 'delete, batch 100', OUTBOX_ON_PUBLISH: 'delete', OUTBOX_BATCH_SIZE: '100' },
];
const pool = new pg.Pool({ connectionString: stack.DATABASE_URL, max: 2 });
const results = {};

for (let round = 0; round < rounds; round++) {
  for (const v of variants) {
    const schema = `bench_${randomBytes(4).toString('hex')}`;
    const topic = `bench.${schema}`;
    await createTopic(brokers, topic, 3);
    const names = outboxNames(schema, 'outbox');
    await migrate(pool, names, log);
    await preloadRelayOutbox(pool, names, { topic, rows, payloadBytes: 200, keys: 1000 });
    const config = loadConfig('run', {
      env: { DATABASE_URL: stack.DATABASE_URL, KAFKA_BROKERS: stack.KAFKA_BROKERS, OUTBOX_SCHEMA: schema, LOG_LEVEL: 'silent', ...v },
    });
    const relay = new Relay(config, log);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    void relay.run();
    for (;;) {
      const { rows: r } = await pool.query(`SELECT EXISTS (SELECT 1 FROM ${names.outbox} WHERE sent_at IS NULL) AS more`);
      if (!r[0].more) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    await relay.stop();
    const rate = rows / seconds;
    const line = { variant: v.name, round, rows, seconds: +seconds.toFixed(2), rowsPerSecond: Math.round(rate), cpuMicrosPerRow: +((cpu.user + cpu.system) / rows).toFixed(1) };
    console.log(JSON.stringify(line));
    (results[v.name] ??= []).push(rate);
    await pool.query(`DROP SCHEMA ${schema} CASCADE`);
    await deleteTopic(brokers, topic);
  }
}
console.log('\nvariant               median rows/s   min..max');
for (const [name, rates] of Object.entries(results)) {
  console.log(`${name.padEnd(22)}${String(Math.round(median(rates))).padStart(13)}   ${Math.round(Math.min(...rates))}..${Math.round(Math.max(...rates))}`);
}
await pool.end();
