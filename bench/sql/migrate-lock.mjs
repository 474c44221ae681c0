#!/usr/bin/env node
// How long does `migrate` (migration 1 → 2) hold up the application's writers on a large, busy
// outbox? Creates an outbox at version 1 with N rows (default 1,000,000), starts a writer that
// commits one-row INSERT transactions back to back, runs the migration in the middle, and reports
// the writer's insert latencies before, during and after, plus the migration's own duration.
//   node bench/sql/migrate-lock.mjs [rows=1000000]
// Needs `npm run build` and PostgreSQL (DATABASE_URL or the local stack's 127.0.0.1:5432).
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createLogger, loadMigrations, migrate, outboxNames } from '../../dist/index.js';

const rows = Number(process.argv[2] ?? 1_000_000);
const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const schema = `bench_mig_${randomBytes(3).toString('hex')}`;
const names = outboxNames(schema, 'outbox');
const log = createLogger('silent');
const pool = new pg.Pool({ connectionString: url, max: 2 });

await migrate(pool, names, log, { migrations: loadMigrations().slice(0, 1) });
let t = performance.now();
await pool.query(
  `INSERT INTO ${names.outbox} (topic, key, payload, headers)
   SELECT 'bench', 'key-' || (g % 1000), convert_to(repeat('x', 200), 'UTF8'), '{"type":"Bench"}' FROM generate_series(1, $1) g`,
  [rows],
);
await pool.query(`VACUUM ANALYZE ${names.outbox}`);
console.error(`loaded ${rows} rows in ${((performance.now() - t) / 1000).toFixed(1)} s`);

const writer = new pg.Client({ connectionString: url });
await writer.connect();
const samples = []; // [startMs, latencyMs]
let phase = 'before';
let stop = false;
const loop = (async () => {
  while (!stop) {
    const s = performance.now();
    await writer.query(`INSERT INTO ${names.outbox} (topic, key, payload) VALUES ('bench', 'w', '\\x00')`);
    samples.push({ phase, ms: performance.now() - s });
  }
})();
await new Promise((r) => setTimeout(r, 3000));
phase = 'during';
t = performance.now();
const result = await migrate(pool, names, log);
const migrationMs = performance.now() - t;
phase = 'after';
await new Promise((r) => setTimeout(r, 3000));
stop = true;
await loop;

const stats = (p) => {
  const ms = samples.filter((s) => s.phase === p).map((s) => s.ms).sort((a, b) => a - b);
  const q = (f) => ms[Math.min(ms.length - 1, Math.floor(f * ms.length))] ?? NaN;
  return { inserts: ms.length, p50: +q(0.5).toFixed(2), p99: +q(0.99).toFixed(2), max: +(ms.at(-1) ?? NaN).toFixed(2) };
};
console.log(
  JSON.stringify({
    rows,
    applied: result.applied,
    migrationMs: +migrationMs.toFixed(1),
    writerMs: { before: stats('before'), during: stats('during'), after: stats('after') },
    postgres: (await pool.query('SHOW server_version')).rows[0].server_version,
  }),
);
await writer.end();
await pool.query(`DROP SCHEMA ${schema} CASCADE`);
await pool.end();
