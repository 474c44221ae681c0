#!/usr/bin/env node
// Compression (KAFKA_COMPRESSION) measured: preload N rows of ~200-byte JSON payloads, drain them with
// each codec in-process, and record the time and the bytes Kafka stored for the topic (its log
// segments: record batches are stored as the producer sent them, so this is the bytes on the wire
// minus request framing). Runs against the plaintext listener of stack/secure-broker.sh, whose data
// directory this script can read. Variants interleave, several rounds:
//   node bench/compression.mjs [rows=50000] [rounds=2]
// Needs `npm run build`, PostgreSQL (npm run stack:up) and stack/secure-broker.sh up.
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import kafkajs from 'kafkajs';
import pg from 'pg';
import { createLogger, loadConfig, migrate, outboxNames, Relay } from '../dist/index.js';
import { median, stackEnv } from './lib/pg.mjs';

const rows = Number(process.argv[2] ?? 50_000);
const rounds = Number(process.argv[3] ?? 2);
const secure = stackEnv(['stack/secure-broker.sh', 'up']);
const brokers = secure.SECURE_PLAINTEXT;
const dataDir = join(dirname(secure.SECURE_CERTS), 'data');
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const log = createLogger('silent');
const codecs = ['none', 'gzip', 'lz4', 'zstd', 'snappy'];
const kafka = new kafkajs.Kafka({ clientId: 'bench', brokers: [brokers], logLevel: kafkajs.logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
const results = {};

/** Bytes of the topic's log segments, all partitions. */
function storedBytes(topic) {
  let total = 0;
  for (const dir of readdirSync(dataDir).filter((d) => d.startsWith(`${topic}-`))) {
    for (const f of readdirSync(join(dataDir, dir)).filter((f) => f.endsWith('.log'))) total += statSync(join(dataDir, dir, f)).size;
  }
  return total;
}

let payloadBytes = 0;
for (let round = 0; round < rounds; round++) {
  for (const codec of codecs) {
    const schema = `bench_${randomBytes(4).toString('hex')}`;
    const topic = `bench.${schema}`;
    await admin.createTopics({ topics: [{ topic, numPartitions: 3, replicationFactor: 1 }], waitForLeaders: true });
    await new Promise((res) => setTimeout(res, 500)); // let the new leaders settle before the relay asks for metadata
    const names = outboxNames(schema, 'outbox');
    await migrate(pool, names, log);
    // ~200-byte order events: repetitive keys and enums, varying ids, amounts, times and a hash.
    await pool.query(
      `INSERT INTO ${names.outbox} (topic, key, payload)
       SELECT $1, 'order-' || (g % 1000),
              convert_to(json_build_object(
                'type', 'OrderStatusChanged', 'orderId', 'order-' || g, 'customerId', 'cust-' || (g % 5000),
                'status', (ARRAY['created','paid','shipped','delivered'])[1 + g % 4], 'amount', round((g % 10000) / 100.0, 2),
                'currency', 'EUR', 'sku', 'SKU-' || lpad((g % 997)::text, 5, '0'), 'qty', 1 + g % 5,
                'at', to_char(timestamp '2026-01-01' + g * interval '1 second', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                'trace', md5(g::text))::text, 'UTF8')
       FROM generate_series(1, $2) g`,
      [topic, rows],
    );
    payloadBytes = Number((await pool.query(`SELECT avg(length(payload)) AS b FROM ${names.outbox}`)).rows[0].b);
    await pool.query(`VACUUM ANALYZE ${names.outbox}`);
    const config = loadConfig('run', {
      env: { DATABASE_URL: databaseUrl, KAFKA_BROKERS: brokers, OUTBOX_SCHEMA: schema, LOG_LEVEL: 'silent', KAFKA_COMPRESSION: codec, OUTBOX_HTTP_ADDR: 'off' },
    });
    const relay = new Relay(config, log);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    void relay.run();
    for (;;) {
      const { rows: r } = await pool.query(`SELECT EXISTS (SELECT 1 FROM ${names.outbox}) AS more`);
      if (!r[0].more) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    const seconds = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    await relay.stop();
    const bytes = storedBytes(topic);
    const run = { codec, round, rows, seconds: +seconds.toFixed(2), rowsPerSecond: Math.round(rows / seconds), cpuSeconds: +((cpu.user + cpu.system) / 1e6).toFixed(2), storedBytes: bytes, bytesPerRow: +(bytes / rows).toFixed(1) };
    console.log(JSON.stringify(run));
    (results[codec] ??= []).push(run);
    await pool.query(`DROP SCHEMA "${schema}" CASCADE`);
  }
}
console.log(`\npayload: ${payloadBytes.toFixed(0)} bytes on average; ${rows} rows per run; median of ${rounds} rounds`);
console.log('| codec | rows/s | relay CPU s | bytes stored per row | vs none |');
console.log('|---|---|---|---|---|');
const noneBytes = median(results.none.map((r) => r.bytesPerRow));
for (const codec of codecs) {
  const rs = results[codec];
  const b = median(rs.map((r) => r.bytesPerRow));
  console.log(`| ${codec} | ${median(rs.map((r) => r.rowsPerSecond))} | ${median(rs.map((r) => r.cpuSeconds))} | ${b} | ${((b / noneBytes) * 100).toFixed(0)}% |`);
}
await admin.disconnect();
await pool.end();
