// Database ceiling of the claim designs (docs/claim-design.md): SQL only, no Kafka.
// Each run renders sql/migrations/000001_outbox.sql into a fresh schema, preloads a backlog of
// <rows> rows with 200-byte payloads, VACUUM ANALYZE + CHECKPOINT, then drains it from one connection
// and prints one JSON line: rows/s, per-batch transaction times, WAL bytes per row, client CPU per row.
//
//   node bench/sql/claim-bench.mjs <variant> [rows=200000] [batch=500]
//   variant:
//     delete        chosen design, --on-publish=delete: BEGIN; SET LOCAL timeouts; SELECT … ORDER BY seq
//                   LIMIT n FOR UPDATE SKIP LOCKED; DELETE … WHERE seq = ANY(ids); COMMIT
//     mark          chosen design, --on-publish=mark: same, with UPDATE … SET sent_at = now()
//     lease-delete  lease alternative: tx 1 UPDATE … SET lease_until = now()+30s, claimed_by = 'x'
//                   WHERE seq IN (SELECT … FOR UPDATE SKIP LOCKED) RETURNING …; tx 2 DELETE … WHERE
//                   seq = ANY(ids) AND claimed_by = 'x' (each statement its own transaction)
//     lease-mark    the same, tx 2 UPDATE … SET sent_at = now()
// The claim SELECT/RETURNING lists the columns the relay fetches (src/sql/claimBatch.ts), so payloads
// cross the wire as they would. Connection: PG* environment (default 127.0.0.1:5432 postgres/postgres).
import { readFileSync } from 'node:fs';
import pg from '../../node_modules/pg/lib/index.js';

const [variant, rowsArg, batchArg] = process.argv.slice(2);
const VARIANTS = ['delete', 'mark', 'lease-delete', 'lease-mark'];
if (!VARIANTS.includes(variant)) {
  console.error(`usage: claim-bench.mjs <${VARIANTS.join('|')}> [rows] [batch]`);
  process.exit(2);
}
const total = Number(rowsArg ?? 200_000);
const batch = Number(batchArg ?? 500);
const lease = variant.startsWith('lease');
const complete = variant.endsWith('delete') ? 'delete' : 'mark';
const schema = `bench_claim_${variant.replace('-', '_')}`;
const t = `"${schema}".outbox`;

const client = new pg.Client({
  host: process.env.PGHOST ?? '127.0.0.1',
  port: Number(process.env.PGPORT ?? 5432),
  user: process.env.PGUSER ?? 'postgres',
  database: process.env.PGDATABASE ?? 'postgres',
  application_name: `bench-claim-${variant}`,
});
await client.connect();

// ---- setup: the shipped migration, rendered into a fresh schema ----
const migration = readFileSync(new URL('../../sql/migrations/000001_outbox.sql', import.meta.url), 'utf8')
  .replaceAll('{{outbox}}', t)
  .replaceAll('{{pending_idx}}', '"outbox_pending_idx"')
  .replaceAll('{{wakeup}}', `"${schema}".outbox_wakeup`)
  .replaceAll('{{notify_fn}}', `"${schema}".outbox_notify`)
  .replaceAll('{{notify_trg}}', '"outbox_notify"')
  .replaceAll('{{channel}}', `'${schema}.outbox'`);
await client.query(`SET client_min_messages = warning; DROP SCHEMA IF EXISTS "${schema}" CASCADE; CREATE SCHEMA "${schema}"`);
await client.query(migration);
if (lease) await client.query(`ALTER TABLE ${t} ADD COLUMN lease_until timestamptz NULL, ADD COLUMN claimed_by text NULL`);
await client.query(`INSERT INTO ${t} (topic, key, payload)
  SELECT 't', 'k' || (i % 1000), convert_to(repeat('x', 200), 'UTF8') FROM generate_series(1, $1::int) i`, [total]);
await client.query(`VACUUM ANALYZE ${t}`);
await client.query('CHECKPOINT');

// ---- the statements ----
const COLS = 'seq, id, topic, key, payload, headers';
const CLAIM = `SELECT ${COLS} FROM ${t} WHERE sent_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED`;
const DELETE = `DELETE FROM ${t} WHERE seq = ANY($1::bigint[])`;
const MARK = `UPDATE ${t} SET sent_at = now() WHERE seq = ANY($1::bigint[])`;
const LEASE_CLAIM = `UPDATE ${t} SET lease_until = now() + interval '30 seconds', claimed_by = $2
  WHERE seq IN (SELECT seq FROM ${t} WHERE sent_at IS NULL AND (lease_until IS NULL OR lease_until < now())
                ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED)
  RETURNING ${COLS}`;
const LEASE_DELETE = `DELETE FROM ${t} WHERE seq = ANY($1::bigint[]) AND claimed_by = $2`;
const LEASE_MARK = `UPDATE ${t} SET sent_at = now() WHERE seq = ANY($1::bigint[]) AND claimed_by = $2`;
// The relay bounds its claim transaction (src/relay/relay.ts #claim); same statement here.
const BEGIN = `BEGIN; SET LOCAL statement_timeout = 30000; SET LOCAL idle_in_transaction_session_timeout = 40000`;
const me = 'x';

// ---- drain ----
const walStart = (await client.query('SELECT pg_current_wal_insert_lsn() AS l')).rows[0].l;
const txMs = []; // per batch: the time the batch's rows are locked (chosen) / both transactions (lease)
let drained = 0;
let batches = 0;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
for (;;) {
  const b0 = performance.now();
  let ids;
  if (!lease) {
    await client.query(BEGIN);
    const r = await client.query({ text: CLAIM, values: [batch], name: 'claim' });
    if (r.rowCount === 0) { await client.query('COMMIT'); break; }
    ids = r.rows.map((row) => row.seq);
    await client.query({ text: complete === 'delete' ? DELETE : MARK, values: [ids], name: 'complete' });
    await client.query('COMMIT');
  } else {
    const r = await client.query({ text: LEASE_CLAIM, values: [batch, me], name: 'claim' });
    if (r.rowCount === 0) break;
    ids = r.rows.map((row) => row.seq);
    const d = await client.query({ text: complete === 'delete' ? LEASE_DELETE : LEASE_MARK, values: [ids, me], name: 'complete' });
    if (d.rowCount !== ids.length) throw new Error(`lease lost: ${d.rowCount} of ${ids.length}`);
  }
  txMs.push(performance.now() - b0);
  drained += ids.length;
  batches += 1;
}
const seconds = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
const walBytes = Number((await client.query(`SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), $1) AS d`, [walStart])).rows[0].d);
const left = Number((await client.query(`SELECT count(*) AS n FROM ${t} WHERE sent_at IS NULL`)).rows[0].n);
await client.query(`SET client_min_messages = warning; DROP SCHEMA "${schema}" CASCADE`);
await client.end();

txMs.sort((a, b) => a - b);
const pct = (p) => Math.round(txMs[Math.min(txMs.length - 1, Math.floor((p / 100) * txMs.length))] * 100) / 100;
console.log(JSON.stringify({
  variant, rows: total, batch, drained, leftPending: left, batches,
  seconds: Math.round(seconds * 1000) / 1000,
  rowsPerSec: Math.round(drained / seconds),
  batchMsP50: pct(50), batchMsP99: pct(99), batchMsMax: pct(100),
  walBytesPerRow: Math.round(walBytes / drained),
  clientCpuUsPerRow: Math.round(((cpu.user + cpu.system) / drained) * 100) / 100,
}));
