#!/usr/bin/env node
// Reference "db-ceiling": the relay's database work alone, no Kafka. On a fresh schema migrated by the
// relay's own `migrate` (dist/index.js), with N preloaded rows (payload-bytes, --keys keys), one
// connection runs the relay's exact statements from the built dist (src/sql/claimBatch.ts,
// src/mapping/source.ts) in a tight loop, with the relay's default settings from loadConfig:
//   BEGIN; SET LOCAL …; owns-a-lease check   (beginClaimSql)
//   claim up to batch-size rows               (claimBatchSql: FOR UPDATE SKIP LOCKED, key order checks)
//   DELETE the claimed rows                   (deleteSentSql, --on-publish=delete)
//   COMMIT
// until a claim comes back empty. This process holds every key partition's lease (migration 3), as a
// single relay does. delivered = rows claimed and deleted; seconds = the loop's time (preload excluded).
// peak_rss_mb/cpu_s: this process during the loop; db_backend_cpu_s: its PostgreSQL backend's CPU
// (read from /proc, so only when the server runs on this machine and /proc is readable).
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { createLogger, loadConfig, migrate, outboxNames } from '../../dist/index.js';
import { NATIVE_MAPPING } from '../../dist/mapping/definition.js';
import { deleteSentSql } from '../../dist/mapping/source.js';
import { beginClaimSql, claimBatchSql } from '../../dist/sql/claimBatch.js';
import { applyLeasesSql, heartbeatSql } from '../../dist/sql/leases.js';
import { PARTITIONS } from '../../dist/leases/assign.js';
import { main, onCleanup, progress, round } from '../lib/cli.mjs';
import { preloadRelayOutbox } from '../lib/pg.mjs';
import { cpuSeconds, sampleTree } from '../lib/proc.mjs';

await main('db-ceiling', {}, async (args) => {
  const version = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
  const schema = `bench_dbc_${args.suffix}`;
  const config = loadConfig('run', { env: { DATABASE_URL: args.databaseUrl, KAFKA_BROKERS: args.brokers.join(','), OUTBOX_SCHEMA: schema } });
  const names = outboxNames(schema, config.table);
  const pool = new pg.Pool({ connectionString: args.databaseUrl, max: 2, application_name: 'bench-db-ceiling' });
  onCleanup(() => pool.end());
  await migrate(pool, names, createLogger('silent'));
  onCleanup(() => pool.query(`DROP SCHEMA "${schema}" CASCADE`));
  progress(`preloading ${args.rows} rows into ${schema}.${config.table}`);
  await preloadRelayOutbox(pool, names, { topic: args.topic, rows: args.rows, payloadBytes: args.payloadBytes, keys: args.keys });
  await pool.query('CHECKPOINT');

  const relayId = `bench-db-ceiling-${process.pid}`;
  const all = Array.from({ length: PARTITIONS }, (_, i) => i);
  const ttlMs = 3_600_000; // one lease for the whole run: a real relay renews it from its heartbeat timer
  await pool.query(heartbeatSql(names), [relayId, ttlMs]);
  const leased = await pool.query(applyLeasesSql(names), [relayId, all, ttlMs]);
  if (leased.rows[0].owned.length !== PARTITIONS) throw new Error(`took ${leased.rows[0].owned.length} of ${PARTITIONS} leases`);

  const sql = {
    begin: beginClaimSql(names, config.publishTimeoutMs, config.publishTimeoutMs + 10_000, relayId),
    claim: claimBatchSql(names, NATIVE_MAPPING),
    complete: deleteSentSql(names, NATIVE_MAPPING),
  };
  const params = [config.batchSize, config.failedRowPolicy === 'block-key', config.claimMaxBytes, relayId];
  const client = await pool.connect();
  const backendPid = (await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
  const backendCpu0 = cpuSeconds(backendPid);
  let drained = 0;
  let batches = 0;
  const sampler = sampleTree(process.pid);
  const t0 = performance.now();
  let reported = t0;
  try {
    for (;;) {
      const begun = await client.query(sql.begin);
      if (begun.at(-1).rows[0].owns !== true) throw new Error('lost the leases during the loop');
      const r = await client.query(sql.claim, params);
      if (r.rowCount === 0) {
        await client.query('COMMIT');
        break;
      }
      await client.query(sql.complete, [r.rows.map((row) => row.seq)]);
      await client.query('COMMIT');
      drained += r.rowCount;
      batches += 1;
      const now = performance.now();
      if (now - reported > 5000) {
        progress(`${drained} of ${args.rows} rows claimed and deleted`);
        reported = now;
      }
    }
  } finally {
    client.release();
  }
  const seconds = (performance.now() - t0) / 1000;
  const usage = sampler.stop();
  const backendCpu1 = cpuSeconds(backendPid);
  const left = Number((await pool.query(`SELECT count(*) AS n FROM ${names.outbox}`)).rows[0].n);
  return {
    version: `outbox-relay ${version} (claim/delete SQL from dist)`,
    delivered: drained,
    seconds: round(seconds, 3),
    peak_rss_mb: usage.peakRssMb,
    cpu_s: usage.cpuS,
    db_backend_cpu_s: backendCpu0 === undefined || backendCpu1 === undefined ? null : round(backendCpu1 - backendCpu0, 2),
    batches,
    left_pending: left,
    settings: { batch_size: config.batchSize, failed_row_policy: config.failedRowPolicy, claim_max_bytes: config.claimMaxBytes, on_publish: 'delete', keys: args.keys, payload_bytes: args.payloadBytes },
    notes: 'no Kafka: delivered = rows claimed and deleted by the relay\'s claim + delete SQL from one connection; seconds = loop time (preload excluded); cpu_s is this client process, db_backend_cpu_s its PostgreSQL backend',
  };
});
